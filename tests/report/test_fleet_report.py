"""The fleet page: its numbers agree with fleet_metrics.json; it renders in headless Chromium."""

import json

import yaml

from gridq.io import fleet as fleet_io
from tests.conftest import PARAMS, invoke
from tests.report.test_report import assert_offline, console_errors, render, screenshot


def fleet_file(folder, coupling=None):
    fleet = {
        "name": "page_fleet",
        "params": str(PARAMS),
        "scenarios": [
            {"name": "base"},
            {"name": "big", "overrides": ["battery.capacity_kwh=900"]},
        ],
        "sites": [
            {
                "name": f"office-{seed}",
                "example": "commercial_demand_charge",
                "overrides": [f"series.seed={seed}", "series.days=2"],
            }
            for seed in (801, 802, 803)
        ],
    }
    if coupling is not None:
        fleet["coupling"] = coupling
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet, sort_keys=False))
    return path


def test_the_fleet_page_renders_with_its_numbers(tmp_path):
    out = tmp_path / "out"
    result = invoke("fleet", "run", fleet_file(tmp_path), "--out", out, "--workers", 2)
    assert result.exit_code == 0, result.output
    page = (out / fleet_io.FLEET_REPORT).resolve()
    assert_offline(page.read_text())
    rendered = render(page, tmp_path)
    dom = rendered.stdout
    assert 'data-ready="yes"' in dom
    assert 'data-charts="2"' in dom
    metrics = json.loads((out / fleet_io.FLEET_METRICS).read_text())
    for name in ("base", "big"):
        total = metrics["scenarios"][name]["total_savings_gbp"]
        assert f'<td id="total-{name}">{total:,.2f}</td>' in dom
    assert "the 5 highest and lowest savings" in dom
    assert console_errors(rendered) == []
    screenshot(page, tmp_path / "fleet.png", height_px=1600)


def test_a_coupled_fleet_page_shows_the_summed_import_against_the_limit(tmp_path):
    coupling = {"import_limit_kw": 480.0, "method": "decomposed", "gap_frac": 1e-5}
    out = tmp_path / "out"
    result = invoke("fleet", "run", fleet_file(tmp_path, coupling), "--out", out, "--workers", 2)
    assert result.exit_code == 0, result.output
    dom = render((out / fleet_io.FLEET_REPORT).resolve(), tmp_path).stdout
    # Two summary charts and one profile per scenario.
    assert 'data-charts="4"' in dom
    assert 'data-ready="yes"' in dom
    assert "base: the sites' summed import against the shared limit" in dom
    metrics = json.loads((out / fleet_io.FLEET_METRICS).read_text())
    assert metrics["scenarios"]["base"]["peak_import_kw"] <= 480.0 + 1e-6
    assert "above the joint optimum (proven lower bound" in dom
    # The three offices peak at 588 kW together on their own: the limit binds.
    assert metrics["scenarios"]["base"]["solve"]["rounds"] > 1
