"""The real DVC pipeline, in a temporary git repository with two-day bundles."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import REPO

BUNDLES = ("pv_battery_tou", "export_limited_pv", "commercial_underwriting")
"""Three of the examples: a default-battery home, an override to edit, and the underwritten one
(every stage of the pipeline runs; the five examples would only repeat them)."""

FLEET = "data/fleets/example_fleet.yaml"
SMALL_FLEET = {
    "name": "example_fleet",
    "params": "../../params.yaml",
    "runner": {"mode": "perfect"},
    "scenarios": [
        {"name": "base"},
        {"name": "high_wear", "overrides": ["battery.degradation_cost_gbp_per_kwh=0.05"]},
    ],
    "sites": [
        {"name": f"{example}-{seed}", "example": example, "overrides": [f"series.seed={seed}"]}
        for example, seed in (
            ("pv_battery_tou", 1),
            ("pv_battery_tou", 2),
            ("export_limited_pv", 3),
        )
    ],
}
"""The example fleet cut to three two-day sites of the bundles kept (their days come from
params.yaml)."""

ENV = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def run(folder: Path, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, cwd=folder, env=ENV, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def git_commit(folder: Path, message: str) -> None:
    run(folder, "git", "add", "-A")
    run(
        folder,
        "git",
        "-c",
        "user.email=ci@gridq.test",
        "-c",
        "user.name=ci",
        "commit",
        "-qm",
        message,
    )


def stages_run(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory) -> Path:
    """A git repo of the pipeline, reproduced once and committed."""
    folder = tmp_path_factory.mktemp("pipeline") / "repo"
    folder.mkdir()
    for name in ("gridq", "stages", ".dvc", "data"):
        shutil.copytree(
            REPO / name,
            folder / name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "cache", "tmp"),
        )
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(REPO / name, folder / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["bundles"] = {name: params["bundles"][name] for name in BUNDLES}
    for bundle in params["bundles"].values():
        bundle["series"]["days"] = 2
    # Two days hold no week of history: underwriting's operation uses a day-old forecast.
    params["rolling"]["forecast"] = "persistence_day"
    params["underwriting"] |= {"life_years": 3, "uncertainty": {"scenarios": 2}}
    params["bundles"]["commercial_underwriting"]["underwriting"]["weather_years"] = 1
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (folder / FLEET).write_text(yaml.safe_dump(SMALL_FLEET, sort_keys=False))
    run(folder, "git", "init", "-q")
    git_commit(folder, "pipeline")
    first = run(folder, "dvc", "repro")
    assert stages_run(first.stdout) == {"underwrite", "fleet"} | {
        f"{stage}@{bundle}"
        for bundle in BUNDLES
        for stage in (
            "generate",
            "validate",
            "forecast",
            "solve",
            "baseline",
            "check",
            "metrics",
            "report",
        )
    }
    git_commit(folder, "reproduced")
    return folder


@pytest.fixture
def repo(reproduced, tmp_path) -> Path:
    """A private copy of the reproduced repo (outputs and DVC cache included)."""
    copy = tmp_path / "repo"
    shutil.copytree(reproduced, copy, symlinks=True)
    return copy


def test_repro_builds_every_bundle_and_a_second_repro_does_nothing(repo):
    for bundle in BUNDLES:
        for output in ("dispatch.parquet", "metrics.json", "report.html", "validation.json"):
            assert (repo / "bundles" / bundle / output).is_file()
    second = run(repo, "dvc", "repro")
    assert stages_run(second.stdout) == set()
    assert "up to date" in second.stdout
    assert run(repo, "git", "status", "--porcelain").stdout == ""


def test_scenario_changes_the_default_battery_and_metrics_diff_shows_it(repo):
    experiment = run(repo, "dvc", "exp", "run", "-S", "battery.capacity_kwh=200")
    ran = stages_run(experiment.stdout)
    assert "solve@pv_battery_tou" in ran
    # These bundles override capacity_kwh, so only their generate stage reran.
    assert {name for name in ran if name.startswith("solve@")} == {"solve@pv_battery_tou"}
    diff = run(repo, "dvc", "metrics", "diff", "--md").stdout
    savings_rows = [line for line in diff.splitlines() if "| savings_gbp " in line]
    assert len(savings_rows) == 1
    assert "pv_battery_tou" in savings_rows[0]
    # What DVC reads as metrics holds figures: lineage hashes sit beside it, not in the diff.
    assert "lineage" not in diff
    assert "sha256" not in diff


def test_a_sizing_experiment_reruns_the_underwriting_and_diffs_its_npv(repo):
    experiment = run(
        repo, "dvc", "exp", "run", "-S", "bundles.commercial_underwriting.battery.capacity_kwh=300"
    )
    ran = stages_run(experiment.stdout)
    assert "underwrite" in ran
    # The fleet's sites are examples of params.yaml's bundles, so it reruns on any of them.
    assert {name.split("@")[-1] for name in ran} <= {
        "commercial_underwriting",
        "underwrite",
        "fleet",
    }
    diff = run(repo, "dvc", "metrics", "diff", "--md").stdout
    assert "underwriting.json" in diff
    assert "reference.npv_gbp" in diff
    assert "lineage" not in diff
    shown = run(repo, "dvc", "exp", "show", "--md", "--only-changed").stdout
    assert "commercial_underwriting.battery.capacity_kwh" in shown


def test_editing_one_override_reruns_only_that_bundle(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["bundles"]["export_limited_pv"]["battery"]["capacity_kwh"] = 150.0
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    ran = stages_run(run(repo, "dvc", "repro").stdout)
    assert {name.split("@")[1] for name in ran if "@" in name} == {"export_limited_pv"}
    assert "report@export_limited_pv" in ran
    assert "fleet" in ran


def test_a_fleet_experiment_reruns_only_the_fleet_and_diffs_its_metrics(repo):
    metrics = repo / "fleet_runs" / "example" / "fleet_metrics.json"
    assert yaml.safe_load(metrics.read_text())["succeeded"] == 6
    experiment = run(repo, "dvc", "exp", "run", "-S", f"{FLEET}:runner.mode=rolling")
    assert stages_run(experiment.stdout) == {"fleet"}
    diff = run(repo, "dvc", "metrics", "diff", "--md").stdout
    rows = [line for line in diff.splitlines() if "fleet_metrics.json" in line]
    assert any("scenarios.base.total_savings_gbp" in row for row in rows), diff


def test_corrupt_timeseries_stops_the_pipeline_at_validate(repo):
    bundle = repo / "bundles" / "pv_battery_tou"
    frame = pq.read_table(bundle / "timeseries.parquet").to_pandas()
    frame.loc[10, "import_price_gbp_per_kwh"] = np.nan
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), bundle / "timeseries.parquet")
    # --downstream starts at validate, so generate does not rewrite the corrupt file.
    result = run(repo, "dvc", "repro", "--downstream", "validate@pv_battery_tou", check=False)
    assert result.returncode != 0
    assert "validate@pv_battery_tou" in stages_run(result.stdout)
    assert not {"solve@pv_battery_tou", "baseline@pv_battery_tou"} & stages_run(result.stdout)
    message = result.stdout + result.stderr
    assert "expect_column_values_to_not_be_null(import_price_gbp_per_kwh): 1 unexpected" in message
