"""Elementwise exp, log, sin, cos and powers that give the same floats on every CPU.

NumPy dispatches these ufuncs per CPU: on an AVX-512 machine (``X86_V4``) its own vectorised
float64 ``exp``, ``log``, ``sin``, ``cos`` and ``power`` round some results differently from the
C library it calls elsewhere. Fed into a plan or an ageing model, one ulp can pick another of
equally cheap schedules, so a published table changed with the machine that made it (the
underwriting table did between two CI hosts). These call Python's ``math`` (the C library) on
each element: the floats NumPy gives on an AVX2 machine, on any machine.
"""

import math
from collections.abc import Callable

import numpy as np

_Unary = Callable[[float], float]


def _each(function: _Unary, values: np.ndarray | list[float]) -> np.ndarray:
    flat = np.asarray(values, dtype=np.float64)
    out = np.fromiter(map(function, flat.ravel().tolist()), dtype=np.float64, count=flat.size)
    return out.reshape(flat.shape)


def _exp(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def _log(value: float) -> float:
    if value > 0:
        return math.log(value)
    return -math.inf if value == 0 else math.nan


def _periodic(function: _Unary) -> _Unary:
    return lambda value: function(value) if math.isfinite(value) else math.nan


_sin = _periodic(math.sin)
_cos = _periodic(math.cos)


def exp(values: np.ndarray | list[float]) -> np.ndarray:
    """``e ** values``, element by element (``inf`` where it overflows, as NumPy's)."""
    return _each(_exp, values)


def log(values: np.ndarray | list[float]) -> np.ndarray:
    """The natural log, element by element (``-inf`` at 0 and NaN below, as NumPy's)."""
    return _each(_log, values)


def sin(values: np.ndarray | list[float]) -> np.ndarray:
    """``sin`` of ``values`` [radians], element by element."""
    return _each(_sin, values)


def cos(values: np.ndarray | list[float]) -> np.ndarray:
    """``cos`` of ``values`` [radians], element by element."""
    return _each(_cos, values)


def powers(base: float, exponents: np.ndarray) -> np.ndarray:
    """``base ** k`` for each integer ``k`` of ``exponents``."""
    return np.array([float(base) ** int(k) for k in np.asarray(exponents).ravel()], dtype=float)
