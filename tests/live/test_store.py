"""The live store, as an SQLite file and on a real PostgreSQL server.

What is written stays, a newer store is refused, overrides expire, and a server that restarts
under a writer loses no row.
"""

import itertools
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest

from gridq import conventions as col
from gridq.errors import ConfigError
from gridq.io.live_store import RETRY_S, SCHEMA_VERSION, LiveStore
from tests.live.postgres import PostgresServer

STEP = pd.Timestamp("2025-03-18T10:15Z")


_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a store lives: a file, or a fresh database on the session's server."""
    if request.param == "sqlite":
        return tmp_path / "live.sqlite"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database(f"store_{next(_databases)}")


def flows(import_kw: float) -> dict[str, float]:
    return dict.fromkeys(col.DISPATCH_COLUMNS, 0.0) | {col.GRID_IMPORT_KW: import_kw}


def test_steps_events_and_plans_survive_reopening(target: Path | str) -> None:
    store = LiveStore(target)
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
    # No close, as after kill -9: each row was committed when written. (A server's socket is
    # closed underneath, as the kernel would.)
    if store.server:
        store._db.close()
    del store
    reopened = LiveStore(target)
    assert reopened.steps()[col.GRID_IMPORT_KW].tolist() == [12.5]
    assert reopened.steps().index[0] == STEP
    assert reopened.events()["reason"].tolist() == ["start -> plan"]
    vintages = reopened.forecast_vintages()
    assert vintages[["issued_at", col.TIMESTAMP, col.LOAD_KW]].values.tolist() == [
        [STEP, STEP, 3.0]
    ]
    reopened.close()


def test_a_step_recorded_again_replaces_the_first(target: Path | str) -> None:
    store = LiveStore(target)
    store.record_step(STEP, flows(1.0), 10.0)
    store.record_step(STEP, flows(2.0), 20.0)
    assert store.steps()[col.GRID_IMPORT_KW].tolist() == [2.0]
    store.close()


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


def test_an_override_starts_when_first_seen_and_expires(target: Path | str) -> None:
    store = LiveStore(target)
    store.set_override(-3.0, 600.0, "test")
    assert store.active_override(1000.0) == (-3.0, 1600.0, "test")
    assert store.active_override(1599.0) == (-3.0, 1600.0, "test")
    assert store.active_override(1600.0) is None
    store.set_override(4.0, 600.0, "again")
    assert store.active_override(2000.0) is not None
    store.clear_overrides()
    assert store.active_override(2001.0) is None
    store.close()


def test_a_newer_schema_on_the_server_is_refused_in_one_line(postgres: PostgresServer) -> None:
    url = postgres.new_database("newer")
    LiveStore(url).close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("INSERT INTO gridq_schema VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(ConfigError, match="newer GridQ") as error:
        LiveStore(url)
    assert "\n" not in str(error.value)


def test_a_server_that_restarts_under_a_writer_loses_no_row(postgres: PostgresServer) -> None:
    store = LiveStore(postgres.new_database("restart"))
    store.set_override(2.0, 3600.0, "held")
    assert store.active_override(100.0) == (2.0, 3700.0, "held")
    for number in range(3):
        store.record_event(float(number), "mode", f"row {number}")
    postgres.stop()
    try:
        for number in range(3, 6):
            store.record_event(float(number), "mode", f"row {number}")
            store.record_step(STEP, flows(float(number)), 10.0 * number)
        assert "rows waiting" in store.unavailable
        assert store.active_override(200.0) == (2.0, 3700.0, "held")  # the last one seen
        assert store.active_override(3700.0) is None  # and it still ends
    finally:
        postgres.start()
    time.sleep(RETRY_S)
    store.record_event(6.0, "mode", "row 6")
    assert store.unavailable == ""
    assert store.events()["reason"].tolist() == [f"row {n}" for n in range(7)]
    assert store.steps()[col.GRID_IMPORT_KW].tolist() == [5.0]
    store.close()


def test_an_unreachable_server_is_one_line() -> None:
    with pytest.raises(ConfigError, match="check the server") as error:
        LiveStore("postgresql://gridq:secret@127.0.0.1:1/none")
    assert "secret" not in str(error.value)
    assert "\n" not in str(error.value)
