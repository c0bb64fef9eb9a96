"""The least demand a period will bill whatever the battery does, by hand."""

import numpy as np
import pandas as pd
import pytest

from gridq import conventions as col
from gridq.engine.controller import charging_ceiling_kw
from gridq.engine.tariff import compile_tariff
from gridq.engine.unavoidable_peak import lowest_level_kw, unavoidable_peak_kw
from gridq.schemas.tariff import DemandCharge, FlatRate, Tariff
from tests.conftest import make_site

# make_site's battery: 10 kWh, 10 kW each way, lossless, minimum SOC 0.
BATTERY = make_site().battery
RESOLUTION_KW = 30.0 / 1024


@pytest.mark.parametrize(
    ("net_kw", "held", "usable_kwh", "dt_h", "level_kw"),
    [
        # Two hours at 20 kW on 10 kWh: 2 * (20 - L) = 10 holds 15 kW.
        ([20.0, 20.0], [True, True], 10.0, 1.0, 15.0),
        # A quarter hour at 30 kW needs only 2.5 kWh at 20 kW, but 10 kW is all it discharges.
        ([30.0], [True], 10.0, 0.25, 20.0),
        # An hour outside the held steps refills the battery at full power: each 20 kW hour is
        # held alone on 5 kWh, at 15 kW (without the refill both would share it: 17.5 kW).
        ([20.0, 0.0, 20.0], [True, False, True], 5.0, 1.0, 15.0),
        # Within held steps it refills only up to the level: after 20 kW on 5 kWh the store is
        # L - 15, the 14 kW hour adds L - 14, and the last hour needs 20 - L of 2L - 29.
        ([20.0, 14.0, 20.0], [True, True, True], 5.0, 1.0, 49.0 / 3),
        # Enough energy holds zero import.
        ([5.0, 5.0], [True, True], 10.0, 1.0, 0.0),
    ],
)
def test_the_lowest_level_a_battery_can_hold_by_hand(net_kw, held, usable_kwh, dt_h, level_kw):
    found_kw = lowest_level_kw(np.array(net_kw), np.array(held), usable_kwh, BATTERY, dt_h)
    # A lower bound, within the search's resolution.
    assert level_kw - RESOLUTION_KW <= found_kw <= level_kw + 1e-9


def test_the_unavoidable_peak_of_a_tariff_by_hand():
    # Quarter hours of 30, 10, 10, 10 kW on a 30-minute demand charge: the blocks average 20
    # and 10 kW. 1 kWh holds the first block's two steps at L where 2 * 0.25 * (20 - L) = 1,
    # 18 kW (30 kW steps held one by one would need 26).
    index = pd.date_range("2025-03-03", periods=4, freq="15min", tz="UTC")
    tariff = compile_tariff(
        Tariff(
            energy=FlatRate(rate_gbp_per_kwh=0.1),
            demand_charges=(DemandCharge(name="averaged", rate_gbp_per_kw=1.0, averaging_min=30),),
        ),
        pd.DataFrame({col.IMPORT_PRICE: 0.1, col.EXPORT_PRICE: 0.0}, index=index),
    )
    net_kw = np.array([30.0, 10.0, 10.0, 10.0])
    found = unavoidable_peak_kw(tariff, net_kw, 1.0, BATTERY, 0.25, {})
    assert 18.0 - 20.0 / 1024 <= found["averaged"][0] <= 18.0
    # Demand already paid for above it stands; the search is spared.
    assert unavoidable_peak_kw(tariff, net_kw, 1.0, BATTERY, 0.25, {"averaged": np.array([25.0])})[
        "averaged"
    ][0] == pytest.approx(25.0)
    # The charging ceiling takes the higher of the two.
    ceiling_kw = charging_ceiling_kw(tariff, {"averaged": np.array([5.0])}, 4, found)
    np.testing.assert_allclose(ceiling_kw, found["averaged"][0])
    np.testing.assert_allclose(charging_ceiling_kw(tariff, {"averaged": np.array([5.0])}, 4), 5.0)
