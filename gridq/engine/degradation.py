"""Battery ageing: rainflow-counted cycle fade against a cycle-life curve, plus calendar fade.

A cycle of depth ``d`` (share of the usable capacity) costs ``(1 - SOH_eol) / N(d)`` of state
of health, where ``N(d)`` is the cycle life at that depth, interpolated log-log between the
curve's points and extrapolated along its end segments (so shallow cycles cost little). A year
also loses ``calendar_fade + k * (mean SOC - 0.5)``, at least zero. The LP itself keeps a linear
throughput cost (``degradation_cost_gbp_per_kwh``); this model ages the battery between years.
"""

from dataclasses import dataclass

import numpy as np
import rainflow

from gridq.engine import elementwise
from gridq.engine.sums import exact_dot, exact_sum
from gridq.schemas import Degradation


def rainflow_cycles(soc_frac: np.ndarray) -> list[tuple[float, float]]:
    """(depth, count) of every cycle in a SOC profile, by ASTM E1049 rainflow counting.

    Half cycles count 0.5; depths are in the profile's units (a share of capacity here).
    """
    return [(float(depth), float(count)) for depth, count in rainflow.count_cycles(soc_frac)]


def cycle_life(depth_frac: np.ndarray, degradation: Degradation) -> np.ndarray:
    """Cycles to end of life at each depth, from the curve (log-log, linear end segments)."""
    depths = elementwise.log([p.depth_of_discharge_frac for p in degradation.cycle_life])
    lives = elementwise.log([p.cycles_to_end_of_life for p in degradation.cycle_life])
    log_depth = elementwise.log(np.asarray(depth_frac, dtype=float))
    if len(depths) == 1:
        # One point: damage proportional to depth.
        return elementwise.exp(lives[0] - (log_depth - depths[0]))
    inside = np.interp(log_depth, depths, lives)
    low_slope = (lives[1] - lives[0]) / (depths[1] - depths[0])
    high_slope = (lives[-1] - lives[-2]) / (depths[-1] - depths[-2])
    below = lives[0] + low_slope * (log_depth - depths[0])
    above = lives[-1] + high_slope * (log_depth - depths[-1])
    return elementwise.exp(
        np.where(log_depth < depths[0], below, np.where(log_depth > depths[-1], above, inside))
    )


@dataclass(frozen=True)
class Ageing:
    """What one period of operation did to the battery (shares of nameplate SOH)."""

    cycle_fade_frac: float
    calendar_fade_frac: float
    equivalent_full_cycles: float
    mean_soc_frac: float

    @property
    def fade_frac(self) -> float:
        """SOH lost in total."""
        return self.cycle_fade_frac + self.calendar_fade_frac


def age_one_year(
    soc_kwh: np.ndarray,
    usable_capacity_kwh: float,
    profile_share_of_year: float,
    degradation: Degradation,
) -> Ageing:
    """Ageing over a year in which the battery repeats the SOC profile ``soc_kwh``.

    The profile covers ``profile_share_of_year`` of a year (1.0 for a full year), so its cycles
    count ``1 / profile_share_of_year`` times. Depths and the mean SOC are shares of the usable
    capacity the battery had.
    """
    repeats = 1.0 / profile_share_of_year
    soc_frac = np.asarray(soc_kwh, dtype=float) / usable_capacity_kwh
    cycles = [(depth, count) for depth, count in rainflow_cycles(soc_frac) if depth > 0]
    depth = np.array([d for d, _ in cycles], dtype=float)
    count = np.array([c for _, c in cycles], dtype=float)
    damage = exact_sum(count / cycle_life(depth, degradation)) if cycles else 0.0
    mean_soc = float(soc_frac.mean())
    calendar = degradation.calendar_fade_frac_per_year + degradation.calendar_fade_per_soc_frac * (
        mean_soc - 0.5
    )
    return Ageing(
        cycle_fade_frac=damage * (1.0 - degradation.end_of_life_soh_frac) * repeats,
        calendar_fade_frac=max(calendar, 0.0),
        equivalent_full_cycles=exact_dot(depth, count) * repeats,
        mean_soc_frac=mean_soc,
    )
