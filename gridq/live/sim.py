"""A simulated site: a bundle's load and PV, and a battery that obeys its limits.

The battery follows the setpoint it is given (positive discharging) as far as its power limits,
its ramp limit and its stored energy allow, and integrates its SOC with GridQ's efficiencies:
``soc' = soc + dt * (eta_c * charge - discharge / eta_d)``. The meter sees what is left:
``grid_net_import = load - pv - battery_power``.
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.schemas import Battery


@dataclass
class SimulatedBattery:
    """A battery's state: stored energy [kWh] and the power it delivers [kW, + discharging]."""

    battery: Battery
    soc_kwh: float
    power_kw: float = 0.0
    ramp_kw_per_s: float | None = None

    def available_kw(self, charging: bool) -> float:
        """The power the battery can take now: its limit, or none at the SOC's end [kW]."""
        battery = self.battery
        if charging:
            full = self.soc_kwh >= battery.soc_max_kwh - 1e-6
            return 0.0 if full else battery.charge_power_max_kw
        empty = self.soc_kwh <= battery.soc_min_kwh + 1e-6
        return 0.0 if empty else battery.discharge_power_max_kw

    def advance(self, setpoint_kw: float, dt_s: float) -> None:
        """Deliver ``setpoint_kw`` as far as the limits allow for ``dt_s`` seconds."""
        if dt_s <= 0:
            return
        battery = self.battery
        target_kw = setpoint_kw if np.isfinite(setpoint_kw) else 0.0
        if self.ramp_kw_per_s is not None:
            step_kw = self.ramp_kw_per_s * dt_s
            target_kw = min(max(target_kw, self.power_kw - step_kw), self.power_kw + step_kw)
        dt_h = dt_s / 3600.0
        eta_c, eta_d = battery.charge_efficiency_frac, battery.discharge_efficiency_frac
        most_discharge_kw = min(
            battery.discharge_power_max_kw,
            max(self.soc_kwh - battery.soc_min_kwh, 0.0) * eta_d / dt_h,
        )
        most_charge_kw = min(
            battery.charge_power_max_kw,
            max(battery.soc_max_kwh - self.soc_kwh, 0.0) / (eta_c * dt_h),
        )
        self.power_kw = min(max(target_kw, -most_charge_kw), most_discharge_kw)
        if self.power_kw >= 0:
            self.soc_kwh -= self.power_kw * dt_h / eta_d
        else:
            self.soc_kwh -= self.power_kw * dt_h * eta_c
        self.soc_kwh = min(max(self.soc_kwh, battery.soc_min_kwh), battery.soc_max_kwh)


@dataclass
class SiteSimulator:
    """A bundle's site over its timeseries, its battery driven by setpoints.

    ``now`` is the simulated time; :meth:`advance` moves it on and the battery with it.
    """

    timeseries: pd.DataFrame
    battery: SimulatedBattery
    now: pd.Timestamp

    @property
    def start(self) -> pd.Timestamp:
        """The timeseries' first step."""
        return pd.Timestamp(self.timeseries.index[0])

    @property
    def end(self) -> pd.Timestamp:
        """The end of the timeseries' last step."""
        index = pd.DatetimeIndex(self.timeseries.index)
        return pd.Timestamp(index[-1] + (index[1] - index[0]))

    def advance(self, setpoint_kw: float, dt_s: float) -> None:
        """Move simulated time on by ``dt_s`` seconds with the battery following ``setpoint_kw``."""
        self.battery.advance(setpoint_kw, dt_s)
        self.now = self.now + pd.Timedelta(seconds=dt_s)

    def telemetry(self) -> dict[str, float]:
        """What the site's meters read now, in GridQ's conventions."""
        position = int(self.timeseries.index.searchsorted(self.now, side="right")) - 1
        row = self.timeseries.iloc[min(max(position, 0), len(self.timeseries) - 1)]
        load_kw, pv_kw = float(row[col.LOAD_KW]), float(row[col.PV_KW])
        return {
            "grid_net_import_kw": load_kw - pv_kw - self.battery.power_kw,
            "pv_kw": pv_kw,
            "battery_soc_kwh": self.battery.soc_kwh,
            "battery_power_kw": self.battery.power_kw,
            # Whole seconds, rounded down: the clock never reads a step the values are not in.
            "clock_unix_s": float(math.floor(self.now.timestamp())),
            "battery_charge_available_kw": self.battery.available_kw(charging=True),
            "battery_discharge_available_kw": self.battery.available_kw(charging=False),
        }
