"""``gridq tariff show`` and ``gridq bill``, and invalid tariffs."""

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gridq.engine.bill import REVENUE_ITEMS, item_names
from gridq.io import bundle as io
from tests.conftest import REPO, invoke

LIBRARY = sorted((REPO / "data" / "tariffs").glob("*.yaml"))


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_tariff_show_prints_every_library_tariff(path):
    result = invoke("tariff", "show", path)
    assert result.exit_code == 0, result.output
    assert "standing charge:" in result.stdout
    assert "grid rules:" in result.stdout


def test_tariff_show_names_bands_and_charges():
    result = invoke("tariff", "show", REPO / "data" / "tariffs" / "uk_hh_business_duos.yaml")
    for text in ("red", "16:00-19:00", "0.18", "300 kVA", "triads: 60 GBP/kW"):
        assert text in result.stdout


BAD_TARIFFS = {
    "overlapping bands": (
        "energy:\n  bands:\n"
        "    - {name: a, rate_gbp_per_kwh: 0.1, end_local: '12:00'}\n"
        "    - {name: b, rate_gbp_per_kwh: 0.2, start_local: '11:00'}\n",
        "energy.bands: bands 'a' and 'b' overlap at 11:00",
    ),
    "gap in a day": (
        "energy:\n  bands:\n    - {name: a, rate_gbp_per_kwh: 0.1, end_local: '12:00'}\n",
        "energy.bands: no band covers 12:00",
    ),
    "unknown component": ("capacity_market: {rate: 1}\n", "capacity_market: unknown key"),
    "negative rate": (
        "export: {rate_gbp_per_kwh: -0.1}\n",
        "export.flat.rate_gbp_per_kwh: Input should be greater than or equal to 0",
    ),
}


@pytest.mark.parametrize("case", BAD_TARIFFS)
def test_invalid_tariff_is_one_line_naming_the_field(tmp_path, case):
    text, expected = BAD_TARIFFS[case]
    path = tmp_path / "tariff.yaml"
    path.write_text(text)
    result = invoke("tariff", "show", path)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert f"{path}: {expected}" in result.stderr


def _bill_rows(stdout: str) -> dict[str, float]:
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│") if cell.strip()]
        if len(cells) == 2 and cells[0].split()[0].endswith("_gbp"):
            rows[cells[0].split()[0]] = float(cells[1].replace(",", ""))
    return rows


def test_bill_is_itemised_and_sums_to_the_total(example_bundles):
    bundle = example_bundles["uk_business_duos"]
    result = invoke("bill", bundle)
    assert result.exit_code == 0, result.output
    rows = _bill_rows(result.stdout)
    signed = sum(
        -rows[name] if name in REVENUE_ITEMS else rows[name]
        for name in item_names()
        if name != "degradation_cost_gbp"
    )
    assert signed == pytest.approx(rows["supplier_bill_gbp"], abs=0.02)
    metrics = json.loads((bundle / io.METRICS).read_text())
    assert rows["total_cost_gbp"] == pytest.approx(
        metrics["optimised"]["bill"]["total_cost_gbp"], abs=0.01
    )


def test_bill_prices_meter_data_with_only_grid_flows(example_bundles, tmp_path: Path):
    bundle = example_bundles["uk_business_duos"]
    baseline = pq.read_table(bundle / io.BASELINE).to_pandas()
    meter = baseline[["timestamp", "grid_import_kw", "grid_export_kw"]]
    path = tmp_path / "meter.parquet"
    pq.write_table(pa.Table.from_pandas(meter, preserve_index=False), path)
    rows = _bill_rows(invoke("bill", bundle, "--dispatch", path).stdout)
    metrics = json.loads((bundle / io.METRICS).read_text())
    assert rows["supplier_bill_gbp"] == pytest.approx(
        metrics["baselines"]["no_battery"]["bill"]["supplier_bill_gbp"], abs=0.01
    )


def test_bill_rejects_a_dispatch_of_another_period(example_bundles):
    other = example_bundles["pv_battery_tou"] / io.DISPATCH
    result = invoke("bill", example_bundles["uk_business_duos"], "--dispatch", other)
    assert result.exit_code == 2
    assert "price it with a bundle of the same period" in result.stderr
    assert pd.Timestamp("2025-03-17").strftime("%Y-%m-%d") in result.stderr
