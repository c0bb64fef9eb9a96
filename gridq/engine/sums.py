"""Totals that do not depend on the order of their terms, the CPU or the BLAS build.

``a @ b`` and ``array.sum()`` reassociate their terms (pairwise, SIMD lanes, BLAS kernels chosen
per CPU), so a published total could differ in its last digits between machines. These use
``math.fsum``, which returns the correctly rounded sum of the exact products' floats.
"""

import math

import numpy as np


def exact_sum(values: np.ndarray) -> float:
    """The correctly rounded sum of ``values``, whatever their order."""
    return math.fsum(np.asarray(values, dtype=np.float64).ravel().tolist())


def exact_dot(left: np.ndarray, right: np.ndarray) -> float:
    """``sum(left * right)`` with each product rounded once and the sum rounded once."""
    return exact_sum(np.multiply(left, right, dtype=np.float64))


def group_sums(groups: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Per-group sums of ``values`` (``groups`` in ``0..size-1``), independent of their order.

    Each group is summed in ascending order of its values, so any permutation of the steps gives
    the same floats.
    """
    order = np.lexsort((values, groups))
    sorted_groups = groups[order]
    sorted_values = np.asarray(values, dtype=np.float64)[order]
    sums = np.zeros(size)
    if len(order):
        starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
        sums[sorted_groups[starts]] = np.add.reduceat(sorted_values, starts)
    return sums
