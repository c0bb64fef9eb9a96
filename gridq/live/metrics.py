"""Prometheus metrics of a running controller, in a registry of its own.

Latencies are histograms observed where they happen; the rest is read from the controller's
status when scraped, so a metric can never disagree with ``GET /status``.
"""

import math
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MODES = ("plan", "last_plan", "rule_based", "override", "safe")
COUNTERS = {
    "ticks": "Control ticks run.",
    "plans": "Plans adopted.",
    "fallbacks": "Entries into the rule-based fallback (no valid plan).",
    "device_errors": "Failed reads and writes of the device.",
    "write_failures": "Times setpoint writes failed past their retries.",
    "safe_mode_entries": "Entries into safe mode.",
    "alarms": "Alarms raised (safe mode, failing writes, the store unavailable).",
    "store_outages": "Times the state store stopped taking rows (they wait in memory).",
}
GAUGES = {
    "soc_kwh": "Battery state of charge [kWh].",
    "net_import_kw": "Grid import minus export now [kW].",
    "net_import_target_kw": "The import the controller holds the meter under this step [kW].",
    "plan_age_seconds": "Device time since the plan followed was adopted [s].",
    "telemetry_age_seconds": "Device time since the last valid telemetry [s].",
}


class LiveMetrics:
    """The metrics of one controller; ``status`` gives its state when scraped."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.tick_seconds = Histogram(
            "gridq_tick_latency_seconds",
            "Wall time of a control tick, from reading to setpoint written.",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.solve_seconds = Histogram(
            "gridq_plan_seconds",
            "Wall time of a plan: forecast and solve.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0),
            registry=self.registry,
        )
        self.registry.register(_StatusCollector(status))

    def text(self) -> bytes:
        """The exposition format Prometheus scrapes."""
        return generate_latest(self.registry)


class _StatusCollector(Collector):
    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        status = self.status()
        counters = status["counters"]
        for name, help_text in COUNTERS.items():
            counter = CounterMetricFamily(f"gridq_{name}", help_text)
            counter.add_metric([], counters.get(name, 0))
            yield counter
        for name, help_text in GAUGES.items():
            value = status["now"].get(name)
            gauge = GaugeMetricFamily(f"gridq_{name}", help_text)
            gauge.add_metric([], math.nan if value is None else float(value))
            yield gauge
        mode = GaugeMetricFamily("gridq_mode", "1 for the mode the site is in.", labels=["mode"])
        for name in MODES:
            mode.add_metric([name], 1.0 if status["mode"] == name else 0.0)
        yield mode
