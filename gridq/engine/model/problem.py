"""Everything the LP needs, gathered once from validated inputs."""

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gridq.conventions import LOAD_KW, PV_KW, TIME
from gridq.engine.model import names
from gridq.engine.tariff import CompiledTariff, compile_tariff
from gridq.engine.timeseries import timestep_h
from gridq.schemas import Battery, GridConnection, RunConfig, Site, SolverOptions


@dataclass(frozen=True)
class DispatchProblem:
    """One site over one run window.

    ``time_index`` (named ``time``) is the UTC step start; ``dt_h`` its length [h];
    ``load_kw``, ``pv_kw`` per step [kW].
    """

    time_index: pd.DatetimeIndex
    dt_h: float
    load_kw: np.ndarray
    pv_kw: np.ndarray
    battery: Battery
    grid: GridConnection
    tariff: CompiledTariff
    solver: SolverOptions
    initial_soc_kwh: float
    """Stored energy at the start of the first step [kWh]."""
    terminal_soc_min_kwh: float | None = None
    """Least stored energy at the end [kWh]; None leaves it free."""
    terminal_soc_max_kwh: float | None = None
    """Most stored energy at the end [kWh] (an ``equal`` target); None leaves it free."""
    terminal_value_gbp_per_kwh: float = 0.0
    """What each kWh left at the end is worth [GBP/kWh] (a rolling window's horizon end)."""
    peak_floor_kw: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Per demand charge, the peak already set in each of its periods [kW] (a rolling window's)."""
    pv_curtailable: bool = True
    """False: PV may not be curtailed (``Site.pv_curtailable``)."""
    soc_reserve_kwh: np.ndarray | None = None
    """Per step, energy held above the battery's minimum (a reserve for peaks) [kWh]."""
    paid_for_kw: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Per demand charge, the demand each period already bills, ratchet included [kW]."""
    prices_ratchet_ahead: bool = False
    """An operated plan's peak also costs its ratchet over the months after it (see
    :func:`~gridq.engine.tariff.families.add_peak_charges`); a prescient run's bill has none."""
    charging_ceiling_kw: np.ndarray | None = None
    """Per step, the most the site may import while the battery charges [kW]; None: no cap."""

    def soc_lower_kwh(self) -> np.ndarray | float:
        """Least stored energy per step: the battery's minimum plus any reserve [kWh]."""
        if self.soc_reserve_kwh is None:
            return self.battery.soc_min_kwh
        return self.battery.soc_min_kwh + self.soc_reserve_kwh

    def curtail_bound_kw(self) -> np.ndarray:
        """Most PV that may be curtailed per step: all of it, or none [kW]."""
        return self.pv_kw if self.pv_curtailable else np.zeros_like(self.pv_kw)

    def import_bound_kw(self) -> np.ndarray:
        """Most a meter that never imports and exports at once can import, per step [kW]."""
        bound_kw = self.load_kw + self.battery.charge_power_max_kw
        limit_kw = self.grid.import_limit_kw
        return bound_kw if limit_kw is None else np.minimum(bound_kw, limit_kw)

    def pv_surplus_kw(self) -> np.ndarray:
        """PV above load, per step [kW]."""
        return np.maximum(self.pv_kw - self.load_kw, 0.0)

    def export_bound_kw(self) -> np.ndarray:
        """Most a meter that never imports and exports at once can export, per step [kW].

        Under the ``no_battery_export`` rule, only the PV surplus.
        """
        bound_kw = self.pv_kw + self.battery.discharge_power_max_kw
        if self.tariff.rules.no_battery_export:
            bound_kw = self.pv_surplus_kw()
        limit_kw = self.grid.export_limit_kw
        return bound_kw if limit_kw is None else np.minimum(bound_kw, limit_kw)

    def export_pays_more_steps(self) -> np.ndarray:
        """Positions of the steps where export pays more than import."""
        tariff = self.tariff
        return np.flatnonzero(tariff.export_price_gbp_per_kwh > tariff.import_price_gbp_per_kwh)

    def mode_flow_caps_kw(self) -> tuple[tuple[str, str, np.ndarray], ...]:
        """(flow, its importing-mode part, its cap [kW]) at :meth:`export_pays_more_steps`.

        The flows that the exact hull of importing and exporting modes splits in two.
        """
        steps = self.export_pays_more_steps()
        battery = self.battery
        return (
            (
                names.BATTERY_CHARGE_KW,
                names.BATTERY_CHARGE_IMPORTING_KW,
                np.full(len(steps), battery.charge_power_max_kw),
            ),
            (
                names.BATTERY_DISCHARGE_KW,
                names.BATTERY_DISCHARGE_IMPORTING_KW,
                np.full(len(steps), battery.discharge_power_max_kw),
            ),
            (names.PV_CURTAIL_KW, names.PV_CURTAIL_IMPORTING_KW, self.curtail_bound_kw()[steps]),
        )

    def charge_bound_kw(self) -> np.ndarray:
        """Largest charging power per step [kW].

        The battery's rating; no more than keeps import at ``charging_ceiling_kw`` (on the
        forecast's load and PV); the PV surplus under ``charge_from_pv_only``.
        """
        bound_kw = np.full(len(self.time_index), self.battery.charge_power_max_kw)
        if self.charging_ceiling_kw is not None:
            room_kw = self.charging_ceiling_kw - (self.load_kw - self.pv_kw)
            bound_kw = np.minimum(bound_kw, np.maximum(room_kw, 0.0))
        if self.tariff.rules.charge_from_pv_only:
            bound_kw = np.minimum(bound_kw, self.pv_surplus_kw())
        return bound_kw


def make_problem(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    tariff: CompiledTariff | None = None,
) -> DispatchProblem:
    """Gather a checked timeseries and its configs into a :class:`DispatchProblem`.

    ``tariff``, if given, is already compiled for exactly these steps (a window of a run's).
    """
    index = pd.DatetimeIndex(timeseries.index, name=TIME)
    terminal_min_kwh, terminal_max_kwh = site.battery.terminal_soc_bounds_kwh()
    return DispatchProblem(
        time_index=index,
        # A rolling run's last window may be a single step.
        dt_h=timestep_h(index) if len(index) > 1 else run_config.timestep_min / 60.0,
        load_kw=timeseries[LOAD_KW].to_numpy(dtype=np.float64),
        pv_kw=timeseries[PV_KW].to_numpy(dtype=np.float64),
        battery=site.battery,
        grid=site.grid,
        tariff=compile_tariff(run_config.tariff, timeseries) if tariff is None else tariff,
        solver=run_config.solver,
        initial_soc_kwh=site.battery.initial_soc_kwh,
        terminal_soc_min_kwh=terminal_min_kwh,
        terminal_soc_max_kwh=terminal_max_kwh,
        pv_curtailable=site.pv_curtailable,
    )
