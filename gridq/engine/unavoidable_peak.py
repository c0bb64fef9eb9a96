"""The demand a period will bill whatever the battery does: the least its energy could hold.

Charging may import up to the demand already paid for and no more (see
:func:`~gridq.engine.controller.charging_ceiling_kw`). Where nothing is paid for yet (the first
days of a month with no ratchet floor), that starves the battery: on a seeded random commercial
site the first weekday of December began with the battery at its minimum, because charging
overnight would have imported more than the Sunday's 47 kW, and met a 283 kW spike empty
(prescient billed 175 kW). A period whose net load, even on the forecast's low side, is more
than a full battery could shave will bill at least the lowest level the battery could hold it
at; charging up to that level sets no peak the month would not have anyway.
"""

from collections.abc import Mapping

import numpy as np

from gridq.engine.sums import group_sums
from gridq.engine.tariff import CompiledTariff
from gridq.engine.tariff.compiled import PeakCharge
from gridq.schemas import Battery

_LEVELS = 33
"""Candidate levels per refinement; two refinements resolve the level to 1/1024 of its range."""


def holds_level(
    net_kw: np.ndarray,
    held: np.ndarray,
    levels_kw: np.ndarray,
    usable_kwh: float,
    battery: Battery,
    dt_h: float,
) -> np.ndarray:
    """For each of ``levels_kw``, whether the battery can hold import at it over ``held`` steps.

    The most a battery can do: it starts with ``usable_kwh`` above its minimum, discharges
    only where the net load passes the level, and charges as fast as it may everywhere else
    (up to the level in held steps, at full power in the others).
    """
    eta_c, eta_d = battery.charge_efficiency_frac, battery.discharge_efficiency_frac
    room_kwh = battery.soc_max_kwh - battery.soc_min_kwh
    stored_kwh = np.full(len(levels_kw), usable_kwh)
    holds = np.ones(len(levels_kw), dtype=bool)
    for net, is_held in zip(net_kw.tolist(), held.tolist(), strict=True):
        if is_held:
            excess_kw = net - levels_kw
            holds &= excess_kw <= battery.discharge_power_max_kw
            charge_kw = np.clip(-excess_kw, 0.0, battery.charge_power_max_kw)
            stored_kwh = stored_kwh - np.maximum(excess_kw, 0.0) * dt_h / eta_d
            holds &= stored_kwh >= -1e-9
        else:
            charge_kw = battery.charge_power_max_kw
        stored_kwh = np.minimum(stored_kwh + charge_kw * eta_c * dt_h, room_kwh)
    return holds


def lowest_level_kw(
    net_kw: np.ndarray, held: np.ndarray, usable_kwh: float, battery: Battery, dt_h: float
) -> float:
    """A level at or just below the lowest the battery could hold ``held`` steps at [kW].

    0 where it could hold them at zero import. Below the true level by at most 1/1024 of the
    held net load's maximum, never above it: the result is a lower bound.
    """
    if not held.any():
        return 0.0
    low_kw, high_kw = 0.0, float(net_kw[held].max())
    if high_kw <= 0 or holds_level(net_kw, held, np.array([0.0]), usable_kwh, battery, dt_h)[0]:
        return 0.0
    for _ in range(2):
        levels_kw = np.linspace(low_kw, high_kw, _LEVELS)
        holds = holds_level(net_kw, held, levels_kw, usable_kwh, battery, dt_h)
        first = int(np.argmax(holds))  # the level at the net's maximum always holds
        low_kw, high_kw = float(levels_kw[first - 1]), float(levels_kw[first])
    return low_kw


def _block_mean_kw(charge: PeakCharge, net_kw: np.ndarray) -> np.ndarray:
    """``net_kw`` with each of the charge's steps replaced by its block's mean over the steps."""
    steps = len(net_kw)
    blocks = charge.block_of_step[:steps]
    inside = blocks >= 0
    sums = group_sums(blocks[inside], net_kw[inside], len(charge.block_steps))
    counts = np.bincount(blocks[inside], minlength=len(charge.block_steps))
    averaged = net_kw.copy()
    averaged[inside] = (sums / np.maximum(counts, 1))[blocks[inside]]
    return averaged


def unavoidable_peak_kw(
    tariff: CompiledTariff,
    low_net_kw: np.ndarray,
    soc_kwh: float,
    battery: Battery,
    dt_h: float,
    known_kw: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Per demand charge of ``tariff`` and period, the least demand it will bill [kW].

    ``low_net_kw`` is the forecast's low side of load less PV over ``tariff``'s steps; the
    battery starts at ``soc_kwh``. A period's level is the lowest the battery could hold its
    steps at (:func:`lowest_level_kw`, on the charge's block averages), and no lower than
    ``known_kw`` (by charge and period: the demand already paid for), which also spares the
    search where the low side never passes it.
    """
    usable_kwh = max(soc_kwh - battery.soc_min_kwh, 0.0)
    levels = {}
    for charge in tariff.demand_charges:
        known = known_kw.get(charge.name, np.zeros(len(charge.period_names)))
        averaged = _block_mean_kw(charge, low_net_kw)
        blocks = charge.block_of_step[: len(low_net_kw)]
        period_of_step = np.full(len(blocks), -1)
        period_of_step[blocks >= 0] = charge.block_period[blocks[blocks >= 0]]
        level = np.asarray(known, dtype=float).copy()
        for period in range(len(charge.period_names)):
            held = period_of_step == period
            if held.any() and averaged[held].max() > level[period]:
                level[period] = max(
                    level[period], lowest_level_kw(averaged, held, usable_kwh, battery, dt_h)
                )
        levels[charge.name] = level
    return levels
