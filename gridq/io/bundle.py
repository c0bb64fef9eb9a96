"""Run bundles: their files, reading and validating inputs, publishing outputs with lineage.

A bundle is a folder: ``site_config.yaml``, ``run_config.yaml`` and ``timeseries.parquet`` in;
``dispatch.parquet``, ``baseline.parquet``, ``solve_stats.json``, ``metrics.json`` and
``bundle_metadata.json`` out (``timings.json`` holds wall-clock timings, which vary run to run
and so stay out of every other file). Files are written atomically (:mod:`gridq.io.files`) and
a command's outputs published together (:mod:`gridq.io.publish`).
"""

import fcntl
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import gridq
from gridq import conventions as col
from gridq.engine.forecast import SIDE_COLUMNS
from gridq.engine.plausibility import check_meter, check_plausible, check_site_powers
from gridq.engine.timeseries import (
    check_time_index,
    check_timeseries,
    checked_values,
    covered_steps,
)
from gridq.errors import BundleError, ConfigError, InputError
from gridq.io import lineage
from gridq.io.files import (
    PUBLISHED_DECIMALS,
    about_file,
    json_text,
    one_read_per_file,
    parquet_bytes,
    parse_model,
    plain_table_bytes,
    read_config,
    read_json,
    read_table,
    table_bytes,
    write_json,
    yaml_bytes,
)
from gridq.io.publish import PUBLISH_JOURNAL, publish, roll_forward
from gridq.schemas import RunConfig, Site
from gridq.schemas.tariff import Tariff

SITE_CONFIG = "site_config.yaml"
RUN_CONFIG = "run_config.yaml"
TIMESERIES = "timeseries.parquet"
DISPATCH = "dispatch.parquet"
BASELINE = "baseline.parquet"
SOLVE_STATS = "solve_stats.json"
METRICS = "metrics.json"
METADATA = "bundle_metadata.json"
TIMINGS = "timings.json"
FORECASTS = "forecasts.parquet"
VALIDATION = "validation.json"
REPORT = "report.html"
PLOT_WEEK = "plot_week.csv"
PLOT_MONTHLY_BILLS = "plot_monthly_bills.csv"
DISPATCH_VALIDATION = "dispatch_validation.json"
UNDERWRITING_YEARS = "underwriting.parquet"
UNDERWRITING = "underwriting.json"
UNDERWRITING_SWEEP = "underwriting_sweep.parquet"
UNDERWRITING_REPORT = "underwriting.html"
IMPORT_PROVENANCE = "import_provenance.json"
"""Written by ``gridq import``: where the timeseries came from (repeated in the metadata)."""
FORECAST_EVALUATION = "forecast_evaluation.json"
INPUT_FILES = (SITE_CONFIG, RUN_CONFIG, TIMESERIES)
OUTPUT_FILES = (DISPATCH, BASELINE, SOLVE_STATS, METRICS)
LINEAGE_OUTPUTS = (
    *OUTPUT_FILES,
    VALIDATION,
    DISPATCH_VALIDATION,
    FORECAST_EVALUATION,
    UNDERWRITING,
    METADATA,
)
"""The outputs that carry a lineage record, checked by every reader and ``gridq verify``."""
SIDECAR_DOCUMENTS = (METRICS, FORECAST_EVALUATION, UNDERWRITING)
"""Documents DVC reads as metrics: their lineage record sits beside them (``*.lineage.json``)."""
LOCK_WAIT_ENV = "GRIDQ_LOCK_WAIT_S"
DEFAULT_LOCK_WAIT_S = 600.0
LOCK_POLL_S = 0.1


@dataclass(frozen=True)
class BundleInputs:
    """A bundle's validated inputs; ``timeseries`` is checked and on a UTC index."""

    site: Site
    run_config: RunConfig
    timeseries: pd.DataFrame


def read_timeseries(path: Path, timestep_min: int) -> pd.DataFrame:
    """Read and check ``timeseries.parquet``."""
    frame = read_table(path)
    with about_file(path):
        return check_timeseries(frame, timestep_min)


def require_bundle(bundle: Path) -> Path:
    """Return ``bundle`` if it is a folder."""
    if not bundle.is_dir():
        raise BundleError(f"{bundle}: not a folder; give the path of a run bundle")
    return bundle


def read_bundle(bundle: Path) -> BundleInputs:
    """Read and validate the three inputs of a bundle."""
    require_bundle(bundle)
    run_config = read_config(bundle / RUN_CONFIG, RunConfig)
    site = read_config(bundle / SITE_CONFIG, Site)
    timeseries = read_timeseries(bundle / TIMESERIES, run_config.timestep_min)
    with about_file(bundle / TIMESERIES):
        check_plausible(timeseries, run_config.plausibility, site)
    return BundleInputs(site=site, run_config=run_config, timeseries=timeseries)


def read_dispatch(path: Path, timestep_min: int) -> pd.DataFrame:
    """Read a dispatch table (``dispatch.parquet`` or ``baseline.parquet``).

    A rolling run's forecast columns, where present, are kept after the dispatch's own.
    """
    frame = read_table(path)
    with about_file(path):
        if col.TIMESTAMP not in frame.columns:
            raise InputError(f"missing column '{col.TIMESTAMP}'")
        missing = [c for c in col.DISPATCH_COLUMNS if c not in frame.columns]
        if missing:
            raise InputError(
                f"missing column(s) {missing}; a dispatch needs {list(col.DISPATCH_COLUMNS)}"
            )
        frame = frame.set_index(col.TIMESTAMP)
        frame.index = check_time_index(frame.index, timestep_min)
        forecasts = [c for c in col.FORECAST_COLUMNS.values() if c in frame.columns]
        return frame[[*col.DISPATCH_COLUMNS, *forecasts]].astype("float64")


def write_inputs(bundle: Path, site: Site, run_config: RunConfig, timeseries: pd.DataFrame) -> None:
    """Publish a bundle's three inputs together (``gridq generate``); hold the bundle's lock."""
    publish(
        bundle,
        {
            SITE_CONFIG: yaml_bytes(site.model_dump(mode="json")),
            RUN_CONFIG: yaml_bytes(run_config.model_dump(mode="json")),
            TIMESERIES: table_bytes(timeseries[list(col.TIMESERIES_COLUMNS)]),
        },
    )


def metadata_document(bundle: Path, inputs: BundleInputs) -> dict[str, Any]:
    """bundle_metadata.json: versions, the inputs' hashes as read, and the validated config.

    Published with the outputs it describes (see :func:`write_outputs`), which adds the hash
    of every file published with it.
    """
    return {
        "gridq_version": gridq.__version__,
        "versions": {name: version(name) for name in ("linopy", "highspy", "pandas", "pyarrow")},
        "inputs_sha256": {name: lineage.sha256_file(bundle / name) for name in INPUT_FILES},
        "site": inputs.site.model_dump(mode="json"),
        "run_config": inputs.run_config.model_dump(mode="json"),
    } | (
        {"import_provenance": read_json(bundle / IMPORT_PROVENANCE)}
        if (bundle / IMPORT_PROVENANCE).is_file()
        else {}
    )


def _parquet_bytes(frame: pd.DataFrame, lineage_of: Any) -> bytes:
    """A table on a UTC index as parquet bytes, its lineage in the schema metadata.

    ``lineage_of`` turns the table's content hash into its lineage record.
    """
    table = pa.Table.from_pandas(
        frame.rename_axis(col.TIMESTAMP).reset_index(), preserve_index=False
    )

    # Hashed as a reader will see it: read back from parquet, as lineage.check reads it.
    content = lineage.table_sha256(pq.read_table(pa.BufferReader(parquet_bytes(table))))
    record = json_text(lineage_of(content)).encode()
    return parquet_bytes(
        table.replace_schema_metadata((table.schema.metadata or {}) | {lineage.PARQUET_KEY: record})
    )


def write_outputs(
    bundle: Path,
    *,
    command: str,
    made_from: tuple[str, ...],
    tables: dict[str, pd.DataFrame],
    documents: dict[str, Any],
    timings_s: dict[str, float] | None = None,
    attachments: dict[str, bytes] | None = None,
) -> None:
    """Write output tables and JSON documents (and the timings, if given), with lineage.

    Each output records ``command``, the hashes of ``made_from`` (files of the bundle, as this
    command read them), its own content's hash and the names of everything published with it;
    documents also record the tables and ``attachments`` (files already serialised, with no
    record of their own: plot tables, pages) written with them. A document DVC reads as metrics
    keeps its record beside it (:data:`SIDECAR_DOCUMENTS`); ``bundle_metadata.json``, if among
    ``documents``, lists the hash of every other file published. The outputs appear together or
    not at all (:func:`gridq.io.publish.publish`).
    """
    sources = {name: lineage.sha256_file(bundle / name) for name in made_from}
    sidecars = {
        lineage.sidecar_path(Path(name)).name for name in documents if name in SIDECAR_DOCUMENTS
    }
    everything = (*tables, *(attachments or {}), *documents, *sidecars)

    def record(content_sha256: str, name: str, made_from: dict[str, str]) -> dict[str, Any]:
        siblings = tuple(other for other in everything if other != name)
        return lineage.record(command, made_from, content_sha256, siblings)

    contents = {
        name: _parquet_bytes(frame, lambda content, name=name: record(content, name, sources))
        for name, frame in tables.items()
    }
    contents |= attachments or {}
    with_tables = sources | {name: lineage.sha256_bytes(data) for name, data in contents.items()}
    for name, data in documents.items():
        if name == METADATA:
            continue
        if name in SIDECAR_DOCUMENTS:
            text = json_text(data).encode("utf-8")
            sidecar = lineage.sidecar_path(Path(name)).name
            contents[name] = text
            contents[sidecar] = json_text(
                record(lineage.sha256_bytes(text), name, with_tables)
            ).encode("utf-8")
        else:
            own = record(lineage.document_sha256(data), name, with_tables)
            contents[name] = json_text(data | {lineage.LINEAGE_KEY: own}).encode("utf-8")
    if METADATA in documents:
        published_hashes = {name: lineage.sha256_bytes(data) for name, data in contents.items()}
        data = documents[METADATA] | {"outputs_sha256": published_hashes}
        own = record(lineage.document_sha256(data), METADATA, with_tables)
        contents[METADATA] = json_text(data | {lineage.LINEAGE_KEY: own}).encode("utf-8")
    publish(bundle, contents)
    if timings_s is not None:
        write_json(bundle / TIMINGS, timings_s)


@contextmanager
def locked(bundle: Path) -> Iterator[None]:
    """Hold ``bundle``'s lock while a command reads and writes it; clear stale temp files.

    One command at a time writes a bundle: a second waits up to ``GRIDQ_LOCK_WAIT_S`` seconds
    (default 600; 0 fails at once) and then fails in one line. The lock is an ``flock`` on the
    folder itself, so it adds no file and dies with its process. Holding it, any ``.*.tmp``
    left by a killed run is removed and a publish the run had committed is completed.
    """
    require_bundle(bundle)
    wait_s = lock_wait_s()
    folder = os.open(bundle, os.O_RDONLY)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BundleError(
                        f"{bundle}: another gridq command is writing this bundle; wait for it "
                        f"or raise {LOCK_WAIT_ENV} (waited {wait_s:g} s)"
                    ) from None
                time.sleep(LOCK_POLL_S)
        for stale in bundle.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        roll_forward(bundle)
        with one_read_per_file():
            yield
    finally:
        os.close(folder)


def lock_wait_s() -> float:
    """Seconds to wait for a bundle's lock: ``GRIDQ_LOCK_WAIT_S``, finite and >= 0."""
    raw_wait = os.environ.get(LOCK_WAIT_ENV, str(DEFAULT_LOCK_WAIT_S))
    try:
        wait_s = float(raw_wait)
    except ValueError:
        wait_s = math.nan
    if not (math.isfinite(wait_s) and wait_s >= 0):
        raise ConfigError(
            f"{LOCK_WAIT_ENV}={raw_wait!r}: give a finite number of seconds >= 0 to wait, e.g. 60"
        )
    return wait_s


def check_lineage(bundle: Path, *names: str) -> None:
    """Refuse any of ``names`` that is stale or mixed (see :mod:`gridq.io.lineage`)."""
    if (bundle / PUBLISH_JOURNAL).is_file():
        raise BundleError(
            f"{bundle}: a command was stopped while publishing its outputs; run `gridq verify "
            f"{bundle}` to complete it"
        )
    for name in names:
        lineage.check(bundle, name)


def verify(bundle: Path) -> list[str]:
    """One line per output of ``bundle`` whose lineage no longer holds."""
    require_bundle(bundle)
    return lineage.problems(bundle, LINEAGE_OUTPUTS)


def write_report(
    bundle: Path, html: str, plot_tables: dict[str, pd.DataFrame], made_from: tuple[str, ...]
) -> None:
    """Publish report.html and the CSV tables behind its plots together."""
    files = {
        name: frame.round(PUBLISHED_DECIMALS)
        .to_csv(lineterminator="\n", index=frame.index.name is not None)
        .encode()
        for name, frame in plot_tables.items()
    }
    write_outputs(
        bundle,
        command="report",
        made_from=made_from,
        tables={},
        documents={},
        attachments=files | {REPORT: html.encode("utf-8")},
    )


def write_underwriting(
    bundle: Path, tables: dict[str, pd.DataFrame], summary: dict[str, Any], html: str
) -> None:
    """Publish the underwriting tables (plain, no time index), underwriting.json and its page.

    underwriting.json records the inputs and the hashes of the tables and page beside it.
    """
    files = {name: plain_table_bytes(frame) for name, frame in tables.items()}
    write_outputs(
        bundle,
        command="underwrite",
        made_from=INPUT_FILES,
        tables={},
        documents={UNDERWRITING: summary},
        attachments=files | {UNDERWRITING_REPORT: html.encode("utf-8")},
    )


def parse_tariff(path: Path, data: Any) -> "Tariff":
    """A tariff from a tariff YAML, or from the ``tariff`` of a run_config.yaml."""
    if isinstance(data, dict) and "tariff" in data and "timestep_min" in data:
        data = data["tariff"]
    with about_file(path):
        return parse_model(Tariff, data)


def read_meter(path: Path, timestep_min: int, site: Site) -> pd.DataFrame:
    """Read a dispatch or meter table for pricing at ``site``.

    It needs timestamp, grid_import_kw and grid_export_kw; battery_discharge_kw is optional
    (without it no battery wear is billed). Flows the site's connection cannot carry are
    refused as a unit slip.
    """
    frame = read_table(path)
    with about_file(path):
        needed = [col.TIMESTAMP, col.GRID_IMPORT_KW, col.GRID_EXPORT_KW]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise InputError(f"missing column(s) {missing}; a meter table needs {needed}")
        frame = frame.set_index(col.TIMESTAMP)
        frame.index = check_time_index(frame.index, timestep_min)
        if col.BATTERY_DISCHARGE_KW not in frame.columns:
            frame[col.BATTERY_DISCHARGE_KW] = 0.0
        flows = frame[[col.GRID_IMPORT_KW, col.GRID_EXPORT_KW, col.BATTERY_DISCHARGE_KW]]
        flows = flows.astype("float64")
        bad = ~np.isfinite(flows.to_numpy()) | (flows.to_numpy() < 0)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise InputError(
                f"column '{flows.columns[column]}' has a negative, NaN or infinite "
                f"value at {flows.index[row]:%Y-%m-%dT%H:%MZ}; flows are >= 0"
            )
        check_meter(flows, site)
        return flows


def read_forecast_vintages(path: Path, site: Site) -> pd.DataFrame:
    """Read forecast vintages of ``site``: issued_at, timestamp, load_kw and pv_kw, all UTC."""
    frame = read_table(path)
    with about_file(path):
        needed = ["issued_at", col.TIMESTAMP, col.LOAD_KW, col.PV_KW]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise InputError(f"missing column(s) {missing}; forecast vintages need {needed}")
        for column in ("issued_at", col.TIMESTAMP):
            if getattr(getattr(frame[column], "dt", None), "tz", None) is None:
                raise InputError(f"column '{column}' is not UTC timestamps; store UTC timestamps")
        stamps = pd.DatetimeIndex(frame[col.TIMESTAMP])
        values = {c: checked_values(frame[c], stamps) for c in (col.LOAD_KW, col.PV_KW)}
        check_site_powers(pd.DataFrame(values, index=stamps), site)
        sides = [c for c in SIDE_COLUMNS if c in frame.columns]
        if sides and len(sides) != len(SIDE_COLUMNS):
            raise InputError(
                f"has quantile sides {sides} but not all of {list(SIDE_COLUMNS)}; write all or none"
            )
        for side in sides:
            values[side] = checked_values(frame[side], stamps)
            if (values[side] < 0).any():
                raise InputError(f"column '{side}' has negative values; rewrite the vintages")
        return frame[needed + sides].assign(**values)


def forecast_vintages_bytes(vintages: pd.DataFrame) -> bytes:
    """Forecast vintages (``issued_at``, ``timestamp``, load and PV kW, UTC) as parquet bytes."""
    return plain_table_bytes(vintages)


def read_solved(
    bundle: Path, inputs: BundleInputs
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The timeseries steps the run covered, its dispatch and its baseline, lineage checked.

    A rolling run covers the steps after its forecast's warm-up, a perfect one all of them.
    """
    check_lineage(bundle, DISPATCH, BASELINE)
    step_min = inputs.run_config.timestep_min
    dispatch = read_dispatch(bundle / DISPATCH, step_min)
    baseline = read_dispatch(bundle / BASELINE, step_min)
    return covered_steps(inputs.timeseries, dispatch), dispatch, baseline
