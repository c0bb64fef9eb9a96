"""Small cases whose optimum is worked out by hand (tolerance 1e-6)."""

import numpy as np
import pytest

from gridq import conventions as col
from gridq.engine.bill import bill
from gridq.engine.model.problem import make_problem
from gridq.engine.run import optimise
from gridq.schemas import GridConnection
from gridq.schemas.tariff import DemandCharge, Tariff
from tests.conftest import make_run_config, make_site, make_timeseries

TOL = 1e-6


def _optimise(site, run_config, timeseries):
    result = optimise(site, run_config, timeseries)
    problem = make_problem(site, run_config, timeseries)
    return result.dispatch, bill(
        result.dispatch, problem.tariff, site.battery.degradation_cost_gbp_per_kwh
    )


def test_two_price_arbitrage_with_losses():
    # 10 kW load for four quarter-hours at 0.1, 0.1, 0.3, 0.3 GBP/kWh. The battery charges at its
    # 10 kW limit while cheap, storing 10 * 0.9 * 0.25 = 2.25 kWh a step (4.5 kWh), and returns
    # 4.5 * 0.9 = 4.05 kWh in the dear steps. Cost: 2.0 + 5 * 0.1 - 4.05 * 0.3 = 1.285 GBP.
    site = make_site(charge_efficiency_frac=0.9, discharge_efficiency_frac=0.9)
    timeseries = make_timeseries([10, 10, 10, 10], import_price=[0.1, 0.1, 0.3, 0.3])
    dispatch, its_bill = _optimise(site, make_run_config(), timeseries)
    assert its_bill.total_cost_gbp == pytest.approx(1.285, abs=TOL)
    np.testing.assert_allclose(dispatch[col.BATTERY_CHARGE_KW], [10, 10, 0, 0], atol=TOL)
    assert dispatch[col.BATTERY_DISCHARGE_KW].sum() * 0.25 == pytest.approx(4.05, abs=TOL)
    np.testing.assert_allclose(dispatch[col.SOC_KWH].iloc[-1], 0.0, atol=TOL)


def test_single_spike_is_shaved_by_exactly_the_battery_power():
    # A 30 kW spike among 10 kW steps; a 5 kW battery takes the monthly peak to 25 kW, so the
    # demand charge is 25 * 10 = 250 GBP instead of 300. Energy is free and lossless, and the
    # battery must end where it began (5 kWh).
    site = make_site(
        charge_power_max_kw=5.0,
        discharge_power_max_kw=5.0,
        initial_soc_frac=0.5,
        terminal_soc="at_least_initial",
    )
    tariff = Tariff(demand_charges=(DemandCharge(name="monthly", rate_gbp_per_kw=10.0),))
    timeseries = make_timeseries([10, 10, 30, 10], import_price=0.0)
    dispatch, its_bill = _optimise(site, make_run_config(tariff), timeseries)
    assert its_bill.demand_charge_gbp == pytest.approx(250.0, abs=TOL)
    assert dispatch[col.GRID_IMPORT_KW].max() == pytest.approx(25.0, abs=TOL)
    assert dispatch[col.BATTERY_DISCHARGE_KW].iloc[2] == pytest.approx(5.0, abs=TOL)
    assert dispatch[col.SOC_KWH].iloc[-1] >= 5.0 - TOL


def test_export_limit_curtails_exactly_the_excess():
    # 10 kW PV over 2 kW load for three steps: 8 kW surplus, 5 kW export limit, 1 kW charging
    # limit, so 2 kW is curtailed each step. The stored 0.75 kWh is worth 0.3 GBP/kWh in the
    # last step, where load is 4 kW and there is no PV: discharge 3 kW, import 1 kW.
    site = make_site(charge_power_max_kw=1.0, grid=GridConnection(export_limit_kw=5.0))
    timeseries = make_timeseries(
        [2, 2, 2, 4], pv_kw=[10, 10, 10, 0], import_price=0.3, export_price=0.05
    )
    dispatch, _ = _optimise(site, make_run_config(), timeseries)
    np.testing.assert_allclose(dispatch[col.PV_CURTAIL_KW], [2, 2, 2, 0], atol=TOL)
    np.testing.assert_allclose(dispatch[col.GRID_EXPORT_KW], [5, 5, 5, 0], atol=TOL)
    np.testing.assert_allclose(dispatch[col.GRID_IMPORT_KW], [0, 0, 0, 1], atol=TOL)


def test_battery_stays_idle_when_spread_is_below_round_trip_loss():
    # 0.20 -> 0.21 GBP/kWh is a 5% spread; 90% x 90% loses 19%: no trade pays.
    site = make_site(charge_efficiency_frac=0.9, discharge_efficiency_frac=0.9)
    timeseries = make_timeseries([10, 10, 10, 10], import_price=[0.2, 0.2, 0.21, 0.21])
    dispatch, its_bill = _optimise(site, make_run_config(), timeseries)
    np.testing.assert_allclose(dispatch[col.BATTERY_CHARGE_KW], 0.0, atol=TOL)
    np.testing.assert_allclose(dispatch[col.BATTERY_DISCHARGE_KW], 0.0, atol=TOL)
    assert its_bill.total_cost_gbp == pytest.approx(10 * 0.25 * (0.4 + 0.42), abs=TOL)


def test_time_of_day_demand_window_only_bills_its_steps():
    # The window is 00:15-00:45 local (UTC in January): only steps 1 and 2 count, peak 20 kW.
    tariff = Tariff(
        demand_charges=(
            DemandCharge(
                name="evening",
                rate_gbp_per_kw=1.0,
                start_local="00:15",
                end_local="00:45",
            ),
        )
    )
    site = make_site(charge_power_max_kw=0.0, discharge_power_max_kw=0.0)
    timeseries = make_timeseries([50, 20, 15, 40], import_price=0.0)
    _, its_bill = _optimise(site, make_run_config(tariff), timeseries)
    assert its_bill.demand_charge_gbp == pytest.approx(20.0, abs=TOL)


def test_export_dearer_than_import_does_not_pass_power_through_the_meter():
    # Export pays 0.2 and import costs 0.1: importing and exporting at once would pay without
    # limit, but a meter cannot do both at the same instant. With no battery power the site
    # just imports its 2 kW: 2 * 0.1 * 0.25 = 0.05 GBP a step.
    site = make_site(charge_power_max_kw=0.0, discharge_power_max_kw=0.0)
    timeseries = make_timeseries([2, 2, 2], import_price=0.1, export_price=0.2)
    dispatch, its_bill = _optimise(site, make_run_config(), timeseries)
    np.testing.assert_allclose(dispatch[col.GRID_IMPORT_KW], 2.0, atol=TOL)
    np.testing.assert_allclose(dispatch[col.GRID_EXPORT_KW], 0.0, atol=TOL)
    assert its_bill.total_cost_gbp == pytest.approx(3 * 0.05, abs=TOL)


def test_battery_may_share_a_step_between_charging_and_exporting():
    # Lossless 10 kW battery, no load, export 0.2 > import 0.1, two steps, ending where it
    # began. The power limit caps the cycling at 10 kW of each direction over the two steps,
    # whether step by step or by sharing each step's time: (10 * 0.2 - 10 * 0.1) * 0.25 =
    # 0.25 GBP earned. Which split HiGHS picks is a tie, so only the totals are pinned.
    site = make_site(initial_soc_frac=0.5, terminal_soc="at_least_initial")
    timeseries = make_timeseries([0, 0], import_price=0.1, export_price=0.2)
    dispatch, its_bill = _optimise(site, make_run_config(), timeseries)
    assert dispatch[col.GRID_IMPORT_KW].sum() == pytest.approx(10.0, abs=TOL)
    assert dispatch[col.GRID_EXPORT_KW].sum() == pytest.approx(10.0, abs=TOL)
    assert its_bill.total_cost_gbp == pytest.approx(-0.25, abs=TOL)
