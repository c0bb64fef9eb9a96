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
    inside, above = [], []
    for seed in (21, 22, 23):
        actuals = _site_year(seed, profile, 42)
        provider = make_provider("learned", actuals, make_site(), make_run_config())
        for day in range(7, 42):
            issued_at = actuals.index[day * STEPS_PER_DAY]
            quantiles = provider.quantiles(issued_at, STEPS_PER_DAY)[col.LOAD_KW]
            assert (np.diff(quantiles, axis=0) >= 0).all()
            actual = actuals[col.LOAD_KW].to_numpy()[day * STEPS_PER_DAY :][:STEPS_PER_DAY]
            inside.append(((actual >= quantiles[0]) & (actual <= quantiles[-1])).mean())
            above.append((actual > quantiles[-1]).mean())
    assert 0.75 <= np.mean(inside) <= 0.85
    assert 0.05 <= np.mean(above) <= 0.15
    # The first week's band, calibrated on its own training days left out in turn, held 51%
    # when the trees scored only themselves.
    first_weeks = np.reshape(inside, (3, 35))[:, :7]
    assert first_weeks.mean() >= 0.7


def _from_a_tuesday(seed: int) -> pd.DataFrame:
    """A commercial fortnight whose history starts on a Tuesday (its first weekend is new)."""
    series = SyntheticSeries(
        seed=seed,
        start_utc=pd.Timestamp("2025-11-18", tz="UTC") + pd.Timedelta(weeks=seed),
        days=14,
        pv_peak_kw=0.0,
        load_profile="commercial",
        price_profile="flat",
    )
    return make_timeseries(series, make_site(), 15)


def test_trees_skip_steps_of_a_day_type_the_history_had_not_seen():
    """The first day (no history) and the first Saturday (no weekend before) are not learnt."""
    actuals = _from_a_tuesday(1)
    provider = make_provider("learned", actuals, make_site(), make_run_config())
    provider.forecast(actuals.index[7 * STEPS_PER_DAY], STEPS_PER_DAY)
    rows = provider._training_rows(7 * STEPS_PER_DAY, col.LOAD_KW, 1)
    learnt_days = rows.reshape(7, STEPS_PER_DAY).all(axis=1)
    skipped_days = ~rows.reshape(7, STEPS_PER_DAY).any(axis=1)
    # Tuesday .. Monday: Tuesday and Saturday skipped whole, the rest learnt whole.
    assert learnt_days.tolist() == [False, True, True, True, False, True, True]
    assert skipped_days.tolist() == [True, False, False, False, True, False, False]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_a_new_sites_first_week_forecasts_its_working_days_at_their_level(seed):
    """A week's trees once learnt "a busy day before means a quiet day" from a Saturday whose
    baseline was the weekdays': they forecast working days at half their load (0.47-0.59 of it on
    seeds 2, 5, 7). Each busy half of a day is now forecast at 80% of its level or more."""
    actuals = _from_a_tuesday(seed)
    provider = make_provider("learned", actuals, make_site(), make_run_config())
    for day in range(7, 12):
        forecast = provider.forecast(actuals.index[day * STEPS_PER_DAY], STEPS_PER_DAY)
        actual = actuals[col.LOAD_KW].to_numpy()[day * STEPS_PER_DAY :][:STEPS_PER_DAY]
        busy = actual > np.median(actual)
        level = forecast[col.LOAD_KW].to_numpy()[busy].mean() / actual[busy].mean()
        assert level >= 0.8, f"day {day}: busy hours forecast at {level:.2f} of their load"


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_short_historys_reserve_is_sized_on_days_forecast_without_themselves(monkeypatch, seed):
    """A fortnight's trees fit their own days: left out in turn, those days missed their P90 by
    2.2-3.6 times as much (seeds 1-4), and the reserve is sized on that."""
    from gridq.engine import learned_forecast

    actuals = _site_year(seed, "commercial", 21)
    site, run_config = make_site(), make_run_config()
    issued_at = actuals.index[14 * STEPS_PER_DAY]
    held_out = make_provider("learned", actuals, site, run_config).peak_reserve_kwh(issued_at, 0.9)
    # Fourteen days are no longer short: their own trees score them, and no margin is added.
    monkeypatch.setattr(learned_forecast, "SHORT_HISTORY_DAYS", 14.0)
    own = make_provider("learned", actuals, site, run_config).peak_reserve_kwh(issued_at, 0.9)
    assert held_out / np.sqrt(2.0) > 1.5 * own > 0


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
    # Just above the week, so its days are still scored left out in turn (as a fortnight's).
    monkeypatch.setattr(learned_forecast, "SHORT_HISTORY_DAYS", 7.5)
    unraised = make_provider("learned", actuals, site, run_config).peak_reserve_kwh(issued_at, 0.9)
    assert unraised > 0, "some training day's load passed its P90"
    assert week == pytest.approx(np.sqrt(28 / 7.5) * unraised)
    # One spike's worst is seen within a week: the spike reserve is not raised.
    spike_kwh = make_provider("learned", actuals, site, run_config).spike_reserve_kwh(
        issued_at, 0.9
    )
    monkeypatch.setattr(learned_forecast, "SHORT_HISTORY_DAYS", 28.0)
    raised = make_provider("learned", actuals, site, run_config)
    assert raised.spike_reserve_kwh(issued_at, 0.9) == pytest.approx(spike_kwh)
    assert raised.peak_reserve_kwh(issued_at, 0.9) == pytest.approx(week)


@pytest.mark.parametrize("seed", [5, 6])
def test_a_refreshed_forecaster_forecasts_as_one_made_afresh(seed):
    """Live operation renews the forecaster as steps are recorded: what it learnt carries over.

    At each issue the steps from then on are unknown (zeros, as in a live store); the renewed
    forecaster must forecast, bound and reserve exactly as one built on the same steps.
    """
    series = SyntheticSeries(
        seed=seed,
        start_utc=pd.Timestamp("2025-04-01", tz="UTC"),
        days=12,
        pv_peak_kw=8.0,
        load_profile="home",
        price_profile="flat",
    )
    actuals = make_timeseries(series, make_site(), 15)
    run_config = make_run_config(
        rolling=RollingOptions(forecast="learned", retrain_every_h=24, training_days=56)
    )

    def known_until(issue: int) -> pd.DataFrame:
        masked = actuals.copy()
        masked.iloc[issue:, [masked.columns.get_loc(c) for c in (col.LOAD_KW, col.PV_KW)]] = 0.0
        return masked

    issues = [8 * STEPS_PER_DAY + k for k in (0, 37, STEPS_PER_DAY + 5, 2 * STEPS_PER_DAY + 60)]
    renewed = None
    for issue in issues:
        known = known_until(issue)
        at = actuals.index[issue]
        fresh = make_provider("learned", known, make_site(), run_config)
        if renewed is None:
            renewed = first = fresh
        else:
            renewed = renewed.refreshed(known)
        for name in (col.LOAD_KW, col.PV_KW):
            np.testing.assert_array_equal(
                renewed.quantiles(at, 2 * STEPS_PER_DAY)[name],
                fresh.quantiles(at, 2 * STEPS_PER_DAY)[name],
            )
        assert renewed.peak_reserve_kwh(at, 0.9) == fresh.peak_reserve_kwh(at, 0.9)
        assert renewed.spike_reserve_kwh(at, 0.9) == fresh.spike_reserve_kwh(at, 0.9)
    assert renewed is not None
    # It learnt once per daily retrain cut (days 7 to 10, day 7's to calibrate), not per plan:
    # the first plan's trees are still the ones its cut forecasts with.
    cut = 8 * STEPS_PER_DAY
    assert renewed._models[cut, col.LOAD_KW, 1] is first._models[cut, col.LOAD_KW, 1]
    # Nor did it compute the calendar, clear sky and lag positions of the same steps again.
    assert renewed._clock is first._clock
    assert sorted({key[0] for key in renewed._models}) == [d * STEPS_PER_DAY for d in (7, 8, 9, 10)]
