"""Forecast providers use nothing from after the moment they are issued."""

import numpy as np
import pandas as pd
import pytest

from gridq import conventions as col
from gridq.engine.forecast import make_provider
from gridq.errors import InputError
from tests.conftest import make_run_config, make_site, make_timeseries

STEPS_PER_DAY = 96


@pytest.fixture
def actuals() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    steps = 35 * STEPS_PER_DAY
    return make_timeseries(
        rng.uniform(1, 10, steps),
        rng.uniform(0, 5, steps),
        import_price=rng.uniform(0.1, 0.3, steps),
    )


def _vintages(actuals: pd.DataFrame, offset_kw: float) -> pd.DataFrame:
    """A vintage issued at each midnight with 48 h of (actual + offset) values."""
    rows = []
    for issued in actuals.index[::STEPS_PER_DAY]:
        window = actuals.loc[issued : issued + pd.Timedelta(hours=47.75)]
        rows.append(
            pd.DataFrame(
                {
                    "issued_at": issued,
                    col.TIMESTAMP: window.index,
                    col.LOAD_KW: window[col.LOAD_KW] + offset_kw,
                    col.PV_KW: window[col.PV_KW],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _provider(name, actuals, vintages=None):
    return make_provider(name, actuals, make_site(), make_run_config(), vintages)


@pytest.mark.parametrize(
    "name", ["persistence_day", "persistence_week", "seasonal_naive", "learned", "replay"]
)
def test_no_provider_reads_data_after_issued_at(actuals, name):
    issued_at = actuals.index[30 * STEPS_PER_DAY + 37]
    vintages = _vintages(actuals, 1.0)
    before_provider = _provider(name, actuals, vintages)
    before = before_provider.forecast(issued_at, 36 * 4)
    # Rewrite everything from issued_at on (and every vintage issued later): a provider that
    # peeked would now forecast something else.
    future = actuals.index >= issued_at
    tampered = actuals.copy()
    tampered.loc[future, [col.LOAD_KW, col.PV_KW]] = 1e6
    tampered_vintages = vintages.copy()
    tampered_vintages.loc[tampered_vintages["issued_at"] > issued_at, col.LOAD_KW] = 1e6
    after_provider = _provider(name, tampered, tampered_vintages)
    after = after_provider.forecast(issued_at, 36 * 4)
    pd.testing.assert_frame_equal(before, after)
    if name == "learned":
        # Its quantiles and the reserve sized from its errors are blind to the future too.
        for series, quantiles in before_provider.quantiles(issued_at, 36 * 4).items():
            np.testing.assert_array_equal(
                quantiles, after_provider.quantiles(issued_at, 36 * 4)[series]
            )
        assert before_provider.peak_reserve_kwh(issued_at, 0.9) == (
            after_provider.peak_reserve_kwh(issued_at, 0.9)
        )
    assert (before[col.LOAD_KW] < 1e5).all()


def test_prices_pass_through_exactly(actuals):
    issued_at = actuals.index[8 * STEPS_PER_DAY]
    forecast = _provider("persistence_day", actuals).forecast(issued_at, 48)
    np.testing.assert_array_equal(
        forecast[col.IMPORT_PRICE], actuals[col.IMPORT_PRICE].iloc[8 * STEPS_PER_DAY :][:48]
    )


def test_persistence_is_same_time_yesterday_even_beyond_a_day(actuals):
    issued_at = actuals.index[10 * STEPS_PER_DAY]
    forecast = _provider("persistence_day", actuals).forecast(issued_at, 36 * 4)
    load = actuals[col.LOAD_KW].to_numpy()
    start = 10 * STEPS_PER_DAY
    # The first day repeats yesterday; the next 12 h repeat yesterday too (the latest known).
    np.testing.assert_allclose(forecast[col.LOAD_KW].iloc[:96], load[start - 96 : start])
    np.testing.assert_allclose(forecast[col.LOAD_KW].iloc[96:], load[start - 96 : start - 48])


def test_seasonal_naive_is_the_mean_of_four_weeks(actuals):
    start = 29 * STEPS_PER_DAY
    forecast = _provider("seasonal_naive", actuals).forecast(actuals.index[start], 4)
    load = actuals[col.LOAD_KW].to_numpy()
    expected = np.mean([load[start - k * 7 * STEPS_PER_DAY :][:4] for k in (1, 2, 3, 4)], axis=0)
    np.testing.assert_allclose(forecast[col.LOAD_KW], expected)


def test_too_little_history_is_an_error(actuals):
    with pytest.raises(InputError, match="not enough history"):
        _provider("persistence_week", actuals).forecast(actuals.index[3], 4)
