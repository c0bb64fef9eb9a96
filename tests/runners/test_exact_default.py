"""The default perfect-foresight run is the exact optimum, on random years it never saw."""

import numpy as np
import pandas as pd
import pytest

from gridq import conventions as col
from gridq.engine.bill import CONSTANT_BILL_ITEMS, bill
from gridq.engine.model.build import build_model
from gridq.engine.model.problem import make_problem
from gridq.engine.model.solve import solve
from gridq.engine.timeseries import check_timeseries
from gridq.runners.backtest import optimise
from gridq.schemas import Battery, GridConnection, RunConfig, Site
from gridq.tariff_schema import DemandCharge, Tariff
from tests.engine.test_invariants import assert_physical

STEPS_PER_DAY = 96


def random_year(seed: int) -> tuple[Site, RunConfig, pd.DataFrame]:
    """A seeded site-year: noisy load with daily and seasonal shape, PV, dynamic prices, and
    monthly plus weekday-evening (30-minute) demand charges at random rates."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(
        "2025-01-01", periods=365 * STEPS_PER_DAY, freq="15min", tz="UTC", name=col.TIMESTAMP
    )
    hour = index.hour + index.minute / 60
    day = np.asarray(index.day_of_year)
    base_kw = rng.uniform(40, 200)
    load_kw = base_kw * (
        1
        + 0.4 * np.sin(np.pi * np.clip(hour - 7, 0, 12) / 12)
        + 0.15 * np.cos(2 * np.pi * day / 365)
        + rng.normal(0, 0.12, len(index))
    )
    pv_peak_kw = rng.uniform(0, 1.5) * base_kw
    daylight = np.clip(np.sin(np.pi * (hour - 6) / 12), 0, None)
    pv_kw = (
        pv_peak_kw
        * daylight
        * rng.uniform(0.2, 1.0, len(index))
        * (0.6 + 0.4 * np.sin(np.pi * day / 365))
    )
    import_price = 0.12 + 0.1 * (hour >= 16) * (hour < 19) + rng.normal(0, 0.03, len(index))
    frame = pd.DataFrame(
        {
            col.LOAD_KW: np.clip(load_kw, 0, None),
            col.PV_KW: pv_kw,
            col.IMPORT_PRICE: import_price,
            col.EXPORT_PRICE: np.clip(import_price - rng.uniform(0.03, 0.1), 0, None),
        },
        index=index,
    )
    power_kw = rng.uniform(0.2, 0.8) * base_kw
    site = Site(
        name=f"random_{seed}",
        latitude_deg=52.0,
        longitude_deg=-1.0,
        battery=Battery(
            capacity_kwh=power_kw * rng.uniform(1, 4),
            charge_power_max_kw=power_kw,
            discharge_power_max_kw=power_kw,
            charge_efficiency_frac=rng.uniform(0.9, 0.98),
            discharge_efficiency_frac=rng.uniform(0.9, 0.98),
            initial_soc_frac=0.5,
            degradation_cost_gbp_per_kwh=rng.uniform(0, 0.02),
        ),
        grid=GridConnection(export_limit_kw=rng.uniform(0.2, 1.0) * base_kw),
    )
    tariff = Tariff(
        energy="timeseries",
        export="timeseries",
        demand_charges=(
            DemandCharge(name="monthly", rate_gbp_per_kw=rng.uniform(2, 15)),
            DemandCharge(
                name="evening",
                rate_gbp_per_kw=rng.uniform(1, 8),
                start_local="16:00",
                end_local="19:00",
                days="weekdays",
                averaging_min=30,
            ),
        ),
    )
    return site, RunConfig(tariff=tariff), check_timeseries(frame, 15)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [101, 202])
def test_default_run_of_a_random_year_is_the_exact_optimum(seed):
    site, run_config, timeseries = random_year(seed)
    optimised = optimise(site, run_config, timeseries)
    problem = make_problem(site, run_config, timeseries)
    reference = solve(build_model(problem), problem)
    stats = optimised.solve_stats
    assert stats["method"] == "exact"
    assert stats["objective_gbp"] == pytest.approx(reference.objective_gbp, rel=1e-9)
    its_bill = bill(optimised.dispatch, problem.tariff, site.battery.degradation_cost_gbp_per_kwh)
    constants_gbp = sum(getattr(its_bill, name) for name in CONSTANT_BILL_ITEMS)
    assert stats["objective_gbp"] + constants_gbp == pytest.approx(
        its_bill.total_cost_gbp, rel=1e-9
    )
    assert_physical(optimised.dispatch, site.battery)
