"""A fleet file and the inputs of each of its tasks (a site under a scenario).

Each task's inputs are what a bundle holds: the site's bundle folder as it is on disk, or its
example drawn from params.yaml as ``gridq generate`` draws it; then the site's overrides and
the scenario's, in that order. Every task is resolved before anything is written, so a bad
fleet file fails whole, naming the site and the key.
"""

import copy
import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gridq import conventions as col
from gridq.engine.synth import SyntheticSeries, make_timeseries
from gridq.errors import ConfigError, GridqError
from gridq.io import bundle as io
from gridq.io.files import atomic_write, parse_model, read_config, write_json
from gridq.io.params import (
    SERIES,
    PipelineParams,
    apply_overrides,
    example_data,
    read_params,
    record_array,
)
from gridq.schemas import RunConfig, Site
from gridq.schemas.fleet import Fleet, FleetSite, Scenario


@dataclass(frozen=True)
class TaskConfigs:
    """A task's validated configs, and the series to draw (example sites) or the bundle."""

    site: Site
    run_config: RunConfig
    series: SyntheticSeries | None
    bundle: Path | None


def read_fleet(path: Path) -> Fleet:
    """Read and validate a fleet file."""
    return read_config(path, Fleet)


@functools.lru_cache(maxsize=4)
def _params_as_of(path: Path, modified_ns: int, size_bytes: int) -> PipelineParams:
    return read_params(path)


def _params(path: Path) -> PipelineParams:
    """params.yaml, parsed once per process while the file is unchanged.

    Parsing it for every task cost about 40 ms, a tenth of a two-week site's solve.
    """
    try:
        state = path.stat()
    except OSError:
        return read_params(path)
    return _params_as_of(path, state.st_mtime_ns, state.st_size)


def task_configs(
    fleet_file: Path, fleet: Fleet, site: FleetSite, scenario: Scenario
) -> TaskConfigs:
    """The validated configs of ``site`` under ``scenario``; one line naming what is wrong."""
    where = f"{fleet_file}: site '{site.name}', scenario '{scenario.name}'"
    root = fleet_file.parent
    parts: dict[str, dict[str, Any]]
    bundle: Path | None = None
    if site.bundle is not None:
        bundle = root / site.bundle
        io.require_bundle(bundle)
        parts = {
            "site": read_config(bundle / io.SITE_CONFIG, Site).model_dump(mode="json"),
            "run_config": read_config(bundle / io.RUN_CONFIG, RunConfig).model_dump(mode="json"),
        }
    else:
        params_path = root / fleet.params
        site_data, run_data, series = example_data(
            _params(params_path), params_path, str(site.example)
        )
        # Overrides edit nested dicts in place; some are shared with the cached params.
        parts = copy.deepcopy(
            {"site": site_data, "run_config": run_data, SERIES: series.model_dump(mode="json")}
        )
    apply_overrides(parts, site.overrides, where)
    apply_overrides(parts, scenario.overrides, where)
    record_array(parts)
    parts["site"]["name"] = site.name
    try:
        return TaskConfigs(
            site=parse_model(Site, parts["site"]),
            run_config=parse_model(RunConfig, parts["run_config"]),
            series=parse_model(SyntheticSeries, parts[SERIES]) if SERIES in parts else None,
            bundle=bundle,
        )
    except ConfigError as error:
        raise error.with_context(where) from None


def task_inputs(configs: TaskConfigs) -> io.BundleInputs:
    """The task's bundle inputs: its example's series drawn, or its bundle's timeseries read."""
    if configs.series is not None:
        tariff = configs.run_config.tariff
        timeseries = make_timeseries(
            configs.series,
            configs.site,
            configs.run_config.timestep_min,
            tariff.local_timezone,
            tariff.bank_holidays,
        )
    else:
        assert configs.bundle is not None
        timeseries = io.read_timeseries(
            configs.bundle / io.TIMESERIES, configs.run_config.timestep_min
        )
    return io.BundleInputs(site=configs.site, run_config=configs.run_config, timeseries=timeseries)


def holds_inputs(bundle: Path, inputs: io.BundleInputs) -> bool:
    """Whether ``bundle`` already holds exactly ``inputs`` (configs and timeseries)."""
    try:
        held = io.read_bundle(bundle)
    except (GridqError, OSError):
        return False
    columns = list(col.TIMESERIES_COLUMNS)
    return (
        held.site == inputs.site
        and held.run_config == inputs.run_config
        and held.timeseries.index.equals(inputs.timeseries.index)
        and np.array_equal(
            held.timeseries[columns].to_numpy(), inputs.timeseries[columns].to_numpy()
        )
    )


RESULTS = "results"
FLEET_METRICS = "fleet_metrics.json"
FLEET_REPORT = "fleet_report.html"


def write_fleet_results(
    out: Path, rows: list[dict[str, Any]], metrics: dict[str, Any], page_html: str
) -> None:
    """The results table (parquet partitioned by scenario), fleet_metrics.json and the page.

    The table is written into a fresh folder beside ``results/`` and swapped in, so a reader
    never sees half of it.
    """
    table = pa.Table.from_pylist(rows)
    out.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{RESULTS}.", dir=out))
    try:
        pq.write_to_dataset(
            table,
            staged,
            partition_cols=["scenario"],
            basename_template="part-{i}.parquet",
        )
        old = out / f".{RESULTS}.old"
        shutil.rmtree(old, ignore_errors=True)
        if (out / RESULTS).exists():
            os.replace(out / RESULTS, old)
        os.replace(staged, out / RESULTS)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    write_json(out / FLEET_METRICS, metrics)
    atomic_write(
        out / FLEET_REPORT, lambda temporary: temporary.write_text(page_html, encoding="utf-8")
    )


def read_fleet_results(out: Path) -> pd.DataFrame:
    """The results table of a fleet run, one row per task."""
    return pq.read_table(out / RESULTS).to_pandas()
