"""No billed demand is set by the battery's charging: random sites, every forecast provider.

Charging may fill import up to the demand already paid for (the month's metered peak, or the
ratchet's floor); at the block that first sets a period's peak above that floor the battery
must not charge at all.
"""

import numpy as np
import pandas as pd
import pytest

from gridq import conventions as col
from gridq.engine.forecast import make_provider
from gridq.engine.run import backtest_rolling
from gridq.engine.tariff import compile_tariff
from gridq.io import params as params_io
from gridq.runners import value
from tests.conftest import PARAMS

ARCHETYPES = {archetype.name: archetype for archetype in value.ARCHETYPES}
TOLERANCE_KW = 1e-6


def _rolling_dispatch(drawn: value.DrawnSite, forecast: str) -> tuple[pd.DataFrame, object]:
    run_config, timeseries = value.drawn_inputs(drawn, forecast)
    provider = make_provider(forecast, timeseries, drawn.site, run_config)
    dispatch = backtest_rolling(drawn.site, run_config, timeseries, provider).dispatch
    return dispatch, compile_tariff(run_config.tariff, timeseries.loc[dispatch.index])


def charged_peaks(dispatch: pd.DataFrame, tariff) -> list[str]:
    """Periods whose billed peak, above the ratchet's floor, was first set by a charging block."""
    imported_kw = dispatch[col.GRID_IMPORT_KW].to_numpy()
    charge_kw = dispatch[col.BATTERY_CHARGE_KW].to_numpy()
    found = []
    for charge in tariff.demand_charges:
        inside = charge.block_of_step >= 0
        block_kw = (
            np.bincount(charge.block_of_step[inside], imported_kw[inside], len(charge.block_steps))
            / charge.block_steps
        )
        peaks_kw = charge.peaks_kw(imported_kw)
        for period, name in enumerate(charge.period_names):
            blocks = np.flatnonzero(charge.block_period == period)
            first = blocks[np.argmax(block_kw[blocks] >= peaks_kw[period] - TOLERANCE_KW)]
            earlier_kw = peaks_kw.copy()
            earlier_kw[period] = 0.0
            floor_kw = charge.billed_kw(earlier_kw)[period]
            charging = charge_kw[charge.block_of_step == first].max() > TOLERANCE_KW
            if charging and peaks_kw[period] > floor_kw + TOLERANCE_KW:
                found.append(f"{name}: {peaks_kw[period]:.1f} kW over a floor of {floor_kw:.1f}")
    return found


def test_the_check_finds_a_peak_set_by_charging():
    index = pd.date_range("2025-03-03", periods=96, freq="15min", tz="UTC")
    example = params_io.example_bundle(PARAMS, "commercial_demand_charge")
    flows = pd.DataFrame(0.0, index=index, columns=list(col.DISPATCH_COLUMNS))
    flows[col.LOAD_KW] = flows[col.GRID_IMPORT_KW] = 50.0
    flows.iloc[20, flows.columns.get_loc(col.BATTERY_CHARGE_KW)] = 200.0
    flows.iloc[20, flows.columns.get_loc(col.GRID_IMPORT_KW)] = 250.0
    tariff = compile_tariff(example.run_config.tariff, flows)
    assert charged_peaks(flows, tariff) == ["monthly_peak:2025-03: 250.0 kW over a floor of 196.0"]


@pytest.mark.parametrize("forecast", ["learned", "persistence_day", "persistence_week"])
@pytest.mark.parametrize("archetype", ["commercial_demand_charge", "pv_demand_charge"])
def test_no_billed_peak_is_set_by_charging_on_random_sites(archetype, forecast):
    example = params_io.example_bundle(PARAMS, ARCHETYPES[archetype].example)
    for drawn in value.draw_sites(
        ARCHETYPES[archetype], example.site, example.run_config, example.series, 3, 4242, 42
    ):
        dispatch, tariff = _rolling_dispatch(drawn, forecast)
        assert charged_peaks(dispatch, tariff) == [], (drawn.series.seed, drawn.series.start_utc)
