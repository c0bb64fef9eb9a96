"""Compile a :class:`~gridq.schemas.tariff.Tariff` and a timeseries into per-step arrays.

The LP (:mod:`gridq.engine.model`) and :func:`gridq.engine.bill.bill` both price from the same
:class:`CompiledTariff`, so they cannot disagree. How the components combine:

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

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from holidays.countries.united_kingdom import UnitedKingdom

from gridq.conventions import EXPORT_PRICE, IMPORT_PRICE
from gridq.engine.sums import exact_sum, group_sums
from gridq.engine.timeseries import timestep_h
from gridq.errors import ConfigError
from gridq.schemas.tariff import (
    BANK_HOLIDAY_REGIONS,
    MINUTES_PER_DAY,
    Bands,
    DemandCharge,
    FlatRate,
    GridRules,
    Ratchet,
    Tariff,
    UnitRates,
    Window,
)


def _positions(used: np.ndarray, size: int) -> np.ndarray:
    """Map old positions ``0..size-1`` to their rank in ``used`` (else -1); maps -1 to -1 too."""
    positions = np.full(size + 1, -1, dtype=np.int64)
    positions[used] = np.arange(len(used))
    return positions


@dataclass(frozen=True)
class PeakCharge:
    """A charge on the highest block-average import per period.

    ``block_of_step[t]`` is the block of step ``t`` (-1 outside the charge); block ``b`` belongs
    to period ``block_period[b]``, and its demand is ``block_offset_kw[b]`` (import already
    settled before a rolling window, spread over the block; empty means none) plus its steps'
    import summed over ``block_steps[b]``. With a ratchet, period
    ``p`` bills at least ``ratchet_fraction`` of each earlier period ``q`` listed in
    ``ratchet_pairs`` as ``(p, q)``, and at least ``ratchet_floor_kw[p]`` from the history.
    """

    name: str
    rate_gbp_per_kw: float
    period_names: tuple[str, ...]
    block_of_step: np.ndarray
    block_period: np.ndarray
    block_steps: np.ndarray
    ratchet_fraction: float | None = None
    ratchet_pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    ratchet_floor_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    block_offset_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))
    run_period: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Each period's position among the run's periods (a window's subset); empty: the same."""

    def run_periods(self) -> np.ndarray:
        """Each period's position among the periods of the run this charge was compiled for."""
        return self.run_period if len(self.run_period) else np.arange(len(self.period_names))

    def offsets_kw(self) -> np.ndarray:
        """Each block's settled part [kW] (zeros when there is none)."""
        if len(self.block_offset_kw):
            return self.block_offset_kw
        return np.zeros(len(self.block_steps))

    def peaks_kw(self, grid_import_kw: np.ndarray) -> np.ndarray:
        """Highest block-average import per period [kW]."""
        inside = self.block_of_step >= 0
        block_sum = group_sums(
            self.block_of_step[inside], grid_import_kw[inside], len(self.block_steps)
        )
        peaks = np.zeros(len(self.period_names))
        np.maximum.at(peaks, self.block_period, block_sum / self.block_steps + self.offsets_kw())
        return peaks

    def billed_kw(self, peaks_kw: np.ndarray) -> np.ndarray:
        """Billing demand per period: the peak, raised to the ratchet's floors [kW]."""
        if self.ratchet_fraction is None:
            return peaks_kw
        billed = np.maximum(peaks_kw, self.ratchet_floor_kw)
        for period, earlier in self.ratchet_pairs:
            billed[period] = max(billed[period], self.ratchet_fraction * peaks_kw[earlier])
        return billed

    def window(
        self, start: int, stop: int, settled_import_kw: np.ndarray | None = None
    ) -> "PeakCharge":
        """The charge over steps ``start:stop`` only: the blocks and periods they touch.

        A block the window cuts is billed, as the run's bill does, on the mean import of its
        steps that are known: those in the window and, with ``settled_import_kw`` (the run's
        import so far, by step), its steps settled before ``start``, which enter as a constant
        offset. Ratchet pairs reaching outside the window are dropped.
        """
        block_of_step = self.block_of_step[start:stop]
        inside = block_of_step >= 0
        used_blocks, steps_in_window = np.unique(block_of_step[inside], return_counts=True)
        known_steps = steps_in_window.astype(np.float64)
        settled_sum_kw = np.zeros(len(used_blocks))
        cut = int(self.block_of_step[start]) if start < len(self.block_of_step) else -1
        if settled_import_kw is not None and cut >= 0:
            # Blocks are runs of consecutive steps, so only the first can hold settled steps.
            first = start
            while first > 0 and self.block_of_step[first - 1] == cut:
                first -= 1
            position = int(np.searchsorted(used_blocks, cut))
            known_steps[position] += start - first
            settled_sum_kw[position] = exact_sum(settled_import_kw[first:start])
        used_periods = np.unique(self.block_period[used_blocks])
        block_position = _positions(used_blocks, len(self.block_steps))
        period_position = _positions(used_periods, len(self.period_names))
        pairs = period_position[self.ratchet_pairs]
        return replace(
            self,
            period_names=tuple(self.period_names[p] for p in used_periods),
            run_period=self.run_periods()[used_periods],
            block_of_step=block_position[block_of_step],
            block_period=period_position[self.block_period[used_blocks]],
            block_steps=known_steps,
            block_offset_kw=settled_sum_kw / known_steps,
            ratchet_pairs=pairs[(pairs >= 0).all(axis=1)],
            ratchet_floor_kw=(
                self.ratchet_floor_kw[used_periods]
                if len(self.ratchet_floor_kw)
                else self.ratchet_floor_kw
            ),
        )


@dataclass(frozen=True)
class CompiledTariff:
    """Per-step prices and charge structures of one run; units in every name."""

    energy_price_gbp_per_kwh: np.ndarray
    duos_unit_price_gbp_per_kwh: np.ndarray
    export_price_gbp_per_kwh: np.ndarray
    standing_charge_gbp: float
    duos_fixed_gbp: float
    capacity_charge_gbp: float
    demand_charges: tuple[PeakCharge, ...]
    coincident_peaks: tuple[PeakCharge, ...]
    excess_month_of_step: np.ndarray
    excess_month_names: tuple[str, ...]
    excess_rate_gbp_per_kva: np.ndarray
    agreed_kva: float
    power_factor: float
    triad_weight_per_kw: np.ndarray
    triad_credit_export: bool
    flex_baseline_kw: np.ndarray
    flex_price_gbp_per_kwh: np.ndarray
    rules: GridRules
    local_timezone: str
    """The tariff's clock, which bills calendar months."""

    @property
    def import_price_gbp_per_kwh(self) -> np.ndarray:
        """Energy plus DUoS unit rate per step [GBP/kWh]."""
        return self.energy_price_gbp_per_kwh + self.duos_unit_price_gbp_per_kwh

    @property
    def flex_steps(self) -> np.ndarray:
        """Positions of the steps inside a flexibility event."""
        return np.flatnonzero(self.flex_price_gbp_per_kwh > 0)

    def window(
        self, start: int, stop: int, settled_import_kw: np.ndarray | None = None
    ) -> "CompiledTariff":
        """The run's tariff over steps ``start:stop`` (a rolling window), rates unchanged.

        Unlike compiling the window alone, triad weights and excess-capacity rates keep the
        whole run's normalisation, so each window prices them as the run's bill will; with
        ``settled_import_kw`` an averaging block cut by ``start`` counts its settled steps
        (:meth:`PeakCharge.window`).
        """
        steps = len(self.energy_price_gbp_per_kwh)
        share = (min(stop, steps) - start) / steps
        months = self.excess_month_of_step[start:stop]
        used_months = np.unique(months[months >= 0])
        return replace(
            self,
            energy_price_gbp_per_kwh=self.energy_price_gbp_per_kwh[start:stop],
            duos_unit_price_gbp_per_kwh=self.duos_unit_price_gbp_per_kwh[start:stop],
            export_price_gbp_per_kwh=self.export_price_gbp_per_kwh[start:stop],
            standing_charge_gbp=self.standing_charge_gbp * share,
            duos_fixed_gbp=self.duos_fixed_gbp * share,
            capacity_charge_gbp=self.capacity_charge_gbp * share,
            demand_charges=tuple(
                c.window(start, stop, settled_import_kw) for c in self.demand_charges
            ),
            coincident_peaks=tuple(c.window(start, stop) for c in self.coincident_peaks),
            excess_month_of_step=_positions(used_months, len(self.excess_month_names))[months],
            excess_month_names=tuple(self.excess_month_names[m] for m in used_months),
            excess_rate_gbp_per_kva=self.excess_rate_gbp_per_kva[used_months],
            triad_weight_per_kw=self.triad_weight_per_kw[start:stop],
            flex_baseline_kw=self.flex_baseline_kw[start:stop],
            flex_price_gbp_per_kwh=self.flex_price_gbp_per_kwh[start:stop],
        )

    def demand_steps(self) -> np.ndarray:
        """Per step: inside a block of some demand charge."""
        inside = np.zeros(len(self.import_price_gbp_per_kwh), dtype=bool)
        for charge in self.demand_charges:
            inside |= charge.block_of_step >= 0
        return inside

    def monthly_peak_kva(self, grid_import_kw: np.ndarray) -> np.ndarray:
        """Highest step import per excess-capacity month [kVA]."""
        peaks = np.zeros(len(self.excess_month_names))
        inside = self.excess_month_of_step >= 0
        np.maximum.at(
            peaks, self.excess_month_of_step[inside], grid_import_kw[inside] / self.power_factor
        )
        return peaks


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
    months = np.asarray(local.strftime("%Y-%m"))
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
    months = np.asarray(local.strftime("%Y-%m"))
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
