"""Everything the LP needs, gathered once from validated inputs."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridq.conventions import LOAD_KW, PV_KW, TIME
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


def make_problem(site: Site, run_config: RunConfig, timeseries: pd.DataFrame) -> DispatchProblem:
    """Gather a checked timeseries and its configs into a :class:`DispatchProblem`."""
    index = pd.DatetimeIndex(timeseries.index, name=TIME)
    return DispatchProblem(
        time_index=index,
        dt_h=timestep_h(index),
        load_kw=timeseries[LOAD_KW].to_numpy(dtype=np.float64),
        pv_kw=timeseries[PV_KW].to_numpy(dtype=np.float64),
        battery=site.battery,
        grid=site.grid,
        tariff=compile_tariff(run_config.tariff, timeseries),
        solver=run_config.solver,
    )
