"""The report on seeded random sites, other steps and a month boundary, not only the examples."""

import json
import math

import pandas as pd
import pytest

from gridq import conventions as col
from gridq.engine.bill import REVENUE_ITEMS, item_names
from gridq.io import bundle as io
from gridq.report.html import bills_by_month
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


def test_each_months_components_stack_to_its_total(random_bundle):
    """The bill chart stacks signed components: per month they must add to the total cost."""
    inputs = io.read_bundle(random_bundle)
    covered, dispatch, baseline = io.read_solved(random_bundle, inputs)
    by_month = bills_by_month(
        inputs.site,
        inputs.run_config,
        covered,
        {"optimised": dispatch, inputs.run_config.baseline: baseline},
    )
    assert len(by_month) == 2
    metrics = json.loads((random_bundle / io.METRICS).read_text())
    for name, run_bill in (
        ("optimised", metrics["optimised"]["bill"]),
        (metrics["baseline"], metrics["baselines"][metrics["baseline"]]["bill"]),
    ):
        for bills in by_month.values():
            stacked = math.fsum(
                (-1 if item in REVENUE_ITEMS else 1) * getattr(bills[name], item)
                for item in item_names()
            )
            assert stacked == pytest.approx(bills[name].total_cost_gbp, abs=1e-9)
        months_gbp = math.fsum(bills[name].total_cost_gbp for bills in by_month.values())
        assert months_gbp == pytest.approx(run_bill["total_cost_gbp"], abs=1e-3)


def test_a_perfect_dispatch_has_no_forecast_columns(random_bundle):
    columns = set(pd.read_parquet(random_bundle / io.DISPATCH).columns)
    assert not columns & set(col.FORECAST_COLUMNS.values())
    assert set(col.DISPATCH_COLUMNS) <= columns


def test_the_report_draws_every_chart(random_bundle, tmp_path):
    result = render((random_bundle / io.REPORT).resolve(), tmp_path)
    assert 'data-ready="yes"' in result.stdout
    assert 'data-charts="4"' in result.stdout
    assert console_errors(result) == []
