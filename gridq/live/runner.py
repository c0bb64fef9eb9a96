"""``gridq live run``: the site controller on a device, every tick, beside a planner thread.

Plan slowly, control fast. Each control tick reads the device, asks the plan's
:class:`~gridq.engine.controller.SiteController` (the one the rolling backtest settles with)
for the step of the moment on the telemetry, passes the answer through the safety layer
(:mod:`gridq.live.safety`) and writes it. At each scheduled re-plan, or early where the
backtest would re-plan early, a planner thread plans with the backtest's
:class:`~gridq.engine.windows.RollingOperation` on a forecast from the recorded history; the
ticks go on following the last plan until the new one is adopted. Time is the device's: a
simulator's clock register, else the wall clock.

Modes, each change an event with its reason: ``plan`` (following a plan), ``last_plan``
(resumed: the stored plan until a new one is adopted), ``rule_based`` (no valid plan:
self-consumption with a peak guard), ``override`` (an operator's setpoint), ``safe`` (stale or
invalid telemetry, or writes failing: idle but for the import limit).
"""

import hashlib
import math
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.forecast import (
    FORECAST_SERIES,
    ForecastProvider,
    quantile_sides,
    renewed_provider,
)
from gridq.engine.windows import RollingOperation, WindowPlan, Windows
from gridq.errors import ConfigError, DeviceError, GridqError
from gridq.io.files import json_line
from gridq.io.live_store import open_store
from gridq.live.api import serving
from gridq.live.metrics import COUNTERS, LiveMetrics
from gridq.live.modbus import ModbusDevice
from gridq.live.safety import (
    Limits,
    Telemetry,
    rule_based_kw,
    safe_mode_kw,
    safe_setpoint,
)
from gridq.live.steps import RunStats, StepSamples, power_now_kw
from gridq.schemas import RunConfig, Site
from gridq.schemas.live import LiveConfig

CONNECT_WAIT_S = 10.0
"""How long ``gridq live run`` waits for the device to answer at start [wall s]."""
POLLS_PER_TICK = 4
"""Reads of the device per control tick, at most: the tick comes within a quarter of one."""
UNMEASURED_POLL_S = 0.005
"""Wall time between reads until the device clock's rate is known [s]."""
SPEED_WINDOW_S = 0.2
"""Wall time the device clock's rate is measured over before it is used [s]."""
AHEAD_PLAN_TIMES = 3.0
"""A scheduled plan starts this many recent plan times (in device time) before its step."""


@dataclass
class Pending:
    """A plan being solved: from which step, since when (wall clock)."""

    issue: int
    soc_kwh: float
    since_s: float
    future: "Future[tuple[WindowPlan, str, dict[str, np.ndarray]]]"


class LiveRun:
    """One site under control: its device, its store, its plans and its safety layer."""

    def __init__(
        self,
        site_dir: Path,
        site: Site,
        run_config: RunConfig,
        config: LiveConfig,
        device: ModbusDevice,
        calendar: pd.DataFrame,
        until: pd.Timestamp | None = None,
    ) -> None:
        options = run_config.rolling
        if options.forecast in ("perfect", "replay"):
            raise ConfigError(
                f"rolling.forecast {options.forecast} in {site_dir / 'run_config.yaml'} cannot "
                "run live: it needs the future; choose persistence_day, persistence_week, "
                "seasonal_naive or learned"
            )
        # A solve past the safety layer's timeout is a failed solve: HiGHS stops there.
        self.run_config = run_config.model_copy(
            update={
                "solver": run_config.solver.model_copy(
                    update={"time_limit_s": config.safety.solve_timeout_s}
                )
            }
        )
        self.site, self.config, self.device = site, config, device
        self.calendar = calendar
        self.index = pd.DatetimeIndex(calendar.index)
        self.step_td = self.index[1] - self.index[0]
        self.end = self.index[-1] + self.step_td if until is None else until
        self.limits = Limits.of(site, config.safety.max_ramp_kw_per_s)
        self.store = open_store(site_dir, config.store)
        self.store_down = False
        self.every_steps = int(pd.Timedelta(minutes=options.reoptimise_every_min) / self.step_td)
        self.horizon_steps = int(pd.Timedelta(hours=options.horizon_h) / self.step_td)
        if self.every_steps < 1 or self.horizon_steps < self.every_steps:
            raise ConfigError(
                f"rolling.reoptimise_every_min and horizon_h in {site_dir / 'run_config.yaml'} "
                f"do not fit the {self.step_td} steps; use whole steps and a horizon at least "
                "the re-plan interval"
            )
        self.provider: ForecastProvider | None = None  # touched by the planner thread only
        self.planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridq-planner")
        self.mode = ""
        self.window: WindowPlan | None = None
        self.stored_plan: pd.DataFrame | None = None
        self.window_settled: list[dict[str, float]] = []
        self.pending: Pending | None = None
        self.unrecorded_plan: tuple[WindowPlan, str, dict[str, np.ndarray]] | None = None
        self.turn_at_s = math.inf  # where a shared step's power changes next [device s]
        self.samples: StepSamples | None = None
        self.step_start_soc_kwh = site.battery.initial_soc_kwh
        self.step_end_soc_kwh = math.nan  # the controller's closing SOC for this step
        self.last_valid: Telemetry | None = None
        self.last_valid_wall_s = 0.0
        self.speed = 1.0
        self._speed_origin: tuple[float, float] | None = None
        self.speed_measured = False
        self.last_written_kw = 0.0
        self.last_written_clock_s = math.nan
        self.writes_failing = False
        self.failed_writes = 0
        self.next_write_s = -math.inf
        self.beats = 0
        self.last_beat_clock_s = -math.inf
        self.stats = RunStats()
        self.started_clock_s = math.nan
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.metrics = LiveMetrics(self.status)
        self.clock_s = math.nan
        self.adopted_clock_s = math.nan
        self.override_now: tuple[float, float, str] | None = None

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Operate until the calendar ends, ``until`` passes or the process is stopped."""
        try:
            first = self._read_until_valid()
            self._start(first)
            next_tick_s = self._next_tick_s(first.clock_s)
            while True:
                reading = self._read()
                clock_s = self._device_time_s(reading)
                if clock_s >= self.end.timestamp():
                    break
                if clock_s < next_tick_s:
                    time.sleep(self._poll_wait_s(next_tick_s - clock_s))
                    continue
                began = time.perf_counter()
                self._tick(reading, clock_s)
                self._watch_store(clock_s)
                latency_s = time.perf_counter() - began
                self.stats.tick(latency_s, self.pending is not None)
                self.metrics.tick_seconds.observe(latency_s)
                self.stats.note_memory(clock_s - self.started_clock_s)
                next_tick_s = self._next_tick_s(clock_s)
        finally:
            self._shut_down()

    def _next_tick_s(self, clock_s: float) -> float:
        return next_tick_s(
            clock_s,
            self.config.tick_s,
            self.index[0].timestamp(),
            self.step_td.total_seconds(),
            self.turn_at_s,
        )

    def _start(self, first: Telemetry) -> None:
        """Resume from the store, or start at the device's step; plan the first step."""
        self.started_clock_s = first.clock_s
        recorded = self.store.steps()
        now = pd.Timestamp(first.clock_s, unit="s", tz="UTC")
        if len(recorded):
            start = self._position(recorded.index[0])
        else:
            start = self._position(now.floor(self.step_td))
        if start >= len(self.index) - 1:
            raise ConfigError(
                f"the device's time {now:%Y-%m-%dT%H:%MZ} is at or past the end of the history "
                f"calendar ({self.index[-1]:%Y-%m-%dT%H:%MZ}); extend {self.config.history}"
            )
        self.operation = RollingOperation(
            self.site,
            self.run_config,
            self.index,
            Windows(start, self.every_steps, self.horizon_steps),
            self.calendar,
        )
        self.actuals = self.calendar[list(FORECAST_SERIES)].copy()
        self.actuals.iloc[start:] = 0.0
        for stamp, row in recorded.iterrows():
            position = self._position(stamp)
            self.actuals.iloc[position] = [row[col.LOAD_KW], row[col.PV_KW]]
            self.operation.record(position, np.array([row[col.GRID_IMPORT_KW]]))
        step = self._position(now.floor(self.step_td))
        self.step_start_soc_kwh = first.battery_soc_kwh
        self.samples = StepSamples(step, self.index[step].timestamp())
        if self.index[step] in recorded.index:  # the step a killed controller was in
            self.samples = StepSamples.resumed(
                step, self.index[step].timestamp(), recorded.loc[self.index[step]]
            )
        if len(recorded):
            peaks = {
                name: round(float(kw.max()), 3)
                for name, kw in self.operation.peaks_kw.items()
                if len(kw)
            }
            self._event(
                first.clock_s,
                "resumed",
                f"{len(recorded)} steps recorded, at step {step}; peaks so far "
                f"{json_line(peaks)} kW",
            )
            latest = self.store.latest_plan()
            if latest is not None:
                self.stored_plan = latest[1]
                self._event(
                    first.clock_s,
                    "plan",
                    f"the last plan (issued {latest[0]:%Y-%m-%dT%H:%MZ}) is followed until a "
                    "new one is adopted",
                )
            # Resumed within a tick: the store's plan (or the fallback) runs while planning.
            self._request_plan(step, first.battery_soc_kwh, time.monotonic())
            self._tick(first, first.clock_s)
            return
        else:
            self._event(first.clock_s, "started", f"at {now:%Y-%m-%dT%H:%M:%SZ}, step {step}")
        # The first plan is waited for: no setpoint is better than one without a plan.
        self._request_plan(step, first.battery_soc_kwh, time.monotonic())
        assert self.pending is not None
        try:
            self.pending.future.result(timeout=self.config.safety.solve_timeout_s)
        except Exception:  # noqa: BLE001 - adopted (or reported) by the tick below
            pass
        # A simulator held until the first setpoint has not moved while the plan was solved.
        self.last_valid_wall_s = time.monotonic()
        self._tick(first, first.clock_s)

    def _tick(self, reading: Telemetry | None, clock_s: float) -> None:
        """One control tick: the setpoint first, then what only records or plans ahead.

        A step's first tick carries the most (the step's plan adopted, the step closed), and
        every second it takes runs the step on the setpoint before it.
        """
        self._control(reading, clock_s)
        self._record_adopted_plan()
        if reading is not None and reading is self.last_valid and self.mode != "safe":
            self._plan_ahead_if_due(reading)

    def _control(self, reading: Telemetry | None, clock_s: float) -> None:
        self.counters["ticks"] += 1
        self.clock_s = clock_s
        self._beat(clock_s)
        self._adopt_plan(clock_s)
        stale = self._stale(clock_s)
        if reading is not None and reading is self.last_valid and not stale:
            self._follow_steps(reading)  # each state of the device once
            self._adopt_plan(clock_s)  # a plan solved ahead, as its step begins
        override = self.override_now = self.store.active_override(clock_s)
        if stale or self.last_valid is None:
            why = stale or "no valid telemetry yet"
            if self._set_mode(clock_s, "safe", why):
                self.counters["safe_mode_entries"] += 1
                self._event(clock_s, "alarm", f"safe mode: {why}")
            asked = safe_mode_kw(self.last_valid, self.limits)
            self._write(clock_s, asked, asked, [])
            return
        now = self.last_valid
        if override is not None:
            asked = override[0]
            self._set_mode(
                clock_s, "override", f"operator: {override[2]} (until {_iso(override[1])})"
            )
        else:
            asked = self._planned_kw(now, clock_s)
        written, reasons = safe_setpoint(
            asked,
            now,
            self.limits,
            self.last_written_kw,
            clock_s - self.last_written_clock_s if math.isfinite(self.last_written_clock_s) else 0,
        )
        self._write(clock_s, asked, written, reasons)

    def status(self) -> dict[str, Any]:
        """What the site is doing, as of the last tick: the API's status and the metrics.

        Read from another thread: each value is read once, and a tick in between at worst
        mixes two consecutive ticks' values.
        """
        clock_s, last, window, samples = self.clock_s, self.last_valid, self.window, self.samples
        now: dict[str, float] = {}
        if last is not None:
            now |= {
                "soc_kwh": last.battery_soc_kwh,
                "net_import_kw": last.grid_net_import_kw,
                "pv_kw": last.pv_kw,
                "battery_power_kw": last.battery_power_kw,
                "telemetry_age_seconds": max(clock_s - last.clock_s, 0.0),
            }
        plan = None
        if window is not None:
            plan = {
                "issued_at": _iso(self.index[window.issue].timestamp()),
                "adopted_at": _iso(self.adopted_clock_s),
            }
            now["plan_age_seconds"] = clock_s - self.adopted_clock_s
            position = -1 if samples is None else samples.step - window.issue
            controller = window.controller
            if controller is not None and 0 <= position < controller.planned_steps:
                now["net_import_target_kw"] = controller.import_top_kw(position)
        override = self.override_now
        return {
            "clock": _iso(clock_s),
            "mode": self.mode or "starting",
            "now": {name: round(v, 6) for name, v in now.items() if math.isfinite(v)},
            "plan": plan,
            "planning": self.pending is not None,
            "override": None
            if override is None
            else {"setpoint_kw": override[0], "until": _iso(override[1]), "reason": override[2]},
            "counters": dict(self.counters),
        }

    # --- steps, plans and the controller ---------------------------------------------------

    def _follow_steps(self, reading: Telemetry) -> None:
        """Close the step the device has left, if it has; count the reading in its step."""
        assert self.samples is not None
        step = self._position(pd.Timestamp(reading.clock_s, unit="s", tz="UTC").floor(self.step_td))
        if step != self.samples.step:
            self._close_step(reading)
            self.samples = StepSamples(step, self.index[step].timestamp())
            self.step_start_soc_kwh = reading.battery_soc_kwh
            self.step_end_soc_kwh = math.nan
            self._plan_if_due(step, reading)
        self.samples.add(reading)
        # Kept as it grows: a controller killed mid-step loses one tick of it, not the step.
        self.store.record_step(self.index[step], self.samples.flows(), self.samples.covered_s)

    def _close_step(self, reading: Telemetry) -> None:
        samples = self.samples
        assert samples is not None
        if not samples.covered_s:
            return
        flows = samples.flows()
        stamp = self.index[samples.step]
        self.store.record_step(stamp, flows, samples.covered_s)
        self.actuals.iloc[samples.step] = [flows[col.LOAD_KW], flows[col.PV_KW]]
        self.operation.record(samples.step, np.array([flows[col.GRID_IMPORT_KW]]))
        if self.window is not None and samples.step >= self.window.issue:
            self.window_settled.append(flows)

    def _plan_if_due(self, step: int, reading: Telemetry) -> None:
        """Plan at each scheduled step, and early where the backtest would.

        Early: after a calm step with energy the plan meant to spend still stored.
        """
        if step >= len(self.index):
            return
        scheduled = (step - self.operation.windows.start) % self.every_steps == 0
        early = False
        window = self.window
        if not scheduled and window is not None and window.controller is not None:
            settled = self.window_settled
            length = len(settled)
            interval = self.operation.interval_end(window.issue) - window.issue
            if 0 < length < interval and step == window.issue + length:
                frame = pd.DataFrame(settled + [dict.fromkeys(col.DISPATCH_COLUMNS, math.nan)])
                early = self.operation.replan_from(window, frame) == length
        planned_ahead = (self.window is not None and self.window.issue == step) or (
            self.pending is not None and self.pending.issue == step
        )
        if (scheduled or early) and not planned_ahead:
            self._request_plan(step, reading.battery_soc_kwh, time.monotonic())

    def _plan_ahead_if_due(self, reading: Telemetry) -> None:
        """Start a scheduled step's plan before the step, from the SOC it should open with.

        Solved at the step's start, a plan comes into force a solve time late, and the step's
        first seconds run the plan before it: where the two part (on near-ties a new forecast
        decides), that time is lost to the step. Solved ahead, on the closing SOC the
        controller settles the current step at and the current step's readings so far (its
        import counted in the month's peaks), it is adopted as its step begins.
        """
        assert self.samples is not None
        step = self.samples.step + 1
        if step >= len(self.index) or (step - self.operation.windows.start) % self.every_steps:
            return
        if self.pending is not None or (self.window is not None and self.window.issue == step):
            return
        recent_s = max(self.stats.plan_s[-8:], default=0.0)
        lead_s = min(
            self.step_td.total_seconds() / 3,
            max(self.config.tick_s, AHEAD_PLAN_TIMES * recent_s * self.speed),
        )
        if reading.clock_s < self.index[step].timestamp() - lead_s:
            return
        flows = self.samples.flows()
        self.actuals.iloc[self.samples.step] = [flows[col.LOAD_KW], flows[col.PV_KW]]
        soc_kwh = (
            self.step_end_soc_kwh
            if math.isfinite(self.step_end_soc_kwh)
            else reading.battery_soc_kwh
        )
        self._request_plan(step, soc_kwh, time.monotonic(), np.array([flows[col.GRID_IMPORT_KW]]))

    def _request_plan(
        self,
        issue: int,
        soc_kwh: float,
        wall_s: float,
        unrecorded_import_kw: np.ndarray | None = None,
    ) -> None:
        if self.pending is not None and not self.pending.future.done():
            return  # one solve at a time: the next scheduled step asks again
        frame = self.calendar.copy()
        frame[list(FORECAST_SERIES)] = self.actuals.to_numpy()
        future = self.planner.submit(self._plan, frame, issue, soc_kwh, unrecorded_import_kw)
        self.pending = Pending(issue, soc_kwh, wall_s, future)

    def _plan(
        self,
        frame: pd.DataFrame,
        issue: int,
        soc_kwh: float,
        unrecorded_import_kw: np.ndarray | None,
    ) -> tuple[WindowPlan, str, dict[str, np.ndarray]]:
        """On the planner thread: the forecast from the recorded history, then the plan.

        Also the forecast's quantile sides and reserves, kept with the plan so that a replay
        plans on what this plan was planned on.
        """
        began = time.perf_counter()
        provider = self.provider = renewed_provider(
            self.provider, self.run_config.rolling.forecast, frame, self.site, self.run_config
        )
        window = self.operation.plan(issue, soc_kwh, provider, unrecorded_import_kw)
        digest = hashlib.sha256()
        digest.update(f"{self.index[issue].isoformat()} {soc_kwh:.6f}".encode())
        digest.update(window.forecast.to_numpy().tobytes())
        for name, kw in sorted((window.state.paid_for_kw or {}).items()):
            digest.update(name.encode() + np.asarray(kw).tobytes())
        sides = quantile_sides(
            provider,
            self.index[issue],
            len(window.forecast),
            self.run_config.rolling.peak_quantile,
        )
        self.stats.plan_s.append(time.perf_counter() - began)
        self.metrics.solve_seconds.observe(self.stats.plan_s[-1])
        return window, digest.hexdigest(), sides

    def _adopt_plan(self, clock_s: float) -> None:
        pending = self.pending
        if pending is None:
            return
        if not pending.future.done():
            if time.monotonic() - pending.since_s > self.config.safety.solve_timeout_s:
                self._event(clock_s, "solve_failed", f"plan for step {pending.issue} timed out")
                self.pending = None
            return
        if self.samples is not None and pending.issue > self.samples.step:
            return  # planned ahead: adopted as its step begins
        self.pending = None
        try:
            window, digest, sides = pending.future.result()
        except GridqError as error:
            self._event(clock_s, "solve_failed", f"plan for step {pending.issue}: {error}")
            return
        except Exception as error:  # noqa: BLE001 - a failed plan must not stop the site
            self._event(
                clock_s, "solve_failed", f"plan for step {pending.issue}: {type(error).__name__}"
            )
            return
        self.window = window
        self.window_settled = []
        self.counters["plans"] += 1
        self.adopted_clock_s = clock_s
        self.unrecorded_plan = (window, digest, sides)

    def _record_adopted_plan(self) -> None:
        """Keep the plan adopted this tick in the store, with the forecast it was made on."""
        if self.unrecorded_plan is None:
            return
        window, digest, sides = self.unrecorded_plan
        self.unrecorded_plan = None
        forecast = pd.DataFrame(
            window.point_kw | sides, index=window.plan.dispatch.index.rename(col.TIMESTAMP)
        )
        self.store.record_plan(
            self.index[window.issue],
            self.adopted_clock_s,
            digest,
            window.plan.solve_stats,
            window.plan.dispatch,
            forecast,
        )

    def _planned_kw(self, now: Telemetry, clock_s: float) -> float:
        """The controller's battery power for this step [kW, + discharging], or the fallback."""
        assert self.samples is not None
        window, step = self.window, self.samples.step
        if window is not None and window.controller is not None:
            position = step - window.issue
            if 0 <= position < window.controller.planned_steps:
                self._set_mode(now.clock_s, "plan", f"plan issued {self.index[window.issue]}")
                row = window.controller.step(
                    position, now.load_kw, now.pv_kw, self.step_start_soc_kwh
                )
                flows = dict(zip(col.DISPATCH_COLUMNS, row, strict=True))
                self.step_end_soc_kwh = flows[col.SOC_KWH]
                return self._power_now_kw(
                    flows[col.BATTERY_CHARGE_KW], flows[col.BATTERY_DISCHARGE_KW], now, clock_s
                )
        stored = self.stored_plan
        if window is None and stored is not None and self.index[step] in stored.index:
            self._set_mode(now.clock_s, "last_plan", "resumed: the stored plan until re-planned")
            row = stored.loc[self.index[step]]
            return self._power_now_kw(
                float(row[col.BATTERY_CHARGE_KW]),
                float(row[col.BATTERY_DISCHARGE_KW]),
                now,
                clock_s,
            )
        reason = "no plan" if window is None else "the last plan's horizon has passed"
        if self._set_mode(now.clock_s, "rule_based", reason):
            self.counters["fallbacks"] += 1
        paid_for = self.operation.peaks_kw
        guard = max((float(kw.max()) for kw in paid_for.values() if len(kw)), default=None)
        return rule_based_kw(now, self.limits, guard)

    def _power_now_kw(
        self, charge_kw: float, discharge_kw: float, now: Telemetry, clock_s: float
    ) -> float:
        """The battery's power now [kW] for the step's settled charge and discharge.

        A shared step's turn ends get a tick of their own (``turn_at_s``): a turn that ran on
        to the next regular tick would cut the one after it short.
        """
        assert self.samples is not None
        step_s = self.step_td.total_seconds()
        room_kwh = max(self.limits.soc_max_kwh - self.step_start_soc_kwh, 0.0)
        kw, turn_frac = power_now_kw(
            charge_kw,
            discharge_kw,
            (clock_s - self.samples.start_s) / step_s,
            self.limits,
            now.load_kw - now.pv_kw,
            room_kwh / (self.site.battery.charge_efficiency_frac * step_s / 3600),
        )
        self.turn_at_s = self.samples.start_s + turn_frac * step_s
        return kw

    # --- the device ------------------------------------------------------------------------

    def _read(self) -> Telemetry | None:
        """The device's telemetry, or None where it fails (counted, reconnected next time)."""
        try:
            values = self.device.read()
        except DeviceError as error:
            self.counters["device_errors"] += 1
            self._device_error(str(error))
            return None
        reading = Telemetry(
            clock_s=values.get("clock_unix_s", time.time()),
            grid_net_import_kw=values["grid_net_import_kw"],
            pv_kw=values["pv_kw"],
            battery_soc_kwh=values["battery_soc_kwh"],
            battery_power_kw=values["battery_power_kw"],
            charge_available_kw=values.get("battery_charge_available_kw", math.inf),
            discharge_available_kw=values.get("battery_discharge_available_kw", math.inf),
        )
        if not reading.valid():
            return None
        wall_s = time.monotonic()
        last = self.last_valid
        if last is None or reading.clock_s > last.clock_s:
            self._measure_speed(reading.clock_s, wall_s)
            self.last_valid, self.last_valid_wall_s = reading, wall_s
        return reading

    def _poll_wait_s(self, to_tick_s: float) -> float:
        """Wall time to wait before reading the device again: a share of the way to the tick.

        Until the device clock's rate is known, a short wait.
        """
        if not self.speed_measured:
            return UNMEASURED_POLL_S
        return min(max(to_tick_s, 0.0), self.config.tick_s / POLLS_PER_TICK) / self.speed

    def _measure_speed(self, clock_s: float, wall_s: float) -> None:
        """The device clock's rate against the wall clock, averaged since it first moved.

        Averaged over the run, a simulator's coarse clock or a moment's stall does not move it.
        """
        if self._speed_origin is None:
            if self.last_valid is not None:
                self._speed_origin = (self.last_valid.clock_s, self.last_valid_wall_s)
            return
        clock_0, wall_0 = self._speed_origin
        if wall_s - wall_0 > SPEED_WINDOW_S:
            self.speed = (clock_s - clock_0) / (wall_s - wall_0)
            self.speed_measured = True

    def _read_until_valid(self) -> Telemetry:
        for _ in range(100):
            reading = self._read()
            if reading is not None:
                return reading
            time.sleep(0.1)
        raise DeviceError(f"{self.device.register_map.name}: no valid telemetry in 100 reads")

    def _device_time_s(self, reading: Telemetry | None) -> float:
        """Now on the device's clock: read, or carried on from the last valid read."""
        if reading is not None and self.last_valid is reading:
            return reading.clock_s
        if self.last_valid is None:
            return 0.0
        return self.last_valid.clock_s + (time.monotonic() - self.last_valid_wall_s) * self.speed

    def _stale(self, clock_s: float) -> str:
        """Why the telemetry cannot be trusted now, or ''."""
        if self.last_valid is None:
            return "no valid telemetry"
        age_s = clock_s - self.last_valid.clock_s
        limit_s = self.config.safety.watchdog_ticks * self.config.tick_s
        if age_s > limit_s:
            return f"telemetry {age_s:.0f} s old (watchdog {limit_s:g} s)"
        if self.writes_failing:
            return "setpoint writes failing"
        return ""

    def _device_error(self, message: str) -> None:
        self._log({"event": "device_error", "reason": message})
        try:
            self.device.reconnect()
            self.device.take_control()  # a device that restarted is under local control
        except DeviceError:
            pass

    def _beat(self, clock_s: float) -> None:
        """Write the heartbeat the device's map asks for, when it is due."""
        heartbeat = self.device.register_map.control.heartbeat
        if heartbeat is None or clock_s - self.last_beat_clock_s < heartbeat.every_s:
            return
        try:
            self.device.beat(self.beats)
        except DeviceError as error:
            self.counters["device_errors"] += 1
            self._log({"event": "device_error", "reason": str(error)})
            return
        self.beats += 1
        self.last_beat_clock_s = clock_s

    def _write(self, clock_s: float, asked_kw: float, kw: float, reasons: list[str]) -> None:
        """Write the setpoint; a failure is retried at later ticks, never by waiting here.

        After the n-th failure in a row the next try waits ``2**(n-1)`` ticks, at most the last
        retry's wait (the device keeps the setpoint it last took); after ``write_retries``
        retries the writes are failing: an alarm, and safe mode until one succeeds.
        """
        if clock_s < self.next_write_s:
            return
        try:
            self.device.write_setpoint(kw)
        except DeviceError as error:
            self.counters["device_errors"] += 1
            self.failed_writes += 1
            # Backoff grows to the last retry's, then stays: a device back is used soon.
            backoff = min(self.failed_writes, max(self.config.safety.write_retries, 1)) - 1
            self.next_write_s = clock_s + self.config.tick_s * 2**backoff
            if self.failed_writes > self.config.safety.write_retries and not self.writes_failing:
                self.counters["write_failures"] += 1
                self._event(clock_s, "alarm", f"setpoint write failed: {error}")
                self.writes_failing = True
            self._device_error(str(error))
            return
        self.failed_writes, self.next_write_s = 0, -math.inf
        if self.writes_failing:
            self._event(clock_s, "recovered", "setpoint writes succeed again")
            self.writes_failing = False
        if kw != self.last_written_kw or reasons or math.isnan(self.last_written_clock_s):
            self.store.record_setpoint(clock_s, asked_kw, kw, self.mode, reasons)
        self.last_written_kw, self.last_written_clock_s = kw, clock_s

    def _watch_store(self, clock_s: float) -> None:
        """Raise an alarm when the store stops taking rows, and say when it takes them again.

        Control goes on meanwhile: the rows wait in memory, in order.
        """
        down = self.store.unavailable
        if down and not self.store_down:
            self.store_down = True
            self.counters["store_outages"] += 1
            self._event(clock_s, "alarm", f"store unavailable, control goes on: {down}")
        elif not down and self.store_down:
            self.store_down = False
            self._event(clock_s, "recovered", "the store takes rows again; none lost")

    def _set_mode(self, clock_s: float, mode: str, reason: str) -> bool:
        """Enter ``mode``; True where that is a change (recorded as an event)."""
        if mode == self.mode:
            return False
        self._event(clock_s, "mode", f"{self.mode or 'start'} -> {mode}: {reason}")
        self.mode = mode
        return True

    def _event(self, clock_s: float, kind: str, reason: str) -> None:
        if kind == "alarm":
            self.counters["alarms"] += 1
        self.store.record_event(clock_s, kind, reason)
        self._log({"clock_s": clock_s, "event": kind, "reason": reason})

    def _log(self, entry: dict[str, object]) -> None:
        """One JSON line per event on stderr: the structured log."""
        sys.stderr.write(json_line(entry) + "\n")

    def _position(self, stamp: pd.Timestamp) -> int:
        position = int(self.index.searchsorted(stamp))
        if position >= len(self.index) or self.index[position] != stamp:
            raise ConfigError(
                f"{stamp:%Y-%m-%dT%H:%MZ} is not a step of {self.config.history}; the device's "
                "clock must fall within the history calendar"
            )
        return position

    def _shut_down(self) -> None:
        """Idle the battery and close: a stopped controller leaves no setpoint behind."""
        try:
            self.device.write_setpoint(0.0)
            self.device.give_back_control()
        except DeviceError:
            pass
        clock_s = self.last_valid.clock_s if self.last_valid is not None else time.time()
        if self.samples is not None and self.last_valid is not None:
            self._close_step(self.last_valid)
        self._event(clock_s, "stopped", json_line(self.counters | self.stats.summary()))
        self.planner.shutdown(wait=False, cancel_futures=True)
        self.store.close()


def next_tick_s(
    clock_s: float, tick_s: float, origin_s: float, step_s: float, turn_at_s: float = math.inf
) -> float:
    """A tick after ``clock_s``, or the next step's start or shared step's turn if earlier.

    Steps start from ``origin_s``; ``turn_at_s`` is where a shared step's power changes.

    A step's setpoint is written as the step begins: a tick up to ``tick_s`` late would run the
    previous step's power on the new step's load, and on a site at its demand target that
    overshoot is billed (0.4% of a week's bill, measured at 300x before this). A shared step's
    turn likewise: a turn run on to the next tick cuts the next one short.
    """
    next_step_s = origin_s + (math.floor((clock_s - origin_s) / step_s) + 1) * step_s
    turn_s = turn_at_s if turn_at_s > clock_s else math.inf
    return min(clock_s + tick_s, next_step_s, turn_s)


def _iso(clock_s: float) -> str | None:
    if not math.isfinite(clock_s):
        return None
    return pd.Timestamp(clock_s, unit="s", tz="UTC").isoformat()


def run_site(site_dir: Path, until: pd.Timestamp | None = None) -> None:
    """Read ``site_dir`` and operate its site until the calendar ends or ``until``."""
    from gridq.io import bundle as io
    from gridq.io.files import read_config
    from gridq.live.sim_server import site_map
    from gridq.live.site_folder import LIVE_CONFIG

    run_config = read_config(site_dir / io.RUN_CONFIG, RunConfig)
    site = read_config(site_dir / io.SITE_CONFIG, Site)
    config = read_config(site_dir / LIVE_CONFIG, LiveConfig)
    calendar = io.read_timeseries(site_dir / config.history, run_config.timestep_min)
    device = ModbusDevice(
        site_map(site_dir, config.device.map),
        config.device.host,
        config.device.port,
        capacity_kwh=site.battery.capacity_kwh,
        timeout_s=config.device.timeout_s,
    )
    deadline = time.monotonic() + CONNECT_WAIT_S
    while True:  # a device (or simulator) still starting gets a few seconds
        try:
            device.__enter__()
            break
        except DeviceError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        device.take_control()
        live = LiveRun(site_dir, site, run_config, config, device, calendar, until)
        with serving(site_dir, config, live):
            live.run()
    finally:
        device.__exit__(None, None, None)
