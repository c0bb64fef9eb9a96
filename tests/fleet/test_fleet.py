"""Fleets on a real Dask LocalCluster: same bundles as the single-site CLI, faults, resume."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gridq.engine.model.joint import SharedConnection, solve_joint
from gridq.engine.model.problem import make_problem
from gridq.fleet.run import dask_client, run_fleet
from gridq.fleet.tasks import tasks_of
from gridq.io import bundle as io
from gridq.io import fleet as fleet_io
from gridq.io import lineage
from tests.conftest import PARAMS, REPO, invoke

SITES = (
    ("home-a", "pv_battery_tou", ["series.seed=501", "battery.capacity_kwh=9.0"]),
    ("home-b", "pv_battery_tou", ["series.seed=502"]),
    ("shop-a", "export_limited_pv", ["series.seed=503"]),
    ("office-a", "commercial_demand_charge", ["series.seed=504"]),
)
SCENARIOS = [
    {"name": "base"},
    {"name": "high_wear", "overrides": ["battery.degradation_cost_gbp_per_kwh=0.05"]},
]
RESULT_COLUMNS = ["savings_gbp", "optimised_total_cost_gbp", "baseline_total_cost_gbp"]


def write_fleet(folder: Path, sites=SITES, scenarios=SCENARIOS, days: int = 3, **extra) -> Path:
    """A fleet file of example sites over ``days`` days, beside a copy of params.yaml's path."""
    folder.mkdir(parents=True, exist_ok=True)
    fleet = {
        "name": "test_fleet",
        "params": str(PARAMS),
        "sites": [
            {"name": name, "example": example, "overrides": [*overrides, f"series.days={days}"]}
            for name, example, overrides in sites
        ],
        "scenarios": scenarios,
    } | extra
    path = folder / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet, sort_keys=False))
    return path


def results(out: Path) -> pd.DataFrame:
    table = fleet_io.read_fleet_results(out)
    table["scenario"] = table["scenario"].astype(str)
    return table.sort_values(["site", "scenario"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """The small fleet run once from the CLI on a two-worker LocalCluster."""
    root = tmp_path_factory.mktemp("fleet")
    fleet_file = write_fleet(root)
    out = root / "out"
    result = invoke("fleet", "run", fleet_file, "--out", out, "--workers", 2)
    assert result.exit_code == 0, result.output
    assert "8 of 8 tasks done (0 already done before), 0 failed" in result.output
    return fleet_file, out


def test_every_task_writes_a_bundle_identical_to_the_single_site_cli(clean_run, tmp_path):
    fleet_file, out = clean_run
    table = results(out)
    assert len(table) == len(SITES) * len(SCENARIOS)
    assert (table["status"] == "ok").all()
    assert (table["savings_gbp"] >= -1e-6).all(), "the optimum never does worse than its baseline"
    metrics = json.loads((out / fleet_io.FLEET_METRICS).read_text())
    assert metrics["succeeded"] == 8
    assert metrics["failures"] == []
    assert metrics["scenarios"]["base"]["total_savings_gbp"] == pytest.approx(
        table[table["scenario"] == "base"]["savings_gbp"].sum(), abs=1e-6
    )
    # Wear priced higher can only raise each site's optimised cost.
    by = table.set_index(["site", "scenario"])["optimised_total_cost_gbp"]
    for site, _, _ in SITES:
        assert by[(site, "high_wear")] >= by[(site, "base")] - 1e-6
    # The single-site CLI on a copy of one task's inputs writes the same bundle, byte for byte.
    task = out / "sites" / "office-a" / "high_wear"
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in io.INPUT_FILES:
        (alone / name).write_bytes((task / name).read_bytes())
    assert invoke("backtest", alone).exit_code == 0
    for name in (io.DISPATCH, io.BASELINE, io.SOLVE_STATS, io.METRICS):
        assert (alone / name).read_bytes() == (task / name).read_bytes(), name


def test_overrides_do_not_leak_between_tasks_through_the_parsed_params(tmp_path):
    # A key inside a dict the example takes whole from params.yaml (its tariff's rules).
    sites = (
        ("duos-a", "uk_business_duos", ["tariff.rules.no_grid_to_battery_to_grid=false"]),
        ("duos-b", "uk_business_duos", []),
    )
    fleet_file = write_fleet(tmp_path, sites=sites)
    tasks = tasks_of(fleet_file, fleet_io.read_fleet(fleet_file), tmp_path / "out")
    in_one_process = [task.configs() for task in tasks]
    each_afresh = []
    for task in tasks:
        fleet_io._params_as_of.cache_clear()
        each_afresh.append(task.configs())
    assert in_one_process == each_afresh
    rule = {
        (t.site, t.scenario): c.run_config.tariff.rules.no_grid_to_battery_to_grid
        for t, c in zip(tasks, each_afresh, strict=True)
    }
    assert rule == {
        ("duos-a", "base"): False,
        ("duos-a", "high_wear"): False,
        ("duos-b", "base"): True,
        ("duos-b", "high_wear"): True,
    }


def test_a_killed_worker_loses_no_result(clean_run, tmp_path):
    fleet_file, clean_out = clean_run
    out = tmp_path / "out"
    with dask_client(None, 2) as client:
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_one_worker(done: int, failed: int, total: int) -> None:
            if not killed:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        # The same code path as a real cluster: a scheduler address.
        run_fleet(fleet_file, out, client.scheduler.address, None, kill_one_worker)
    assert killed
    pd.testing.assert_frame_equal(
        results(out)[["site", "scenario", "status", *RESULT_COLUMNS]],
        results(clean_out)[["site", "scenario", "status", *RESULT_COLUMNS]],
    )


def test_a_killed_fleet_run_resumes_with_only_the_missing_tasks(clean_run, tmp_path):
    _, clean_out = clean_run
    sites = [(f"home-{n}", "pv_battery_tou", [f"series.seed={600 + n}"]) for n in range(8)]
    fleet_file = write_fleet(tmp_path, sites=sites, scenarios=[{"name": "base"}], days=7)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "gridq", "fleet", "run", str(fleet_file), "--out", str(out)]
    run = subprocess.Popen(
        [*command, "--workers", "1"], cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while len(list(out.glob("sites/*/base/metrics.json"))) < 2:
        assert run.poll() is None, "the fleet ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    finished = {p.parent.parent.name for p in out.glob("sites/*/base/metrics.json")}
    assert 2 <= len(finished) < len(sites)
    assert not (out / fleet_io.FLEET_METRICS).exists()
    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    table = results(out)
    assert (table["status"] == "ok").all()
    assert len(table) == len(sites)
    assert set(table[table["resumed"]]["site"]) >= finished
    assert f"{len(sites)} of {len(sites)} tasks done" in rerun.stdout
    # The workers solved the rest: HiGHS's banner stays out of the fleet's output, as it does
    # out of every single-site command's. (Dask itself may log a heartbeat lost at shutdown.)
    assert "HiGHS" not in rerun.stderr, rerun.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"sites": [{"name": "x", "example": "no_such_example"}]},
            "no bundle 'no_such_example' under 'bundles'",
        ),
        ({"sites": [{"name": "x", "bundle": "missing"}]}, "missing: not a folder"),
        (
            {"sites": [{"name": "x", "example": "pv_battery_tou"}] * 2},
            "site name 'x' appears more than once",
        ),
        (
            {
                "sites": [
                    {
                        "name": "x",
                        "example": "pv_battery_tou",
                        "overrides": ["batery.capacity_kwh=2"],
                    }
                ]
            },
            "'batery' is not a key of a site or a run config",
        ),
        (
            {"scenarios": [{"name": "s", "overrides": ["battery.capcity_kwh=2"]}]},
            "battery.capcity_kwh: unknown key",
        ),
        ({"scenarios": [{"name": "s", "overrides": ["battery"]}]}, "is not KEY.PATH=VALUE"),
        (
            {"runner": {"mode": "rolling"}, "coupling": {"import_limit_kw": 10.0}},
            "a coupled fleet runs with perfect foresight",
        ),
        (
            {
                "coupling": {
                    "flexibility_events": [
                        {
                            "name": "e",
                            "start_utc": "2025-01-01T17:00Z",
                            "end_utc": "2025-01-01T18:00Z",
                            "baseline_import_kw": 10.0,
                            "reduction_kw": 12.0,
                            "price_gbp_per_kwh": 1.0,
                        }
                    ]
                }
            },
            "event 'e': reduction_kw 12 exceeds baseline_import_kw 10",
        ),
        ({"coupling": {"import_limit_kw": 10.0, "method": "admm"}}, "coupling.method"),
    ],
)
def test_a_bad_fleet_file_is_one_line_and_writes_nothing(tmp_path, change, expected):
    fleet_file = write_fleet(tmp_path / "f", sites=SITES[:1])
    data = yaml.safe_load(fleet_file.read_text()) | change
    fleet_file.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    result = invoke("fleet", "run", fleet_file, "--out", out)
    assert result.exit_code == 2
    assert expected in result.output, result.output
    assert result.output.count("\n") == 1, result.output
    assert not out.exists()


def test_an_unreachable_scheduler_is_one_line_and_writes_nothing(tmp_path):
    fleet_file = write_fleet(tmp_path / "f", sites=SITES[:1])
    out = tmp_path / "out"
    result = invoke("fleet", "run", fleet_file, "--out", out, "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 2
    assert "--scheduler tcp://127.0.0.1:9: no Dask scheduler answered" in result.output
    assert result.output.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize(
    "greeting",
    [b"SSH-2.0-OpenSSH_9.2p1\r\n" + b"\xff" * 64, None],
    ids=["answers-garbage", "answers-nothing"],
)
def test_a_scheduler_address_where_something_else_listens_is_one_line(greeting, tmp_path):
    """An SSH banner read as a Dask frame length asked for exabytes ("out of memory"); a server
    that never answers hung the handshake past Dask's own timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    held = []

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)
            if greeting is not None:
                connection.sendall(greeting)

    threading.Thread(target=serve, daemon=True).start()
    fleet_file = write_fleet(tmp_path / "f", sites=SITES[:1])
    out = tmp_path / "out"
    address = f"tcp://127.0.0.1:{port}"
    try:
        result = invoke("fleet", "run", fleet_file, "--out", out, "--scheduler", address)
    finally:
        listener.close()
        for connection in held:
            connection.close()
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1, result.output
    assert f"--scheduler {address}: no Dask scheduler answered" in result.output
    assert "memory" not in result.output
    assert not out.exists()


def test_a_task_with_bad_input_fails_alone(tmp_path, example_bundles):
    broken = tmp_path / "broken"
    broken.mkdir()
    source = example_bundles["pv_battery_tou"]
    for name in (io.SITE_CONFIG, io.RUN_CONFIG):
        (broken / name).write_bytes((source / name).read_bytes())
    (broken / io.TIMESERIES).write_text("not parquet")
    fleet_file = write_fleet(tmp_path / "f", sites=SITES[:1], scenarios=[{"name": "base"}])
    data = yaml.safe_load(fleet_file.read_text())
    data["sites"].append({"name": "broken", "bundle": str(broken)})
    fleet_file.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    result = invoke("fleet", "run", fleet_file, "--out", out, "--workers", 1)
    assert result.exit_code == 0, result.output
    assert "1 of 2 tasks done (0 already done before), 1 failed" in result.output
    assert "failed broken/base:" in result.output
    assert "not a readable parquet file" in result.output
    metrics = json.loads((out / fleet_io.FLEET_METRICS).read_text())
    assert [f["site"] for f in metrics["failures"]] == ["broken"]


def test_a_coupled_fleet_keeps_to_its_shared_limit_as_the_joint_lp(tmp_path):
    sites = (
        ("office-a", "commercial_demand_charge", ["series.seed=701"]),
        ("office-b", "commercial_demand_charge", ["series.seed=702"]),
        ("works-a", "uk_business_duos", ["series.seed=703"]),
    )
    alone_file = write_fleet(tmp_path / "alone", sites=sites, scenarios=[{"name": "base"}])
    assert (
        invoke(
            "fleet", "run", alone_file, "--out", tmp_path / "alone_out", "--workers", 1
        ).exit_code
        == 0
    )

    def import_kw(out: Path) -> pd.DataFrame:
        return pd.DataFrame(
            {
                site: pd.read_parquet(out / "sites" / site / "base" / io.DISPATCH)["grid_import_kw"]
                for site, _, _ in sites
            }
        )

    alone = import_kw(tmp_path / "alone_out")
    limit_kw = round(0.8 * alone.sum(axis=1).max(), 3)
    coupled_file = write_fleet(
        tmp_path / "coupled",
        sites=sites,
        scenarios=[{"name": "base"}],
        coupling={"import_limit_kw": limit_kw},
    )
    out = tmp_path / "coupled_out"
    result = invoke("fleet", "run", coupled_file, "--out", out)
    assert result.exit_code == 0, result.output
    coupled = import_kw(out)
    assert alone.sum(axis=1).max() > limit_kw
    assert coupled.sum(axis=1).max() <= limit_kw + 1e-6
    # Each bundle holds its site's share of the joint LP's optimum.
    fleet = fleet_io.read_fleet(coupled_file)
    problems = [
        make_problem(i.site, i.run_config, i.timeseries)
        for i in (
            fleet_io.task_inputs(
                fleet_io.task_configs(coupled_file, fleet, site, fleet.scenarios[0])
            )
            for site in fleet.sites
        )
    ]
    joint = solve_joint(problems, SharedConnection(import_limit_kw=limit_kw))
    for (site, _, _), dispatch in zip(sites, joint.dispatches, strict=True):
        written = pd.read_parquet(out / "sites" / site / "base" / io.DISPATCH).set_index(
            "timestamp"
        )
        pd.testing.assert_frame_equal(written, dispatch, check_freq=False, atol=1e-6)
    table = results(out)
    alone_table = results(tmp_path / "alone_out")
    assert (
        table["optimised_total_cost_gbp"].sum()
        >= alone_table["optimised_total_cost_gbp"].sum() - 1e-6
    )


def test_a_decomposed_fleet_with_an_event_matches_the_joint_lp_on_workers(tmp_path):
    sites = (
        ("office-a", "commercial_demand_charge", ["series.seed=711"]),
        ("office-b", "commercial_demand_charge", ["series.seed=712"]),
        ("works-a", "uk_business_duos", ["series.seed=713"]),
    )
    alone_file = write_fleet(tmp_path / "alone", sites=sites, scenarios=[{"name": "base"}], days=2)
    assert (
        invoke("fleet", "run", alone_file, "--out", tmp_path / "a", "--workers", 1).exit_code == 0
    )
    alone_kw = sum(
        pd.read_parquet(tmp_path / "a" / "sites" / site / "base" / io.DISPATCH).set_index(
            "timestamp"
        )["grid_import_kw"]
        for site, _, _ in sites
    )
    window = (alone_kw.index >= "2025-01-01T17:00Z") & (alone_kw.index < "2025-01-01T19:00Z")
    event = {
        "name": "turn_down",
        "start_utc": "2025-01-01T17:00:00Z",
        "end_utc": "2025-01-01T19:00:00Z",
        "baseline_import_kw": round(float(alone_kw[window].max()), 3),
        "reduction_kw": round(0.25 * float(alone_kw[window].max()), 3),
        "price_gbp_per_kwh": 0.5,
    }
    limit_kw = round(0.85 * float(alone_kw.max()), 3)
    runs = {}
    for method in ("joint", "decomposed"):
        coupling = {"import_limit_kw": limit_kw, "flexibility_events": [event], "method": method}
        fleet_file = write_fleet(
            tmp_path / method, sites=sites, scenarios=[{"name": "base"}], days=2, coupling=coupling
        )
        result = invoke(
            "fleet", "run", fleet_file, "--out", tmp_path / method / "out", "--workers", 2
        )
        assert result.exit_code == 0, result.output
        runs[method] = json.loads((tmp_path / method / "out" / fleet_io.FLEET_METRICS).read_text())
        total_kw = sum(
            pd.read_parquet(
                tmp_path / method / "out" / "sites" / site / "base" / io.DISPATCH
            ).set_index("timestamp")["grid_import_kw"]
            for site, _, _ in sites
        )
        assert total_kw.max() <= limit_kw + 1e-6
        floor_kw = event["baseline_import_kw"] - event["reduction_kw"]
        assert total_kw[window].max() <= floor_kw + 1e-6
    joint, decomposed = (runs[m]["scenarios"]["base"] for m in ("joint", "decomposed"))
    assert decomposed["solve"]["path"] == "decomposed"
    assert decomposed["solve"]["gap_frac"] <= 1e-6
    assert decomposed["solve"]["bound_gbp"] <= joint["solve"]["objective_gbp"] + 1e-6
    assert decomposed["solve"]["objective_gbp"] == pytest.approx(
        joint["solve"]["objective_gbp"], rel=1e-6
    )
    [outcome] = decomposed["flexibility_events"]
    assert outcome["committed_kwh"] == pytest.approx(event["reduction_kw"] * 2.0)
    assert outcome["revenue_gbp"] == pytest.approx(event["reduction_kw"] * 2.0 * 0.5)
    assert outcome["least_reduction_kw"] >= event["reduction_kw"] - 1e-6


def test_a_rerun_in_another_mode_solves_again(tmp_path):
    sites = (("home-a", "pv_battery_tou", ["rolling.forecast=persistence_day"]),)
    scenarios = [{"name": "base"}]
    out = tmp_path / "out"
    for mode, resumed, command in (
        ("perfect", False, "backtest"),
        ("perfect", True, "backtest"),
        ("rolling", False, "backtest --mode rolling"),
    ):
        fleet_file = write_fleet(
            tmp_path, sites=sites, scenarios=scenarios, days=2, runner={"mode": mode}
        )
        result = invoke("fleet", "run", fleet_file, "--out", out, "--workers", 1)
        assert result.exit_code == 0, result.output
        assert list(results(out)["resumed"]) == [resumed]
        made = lineage.read_record(out / "sites" / "home-a" / "base" / io.METRICS)
        assert made["command"] == command


def test_local_workers_keep_glibcs_own_malloc_thresholds():
    with dask_client(None, 1) as client:
        seen = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert list(seen.values()) == [None]


def test_a_local_cluster_starts_while_another_holds_dasks_usual_port():
    """Two fleet runs at once: the second must not warn (pytest turns warnings into errors)."""
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            taken.bind(("", 8787))
        except OSError:
            pass  # Someone holds it already, which is the case under test.
        taken.listen()
        with dask_client(None, 1) as client:
            assert client.submit(sum, [1, 2]).result() == 3
