"""Shared builders: small hand-made problems and the example bundles."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridq import conventions as col
from gridq.cli import app
from gridq.engine.timeseries import check_timeseries
from gridq.io.params import read_params
from gridq.schemas import Battery, GridConnection, RunConfig, Site
from gridq.schemas.tariff import Tariff

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"
EXAMPLE_NAMES = tuple(read_params(PARAMS).bundles)


def make_timeseries(
    load_kw: Sequence[float],
    pv_kw: Sequence[float] | None = None,
    import_price: Sequence[float] | float = 0.2,
    export_price: Sequence[float] | float = 0.0,
    start: str = "2025-01-06T00:00Z",
    step_min: int = 15,
) -> pd.DataFrame:
    n = len(load_kw)
    index = pd.date_range(start, periods=n, freq=f"{step_min}min", name=col.TIMESTAMP)
    frame = pd.DataFrame(
        {
            col.LOAD_KW: np.asarray(load_kw, dtype=float),
            col.PV_KW: np.zeros(n) if pv_kw is None else np.asarray(pv_kw, dtype=float),
            col.IMPORT_PRICE: np.broadcast_to(np.asarray(import_price, dtype=float), n),
            col.EXPORT_PRICE: np.broadcast_to(np.asarray(export_price, dtype=float), n),
        },
        index=index,
    )
    return check_timeseries(frame, step_min)


def make_site(grid: GridConnection | None = None, **battery: float | str) -> Site:
    defaults: dict[str, float | str] = {
        "capacity_kwh": 10.0,
        "charge_power_max_kw": 10.0,
        "discharge_power_max_kw": 10.0,
        "charge_efficiency_frac": 1.0,
        "discharge_efficiency_frac": 1.0,
        "terminal_soc": "free",
    }
    return Site(
        name="test_site",
        latitude_deg=51.5,
        longitude_deg=-0.1,
        battery=Battery.model_validate(defaults | battery),
        grid=grid or GridConnection(),
    )


def make_run_config(tariff: Tariff | None = None, **fields: object) -> RunConfig:
    return RunConfig.model_validate({"tariff": tariff or Tariff()} | fields)


def backtested_bundle(folder: Path, example: str = "pv_battery_tou", days: int = 3) -> Path:
    """``folder``: the ``example`` bundle of params.yaml over ``days``, generated and backtested."""
    result = invoke("generate", example, "--params", PARAMS, "--out", folder, "--days", days)
    assert result.exit_code == 0, result.output
    result = invoke("backtest", folder)
    assert result.exit_code == 0, result.output
    return folder


def invoke(*args: object):
    """Run the gridq CLI in-process; returns click's Result."""
    return CliRunner().invoke(app, [str(arg) for arg in args])


@pytest.fixture(scope="session")
def example_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example bundle, generated and backtested once per session."""
    root = tmp_path_factory.mktemp("examples")
    bundles = {}
    for name in EXAMPLE_NAMES:
        folder = root / name
        for command in (
            ("generate", name, "--params", PARAMS, "--out", folder),
            ("backtest", folder),
        ):
            result = invoke(*command)
            assert result.exit_code == 0, result.output
        bundles[name] = folder
    return bundles
