"""The learned forecaster: accurate on sites it has not seen, calibrated, and strict on options."""

import numpy as np
import pandas as pd
import pytest

from gridq import conventions as col
from gridq.engine.forecast import make_provider
from gridq.engine.synth import SyntheticSeries, make_timeseries
from gridq.errors import ConfigError, InputError
from gridq.io.files import parse_model
from gridq.schemas import RollingOptions
from tests.conftest import make_run_config, make_site

STEPS_PER_DAY = 96


def _site_year(seed: int, profile: str, days: int) -> pd.DataFrame:
    series = SyntheticSeries(
        seed=seed,
        start_utc=pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=int(seed) * 17),
        days=days,
        pv_peak_kw=0.0,
        load_profile=profile,
        price_profile="flat",
    )
    return make_timeseries(series, make_site(), 15)


def _daily_mae_kw(provider, actuals: pd.DataFrame, first_day: int) -> float:
    """Mean absolute load error of each midnight's forecast over the day it plans for."""
    errors = []
    for day in range(first_day, len(actuals) // STEPS_PER_DAY):
        issued_at = actuals.index[day * STEPS_PER_DAY]
        forecast = provider.forecast(issued_at, 2 * STEPS_PER_DAY)
        actual = actuals[col.LOAD_KW].to_numpy()[day * STEPS_PER_DAY :][:STEPS_PER_DAY]
        errors.append(np.abs(forecast[col.LOAD_KW].to_numpy()[:STEPS_PER_DAY] - actual))
    return float(np.concatenate(errors).mean())


# Measured on seeds 1-8 (49 days each, scored after two weeks): learned / persistence_week load
# MAE 0.34-0.90 commercial (mean 0.61), 0.67-0.90 home (0.78), 0.79-0.95 small_business (0.86).
@pytest.mark.parametrize(
    ("profile", "mean_below"), [("commercial", 0.8), ("home", 0.85), ("small_business", 0.92)]
)
def test_learned_beats_persistence_week_on_unseen_sites(profile, mean_below):
    site, run_config = make_site(), make_run_config()
    ratios = []
    for seed in (1, 2, 3, 4):
        actuals = _site_year(seed, profile, 49)
        learned = _daily_mae_kw(make_provider("learned", actuals, site, run_config), actuals, 14)
        persistence = _daily_mae_kw(
            make_provider("persistence_week", actuals, site, run_config), actuals, 14
        )
        ratios.append(learned / persistence)
    assert max(ratios) < 0.97
    assert np.mean(ratios) < mean_below


@pytest.mark.parametrize("profile", ["commercial", "small_business"])
def test_quantiles_are_ordered_and_calibrated_out_of_sample(profile):
    # Scored from the first forecast (a week of history, before any out-of-sample errors):
    # P10..P90 nominally holds 80% of actual load steps and P90 is exceeded on 10%.
    inside, above, total = 0, 0, 0
    for seed in (21, 22, 23):
        actuals = _site_year(seed, profile, 42)
        provider = make_provider("learned", actuals, make_site(), make_run_config())
        for day in range(7, 42):
            issued_at = actuals.index[day * STEPS_PER_DAY]
            quantiles = provider.quantiles(issued_at, STEPS_PER_DAY)[col.LOAD_KW]
            assert (np.diff(quantiles, axis=0) >= 0).all()
            actual = actuals[col.LOAD_KW].to_numpy()[day * STEPS_PER_DAY :][:STEPS_PER_DAY]
            inside += int(((actual >= quantiles[0]) & (actual <= quantiles[-1])).sum())
            above += int((actual > quantiles[-1]).sum())
            total += STEPS_PER_DAY
    assert 0.75 <= inside / total <= 0.85
    assert 0.05 <= above / total <= 0.15


def test_too_little_history_names_the_start():
    actuals = _site_year(1, "commercial", 14)
    provider = make_provider("learned", actuals, make_site(), make_run_config())
    with pytest.raises(
        InputError,
        match=r"needs 7 days of history before \d{4}-\d\d-\d\dT00:00Z; "
        r"start the forecast at \d{4}-\d\d-\d\dT00:00Z or later",
    ):
        provider.forecast(actuals.index[3 * STEPS_PER_DAY], 4)


def test_a_horizon_beyond_two_days_is_refused():
    actuals = _site_year(1, "commercial", 14)
    provider = make_provider("learned", actuals, make_site(), make_run_config())
    with pytest.raises(InputError, match="rolling.horizon_h"):
        provider.forecast(actuals.index[8 * STEPS_PER_DAY], 3 * STEPS_PER_DAY)
    # Refused on the option itself, before a run whose data end within 48 h never asks further.
    with pytest.raises(InputError, match="rolling.horizon_h 72"):
        make_provider("learned", actuals, make_site(), make_run_config(rolling={"horizon_h": 72.0}))


def test_retraining_more_often_than_a_step_is_refused():
    actuals = _site_year(1, "commercial", 14)
    run_config = make_run_config(rolling={"forecast": "learned", "retrain_every_h": 0.1})
    with pytest.raises(InputError, match="retrain_every_h"):
        make_provider("learned", actuals, make_site(), run_config)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"quantiles": [0.1, 0.5, 1.2]}, "quantile 1.2 is outside"),
        ({"quantiles": [0.0, 0.5]}, "quantile 0 is outside"),
        ({"quantiles": [0.1, 0.9]}, "must include 0.5"),
        ({"peak_quantile": 0.95}, "peak_quantile 0.95 is not one of quantiles"),
        ({"quantiles": [0.5, 0.9]}, "quantiles lack 0.1, peak_quantile 0.9's complement"),
    ],
)
def test_bad_quantiles_name_the_option(options, message):
    with pytest.raises(ConfigError, match=message):
        parse_model(RollingOptions, options)


def _pv_site(days: int) -> pd.DataFrame:
    series = SyntheticSeries(
        seed=3,
        start_utc=pd.Timestamp("2025-05-05", tz="UTC"),
        days=days,
        pv_peak_kw=10.0,
        load_profile="home",
        price_profile="flat",
    )
    return make_timeseries(series, make_site(), 15)


def test_pv_nowcast_scales_the_rest_of_today_by_how_bright_it_has_been():
    actuals = _pv_site(21)
    site, run_config = make_site(), make_run_config()
    # 13:00 UTC (14:00 BST) on day 16: half of today's sun has been measured.
    issued_at = actuals.index[16 * STEPS_PER_DAY + 52]
    dimmed = actuals.copy()
    today_so_far = (dimmed.index >= actuals.index[16 * STEPS_PER_DAY - 4]) & (
        dimmed.index < issued_at
    )
    dimmed.loc[today_so_far, col.PV_KW] *= 0.5
    bright = make_provider("learned", actuals, site, run_config)
    dim = make_provider("learned", dimmed, site, run_config)
    steps_left_today, factor = bright._pv_nowcast(52 + 16 * STEPS_PER_DAY, bright._cut(issued_at))
    assert steps_left_today == STEPS_PER_DAY - 52 - 4  # to local midnight, 23:00 UTC
    assert 0.4 < factor < 3.0, "the test needs a factor that halving leaves unclipped"
    before = bright.quantiles(issued_at, 2 * STEPS_PER_DAY)[col.PV_KW]
    after = dim.quantiles(issued_at, 2 * STEPS_PER_DAY)[col.PV_KW]
    np.testing.assert_allclose(after[:, :steps_left_today], 0.5 * before[:, :steps_left_today])
    assert before[:, :steps_left_today].sum() > 0
    # At local midnight nothing of today is known: no nowcast.
    midnight = int(actuals.index.searchsorted(pd.Timestamp("2025-05-21T23:00Z")))
    assert bright._pv_nowcast(midnight, bright._cut(actuals.index[midnight])) == (0, 1.0)


def test_load_nowcast_shifts_by_the_last_error_fading_at_the_errors_persistence():
    actuals = _site_year(4, "home", 21)
    site, run_config = make_site(), make_run_config()
    start = 16 * STEPS_PER_DAY + 40
    issued_at = actuals.index[start]
    busier = actuals.copy()
    busier.iloc[start - 1, busier.columns.get_loc(col.LOAD_KW)] += 2.0
    calm = make_provider("learned", actuals, site, run_config)
    busy = make_provider("learned", busier, site, run_config)
    persistence = calm._load_persistence(calm._cut(issued_at))
    assert 0.3 < persistence < 0.99, "the home's load errors persist for a while"
    before = calm.quantiles(issued_at, 40)[col.LOAD_KW]
    after = busy.quantiles(issued_at, 40)[col.LOAD_KW]
    assert (before > 0).all(), "the test needs no step clipped at 0"
    expected = 2.0 * persistence ** np.arange(1, 41)
    np.testing.assert_allclose(after - before, np.tile(expected, (3, 1)))


def test_the_peak_reserve_is_the_worst_training_day_with_its_margin(monkeypatch):
    """The reserve scales with ``RESERVE_MARGIN`` and holds more than the worst day's excess."""
    from gridq.engine import learned_forecast

    actuals = _site_year(3, "commercial", 28)
    site, run_config = make_site(), make_run_config()
    issued_at = actuals.index[21 * STEPS_PER_DAY]
    margined = make_provider("learned", actuals, site, run_config).peak_reserve_kwh(issued_at, 0.9)
    monkeypatch.setattr(learned_forecast, "RESERVE_MARGIN", 1.0)
    worst_day_kwh = make_provider("learned", actuals, site, run_config).peak_reserve_kwh(
        issued_at, 0.9
    )
    assert worst_day_kwh > 0, "some training day's load passed its P90"
    assert margined == pytest.approx(1.5 * worst_day_kwh)


def test_the_spike_reserve_is_the_worst_training_step_with_the_same_margin(monkeypatch):
    """One step's worst excess: under the day's, above a day's average step, margined alike."""
    from gridq.engine import learned_forecast

    actuals = _site_year(3, "commercial", 35)
    site, run_config = make_site(), make_run_config()
    # Thirty training days: no short-history raise on either.
    issued_at = actuals.index[30 * STEPS_PER_DAY]
    provider = make_provider("learned", actuals, site, run_config)
    spike_kwh, day_kwh = (
        provider.spike_reserve_kwh(issued_at, 0.9),
        provider.peak_reserve_kwh(issued_at, 0.9),
    )
    assert 0 < spike_kwh < day_kwh
    # A day's excess over its 96 steps is at most 96 times its worst step's.
    assert spike_kwh * STEPS_PER_DAY >= day_kwh
    monkeypatch.setattr(learned_forecast, "RESERVE_MARGIN", 1.0)
    unmargined = make_provider("learned", actuals, site, run_config)
    assert spike_kwh == pytest.approx(1.5 * unmargined.spike_reserve_kwh(issued_at, 0.9))


def test_a_short_history_raises_the_reserve_by_the_square_root_of_its_shortfall(monkeypatch):
    """Seven training days hold twice the reserve four weeks' margin would: sqrt(28 / 7)."""
    from gridq.engine import learned_forecast

    actuals = _site_year(3, "commercial", 14)
    site, run_config = make_site(), make_run_config()
    issued_at = actuals.index[7 * STEPS_PER_DAY + 8]
    week = make_provider("learned", actuals, site, run_config).peak_reserve_kwh(issued_at, 0.9)
    monkeypatch.setattr(learned_forecast, "SHORT_HISTORY_DAYS", 7.0)
    unraised = make_provider("learned", actuals, site, run_config).peak_reserve_kwh(issued_at, 0.9)
    assert unraised > 0, "some training day's load passed its P90"
    assert week == pytest.approx(2.0 * unraised)
    # One spike's worst is seen within a week: the spike reserve is not raised.
    spike_kwh = make_provider("learned", actuals, site, run_config).spike_reserve_kwh(
        issued_at, 0.9
    )
    monkeypatch.setattr(learned_forecast, "SHORT_HISTORY_DAYS", 28.0)
    raised = make_provider("learned", actuals, site, run_config)
    assert raised.spike_reserve_kwh(issued_at, 0.9) == pytest.approx(spike_kwh)
    assert raised.peak_reserve_kwh(issued_at, 0.9) == pytest.approx(week)
