"""The live state store: what a controller did, kept so it survives a crash and can be audited.

An embedded SQLite file by default, or a PostgreSQL server by URL (``postgresql://...``; the
password, if any, from libpq's environment or ``.pgpass``, never from ``live.yaml``). Every row
is committed when written, so a controller killed at any moment loses nothing already
recorded and restarts from it:
- ``steps``: telemetry averaged over the step (the realised dispatch, in GridQ's columns,
  and how many seconds of the step the telemetry covered);
- ``plans``: each plan adopted, with the hash of its inputs, its solve stats, its dispatch and
  the point forecast it was made on (the export's forecast vintages);
- ``setpoints``: each setpoint written, with what changed it;
- ``events``: every transition (mode, fallback, fault, alarm) with its reason;
- ``overrides``: an operator's forced setpoint and when it ends.

A server that goes away (restarting, say) stops nothing: rows wait in memory, in order, and
are written when it answers again; :attr:`LiveStore.unavailable` says why meanwhile.

The schema is versioned: each dialect's migrations bring an older store up to date, and a
store written by a newer GridQ is refused.
"""

import io
import json
import math
import sqlite3
import time
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import psycopg

from gridq import conventions as col
from gridq.errors import ConfigError

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE steps (
        step_start_s INTEGER PRIMARY KEY,
        load_kw REAL NOT NULL, pv_kw REAL NOT NULL,
        grid_import_kw REAL NOT NULL, grid_export_kw REAL NOT NULL,
        battery_charge_kw REAL NOT NULL, battery_discharge_kw REAL NOT NULL,
        pv_curtail_kw REAL NOT NULL, soc_kwh REAL NOT NULL,
        covered_s REAL NOT NULL
    );
    CREATE TABLE plans (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        issued_at_s INTEGER NOT NULL,
        adopted_at_s REAL NOT NULL,
        inputs_sha256 TEXT NOT NULL,
        solve_stats TEXT NOT NULL,
        dispatch BLOB NOT NULL,
        forecast BLOB NOT NULL
    );
    CREATE TABLE setpoints (
        clock_s REAL NOT NULL, asked_kw REAL NOT NULL, written_kw REAL NOT NULL,
        mode TEXT NOT NULL, reasons TEXT NOT NULL
    );
    CREATE TABLE events (
        clock_s REAL NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL
    );
    CREATE TABLE overrides (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        setpoint_kw REAL NOT NULL, duration_s REAL NOT NULL, starts_s REAL,
        reason TEXT NOT NULL, cleared INTEGER NOT NULL DEFAULT 0
    );
    """,
)
"""SQLite's schema migrations in order: the store's version is how many it has applied."""
POSTGRES_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE steps (
        step_start_s BIGINT PRIMARY KEY,
        load_kw DOUBLE PRECISION NOT NULL, pv_kw DOUBLE PRECISION NOT NULL,
        grid_import_kw DOUBLE PRECISION NOT NULL, grid_export_kw DOUBLE PRECISION NOT NULL,
        battery_charge_kw DOUBLE PRECISION NOT NULL,
        battery_discharge_kw DOUBLE PRECISION NOT NULL,
        pv_curtail_kw DOUBLE PRECISION NOT NULL, soc_kwh DOUBLE PRECISION NOT NULL,
        covered_s DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE plans (
        id BIGSERIAL PRIMARY KEY,
        issued_at_s BIGINT NOT NULL,
        adopted_at_s DOUBLE PRECISION NOT NULL,
        inputs_sha256 TEXT NOT NULL,
        solve_stats TEXT NOT NULL,
        dispatch BYTEA NOT NULL,
        forecast BYTEA NOT NULL
    );
    CREATE TABLE setpoints (
        seq BIGSERIAL PRIMARY KEY,
        clock_s DOUBLE PRECISION NOT NULL, asked_kw DOUBLE PRECISION NOT NULL,
        written_kw DOUBLE PRECISION NOT NULL, mode TEXT NOT NULL, reasons TEXT NOT NULL
    );
    CREATE TABLE events (
        seq BIGSERIAL PRIMARY KEY,
        clock_s DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL
    );
    CREATE TABLE overrides (
        id BIGSERIAL PRIMARY KEY,
        setpoint_kw DOUBLE PRECISION NOT NULL, duration_s DOUBLE PRECISION NOT NULL,
        starts_s DOUBLE PRECISION, reason TEXT NOT NULL, cleared INTEGER NOT NULL DEFAULT 0
    );
    """,
)
"""PostgreSQL's, the same tables; its version is kept in ``gridq_schema``."""
assert len(POSTGRES_MIGRATIONS) == len(MIGRATIONS)
SCHEMA_VERSION = len(MIGRATIONS)
RETRY_S = 1.0
"""Wall time between attempts to reach a store that has gone away [s]."""
_STEP_COLUMNS = ("step_start_s", *col.DISPATCH_COLUMNS, "covered_s")
_SETPOINT_COLUMNS = ("clock_s", "asked_kw", "written_kw", "mode", "reasons")
_EVENT_COLUMNS = ("clock_s", "kind", "reason")
_BOUND_S = 1e18
"""Stands for an open end of a time range in SQL."""


def is_server_url(store: str) -> bool:
    """Whether ``live.yaml``'s ``store`` names a PostgreSQL server rather than a file."""
    return store.startswith(("postgresql://", "postgres://"))


def open_store(site_dir: Path, store: str) -> "LiveStore":
    """The store ``live.yaml`` names: a server URL, or a file relative to ``site_dir``."""
    return LiveStore(store if is_server_url(store) else site_dir / store)


def store_exists(site_dir: Path, store: str) -> bool:
    """Whether the store can hold a run already (a server is asked when opened)."""
    return is_server_url(store) or (site_dir / store).exists()


def shown_url(url: str) -> str:
    """``url`` without its password, fit for a message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class LiveStore:
    """The store at ``target`` (a file, or a server URL), created or migrated on opening.

    One thread uses an instance; other processes and threads open their own.
    """

    def __init__(self, target: Path | str) -> None:
        self.server = isinstance(target, str)
        self.name = shown_url(target) if isinstance(target, str) else str(target)
        self._target = target
        self._order = "seq" if self.server else "rowid"
        self._lost: tuple[type[Exception], ...] = (
            (psycopg.OperationalError, psycopg.InterfaceError) if self.server else ()
        )
        self._pending: deque[tuple[str, tuple[Any, ...]]] = deque()
        self._retry_at = 0.0
        self._last_override: tuple[float, float, str] | None = None
        self.unavailable = ""
        """Why the store cannot be written now ('' while it can)."""
        try:
            self._db: Any = self._connect()
            self._migrate()
        except (sqlite3.DatabaseError, psycopg.Error) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
            raise ConfigError(
                f"{self.name}: not a GridQ live store ({message}); "
                + ("check the server and the URL" if self.server else "move it away")
            ) from None

    def _connect(self) -> Any:
        if isinstance(self._target, str):
            return psycopg.connect(self._target, autocommit=True, connect_timeout=2)
        db = sqlite3.connect(self._target, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        # Durable against a killed process (not a power cut) without a sync per row.
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _migrate(self) -> None:
        if self.server:
            self._db.execute("CREATE TABLE IF NOT EXISTS gridq_schema (version INTEGER NOT NULL)")
            row = self._db.execute("SELECT max(version) FROM gridq_schema").fetchone()
            version = int(row[0] or 0)
        else:
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            self._db.close()
            raise ConfigError(
                f"{self.name}: written by a newer GridQ (store schema {version}, this one knows "
                f"{SCHEMA_VERSION}); run that version or give live.yaml another store"
            )
        for number in range(version, SCHEMA_VERSION):
            if self.server:
                with self._db.transaction():
                    self._db.execute("LOCK TABLE gridq_schema")  # one migrator at a time
                    row = self._db.execute("SELECT max(version) FROM gridq_schema").fetchone()
                    if int(row[0] or 0) > number:
                        continue
                    self._db.execute(POSTGRES_MIGRATIONS[number])
                    self._db.execute("INSERT INTO gridq_schema VALUES (%s)", (number + 1,))
            else:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executescript(MIGRATIONS[number])
                    self._db.execute(f"PRAGMA user_version = {number + 1}")

    def close(self) -> None:
        """Write what is waiting (if the store answers), then close."""
        self._flush(force=True)
        if self._db is not None:
            self._db.close()

    # --- writing, resilient to a server that goes away --------------------------------------

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        if self._db is None:
            self._db = self._connect()
        return self._db.execute(sql.replace("?", "%s") if self.server else sql, params)

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        self._pending.append((sql, params))
        self._flush()

    def _flush(self, force: bool = False) -> None:
        """Write the waiting rows in order; on a lost server, keep them and try later."""
        if not self._pending or (not force and time.monotonic() < self._retry_at):
            return
        try:
            while self._pending:
                self._execute(*self._pending[0])
                self._pending.popleft()
        except self._lost as error:
            self._drop_connection(error)
            return
        self.unavailable = ""

    def _drop_connection(self, error: Exception) -> None:
        message = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        self.unavailable = f"{self.name}: {message}; {len(self._pending)} rows waiting"
        self._retry_at = time.monotonic() + RETRY_S
        if self._db is not None:
            try:
                self._db.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail too
                pass
        self._db = None

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self._flush(force=True)  # what was written is read back
        return list(self._execute(sql, params).fetchall())

    # --- the tables ---------------------------------------------------------------------

    def record_step(
        self, step_start: pd.Timestamp, flows: dict[str, float], covered_s: float
    ) -> None:
        """The realised flows of the step from ``step_start``, replacing any earlier.

        They are the means over the ``covered_s`` seconds of it the telemetry covered.
        """
        values = (
            int(step_start.timestamp()),
            *(float(flows[c]) for c in col.DISPATCH_COLUMNS),
            float(covered_s),
        )
        updates = ", ".join(f"{name} = excluded.{name}" for name in _STEP_COLUMNS[1:])
        sql = (
            f"INSERT INTO steps ({', '.join(_STEP_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(values))}) ON CONFLICT (step_start_s) DO UPDATE SET {updates}"
        )
        if self._pending and self._pending[-1][0] == sql and self._pending[-1][1][0] == values[0]:
            self._pending.pop()  # the step grew while waiting: only its latest state is due
        self._write(sql, values)

    def steps(self, start_s: float = -math.inf, end_s: float = math.inf) -> pd.DataFrame:
        """Recorded steps by their start (UTC): ``DISPATCH_COLUMNS`` and ``covered_s``.

        Those starting from ``start_s`` to before ``end_s`` [Unix s]; by default every one.
        """
        rows = self._rows(
            f"SELECT {', '.join(_STEP_COLUMNS)} FROM steps "
            "WHERE step_start_s >= ? AND step_start_s < ? ORDER BY step_start_s",
            (int(max(start_s, -_BOUND_S)), int(min(end_s, _BOUND_S))),
        )
        frame = pd.DataFrame(rows, columns=list(_STEP_COLUMNS))
        index = pd.to_datetime(frame.pop("step_start_s").astype("int64"), unit="s", utc=True)
        frame.index = pd.DatetimeIndex(index, name=col.TIMESTAMP)
        return frame.astype(float)

    def record_plan(
        self,
        issued_at: pd.Timestamp,
        adopted_at_s: float,
        inputs_sha256: str,
        solve_stats: dict[str, Any],
        dispatch: pd.DataFrame,
        forecast: pd.DataFrame,
    ) -> None:
        """A plan the controller adopted, with the point forecast it was made on."""
        self._write(
            "INSERT INTO plans (issued_at_s, adopted_at_s, inputs_sha256, solve_stats, dispatch, "
            "forecast) VALUES (?, ?, ?, ?, ?, ?)",
            (
                int(issued_at.timestamp()),
                adopted_at_s,
                inputs_sha256,
                json.dumps(solve_stats, sort_keys=True, default=str),
                _parquet(dispatch),
                _parquet(forecast),
            ),
        )

    def plans(self) -> pd.DataFrame:
        """Every plan's issue time, adoption time, input hash and solve stats, in order."""
        columns = ["issued_at_s", "adopted_at_s", "inputs_sha256", "solve_stats"]
        rows = self._rows(f"SELECT {', '.join(columns)} FROM plans ORDER BY id")
        frame = pd.DataFrame(rows, columns=columns)
        frame["issued_at"] = pd.to_datetime(
            frame["issued_at_s"].astype("int64"), unit="s", utc=True
        )
        return frame

    def forecast_vintages(self) -> pd.DataFrame:
        """The point forecasts of every plan: ``issued_at``, ``timestamp``, load and PV."""
        parts = []
        for issued_at_s, blob in self._rows("SELECT issued_at_s, forecast FROM plans ORDER BY id"):
            frame = _frame(blob).reset_index()
            frame.insert(0, "issued_at", pd.Timestamp(issued_at_s, unit="s", tz="UTC"))
            parts.append(frame)
        if not parts:
            return pd.DataFrame(columns=["issued_at", col.TIMESTAMP, col.LOAD_KW, col.PV_KW])
        # A plan issued again for the same step (after a restart) replaces the earlier one.
        return pd.concat(parts).drop_duplicates(["issued_at", col.TIMESTAMP], keep="last")

    def plan_dispatches(self) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
        """Every plan's issue time and dispatch, in the order adopted."""
        rows = self._rows("SELECT issued_at_s, dispatch FROM plans ORDER BY id")
        return [(pd.Timestamp(at_s, unit="s", tz="UTC"), _frame(blob)) for at_s, blob in rows]

    def latest_plan(self) -> tuple[pd.Timestamp, pd.DataFrame] | None:
        """The newest plan's issue time and dispatch, or None."""
        rows = self._rows("SELECT issued_at_s, dispatch FROM plans ORDER BY id DESC LIMIT 1")
        if not rows:
            return None
        issued_at_s, blob = rows[0]
        return pd.Timestamp(issued_at_s, unit="s", tz="UTC"), _frame(blob)

    def record_setpoint(
        self, clock_s: float, asked_kw: float, written_kw: float, mode: str, reasons: list[str]
    ) -> None:
        """A setpoint written: what was asked, what was written, in which mode and why."""
        self._write(
            f"INSERT INTO setpoints ({', '.join(_SETPOINT_COLUMNS)}) VALUES (?, ?, ?, ?, ?)",
            (clock_s, asked_kw, written_kw, mode, "; ".join(reasons)),
        )

    def setpoints(self) -> pd.DataFrame:
        """Every setpoint written, in order."""
        rows = self._rows(
            f"SELECT {', '.join(_SETPOINT_COLUMNS)} FROM setpoints ORDER BY {self._order}"
        )
        return pd.DataFrame(rows, columns=list(_SETPOINT_COLUMNS))

    def record_event(self, clock_s: float, kind: str, reason: str) -> None:
        """A transition and its reason."""
        self._write(
            f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES (?, ?, ?)",
            (clock_s, kind, reason),
        )

    def events(
        self, start_s: float = -math.inf, end_s: float = math.inf, limit: int | None = None
    ) -> pd.DataFrame:
        """Events from ``start_s`` to before ``end_s`` [device Unix s], in order.

        By default every one; with ``limit``, the latest ``limit`` of them.
        """
        names = ", ".join(_EVENT_COLUMNS)
        rows = self._rows(
            f"SELECT {names} FROM (SELECT {self._order} AS n, {names} FROM events WHERE "
            f"clock_s >= ? AND clock_s < ? ORDER BY {self._order} DESC LIMIT ?) AS latest "
            "ORDER BY n",
            (max(start_s, -_BOUND_S), min(end_s, _BOUND_S), limit if limit else 2**62),
        )
        return pd.DataFrame(rows, columns=list(_EVENT_COLUMNS))

    def set_override(self, setpoint_kw: float, duration_s: float, reason: str) -> None:
        """Force ``setpoint_kw`` for ``duration_s`` of the device's time.

        The time runs from when the controller first sees it: another process (the CLI, the
        API) may write it while the controller runs.
        """
        self._execute(
            "INSERT INTO overrides (setpoint_kw, duration_s, reason) VALUES (?, ?, ?)",
            (setpoint_kw, duration_s, reason),
        )

    def clear_overrides(self) -> None:
        """End every override now."""
        self._execute("UPDATE overrides SET cleared = 1 WHERE cleared = 0")

    def active_override(self, clock_s: float) -> tuple[float, float, str] | None:
        """The newest override running at ``clock_s``: setpoint, end and reason.

        An override not yet seen starts now. While the store cannot be reached, the last
        override seen runs on to its end.
        """
        try:
            self._flush()
            if self._pending:
                raise psycopg.OperationalError(self.unavailable)
            self._execute(
                "UPDATE overrides SET starts_s = ? WHERE starts_s IS NULL AND cleared = 0",
                (clock_s,),
            )
            row = self._execute(
                "SELECT setpoint_kw, starts_s + duration_s, reason FROM overrides "
                "WHERE cleared = 0 AND starts_s + duration_s > ? ORDER BY id DESC LIMIT 1",
                (clock_s,),
            ).fetchone()
        except self._lost as error:
            if not self._pending:
                self._drop_connection(error)
            last = self._last_override
            return last if last is not None and last[1] > clock_s else None
        self._last_override = None if row is None else (float(row[0]), float(row[1]), str(row[2]))
        return self._last_override


def _frame(blob: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(bytes(blob)))


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()
