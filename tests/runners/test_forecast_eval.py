"""gridq forecast evaluate: scores by hand, common windows, the CLI and its file."""

import json

import numpy as np
import pytest

from gridq.io import bundle as io
from gridq.runners.forecast_eval import pinball_kw
from tests.conftest import PARAMS, invoke


def test_pinball_loss_by_hand():
    actual = np.array([1.0, 3.0])
    quantiles = np.array([[0.0, 0.0], [2.0, 2.0], [4.0, 4.0]])
    # P10: 0.1*1, 0.1*3 -> 0.2; P50: 0.5*1, 0.5*1 -> 0.5; P90: 0.1*3, 0.1*1 -> 0.2.
    assert pinball_kw(actual, quantiles, (0.1, 0.5, 0.9)) == pytest.approx((0.2 + 0.5 + 0.2) / 3)


def test_cli_scores_every_provider_on_the_same_windows(tmp_path):
    folder = tmp_path / "site"
    result = invoke(
        "generate", "commercial_demand_charge", "--params", PARAMS, "--out", folder, "--days", "21"
    )
    assert result.exit_code == 0, result.output
    result = invoke("forecast", "evaluate", folder)
    assert result.exit_code == 0, result.output
    scores = json.loads((folder / io.FORECAST_EVALUATION).read_text())
    # Every provider starts where the one needing most history can: a week in, daily issues.
    assert scores["windows"]["first_issue"] == "2025-01-08T00:00:00+00:00"
    assert scores["windows"]["issues"] == 14
    assert set(scores["providers"]) == {"persistence_day", "persistence_week", "learned"}
    assert "seasonal_naive" in scores["skipped"]
    providers = scores["providers"]
    assert (
        providers["learned"]["load_kw"]["mae_kw"]
        < providers["persistence_week"]["load_kw"]["mae_kw"]
    )
    # A point forecast's pinball loss over symmetric levels is half its MAE.
    point = providers["persistence_week"]["load_kw"]
    assert point["pinball_kw"] == pytest.approx(point["mae_kw"] / 2, rel=1e-6)
    assert "| learned |" in result.stdout


def test_a_run_too_short_for_every_forecast_is_one_line(tmp_path):
    folder = tmp_path / "site"
    invoke(
        "generate", "commercial_demand_charge", "--params", PARAMS, "--out", folder, "--days", "1"
    )
    result = invoke("forecast", "evaluate", folder)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "no forecast has enough history" in result.stderr
    assert not (folder / io.FORECAST_EVALUATION).exists()
