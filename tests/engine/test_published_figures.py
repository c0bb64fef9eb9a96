"""Published figures mean what they say and do not depend on summation order or the machine."""

import dataclasses
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from gridq import conventions as col
from gridq.engine import sums
from gridq.engine.bill import bill
from gridq.engine.checks import check_dispatch
from gridq.engine.metrics import (
    battery_usage,
    compute_metrics,
    self_consumption_frac,
    self_sufficiency_frac,
    summarise,
)
from gridq.engine.model.problem import make_problem
from gridq.engine.run import optimise, run_baseline
from gridq.engine.synth import make_timeseries as synthetic_timeseries
from gridq.engine.tariff import CompiledTariff
from gridq.io.files import json_text
from gridq.io.params import example_bundle
from tests.conftest import PARAMS, make_site

_HUGE_GBP = 2.0**70
"""A term so large that adding any of the month's own terms (each far below half its ulp) to it
changes nothing: summed left to right, whatever follows it before its negative is lost."""


def _left_to_right_sum(values) -> float:
    total = 0.0
    for value in values:
        total += float(value)
    return total


def _dispatch(rows: list[tuple[float, ...]]) -> pd.DataFrame:
    """Rows of (load, pv, import, export, charge, discharge, curtail)."""
    frame = pd.DataFrame(
        rows,
        columns=[col.LOAD_KW, col.PV_KW, *col.FLOW_COLUMNS],
        index=pd.date_range("2025-06-02", periods=len(rows), freq="15min", tz="UTC"),
    )
    return frame.assign(**{col.SOC_KWH: 0.0})


def test_self_consumption_and_sufficiency_by_hand():
    dispatch = _dispatch(
        [
            # PV 10 covers load 4 and charges 6: all PV used, no load from the grid.
            (4, 10, 0, 0, 6, 0, 0),
            # The battery covers load 5.
            (5, 0, 0, 0, 0, 5, 0),
            # PV 4, load 2, battery 3 out, export 5: the export counts as PV first (4 kWh).
            (2, 4, 0, 5, 0, 3, 0),
            # Import 3 covers load 2 and charges 1: 2 of the load from the grid.
            (2, 0, 3, 0, 1, 0, 0),
        ]
    )
    assert self_consumption_frac(dispatch) == pytest.approx(10 / 14)
    assert self_sufficiency_frac(dispatch) == pytest.approx(1 - 2 / 13)


def test_exporting_stored_energy_never_makes_self_consumption_negative():
    # The old formula (pv - export - curtail) / pv gave (1 - 5) / 1 = -4 here.
    dispatch = _dispatch([(0, 1, 0, 5, 0, 4, 0)])
    assert self_consumption_frac(dispatch) == 0.0
    assert self_sufficiency_frac(dispatch) is None


def test_random_dispatches_keep_both_shares_in_zero_to_one():
    rng = np.random.default_rng(11)
    for _ in range(200):
        rows = rng.uniform(0, 10, size=(8, 7))
        rows[:, 6] = np.minimum(rows[:, 6], rows[:, 1])
        frame = _dispatch([tuple(row) for row in rows])
        for share in (self_consumption_frac(frame), self_sufficiency_frac(frame)):
            assert 0.0 <= share <= 1.0


def test_time_shared_import_export_steps_are_flagged():
    dispatch = _dispatch([(2, 0, 3, 1, 2, 0, 0), (2, 0, 2, 0, 0, 0, 0)])
    dispatch[col.SOC_KWH] = [0.5, 0.5]
    checks = check_dispatch(dispatch, make_site(initial_soc_frac=0.05).battery)
    assert checks["time_shared_import_export_steps"] == 1


def test_exact_sums_equal_rational_arithmetic_in_any_order():
    rng = np.random.default_rng(5)
    values = rng.normal(0, 1e4, 5000) * rng.uniform(0, 1, 5000) ** 8
    exact = float(sum(Fraction(value) for value in values))
    assert sums.exact_sum(values) == exact
    assert sums.exact_sum(values[::-1]) == exact
    assert sums.exact_sum(rng.permutation(values)) == exact
    # Constructed to cancel: summed left to right, 1.0 is lost in one order and kept in the other.
    cancelling = np.array([_HUGE_GBP, 1.0, -_HUGE_GBP])
    assert _left_to_right_sum(cancelling) != _left_to_right_sum(cancelling[[0, 2, 1]])
    assert sums.exact_sum(cancelling) == sums.exact_sum(cancelling[[0, 2, 1]]) == 1.0


def _permuted(tariff: CompiledTariff, order: np.ndarray) -> CompiledTariff:
    """The tariff with its per-step arrays in the order of ``order``."""
    return dataclasses.replace(
        tariff,
        energy_price_gbp_per_kwh=tariff.energy_price_gbp_per_kwh[order],
        duos_unit_price_gbp_per_kwh=tariff.duos_unit_price_gbp_per_kwh[order],
        export_price_gbp_per_kwh=tariff.export_price_gbp_per_kwh[order],
        excess_month_of_step=tariff.excess_month_of_step[order],
        triad_weight_per_kw=tariff.triad_weight_per_kw[order],
        flex_baseline_kw=tariff.flex_baseline_kw[order],
        flex_price_gbp_per_kwh=tariff.flex_price_gbp_per_kwh[order],
        demand_charges=tuple(
            dataclasses.replace(c, block_of_step=c.block_of_step[order])
            for c in tariff.demand_charges
        ),
        coincident_peaks=tuple(
            dataclasses.replace(c, block_of_step=c.block_of_step[order])
            for c in tariff.coincident_peaks
        ),
    )


@pytest.fixture(scope="module")
def solved_month():
    example = example_bundle(PARAMS, "commercial_demand_charge")
    site, run_config = example.site, example.run_config
    timeseries = synthetic_timeseries(
        example.series.model_copy(update={"days": 31}),
        site,
        run_config.timestep_min,
        run_config.tariff.local_timezone,
    )
    dispatch = optimise(site, run_config, timeseries).dispatch
    baseline = run_baseline(site, run_config, timeseries)
    return site, run_config, timeseries, dispatch, baseline


def test_bill_is_bit_identical_with_the_steps_permuted(solved_month):
    site, run_config, timeseries, dispatch, _ = solved_month
    tariff = make_problem(site, run_config, timeseries).tariff
    wear = site.battery.degradation_cost_gbp_per_kwh
    order = np.random.default_rng(5).permutation(len(dispatch))
    permuted = dispatch.iloc[order].set_axis(dispatch.index)  # dt is all bill() reads of it
    original, shuffled = (
        bill(dispatch, tariff, wear),
        bill(permuted, _permuted(tariff, order), wear),
    )
    assert dataclasses.asdict(original) == dataclasses.asdict(shuffled)
    assert json_text(original.as_dict()) == json_text(shuffled.as_dict())
    assert battery_usage(dispatch, site.battery) == battery_usage(permuted, site.battery)
    assert self_sufficiency_frac(dispatch) == self_sufficiency_frac(permuted)


def test_bill_is_order_free_where_naive_summation_provably_is_not(solved_month):
    """Two steps import 2**70 kW, one at +1 and one at -1 GBP/kWh (a constructed, not a real site).

    In the original order they cancel at once and the month's energy follows; moved to the
    ends, every term between them is absorbed by 2**70 and lost. IEEE-754 left-to-right sums
    of the two orders therefore differ on any machine, so swapping ``math.fsum`` for naive
    summation fails this test.
    """
    site, run_config, timeseries, dispatch, _ = solved_month
    tariff = make_problem(site, run_config, timeseries).tariff
    grid_import_kw = dispatch[col.GRID_IMPORT_KW].to_numpy().copy()
    price_gbp_per_kwh = tariff.energy_price_gbp_per_kwh.copy()
    grid_import_kw[:2] = _HUGE_GBP
    price_gbp_per_kwh[:2] = (1.0, -1.0)
    constructed = dispatch.assign(**{col.GRID_IMPORT_KW: grid_import_kw})
    constructed_tariff = dataclasses.replace(tariff, energy_price_gbp_per_kwh=price_gbp_per_kwh)
    # The negative term moves to the end, the rest shuffled between.
    middle = np.random.default_rng(5).permutation(np.arange(2, len(dispatch)))
    order = np.r_[0, middle, 1]
    permuted = constructed.iloc[order].set_axis(constructed.index)
    terms = grid_import_kw * price_gbp_per_kwh
    naive = {_left_to_right_sum(terms), _left_to_right_sum(terms[order])}
    assert len(naive) == 2  # the inputs really are order-sensitive
    assert 0.0 in naive
    exact_gbp = float(sum(Fraction(term) for term in terms)) * run_config.timestep_min / 60
    original = bill(constructed, constructed_tariff, 0.0)
    shuffled = bill(permuted, _permuted(constructed_tariff, order), 0.0)
    assert original.energy_import_gbp == shuffled.energy_import_gbp == exact_gbp
    assert exact_gbp > 1000.0
    assert dataclasses.asdict(original) == dataclasses.asdict(shuffled)


def test_metrics_json_is_byte_identical_under_another_summation(solved_month, monkeypatch):
    site, run_config, timeseries, dispatch, baseline = solved_month
    problem = make_problem(site, run_config, timeseries)

    def metrics_text() -> str:
        return json_text(
            compute_metrics(
                summarise(dispatch, problem),
                {run_config.baseline: summarise(baseline, problem)},
                run_config.baseline,
            )
        )

    before = metrics_text()
    # Exact rational arithmetic, summed back to front, in place of math.fsum.
    monkeypatch.setattr(
        sums.math, "fsum", lambda values: float(sum(Fraction(v) for v in reversed(list(values))))
    )
    assert metrics_text() == before
