"""A live site's steps: readings into realised flows, shared steps in turn, a run's figures.

Each reading of the device balances (load + charge + export = pv + discharge + import), so a
step's time-weighted mean does; a plan's step that both charges and discharges is realised by
one inverter in turn.
"""

import math
import resource
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.live.safety import Limits, Telemetry

MIN_WEIGHT_S = 1e-3
"""The least device time a sample stands for [s] (one read exactly at a step's start)."""
SHARED_MIN_KW = 1e-3
"""Charge and discharge both above this in one step: the step is time-shared [kW]."""
LATENCY_BUCKET_RATIO = 1.01
"""Each latency bucket's upper edge over its lower: percentiles read 1% high at most."""
LATENCY_FLOOR_S = 1e-6
"""Latencies below this count in the lowest bucket [s]."""
LATENCY_BUCKETS = 1900
"""Buckets from the floor up: the last ends at 162 s and takes everything beyond it too."""


def power_now_kw(
    charge_kw: float,
    discharge_kw: float,
    elapsed_frac: float,
    limits: Limits,
    net_kw: float,
    charge_room_kw: float,
) -> tuple[float, float]:
    """The battery's power [kW, + discharging] ``elapsed_frac`` into a step, and when it turns.

    The turn is the fraction of the step the power changes at (inf: not within the step).

    The controller settled the step at ``charge_kw`` and ``discharge_kw`` (means over it);
    ``net_kw`` is the site's load less PV now; ``charge_room_kw`` the mean charging power over
    the step that fills the battery from its SOC at the step's start.

    A step that both charges and discharges (the plan shares it: bought at night, exported at
    a higher price) is time-shared: one mode, then the other, each at the most power the
    battery and the connection allow (import under its limit while charging, export under its
    limit while discharging) for its share of the step, then idle; shares that overfill the
    step shrink in proportion. Charging goes first unless its energy would overfill the
    battery (a plan shares a full battery's step too): then discharging makes the room first.
    Otherwise the net.
    """
    charging_kw = min(limits.charge_max_kw, limits.import_limit_kw - net_kw)
    discharging_kw = min(limits.discharge_max_kw, limits.export_limit_kw + net_kw)
    shared = charge_kw > SHARED_MIN_KW and discharge_kw > SHARED_MIN_KW
    if not shared or charging_kw <= 0 or discharging_kw <= 0:
        return discharge_kw - charge_kw, math.inf
    charge_share, discharge_share = charge_kw / charging_kw, discharge_kw / discharging_kw
    # A plan may ask a little more of a step than one inverter can do in turn: both shrink.
    overfull = max(charge_share + discharge_share, 1.0)
    charging = (charge_share / overfull, -charging_kw)
    discharging = (discharge_share / overfull, discharging_kw)
    (first_share, first_kw), (second_share, second_kw) = (
        (charging, discharging) if charge_kw <= charge_room_kw else (discharging, charging)
    )
    if elapsed_frac < first_share:
        return first_kw, first_share
    if elapsed_frac < first_share + second_share:
        return second_kw, first_share + second_share
    return 0.0, math.inf


@dataclass
class StepSamples:
    """The telemetry samples of one step, averaged over time into its realised flows.

    A sample stands for the device time since the one before it (within the step): how often
    the device is read does not weigh on the mean. Each sample balances (load + charge +
    export = pv + discharge + import), so their mean does.
    """

    step: int
    start_s: float
    sums: dict[str, float] = field(default_factory=dict)
    covered_s: float = 0.0
    soc_kwh: float = math.nan
    last_clock_s: float = -math.inf

    @classmethod
    def resumed(cls, step: int, start_s: float, recorded: pd.Series) -> "StepSamples":
        """A step already partly recorded: its mean flows over ``covered_s`` seconds."""
        covered_s = float(recorded["covered_s"])
        sums = {name: float(recorded[name]) * covered_s for name in col.DISPATCH_COLUMNS}
        sums.pop(col.SOC_KWH)
        # The first sample after a restart stands for the time the controller was down.
        return cls(
            step, start_s, sums, covered_s, float(recorded[col.SOC_KWH]), start_s + covered_s
        )

    def add(self, reading: Telemetry) -> None:
        """Count one valid reading, for the time since the last (or the step's start)."""
        weight_s = max(reading.clock_s - max(self.last_clock_s, self.start_s), MIN_WEIGHT_S)
        flows = {
            col.LOAD_KW: reading.load_kw,
            col.PV_KW: reading.pv_kw,
            col.GRID_IMPORT_KW: max(reading.grid_net_import_kw, 0.0),
            col.GRID_EXPORT_KW: max(-reading.grid_net_import_kw, 0.0),
            col.BATTERY_CHARGE_KW: max(-reading.battery_power_kw, 0.0),
            col.BATTERY_DISCHARGE_KW: max(reading.battery_power_kw, 0.0),
            col.PV_CURTAIL_KW: 0.0,
        }
        for name, kw in flows.items():
            self.sums[name] = self.sums.get(name, 0.0) + kw * weight_s
        self.covered_s += weight_s
        self.soc_kwh = reading.battery_soc_kwh
        self.last_clock_s = reading.clock_s

    def flows(self) -> dict[str, float]:
        """The step's time-weighted mean flows [kW] and its last SOC [kWh]."""
        return {name: kw / self.covered_s for name, kw in self.sums.items()} | {
            col.SOC_KWH: self.soc_kwh
        }


class LatencyHistogram:
    """Counts of latencies in geometric buckets: percentiles in fixed memory.

    A controller runs for months: keeping every tick's time (a Python float each) grew the
    process by about 13 MiB over 30 simulated days at 5 s ticks, a third of what the live
    benchmark saw it grow.
    """

    def __init__(self) -> None:
        self.counts = np.zeros(LATENCY_BUCKETS, dtype=np.int64)

    def add(self, seconds: float) -> None:
        """Count one latency [s] in the bucket whose upper edge is the first at or above it."""
        ratio = max(seconds, LATENCY_FLOOR_S) / LATENCY_FLOOR_S
        bucket = math.ceil(math.log(ratio) / math.log(LATENCY_BUCKET_RATIO) - 1e-9)
        self.counts[min(bucket, LATENCY_BUCKETS - 1)] += 1

    def __len__(self) -> int:
        return int(self.counts.sum())

    def percentile_s(self, q: float) -> float:
        """The upper edge of the bucket holding the ``q``-th percentile [s] (NaN when empty).

        The nearest-rank percentile (the smallest latency with ``q``% of them at or below it),
        read at most 1% high.
        """
        total = len(self)
        if total == 0:
            return math.nan
        rank = max(math.ceil(q / 100 * total), 1)
        bucket = int(np.searchsorted(np.cumsum(self.counts), rank))
        return LATENCY_FLOOR_S * LATENCY_BUCKET_RATIO**bucket

    def __add__(self, other: "LatencyHistogram") -> "LatencyHistogram":
        both = LatencyHistogram()
        both.counts = self.counts + other.counts
        return both


@dataclass
class RunStats:
    """How fast the ticks and plans ran, and the memory the process held.

    The live benchmark's figures, logged when the controller stops.
    """

    tick_s: LatencyHistogram = field(default_factory=LatencyHistogram)
    tick_planning_s: LatencyHistogram = field(default_factory=LatencyHistogram)
    plan_s: list[float] = field(default_factory=list)
    peak_rss_after_a_day_mib: float = math.nan

    def tick(self, seconds: float, planning: bool) -> None:
        """One tick's wall time, and whether a plan was being solved meanwhile."""
        (self.tick_planning_s if planning else self.tick_s).add(seconds)

    def note_memory(self, operated_s: float) -> None:
        """Keep the peak RSS once the first simulated day is operated (caches warm)."""
        if math.isnan(self.peak_rss_after_a_day_mib) and operated_s >= 86400:
            self.peak_rss_after_a_day_mib = _peak_rss_mib()

    def summary(self) -> dict[str, float]:
        """Percentiles [ms, s] and the peak RSS [MiB] after the first day and now."""

        def percentile_ms(latencies: LatencyHistogram, q: float) -> float:
            return round(latencies.percentile_s(q) * 1e3, 3)

        both = self.tick_s + self.tick_planning_s
        return {
            "tick_p50_ms": percentile_ms(both, 50),
            "tick_p99_ms": percentile_ms(both, 99),
            "tick_p99_while_planning_ms": percentile_ms(self.tick_planning_s, 99),
            "plans": len(self.plan_s),
            "plan_p50_s": round(float(np.median(self.plan_s)), 4) if self.plan_s else math.nan,
            "plan_max_s": round(max(self.plan_s), 4) if self.plan_s else math.nan,
            "peak_rss_after_a_day_mib": round(self.peak_rss_after_a_day_mib, 1),
            "peak_rss_mib": round(_peak_rss_mib(), 1),
        }


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
