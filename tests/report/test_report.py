"""The HTML report: its numbers agree with metrics.json, and it renders in headless Chromium."""

import json
import os
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
)


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
    text = page.read_text()
    assert not [
        link for link in ('src="http', "src='http", 'href="http', "url(http") if link in text
    ], "the report must load nothing from the network"
    result = render(page, tmp_path)
    dom = result.stdout
    assert 'data-ready="yes"' in dom
    assert 'data-charts="4"' in dom
    metrics = json.loads((reported / io.METRICS).read_text())
    assert f'<span id="savings">{metrics["savings_gbp"]:,.2f} GBP</span>' in dom
    console_errors = [
        line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
    ]
    assert console_errors == []


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
