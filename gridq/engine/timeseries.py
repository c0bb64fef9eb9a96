"""Checks that an input timeseries keeps GridQ's conventions, with messages naming the fix."""

import numpy as np
import pandas as pd

from gridq.conventions import NON_NEGATIVE_COLUMNS, TIMESERIES_COLUMNS, TIMESTAMP
from gridq.errors import InputError


def _stamp(index: pd.DatetimeIndex, position: int) -> str:
    return index[position].strftime("%Y-%m-%dT%H:%MZ")


def check_time_index(index: pd.Index, timestep_min: int) -> pd.DatetimeIndex:
    """Return ``index`` if it is UTC, strictly increasing and evenly spaced by ``timestep_min``.

    Raises
    ------
    InputError
        Naming the first offending timestamp and what to do about it.
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise InputError(f"column '{TIMESTAMP}' is not a datetime column; store UTC timestamps")
    if len(index) < 2:
        raise InputError(f"column '{TIMESTAMP}' has {len(index)} rows; give at least 2 steps")
    if index.tz is None:
        raise InputError(
            f"column '{TIMESTAMP}' is naive (no time zone); localise it to UTC before saving"
        )
    if str(index.tz) != "UTC":
        raise InputError(
            f"column '{TIMESTAMP}' is in time zone {index.tz}; convert it to UTC before saving"
        )
    index = index.as_unit("ns")
    steps = np.diff(index.asi8)
    expected_step = pd.Timedelta(minutes=timestep_min).value
    if (steps == 0).any():
        position = int(np.argmax(steps == 0)) + 1
        raise InputError(
            f"column '{TIMESTAMP}' repeats {_stamp(index, position)}; drop duplicated rows"
        )
    if (steps < 0).any():
        position = int(np.argmax(steps < 0)) + 1
        raise InputError(
            f"column '{TIMESTAMP}' goes back in time at {_stamp(index, position)}; "
            "sort the rows by time"
        )
    if (steps != expected_step).any():
        position = int(np.argmax(steps != expected_step)) + 1
        actual_min = steps[position - 1] / pd.Timedelta(minutes=1).value
        raise InputError(
            f"column '{TIMESTAMP}' steps {actual_min:g} min into {_stamp(index, position)}, "
            f"expected {timestep_min} min (run_config timestep_min); fill the gap or resample"
        )
    # The frequency lets a one-step window (a rolling run's last) still know its step.
    return pd.DatetimeIndex(index, name=TIMESTAMP, freq=f"{timestep_min}min")


def checked_values(series: pd.Series, stamps: pd.DatetimeIndex) -> np.ndarray:
    """A column's values as float64 if numeric, finite and (where named so) non-negative.

    ``stamps`` are the rows' timestamps, to name the first bad row.
    """
    column = str(series.name)
    if pd.api.types.is_bool_dtype(series):
        raise InputError(f"column '{column}' is boolean; store its values as numbers")
    if not pd.api.types.is_numeric_dtype(series):
        raise InputError(f"column '{column}' is {series.dtype}, not numeric")
    values = series.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise InputError(
            f"column '{column}' has {int(bad.sum())} NaN or infinite values (first at "
            f"{_stamp(stamps, int(np.argmax(bad)))}); fill or drop them"
        )
    if column in NON_NEGATIVE_COLUMNS and (values < 0).any():
        negative = values < 0
        raise InputError(
            f"column '{column}' has {int(negative.sum())} negative values (first "
            f"{values[negative][0]:g} at {_stamp(stamps, int(np.argmax(negative)))}); "
            "it is positive in its named direction, so fix the sign or the data"
        )
    return values


def check_timeseries(frame: pd.DataFrame, timestep_min: int) -> pd.DataFrame:
    """Return the canonical timeseries: the four input columns as float64 on a UTC index.

    ``frame`` carries the timestamps in a ``timestamp`` column or as its index.
    """
    if TIMESTAMP in frame.columns:
        frame = frame.set_index(TIMESTAMP)
    index = check_time_index(frame.index, timestep_min)
    missing = [column for column in TIMESERIES_COLUMNS if column not in frame.columns]
    if missing:
        raise InputError(
            f"missing column(s) {missing}; the timeseries needs {list(TIMESERIES_COLUMNS)}"
        )
    columns = {column: checked_values(frame[column], index) for column in TIMESERIES_COLUMNS}
    return pd.DataFrame(columns, index=index)


def timestep_h(index: pd.DatetimeIndex) -> float:
    """Length of one step of a checked index [h]; a single step takes it from the frequency."""
    if len(index) < 2:
        if index.freq is None:
            raise InputError("a single step without a frequency has no timestep; give two steps")
        return float((index[0] + index.freq - index[0]) / pd.Timedelta(hours=1))
    return float((index[1] - index[0]) / pd.Timedelta(hours=1))


def covered_steps(timeseries: pd.DataFrame, dispatch: pd.DataFrame) -> pd.DataFrame:
    """The stretch of ``timeseries`` that ``dispatch`` covers.

    A perfect-foresight run covers every step; a rolling run starts after its forecast's
    warm-up, so its dispatch and baseline cover the tail.
    """
    full = pd.DatetimeIndex(timeseries.index)
    index = pd.DatetimeIndex(dispatch.index)
    first = int(full.searchsorted(index[0]))
    stretch = full[first : first + len(index)]
    if len(stretch) != len(index) or not stretch.equals(index):
        raise InputError(
            "the dispatch's steps are not a stretch of the timeseries' steps; rerun the step "
            "that writes it"
        )
    return timeseries.iloc[first : first + len(index)]


def month_labels(local: pd.DatetimeIndex) -> np.ndarray:
    """Per step, its calendar month on ``local``'s clock as ``YYYY-MM``.

    Formats each distinct month once: ``strftime`` over a year of steps costs tens of ms.
    """
    keys = np.asarray(local.year) * 100 + np.asarray(local.month)
    unique, position = np.unique(keys, return_inverse=True)
    names = np.array([f"{key // 100:04d}-{key % 100:02d}" for key in unique], dtype=object)
    return names[position]


def day_labels(local: pd.DatetimeIndex) -> np.ndarray:
    """Per step, its calendar day on ``local``'s clock as ``YYYY-MM-DD``."""
    keys = (np.asarray(local.year) * 100 + np.asarray(local.month)) * 100 + np.asarray(local.day)
    unique, position = np.unique(keys, return_inverse=True)
    names = np.array(
        [f"{key // 10000:04d}-{key // 100 % 100:02d}-{key % 100:02d}" for key in unique],
        dtype=object,
    )
    return names[position]
