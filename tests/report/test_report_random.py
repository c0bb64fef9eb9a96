"""The report on seeded random sites, other steps and a month boundary, not only the examples."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from gridq import conventions as col
from gridq.io import bundle as io
from gridq.report.html import bill_figure, bills_by_month
from tests.conftest import PARAMS, invoke
from tests.report.test_report import console_errors, render

CASES = [
    # (example, seed, step [min], days): each crosses a month boundary.
    ("export_limited_pv", 1234, 60, 40),
    ("uk_business_duos", 99, 30, 35),
    ("pv_battery_tou", 7, 15, 21),
]


@pytest.fixture(scope="module", params=CASES, ids=[f"{c[0]}-{c[2]}min" for c in CASES])
def random_bundle(request, tmp_path_factory):
    example, seed, step_min, days = request.param
    folder = tmp_path_factory.mktemp("random") / example
    for command in (
        (
            "generate",
            example,
            "--params",
            PARAMS,
            "--out",
            folder,
            "--days",
            days,
            "--set",
            f"series.seed={seed}",
            "--set",
            f"timestep_min={step_min}",
            "--set",
            "rolling.reoptimise_every_min=1440",
        ),
        ("backtest", folder),
        ("report", folder),
    ):
        result = invoke(*command)
        assert result.exit_code == 0, result.output
    return folder


def test_each_months_bars_stack_to_its_total(random_bundle):
    """The bill chart's own numbers: per panel and month the bars add up to the total marked,
    and the months to the run's bill in metrics.json."""
    inputs = io.read_bundle(random_bundle)
    covered, dispatch, baseline = io.read_solved(random_bundle, inputs)
    names = ["optimised", inputs.run_config.baseline]
    figure = bill_figure(
        bills_by_month(
            inputs.site,
            inputs.run_config,
            covered,
            dict(zip(names, (dispatch, baseline), strict=True)),
        )
    )
    metrics = json.loads((random_bundle / io.METRICS).read_text())
    run_bills = [metrics["optimised"]["bill"], metrics["baselines"][names[1]]["bill"]]
    legend = [trace.name for trace in figure.data if trace.showlegend]
    assert len(legend) == len(set(legend)) >= 2
    for axis, run_bill in zip(("x", "x2"), run_bills, strict=True):
        panel = [trace for trace in figure.data if trace.xaxis == axis]
        # Every item in the legend has its bars in this panel too.
        assert sorted(trace.name for trace in panel) == sorted(legend)
        bars = np.array([trace.y for trace in panel if trace.type == "bar"], dtype=float)
        (total,) = (np.asarray(trace.y, dtype=float) for trace in panel if trace.type != "bar")
        assert len(total) == 2  # two months
        # float32 on the page: seven significant digits.
        np.testing.assert_allclose(bars.sum(axis=0), total, rtol=1e-6, atol=1e-3)
        assert math.fsum(total) == pytest.approx(run_bill["total_cost_gbp"], rel=1e-6)


def test_a_perfect_dispatch_has_no_forecast_columns(random_bundle):
    columns = set(pd.read_parquet(random_bundle / io.DISPATCH).columns)
    assert not columns & set(col.FORECAST_COLUMNS.values())
    assert set(col.DISPATCH_COLUMNS) <= columns


def test_the_report_draws_every_chart(random_bundle, tmp_path):
    result = render((random_bundle / io.REPORT).resolve(), tmp_path)
    assert 'data-ready="yes"' in result.stdout
    assert 'data-charts="4"' in result.stdout
    assert console_errors(result) == []
