"""The live store: what is written stays, a newer store is refused, overrides expire."""

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from gridq import conventions as col
from gridq.errors import ConfigError
from gridq.io.live_store import SCHEMA_VERSION, LiveStore

STEP = pd.Timestamp("2025-03-18T10:15Z")


def flows(import_kw: float) -> dict[str, float]:
    return dict.fromkeys(col.DISPATCH_COLUMNS, 0.0) | {col.GRID_IMPORT_KW: import_kw}


def test_steps_events_and_plans_survive_reopening(tmp_path: Path) -> None:
    store = LiveStore(tmp_path / "live.sqlite")
    store.record_step(STEP, flows(12.5), 900.0)
    store.record_event(1.0, "mode", "start -> plan")
    index = pd.DatetimeIndex([STEP], name=col.TIMESTAMP)
    store.record_plan(
        STEP,
        5.0,
        "abc",
        {"status": "optimal"},
        pd.DataFrame({col.SOC_KWH: [1.0]}, index=index),
        pd.DataFrame({col.LOAD_KW: [3.0], col.PV_KW: [0.5]}, index=index),
    )
    del store  # no close: as after kill -9
    reopened = LiveStore(tmp_path / "live.sqlite")
    assert reopened.steps()[col.GRID_IMPORT_KW].tolist() == [12.5]
    assert reopened.steps().index[0] == STEP
    assert reopened.events()["reason"].tolist() == ["start -> plan"]
    vintages = reopened.forecast_vintages()
    assert vintages[["issued_at", col.TIMESTAMP, col.LOAD_KW]].values.tolist() == [
        [STEP, STEP, 3.0]
    ]


def test_a_step_recorded_again_replaces_the_first(tmp_path: Path) -> None:
    store = LiveStore(tmp_path / "live.sqlite")
    store.record_step(STEP, flows(1.0), 10.0)
    store.record_step(STEP, flows(2.0), 20.0)
    assert store.steps()[col.GRID_IMPORT_KW].tolist() == [2.0]


def test_a_store_from_a_newer_gridq_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    LiveStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError, match="newer GridQ") as error:
        LiveStore(path)
    assert "\n" not in str(error.value)


def test_an_older_store_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    sqlite3.connect(path).close()  # version 0: nothing in it
    LiveStore(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"steps", "plans", "setpoints", "events", "overrides"} <= tables


def test_not_a_store_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    path.write_text("not a database" * 100)
    with pytest.raises(ConfigError, match="not a GridQ live store"):
        LiveStore(path)


def test_an_override_starts_when_first_seen_and_expires(tmp_path: Path) -> None:
    store = LiveStore(tmp_path / "live.sqlite")
    store.set_override(-3.0, 600.0, "test")
    assert store.active_override(1000.0) == (-3.0, 1600.0, "test")
    assert store.active_override(1599.0) == (-3.0, 1600.0, "test")
    assert store.active_override(1600.0) is None
    store.set_override(4.0, 600.0, "again")
    assert store.active_override(2000.0) is not None
    store.clear_overrides()
    assert store.active_override(2001.0) is None
