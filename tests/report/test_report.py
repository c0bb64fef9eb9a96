"""The HTML report: its numbers agree with metrics.json, and it renders in headless Chromium."""

import json
import os
import re
import shutil
import subprocess

import pandas as pd
import pytest

from gridq.io import bundle as io
from tests.conftest import PARAMS, invoke

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Every name resolves to nothing: a page that fetched anything would log an error.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    # Headless Chromium waits until the page's scripts and timers settle (virtual time).
    "--virtual-time-budget=60000",
)
CHART_IDS = ("whole-run", "monthly-bill", "monthly-peaks", "soc-heatmap")


def chromium() -> str:
    """Debian's chromium, installed on first use when missing (the machines run as root)."""
    found = shutil.which("chromium")
    if found is None:
        apt = {
            "env": os.environ | {"DEBIAN_FRONTEND": "noninteractive"},
            "check": True,
            "capture_output": True,
        }
        subprocess.run(["apt-get", "update", "-qq"], **apt)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], **apt)
        found = shutil.which("chromium")
    assert found, "chromium could not be installed"
    return found


def screenshot(page, path, height_px=2600) -> None:
    """Save a PNG of ``page`` as headless Chromium draws it."""
    subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={path.parent / (path.stem + '-profile')}",
            f"--screenshot={path}",
            f"--window-size=1200,{height_px}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert path.stat().st_size > 10_000


def assert_offline(text: str) -> None:
    """The page loads no script, style or image from anywhere: plotly.js is inline."""
    assert "<script src" not in text
    assert "<link" not in text
    assert "<img" not in text


def console_errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    """Lines where the page logged to the console or threw."""
    return [line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def render(page, tmp_path) -> subprocess.CompletedProcess[str]:
    """The page's DOM after headless Chromium ran its scripts (stdout), and its log (stderr)."""
    return subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.fixture(scope="module")
def reported(example_bundles):
    bundle = example_bundles["commercial_demand_charge"]
    result = invoke("report", bundle)
    assert result.exit_code == 0, result.output
    return bundle


@pytest.mark.parametrize(
    ("example", "months"),
    [
        ("commercial_demand_charge", ["2025-01", "2025-02"]),
        # Triads, excess capacity and fixed charges: each month keeps the run's share of them.
        ("uk_business_duos", ["2025-01", "2025-02"]),
    ],
)
def test_monthly_bills_add_up_to_the_total(example_bundles, example, months):
    bundle = example_bundles[example]
    result = invoke("report", bundle)
    assert result.exit_code == 0, result.output
    metrics = json.loads((bundle / io.METRICS).read_text())
    monthly = pd.read_csv(bundle / io.PLOT_MONTHLY_BILLS)
    assert list(monthly["month"]) == months
    for column, its_bill in [
        ("optimised_total_cost_gbp", metrics["optimised"]["bill"]),
        ("no_battery_total_cost_gbp", metrics["baselines"]["no_battery"]["bill"]),
    ]:
        assert monthly[column].sum() == pytest.approx(its_bill["total_cost_gbp"], abs=1e-3)


def test_report_renders_in_headless_chromium(reported, tmp_path):
    page = (reported / io.REPORT).resolve()
    assert_offline(page.read_text())
    result = render(page, tmp_path)
    dom = result.stdout
    assert 'data-ready="yes"' in dom
    assert 'data-charts="4"' in dom
    for chart_id in CHART_IDS:
        # Plotly drew it: the div holds its SVG.
        assert re.search(f'<div id="{chart_id}" class="[^"]*js-plotly-plot', dom), chart_id
    assert dom.count('class="main-svg"') >= 2 * len(CHART_IDS)
    metrics = json.loads((reported / io.METRICS).read_text())
    assert f'<span id="savings">{metrics["savings_gbp"]:,.2f} GBP</span>' in dom
    assert console_errors(result) == []
    screenshot(page, tmp_path / "report.png")


def test_the_report_is_the_same_bytes_every_time(reported, tmp_path):
    """report.html is a DVC output: a rebuild must not change it."""
    first = (reported / io.REPORT).read_bytes()
    result = invoke("report", reported)
    assert result.exit_code == 0, result.output
    assert (reported / io.REPORT).read_bytes() == first


def test_a_rolling_report_shows_the_forecast_against_actuals(tmp_path):
    folder = tmp_path / "home"
    for command in (
        ("generate", "pv_battery_tou", "--params", PARAMS, "--out", folder, "--days", "10"),
        (
            "backtest",
            folder,
            "--mode",
            "rolling",
            "--forecast",
            "persistence_day",
            "--reoptimise-every",
            "4h",
        ),
        ("report", folder),
    ):
        result = invoke(*command)
        assert result.exit_code == 0, result.output
    dispatch = pd.read_parquet(folder / io.DISPATCH)
    metrics = json.loads((folder / io.METRICS).read_text())
    # The forecast columns are what the plans were made on: their error is the reported one.
    for series, forecast in (("load_kw", "load_forecast_kw"), ("pv_kw", "pv_forecast_kw")):
        error_kw = (dispatch[forecast] - dispatch[series]).abs().mean()
        # metrics.json rounds to 6 decimals.
        assert error_kw == pytest.approx(metrics["forecast_error"][series]["mae_kw"], abs=1e-6)
        assert error_kw > 0
    page = (folder / io.REPORT).resolve()
    result = render(page, tmp_path)
    assert 'data-charts="5"' in result.stdout
    assert 'data-ready="yes"' in result.stdout
    assert '<div id="forecast"' in result.stdout
    assert "operated on forecasts (rolling)" in result.stdout
    assert console_errors(result) == []


def test_underwriting_page_renders_in_headless_chromium(tmp_path):
    folder = tmp_path / "site"
    for command in (
        (
            "generate",
            "commercial_demand_charge",
            "--params",
            PARAMS,
            "--out",
            folder,
            "--days",
            "9",
        ),
        ("underwrite", folder),
    ):
        result = invoke(*command)
        assert result.exit_code == 0, result.output
    result = render((folder / io.UNDERWRITING_REPORT).resolve(), tmp_path)
    assert 'data-ready="yes"' in result.stdout
    assert 'data-charts="2"' in result.stdout
    summary = json.loads((folder / io.UNDERWRITING).read_text())
    assert f'<span id="npv">{summary["reference"]["npv_gbp"]:,.0f} GBP</span>' in result.stdout
    bound = summary["perfect_foresight_bound"]["npv_gbp"]
    assert f"perfect-foresight bound {bound:,.0f} GBP" in result.stdout
    assert "State of health at the end of each year" in result.stdout
    assert console_errors(result) == []
    screenshot((folder / io.UNDERWRITING_REPORT).resolve(), tmp_path / "underwriting.png")
