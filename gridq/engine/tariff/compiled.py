"""A tariff compiled for one run: per-step prices and peak-charge structures.

The LP (:mod:`gridq.engine.model`) and :func:`gridq.engine.bill.bill` both price from the same
:class:`CompiledTariff`, so they cannot disagree; :meth:`CompiledTariff.window` cuts a run's
tariff to a rolling window (or a month) without compiling it again.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from gridq.engine.sums import exact_sum, group_sums
from gridq.schemas.tariff import GridRules


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
    ratchet_months: int = 0
    """How many months after a period its peak's ratchet share bills at least."""
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
        periods, earlier = self.ratchet_pairs.T
        np.maximum.at(billed, periods, self.ratchet_fraction * peaks_kw[earlier])
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
