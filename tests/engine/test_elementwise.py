"""The CPU-independent elementwise maths: NumPy's values and edge cases, used everywhere."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from gridq.engine import elementwise

_GRIDQ = Path(__file__).resolve().parents[2] / "gridq"
_DISPATCHED = re.compile(
    r"\bnp\.(exp|exp2|expm1|log|log2|log10|log1p|power|sin|cos|tan|sinh|cosh|tanh|"
    r"arcsin|arccos|arctan|arctan2|cbrt)\(|\*\* *\(?-?np\."
)
"""NumPy ufuncs with a separate AVX-512 kernel (``numpy.lib.introspect.opt_func_info``)."""
_MAY_DISPATCH = {"engine/elementwise.py", "runners/bench.py"}
"""runners/bench.py: the benchmark's own load and PV shapes, never published."""


def test_each_function_gives_the_c_librarys_value_of_every_element():
    values = np.random.default_rng(7).uniform(-30, 30, (40, 25))
    assert elementwise.exp(values).shape == (40, 25)
    for got, expected in (
        (elementwise.exp(values), [math.exp(v) for v in values.ravel()]),
        (elementwise.log(np.abs(values)), [math.log(abs(v)) for v in values.ravel()]),
        (elementwise.sin(values), [math.sin(v) for v in values.ravel()]),
        (elementwise.cos(values), [math.cos(v) for v in values.ravel()]),
    ):
        assert got.ravel().tolist() == expected


def test_edges_are_numpys():
    with np.errstate(all="ignore"):
        for ours, numpys, values in (
            (elementwise.exp, np.exp, [-800.0, 0.0, 710.0, math.inf, -math.inf, math.nan]),
            (elementwise.log, np.log, [0.0, -1.0, 1.0, math.inf, math.nan]),
            (elementwise.sin, np.sin, [math.inf, -math.inf, math.nan, 0.0]),
            (elementwise.cos, np.cos, [math.inf, math.nan, 0.0]),
        ):
            np.testing.assert_array_equal(ours(values), numpys(np.asarray(values)))
    assert elementwise.exp([]).shape == (0,)


@pytest.mark.parametrize("base", [1.07, 0.93, 2.0])
def test_powers_by_hand(base):
    assert elementwise.powers(base, np.arange(4)).tolist() == [1.0, base, base * base, base**3]


def test_no_module_calls_a_cpu_dispatched_ufunc():
    """A published figure made with one would change with the CPU that made it."""
    offenders = [
        f"{path.relative_to(_GRIDQ.parent)}:{number}: {line.strip()}"
        for path in sorted(_GRIDQ.rglob("*.py"))
        if path.relative_to(_GRIDQ).as_posix() not in _MAY_DISPATCH
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _DISPATCHED.search(line)
    ]
    assert not offenders, "use gridq.engine.elementwise instead:\n" + "\n".join(offenders)
