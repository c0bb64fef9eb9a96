"""Long runs planned in weekly windows against the exact monolithic LP."""

import pytest

from gridq import conventions as col
from gridq.engine.bill import bill
from gridq.engine.synth import make_timeseries
from gridq.engine.tariff import compile_tariff
from gridq.io.params import example_bundle
from gridq.runners.backtest import optimise
from gridq.runners.decomposed import optimise_decomposed, optimise_run
from tests.conftest import PARAMS, invoke
from tests.engine.test_invariants import assert_physical

GAP_TARGET = 1e-3


def _run(name, days):
    example = example_bundle(PARAMS, name)
    site, run_config = example.site, example.run_config
    timeseries = make_timeseries(
        example.series.model_copy(update={"days": days}),
        site,
        run_config.timestep_min,
        run_config.tariff.local_timezone,
    )
    return site, run_config, timeseries


@pytest.mark.parametrize("name", ["commercial_demand_charge", "export_limited_pv"])
def test_weekly_windows_cost_within_the_gap_target_of_the_exact_lp(name):
    site, run_config, timeseries = _run(name, 100)
    decomposed = optimise_run(site, run_config, timeseries)
    exact = optimise(site, run_config, timeseries)
    assert decomposed.solve_stats["method"] == "decomposed"
    assert decomposed.solve_stats["windows_per_pass"] == 15
    tariff = compile_tariff(run_config.tariff, timeseries)
    wear = site.battery.degradation_cost_gbp_per_kwh
    decomposed_gbp = bill(decomposed.dispatch, tariff, wear).total_cost_gbp
    exact_gbp = bill(exact.dispatch, tariff, wear).total_cost_gbp
    assert exact_gbp <= decomposed_gbp + 1e-6, "the exact LP is a lower bound"
    assert decomposed_gbp - exact_gbp <= GAP_TARGET * abs(exact_gbp)
    assert_physical(decomposed.dispatch, site.battery)
    assert decomposed.dispatch.index.equals(timeseries.index)
    assert (decomposed.dispatch[col.GRID_IMPORT_KW] >= 0).all()


def test_short_runs_use_the_monolithic_lp():
    site, run_config, timeseries = _run("commercial_demand_charge", 14)
    assert "method" not in optimise_run(site, run_config, timeseries).solve_stats
    assert optimise_decomposed(site, run_config, timeseries).solve_stats["windows_per_pass"] == 2


def test_backtest_exact_flag_solves_one_lp(tmp_path):
    folder = tmp_path / "long"
    result = invoke(
        "generate", "commercial_demand_charge", "--params", PARAMS, "--out", folder, "--days", "95"
    )
    assert result.exit_code == 0, result.output
    for flag, method in (((), "decomposed"), (("--exact",), None)):
        result = invoke("backtest", folder, *flag)
        assert result.exit_code == 0, result.output
        stats = (folder / "solve_stats.json").read_text()
        assert (f'"method": "{method}"' in stats) is (method is not None)
