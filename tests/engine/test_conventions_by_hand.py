"""Hand-computed cases for the conventions users state: terminal SOC, sites without a battery,
non-curtailable PV, partial averaging blocks and bank holidays.

Each solve goes through the fast path and the linopy reference, and checks that the LP's
objective plus the bill's constant items equals ``bill()`` of the dispatch.
"""

import numpy as np
import pandas as pd
import pytest

from gridq import conventions as col
from gridq.engine.bill import CONSTANT_BILL_ITEMS, bill
from gridq.engine.forecast import PerfectForecast
from gridq.engine.model.build import build_model
from gridq.engine.model.problem import make_problem
from gridq.engine.model.solve import solve
from gridq.engine.run import optimise
from gridq.engine.windows import rolling_backtest
from gridq.errors import InfeasibleError
from gridq.schemas import GridConnection, Site, TerminalSocTarget
from gridq.schemas.tariff import Band, Bands, DemandCharge, Duos, Tariff
from tests.conftest import make_run_config, make_site, make_timeseries

TOL = 1e-6


def _solved_bill(site, run_config, timeseries):
    """The optimum's dispatch and bill, after checking both LP paths and the bill agree."""
    result = optimise(site, run_config, timeseries)
    problem = make_problem(site, run_config, timeseries)
    reference = solve(build_model(problem), problem)
    objective_gbp = result.solve_stats["objective_gbp"]
    assert objective_gbp == pytest.approx(reference.objective_gbp, rel=1e-9, abs=1e-9)
    its_bill = bill(result.dispatch, problem.tariff, site.battery.degradation_cost_gbp_per_kwh)
    constants_gbp = sum(getattr(its_bill, name) for name in CONSTANT_BILL_ITEMS)
    assert objective_gbp + constants_gbp == pytest.approx(its_bill.total_cost_gbp, abs=TOL)
    return result.dispatch, its_bill


# energy-py-linear's validation page for its battery (default asset: 2 MW, 4 MWh, 90% efficiency
# charged on the way in, none on the way out, starting and ending empty), hourly prices in
# GBP/MWh. Published site balances (MWh per hour) give the profit.
EPL_CASES = [
    ([10, -50, 200, -50, 200], [0.444444, 2.0, -2.0, 2.0, -2.0]),
    ([200, -50, -50, 200, 220], [0.0, 2.0, 2.0, -1.6, -2.0]),
]


@pytest.mark.parametrize(("prices_gbp_per_mwh", "balance_mwh"), EPL_CASES)
def test_energy_py_linear_battery_example_profit(prices_gbp_per_mwh, balance_mwh):
    prices = np.asarray(prices_gbp_per_mwh, dtype=float) / 1000.0
    site = make_site(
        capacity_kwh=4000.0,
        charge_power_max_kw=2000.0,
        discharge_power_max_kw=2000.0,
        charge_efficiency_frac=0.9,
        discharge_efficiency_frac=1.0,
        initial_soc_frac=0.0,
        terminal_soc=TerminalSocTarget(rule="equal", target_kwh=0.0),
    )
    timeseries = make_timeseries(
        [0.0] * len(prices), import_price=prices, export_price=prices, step_min=60
    )
    dispatch, its_bill = _solved_bill(site, make_run_config(timestep_min=60), timeseries)
    published_profit_gbp = -float(np.dot(prices_gbp_per_mwh, balance_mwh))
    assert -its_bill.total_cost_gbp == pytest.approx(published_profit_gbp, abs=1e-3)
    net_import_kw = dispatch[col.GRID_IMPORT_KW] - dispatch[col.GRID_EXPORT_KW]
    np.testing.assert_allclose(net_import_kw / 1000.0, balance_mwh, atol=1e-6)
    assert dispatch[col.SOC_KWH].iloc[-1] == pytest.approx(0.0, abs=TOL)


# No load, no PV, 10 kWh / 10 kW lossless battery starting empty, 0.1 then 0.3 GBP/kWh:
# the battery only charges to meet its end rule, in the cheap steps.
@pytest.mark.parametrize(
    ("terminal_soc", "end_kwh", "cost_gbp"),
    [
        ("free", 0.0, 0.0),
        ("at_least_initial", 0.0, 0.0),
        (TerminalSocTarget(rule="equal", target_kwh=5.0), 5.0, 0.5),
        (TerminalSocTarget(rule="equal", target_frac=0.25), 2.5, 0.25),
        (TerminalSocTarget(rule="at_least", target_frac=0.5), 5.0, 0.5),
    ],
)
def test_terminal_soc_rules(terminal_soc, end_kwh, cost_gbp):
    site = make_site(terminal_soc=terminal_soc)
    timeseries = make_timeseries([0, 0, 0, 0], import_price=[0.1, 0.1, 0.3, 0.3])
    dispatch, its_bill = _solved_bill(site, make_run_config(), timeseries)
    assert dispatch[col.SOC_KWH].iloc[-1] == pytest.approx(end_kwh, abs=TOL)
    assert its_bill.total_cost_gbp == pytest.approx(cost_gbp, abs=TOL)


def test_equal_target_gives_back_energy_that_at_least_would_keep():
    # Starting full (10 kWh) with export paying 0.2: 'at_least' 4 kWh may keep more, 'equal'
    # 4 kWh must sell 6 kWh: 6 * 0.2 = 1.2 GBP earned either way, since keeping earns nothing.
    for rule in ("equal", "at_least"):
        site = make_site(
            initial_soc_frac=1.0, terminal_soc=TerminalSocTarget(rule=rule, target_kwh=4.0)
        )
        timeseries = make_timeseries([0, 0, 0, 0], import_price=0.3, export_price=0.2)
        dispatch, its_bill = _solved_bill(site, make_run_config(), timeseries)
        assert its_bill.total_cost_gbp == pytest.approx(-1.2, abs=TOL)
        assert dispatch[col.SOC_KWH].iloc[-1] == pytest.approx(4.0, abs=TOL)


def test_site_without_a_battery_block_bills_its_load():
    site = Site.model_validate({"name": "no_battery", "latitude_deg": 51.5, "longitude_deg": 0.0})
    assert site.battery.capacity_kwh == 0.0
    # 10 kW for two quarter-hours at 0.2: 10 * 0.5 * 0.2 = 1.0 GBP.
    timeseries = make_timeseries([10, 10], import_price=0.2)
    dispatch, its_bill = _solved_bill(site, make_run_config(), timeseries)
    assert its_bill.total_cost_gbp == pytest.approx(1.0, abs=TOL)
    assert (dispatch[col.BATTERY_CHARGE_KW] == 0).all()
    assert (dispatch[col.SOC_KWH] == 0).all()


@pytest.mark.parametrize(("curtailable", "cost_gbp"), [(True, 0.0), (False, 0.1)])
def test_pv_that_cannot_be_curtailed_is_exported_at_a_negative_price(curtailable, cost_gbp):
    # 6 kW PV over 2 kW load for one quarter-hour, export price -0.1, no battery: curtailing
    # costs nothing; without curtailment 4 kW go out: 4 * 0.25 * 0.1 = 0.1 GBP.
    site = make_site(capacity_kwh=0.0, charge_power_max_kw=0.0, discharge_power_max_kw=0.0)
    site = site.model_copy(update={"pv_curtailable": curtailable})
    timeseries = make_timeseries([2, 2], pv_kw=[6, 0], import_price=0.2, export_price=-0.1)
    dispatch, its_bill = _solved_bill(site, make_run_config(), timeseries)
    assert its_bill.total_cost_gbp - 2 * 0.25 * 0.2 == pytest.approx(cost_gbp, abs=TOL)
    assert dispatch[col.PV_CURTAIL_KW].iloc[0] == pytest.approx(4.0 if curtailable else 0.0)


def test_pv_above_export_limit_that_cannot_be_curtailed_is_infeasible():
    site = make_site(grid=GridConnection(export_limit_kw=5.0), charge_power_max_kw=1.0)
    site = site.model_copy(update={"pv_curtailable": False})
    timeseries = make_timeseries([2, 2], pv_kw=[10, 0])
    with pytest.raises(InfeasibleError, match="pv_curtailable: true"):
        optimise(site, make_run_config(), timeseries)


# A run from 00:15 to 01:45 on 15-minute data under a 30-minute demand charge: its first
# half-hour has one step in the run (00:15, 40 kW) and so has its last (01:30, 60 kW).
PARTIAL_LOAD_KW = [40, 10, 10, 20, 20, 60]


def _partial_block_case(convention: str):
    tariff = Tariff(
        energy={"rate_gbp_per_kwh": 0.0},
        export={"rate_gbp_per_kwh": 0.0},
        demand_charges=(
            DemandCharge(
                name="monthly", rate_gbp_per_kw=10.0, averaging_min=30, partial_blocks=convention
            ),
        ),
    )
    timeseries = make_timeseries(PARTIAL_LOAD_KW, start="2025-01-06T00:15Z")
    return make_run_config(tariff), timeseries


@pytest.mark.parametrize(("convention", "demand_kw"), [("mean_of_present", 60), ("not_billed", 20)])
def test_partial_blocks_in_the_bill(convention, demand_kw):
    run_config, timeseries = _partial_block_case(convention)
    site = make_site(capacity_kwh=0.0, charge_power_max_kw=0.0, discharge_power_max_kw=0.0)
    _, its_bill = _solved_bill(site, run_config, timeseries)
    assert its_bill.demand_charge_gbp == pytest.approx(10.0 * demand_kw, abs=TOL)


# With a 10 kW battery holding 5 kWh (free energy, free end): 'mean_of_present' can only take
# the last half-hour's single 60 kW step down to 50 kW; 'not_billed' leaves both edges out and
# holds the middle half-hours at 10 kW (the 20 kW pair needs 10 kW each of the battery, 5 kWh).
@pytest.mark.parametrize(("convention", "demand_kw"), [("mean_of_present", 50), ("not_billed", 10)])
def test_partial_blocks_agree_in_lp_bill_and_rolling_windows(convention, demand_kw):
    run_config, timeseries = _partial_block_case(convention)
    site = make_site(initial_soc_frac=0.5)
    _, its_bill = _solved_bill(site, run_config, timeseries)
    assert its_bill.demand_charge_gbp == pytest.approx(10.0 * demand_kw, abs=TOL)
    # Re-planning every step over the rest of the run from perfect forecasts: each window
    # bills a half-hour it cuts on the settled steps plus its own, as the run's bill does, so
    # the rolling run reaches the same optimum.
    rolled = rolling_backtest(
        site,
        run_config,
        timeseries,
        PerfectForecast(timeseries),
        pd.Timedelta("15min"),
        pd.Timedelta("3h"),
    )
    tariff = make_problem(site, run_config, timeseries).tariff
    assert bill(rolled.dispatch, tariff, 0.0).demand_charge_gbp == pytest.approx(
        10.0 * demand_kw, abs=TOL
    )


def _red_band_tariff(region: str) -> Tariff:
    weekday = "weekdays"
    return Tariff(
        bank_holidays=region,
        energy={"rate_gbp_per_kwh": 0.1},
        export={"rate_gbp_per_kwh": 0.0},
        duos=Duos(
            unit_bands=Bands(
                bands=(
                    Band(
                        name="red",
                        rate_gbp_per_kwh=0.5,
                        start_local="16:00",
                        end_local="19:00",
                        days=weekday,
                    ),
                    Band(
                        name="rest",
                        rate_gbp_per_kwh=0.0,
                        start_local="19:00",
                        end_local="16:00",
                        days=weekday,
                    ),
                    Band(name="weekend", rate_gbp_per_kwh=0.0, days="weekends"),
                )
            )
        ),
        demand_charges=(
            DemandCharge(
                name="peak",
                rate_gbp_per_kw=2.0,
                start_local="16:00",
                end_local="19:00",
                days=weekday,
            ),
        ),
    )


# 10 kW for one quarter-hour at 16:00 on Thursday 2 January 2025: a bank holiday in Scotland,
# not in England and Wales. On a working day: energy 10 * 0.25 * (0.1 + 0.5) = 1.5 GBP and
# demand 10 * 2 = 20 GBP; on the holiday: 0.25 GBP and no demand charge.
@pytest.mark.parametrize(
    ("region", "cost_gbp"),
    [("england_and_wales", 21.5), ("scotland", 0.25), ("none", 21.5)],
)
def test_bank_holidays_are_weekend_days_of_their_region(region, cost_gbp):
    site = make_site(capacity_kwh=0.0, charge_power_max_kw=0.0, discharge_power_max_kw=0.0)
    timeseries = make_timeseries([10, 0], start="2025-01-02T16:00Z")
    _, its_bill = _solved_bill(site, make_run_config(_red_band_tariff(region)), timeseries)
    assert its_bill.total_cost_gbp == pytest.approx(cost_gbp, abs=TOL)


def test_christmas_is_a_bank_holiday_in_every_region():
    site = make_site(capacity_kwh=0.0, charge_power_max_kw=0.0, discharge_power_max_kw=0.0)
    timeseries = make_timeseries([10, 0], start="2025-12-25T16:00Z")
    for region, cost_gbp in (("england_and_wales", 0.25), ("northern_ireland", 0.25)):
        _, its_bill = _solved_bill(site, make_run_config(_red_band_tariff(region)), timeseries)
        assert its_bill.total_cost_gbp == pytest.approx(cost_gbp, abs=TOL)


@pytest.mark.parametrize("convention", ["mean_of_present", "not_billed"])
def test_a_window_bills_a_cut_half_hour_on_its_settled_and_planned_steps(convention):
    # Whatever step a window starts at, the demand it computes for the half-hours it touches,
    # from the import settled before it and its own, is the run's bill's demand for them.
    run_config, timeseries = _partial_block_case(convention)
    tariff = make_problem(make_site(), run_config, timeseries).tariff
    (charge,) = tariff.demand_charges
    grid_import_kw = np.array([37.0, 12.0, 31.0, 7.0, 23.0, 55.0])
    run_block_kw = (
        np.bincount(
            charge.block_of_step[charge.block_of_step >= 0],
            weights=grid_import_kw[charge.block_of_step >= 0],
        )
        / charge.block_steps
    )
    for start in range(1, len(grid_import_kw)):
        settled_kw = np.where(np.arange(len(grid_import_kw)) < start, grid_import_kw, 0.0)
        window = tariff.window(start, len(grid_import_kw), settled_kw).demand_charges[0]
        inside = window.block_of_step >= 0
        window_block_kw = (
            np.bincount(
                window.block_of_step[inside],
                weights=grid_import_kw[start:][inside],
                minlength=len(window.block_steps),
            )
            / window.block_steps
            + window.offsets_kw()
        )
        touched = np.unique(charge.block_of_step[start:][charge.block_of_step[start:] >= 0])
        np.testing.assert_allclose(window_block_kw, run_block_kw[touched], atol=1e-12)
