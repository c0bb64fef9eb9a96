"""Validate a bundle's tables with Great Expectations suites."""

from typing import Any

import pandas as pd

from gridq.schemas import Battery, RunConfig
from gridq.validation.gx import (
    ValidationReport,
    dispatch_frame,
    dispatch_parameters,
    run_suite,
    timeseries_frame,
    timeseries_parameters,
)


def validate_timeseries(
    raw: pd.DataFrame, run_config: RunConfig, suite: dict[str, Any]
) -> ValidationReport:
    """Run the timeseries suite on the table as stored (before any convention check)."""
    return run_suite(timeseries_frame(raw), suite, timeseries_parameters(run_config))


def validate_dispatch(
    dispatch: pd.DataFrame, battery: Battery, suite: dict[str, Any]
) -> ValidationReport:
    """Run the dispatch suite on a checked dispatch table."""
    return run_suite(dispatch_frame(dispatch), suite, dispatch_parameters(battery))
