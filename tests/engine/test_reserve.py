"""The peak reserve is held only where load above the forecast could set a billed peak."""

import numpy as np
import pandas as pd
import pytest

from gridq import conventions as col
from gridq.engine.controller import at_risk_steps
from gridq.engine.plan import LiveState, plan_window
from gridq.engine.tariff import compile_tariff
from gridq.schemas.tariff import DemandCharge, Tariff
from tests.conftest import make_run_config, make_site

INDEX = pd.date_range("2025-03-03", periods=4, freq="1h", tz="UTC")  # GMT: local = UTC
TARIFF = Tariff(
    demand_charges=(
        DemandCharge(name="all_day", rate_gbp_per_kw=10.0),
        DemandCharge(name="late", rate_gbp_per_kw=10.0, start_local="02:00", end_local="04:00"),
    )
)


def _compiled():
    prices = pd.DataFrame({col.IMPORT_PRICE: 0.1, col.EXPORT_PRICE: 0.0}, index=INDEX)
    return compile_tariff(TARIFF, prices)


def test_steps_at_risk_by_hand():
    net_kw = np.array([100.0, 80.0, 40.0, 70.0])
    # Nothing paid for: the top is the forecast's own, 100 all day and 70 late; at risk from
    # 75 kW all day and from 52.5 kW late (step 3 only).
    assert at_risk_steps(_compiled(), net_kw, {}).tolist() == [True, True, False, True]
    # 120 kW already billed all day: only 90 kW and above is at risk there.
    paid_for = {"all_day": np.array([120.0]), "late": np.array([0.0])}
    assert at_risk_steps(_compiled(), net_kw, paid_for).tolist() == [True, False, False, True]
    # 100 kW billed late too: nothing late is at risk.
    paid_for["late"] = np.array([100.0])
    assert at_risk_steps(_compiled(), net_kw, paid_for).tolist() == [True, False, False, False]


def test_the_plan_spends_the_reserve_between_busy_steps_and_refills_it():
    # 6 kWh on a lossless 10 kWh battery; a 5 kWh reserve; 20 kW paid for all day. Busy hours
    # (20 kW) hold the reserve; the quiet 0.5 GBP hour between them may use it (2 kW of load),
    # the 0.01 GBP hour after refills it. Holding it everywhere would leave 1 kWh to spend.
    tariff = Tariff(demand_charges=(DemandCharge(name="all_day", rate_gbp_per_kw=10.0),))
    forecast = pd.DataFrame(
        {
            col.LOAD_KW: [20.0, 2.0, 2.0, 20.0],
            col.PV_KW: 0.0,
            col.IMPORT_PRICE: [0.1, 0.5, 0.01, 0.1],
            col.EXPORT_PRICE: 0.0,
        },
        index=INDEX,
    )
    state = LiveState(
        now=INDEX[0],
        soc_kwh=6.0,
        peak_floor_kw={"all_day": np.array([20.0])},
        paid_for_kw={"all_day": np.array([20.0])},
        soc_reserve_kwh=5.0,
    )
    plan = plan_window(make_site(), make_run_config(tariff, timestep_min=60), state, forecast)
    soc_kwh = plan.dispatch[col.SOC_KWH].to_numpy()
    assert plan.dispatch[col.BATTERY_DISCHARGE_KW].iloc[1] == pytest.approx(2.0)
    assert soc_kwh[1] < 5.0 - 0.5
    assert soc_kwh[0] >= 5.0 - 1e-6
    assert soc_kwh[3] >= 5.0 - 1e-6
