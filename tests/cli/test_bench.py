"""``gridq bench`` runs for real on the smallest case (the full table is `make bench`)."""

import shutil

import yaml

from gridq.io.params import example_bundle
from gridq.runners.bench import run_case
from tests.conftest import PARAMS, invoke


def test_bench_prints_a_table_row():
    result = invoke("bench", "--cases", "day", "--params", PARAMS)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| case | steps |")
    assert lines[2].startswith("| day | 96 |")


def test_bench_solves_the_same_lp_as_raw_highspy():
    example = example_bundle(PARAMS, "commercial_demand_charge")
    row = run_case("day", example.site, example.run_config, example.series)
    assert row["method"] == "exact"
    assert abs(row["gap_frac"]) < 1e-9
    assert row["raw_highspy_s"] > 0


def test_bench_replays_a_rolling_loop_raw():
    example = example_bundle(PARAMS, "commercial_demand_charge")
    row = run_case("rolling_year", example.site, example.run_config, example.series, days=3)
    assert row["solves"] == 3
    assert 0 < row["raw_highspy_s"] < row["total_s"]


def test_bench_rejects_unknown_cases():
    result = invoke("bench", "--cases", "decade", "--params", PARAMS)
    assert result.exit_code == 2
    assert (
        "--cases 'decade': choose from day, month, year, random_year, rolling_year" in result.stderr
    )


def test_value_table_captures_all_under_perfect_forecasts(tmp_path):
    params = yaml.safe_load(PARAMS.read_text())
    # Eight days: the learned forecast's week of warm-up, then a day of plans.
    params["bundles"]["export_limited_pv"]["series"]["days"] = 8
    params["bundles"]["export_limited_pv"]["rolling"] = {"reoptimise_every_min": 60}
    shutil.copytree(PARAMS.parent / "data" / "tariffs", tmp_path / "data" / "tariffs")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = invoke("value", "--bundles", "export_limited_pv", "--params", tmp_path / "params.yaml")
    assert result.exit_code == 0, result.output
    rows = {line.split(" | ")[1]: line for line in result.stdout.splitlines()[2:]}
    assert rows["perfect"].split(" | ")[2] == "100%"
    assert rows["persistence_day"].split(" | ")[2].endswith("%")
    assert "n/a: run shorter than warm-up" in rows["seasonal_naive"]


def test_bench_runs_a_fleet_on_one_and_two_workers(tmp_path):
    fleet = {
        "name": "tiny",
        "params": str(PARAMS),
        "sites": [
            {"name": f"home-{n}", "example": "pv_battery_tou", "overrides": ["series.days=2"]}
            for n in range(3)
        ],
    }
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(yaml.safe_dump(fleet))
    result = invoke("bench", "--cases", "fleet", "--fleet", fleet_file)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].startswith("| workers | tasks | tasks/s |")
    assert lines[3].startswith("| 1 | 3 | ")
    assert lines[4].startswith("| 2 | 3 | ")
    assert "2 workers vs 1:" in lines[5]
    assert "1,000 sites x 4 scenarios: 8 workers" in lines[6]
