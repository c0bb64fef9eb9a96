"""Run a Great Expectations suite on an in-memory table.

Suites are declarative JSON (``stages/validate/``) with ``{"$PARAMETER": name}`` where a bound
depends on the bundle (step, SOC limits). GX Core 1.x runs in an ephemeral context with analytics
and progress bars off, so nothing is written and nothing is sent.
"""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.checks import balance_residual_kw
from gridq.schemas import Battery, RunConfig


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of one suite on one table."""

    table: str
    results: tuple[dict[str, Any], ...]

    @property
    def success(self) -> bool:
        """True when every expectation held."""
        return all(result["success"] for result in self.results)

    def failures(self) -> list[dict[str, Any]]:
        """The expectations that did not hold."""
        return [result for result in self.results if not result["success"]]

    def summary(self) -> str:
        """One line: how many failed, and each failed expectation with an example."""
        failed = self.failures()
        if not failed:
            return f"all {len(self.results)} expectations hold"
        items = "; ".join(
            f"{r['expectation']}({r['column'] or 'table'}): {r['unexpected_count']} unexpected, "
            f"e.g. {r['examples'][:3]}"
            for r in failed
        )
        return f"{len(failed)} of {len(self.results)} expectations failed: {items}"

    def as_dict(self) -> dict[str, Any]:
        """For validation.json."""
        return {"table": self.table, "success": self.success, "results": list(self.results)}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def run_suite(
    frame: pd.DataFrame, suite: dict[str, Any], parameters: dict[str, Any]
) -> ValidationReport:
    """Validate ``frame`` (timestamps as a column) against the suite definition."""
    import great_expectations as gx  # about 2 s to import: only commands that validate pay it
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    batch = (
        context.data_sources.add_pandas(name="gridq")
        .add_dataframe_asset(name=suite["name"])
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    expectations = [
        ExpectationConfiguration(type=item["type"], kwargs=item["kwargs"]).to_domain_obj()
        for item in suite["expectations"]
    ]
    outcome = batch.validate(
        gx.ExpectationSuite(name=suite["name"], expectations=expectations),
        expectation_parameters=parameters,
        result_format="SUMMARY",
    )
    results = []
    for item, result in zip(suite["expectations"], outcome.results, strict=True):
        details = result.result or {}
        results.append(
            {
                "expectation": item["type"],
                "column": item["kwargs"].get("column"),
                "success": bool(result.success),
                "unexpected_count": int(details.get("unexpected_count") or 0),
                "examples": [_plain(v) for v in details.get("partial_unexpected_list") or []][:5],
            }
        )
    return ValidationReport(table=suite["name"], results=tuple(results))


def timeseries_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """The raw timeseries table with ``step_min``, the minutes since the previous row."""
    frame = raw.reset_index() if col.TIMESTAMP not in raw.columns else raw.copy()
    if col.TIMESTAMP in frame.columns and pd.api.types.is_datetime64_any_dtype(
        frame[col.TIMESTAMP]
    ):
        steps = frame[col.TIMESTAMP].diff() / pd.Timedelta(minutes=1)
        frame["step_min"] = steps.bfill().fillna(0.0)
    else:
        frame["step_min"] = np.nan
    return frame


def timeseries_parameters(run_config: RunConfig) -> dict[str, Any]:
    """Bounds of the timeseries suite for a bundle: its step and its plausibility bounds."""
    bounds = run_config.plausibility
    return {
        "timestep_min": [float(run_config.timestep_min)],
        "plausible_power_max_kw": bounds.power_max_kw,
        "price_min_gbp_per_kwh": bounds.price_min_gbp_per_kwh,
        "price_max_gbp_per_kwh": bounds.price_max_gbp_per_kwh,
    }


def dispatch_frame(dispatch: pd.DataFrame) -> pd.DataFrame:
    """A dispatch table with ``balance_residual_kw`` and the timestamps as a column."""
    return dispatch.assign(balance_residual_kw=balance_residual_kw(dispatch)).reset_index()


def dispatch_parameters(battery: Battery) -> dict[str, Any]:
    """Bounds of the dispatch suite for a bundle's battery."""
    tolerance_kwh = 1e-6
    return {
        "soc_min_kwh": battery.soc_min_kwh - tolerance_kwh,
        "soc_max_kwh": battery.soc_max_kwh + tolerance_kwh,
        "balance_residual_min_kw": -col.BALANCE_TOLERANCE_KW,
        "balance_residual_max_kw": col.BALANCE_TOLERANCE_KW,
    }
