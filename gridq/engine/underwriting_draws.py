"""What an underwritten life assumes: its weather year, escalation, load growth and ageing rate.

The reference life takes the bundle's own year and the central assumptions. The lives behind
P10/P50/P90 are drawn, seeded: each takes the weather years in turn and its own escalation and
load growth (normal about the central values) and ageing rate (log-normal about 1).

Weather year 0 is the bundle's own year. Every further one moves whole days of load and PV
within four-week blocks and scales the year's PV yield and load level by seeded factors (normal
about 1): a year of other days and other totals, with prices kept on their dates.
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.tariff import working_days
from gridq.engine.timeseries import day_labels
from gridq.schemas import RunConfig, Underwriting

BLOCK_DAYS = 28
"""Weather years move days within blocks of this many days."""
_LEVEL_STREAM = 1
_DRAW_STREAM = 2
_LOWEST_ESCALATION_FRAC = -0.9
"""Drawn escalation and growth rates are kept above this (a rate of -1 empties the year)."""


@dataclass(frozen=True)
class Assumptions:
    """What one life assumes beyond the bundle's inputs."""

    weather_year: int
    tariff_escalation_frac_per_year: float
    load_growth_frac_per_year: float
    ageing_factor: float
    """Multiplies the fade the degradation model predicts (cycle and calendar alike)."""


def central(options: Underwriting) -> Assumptions:
    """The reference life: the bundle's own year and the configured rates."""
    return Assumptions(
        weather_year=0,
        tariff_escalation_frac_per_year=options.tariff_escalation_frac_per_year,
        load_growth_frac_per_year=options.load_growth_frac_per_year,
        ageing_factor=1.0,
    )


def drawn(options: Underwriting, life: int) -> Assumptions:
    """Drawn life ``life`` (from 0): the weather years in turn, seeded rates and ageing."""
    spread = options.uncertainty
    normal = np.random.default_rng([options.seed, _DRAW_STREAM, life]).standard_normal(3)
    return Assumptions(
        weather_year=life % options.weather_years,
        tariff_escalation_frac_per_year=max(
            options.tariff_escalation_frac_per_year
            + spread.tariff_escalation_sd_frac_per_year * normal[0],
            _LOWEST_ESCALATION_FRAC,
        ),
        load_growth_frac_per_year=max(
            options.load_growth_frac_per_year + spread.load_growth_sd_frac_per_year * normal[1],
            _LOWEST_ESCALATION_FRAC,
        ),
        ageing_factor=math.exp(spread.ageing_sd_frac * normal[2]),
    )


def reshuffled_days(
    timeseries: pd.DataFrame,
    variant: int,
    seed: int,
    zone: str,
    bank_holidays: str = "england_and_wales",
) -> pd.DataFrame:
    """Variant 0 is ``timeseries``; others move whole local days of load and PV.

    A day moves only to another day of the same kind (a working day, or a weekend day or bank
    holiday of ``bank_holidays``) within the same block of four weeks from the first day, so the
    season and the working week stay while days cross month ends (moving monthly peaks). Days
    of unusual length (a clock change, an incomplete first or last day) stay where they are.
    """
    if variant == 0:
        return timeseries
    rng = np.random.default_rng([seed, variant])
    local = pd.DatetimeIndex(timeseries.index).tz_convert(zone)
    days = day_labels(local)
    steps_per_day = pd.Series(days).value_counts()
    usual = steps_per_day[steps_per_day == steps_per_day.mode().iloc[0]].index
    first = pd.Timestamp(days[0])
    working = dict(zip(days, working_days(local, bank_holidays), strict=True))
    groups: dict[tuple[int, bool], list[str]] = {}
    for day in sorted(usual):
        block = (pd.Timestamp(day) - first).days // BLOCK_DAYS
        groups.setdefault((block, bool(working[day])), []).append(day)
    load = timeseries[col.LOAD_KW].to_numpy().copy()
    pv = timeseries[col.PV_KW].to_numpy().copy()
    source_load, source_pv = load.copy(), pv.copy()
    for group_days in groups.values():
        for target, source in zip(group_days, rng.permutation(group_days), strict=True):
            into, out_of = days == target, days == source
            load[into], pv[into] = source_load[out_of], source_pv[out_of]
    return timeseries.assign(**{col.LOAD_KW: load, col.PV_KW: pv})


def level_factors(options: Underwriting, variant: int) -> tuple[float, float]:
    """(PV yield, load level) factors of weather year ``variant``; (1, 1) for the bundle's own."""
    if variant == 0:
        return 1.0, 1.0
    spread = options.uncertainty
    normal = np.random.default_rng([options.seed, _LEVEL_STREAM, variant]).standard_normal(2)
    return (
        max(1.0 + spread.pv_yield_sd_frac * normal[0], 0.0),
        max(1.0 + spread.load_level_sd_frac * normal[1], 0.0),
    )


def weather_year(timeseries: pd.DataFrame, variant: int, run_config: RunConfig) -> pd.DataFrame:
    """Weather year ``variant`` of ``timeseries``: days moved, PV yield and load level scaled."""
    if variant == 0:
        return timeseries
    options = run_config.underwriting
    moved = reshuffled_days(
        timeseries,
        variant,
        options.seed,
        run_config.tariff.local_timezone,
        run_config.tariff.bank_holidays,
    )
    pv_factor, load_factor = level_factors(options, variant)
    return moved.assign(
        **{col.PV_KW: moved[col.PV_KW] * pv_factor, col.LOAD_KW: moved[col.LOAD_KW] * load_factor}
    )


def sources(options: Underwriting) -> list[str]:
    """The uncertainty sources behind the drawn lives, in words, with their sizes."""
    spread = options.uncertainty
    return [
        f"{options.weather_years} weather year(s): the bundle's own, then days reshuffled within "
        f"four-week blocks with the PV yield scaled (sd {spread.pv_yield_sd_frac:.1%}) and the "
        f"load level scaled (sd {spread.load_level_sd_frac:.1%}); each operated by the rolling "
        "forecast",
        f"tariff escalation {options.tariff_escalation_frac_per_year:.1%} a year "
        f"(sd {spread.tariff_escalation_sd_frac_per_year:.1%})",
        f"load growth {options.load_growth_frac_per_year:.1%} a year "
        f"(sd {spread.load_growth_sd_frac_per_year:.1%})",
        f"ageing rate x1 (log-normal sd {spread.ageing_sd_frac:.0%})",
        f"{spread.scenarios} lives drawn (seed {options.seed})",
    ]
