"""Names of the LP's dimensions, variables, constraints and objective terms."""

from typing import Final

from gridq.conventions import TIME

__all__ = ["TIME"]

EXCESS_MONTH: Final = "excess_month"

GRID_IMPORT_KW: Final = "grid_import_kw"
GRID_EXPORT_KW: Final = "grid_export_kw"
BATTERY_CHARGE_KW: Final = "battery_charge_kw"
BATTERY_DISCHARGE_KW: Final = "battery_discharge_kw"
BATTERY_SOC_KWH: Final = "battery_soc_kwh"
PV_CURTAIL_KW: Final = "pv_curtail_kw"
EXCESS_CAPACITY_KVA: Final = "excess_capacity_kva"
FLEX_REDUCTION_KW: Final = "flex_reduction_kw"
FLEX_PAID_ON: Final = "flex_paid_on"
BATTERY_CHARGE_GRID_KW: Final = "battery_charge_grid_kw"
BATTERY_DISCHARGE_GRID_KW: Final = "battery_discharge_grid_kw"
BATTERY_SOC_GRID_KWH: Final = "battery_soc_grid_kwh"
BATTERY_CHARGING_ON: Final = "battery_charging_on"
GRID_IMPORTING_SHARE_FRAC: Final = "grid_importing_share_frac"
BATTERY_CHARGE_IMPORTING_KW: Final = "battery_charge_importing_kw"
BATTERY_DISCHARGE_IMPORTING_KW: Final = "battery_discharge_importing_kw"
PV_CURTAIL_IMPORTING_KW: Final = "pv_curtail_importing_kw"

SITE_POWER_BALANCE: Final = "site_power_balance"
BATTERY_SOC_INITIAL: Final = "battery_soc_initial"
BATTERY_SOC_DYNAMICS: Final = "battery_soc_dynamics"
BATTERY_SOC_TERMINAL: Final = "battery_soc_terminal"
EXCESS_CAPACITY_FLOOR: Final = "excess_capacity_floor"
FLEX_REDUCTION_LIMIT: Final = "flex_reduction_limit"
FLEX_PAID_SWITCH: Final = "flex_paid_switch"
GRID_CHARGE_SHARE: Final = "battery_grid_charge_share"
GRID_CHARGE_LIMIT: Final = "battery_grid_charge_limit"
GRID_DISCHARGE_LIMIT: Final = "battery_grid_discharge_limit"
GRID_SOC_LIMIT: Final = "battery_grid_soc_limit"
GRID_SOC_DYNAMICS: Final = "battery_grid_soc_dynamics"
GRID_SOC_INITIAL: Final = "battery_grid_soc_initial"
GRID_EXPORT_FROM_PV: Final = "grid_export_from_pv"
BATTERY_CHARGE_SWITCH: Final = "battery_charge_switch"
BATTERY_DISCHARGE_SWITCH: Final = "battery_discharge_switch"
GRID_IMPORTING_MODE_BALANCE: Final = "grid_importing_mode_balance"
GRID_IMPORT_SHARE_LIMIT: Final = "grid_import_share_limit"
GRID_EXPORT_SHARE_LIMIT: Final = "grid_export_share_limit"


def peak_variable(charge: str) -> str:
    """The peak [kW] per period of a demand charge or coincident peak."""
    return f"peak_kw_{charge}"


def billed_variable(charge: str) -> str:
    """The billing demand [kW] per period of a ratcheted demand charge."""
    return f"billed_demand_kw_{charge}"


def peak_floor(charge: str) -> str:
    """Each block's average import lies under its period's peak."""
    return f"peak_floor_{charge}"


def ratchet_peak(charge: str) -> str:
    """Billing demand is at least the period's own peak."""
    return f"ratchet_peak_{charge}"


def ratchet_ahead(charge: str) -> str:
    """How far the ratchet share of a period's peak lies above the demand already paid for."""
    return f"ratchet_ahead_kw_{charge}"


def ratchet_history(charge: str) -> str:
    """Billing demand is at least the ratchet share of earlier periods' peaks."""
    return f"ratchet_history_{charge}"
