"""A year of 15-minute data (35,040 steps) backtests end to end from the CLI."""

import json

import pytest

from gridq.io import bundle as io
from tests.conftest import PARAMS, invoke


@pytest.mark.slow
def test_full_year_backtest(tmp_path):
    bundle = tmp_path / "year"
    assert (
        invoke(
            "generate", "pv_battery_tou", "--params", PARAMS, "--out", bundle, "--days", "365"
        ).exit_code
        == 0
    )
    result = invoke("backtest", bundle)
    assert result.exit_code == 0, result.output
    stats = json.loads((bundle / io.SOLVE_STATS).read_text())
    metrics = json.loads((bundle / io.METRICS).read_text())
    assert stats["steps"] == 35040
    assert stats["checks"]["max_balance_residual_kw"] < 1e-6
    assert stats["checks"]["max_soc_bound_violation_kwh"] < 1e-6
    assert metrics["savings_gbp"] > 0
    assert len(metrics["optimised"]["monthly_peak_import_kw"]) == 13  # mid-March to mid-March
