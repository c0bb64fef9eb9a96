"""The two emitters of a :class:`LinearProgram`: sparse arrays for HiGHS and a linopy model.

The arrays are what every run solves (in about a millisecond per window); the linopy model,
about 0.3 s whatever the size, is for reading, exporting and tests. Both take columns and rows
in the description's order, so linopy's labels are the arrays' positions.
"""

from dataclasses import dataclass

import linopy
import numpy as np
import pandas as pd
import scipy.sparse as sp
import xarray as xr
from linopy import LinearExpression, Model
from linopy.constants import TERM_DIM

from gridq.engine.model.lp import LinearProgram


@dataclass
class MatrixLP:
    """``min c @ x`` s.t. ``row_lo <= A @ x <= row_hi``, ``col_lo <= x <= col_hi``.

    ``columns[name]`` / ``rows[name]`` give the positions of each named variable or
    constraint family.
    """

    cost: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray
    matrix: sp.csc_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    columns: dict[str, np.ndarray]
    rows: dict[str, np.ndarray]

    def value(self, solution: np.ndarray, name: str) -> np.ndarray:
        """The solution of variable family ``name``."""
        return solution[self.columns[name]]


Entries = list[tuple[np.ndarray, np.ndarray, np.ndarray]]


def _stacked(parts: Entries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns, coefficients) of ``parts``, concatenated."""
    rows, cols, coefs = zip(*parts, strict=True)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(coefs)


def _along(values: np.ndarray, index: pd.Index) -> xr.DataArray:
    return xr.DataArray(values, coords={str(index.name): index}, dims=str(index.name))


def to_arrays(lp: LinearProgram) -> MatrixLP:
    """``lp`` as sparse arrays (duplicate entries summed, zeros dropped)."""
    rows, cols, data = _stacked([entry for family in lp.entries.values() for entry in family])
    matrix = sp.csc_matrix((data, (rows, cols)), shape=(lp.n_rows, lp.n_cols))
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    cost = np.zeros(lp.n_cols)
    for term in lp.costs.values():
        for columns, coefficients in term:
            np.add.at(cost, columns, coefficients)
    return MatrixLP(
        cost=cost,
        col_lo=np.concatenate(lp.col_lo),
        col_hi=np.concatenate(lp.col_hi),
        integer=np.concatenate(lp.integer),
        matrix=matrix,
        row_lo=np.concatenate(lp.row_lo),
        row_hi=np.concatenate(lp.row_hi),
        columns={name: family.positions for name, family in lp.variables.items()},
        rows={name: family.positions for name, family in lp.constraints.items()},
    )


def _expression(
    model: Model, rows: np.ndarray, cols: np.ndarray, coefs: np.ndarray, index: pd.Index
) -> LinearExpression:
    """Row ``i`` of ``index`` is ``sum(coefs * x[cols])`` over the entries with ``rows == i``."""
    order = np.argsort(rows, kind="stable")
    rows, cols, coefs = rows[order], cols[order], coefs[order]
    counts = np.bincount(rows, minlength=len(index))
    width = max(int(counts.max(initial=0)), 1)
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    variables = np.full((len(index), width), -1)
    coefficients = np.zeros((len(index), width))
    variables[rows, slot] = cols
    coefficients[rows, slot] = coefs
    dims = (str(index.name), TERM_DIM)
    data = xr.Dataset(
        {"coeffs": (dims, coefficients), "vars": (dims, variables)},
        coords={str(index.name): index},
    )
    return LinearExpression(data.assign(const=0.0), model)


def to_linopy(lp: LinearProgram) -> Model:
    """``lp`` as a linopy model, under the description's names and coordinates."""
    col_lo, col_hi = np.concatenate(lp.col_lo), np.concatenate(lp.col_hi)
    integer = np.concatenate(lp.integer)
    row_lo, row_hi = np.concatenate(lp.row_lo), np.concatenate(lp.row_hi)
    with linopy.options as options:
        options(semantics="v1")
        model = Model(force_dim_names=True)
        for name, family in lp.variables.items():
            at = family.positions
            index = family.coords.index()
            if integer[at].any():
                model.add_variables(coords=[index], binary=True, name=name)
                continue
            model.add_variables(
                _along(col_lo[at], index), _along(col_hi[at], index), coords=[index], name=name
            )
        for name, family in lp.constraints.items():
            at = family.positions
            index = family.coords.index()
            rows, cols, coefs = _stacked(lp.entries[name])
            lhs = _expression(model, rows - at[0], cols, coefs, index)
            low, high = row_lo[at], row_hi[at]
            if np.array_equal(low, high):
                model.add_constraints(lhs, "==", _along(low, index), name=name)
            elif np.isneginf(low).all():
                model.add_constraints(lhs, "<=", _along(high, index), name=name)
            else:
                model.add_constraints(lhs, ">=", _along(low, index), name=name)
        costs = [entry for term in lp.costs.values() for entry in term]
        cost_cols = np.concatenate([columns for columns, _ in costs])
        cost_coefs = np.concatenate([coefficients for _, coefficients in costs])
        objective = _expression(
            model,
            np.zeros(len(cost_cols), dtype=int),
            cost_cols,
            cost_coefs,
            pd.RangeIndex(1, name="objective"),
        )
        model.add_objective(objective.sum())
    return model
