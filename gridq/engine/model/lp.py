"""The dispatch LP as data: named variable families, constraint families and cost terms.

Each family is written once (``families.py``, ``objective.py`` and the tariff's
:mod:`gridq.engine.tariff.families`) as columns with bounds, rows of terms (variable columns
and coefficients) with row bounds, and costs per column. ``emit.py`` turns the description
into sparse arrays for HiGHS and into a linopy model for inspection; neither emitter knows any
family.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

INF = np.inf


def per_entry(value: object, size: int) -> np.ndarray:
    """``value`` (a scalar or ``size`` values) as ``size`` floats.

    The fast paths matter: a rolling year describes tens of thousands of families.
    """
    if isinstance(value, float | int):
        return np.full(size, float(value))
    array = np.asarray(value, dtype=float)
    return array if array.shape == (size,) else np.broadcast_to(array, size)


@dataclass(frozen=True)
class Coords:
    """Labels along one dimension (``labels[at]``), built into an index only when read.

    A rolling run describes thousands of windows and reads none of them, so labelling is lazy.
    """

    dim: str
    labels: Sequence[Any] | pd.Index
    at: slice | np.ndarray | None = None

    def __len__(self) -> int:
        if self.at is None:
            return len(self.labels)
        if isinstance(self.at, slice):
            return len(range(*self.at.indices(len(self.labels))))
        return len(self.at)

    def index(self) -> pd.Index:
        """The labels as an index named ``dim``."""
        if isinstance(self.labels, pd.Index):
            labels = self.labels if self.at is None else self.labels[self.at]
            return labels.rename(self.dim)
        values = np.asarray(self.labels)
        return pd.Index(values if self.at is None else values[self.at], name=self.dim)


@dataclass(frozen=True)
class Family:
    """A named block of columns or rows: their positions and labelled coordinates."""

    positions: np.ndarray
    coords: Coords


@dataclass
class LinearProgram:
    """``min cost @ x`` s.t. ``row_lo <= A @ x <= row_hi``, ``col_lo <= x <= col_hi``.

    Rows are equalities or one-sided. ``entries`` hold ``A`` as (rows, columns, coefficients)
    per family, in the order they were written; ``costs`` the objective by named term.
    """

    variables: dict[str, Family] = field(default_factory=dict)
    col_lo: list[np.ndarray] = field(default_factory=list)
    col_hi: list[np.ndarray] = field(default_factory=list)
    integer: list[np.ndarray] = field(default_factory=list)
    constraints: dict[str, Family] = field(default_factory=dict)
    row_lo: list[np.ndarray] = field(default_factory=list)
    row_hi: list[np.ndarray] = field(default_factory=list)
    entries: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = field(
        default_factory=dict
    )
    costs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    n_cols: int = 0
    n_rows: int = 0

    def add_variables(
        self,
        name: str,
        coords: Coords,
        lo: object = 0.0,
        hi: object = INF,
        integer: bool = False,
    ) -> np.ndarray:
        """One column per coordinate; their positions."""
        size = len(coords)
        positions = np.arange(self.n_cols, self.n_cols + size)
        self.n_cols += size
        self.col_lo.append(per_entry(lo, size))
        self.col_hi.append(per_entry(hi, size))
        self.integer.append(np.full(size, integer))
        self.variables[name] = Family(positions, coords)
        return positions

    def add_constraints(
        self,
        name: str,
        terms: list[tuple[np.ndarray, object]],
        lo: object,
        hi: object,
        coords: Coords | None = None,
    ) -> np.ndarray:
        """Rows ``lo <= sum(coef * x[columns]) <= hi``; each term gives one column per row.

        ``coords`` label the rows (default: their number, along ``<name>_row``).
        """
        size = len(terms[0][0]) if coords is None else len(coords)
        if coords is None:
            coords = Coords(f"{name}_row", range(size))
        positions = np.arange(self.n_rows, self.n_rows + size)
        self.n_rows += size
        low, high = per_entry(lo, size), per_entry(hi, size)
        if not (np.isneginf(low).all() or np.isposinf(high).all() or np.array_equal(low, high)):
            raise ValueError(f"rows of {name} must be equalities or one-sided")
        self.row_lo.append(low)
        self.row_hi.append(high)
        self.constraints[name] = Family(positions, coords)
        self.entries[name] = []
        for columns, coef in terms:
            self.add_entries(name, positions, columns, coef)
        return positions

    def add_entries(self, name: str, rows: np.ndarray, columns: np.ndarray, coef: object) -> None:
        """Terms ``coef * x[columns]`` in rows of family ``name`` (one column per row)."""
        self.entries[name].append(
            (np.asarray(rows), np.asarray(columns), per_entry(coef, len(rows)))
        )

    def add_cost(self, term: str, columns: np.ndarray, coef: object) -> None:
        """Objective term ``term`` [GBP]: ``sum(coef * x[columns])``."""
        self.costs.setdefault(term, []).append((np.asarray(columns), per_entry(coef, len(columns))))

    def columns(self, name: str) -> np.ndarray:
        """Positions of variable family ``name``."""
        return self.variables[name].positions
