"""Compile a :class:`~gridq.schemas.tariff.Tariff` and a timeseries into per-step arrays.

Compiled once per run into a :class:`~gridq.engine.tariff.compiled.CompiledTariff`. How the
components combine:

- import unit price per step = energy rate (the timeseries column, a flat rate or bands) plus
  the DUoS unit band rate; export unit price = the timeseries column, a flat rate or bands;
- standing, DUoS fixed and capacity charges accrue per day of run length;
- each demand charge bills, per calendar month (local clock), the highest import averaged over
  its interval within its window, raised to its ratchet floor; a run covering part of a month pays
  the whole monthly rate on that part's peak; coincident peaks bill the highest import within
  their event periods;
- the excess-capacity charge bills, per month, the kVA by which the month's highest step import
  exceeds the agreed capacity, per day of the month inside the run;
- triads bill the average import (or net import, with ``credit_export``) over the triad steps;
- flexibility events pay for import below the declared baseline during the event.
"""

from dataclasses import replace

import numpy as np
import pandas as pd
from holidays.countries.united_kingdom import UnitedKingdom

from gridq.conventions import EXPORT_PRICE, IMPORT_PRICE
from gridq.engine.tariff.compiled import CompiledTariff, PeakCharge
from gridq.engine.timeseries import month_labels, timestep_h
from gridq.errors import ConfigError
from gridq.schemas.tariff import (
    BANK_HOLIDAY_REGIONS,
    MINUTES_PER_DAY,
    Bands,
    DemandCharge,
    FlatRate,
    Ratchet,
    Tariff,
    UnitRates,
    Window,
)


def working_days(local: pd.DatetimeIndex, bank_holidays: str) -> np.ndarray:
    """Per step: on a weekday that is not a bank holiday of the tariff's region."""
    weekday = np.asarray(local.day_of_week < 5)
    if bank_holidays == "none" or not len(local):
        return weekday
    years = range(local[0].year, local[-1].year + 1)
    days_off = UnitedKingdom(subdiv=BANK_HOLIDAY_REGIONS[bank_holidays], years=years)
    dates = local.tz_localize(None).normalize()
    holiday_dates = pd.DatetimeIndex(sorted(days_off)).as_unit(dates.unit)
    return weekday & ~np.isin(dates.asi8, holiday_dates.asi8)


def window_mask(local: pd.DatetimeIndex, window: Window, working_day: np.ndarray) -> np.ndarray:
    """Steps of ``local`` (step starts, local clock) inside ``window``.

    ``working_day`` marks the steps of weekdays that are not bank holidays.
    """
    minute = np.asarray(local.hour * 60 + local.minute)
    mask = np.isin(np.asarray(local.month), window.months)
    if window.days == "weekdays":
        mask &= working_day
    elif window.days == "weekends":
        mask &= ~working_day
    in_time = np.zeros(len(local), dtype=bool)
    for start, end in window.minute_ranges():
        in_time |= (minute >= start) & (minute < min(end, MINUTES_PER_DAY))
    return mask & in_time


def unit_rates(
    rates: UnitRates,
    column: str,
    timeseries: pd.DataFrame,
    local: pd.DatetimeIndex,
    working_day: np.ndarray,
) -> np.ndarray:
    """Per-step unit rate from the timeseries column, a flat rate or bands [GBP/kWh]."""
    if isinstance(rates, FlatRate):
        return np.full(len(local), rates.rate_gbp_per_kwh)
    if isinstance(rates, Bands):
        price = np.zeros(len(local))
        for band in rates.bands:
            price[window_mask(local, band, working_day)] = band.rate_gbp_per_kwh
        return price
    return timeseries[column].to_numpy(dtype=np.float64)


def _steps_in(
    index: pd.DatetimeIndex, periods: list[tuple[pd.Timestamp, pd.Timestamp]]
) -> np.ndarray:
    mask = np.zeros(len(index), dtype=bool)
    for start, end in periods:
        mask |= (index >= start) & (index < end)
    return mask


def _months_between(later: str, earlier: str) -> int:
    year_a, month_a = map(int, later.split("-"))
    year_b, month_b = map(int, earlier.split("-"))
    return (year_a - year_b) * 12 + month_a - month_b


def _peak_charge(
    name: str,
    rate: float,
    inside: np.ndarray,
    period_labels: np.ndarray,
    block_labels: np.ndarray,
    ratchet: Ratchet | None = None,
) -> PeakCharge:
    periods = tuple(pd.unique(period_labels[inside]))
    blocks, block_of_inside = np.unique(block_labels[inside], return_inverse=True)
    block_of_step = np.full(len(inside), -1, dtype=np.int64)
    block_of_step[inside] = block_of_inside
    period_index = {label: position for position, label in enumerate(periods)}
    first_step = np.flatnonzero(inside)[np.unique(block_of_inside, return_index=True)[1]]
    block_period = np.array([period_index[period_labels[t]] for t in first_step], dtype=np.int64)
    block_steps = np.bincount(block_of_inside, minlength=len(blocks)).astype(np.float64)
    charge = PeakCharge(
        name, rate, tuple(f"{name}:{p}" for p in periods), block_of_step, block_period, block_steps
    )
    if ratchet is None:
        return charge
    pairs = [
        (p, q)
        for p, later in enumerate(periods)
        for q, earlier in enumerate(periods)
        if 0 < _months_between(later, earlier) <= ratchet.months
    ]
    history_peak_kw = [
        max(
            [
                peak
                for month, peak in ratchet.history_kw.items()
                if 0 < _months_between(period, month) <= ratchet.months
            ],
            default=0.0,
        )
        for period in periods
    ]
    return replace(
        charge,
        ratchet_fraction=ratchet.fraction,
        ratchet_months=ratchet.months,
        ratchet_pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2),
        ratchet_floor_kw=ratchet.fraction * np.array(history_peak_kw),
    )


def _demand_charge(
    charge: DemandCharge,
    index: pd.DatetimeIndex,
    local: pd.DatetimeIndex,
    step_min: float,
    working_day: np.ndarray,
) -> PeakCharge:
    averaging_min = charge.averaging_min or step_min
    if averaging_min % step_min or 60 % averaging_min:
        raise ConfigError(
            f"tariff.demand_charges: '{charge.name}': averaging_min {averaging_min:g} must be "
            f"a multiple of the {step_min:g}-minute step and divide 60"
        )
    block_start = index.floor(f"{int(averaging_min)}min").asi8
    months = month_labels(local)
    inside = window_mask(local, charge, working_day)
    if charge.partial_blocks == "not_billed":
        _, position, steps = np.unique(block_start, return_inverse=True, return_counts=True)
        inside &= steps[position] * step_min >= averaging_min
    return _peak_charge(
        charge.name,
        charge.rate_gbp_per_kw,
        inside,
        months,
        block_start,
        charge.ratchet,
    )


def compile_tariff(tariff: Tariff, timeseries: pd.DataFrame) -> CompiledTariff:
    """Turn ``tariff`` and a checked timeseries into the arrays the LP and the bill share.

    Raises
    ------
    ConfigError
        When a demand charge's averaging interval does not fit the data's step.
    """
    index = pd.DatetimeIndex(timeseries.index)
    local = index.tz_convert(tariff.local_timezone)
    working_day = working_days(local, tariff.bank_holidays)
    dt_h = timestep_h(index)
    run_days = len(index) * dt_h / 24.0
    steps = len(index)
    months = month_labels(local)
    duos = tariff.duos
    duos_unit = np.zeros(steps)
    if duos is not None and duos.unit_bands is not None:
        duos_unit = unit_rates(duos.unit_bands, "", timeseries, local, working_day)
    capacity = duos.capacity if duos is not None else None
    month_names = tuple(pd.unique(months)) if capacity is not None else ()
    month_of_step = np.full(steps, -1, dtype=np.int64)
    for position, month in enumerate(month_names):
        month_of_step[months == month] = position
    days_in_month = np.array([(months == m).sum() * dt_h / 24.0 for m in month_names])
    triad_weight = np.zeros(steps)
    if tariff.triads is not None:
        triads = tariff.triads
        inside = _steps_in(
            index,
            [
                (pd.Timestamp(s), pd.Timestamp(s) + pd.Timedelta(minutes=triads.period_min))
                for s in triads.periods_start_utc
            ],
        )
        if inside.any():
            triad_weight[inside] = triads.rate_gbp_per_kw / inside.sum()
    flex_baseline = np.zeros(steps)
    flex_price = np.zeros(steps)
    for event in tariff.flexibility_events:
        inside = _steps_in(index, [(pd.Timestamp(event.start_utc), pd.Timestamp(event.end_utc))])
        flex_baseline[inside] = event.baseline_import_kw
        flex_price[inside] = event.price_gbp_per_kwh
    step_min = dt_h * 60
    return CompiledTariff(
        energy_price_gbp_per_kwh=unit_rates(
            tariff.energy, IMPORT_PRICE, timeseries, local, working_day
        ),
        duos_unit_price_gbp_per_kwh=duos_unit,
        export_price_gbp_per_kwh=unit_rates(
            tariff.export, EXPORT_PRICE, timeseries, local, working_day
        ),
        standing_charge_gbp=tariff.standing_charge_gbp_per_day * run_days,
        duos_fixed_gbp=(duos.fixed_gbp_per_day if duos else 0.0) * run_days,
        capacity_charge_gbp=(
            capacity.agreed_kva * capacity.rate_gbp_per_kva_per_day * run_days if capacity else 0.0
        ),
        demand_charges=tuple(
            _demand_charge(c, index, local, step_min, working_day) for c in tariff.demand_charges
        ),
        coincident_peaks=tuple(
            _peak_charge(
                peak.name,
                peak.rate_gbp_per_kw,
                _steps_in(index, [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in peak.periods_utc]),
                np.full(steps, "events"),
                np.arange(steps),
            )
            for peak in tariff.coincident_peaks
        ),
        excess_month_of_step=month_of_step,
        excess_month_names=month_names,
        excess_rate_gbp_per_kva=(
            capacity.excess_rate_gbp_per_kva_per_day * days_in_month if capacity else np.zeros(0)
        ),
        agreed_kva=capacity.agreed_kva if capacity else 0.0,
        power_factor=capacity.power_factor if capacity else 1.0,
        triad_weight_per_kw=triad_weight,
        triad_credit_export=bool(tariff.triads and tariff.triads.credit_export),
        flex_baseline_kw=flex_baseline,
        flex_price_gbp_per_kwh=flex_price,
        rules=tariff.rules,
        local_timezone=tariff.local_timezone,
    )
