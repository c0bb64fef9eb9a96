"""The HTTP API of a running controller (FastAPI on uvicorn, in a thread of its process).

Status and metrics come from the controller's memory; the plan, telemetry, events and
overrides from its store (a connection per request: the store is safe across processes, so
the controller sees an override set here at its next tick). Every request needs a bearer
token: a viewer reads, an operator also sets and clears overrides. Each request is one JSON
log line naming the caller; the token itself is never logged.
"""

import math
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field

from gridq import conventions as col
from gridq.errors import ConfigError
from gridq.io.files import json_line
from gridq.io.live_store import LiveStore, open_store
from gridq.live.tokens import Caller, Tokens
from gridq.schemas.live import LiveConfig

if TYPE_CHECKING:
    from gridq.live.runner import LiveRun

START_WAIT_S = 10.0
"""How long the controller waits for the API to listen before giving up [s]."""
OVERRIDE_MAX_S = 7 * 86400.0


class OverrideRequest(BaseModel):
    """An operator's setpoint for a while."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    setpoint_kw: float = Field(
        description="Battery power [kW], + discharging, - charging; the safety layer still "
        "holds the site's limits.",
        ge=-1e6,
        le=1e6,
    )
    duration_s: float = Field(
        gt=0, le=OVERRIDE_MAX_S, description="How long, in the device's time [s]."
    )
    reason: str = Field(min_length=1, max_length=200, description="Why, for the audit trail.")


def make_app(
    status: Callable[[], dict[str, Any]],
    metrics_text: Callable[[], bytes],
    open_store: Callable[[], LiveStore],
    tokens: Tokens,
) -> FastAPI:
    """The API over a controller's ``status``, its metrics and its store."""
    app = FastAPI(
        title="GridQ live",
        description="A running GridQ controller: status, plan, telemetry, events, overrides.",
        version="1",
    )
    bearer = HTTPBearer(auto_error=False)

    def caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        found = None if credentials is None else tokens.caller(credentials.credentials)
        if found is None:
            raise HTTPException(
                401, "a valid bearer token is needed", headers={"WWW-Authenticate": "Bearer"}
            )
        request.state.caller = found.name
        return found

    def operator(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if not who.may("operator"):
            raise HTTPException(403, f"{who.name} is a viewer: overrides need an operator token")
        return who

    viewer_only = [Depends(caller)]

    @app.middleware("http")
    async def log_request(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        began = time.perf_counter()
        response = await call_next(request)
        entry = {
            "event": "api",
            "method": request.method,
            "path": request.url.path,  # never the query or the headers: no token in the log
            "status": response.status_code,
            "caller": getattr(request.state, "caller", None),
            "ms": round((time.perf_counter() - began) * 1e3, 2),
        }
        sys.stderr.write(json_line(entry) + "\n")
        return response

    @app.get("/status", dependencies=viewer_only)
    def get_status() -> dict[str, Any]:
        """Mode, the last telemetry, the plan followed, any override, counters."""
        return status()

    @app.get("/plan", dependencies=viewer_only)
    def get_plan() -> dict[str, Any]:
        """The newest plan adopted: its issue time and dispatch over its horizon."""
        with _store(open_store) as store:
            latest = store.latest_plan()
        if latest is None:
            raise HTTPException(404, "no plan adopted yet")
        issued_at, dispatch = latest
        return {"issued_at": issued_at.isoformat(), "steps": _records(dispatch)}

    @app.get("/telemetry", dependencies=viewer_only)
    def get_telemetry(
        start: Annotated[datetime, Query(alias="from", description="First step, ISO 8601.")],
        end: Annotated[datetime, Query(alias="to", description="End (exclusive), ISO 8601.")],
    ) -> dict[str, Any]:
        """The recorded steps (telemetry averaged over each) from ``from`` to before ``to``."""
        with _store(open_store) as store:
            steps = store.steps(_unix_s(start), _unix_s(end))
        return {"steps": _records(steps)}

    @app.get("/events", dependencies=viewer_only)
    def get_events(
        start: Annotated[datetime | None, Query(alias="from")] = None,
        end: Annotated[datetime | None, Query(alias="to")] = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    ) -> dict[str, Any]:
        """The latest ``limit`` events (mode changes, faults, alarms) in the range."""
        with _store(open_store) as store:
            events = store.events(
                -math.inf if start is None else _unix_s(start),
                math.inf if end is None else _unix_s(end),
                limit,
            )
        events.insert(0, "at", events.pop("clock_s").map(_iso_s))
        return {"events": events.to_dict(orient="records")}

    @app.post("/override", status_code=201)
    def set_override(
        body: OverrideRequest, who: Annotated[Caller, Depends(operator)]
    ) -> dict[str, Any]:
        """Force a setpoint for a duration; the controller takes it at its next tick."""
        with _store(open_store) as store:
            store.set_override(body.setpoint_kw, body.duration_s, f"{body.reason} (by {who.name})")
        return {"setpoint_kw": body.setpoint_kw, "duration_s": body.duration_s}

    @app.delete("/override")
    def clear_override(who: Annotated[Caller, Depends(operator)]) -> dict[str, Any]:
        """End every override now: the controller returns to its plan at its next tick."""
        with _store(open_store) as store:
            store.clear_overrides()
        return {"cleared": True}

    @app.get("/metrics", dependencies=viewer_only)
    def get_metrics() -> Response:
        """Prometheus metrics: tick latency, plan age and time, SOC, net import, errors."""
        return Response(metrics_text(), media_type=CONTENT_TYPE_LATEST)

    return app


@contextmanager
def serving(site_dir: Path, config: LiveConfig, live: "LiveRun") -> Iterator[None]:
    """Serve ``live``'s API (where ``live.yaml`` has one) while the block runs."""
    api = config.api
    if api is None:
        yield
        return
    tokens = Tokens.load(site_dir / api.tokens_file)
    app = make_app(
        live.status, live.metrics.text, lambda: open_store(site_dir, config.store), tokens
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=api.host,
            port=api.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            ssl_certfile=None if api.tls_cert is None else site_dir / api.tls_cert,
            ssl_keyfile=None if api.tls_key is None else site_dir / api.tls_key,
        )
    )
    thread = threading.Thread(target=server.run, name="gridq-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_WAIT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ConfigError(
                f"api in {site_dir / 'live.yaml'}: cannot listen on {api.host}:{api.port} (in "
                "use, or not this machine's address); choose another port or host"
            )
        time.sleep(0.02)
    scheme = "http" if api.tls_cert is None else "https"
    sys.stderr.write(
        json_line(
            {
                "event": "api_listening",
                "url": f"{scheme}://{api.host}:{api.port}",
                "docs": f"{scheme}://{api.host}:{api.port}/docs",
                "tokens": len(tokens),
            }
        )
        + "\n"
    )
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=5.0)


@contextmanager
def _store(open_store: Callable[[], LiveStore]) -> Iterator[LiveStore]:
    store = open_store()
    try:
        yield store
    finally:
        store.close()


def _unix_s(moment: datetime) -> float:
    stamp = pd.Timestamp(moment)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).timestamp()


def _iso_s(clock_s: float) -> str:
    return pd.Timestamp(clock_s, unit="s", tz="UTC").isoformat()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = frame.reset_index()
    rows[col.TIMESTAMP] = rows[col.TIMESTAMP].map(pd.Timestamp.isoformat)
    return rows.round(6).to_dict(orient="records")  # type: ignore[no-any-return]
