"""Whether a timeseries is one a real site could have, and if not the likely unit slip.

Prices are held to any real tariff, powers to the site they belong to; each refusal names the
likely cause (a unit slip) and the fix.

A slip of units is a factor of 100 or 1000, far outside these bounds, so a bound here may be
generous: what it must not do is let a Wh meter read as kWh run a 1,000 kW home.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridq.conventions import (
    EXPORT_PRICE,
    GRID_EXPORT_KW,
    GRID_IMPORT_KW,
    IMPORT_PRICE,
    LOAD_KW,
    PV_KW,
)
from gridq.errors import InputError
from gridq.schemas import Plausibility, Site

PRICE_COLUMNS = (IMPORT_PRICE, EXPORT_PRICE)
POWER_COLUMNS = (LOAD_KW, PV_KW)
SITE_MARGIN = 2.0
"""Load may reach this times what the site can draw (import limit + battery + PV), and PV this
times the array's peak, before either is refused: real data overshoot, unit slips are 1000x."""
PER_MWH_MEDIAN = 60.0
"""Prices too high by about 100 (pence) have a median of a few to a few tens; by 1000
(GBP/MWh) of about 50 to 500. A median above this names GBP/MWh."""


@dataclass(frozen=True)
class Implausible:
    """One column no real site has: what is wrong, and the factor that would make it right."""

    column: str
    what: str
    scale: float | None
    """Multiply by this to make the column plausible (1e-3: W as kW; 100: GBP as pence), or
    None where no unit slip explains it."""
    otherwise: str = "check the data and its units"
    """The fix where no unit slip explains it."""

    def hint(self, unit: str | None = None) -> str:
        """The likely cause and the fix; ``unit`` is the unit the values were read in, if known."""
        if self.scale is None:
            return self.otherwise
        if self.column in POWER_COLUMNS:
            slips = {"kWh": "Wh labelled kWh", "kW": "W labelled kW"}
            slip = slips.get(unit or "", "W or Wh labelled kW or kWh")
            fix = "; or give the layout's unit as W or Wh" if unit in slips else ""
            return f"looks like {slip}: divide by 1000{fix}"
        if self.scale == 1e-2:
            given = "given to a GBP/kWh layout: give the layout's unit as p/kWh" if unit else ""
            return f"the prices look like pence{' ' + given if given else ': divide by 100'}"
        if self.scale == 1e-3:
            given = ": give the layout's unit as GBP/MWh" if unit else ": divide by 1000"
            return f"the prices look like GBP/MWh{given}"
        if unit == "p/kWh":
            return "looks like GBP given to a p/kWh layout: give the layout's unit as GBP/kWh"
        return "the prices look divided by 100 twice (GBP read as pence?): multiply by 100"


def _stamp(index: pd.Index, position: int) -> str:
    return pd.DatetimeIndex(index)[position].strftime("%Y-%m-%dT%H:%MZ")


def _price_problem(
    column: str, values: np.ndarray, index: pd.Index, bounds: Plausibility
) -> Implausible | None:
    low, high = bounds.price_min_gbp_per_kwh, bounds.price_max_gbp_per_kwh
    outside = (values < low) | (values > high)
    if outside.any():
        median = float(np.median(values))
        scale = 1e-3 if median > PER_MWH_MEDIAN else 1e-2
        plausible = ((values * scale >= low) & (values * scale <= high)).all()
        first = int(np.argmax(outside))
        return Implausible(
            column,
            f"has {int(outside.sum())} prices outside {low:g}..{high:g} GBP/kWh (first "
            f"{values[first]:g} at {_stamp(index, first)})",
            scale if plausible else None,
            f"fix the data, or widen run_config plausibility ({low:g}..{high:g})",
        )
    typical = float(np.median(np.abs(values)))
    floor = bounds.price_median_min_gbp_per_kwh
    if 0 < typical < floor:
        return Implausible(
            column,
            f"has a median of {typical:g} GBP/kWh, 100 times below any real tariff (run_config "
            f"plausibility.price_median_min_gbp_per_kwh: {floor:g})",
            100.0,
        )
    return None


def _over(
    column: str, values: np.ndarray, index: pd.Index, bound_kw: float, bound: str, field: str
) -> Implausible | None:
    """``column`` if it passes ``SITE_MARGIN`` times ``bound_kw`` (``bound`` says what that is)."""
    over = values > SITE_MARGIN * bound_kw
    if not over.any():
        return None
    first = int(np.argmax(over))
    return Implausible(
        column,
        f"reaches {values.max():g} kW (first {values[first]:g} at {_stamp(index, first)}), over "
        f"{SITE_MARGIN:g} times {bound}",
        1e-3 if values.max() / 1000 <= SITE_MARGIN * bound_kw else None,
        f"check the data, or site_config.yaml {field}",
    )


def _power_problems(timeseries: pd.DataFrame, site: Site | None) -> list[Implausible]:
    """Load and PV (a timeseries, or forecast vintages) against what ``site`` can have."""
    if site is None or not len(timeseries):
        return []
    found = []
    import_limit_kw, pv_peak_kw = site.grid.import_limit_kw, site.pv_peak_kw
    pv_kw = timeseries[PV_KW].to_numpy()
    if import_limit_kw is not None:
        pv_max_kw = float(pv_kw.max()) if pv_peak_kw is None else pv_peak_kw
        supply_kw = import_limit_kw + site.battery.discharge_power_max_kw + pv_max_kw
        bound = (
            f"what the site can draw ({supply_kw:g} kW: grid.import_limit_kw + the battery's "
            "discharge + PV in site_config.yaml)"
        )
        found.append(
            _over(
                LOAD_KW,
                timeseries[LOAD_KW].to_numpy(),
                timeseries.index,
                supply_kw,
                bound,
                "grid.import_limit_kw",
            )
        )
    if pv_peak_kw is not None:
        bound = f"the array's {pv_peak_kw:g} kWp (site_config.yaml pv_peak_kw)"
        found.append(_over(PV_KW, pv_kw, timeseries.index, pv_peak_kw, bound, "pv_peak_kw"))
    return [problem for problem in found if problem is not None]


def implausible(
    timeseries: pd.DataFrame, bounds: Plausibility, site: Site | None = None
) -> list[Implausible]:
    """Every column of a checked timeseries that no real site (or not ``site``) has."""
    found = [
        problem
        for column in PRICE_COLUMNS
        if (
            problem := _price_problem(
                column, timeseries[column].to_numpy(), timeseries.index, bounds
            )
        )
    ]
    for column in POWER_COLUMNS:
        values = timeseries[column].to_numpy()
        if values.max(initial=0) > bounds.power_max_kw:
            first = int(np.argmax(values > bounds.power_max_kw))
            found.append(
                Implausible(
                    column,
                    f"reaches {values.max():g} kW, above run_config plausibility.power_max_kw "
                    f"({bounds.power_max_kw:g}) at {_stamp(timeseries.index, first)}",
                    1e-3,
                    "check the units, or raise the bound",
                )
            )
    return found + _power_problems(timeseries, site)


def check_plausible(
    timeseries: pd.DataFrame, bounds: Plausibility, site: Site | None = None
) -> None:
    """Refuse a checked timeseries whose prices or powers no real site (or not ``site``) has.

    The price and power bounds parametrise the timeseries suite of ``gridq validate`` too;
    each is raised in run_config.yaml's ``plausibility`` where a real site exceeds it.
    """
    for problem in implausible(timeseries, bounds, site)[:1]:
        raise InputError(f"column '{problem.column}' {problem.what}; {problem.hint()}")


def check_site_powers(frame: pd.DataFrame, site: Site) -> None:
    """Refuse load and PV (of forecast vintages, say) that ``site`` cannot have."""
    for problem in _power_problems(frame, site)[:1]:
        raise InputError(f"column '{problem.column}' {problem.what}; {problem.hint()}")


def check_meter(meter: pd.DataFrame, site: Site) -> None:
    """Refuse a meter table whose grid flows the site's connection cannot carry.

    ``meter`` holds ``grid_import_kw`` and ``grid_export_kw`` [kW]; a limit the site does not
    set is not checked.
    """
    limits = {GRID_IMPORT_KW: site.grid.import_limit_kw, GRID_EXPORT_KW: site.grid.export_limit_kw}
    for column, limit_kw in limits.items():
        if limit_kw is None or limit_kw == 0 or not len(meter):
            continue
        bound = f"the connection's {limit_kw:g} kW (site_config.yaml grid)"
        problem = _over(column, meter[column].to_numpy(), meter.index, limit_kw, bound, "grid")
        if problem is not None:
            raise InputError(f"column '{column}' {problem.what}; {problem.hint()}")
