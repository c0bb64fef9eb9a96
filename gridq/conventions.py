"""Canonical column names, units and sign conventions, written once.

Every power is average kW over a step and is positive in its named direction; energy is kWh;
money is GBP and a cost is positive when money leaves the site. Timestamps are UTC, strictly
increasing, at a fixed step that divides 60 minutes.

At every step the site balances:
``load_kw + battery_charge_kw + grid_export_kw + pv_curtail_kw
= pv_kw + battery_discharge_kw + grid_import_kw``.
"""

from typing import Final

TIME: Final = "time"
TIMESTAMP: Final = "timestamp"

LOAD_KW: Final = "load_kw"
PV_KW: Final = "pv_kw"
IMPORT_PRICE: Final = "import_price_gbp_per_kwh"
EXPORT_PRICE: Final = "export_price_gbp_per_kwh"
TIMESERIES_COLUMNS: Final = (LOAD_KW, PV_KW, IMPORT_PRICE, EXPORT_PRICE)
NON_NEGATIVE_COLUMNS: Final = (LOAD_KW, PV_KW)

GRID_IMPORT_KW: Final = "grid_import_kw"
GRID_EXPORT_KW: Final = "grid_export_kw"
BATTERY_CHARGE_KW: Final = "battery_charge_kw"
BATTERY_DISCHARGE_KW: Final = "battery_discharge_kw"
PV_CURTAIL_KW: Final = "pv_curtail_kw"
SOC_KWH: Final = "soc_kwh"
FLOW_COLUMNS: Final = (
    GRID_IMPORT_KW,
    GRID_EXPORT_KW,
    BATTERY_CHARGE_KW,
    BATTERY_DISCHARGE_KW,
    PV_CURTAIL_KW,
)
DISPATCH_COLUMNS: Final = (LOAD_KW, PV_KW, *FLOW_COLUMNS, SOC_KWH)
FORECAST_COLUMNS: Final = {LOAD_KW: "load_forecast_kw", PV_KW: "pv_forecast_kw"}
"""A rolling run's dispatch also holds, per step, the forecast its plan was made on [kW]."""

DEFAULT_TIMESTEP_MIN: Final = 15
DEFAULT_LOCAL_TIMEZONE: Final = "Europe/London"

BALANCE_TOLERANCE_KW: Final = 1e-6
"""Largest balance residual a dispatch may have and still count as balanced [kW]."""
