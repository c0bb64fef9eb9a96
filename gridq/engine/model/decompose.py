"""Sites behind a shared connection, solved by Dantzig-Wolfe decomposition (prices on the limit).

The joint LP (:mod:`gridq.engine.model.joint`) is block-angular: each site's own LP on the
diagonal, linked only by one row per step over the sites' summed import (or export). For a
fleet too large for one LP, a small *master* LP chooses, for each site, a convex combination of
dispatches the site has proposed, keeping the summed flows within the limits. Its duals are
prices on the shared connection per step; each site then solves its own LP with its grid
import (export) charged those prices extra, on whichever worker ``run_per_site`` sends it to,
and proposes its answer. Every round gives

- an upper bound: the master's cost, a fleet dispatch that keeps the limits (each site's
  combination is feasible for its own LP, whose feasible set is convex);
- a lower bound: the Lagrangian bound, the sites' priced optima less the prices times the limits,
  which no fleet dispatch under the limits can beat.

The rounds stop when the two meet within ``gap_frac``; the gap is reported, so the answer's
distance from the joint optimum is proven even when the joint LP is never solved. Finally each
site re-solves its own LP with its grid flows capped at its combination's (the caps sum within
the limits), which can only lower its cost and returns a vertex, not a blend of proposals.
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gridq.engine.model import names
from gridq.engine.model.build import matrix_lp
from gridq.engine.model.emit import MatrixLP
from gridq.engine.model.inplace import InPlaceHighs
from gridq.engine.model.joint import SharedConnection, per_step_limits
from gridq.engine.model.problem import DispatchProblem
from gridq.engine.model.solve import (
    HIGHS_CONDITIONS,
    VARIABLE_COLUMNS,
    check_optimal,
    dispatch_table,
    highs_options,
)
from gridq.errors import ConfigError, InfeasibleError, SolverError

SHORTFALL_GBP_PER_KW = 1e4
"""Master cost of a kW over a shared limit: keeps the first rounds' master feasible. A
shortfall left at the end means no dispatch keeps the limits."""


SMOOTHING = 0.5
"""Weight of the best-bound prices in the next round's prices (Wentges smoothing)."""


@dataclass(frozen=True)
class Proposal:
    """A site's optimum under prices: its LP's cost and grid flows at that optimum."""

    cost_gbp: float
    import_kw: np.ndarray
    export_kw: np.ndarray


class SitePricer:
    """One site's LP in one HiGHS model, re-solved from its last basis as the prices change."""

    def __init__(self, problem: DispatchProblem) -> None:
        """Build the site's LP; refuse one with binaries (their prices are not exact)."""
        self.problem = problem
        self.lp = matrix_lp(problem)
        if self.lp.integer.any():
            raise ConfigError(
                "a site's LP has binaries (a flexibility event or "
                "solver.forbid_simultaneous_charge_discharge), which the decomposition cannot "
                "price; use coupling.method: joint"
            )
        self.highs = InPlaceHighs(highs_options(problem.solver, whole_run=True))
        self.imports = self.lp.columns[names.GRID_IMPORT_KW]
        self.exports = self.lp.columns[names.GRID_EXPORT_KW]

    def _solve(self, lp: MatrixLP) -> np.ndarray:
        status_text, values, _ = self.highs.solve(lp)
        check_optimal(self.problem, HIGHS_CONDITIONS.get(status_text, status_text))
        return values

    def propose(self, import_price: np.ndarray, export_price: np.ndarray) -> Proposal:
        """The site's optimum with its grid import and export charged the prices [GBP per kW]."""
        priced = self.lp.cost.copy()
        priced[self.imports] += import_price
        priced[self.exports] += export_price
        values = self._solve(dataclasses.replace(self.lp, cost=priced))
        return Proposal(
            cost_gbp=float(self.lp.cost @ values),
            import_kw=values[self.imports],
            export_kw=values[self.exports],
        )

    def settle(
        self, import_cap_kw: np.ndarray, export_cap_kw: np.ndarray
    ) -> tuple[pd.DataFrame, float]:
        """The site's own optimum with its grid flows capped per step: dispatch and LP cost."""
        col_hi = self.lp.col_hi.copy()
        # The caps are a feasible combination's flows; the small slack keeps HiGHS's
        # tolerances from calling that same point infeasible.
        col_hi[self.imports] = np.minimum(col_hi[self.imports], import_cap_kw + 1e-9)
        col_hi[self.exports] = np.minimum(col_hi[self.exports], export_cap_kw + 1e-9)
        lp = dataclasses.replace(self.lp, col_hi=col_hi)
        values = self._solve(lp)
        dispatch = dispatch_table(
            self.problem, {var: lp.value(values, var) for var in VARIABLE_COLUMNS}
        )
        return dispatch, float(self.lp.cost @ values)


class Sites(Protocol):
    """The fleet's site pricers, wherever they live (this process, or Dask workers)."""

    def propose(self, import_price: np.ndarray, export_price: np.ndarray) -> list[Proposal]:
        """Every site's proposal under the prices, in site order."""
        ...

    def settle(
        self, import_cap_kw: np.ndarray, export_cap_kw: np.ndarray
    ) -> list[tuple[pd.DataFrame, float]]:
        """Every site settled under its row of the caps, in site order."""
        ...


class LocalSites:
    """:class:`Sites` in this process, one after another."""

    def __init__(self, problems: Sequence[DispatchProblem]) -> None:
        """A pricer per site."""
        self.pricers = [SitePricer(problem) for problem in problems]

    def propose(self, import_price: np.ndarray, export_price: np.ndarray) -> list[Proposal]:
        """Every site's proposal under the prices."""
        return [pricer.propose(import_price, export_price) for pricer in self.pricers]

    def settle(
        self, import_cap_kw: np.ndarray, export_cap_kw: np.ndarray
    ) -> list[tuple[pd.DataFrame, float]]:
        """Every site settled under its row of the caps."""
        return [
            pricer.settle(import_cap_kw[site], export_cap_kw[site])
            for site, pricer in enumerate(self.pricers)
        ]


@dataclass(frozen=True)
class DecomposedResult:
    """Each site's dispatch (in the order given), the fleet's LP cost and its proof of quality."""

    dispatches: list[pd.DataFrame]
    objective_gbp: float
    stats: dict[str, Any]


@dataclass
class _Master:
    """The proposals so far, per site, and the shared rows they load."""

    import_limit_kw: np.ndarray
    export_limit_kw: np.ndarray
    proposals: list[list[Proposal]]

    def lp(self) -> tuple[MatrixLP, list[tuple[int, int]]]:
        """Columns: each proposal's weight, then a shortfall per shared row; which is whose."""
        owners = [(site, k) for site, own in enumerate(self.proposals) for k in range(len(own))]
        chosen = [self.proposals[site][k] for site, k in owners]
        import_rows = np.flatnonzero(np.isfinite(self.import_limit_kw))
        export_rows = np.flatnonzero(np.isfinite(self.export_limit_kw))
        shared = np.vstack(
            [
                np.column_stack([p.import_kw[import_rows] for p in chosen]),
                np.column_stack([p.export_kw[export_rows] for p in chosen]),
            ]
        )
        sites = len(self.proposals)
        convexity = sp.csr_matrix(
            (np.ones(len(owners)), ([site for site, _ in owners], np.arange(len(owners)))),
            shape=(sites, len(owners)),
        )
        shortfall = len(import_rows) + len(export_rows)
        matrix = sp.bmat(
            [
                [sp.csr_matrix(shared), -sp.identity(shortfall, format="csr")],
                [convexity, None],
            ],
            format="csc",
        )
        limits = np.concatenate(
            [self.import_limit_kw[import_rows], self.export_limit_kw[export_rows]]
        )
        columns = len(owners) + shortfall
        lp = MatrixLP(
            cost=np.concatenate(
                [[p.cost_gbp for p in chosen], np.full(shortfall, SHORTFALL_GBP_PER_KW)]
            ),
            col_lo=np.zeros(columns),
            col_hi=np.full(columns, np.inf),
            integer=np.zeros(columns, dtype=bool),
            matrix=matrix,
            row_lo=np.concatenate([np.full(shortfall, -np.inf), np.ones(sites)]),
            row_hi=np.concatenate([limits, np.ones(sites)]),
            columns={"shortfall": np.arange(len(owners), columns)},
            rows={
                "import": import_rows,
                "export": len(import_rows) + np.arange(len(export_rows)),
                "convexity": shortfall + np.arange(sites),
            },
        )
        return lp, owners


def solve_decomposed(
    problems: Sequence[DispatchProblem],
    shared: SharedConnection,
    sites: Sites | None = None,
    gap_frac: float = 1e-6,
    max_rounds: int = 200,
) -> DecomposedResult:
    """The fleet's dispatch under ``shared``, within ``gap_frac`` of the joint LP's optimum.

    ``sites`` prices the sites (default: in this process); ``problems`` give the steps.

    Raises
    ------
    InfeasibleError
        No dispatch of the sites keeps the shared limits.
    SolverError
        The bounds did not meet within ``max_rounds`` rounds.
    """
    steps = len(problems[0].time_index)
    import_limit_kw, export_limit_kw = per_step_limits(problems, shared)
    import_steps = np.flatnonzero(np.isfinite(import_limit_kw))
    export_steps = np.flatnonzero(np.isfinite(export_limit_kw))
    zero = np.zeros(steps)
    if sites is None:
        sites = LocalSites(problems)
    master = _Master(import_limit_kw, export_limit_kw, [[p] for p in sites.propose(zero, zero)])
    highs = InPlaceHighs(highs_options(problems[0].solver))
    lower_gbp = -np.inf
    upper_gbp = np.inf
    limits_kw = np.concatenate([import_limit_kw, export_limit_kw])
    limited = np.isfinite(limits_kw)
    stable: np.ndarray | None = None
    mispriced = False
    rounds = 0
    while True:
        rounds += 1
        if rounds > max_rounds:
            raise SolverError(
                f"the decomposition's bounds did not meet within {max_rounds} rounds (gap "
                f"{upper_gbp - lower_gbp:.6g} GBP); raise coupling.max_rounds or use "
                "coupling.method: joint"
            )
        lp, owners = master.lp()
        status_text, weights, upper_gbp = highs.solve(lp)
        if HIGHS_CONDITIONS.get(status_text, status_text) != "optimal":
            raise SolverError(f"the decomposition's master LP stopped ({status_text})")
        duals = np.asarray(highs.highs.getSolution().row_dual)
        # HiGHS's duals of a minimisation's <= rows are <= 0: the price is their negative.
        master_price = np.zeros(2 * steps)
        master_price[import_steps] = np.maximum(-duals[lp.rows["import"]], 0.0)
        master_price[steps + export_steps] = np.maximum(-duals[lp.rows["export"]], 0.0)
        # Wentges smoothing: price between the master's duals and the best-bound prices so
        # far, which damps the duals' swings (fewer rounds); a round that finds nothing the
        # master lacks prices at the master's duals alone next.
        price = (
            master_price
            if stable is None or mispriced
            else SMOOTHING * stable + (1 - SMOOTHING) * master_price
        )
        offers = sites.propose(price[:steps], price[steps:])
        flows = [np.concatenate([offer.import_kw, offer.export_kw]) for offer in offers]
        bound_gbp = float(
            sum(offer.cost_gbp + price @ flow for offer, flow in zip(offers, flows, strict=True))
            - price[limited] @ limits_kw[limited]
        )
        if bound_gbp > lower_gbp:
            lower_gbp, stable = bound_gbp, price
        shortfall_kw = float(weights[lp.columns["shortfall"]].sum())
        if shortfall_kw <= 1e-7 and upper_gbp - lower_gbp <= gap_frac * max(1.0, abs(upper_gbp)):
            break
        convexity_dual = duals[lp.rows["convexity"]]
        added = 0
        for site, (offer, flow) in enumerate(zip(offers, flows, strict=True)):
            reduced_gbp = offer.cost_gbp + master_price @ flow - convexity_dual[site]
            if reduced_gbp < -1e-9 * max(1.0, abs(offer.cost_gbp)):
                master.proposals[site].append(offer)
                added += 1
        if added:
            mispriced = False
            continue
        if not mispriced and stable is not None and not np.array_equal(price, master_price):
            mispriced = True
            continue
        if shortfall_kw > 1e-7:
            raise InfeasibleError(
                "the sites cannot keep to the shared connection's limits at every step; "
                "raise the limit or check each site alone"
            )
        break
    import_cap = np.zeros((len(problems), steps))
    export_cap = np.zeros((len(problems), steps))
    for (site, k), weight in zip(owners, weights[: len(owners)], strict=True):
        import_cap[site] += weight * master.proposals[site][k].import_kw
        export_cap[site] += weight * master.proposals[site][k].export_kw
    settled = sites.settle(import_cap, export_cap)
    objective_gbp = float(sum(cost for _, cost in settled))
    stats = {
        "path": "decomposed",
        "method": "dantzig_wolfe",
        "sites": len(problems),
        "rounds": rounds,
        "proposals": sum(len(own) for own in master.proposals),
        "objective_gbp": objective_gbp,
        "bound_gbp": lower_gbp,
        # Rounding can put the settled cost a hair under the bound.
        "gap_gbp": max(0.0, objective_gbp - lower_gbp),
        "gap_frac": max(0.0, objective_gbp - lower_gbp) / max(1.0, abs(objective_gbp)),
    }
    return DecomposedResult(
        dispatches=[dispatch for dispatch, _ in settled], objective_gbp=objective_gbp, stats=stats
    )
