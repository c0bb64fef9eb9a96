"""``gridq live export``: what a live site did over a period, as a normal run bundle.

The recorded steps become the timeseries (their load and PV, with the calendar's prices) and
the dispatch; the plans' point forecasts become ``forecasts.parquet`` vintages, so
``gridq bill`` prices the operated period and ``gridq backtest --mode rolling --forecast
replay`` re-runs it on the forecasts the site acted on. ``realised.parquet`` keeps the
realised dispatch where a backtest of the bundle rewrites ``dispatch.parquet``.
"""

import math
from pathlib import Path

import pandas as pd

import gridq
from gridq import conventions as col
from gridq.errors import InputError
from gridq.io import bundle as io
from gridq.io import lineage
from gridq.io.files import read_config, write_bytes
from gridq.io.live_store import is_server_url, open_store, store_exists
from gridq.live.site_folder import LIVE_CONFIG
from gridq.report.live import build_live_report
from gridq.schemas import RunConfig, Site
from gridq.schemas.live import LiveConfig

REALISED = "realised.parquet"
LIVE_EXPORT = "live_export.json"


def export_bundle(site_dir: Path, start: pd.Timestamp, stop: pd.Timestamp, out: Path) -> int:
    """Write the steps recorded in ``[start, stop)`` as the bundle ``out``; their number."""
    run_config = read_config(site_dir / io.RUN_CONFIG, RunConfig)
    site = read_config(site_dir / io.SITE_CONFIG, Site)
    config = read_config(site_dir / LIVE_CONFIG, LiveConfig)
    if not store_exists(site_dir, config.store):
        raise InputError(
            f"{site_dir / config.store}: no live store; run gridq live run {site_dir} first"
        )
    calendar = io.read_timeseries(site_dir / config.history, run_config.timestep_min)
    store = open_store(site_dir, config.store)
    store_name = store.name
    try:
        recorded = store.steps()
        vintages = store.forecast_vintages()
        plans = store.plans()
        events = store.events()
    finally:
        store.close()
    steps = recorded.loc[(recorded.index >= start) & (recorded.index < stop)]
    if steps.empty:
        raise InputError(
            f"{store_name} holds no step between {start:%Y-%m-%dT%H:%MZ} and "
            f"{stop:%Y-%m-%dT%H:%MZ}; choose --from and --to within the operated period"
        )
    expected = pd.date_range(
        steps.index[0], steps.index[-1], freq=calendar.index[1] - calendar.index[0]
    )
    missing = expected.difference(steps.index)
    if len(missing):
        raise InputError(
            f"{store_name} has no record of {len(missing)} step(s) in the period, first "
            f"{missing[0]:%Y-%m-%dT%H:%MZ}; export the periods either side of the gap"
        )
    index = steps.index
    timeseries = calendar.loc[index].copy()
    timeseries[col.LOAD_KW] = steps[col.LOAD_KW]
    timeseries[col.PV_KW] = steps[col.PV_KW]
    dispatch = steps[list(col.DISPATCH_COLUMNS)]
    in_period = (vintages["issued_at"] >= index[0]) & (vintages["issued_at"] <= index[-1])
    vintages = vintages.loc[in_period & vintages[col.TIMESTAMP].isin(index)]
    plans = plans.loc[(plans["issued_at"] >= index[0]) & (plans["issued_at"] <= index[-1])]
    io.write_inputs(out, site, run_config, timeseries)
    inputs = io.read_bundle(out)
    step_td = calendar.index[1] - calendar.index[0]
    period = {"from": index[0].isoformat(), "to": (index[-1] + step_td).isoformat()}
    io.write_outputs(
        out,
        command="gridq live export",
        made_from=io.INPUT_FILES,
        tables={io.DISPATCH: dispatch, REALISED: dispatch},
        documents={
            LIVE_EXPORT: {
                "gridq_version": gridq.__version__,
                "site_dir": str(site_dir),
                "store": store_name,
                # A server's state has no file to hash; the plans' input hashes still hold.
                "store_sha256": None
                if is_server_url(config.store)
                else lineage.sha256_file(site_dir / config.store),
                "period": period,
                "steps": len(index),
                "plans": [
                    {"issued_at": row.issued_at.isoformat(), "inputs_sha256": row.inputs_sha256}
                    for row in plans.itertuples()
                ],
                "events": events.to_dict(orient="records"),
            },
            io.METADATA: io.metadata_document(out, inputs),
        },
        attachments={io.FORECASTS: io.forecast_vintages_bytes(vintages.reset_index(drop=True))},
    )
    return len(index)


def write_live_report(
    site_dir: Path, start: pd.Timestamp | None, stop: pd.Timestamp | None, out: Path
) -> int:
    """Write the live report of the steps recorded in ``[start, stop)`` (default: all) to ``out``.

    Returns how many steps it shows.
    """
    run_config = read_config(site_dir / io.RUN_CONFIG, RunConfig)
    config = read_config(site_dir / LIVE_CONFIG, LiveConfig)
    if not store_exists(site_dir, config.store):
        raise InputError(
            f"{site_dir / config.store}: no live store; run gridq live run {site_dir} first"
        )
    store = open_store(site_dir, config.store)
    try:
        start_s = -math.inf if start is None else start.timestamp()
        stop_s = math.inf if stop is None else stop.timestamp()
        recorded = store.steps(start_s, stop_s)
        plans = [
            (issued_at, dispatch)
            for issued_at, dispatch in store.plan_dispatches()
            if start_s <= issued_at.timestamp() < stop_s
        ]
        events = store.events(start_s, stop_s)
        store_name = store.name
    finally:
        store.close()
    if recorded.empty:
        raise InputError(
            f"{store_name} holds no step in the period; choose --from and --to within the "
            "operated period"
        )
    step = pd.Timedelta(minutes=run_config.timestep_min)
    steps = recorded.reindex(pd.date_range(recorded.index[0], recorded.index[-1], freq=step))
    steps.index.name = col.TIMESTAMP
    page = build_live_report(
        site_dir.resolve().name, steps, plans, events, run_config.tariff.local_timezone
    )
    write_bytes(out, page.encode("utf-8"))
    return len(recorded)
