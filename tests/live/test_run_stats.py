"""The controller's run figures: tick-latency percentiles kept in fixed memory."""

import math

import numpy as np
import pytest

from gridq.live.steps import LATENCY_BUCKET_RATIO, LatencyHistogram, RunStats


def nearest_rank(latencies_s: np.ndarray, q: float) -> float:
    ordered = np.sort(latencies_s)
    return float(ordered[max(math.ceil(q / 100 * len(ordered)), 1) - 1])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_read_at_most_one_percent_high(seed):
    latencies_s = np.random.default_rng(seed).lognormal(np.log(3e-3), 1.0, size=20_000)
    histogram = LatencyHistogram()
    for seconds in latencies_s:
        histogram.add(float(seconds))
    assert len(histogram) == len(latencies_s)
    for q in (1, 50, 90, 99, 99.9, 100):
        exact_s = nearest_rank(latencies_s, q)
        assert exact_s <= histogram.percentile_s(q) <= exact_s * LATENCY_BUCKET_RATIO, q


def test_two_slow_ticks_in_a_hundred_make_the_p99_and_not_the_p98():
    histogram = LatencyHistogram()
    for seconds in [0.002] * 98 + [0.040] * 2:
        histogram.add(seconds)
    assert histogram.percentile_s(98) == pytest.approx(0.002, rel=0.01)
    assert histogram.percentile_s(99) == pytest.approx(0.040, rel=0.01)


def test_latencies_beyond_the_range_are_counted_at_its_ends():
    histogram = LatencyHistogram()
    for seconds in (0.0, 1e-9, 1e4):
        histogram.add(seconds)
    assert histogram.percentile_s(50) == pytest.approx(1e-6)
    assert 100 < histogram.percentile_s(100) < 1e4  # the last bucket takes it


def test_a_run_with_no_ticks_has_no_percentiles():
    summary = RunStats().summary()
    assert math.isnan(summary["tick_p99_ms"])
    assert math.isnan(summary["tick_p99_while_planning_ms"])


def test_the_p99_counts_ticks_with_and_without_a_plan_being_solved():
    stats = RunStats()
    for _ in range(99):
        stats.tick(0.001, planning=False)
    stats.tick(0.030, planning=True)
    stats.tick(0.030, planning=True)
    summary = stats.summary()
    assert summary["tick_p50_ms"] == pytest.approx(1.0, rel=0.01)
    assert summary["tick_p99_ms"] == pytest.approx(30.0, rel=0.01)
    assert summary["tick_p99_while_planning_ms"] == pytest.approx(30.0, rel=0.01)
