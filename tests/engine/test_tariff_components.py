"""One hand-computed case per tariff component, priced by the LP and by bill() alike."""

import numpy as np
import pandas as pd
import pytest

from gridq import conventions as col
from gridq.engine.bill import bill
from gridq.engine.model.problem import make_problem
from gridq.engine.run import optimise
from gridq.engine.tariff import compile_tariff
from gridq.io.files import read_config
from gridq.schemas.tariff import (
    Band,
    Bands,
    Capacity,
    CoincidentPeak,
    DemandCharge,
    Duos,
    FlatRate,
    FlexibilityEvent,
    GridRules,
    Ratchet,
    Tariff,
    Triads,
)
from tests.conftest import REPO, make_run_config, make_site, make_timeseries

TOL = 1e-6
NO_BATTERY = {"charge_power_max_kw": 0.0, "discharge_power_max_kw": 0.0}


def solve_and_bill(tariff, load, pv=None, start="2025-01-06T00:00Z", **battery):
    """Optimise, then check the LP objective equals bill() of its own dispatch."""
    site = make_site(**battery)
    run_config = make_run_config(tariff)
    timeseries = make_timeseries(load, pv, start=start)
    result = optimise(site, run_config, timeseries)
    problem = make_problem(site, run_config, timeseries)
    its_bill = bill(result.dispatch, problem.tariff, site.battery.degradation_cost_gbp_per_kwh)
    constants = sum(result.solve_stats["constant_terms_gbp"].values())
    assert result.solve_stats["objective_gbp"] + constants == pytest.approx(
        its_bill.total_cost_gbp, abs=TOL
    )
    return result.dispatch, its_bill


def bands(*rows):
    return Bands(
        bands=tuple(
            Band(name=n, rate_gbp_per_kwh=r, start_local=a, end_local=b, **extra)
            for n, r, a, b, extra in rows
        )
    )


NIGHT_DAY = bands(("night", 0.1, "00:00", "07:00", {}), ("day", 0.3, "07:00", "24:00", {}))


def test_time_of_use_bands_and_flat_export():
    # 06:30 and 06:45 are night (0.1), 07:00 and 07:15 day (0.3); 4 kW load each step, and at
    # 07:15 8 kW of PV exports 4 kW at 0.05. 4 * 0.25 * (0.1 + 0.1 + 0.3) = 0.5; export 0.05.
    tariff = Tariff(energy=NIGHT_DAY, export=FlatRate(rate_gbp_per_kwh=0.05))
    _, its_bill = solve_and_bill(
        tariff, [4, 4, 4, 4], [0, 0, 0, 8], start="2025-01-06T06:30Z", **NO_BATTERY
    )
    assert its_bill.energy_import_gbp == pytest.approx(0.5, abs=TOL)
    assert its_bill.export_revenue_gbp == pytest.approx(4 * 0.25 * 0.05, abs=TOL)


def test_seasonal_bands_pick_the_month():
    seasonal = bands(
        ("winter", 0.3, "00:00", "24:00", {"months": (1, 2, 3, 10, 11, 12)}),
        ("summer", 0.2, "00:00", "24:00", {"months": (4, 5, 6, 7, 8, 9)}),
    )
    for start, rate in (("2025-01-06T00:00Z", 0.3), ("2025-07-07T00:00Z", 0.2)):
        compiled = compile_tariff(Tariff(energy=seasonal), make_timeseries([1, 1], start=start))
        np.testing.assert_allclose(compiled.energy_price_gbp_per_kwh, rate)


def test_dynamic_prices_come_from_the_timeseries_and_duos_adds_on_top():
    duos = Duos(
        unit_bands=bands(
            ("red", 0.2, "16:00", "19:00", {"days": "weekdays"}),
            ("green", 0.01, "19:00", "16:00", {"days": "weekdays"}),
            ("weekend", 0.0, "00:00", "24:00", {"days": "weekends"}),
        )
    )
    timeseries = make_timeseries(
        [1, 1, 1], import_price=[0.15, 0.25, -0.05], start="2025-01-06T15:45Z"
    )
    compiled = compile_tariff(Tariff(duos=duos), timeseries)
    np.testing.assert_allclose(compiled.import_price_gbp_per_kwh, [0.16, 0.45, 0.15])


def test_clock_change_days_have_92_and_100_quarter_hours_on_the_local_clock():
    for day, steps in (("2025-03-30", 92), ("2025-10-26", 100)):
        start = pd.Timestamp(f"{day} 00:00", tz="Europe/London").tz_convert("UTC")
        timeseries = make_timeseries([1.0] * steps, start=start)
        compiled = compile_tariff(Tariff(energy=NIGHT_DAY), timeseries)
        # Night is 00:00-07:00 local: 7 h less the lost hour in March, plus the repeated hour
        # in October.
        night_steps = (compiled.energy_price_gbp_per_kwh == 0.1).sum()
        assert night_steps == (24 if steps == 92 else 32)
        assert len(timeseries) == steps


def test_standing_and_duos_fixed_charges_accrue_per_day():
    tariff = Tariff(standing_charge_gbp_per_day=0.5, duos=Duos(fixed_gbp_per_day=2.0))
    _, its_bill = solve_and_bill(tariff, [1.0] * 96, **NO_BATTERY)
    assert its_bill.standing_charge_gbp == pytest.approx(0.5, abs=TOL)
    assert its_bill.duos_fixed_gbp == pytest.approx(2.0, abs=TOL)


def test_capacity_and_excess_capacity_charges():
    # One day: 100 kVA agreed at 0.05/kVA/day = 5 GBP. A 114 kW spike at power factor 0.95 is
    # 120 kVA, 20 over, at 0.1/kVA/day: 2 GBP without a battery; a 20 kW battery shaves the spike
    # to 95 kW (100 kVA) and pays none.
    tariff = Tariff(
        energy=FlatRate(rate_gbp_per_kwh=0.0),
        duos=Duos(
            capacity=Capacity(
                agreed_kva=100, rate_gbp_per_kva_per_day=0.05, excess_rate_gbp_per_kva_per_day=0.1
            )
        ),
    )
    load = [50.0] * 96
    load[40] = 114.0
    _, no_battery_bill = solve_and_bill(tariff, load, **NO_BATTERY)
    assert no_battery_bill.capacity_charge_gbp == pytest.approx(5.0, abs=TOL)
    assert no_battery_bill.excess_capacity_gbp == pytest.approx(2.0, abs=TOL)
    dispatch, with_battery = solve_and_bill(
        tariff, load, charge_power_max_kw=20.0, discharge_power_max_kw=20.0, initial_soc_frac=0.5
    )
    assert with_battery.excess_capacity_gbp == pytest.approx(0.0, abs=TOL)
    assert dispatch[col.GRID_IMPORT_KW].max() <= 95.0 + TOL


def test_triads_charge_average_import_and_may_credit_export():
    # Two triad half-hours: 10 kW in the first, 20 kW in the second, average 15 kW at 50 GBP/kW.
    periods = ("2025-01-06T17:00Z", "2025-01-06T18:00Z")
    load = [10, 10, 5, 5, 20, 20]
    triads = Triads(periods_start_utc=periods, rate_gbp_per_kw=50.0)
    _, its_bill = solve_and_bill(
        Tariff(triads=triads), load, start="2025-01-06T17:00Z", **NO_BATTERY
    )
    assert its_bill.triad_gbp == pytest.approx(750.0, abs=TOL)
    # With export credited, 30 kW of PV in the second half-hour nets -10 kW there: average 0.
    credit = Triads(periods_start_utc=periods, rate_gbp_per_kw=50.0, credit_export=True)
    _, credited = solve_and_bill(
        Tariff(triads=credit), load, [0, 0, 0, 0, 30, 30], start="2025-01-06T17:00Z", **NO_BATTERY
    )
    assert credited.triad_gbp == pytest.approx(0.0, abs=TOL)


def test_demand_on_a_30_minute_average_of_15_minute_data():
    # Blocks 00:00-00:30 average (10 + 30) / 2 = 20 kW, 00:30-01:00 average 10 kW: 20 GBP at 1.
    tariff = Tariff(
        energy=FlatRate(rate_gbp_per_kwh=0.0),
        demand_charges=(DemandCharge(name="averaged", rate_gbp_per_kw=1.0, averaging_min=30),),
    )
    _, its_bill = solve_and_bill(tariff, [10, 30, 10, 10], **NO_BATTERY)
    assert its_bill.demand_charge_gbp == pytest.approx(20.0, abs=TOL)


def test_ratchet_raises_billing_demand_to_a_share_of_earlier_peaks():
    # History: 100 kW in December; 80% for 11 months makes January bill at least 80 kW, though
    # its own peak is 50 kW. February's 40 kW is raised to max(80, 0.8 * 50) = 80 kW.
    ratchet = Ratchet(fraction=0.8, months=11, history_kw={"2024-12": 100.0})
    tariff = Tariff(
        energy=FlatRate(rate_gbp_per_kwh=0.0),
        demand_charges=(DemandCharge(name="ratcheted", rate_gbp_per_kw=2.0, ratchet=ratchet),),
    )
    _, its_bill = solve_and_bill(tariff, [50, 50, 40, 40], start="2025-01-31T23:30Z", **NO_BATTERY)
    assert its_bill.billed_demand_kw == {"ratcheted:2025-01": 80.0, "ratcheted:2025-02": 80.0}
    assert its_bill.demand_charge_gbp == pytest.approx(2 * 160.0, abs=TOL)
    # Without history, February is held to 80% of January's 50 kW: 40 kW, its own peak.
    plain = Tariff(
        energy=FlatRate(rate_gbp_per_kwh=0.0),
        demand_charges=(
            DemandCharge(
                name="ratcheted", rate_gbp_per_kw=2.0, ratchet=Ratchet(fraction=0.9, months=1)
            ),
        ),
    )
    _, no_history = solve_and_bill(plain, [50, 50, 40, 40], start="2025-01-31T23:30Z", **NO_BATTERY)
    assert no_history.billed_demand_kw == {"ratcheted:2025-01": 50.0, "ratcheted:2025-02": 45.0}


def test_coincident_peak_bills_the_highest_import_in_the_event():
    peak = CoincidentPeak(
        name="system_peak",
        rate_gbp_per_kw=3.0,
        periods_utc=(("2025-01-06T00:15Z", "2025-01-06T00:45Z"),),
    )
    _, its_bill = solve_and_bill(Tariff(coincident_peaks=(peak,)), [50, 20, 25, 40], **NO_BATTERY)
    assert its_bill.coincident_peak_gbp == pytest.approx(75.0, abs=TOL)


def test_flexibility_event_pays_for_import_below_the_baseline():
    # 10 kW load; the event asks for less than 10 kW for half an hour at 1 GBP/kWh. A full
    # battery covers the load: 10 kW * 0.5 h * 1.0 = 5 GBP.
    event = FlexibilityEvent(
        name="dfs",
        start_utc="2025-01-06T00:30Z",
        end_utc="2025-01-06T01:00Z",
        baseline_import_kw=10.0,
        price_gbp_per_kwh=1.0,
    )
    tariff = Tariff(energy=FlatRate(rate_gbp_per_kwh=0.1), flexibility_events=(event,))
    dispatch, its_bill = solve_and_bill(tariff, [10, 10, 10, 10], initial_soc_frac=1.0)
    assert its_bill.flexibility_revenue_gbp == pytest.approx(5.0, abs=TOL)
    np.testing.assert_allclose(dispatch[col.GRID_IMPORT_KW].iloc[2:], 0.0, atol=TOL)


ARBITRAGE = {"energy": FlatRate(rate_gbp_per_kwh=0.05)}
EXPORT_LATER = {
    "export": bands(("low", 0.0, "00:00", "00:30", {}), ("high", 0.3, "00:30", "24:00", {}))
}


def test_no_battery_export_rule():
    # A full battery and a 0.3 export price: without the rule it would export 10 kW.
    tariff = Tariff(**ARBITRAGE, **EXPORT_LATER, rules=GridRules(no_battery_export=True))
    dispatch, _ = solve_and_bill(tariff, [0, 0, 0, 0], initial_soc_frac=1.0)
    np.testing.assert_allclose(dispatch[col.GRID_EXPORT_KW], 0.0, atol=TOL)


def test_charge_from_pv_only_rule():
    tariff = Tariff(
        energy=bands(("cheap", 0.0, "00:00", "00:30", {}), ("dear", 0.5, "00:30", "24:00", {})),
        rules=GridRules(charge_from_pv_only=True),
    )
    dispatch, _ = solve_and_bill(tariff, [0, 0, 5, 5], [0, 2, 0, 0])
    np.testing.assert_allclose(dispatch[col.BATTERY_CHARGE_KW], [0, 2, 0, 0], atol=TOL)


def test_no_grid_to_battery_to_grid_rule_still_lets_pv_energy_out():
    # Grid at 0.05, export later at 0.3: without the rule the battery buys and sells. With it,
    # only the 2 kW of PV stored at 00:15 (0.5 kWh) may leave later.
    tariff = Tariff(**ARBITRAGE, **EXPORT_LATER, rules=GridRules(no_grid_to_battery_to_grid=True))
    dispatch, _ = solve_and_bill(tariff, [0, 0, 0, 0], [0, 2, 0, 0])
    assert dispatch[col.GRID_EXPORT_KW].sum() * 0.25 == pytest.approx(0.5, abs=TOL)
    free, _ = solve_and_bill(Tariff(**ARBITRAGE, **EXPORT_LATER), [0, 0, 0, 0], [0, 2, 0, 0])
    assert free[col.GRID_EXPORT_KW].sum() * 0.25 > 0.5 + 1.0


@pytest.mark.parametrize("tariff_file", ["us_demand_ratchet.yaml", "uk_hh_business_duos.yaml"])
def test_a_window_of_the_run_tariff_prices_like_the_window_compiled_alone(tariff_file):
    tariff = read_config(REPO / "data" / "tariffs" / tariff_file, Tariff)
    rng = np.random.default_rng(3)
    load_kw = rng.uniform(10, 60, 96 * 70)
    timeseries = make_timeseries(load_kw, start="2025-01-01T00:00Z")
    start, stop = 96 * 29 + 40, 96 * 33 + 40  # a window across the January/February boundary
    windowed = compile_tariff(tariff, timeseries).window(start, stop)
    alone = compile_tariff(tariff, timeseries.iloc[start:stop])
    np.testing.assert_allclose(windowed.import_price_gbp_per_kwh, alone.import_price_gbp_per_kwh)
    np.testing.assert_allclose(windowed.export_price_gbp_per_kwh, alone.export_price_gbp_per_kwh)
    assert windowed.excess_month_names == alone.excess_month_names
    imports_kw = load_kw[start:stop]
    for ours, theirs in zip(windowed.demand_charges, alone.demand_charges, strict=True):
        assert ours.period_names == theirs.period_names
        np.testing.assert_allclose(ours.peaks_kw(imports_kw), theirs.peaks_kw(imports_kw))
    np.testing.assert_allclose(
        windowed.monthly_peak_kva(imports_kw), alone.monthly_peak_kva(imports_kw)
    )
