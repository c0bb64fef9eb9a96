"""``gridq import``: a bundle's timeseries.parquet from real meter, price and PV files.

Each file gives one quantity (load, PV, import or export price) in a layout: a preset of
:data:`~gridq.schemas.importing.PRESETS` or one named in a mapping file. Every file is put on
UTC step starts in kW or GBP per kWh, its gaps refused or filled, resampled to the bundle's
step, and the files joined on the steps they all cover. The bundle keeps a provenance record
(``import_provenance.json``: each file's SHA-256, layout, rows, step and filled steps), which
``bundle_metadata.json`` repeats. Nothing is written unless every file imports.
"""

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine import ingest
from gridq.engine.plausibility import check_site_powers, implausible
from gridq.engine.timeseries import check_timeseries
from gridq.errors import ConfigError, GridqError, InputError
from gridq.io import bundle as io
from gridq.io import lineage
from gridq.io.files import (
    about_file,
    json_bytes,
    os_message,
    parse_model,
    read_config,
    read_yaml,
    table_bytes,
)
from gridq.io.publish import publish
from gridq.schemas import RunConfig, Site
from gridq.schemas.importing import (
    ENERGY_UNITS,
    FORECAST_PRESETS,
    PRESETS,
    PRICE_UNITS,
    FileLayout,
    ForecastLayout,
)

FILLED = "filled"
"""Extra timeseries column: the step was missing in some file and filled."""

QUANTITIES = {
    "load": col.LOAD_KW,
    "pv": col.PV_KW,
    "import_price": col.IMPORT_PRICE,
    "export_price": col.EXPORT_PRICE,
}


@dataclass(frozen=True)
class Source:
    """One file for one quantity (a key of :data:`QUANTITIES`) in the named layout."""

    quantity: str
    path: Path
    layout: str


def layouts(mapping: Path | None) -> tuple[dict[str, FileLayout], dict[str, ForecastLayout]]:
    """The presets and the layouts of ``mapping`` (YAML ``name: layout``): readings, forecasts.

    A layout with an ``issued_column`` is a forecast's.
    """
    readings: dict[str, FileLayout] = dict(PRESETS)
    forecasts: dict[str, ForecastLayout] = dict(FORECAST_PRESETS)
    if mapping is None:
        return readings, forecasts
    for name, layout in read_yaml(mapping).items():
        try:
            if isinstance(layout, dict) and "issued_column" in layout:
                forecasts[str(name)] = parse_model(ForecastLayout, layout)
            else:
                readings[str(name)] = parse_model(FileLayout, layout)
        except ConfigError as error:
            raise error.with_context(f"{mapping}: layout '{name}'") from None
    return readings, forecasts


EXCEL_SUFFIXES = (".xlsx", ".xlsm")


def _read_table(path: Path) -> pd.DataFrame:
    """Every cell as text (empty cells missing): a CSV, or an Excel workbook's first sheet."""
    excel = path.suffix.lower() in EXCEL_SUFFIXES
    try:
        if excel:
            return pd.read_excel(
                path,
                sheet_name=0,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                engine="openpyxl",
            )
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except OSError as error:
        raise InputError(os_message(error)) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text; save it as a UTF-8 CSV (or as .xlsx)") from None
    except (
        ValueError,
        KeyError,
        zipfile.BadZipFile,
        pd.errors.ParserError,
    ) as error:
        kind = "an Excel workbook (.xlsx)" if excel else "a CSV file"
        raise InputError(
            f"not readable as {kind} ({str(error).splitlines()[0]}); save it as CSV or .xlsx"
        ) from None


def _table_with(source: Source, columns: tuple[str | None, ...]) -> pd.DataFrame:
    """The source's table, refused unless it has every named column of its layout."""
    table = _read_table(source.path)
    missing = [c for c in columns if c is not None and c not in table.columns]
    if missing:
        raise InputError(
            f"no column {missing[0]!r} (layout '{source.layout}'); the file has "
            f"{list(table.columns)}: choose another layout or write one in a mapping file"
        )
    return table


LayoutT = TypeVar("LayoutT", FileLayout, ForecastLayout)


def _layout_of(source: Source, known: dict[str, LayoutT], kind: str) -> LayoutT:
    if source.layout not in known:
        raise ConfigError(
            f"{source.path}: unknown {kind} '{source.layout}'; choose one of "
            f"{', '.join(sorted(known))} or name one in --mapping"
        )
    return known[source.layout]


def read_source(source: Source, layout: FileLayout) -> tuple[pd.Series, int]:
    """The file's readings on UTC step starts in GridQ's units, and their step [min]."""
    table = _table_with(
        source,
        (layout.time_column, layout.date_column, layout.period_column, layout.value_column),
    )
    energy = source.quantity in ("load", "pv")
    if layout.unit not in (ENERGY_UNITS if energy else PRICE_UNITS):
        raise ConfigError(
            f"layout '{source.layout}' reads {layout.unit}, not a unit of {source.quantity}; "
            f"use one of {', '.join(ENERGY_UNITS if energy else PRICE_UNITS)}"
        )
    if layout.time_column is not None:
        index = ingest.stamps_to_utc(table[layout.time_column], layout.time_zone)
    else:
        assert layout.date_column is not None
        assert layout.period_column is not None
        index = ingest.settlement_period_starts(
            table[layout.date_column], table[layout.period_column], layout.time_zone
        )
    step_min = ingest.step_of(index)
    if layout.stamps == "end":
        index = index - pd.Timedelta(minutes=step_min)
    ingest.check_order(index)
    values = ingest.numbers(table[layout.value_column], layout.value_column)
    converted = (
        ingest.to_kw(values, layout.unit, step_min / 60)  # type: ignore[arg-type]
        if energy
        else ingest.to_gbp_per_kwh(values, layout.unit)  # type: ignore[arg-type]
    )
    return pd.Series(converted, index=index.rename(col.TIMESTAMP)), step_min


def import_timeseries(
    sources: list[Source],
    timestep_min: int,
    fill: ingest.GapPolicy,
    export_price_gbp_per_kwh: float,
    mapping: Path | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The joined timeseries (with a ``filled`` column) and its provenance record."""
    known, _ = layouts(mapping)
    given = [source.quantity for source in sources]
    for needed in ("load", "import_price"):
        if needed not in given:
            raise ConfigError(f"no {needed} file; pass --{needed.replace('_', '-')} FILE[:LAYOUT]")
    columns: dict[str, pd.Series] = {}
    filled: dict[str, pd.Series] = {}
    records = []
    for source in sources:
        layout = _layout_of(source, known, "layout")
        try:
            series, step_min = read_source(source, layout)
            whole, was_filled = ingest.fill_gaps(series.to_frame(), step_min, fill)
            steps, step_filled = ingest.resample(whole, step_min, timestep_min, was_filled)
        except GridqError as error:
            raise error.with_context(str(source.path)) from None
        name = QUANTITIES[source.quantity]
        columns[name] = steps.iloc[:, 0]
        filled[name] = pd.Series(step_filled, index=steps.index)
        records.append(
            {
                "quantity": source.quantity,
                "file": source.path.name,
                "sha256": lineage.sha256_file(source.path),
                "layout": source.layout,
                "layout_fields": layout.model_dump(mode="json"),
                "rows": len(series),
                "step_min": step_min,
                "filled_steps": int(np.sum(was_filled)),
            }
        )
    start = max(series.index[0] for series in columns.values())
    end = min(series.index[-1] for series in columns.values())
    if start >= end:
        raise InputError(
            "the files share no stretch of time; give load, PV and price files that overlap"
        )
    index = pd.date_range(start, end, freq=f"{timestep_min}min", name=col.TIMESTAMP)
    frame = pd.DataFrame({name: series.reindex(index) for name, series in columns.items()})
    frame[col.PV_KW] = frame.get(col.PV_KW, pd.Series(0.0, index=index))
    if col.EXPORT_PRICE not in frame:
        frame[col.EXPORT_PRICE] = export_price_gbp_per_kwh
    frame[FILLED] = np.any([mask.reindex(index).to_numpy() for mask in filled.values()], axis=0)
    frame = frame[[*col.TIMESERIES_COLUMNS, FILLED]]
    provenance = {
        "sources": records,
        "fill": fill,
        "timestep_min": timestep_min,
        "pv": "file" if "pv" in given else "none (0 kW)",
        "export_price": "file" if "export_price" in given else export_price_gbp_per_kwh,
        "steps": len(frame),
        "first_step_utc": f"{index[0]:%Y-%m-%dT%H:%MZ}",
        "last_step_utc": f"{index[-1]:%Y-%m-%dT%H:%MZ}",
        "filled_steps": int(frame[FILLED].sum()),
    }
    return frame, provenance


def import_forecasts(
    source: Source, timestep_min: int, mapping: Path | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Forecast vintages (``issued_at``, ``timestamp``, load and PV kW) on the bundle's step."""
    layout = _layout_of(source, layouts(mapping)[1], "forecast layout")
    try:
        table = _table_with(
            source, (layout.issued_column, layout.time_column, layout.load_column, layout.pv_column)
        )
        issued = ingest.stamps_to_utc(table[layout.issued_column], layout.time_zone)
        steps = ingest.stamps_to_utc(table[layout.time_column], layout.time_zone)
        step_min = ingest.step_of(pd.DatetimeIndex(steps.unique().sort_values()))
        if layout.stamps == "end":
            steps = steps - pd.Timedelta(minutes=step_min)
        series = {
            name: ingest.to_kw(ingest.numbers(table[column], column), layout.unit, step_min / 60)
            for name, column in ((col.LOAD_KW, layout.load_column), (col.PV_KW, layout.pv_column))
            if column is not None
        }
        vintages = []
        for issued_at in pd.unique(issued):
            rows = np.flatnonzero(issued == issued_at)
            frame = pd.DataFrame(
                {name: values[rows] for name, values in series.items()},
                index=pd.DatetimeIndex(steps[rows], name=col.TIMESTAMP),
            )
            ingest.check_order(pd.DatetimeIndex(frame.index))
            whole, filled = ingest.fill_gaps(frame, step_min, "refuse")
            on_step, _ = ingest.resample(whole, step_min, timestep_min, filled)
            vintages.append(on_step.assign(issued_at=issued_at))
    except GridqError as error:
        raise error.with_context(str(source.path)) from None
    joined = pd.concat(vintages)
    if col.PV_KW not in joined:
        joined[col.PV_KW] = 0.0
    if col.LOAD_KW not in joined:
        raise InputError(f"{source.path}: the forecast has no load; give load_column")
    joined = joined.rename_axis(col.TIMESTAMP).reset_index()
    record = {
        "quantity": "forecast",
        "file": source.path.name,
        "sha256": lineage.sha256_file(source.path),
        "layout": source.layout,
        "layout_fields": layout.model_dump(mode="json"),
        "rows": len(table),
        "vintages": len(vintages),
        "step_min": step_min,
    }
    return joined[["issued_at", col.TIMESTAMP, col.LOAD_KW, col.PV_KW]], record


def _check_against_site(
    timeseries: pd.DataFrame,
    run_config: RunConfig,
    site: Site | None,
    sources: list[Source],
    provenance: dict[str, Any],
    bundle: Path,
) -> None:
    """Refuse readings no real site (or this bundle's site) has, naming the file and its unit."""
    for problem in implausible(timeseries, run_config.plausibility, site)[:1]:
        given = {QUANTITIES[source.quantity]: source for source in sources}
        units = {
            QUANTITIES[r["quantity"]]: r["layout_fields"]["unit"] for r in provenance["sources"]
        }
        source = given.get(problem.column)
        where = (
            f"{source.path} (layout '{source.layout}')" if source else str(bundle / io.TIMESERIES)
        )
        raise InputError(
            f"{where}: {problem.column} {problem.what}; {problem.hint(units.get(problem.column))}"
        )


def import_bundle(
    bundle: Path,
    sources: list[Source],
    fill: ingest.GapPolicy,
    export_price_gbp_per_kwh: float,
    mapping: Path | None = None,
    forecast: Source | None = None,
) -> dict[str, Any]:
    """Import ``sources`` (and ``forecast``) into ``bundle``, which holds its run config.

    Everything is read and checked as any bundle's before anything is written; the provenance
    is returned.
    """
    with io.locked(bundle):
        run_config = read_config(bundle / io.RUN_CONFIG, RunConfig)
        frame, provenance = import_timeseries(
            sources, run_config.timestep_min, fill, export_price_gbp_per_kwh, mapping
        )
        with about_file(bundle / io.TIMESERIES):
            checked = check_timeseries(frame, run_config.timestep_min)
        site = (
            read_config(bundle / io.SITE_CONFIG, Site)
            if (bundle / io.SITE_CONFIG).is_file()
            else None
        )
        _check_against_site(checked, run_config, site, sources, provenance, bundle)
        written = {io.TIMESERIES: table_bytes(frame)}
        if forecast is not None:
            vintages, record = import_forecasts(forecast, run_config.timestep_min, mapping)
            if site is not None:
                with about_file(forecast.path):
                    check_site_powers(vintages.set_index(col.TIMESTAMP), site)
            provenance["sources"].append(record)
            written[io.FORECASTS] = io.forecast_vintages_bytes(vintages)
        publish(bundle, written | {io.IMPORT_PROVENANCE: json_bytes(provenance)})
    return provenance
