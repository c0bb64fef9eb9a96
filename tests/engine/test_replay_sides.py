"""A replay of vintages that hold their quantile sides plans as the learned forecast did.

A learned rolling run on a seeded random demand-charge site is recorded plan by plan (its point
forecast, both sides and reserves, as live operation stores them); replaying those vintages
gives the same dispatch, where a replay of the point forecasts alone does not.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridq import conventions as col
from gridq.engine.forecast import (
    SIDE_COLUMNS,
    ReplayForecast,
    SidedReplayForecast,
    make_provider,
    quantile_sides,
)
from gridq.engine.windows import rolling_backtest
from gridq.io.bundle import read_bundle
from tests.conftest import PARAMS, invoke


class Recording:
    """A provider that notes each forecast asked of it and passes everything through."""

    def __init__(self, provider) -> None:
        self.provider = provider
        self.asked: list[tuple[pd.Timestamp, int]] = []

    def forecast(self, issued_at: pd.Timestamp, horizon_steps: int) -> pd.DataFrame:
        self.asked.append((issued_at, horizon_steps))
        return self.provider.forecast(issued_at, horizon_steps)

    def __getattr__(self, name: str):
        return getattr(self.provider, name)


@pytest.mark.parametrize("seed", [2051, 2052])
def test_a_replay_of_sided_vintages_is_the_learned_run(tmp_path: Path, seed: int) -> None:
    bundle = tmp_path / "bundle"
    result = invoke(
        "generate", "commercial_demand_charge", "--params", PARAMS, "--out", bundle,
        "--days", 10, "--set", f"series.seed={seed}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    inputs = read_bundle(bundle)
    site, run_config, actuals = inputs.site, inputs.run_config, inputs.timeseries
    run_config = run_config.model_copy(
        update={"rolling": run_config.rolling.model_copy(update={"forecast": "learned"})}
    )
    every = pd.Timedelta(minutes=run_config.rolling.reoptimise_every_min)
    horizon = pd.Timedelta(hours=run_config.rolling.horizon_h)
    learned = make_provider("learned", actuals, site, run_config)
    recording = Recording(learned)
    lived = rolling_backtest(site, run_config, actuals, recording, every, horizon)
    quantile = run_config.rolling.peak_quantile
    assert quantile is not None
    vintages = []
    for issued_at, steps in recording.asked:
        point = learned.forecast(issued_at, steps)
        frame = point[[col.LOAD_KW, col.PV_KW]].rename_axis(col.TIMESTAMP).reset_index()
        frame = frame.assign(**quantile_sides(learned, issued_at, steps, quantile))
        vintages.append(frame.assign(issued_at=issued_at))
    table = pd.concat(vintages, ignore_index=True)
    assert set(SIDE_COLUMNS) <= set(table.columns)
    warmup = learned.warmup
    replayed = rolling_backtest(
        site, run_config, actuals, SidedReplayForecast(actuals, table, warmup), every, horizon
    )
    columns = list(col.DISPATCH_COLUMNS)
    np.testing.assert_allclose(
        replayed.dispatch[columns].to_numpy(), lived.dispatch[columns].to_numpy(), atol=1e-9
    )
    # The point forecasts alone plan otherwise: the sides are what the replay needed.
    point_only = table.drop(columns=list(SIDE_COLUMNS))
    plain = rolling_backtest(
        site, run_config, actuals, ReplayForecast(actuals, point_only, warmup), every, horizon
    )
    assert not np.allclose(plain.dispatch[columns].to_numpy(), lived.dispatch[columns].to_numpy())
