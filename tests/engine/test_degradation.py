"""Ageing: rainflow counting, the cycle-life curve, calendar fade."""

import numpy as np
import pytest

from gridq.engine.degradation import age_one_year, cycle_life, rainflow_cycles
from gridq.schemas import CycleLifePoint, Degradation

# ASTM E1049-85 (2017), figure 6: the standard's rainflow example and its cycle list.
ASTM_LOADS = [-2, 1, -3, 5, -1, 3, -4, 4, -2]
ASTM_CYCLES = [(3, 0.5), (4, 1.5), (6, 0.5), (8, 1.0), (9, 0.5)]

LINEAR = Degradation(
    cycle_life=(
        CycleLifePoint(depth_of_discharge_frac=0.5, cycles_to_end_of_life=2000),
        CycleLifePoint(depth_of_discharge_frac=1.0, cycles_to_end_of_life=1000),
    ),
    end_of_life_soh_frac=0.8,
    calendar_fade_frac_per_year=0.02,
)


def test_rainflow_counts_the_standard_example():
    assert rainflow_cycles(np.array(ASTM_LOADS, dtype=float)) == ASTM_CYCLES
    # As a SOC profile (loads scaled into 0..1), the same cycles at a tenth of the depth.
    scaled = rainflow_cycles((np.array(ASTM_LOADS) + 5) / 10)
    assert sum(count for _, count in scaled) == pytest.approx(4.0)
    # (3 * 0.5 + 4 * 1.5 + 6 * 0.5 + 8 * 1 + 9 * 0.5) / 10
    assert sum(depth * count for depth, count in scaled) == pytest.approx(2.3)


def test_cycle_life_interpolates_log_log_and_extends_the_end_segments():
    # Points (0.5, 2000) and (1.0, 1000): N = 1000 / d on and beyond the segment.
    depths = np.array([0.25, 0.5, 0.7071067811865476, 1.0])
    assert cycle_life(depths, LINEAR) == pytest.approx(1000 / depths)


def test_a_battery_idle_all_year_only_loses_calendar_ageing():
    ageing = age_one_year(np.full(35040, 50.0), 100.0, 1.0, LINEAR)
    assert ageing.cycle_fade_frac == 0.0
    assert ageing.equivalent_full_cycles == 0.0
    assert ageing.fade_frac == pytest.approx(0.02)


def test_full_cycles_cost_their_share_of_life_by_hand():
    # 100 full cycles a quarter-year, repeated 4 times: 400 cycles of depth 1.0 of 1000 to
    # 80% SOH cost 400 / 1000 * 0.2 = 0.08 SOH, plus 0.02 calendar.
    one_cycle = [0.0, 100.0]
    soc_kwh = np.array(one_cycle * 100 + [0.0])
    ageing = age_one_year(soc_kwh, 100.0, 0.25, LINEAR)
    assert ageing.equivalent_full_cycles == pytest.approx(400.0)
    assert ageing.cycle_fade_frac == pytest.approx(0.08)
    assert ageing.fade_frac == pytest.approx(0.10)


def test_a_high_average_soc_ages_faster_when_asked():
    sensitive = LINEAR.model_copy(update={"calendar_fade_per_soc_frac": 0.04})
    full = age_one_year(np.full(100, 90.0), 100.0, 1.0, sensitive)
    empty = age_one_year(np.full(100, 10.0), 100.0, 1.0, sensitive)
    assert full.calendar_fade_frac == pytest.approx(0.02 + 0.04 * 0.4)
    assert empty.calendar_fade_frac == pytest.approx(0.02 - 0.04 * 0.4)


def test_cycle_life_points_must_be_ordered():
    with pytest.raises(ValueError, match="strictly increasing"):
        Degradation(cycle_life=tuple(reversed(LINEAR.cycle_life)))
