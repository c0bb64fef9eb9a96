"""Sites that share a connection (a virtual power plant), solved exactly as one LP.

Each site's LP is its own description (:func:`~gridq.engine.model.build.matrix_lp`), placed
block by block on the diagonal; the shared connection adds one row per step over every site's
grid import (or export): ``sum over sites of import[s, t] <= import_limit_kw``. The optimum is
the fleet's least total cost under that limit, each site billed by its own tariff.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gridq.engine.model import names
from gridq.engine.model.build import matrix_lp
from gridq.engine.model.emit import MatrixLP
from gridq.engine.model.inplace import InPlaceHighs
from gridq.engine.model.problem import DispatchProblem
from gridq.engine.model.solve import (
    HIGHS_CONDITIONS,
    VARIABLE_COLUMNS,
    check_optimal,
    dispatch_table,
    highs_options,
    solve_stats,
)
from gridq.errors import ConfigError, InfeasibleError

SHARED_IMPORT = "shared_import_limit"
SHARED_EXPORT = "shared_export_limit"


@dataclass(frozen=True)
class SharedConnection:
    """Limits on the sites' summed grid flows [kW].

    Each is one limit for every step, one per step (``inf`` where free), or None (free).
    """

    import_limit_kw: float | np.ndarray | None = None
    export_limit_kw: float | np.ndarray | None = None


def per_step_limits(
    problems: Sequence[DispatchProblem], shared: SharedConnection
) -> tuple[np.ndarray, np.ndarray]:
    """The import and export limits at each step [kW], ``inf`` where none applies.

    Raises
    ------
    ConfigError
        The sites do not cover the same steps.
    """
    index = problems[0].time_index
    for problem in problems[1:]:
        if not problem.time_index.equals(index):
            raise ConfigError(
                "sites that share a connection must cover the same steps; give every site the "
                "same start, length and timestep_min"
            )
    limits = []
    for limit_kw in (shared.import_limit_kw, shared.export_limit_kw):
        per_step = np.full(len(index), np.inf)
        if limit_kw is not None:
            per_step[:] = limit_kw
        limits.append(per_step)
    return limits[0], limits[1]


@dataclass(frozen=True)
class JointResult:
    """Each site's optimal dispatch (in the order given) and the joint solve's facts."""

    dispatches: list[pd.DataFrame]
    objective_gbp: float
    stats: dict[str, Any]


def _shared_rows(
    parts: list[MatrixLP], offsets: np.ndarray, variable: str, steps: np.ndarray
) -> sp.csr_matrix:
    """One row per step of ``steps`` summing ``variable`` over every site."""
    columns = np.concatenate(
        [
            offset + lp.columns[variable][steps]
            for lp, offset in zip(parts, offsets[:-1], strict=True)
        ]
    )
    rows = np.tile(np.arange(len(steps)), len(parts))
    return sp.csr_matrix(
        (np.ones(len(columns)), (rows, columns)), shape=(len(steps), int(offsets[-1]))
    )


def joint_lp(
    problems: Sequence[DispatchProblem], shared: SharedConnection
) -> tuple[MatrixLP, list[MatrixLP], np.ndarray]:
    """The fleet's LP, each site's own LP and the position of its first column in the joint."""
    import_limit_kw, export_limit_kw = per_step_limits(problems, shared)
    parts = [matrix_lp(problem) for problem in problems]
    offsets = np.cumsum([0, *(lp.matrix.shape[1] for lp in parts)])
    blocks = [sp.block_diag([lp.matrix for lp in parts], format="csr")]
    row_lo = [np.concatenate([lp.row_lo for lp in parts])]
    row_hi = [np.concatenate([lp.row_hi for lp in parts])]
    rows: dict[str, np.ndarray] = {}
    for name, variable, limit_kw in (
        (SHARED_IMPORT, names.GRID_IMPORT_KW, import_limit_kw),
        (SHARED_EXPORT, names.GRID_EXPORT_KW, export_limit_kw),
    ):
        steps = np.flatnonzero(np.isfinite(limit_kw))
        if not len(steps):
            continue
        first = sum(len(lo) for lo in row_lo)
        blocks.append(_shared_rows(parts, offsets, variable, steps))
        row_lo.append(np.full(len(steps), -np.inf))
        row_hi.append(limit_kw[steps])
        rows[name] = np.arange(first, first + len(steps))
    joint = MatrixLP(
        cost=np.concatenate([lp.cost for lp in parts]),
        col_lo=np.concatenate([lp.col_lo for lp in parts]),
        col_hi=np.concatenate([lp.col_hi for lp in parts]),
        integer=np.concatenate([lp.integer for lp in parts]),
        matrix=sp.vstack(blocks, format="csc"),
        row_lo=np.concatenate(row_lo),
        row_hi=np.concatenate(row_hi),
        columns={},
        rows=rows,
    )
    return joint, parts, offsets


def solve_joint(problems: Sequence[DispatchProblem], shared: SharedConnection) -> JointResult:
    """The fleet's least-cost dispatch under ``shared``; one-line errors as a site's solve."""
    joint, parts, offsets = joint_lp(problems, shared)
    highs = InPlaceHighs(highs_options(problems[0].solver, whole_run=True))
    status_text, values, objective_gbp = highs.solve(joint)
    condition = HIGHS_CONDITIONS.get(status_text, status_text)
    try:
        for problem in problems:
            check_optimal(problem, condition)
    except InfeasibleError:
        raise InfeasibleError(
            "the sites cannot keep to the shared connection's limits at every step; raise "
            "the limit or check each site alone"
        ) from None
    dispatches = []
    for problem, lp, offset in zip(problems, parts, offsets[:-1], strict=True):
        own = values[offset : offset + lp.matrix.shape[1]]
        dispatches.append(
            dispatch_table(problem, {var: lp.value(own, var) for var in VARIABLE_COLUMNS})
        )
    stats = solve_stats(
        problems[0],
        highs.highs,
        milp=bool(joint.integer.any()),
        options=highs.options | {"presolve": highs.presolve},
        shape=joint.matrix.shape,
        condition=condition,
        objective_gbp=objective_gbp,
    ) | {"path": "joint", "sites": len(problems)}
    return JointResult(dispatches=dispatches, objective_gbp=objective_gbp, stats=stats)
