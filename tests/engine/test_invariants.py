"""Physics and optimality invariants on every example bundle and on generated small cases."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridq import conventions as col
from gridq.engine.baseline import no_battery, self_consumption
from gridq.engine.bill import bill
from gridq.engine.checks import balance_residual_kw, soc_dynamics_residual_kwh
from gridq.engine.model.problem import make_problem
from gridq.engine.run import optimise
from gridq.io import bundle as io
from gridq.schemas import GridConnection
from gridq.schemas.tariff import (
    Capacity,
    DemandCharge,
    Duos,
    FlexibilityEvent,
    GridRules,
    Tariff,
    Triads,
)
from tests.conftest import EXAMPLE_NAMES, make_run_config, make_site, make_timeseries

BALANCE_TOL_KW = 1e-6
SOC_TOL_KWH = 1e-6
GBP_TOL = 1e-6


def assert_physical(dispatch: pd.DataFrame, battery) -> None:
    assert np.abs(balance_residual_kw(dispatch)).max() < BALANCE_TOL_KW
    assert (dispatch[list(col.FLOW_COLUMNS)].to_numpy() >= 0).all()
    soc = dispatch[col.SOC_KWH].to_numpy()
    assert soc.min() >= battery.soc_min_kwh - SOC_TOL_KWH
    assert soc.max() <= battery.soc_max_kwh + SOC_TOL_KWH
    assert np.abs(soc_dynamics_residual_kwh(dispatch, battery)).max() < SOC_TOL_KWH
    assert (dispatch[col.PV_CURTAIL_KW] <= dispatch[col.PV_KW] + BALANCE_TOL_KW).all()


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_bundle_dispatch_is_physical(example_bundles, name):
    bundle = example_bundles[name]
    inputs = io.read_bundle(bundle)
    step = inputs.run_config.timestep_min
    for table in (io.DISPATCH, io.BASELINE):
        assert_physical(io.read_dispatch(bundle / table, step), inputs.site.battery)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_bundle_saves_against_every_baseline(example_bundles, name):
    metrics = json.loads((example_bundles[name] / io.METRICS).read_text())
    assert metrics["savings_gbp"] > 0
    optimised_gbp = metrics["optimised"]["bill"]["total_cost_gbp"]
    for baseline in metrics["baselines"].values():
        assert optimised_gbp <= baseline["bill"]["total_cost_gbp"] + GBP_TOL


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_objective_equals_bill_of_returned_dispatch(example_bundles, name):
    bundle = example_bundles[name]
    stats = json.loads((bundle / io.SOLVE_STATS).read_text())
    metrics = json.loads((bundle / io.METRICS).read_text())
    billed = metrics["optimised"]["bill"]
    objective_gbp = stats["objective_gbp"] + sum(stats["constant_terms_gbp"].values())
    assert objective_gbp == pytest.approx(billed["total_cost_gbp"], rel=1e-7, abs=1e-6)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_bundle_respects_connection_limits(example_bundles, name):
    inputs = io.read_bundle(example_bundles[name])
    dispatch = io.read_dispatch(example_bundles[name] / io.DISPATCH, 15)
    grid = inputs.site.grid
    if grid.import_limit_kw is not None:
        assert dispatch[col.GRID_IMPORT_KW].max() <= grid.import_limit_kw + BALANCE_TOL_KW
    if grid.export_limit_kw is not None:
        assert dispatch[col.GRID_EXPORT_KW].max() <= grid.export_limit_kw + BALANCE_TOL_KW


def _kw(max_kw: float) -> st.SearchStrategy[float]:
    return st.floats(0.0, max_kw, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def small_cases(draw):
    steps = draw(st.integers(3, 8))
    load = draw(st.lists(_kw(20.0), min_size=steps, max_size=steps))
    pv = draw(st.lists(_kw(20.0), min_size=steps, max_size=steps))
    import_price = draw(
        st.lists(st.sampled_from([0.05, 0.1, 0.2, 0.35]), min_size=steps, max_size=steps)
    )
    export_price = draw(st.sampled_from([0.0, 0.04, 0.15]))
    soc_min = draw(st.sampled_from([0.0, 0.1]))
    site = make_site(
        capacity_kwh=draw(st.sampled_from([2.0, 10.0])),
        charge_power_max_kw=draw(_kw(10.0)),
        discharge_power_max_kw=draw(_kw(10.0)),
        charge_efficiency_frac=draw(st.sampled_from([0.8, 0.95, 1.0])),
        discharge_efficiency_frac=draw(st.sampled_from([0.8, 0.95, 1.0])),
        soc_min_frac=soc_min,
        soc_max_frac=0.9,
        initial_soc_frac=draw(st.sampled_from([soc_min, 0.5])),
        terminal_soc=draw(st.sampled_from(["at_least_initial", "free"])),
        degradation_cost_gbp_per_kwh=draw(st.sampled_from([0.0, 0.02])),
        grid=GridConnection(export_limit_kw=draw(st.sampled_from([None, 0.0, 3.0]))),
    )
    demand = draw(
        st.sampled_from(
            [
                (),
                (DemandCharge(name="peak", rate_gbp_per_kw=2.0),),
                (DemandCharge(name="averaged", rate_gbp_per_kw=1.0, averaging_min=30),),
            ]
        )
    )
    extras = draw(
        st.sampled_from(
            [
                {},
                {
                    "duos": Duos(
                        fixed_gbp_per_day=1.0,
                        capacity=Capacity(
                            agreed_kva=8.0,
                            rate_gbp_per_kva_per_day=0.1,
                            excess_rate_gbp_per_kva_per_day=1.0,
                        ),
                    )
                },
                {
                    "triads": Triads(
                        periods_start_utc=("2025-01-06T00:30Z",),
                        rate_gbp_per_kw=5.0,
                        credit_export=True,
                    )
                },
                {
                    "flexibility_events": (
                        FlexibilityEvent(
                            name="event",
                            start_utc="2025-01-06T00:15Z",
                            end_utc="2025-01-06T01:00Z",
                            baseline_import_kw=5.0,
                            price_gbp_per_kwh=0.5,
                        ),
                    )
                },
            ]
        )
    )
    rules = GridRules(
        **{
            rule: draw(st.booleans())
            for rule in ("no_battery_export", "charge_from_pv_only", "no_grid_to_battery_to_grid")
        }
    )
    run_config = make_run_config(
        Tariff(standing_charge_gbp_per_day=0.5, demand_charges=demand, rules=rules, **extras)
    )
    timeseries = make_timeseries(load, pv, import_price, export_price)
    return site, run_config, timeseries


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_cases())
def test_generated_cases_are_physical_and_never_worse_than_baselines(case):
    site, run_config, timeseries = case
    optimised = optimise(site, run_config, timeseries)
    problem = make_problem(site, run_config, timeseries)
    assert_physical(optimised.dispatch, site.battery)
    if site.battery.terminal_soc == "at_least_initial":
        assert optimised.dispatch[col.SOC_KWH].iloc[-1] >= site.battery.initial_soc_kwh - 1e-6
    cost = site.battery.degradation_cost_gbp_per_kwh
    optimised_bill = bill(optimised.dispatch, problem.tariff, cost)
    constants_gbp = sum(optimised.solve_stats["constant_terms_gbp"].values())
    assert optimised.solve_stats["objective_gbp"] + constants_gbp == (
        pytest.approx(optimised_bill.total_cost_gbp, rel=1e-7, abs=1e-6)
    )
    for reference in (no_battery(problem), self_consumption(problem)):
        assert_physical(reference, site.battery)
        assert (
            optimised_bill.total_cost_gbp
            <= bill(reference, problem.tariff, cost).total_cost_gbp + GBP_TOL
        )
