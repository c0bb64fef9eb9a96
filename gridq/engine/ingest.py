"""Real meter, price and PV readings into GridQ's conventions: UTC step starts, kW, GBP per kWh.

Pure transformations of values already read from a file (:mod:`gridq.io.importing` reads
them). Each raises :class:`~gridq.errors.InputError` naming the row (1-based, as a spreadsheet
shows it, header excluded) and the fix; the caller puts the file in front.
"""

from typing import Literal

import numpy as np
import pandas as pd

from gridq.errors import InputError

EnergyUnit = Literal["kWh", "Wh", "kW", "W"]
PriceUnit = Literal["GBP/kWh", "p/kWh", "GBP/MWh"]
GapPolicy = Literal["refuse", "linear", "zero", "previous_day"]

SETTLEMENT_PERIOD_MIN = 30
DAY_FIRST_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y")
"""Spreadsheet dates tried after ISO 8601 (UK order: day first)."""


def _parse(text: pd.Series, utc: bool = False) -> pd.Series:
    """ISO 8601 where it parses, else a day-first UK form; NaT where nothing does."""
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=utc)
    for form in DAY_FIRST_FORMATS:
        missing = parsed.isna()
        if not missing.any():
            break
        parsed = parsed.where(~missing, pd.to_datetime(text, format=form, errors="coerce", utc=utc))
    return parsed


def settlement_period_starts(
    local_dates: pd.Series, periods: pd.Series, zone: str = "Europe/London"
) -> pd.DatetimeIndex:
    """UTC starts of UK settlement periods: period 1 starts at local midnight.

    A day has 48 half-hours, 46 on the spring clock change and 50 on the autumn one.
    """
    days = _parse(local_dates.astype(str).str.strip())
    bad = np.flatnonzero(days.isna().to_numpy())
    if len(bad):
        raise InputError(
            f"row {bad[0] + 1}: date {local_dates.iloc[bad[0]]!r} is not a date; write e.g. "
            "2025-03-30 or 30/03/2025"
        )
    number = pd.to_numeric(periods, errors="coerce")
    bad = np.flatnonzero(number.isna().to_numpy() | (number % 1 != 0).to_numpy())
    if len(bad):
        raise InputError(
            f"row {bad[0] + 1}: settlement period {periods.iloc[bad[0]]!r} is not a whole "
            "number; give 1 to 48 (46 or 50 on clock-change days)"
        )
    midnight = pd.DatetimeIndex(days.dt.normalize()).tz_localize(zone)
    next_midnight = pd.DatetimeIndex(days.dt.normalize() + pd.Timedelta(days=1)).tz_localize(zone)
    in_day = np.asarray(
        (next_midnight - midnight) / pd.Timedelta(minutes=SETTLEMENT_PERIOD_MIN)
    ).astype(int)
    period = number.to_numpy().astype(int)
    bad = np.flatnonzero((period < 1) | (period > in_day))
    if len(bad):
        row = bad[0]
        raise InputError(
            f"row {row + 1}: settlement period {period[row]} on {days.iloc[row]:%Y-%m-%d}, a "
            f"day of {in_day[row]} periods on the {zone} clock; periods run 1 to {in_day[row]}"
        )
    starts = midnight.tz_convert("UTC") + pd.to_timedelta(
        (period - 1) * SETTLEMENT_PERIOD_MIN, unit="min"
    )
    return pd.DatetimeIndex(starts).as_unit("ns")


def stamps_to_utc(stamps: pd.Series, zone: str) -> pd.DatetimeIndex:
    """Timestamps as UTC: those with an offset are converted; those without are on ``zone``.

    The repeated local hour of an autumn clock change is told apart by the rows' order.
    """
    text = stamps.astype(str).str.strip()
    has_offset = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    if has_offset.any() and not has_offset.all():
        row = int(np.flatnonzero((has_offset != has_offset.iloc[0]).to_numpy())[0])
        raise InputError(
            f"row {row + 1}: timestamp {text.iloc[row]!r} mixes time zones with row 1's "
            f"{text.iloc[0]!r}; give every timestamp an offset, or none and set the time zone"
        )
    if has_offset.all():
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        _refuse_unparsed(parsed, text)
        return pd.DatetimeIndex(parsed).as_unit("ns")
    parsed = _parse(text)
    _refuse_unparsed(parsed, text)
    naive = pd.DatetimeIndex(parsed).as_unit("ns")
    if zone == "UTC":
        return naive.tz_localize("UTC")
    try:
        return naive.tz_localize(zone, ambiguous="infer", nonexistent="raise").tz_convert("UTC")
    except (ValueError, TypeError) as error:
        reason = str(error).splitlines()[0]
        raise InputError(
            f"local timestamps cannot be placed on the {zone} clock ({reason}); give UTC "
            "timestamps or offsets, or check the rows around the clock change"
        ) from None


def _refuse_unparsed(parsed: pd.Series, text: pd.Series) -> None:
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise InputError(
            f"row {bad[0] + 1}: {text.iloc[bad[0]]!r} is not a timestamp; write e.g. "
            "2025-03-30T01:30Z or 30/03/2025 01:30"
        )


THOUSANDS = r"[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?"
"""A number whose commas can only be thousands separators: 1,234 or -12,345.6 (not 0,200)."""


def numbers(values: pd.Series, column: str) -> np.ndarray:
    """``values`` as floats; text that is not a number is refused, naming the row."""
    text = values.astype(str).str.strip()
    with_comma = text.str.contains(",", regex=False) & values.notna()
    decimal_comma = np.flatnonzero((with_comma & ~text.str.fullmatch(THOUSANDS)).to_numpy())
    if len(decimal_comma):
        raise InputError(
            f"row {decimal_comma[0] + 1}: column '{column}' holds "
            f"{values.iloc[decimal_comma[0]]!r}: decimal commas are not read (is '0,200' 0.2 or "
            "200?); save the file with decimal points"
        )
    parsed = pd.to_numeric(text.str.replace(",", ""), errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy() & values.notna().to_numpy())
    if len(bad):
        raise InputError(
            f"row {bad[0] + 1}: column '{column}' holds {values.iloc[bad[0]]!r}, not a number; "
            "fix the cell or leave it empty (a gap)"
        )
    return parsed.to_numpy(dtype=float)


def to_kw(values: np.ndarray, unit: EnergyUnit, step_h: float) -> np.ndarray:
    """Mean power over each interval [kW] from energy per interval or power."""
    return {
        "kWh": values / step_h,
        "Wh": values / 1000.0 / step_h,
        "kW": values,
        "W": values / 1000.0,
    }[unit]


def to_gbp_per_kwh(values: np.ndarray, unit: PriceUnit) -> np.ndarray:
    """Prices in GBP per kWh."""
    return {"GBP/kWh": values, "p/kWh": values / 100.0, "GBP/MWh": values / 1000.0}[unit]


def step_of(index: pd.DatetimeIndex) -> int:
    """The readings' step [min]: the most common spacing."""
    if len(index) < 2:
        raise InputError("fewer than two readings; give at least two intervals")
    spacing = pd.Series(np.diff(index) / pd.Timedelta(minutes=1))
    return int(spacing.mode().iloc[0])


def check_order(index: pd.DatetimeIndex) -> None:
    """Refuse repeated or backward timestamps, naming the row."""
    repeated = np.flatnonzero(index.duplicated())
    if len(repeated):
        row = repeated[0]
        raise InputError(
            f"row {row + 1}: interval starting {index[row]:%Y-%m-%dT%H:%MZ} appears twice; "
            "remove the duplicate (or check the time zone and clock-change rows)"
        )
    backward = np.flatnonzero(np.diff(index.asi8) < 0)
    if len(backward):
        row = backward[0] + 1
        raise InputError(
            f"row {row + 1}: {index[row]:%Y-%m-%dT%H:%MZ} comes before the row above; sort the "
            "file by time"
        )


def fill_gaps(
    frame: pd.DataFrame, step_min: int, policy: GapPolicy
) -> tuple[pd.DataFrame, np.ndarray]:
    """``frame`` on every step from its first to its last, and which steps were filled.

    ``refuse`` names the first missing step; ``linear`` interpolates in time, ``zero`` writes
    0 and ``previous_day`` copies the same step a day earlier (refused where that is missing).
    """
    full = pd.date_range(
        frame.index[0], frame.index[-1], freq=f"{step_min}min", name=frame.index.name
    )
    off_grid = frame.index.difference(full)
    if len(off_grid):
        raise InputError(
            f"timestamp {off_grid[0]:%Y-%m-%dT%H:%MZ} is off the {step_min}-minute grid of the "
            "first reading; give evenly spaced intervals"
        )
    whole = frame.reindex(full)
    missing = whole.isna().any(axis=1).to_numpy()
    if not missing.any():
        return whole, missing
    if policy == "refuse":
        first = full[np.flatnonzero(missing)[0]]
        raise InputError(
            f"{int(missing.sum())} step(s) missing or empty, the first at "
            f"{first:%Y-%m-%dT%H:%MZ}; fill them in the file or pass --fill linear, zero or "
            "previous_day"
        )
    if policy == "linear":
        whole = whole.interpolate(method="time", limit_direction="both")
    elif policy == "zero":
        whole = whole.fillna(0.0)
    else:
        day_before = whole.shift(freq=pd.Timedelta(days=1)).reindex(full)
        whole = whole.fillna(day_before)
        still = whole.isna().any(axis=1).to_numpy()
        if still.any():
            first = full[np.flatnonzero(still)[0]]
            raise InputError(
                f"step {first:%Y-%m-%dT%H:%MZ} is missing and so is the day before; use "
                "--fill linear or zero"
            )
    return whole, missing


def resample(
    frame: pd.DataFrame, from_min: int, to_min: int, filled: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """Mean power and mean price per ``to_min`` step, so energy over every step is kept.

    Finer steps repeat the coarser interval's mean power (and price); coarser steps average
    the finer ones. A coarse step is filled if any of its parts was.
    """
    if from_min == to_min:
        return frame, filled
    if to_min < from_min:
        if from_min % to_min:
            raise InputError(
                f"readings every {from_min} min cannot be split into {to_min}-minute steps; "
                "choose a step that divides it"
            )
        parts = from_min // to_min
        index = pd.date_range(
            frame.index[0], periods=len(frame) * parts, freq=f"{to_min}min", name=frame.index.name
        )
        finer = pd.DataFrame(
            {column: np.repeat(frame[column].to_numpy(), parts) for column in frame.columns},
            index=index,
        )
        return finer, np.repeat(filled, parts)
    if to_min % from_min:
        raise InputError(
            f"readings every {from_min} min do not add up to {to_min}-minute steps; choose a "
            "multiple of the readings' step"
        )
    parts = to_min // from_min
    whole = len(frame) // parts * parts
    if whole == 0:
        raise InputError(f"fewer readings than one {to_min}-minute step")
    # A coarse step must start on its own boundary and hold all its parts.
    start = frame.index[0].ceil(f"{to_min}min")
    kept = frame.loc[start:]
    kept_filled = filled[len(frame) - len(kept) :]
    whole = len(kept) // parts * parts
    kept, kept_filled = kept.iloc[:whole], kept_filled[:whole]
    coarse = pd.DataFrame(
        {
            column: kept[column].to_numpy().reshape(-1, parts).mean(axis=1)
            for column in kept.columns
        },
        index=kept.index[::parts],
    )
    return coarse, np.asarray(kept_filled.reshape(-1, parts).any(axis=1))
