"""The safety layer: the last word on every setpoint, whatever the plan or the operator says.

It knows nothing of the optimiser. Given the setpoint asked for and the telemetry of the
moment it returns a setpoint inside the limits, and the reasons for every change it made:
- only a finite setpoint, within the battery's charge and discharge power and the power the
  device says it can take now, where it reports that;
- no discharge at the SOC minimum, no charge at its maximum;
- a ramp no steeper than the site's ``max_ramp_kw_per_s``;
- import under the connection's limit and export under its export limit, as far as the
  battery's power allows (these win over the ramp: they protect the grid connection).

It also holds the rule-based policy the controller falls back to without a valid plan, and
the safe mode the watchdog puts the site in.
"""

import math
from dataclasses import dataclass

from gridq.schemas import Site

SOC_MARGIN_KWH = 1e-3
"""Within this of a SOC limit the battery is at it [kWh]."""


@dataclass(frozen=True)
class Telemetry:
    """One reading of the site, in GridQ's conventions [kW, kWh, UNIX s]."""

    clock_s: float
    grid_net_import_kw: float
    pv_kw: float
    battery_soc_kwh: float
    battery_power_kw: float
    charge_available_kw: float = math.inf
    """The charge power the device says it can take now (its own limit; inf: not reported)."""
    discharge_available_kw: float = math.inf

    @property
    def load_kw(self) -> float:
        """The site's load: what the meter, PV and battery balance to."""
        return self.grid_net_import_kw + self.pv_kw + self.battery_power_kw

    def valid(self) -> bool:
        """Every value finite."""
        return all(
            math.isfinite(value)
            for value in (
                self.clock_s,
                self.grid_net_import_kw,
                self.pv_kw,
                self.battery_soc_kwh,
                self.battery_power_kw,
            )
        )


@dataclass(frozen=True)
class Limits:
    """What no setpoint may break: the site's battery and connection, and the ramp."""

    charge_max_kw: float
    discharge_max_kw: float
    soc_min_kwh: float
    soc_max_kwh: float
    import_limit_kw: float
    export_limit_kw: float
    max_ramp_kw_per_s: float | None = None

    @classmethod
    def of(cls, site: Site, max_ramp_kw_per_s: float | None = None) -> "Limits":
        """The limits ``site`` sets, with the ramp of ``live.yaml``."""
        grid = site.grid
        return cls(
            charge_max_kw=site.battery.charge_power_max_kw,
            discharge_max_kw=site.battery.discharge_power_max_kw,
            soc_min_kwh=site.battery.soc_min_kwh,
            soc_max_kwh=site.battery.soc_max_kwh,
            import_limit_kw=math.inf if grid.import_limit_kw is None else grid.import_limit_kw,
            export_limit_kw=math.inf if grid.export_limit_kw is None else grid.export_limit_kw,
            max_ramp_kw_per_s=max_ramp_kw_per_s,
        )


def safe_setpoint(
    asked_kw: float,
    now: Telemetry,
    limits: Limits,
    previous_kw: float,
    elapsed_s: float,
) -> tuple[float, list[str]]:
    """The setpoint [kW, + discharging] to write for ``asked_kw``, and why it differs.

    ``now`` is valid telemetry; ``previous_kw`` the setpoint last written, ``elapsed_s`` ago.
    """
    reasons = []
    kw = asked_kw
    if not math.isfinite(kw):
        reasons.append(f"setpoint {kw} is not finite: idle")
        kw = 0.0
    if limits.max_ramp_kw_per_s is not None and math.isfinite(previous_kw):
        step_kw = limits.max_ramp_kw_per_s * max(elapsed_s, 0.0)
        ramped = min(max(kw, previous_kw - step_kw), previous_kw + step_kw)
        if ramped != kw:
            reasons.append(f"ramp limit {limits.max_ramp_kw_per_s:g} kW/s")
            kw = ramped
    kw, why = _within_power_and_soc(kw, now, limits)
    reasons += why
    # Net import with the battery at kw: the load less PV less the battery's output.
    site_net_kw = now.load_kw - now.pv_kw
    if site_net_kw - kw > limits.import_limit_kw:
        kw = max(kw, site_net_kw - limits.import_limit_kw)
        reasons.append(f"import limit {limits.import_limit_kw:g} kW")
    elif site_net_kw - kw < -limits.export_limit_kw:
        kw = min(kw, site_net_kw + limits.export_limit_kw)
        reasons.append(f"export limit {limits.export_limit_kw:g} kW")
    kw, why = _within_power_and_soc(kw, now, limits)
    reasons += [reason for reason in why if reason not in reasons]
    return kw, reasons


def _within_power_and_soc(kw: float, now: Telemetry, limits: Limits) -> tuple[float, list[str]]:
    reasons = []
    if kw > limits.discharge_max_kw:
        kw = limits.discharge_max_kw
        reasons.append(f"discharge power limit {limits.discharge_max_kw:g} kW")
    if kw < -limits.charge_max_kw:
        kw = -limits.charge_max_kw
        reasons.append(f"charge power limit {limits.charge_max_kw:g} kW")
    if kw > max(now.discharge_available_kw, 0.0):
        kw = max(now.discharge_available_kw, 0.0)
        reasons.append(f"the device's available discharge {kw:g} kW")
    if kw < -max(now.charge_available_kw, 0.0):
        kw = -max(now.charge_available_kw, 0.0)
        reasons.append(f"the device's available charge {-kw:g} kW")
    if kw > 0 and now.battery_soc_kwh <= limits.soc_min_kwh + SOC_MARGIN_KWH:
        kw = 0.0
        reasons.append(f"SOC at its minimum {limits.soc_min_kwh:g} kWh")
    if kw < 0 and now.battery_soc_kwh >= limits.soc_max_kwh - SOC_MARGIN_KWH:
        kw = 0.0
        reasons.append(f"SOC at its maximum {limits.soc_max_kwh:g} kWh")
    return kw, reasons


def safe_mode_kw(last_valid: Telemetry | None, limits: Limits) -> float:
    """The safe mode's setpoint: idle, except to keep import under the connection's limit.

    Judged on the last valid telemetry; with none, idle.
    """
    if last_valid is None or not math.isfinite(limits.import_limit_kw):
        return 0.0
    over_kw = last_valid.load_kw - last_valid.pv_kw - limits.import_limit_kw
    if over_kw <= 0 or last_valid.battery_soc_kwh <= limits.soc_min_kwh + SOC_MARGIN_KWH:
        return 0.0
    return min(over_kw, limits.discharge_max_kw, max(last_valid.discharge_available_kw, 0.0))


def rule_based_kw(now: Telemetry, limits: Limits, peak_guard_kw: float | None) -> float:
    """Self-consumption with a peak guard: the fallback without a valid plan [kW].

    The battery stores PV the site would export and covers the load PV does not. Where a
    demand charge bills the month's peak (``peak_guard_kw``, the demand already paid for)
    and less than half the usable energy is left, it covers only load above that peak, so the
    energy it has defends the bill rather than the unit rate.
    """
    net_kw = now.load_kw - now.pv_kw
    if net_kw <= 0:
        return net_kw
    usable_kwh = limits.soc_max_kwh - limits.soc_min_kwh
    left_kwh = now.battery_soc_kwh - limits.soc_min_kwh
    if peak_guard_kw is not None and left_kwh < 0.5 * usable_kwh:
        return max(net_kw - peak_guard_kw, 0.0)
    return net_kw
