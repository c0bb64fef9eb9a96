"""``gridq live export``: what a live site did over a period, as a normal run bundle.

The recorded steps become the timeseries (their load and PV, with the calendar's prices) and
the dispatch; the plans' point forecasts become ``forecasts.parquet`` vintages, so
``gridq bill`` prices the operated period and ``gridq backtest --mode rolling --forecast
replay`` re-runs it on the forecasts the site acted on. ``realised.parquet`` keeps the
realised dispatch where a backtest of the bundle rewrites ``dispatch.parquet``.
"""

from pathlib import Path

import pandas as pd

import gridq
from gridq import conventions as col
from gridq.errors import InputError
from gridq.io import bundle as io
from gridq.io import lineage
from gridq.io.files import read_config
from gridq.io.live_store import LiveStore
from gridq.live.site_folder import LIVE_CONFIG
from gridq.schemas import RunConfig, Site
from gridq.schemas.live import LiveConfig

REALISED = "realised.parquet"
LIVE_EXPORT = "live_export.json"


def export_bundle(site_dir: Path, start: pd.Timestamp, stop: pd.Timestamp, out: Path) -> int:
    """Write the steps recorded in ``[start, stop)`` as the bundle ``out``; their number."""
    run_config = read_config(site_dir / io.RUN_CONFIG, RunConfig)
    site = read_config(site_dir / io.SITE_CONFIG, Site)
    config = read_config(site_dir / LIVE_CONFIG, LiveConfig)
    store_path = site_dir / config.store
    if not store_path.is_file():
        raise InputError(f"{store_path}: no live store; run gridq live run {site_dir} first")
    calendar = io.read_timeseries(site_dir / config.history, run_config.timestep_min)
    store = LiveStore(store_path)
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
            f"{store_path} holds no step between {start:%Y-%m-%dT%H:%MZ} and "
            f"{stop:%Y-%m-%dT%H:%MZ}; choose --from and --to within the operated period"
        )
    expected = pd.date_range(
        steps.index[0], steps.index[-1], freq=calendar.index[1] - calendar.index[0]
    )
    missing = expected.difference(steps.index)
    if len(missing):
        raise InputError(
            f"{store_path} has no record of {len(missing)} step(s) in the period, first "
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
                "store": str(store_path),
                "store_sha256": lineage.sha256_file(store_path),
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
