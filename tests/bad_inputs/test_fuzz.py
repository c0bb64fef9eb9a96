"""Fuzzing the input layer: whatever arrives, the answer is a model or one line the user can act on.

Configs and timeseries frames are drawn at random around the valid ones (right keys with wrong
values, wrong keys, wrong types, NaN, duplicates); every draw must either parse or raise a
GridqError whose message is one line. Any other exception is a bug.
"""

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridq import conventions as col
from gridq.engine.plausibility import check_plausible
from gridq.engine.timeseries import check_timeseries
from gridq.errors import GridqError
from gridq.io import files
from gridq.schemas import Plausibility, RunConfig, Site

T = TypeVar("T")
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["at_least_initial", "free", "Europe/London", "15", "learned", "ipm"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)

SITE_KEYS = ["latitude_deg", "longitude_deg", "battery", "grid", "pv_curtailable", "x"]
BATTERY_KEYS = [
    "capacity_kwh",
    "charge_power_max_kw",
    "discharge_power_max_kw",
    "charge_efficiency_frac",
    "discharge_efficiency_frac",
    "soc_min_frac",
    "soc_max_frac",
    "initial_soc_frac",
    "terminal_soc",
    "degradation_cost_gbp_per_kwh",
]
RUN_KEYS = [
    "timestep_min",
    "tariff",
    "solver",
    "rolling",
    "underwriting",
    "baseline",
    "plausibility",
]


def _outcome(call: Callable[[], T]) -> tuple[T | None, str | None]:
    """``call``'s result, or the message of the GridqError it raised."""
    try:
        return call(), None
    except GridqError as error:
        return None, str(error)


def _assert_parses_or_one_line(model, data) -> None:
    parsed, message = _outcome(lambda: files.parse_model(model, data))
    assert parsed is not None or (message and "\n" not in message)


@settings(FUZZ)
@given(
    site=st.fixed_dictionaries(
        {"name": st.just("fuzz")},
        optional={key: values for key in SITE_KEYS}
        | {"battery": st.dictionaries(st.sampled_from(BATTERY_KEYS), values, max_size=5)},
    )
)
def test_any_site_config_parses_or_fails_in_one_line(site):
    _assert_parses_or_one_line(Site, site)


@settings(FUZZ)
@given(
    run=st.dictionaries(st.sampled_from(RUN_KEYS), values, max_size=4),
    rolling=st.dictionaries(
        st.sampled_from(
            ["forecast", "reoptimise_every_min", "horizon_h", "quantiles", "peak_quantile"]
        ),
        values,
        max_size=3,
    ),
)
def test_any_run_config_parses_or_fails_in_one_line(run, rolling):
    _assert_parses_or_one_line(RunConfig, run | ({"rolling": rolling} if rolling else {}))


@settings(FUZZ)
@given(text=st.text(max_size=80))
def test_any_yaml_text_reads_as_keys_or_fails_in_one_line(text, tmp_path_factory):
    path: Path = tmp_path_factory.mktemp("yaml") / "run_config.yaml"
    path.write_text(text)
    data, message = _outcome(lambda: files.read_yaml(path))
    if message is not None:
        assert "\n" not in message
        assert str(path) in message
    else:
        assert isinstance(data, dict)


def _frame(draw, steps: int) -> pd.DataFrame:
    index = pd.date_range("2025-06-01", periods=steps, freq="15min", tz="UTC")
    columns = {}
    for name in col.TIMESERIES_COLUMNS:
        kind = draw(st.sampled_from(["ok", "ok", "ok", "nan", "negative", "huge", "text", "bool"]))
        values = np.asarray(
            draw(st.lists(st.floats(0, 50), min_size=steps, max_size=steps)), dtype=float
        )
        if name in (col.IMPORT_PRICE, col.EXPORT_PRICE):
            values = values / 100
        position = draw(st.integers(0, steps - 1))
        if kind == "nan":
            values[position] = np.nan
        elif kind == "negative":
            values[position] = -abs(values[position]) - 10
        elif kind == "huge":
            values[position] = 1e12
        columns[name] = (
            values.astype(str) if kind == "text" else values > 1 if kind == "bool" else values
        )
    frame = pd.DataFrame(columns, index=index).rename_axis(col.TIMESTAMP)
    order = draw(st.sampled_from(["ok", "ok", "shuffled", "duplicated", "gap", "naive", "dropped"]))
    if order == "shuffled":
        frame = frame.sample(frac=1, random_state=draw(st.integers(0, 10)))
    elif order == "duplicated":
        frame = pd.concat([frame, frame.iloc[:1]])
    elif order == "gap":
        frame = frame.drop(index=frame.index[steps // 2])
    elif order == "naive":
        frame.index = frame.index.tz_localize(None)
    elif order == "dropped":
        frame = frame.drop(columns=[draw(st.sampled_from(col.TIMESERIES_COLUMNS))])
    return frame


@settings(FUZZ)
@given(data=st.data(), steps=st.integers(1, 12))
def test_any_timeseries_frame_is_checked_or_fails_in_one_line(data, steps):
    frame = _frame(data.draw, steps)

    def checked_frame() -> pd.DataFrame:
        checked = check_timeseries(frame.reset_index(), 15)
        check_plausible(checked, Plausibility())
        return checked

    checked, message = _outcome(checked_frame)
    if message is not None:
        assert message
        assert "\n" not in message
    else:
        assert checked is not None
        assert list(checked.columns) == list(col.TIMESERIES_COLUMNS)
        assert np.isfinite(checked.to_numpy()).all()
        assert (checked[list(col.NON_NEGATIVE_COLUMNS)] >= 0).all().all()
        assert checked.to_numpy().max() <= Plausibility().power_max_kw


@pytest.mark.parametrize("column", col.TIMESERIES_COLUMNS)
def test_a_frame_that_passes_has_every_rule_applied(column):
    # The fuzzing's "else" branch must be reachable: a clean frame passes every rule.
    index = pd.date_range("2025-06-01", periods=4, freq="15min", tz="UTC", name=col.TIMESTAMP)
    frame = pd.DataFrame({name: [0.1, 0.2, 0.3, 0.4] for name in col.TIMESERIES_COLUMNS}, index)
    check_plausible(check_timeseries(frame, 15), Plausibility())
    with pytest.raises(GridqError, match=column):
        check_timeseries(frame.assign(**{column: [0.1, np.nan, 0.3, 0.4]}), 15)
