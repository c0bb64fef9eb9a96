"""Names of the LP's dimensions, variables, constraints and objective terms."""

from typing import Final

from gridq.conventions import TIME

__all__ = ["TIME"]

DEMAND_PERIOD: Final = "demand_period"

GRID_IMPORT_KW: Final = "grid_import_kw"
GRID_EXPORT_KW: Final = "grid_export_kw"
BATTERY_CHARGE_KW: Final = "battery_charge_kw"
BATTERY_DISCHARGE_KW: Final = "battery_discharge_kw"
BATTERY_SOC_KWH: Final = "battery_soc_kwh"
PV_CURTAIL_KW: Final = "pv_curtail_kw"
DEMAND_PEAK_KW: Final = "demand_peak_kw"
BATTERY_CHARGING_ON: Final = "battery_charging_on"
GRID_IMPORTING_SHARE_FRAC: Final = "grid_importing_share_frac"
BATTERY_CHARGE_IMPORTING_KW: Final = "battery_charge_importing_kw"
BATTERY_DISCHARGE_IMPORTING_KW: Final = "battery_discharge_importing_kw"
PV_CURTAIL_IMPORTING_KW: Final = "pv_curtail_importing_kw"

SITE_POWER_BALANCE: Final = "site_power_balance"
BATTERY_SOC_INITIAL: Final = "battery_soc_initial"
BATTERY_SOC_DYNAMICS: Final = "battery_soc_dynamics"
BATTERY_SOC_TERMINAL: Final = "battery_soc_terminal"
DEMAND_PEAK_FLOOR: Final = "demand_peak_floor"
BATTERY_CHARGE_SWITCH: Final = "battery_charge_switch"
BATTERY_DISCHARGE_SWITCH: Final = "battery_discharge_switch"
GRID_IMPORTING_MODE_BALANCE: Final = "grid_importing_mode_balance"
GRID_IMPORT_SHARE_LIMIT: Final = "grid_import_share_limit"
GRID_EXPORT_SHARE_LIMIT: Final = "grid_export_share_limit"

IMPORT_COST_GBP: Final = "import_cost_gbp"
EXPORT_REVENUE_GBP: Final = "export_revenue_gbp"
DEMAND_CHARGE_GBP: Final = "demand_charge_gbp"
DEGRADATION_COST_GBP: Final = "degradation_cost_gbp"
