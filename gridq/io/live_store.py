"""The live state store: what a controller did, kept so it survives a crash and can be audited.

An embedded SQLite file. Every row is committed when written (write-ahead log), so a
controller killed at any moment loses nothing already recorded and restarts from it:
- ``steps``: telemetry averaged over the step (the realised dispatch, in GridQ's columns,
  and how many seconds of the step the telemetry covered);
- ``plans``: each plan adopted, with the hash of its inputs, its solve stats, its dispatch and
  the point forecast it was made on (the export's forecast vintages);
- ``setpoints``: each setpoint written, with what changed it;
- ``events``: every transition (mode, fallback, fault, alarm) with its reason;
- ``overrides``: an operator's forced setpoint and when it ends.

The schema is versioned: :data:`MIGRATIONS` bring an older store up to date, and a store
written by a newer GridQ is refused.
"""

import io
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd

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
"""Schema migrations in order: the store's version is how many it has applied."""
SCHEMA_VERSION = len(MIGRATIONS)
_STEP_COLUMNS = ("step_start_s", *col.DISPATCH_COLUMNS, "covered_s")


class LiveStore:
    """The store at ``path``, created or migrated on opening. One thread uses it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # Durable against a killed process (not a power cut) without a sync per row.
            self._db.execute("PRAGMA synchronous=NORMAL")
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as error:
            raise ConfigError(f"{path}: not a GridQ live store ({error}); move it away") from None
        if version > SCHEMA_VERSION:
            self._db.close()
            raise ConfigError(
                f"{path}: written by a newer GridQ (store schema {version}, this one knows "
                f"{SCHEMA_VERSION}); run that version or give live.yaml another store"
            )
        for number in range(version, SCHEMA_VERSION):
            with self._db:
                self._db.execute("BEGIN")
                self._db.executescript(MIGRATIONS[number])
                self._db.execute(f"PRAGMA user_version = {number + 1}")

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def record_step(
        self, step_start: pd.Timestamp, flows: dict[str, float], covered_s: float
    ) -> None:
        """The realised flows of the step from ``step_start``, replacing any earlier.

        They are the means over the ``covered_s`` seconds of it the telemetry covered.
        """
        values = [int(step_start.timestamp()), *(flows[c] for c in col.DISPATCH_COLUMNS), covered_s]
        self._db.execute(
            f"INSERT OR REPLACE INTO steps VALUES ({', '.join('?' * len(values))})", values
        )

    def steps(self, start_s: float = -math.inf, end_s: float = math.inf) -> pd.DataFrame:
        """Recorded steps by their start (UTC): ``DISPATCH_COLUMNS`` and ``covered_s``.

        Those starting from ``start_s`` to before ``end_s`` [Unix s]; by default every one.
        """
        rows = self._db.execute(
            f"SELECT {', '.join(_STEP_COLUMNS)} FROM steps "
            "WHERE step_start_s >= ? AND step_start_s < ? ORDER BY step_start_s",
            (max(start_s, -1e18), min(end_s, 1e18)),
        ).fetchall()
        frame = pd.DataFrame(rows, columns=list(_STEP_COLUMNS))
        index = pd.to_datetime(frame.pop("step_start_s"), unit="s", utc=True)
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
        self._db.execute(
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
        rows = self._db.execute(
            "SELECT issued_at_s, adopted_at_s, inputs_sha256, solve_stats FROM plans ORDER BY id"
        ).fetchall()
        frame = pd.DataFrame(
            rows, columns=["issued_at_s", "adopted_at_s", "inputs_sha256", "solve_stats"]
        )
        frame["issued_at"] = pd.to_datetime(frame["issued_at_s"], unit="s", utc=True)
        return frame

    def forecast_vintages(self) -> pd.DataFrame:
        """The point forecasts of every plan: ``issued_at``, ``timestamp``, load and PV."""
        parts = []
        for issued_at_s, blob in self._db.execute(
            "SELECT issued_at_s, forecast FROM plans ORDER BY id"
        ):
            frame = pd.read_parquet(io.BytesIO(blob)).reset_index()
            frame.insert(0, "issued_at", pd.Timestamp(issued_at_s, unit="s", tz="UTC"))
            parts.append(frame)
        if not parts:
            return pd.DataFrame(columns=["issued_at", col.TIMESTAMP, col.LOAD_KW, col.PV_KW])
        # A plan issued again for the same step (after a restart) replaces the earlier one.
        return pd.concat(parts).drop_duplicates(["issued_at", col.TIMESTAMP], keep="last")

    def latest_plan(self) -> tuple[pd.Timestamp, pd.DataFrame] | None:
        """The newest plan's issue time and dispatch, or None."""
        row = self._db.execute(
            "SELECT issued_at_s, dispatch FROM plans ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return pd.Timestamp(row[0], unit="s", tz="UTC"), pd.read_parquet(io.BytesIO(row[1]))

    def record_setpoint(
        self, clock_s: float, asked_kw: float, written_kw: float, mode: str, reasons: list[str]
    ) -> None:
        """A setpoint written: what was asked, what was written, in which mode and why."""
        self._db.execute(
            "INSERT INTO setpoints VALUES (?, ?, ?, ?, ?)",
            (clock_s, asked_kw, written_kw, mode, "; ".join(reasons)),
        )

    def setpoints(self) -> pd.DataFrame:
        """Every setpoint written, in order."""
        return pd.read_sql_query("SELECT * FROM setpoints ORDER BY rowid", self._db)

    def record_event(self, clock_s: float, kind: str, reason: str) -> None:
        """A transition and its reason."""
        self._db.execute("INSERT INTO events VALUES (?, ?, ?)", (clock_s, kind, reason))

    def events(
        self, start_s: float = -math.inf, end_s: float = math.inf, limit: int = -1
    ) -> pd.DataFrame:
        """Events from ``start_s`` to before ``end_s`` [device Unix s], in order.

        By default every one; with ``limit``, the latest ``limit`` of them.
        """
        return pd.read_sql_query(
            "SELECT * FROM (SELECT rowid AS seq, * FROM events WHERE clock_s >= ? AND "
            "clock_s < ? ORDER BY rowid DESC LIMIT ?) ORDER BY seq",
            self._db,
            params=(max(start_s, -1e18), min(end_s, 1e18), limit),
        ).drop(columns="seq")

    def set_override(self, setpoint_kw: float, duration_s: float, reason: str) -> None:
        """Force ``setpoint_kw`` for ``duration_s`` of the device's time.

        The time runs from when the controller first sees it: another process (the CLI, the
        API) may write it while the controller runs.
        """
        self._db.execute(
            "INSERT INTO overrides (setpoint_kw, duration_s, reason) VALUES (?, ?, ?)",
            (setpoint_kw, duration_s, reason),
        )

    def clear_overrides(self) -> None:
        """End every override now."""
        self._db.execute("UPDATE overrides SET cleared = 1 WHERE cleared = 0")

    def active_override(self, clock_s: float) -> tuple[float, float, str] | None:
        """The newest override running at ``clock_s``: setpoint, end and reason.

        An override not yet seen starts now.
        """
        self._db.execute(
            "UPDATE overrides SET starts_s = ? WHERE starts_s IS NULL AND cleared = 0", (clock_s,)
        )
        row = self._db.execute(
            "SELECT setpoint_kw, starts_s + duration_s, reason FROM overrides "
            "WHERE cleared = 0 AND starts_s + duration_s > ? ORDER BY id DESC LIMIT 1",
            (clock_s,),
        ).fetchone()
        return None if row is None else (float(row[0]), float(row[1]), str(row[2]))


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()
