"""The catalogue of bad inputs: each edits a copy of a finished example bundle, runs one command.

A case's ``names`` must all appear in the one stderr line (the file, field or option at fault);
every file that existed before must be byte-identical after. The working folder holds the
bundle ``b`` (a three-day home, backtested), ``params.yaml``, ``data/tariffs/`` and a tariff
``tariff.yaml``.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from gridq import conventions as col

Edit = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One bad input: what to break, the command to run, what its error line must name."""

    id: str
    argv: tuple[str, ...]
    names: tuple[str, ...]
    edit: Edit | None = None
    code: int = 2
    one_line: bool = True
    """False where a command lists every problem, one line each (``gridq verify``)."""
    env: dict[str, str] | None = None
    """Environment variables the command runs with."""


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[last] = value


def yaml_set(file: str, dotted: str, value: Any) -> Edit:
    """Set ``dotted`` (e.g. ``battery.capacity_kwh``) in a YAML file of the working folder."""

    def edit(root: Path) -> None:
        data = yaml.safe_load((root / file).read_text())
        _set(data, dotted, value)
        (root / file).write_text(yaml.safe_dump(data, sort_keys=False))

    return edit


def yaml_delete(file: str, dotted: str) -> Edit:
    """Delete key ``dotted`` from a YAML file of the working folder."""

    def edit(root: Path) -> None:
        data = yaml.safe_load((root / file).read_text())
        *parents, last = dotted.split(".")
        inner = data
        for key in parents:
            inner = inner[key]
        del inner[last]
        (root / file).write_text(yaml.safe_dump(data, sort_keys=False))

    return edit


def text(file: str, content: str | bytes) -> Edit:
    """Replace a file of the working folder with ``content``."""

    def edit(root: Path) -> None:
        path = root / file
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return edit


def frame(
    change: Callable[[pd.DataFrame], pd.DataFrame], file: str = "b/timeseries.parquet"
) -> Edit:
    """Rewrite a parquet table of the working folder through ``change``."""

    def edit(root: Path) -> None:
        table = pd.read_parquet(root / file)
        change(table).to_parquet(root / file)

    return edit


def folder_instead(file: str) -> Edit:
    """Put an empty folder where ``file`` was."""

    def edit(root: Path) -> None:
        (root / file).unlink()
        (root / file).mkdir()

    return edit


def remove(file: str) -> Edit:
    """Delete ``file``."""
    return lambda root: (root / file).unlink()


def both(*edits: Edit) -> Edit:
    """Apply ``edits`` in turn."""

    def edit(root: Path) -> None:
        for one in edits:
            one(root)

    return edit


def _assign(column: str, value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda table: table.assign(**{column: value})


def _at_row(column: str, row: int, value: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(table: pd.DataFrame) -> pd.DataFrame:
        table = table.copy()
        table.loc[table.index[row], column] = value
        return table

    return change


BACKTEST = ("backtest", "b")
SOLVE = ("solve", "b")
RC, SC, TS = "b/run_config.yaml", "b/site_config.yaml", "b/timeseries.parquet"
INPUTS = (col.LOAD_KW, col.PV_KW, col.IMPORT_PRICE, col.EXPORT_PRICE)

CASES: list[Case] = []


def add(
    id_: str,
    argv: tuple[str, ...],
    names: tuple[str, ...],
    edit: Edit | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Add one case to the catalogue."""
    one_line = argv[0] != "verify" or len(argv) == 1
    CASES.append(Case(id_, argv, names, edit, one_line=one_line, env=env))


# --- YAML files: empty, not a mapping, malformed, not UTF-8 -------------------------------------
for file, command in ((RC, BACKTEST), (SC, BACKTEST), ("params.yaml", ("generate", "home"))):
    short = Path(file).name
    add(f"{short}-empty", command, (short, "empty"), text(file, ""))
    add(f"{short}-comment-only", command, (short, "empty"), text(file, "# nothing\n"))
    add(f"{short}-list", command, (short, "list"), text(file, "- a\n- b\n"))
    add(f"{short}-scalar", command, (short, "int"), text(file, "42\n"))
    add(f"{short}-malformed", command, (short, "line"), text(file, "a: [1, 2\nb: c\n"))
    add(f"{short}-tabs", command, (short, "YAML"), text(file, "a:\n\t- 1\n"))
    add(f"{short}-latin1", command, (short, "UTF-8"), text(file, "name: caf\xe9".encode("latin-1")))
    add(f"{short}-missing", command, (short, "not found"), remove(file))
    add(f"{short}-folder", command, (short,), folder_instead(file))

# --- run_config.yaml fields ---------------------------------------------------------------------
RUN_CONFIG_BAD = [
    ("timestep_min", 7),
    ("timestep_min", 0),
    ("timestep_min", -15),
    ("timestep_min", "fifteen"),
    ("timestep_min", 120),
    ("baseline", "nothing"),
    ("unknown_key", 1),
    ("tariff.local_timezone", "Mars/Olympus"),
    ("tariff.standing_charge_gbp_per_day", "free"),
    ("tariff.unknown", 1),
    ("tariff.energy.bands", "cheap"),
    ("tariff.export.rate_gbp_per_kwh", "some"),
    ("solver.method", "guess"),
    ("solver.time_limit_s", -1),
    ("solver.time_limit_s", 0),
    ("solver.forbid_simultaneous_charge_discharge", "maybe"),
    ("rolling.forecast", "crystal_ball"),
    ("rolling.reoptimise_every_min", 0),
    ("rolling.reoptimise_every_min", -60),
    ("rolling.reoptimise_every_min", 7),
    ("rolling.horizon_h", 0),
    ("rolling.horizon_h", 0.1),
    ("rolling.quantiles", [0.1, 0.9]),
    ("rolling.peak_quantile", 0.95),
    ("rolling.quantiles", [0.5, 0.9]),
    ("rolling.retrain_every_h", 0),
    ("rolling.training_days", -1),
    ("underwriting.life_years", 0),
    ("underwriting.life_years", 1000),
    ("underwriting.discount_rate_frac", -2),
    ("underwriting.weather_years", 0),
    ("underwriting.load_growth_frac_per_year", -1),
    ("underwriting.uncertainty.scenarios", -1),
    ("plausibility.power_max_kw", 0),
    ("plausibility.price_min_gbp_per_kwh", 10),
    ("plausibility.unknown", 1),
]


def add_fields(file: str, bad_values: list[tuple[str, Any]]) -> None:
    """One backtest case per bad ``(dotted key, value)`` of ``file``; the error names the key."""
    short = Path(file).name
    for dotted, value in bad_values:
        parts = dotted.split(".")
        # An unknown key is named by the section that refuses it.
        field = parts[0] if parts[-1] == "unknown" else parts[-1]
        add(
            f"{short.removesuffix('.yaml')}-{dotted}={value}",
            BACKTEST,
            (short, field),
            yaml_set(file, dotted, value),
        )


add_fields(RC, RUN_CONFIG_BAD)
add(
    "run_config-timestep_min=30",
    BACKTEST,
    ("timeseries.parquet", "timestep_min"),
    yaml_set(RC, "timestep_min", 30),
)
add(
    "run_config-tariff-missing-bands",
    BACKTEST,
    ("run_config.yaml",),
    yaml_set(RC, "tariff.energy", {"bands": []}),
)

# --- site_config.yaml fields --------------------------------------------------------------------
SITE_BAD = [
    ("battery.capacity_kwh", -1),
    ("battery.capacity_kwh", "big"),
    ("battery.capacity_kwh", None),
    ("battery.charge_power_max_kw", -5),
    ("battery.discharge_power_max_kw", "fast"),
    ("battery.charge_efficiency_frac", 0),
    ("battery.charge_efficiency_frac", 1.5),
    ("battery.discharge_efficiency_frac", -0.5),
    ("battery.soc_min_frac", 1.5),
    ("battery.soc_max_frac", -0.1),
    ("battery.soc_min_frac", 0.9),
    ("battery.initial_soc_frac", 2),
    ("battery.terminal_soc", "sometimes"),
    ("battery.degradation_cost_gbp_per_kwh", -0.01),
    ("battery.unknown", 1),
    ("latitude_deg", 100),
    ("longitude_deg", 200),
    ("latitude_deg", "north"),
    ("grid.import_limit_kw", -5),
    ("grid.export_limit_kw", "none"),
    ("grid.unknown", 1),
    ("pv_curtailable", "perhaps"),
    ("unknown_key", 1),
]
add_fields(SC, SITE_BAD)
add("site_config-no-name", BACKTEST, ("site_config.yaml", "name"), yaml_delete(SC, "name"))
add(
    "site_config-battery-text",
    BACKTEST,
    ("site_config.yaml", "battery"),
    yaml_set(SC, "battery", "big"),
)
for quantiles in ([0.0, 0.5, 1.0], [0.5, 1.5]):
    add(
        f"run_config-rolling.quantiles={quantiles}",
        BACKTEST,
        ("run_config.yaml", "quantile"),
        yaml_set(RC, "rolling.quantiles", quantiles),
    )

# --- timeseries.parquet -------------------------------------------------------------------------
for column in INPUTS:
    add(
        f"timeseries-no-{column}",
        BACKTEST,
        ("timeseries.parquet", column),
        frame(lambda t, c=column: t.drop(columns=[c])),
    )
    add(
        f"timeseries-nan-{column}",
        BACKTEST,
        ("timeseries.parquet", column),
        frame(_at_row(column, 5, np.nan)),
    )
    add(
        f"timeseries-inf-{column}",
        BACKTEST,
        ("timeseries.parquet", column),
        frame(_at_row(column, 7, np.inf)),
    )
    add(
        f"timeseries-text-{column}",
        BACKTEST,
        ("timeseries.parquet", column),
        frame(lambda t, c=column: t.assign(**{c: t[c].astype(str)})),
    )
    add(
        f"timeseries-bool-{column}",
        BACKTEST,
        ("timeseries.parquet", column, "boolean"),
        frame(lambda t, c=column: t.assign(**{c: t[c] > 0.1})),
    )
for column in (col.LOAD_KW, col.PV_KW):
    add(
        f"timeseries-negative-{column}",
        BACKTEST,
        ("timeseries.parquet", column, "sign"),
        frame(_at_row(column, 3, -2.0)),
    )
    add(
        f"timeseries-1e12-{column}",
        BACKTEST,
        ("timeseries.parquet", column, "power_max_kw"),
        frame(_assign(column, 1e12)),
    )
    add(
        f"timeseries-watts-{column}",
        BACKTEST,
        ("timeseries.parquet", column, "W"),
        frame(lambda t, c=column: t.assign(**{c: t[c] * 1e6})),
    )
for column in (col.IMPORT_PRICE, col.EXPORT_PRICE):
    add(
        f"timeseries-pence-{column}",
        BACKTEST,
        ("timeseries.parquet", column, "pence"),
        frame(lambda t, c=column: t.assign(**{c: t[c] * 100 + 1})),
    )
    add(
        f"timeseries-huge-price-{column}",
        BACKTEST,
        ("timeseries.parquet", column, "plausibility"),
        frame(_at_row(column, 2, 1e6)),
    )
    add(
        f"timeseries-very-negative-{column}",
        BACKTEST,
        ("timeseries.parquet", column),
        frame(_at_row(column, 2, -50.0)),
    )
add(
    "timeseries-naive",
    BACKTEST,
    ("timeseries.parquet", "UTC"),
    frame(lambda t: t.assign(timestamp=t["timestamp"].dt.tz_localize(None))),
)
add(
    "timeseries-london",
    BACKTEST,
    ("timeseries.parquet", "UTC"),
    frame(lambda t: t.assign(timestamp=t["timestamp"].dt.tz_convert("Europe/London"))),
)
add(
    "timeseries-duplicate",
    BACKTEST,
    ("timeseries.parquet", "repeats"),
    frame(lambda t: pd.concat([t.iloc[:10], t.iloc[9:]])),
)
add("timeseries-reversed", BACKTEST, ("timeseries.parquet", "sort"), frame(lambda t: t.iloc[::-1]))
add(
    "timeseries-gap",
    BACKTEST,
    ("timeseries.parquet", "gap"),
    frame(lambda t: t.drop(index=t.index[20:24])),
)
add(
    "timeseries-30min",
    BACKTEST,
    ("timeseries.parquet", "timestep_min"),
    frame(lambda t: t.iloc[::2]),
)
add(
    "timeseries-one-row",
    BACKTEST,
    ("timeseries.parquet", "at least 2"),
    frame(lambda t: t.iloc[:1]),
)
add("timeseries-no-rows", BACKTEST, ("timeseries.parquet",), frame(lambda t: t.iloc[:0]))
add(
    "timeseries-no-timestamp",
    BACKTEST,
    ("timeseries.parquet", "timestamp"),
    frame(lambda t: t.drop(columns=["timestamp"])),
)
add(
    "timeseries-text-timestamps",
    BACKTEST,
    ("timeseries.parquet", "timestamp"),
    frame(lambda t: t.assign(timestamp=t["timestamp"].astype(str))),
)
add(
    "timeseries-not-parquet",
    BACKTEST,
    ("timeseries.parquet", "parquet"),
    text(TS, "timestamp,load_kw\n"),
)
add("timeseries-empty-file", BACKTEST, ("timeseries.parquet", "parquet"), text(TS, b""))
add(
    "timeseries-truncated",
    BACKTEST,
    ("timeseries.parquet", "parquet"),
    lambda root: (root / TS).write_bytes((root / TS).read_bytes()[:300]),
)
add("timeseries-missing", BACKTEST, ("timeseries.parquet", "not found"), remove(TS))
add("timeseries-folder", BACKTEST, ("timeseries.parquet",), folder_instead(TS))
for command in (
    SOLVE,
    ("baseline", "b"),
    ("forecast", "evaluate", "b"),
    ("live", "step", "b", "--at", "2025-03-18T10:00Z", "--soc-kwh", "3"),
):
    add(
        f"timeseries-pence-{command[0]}",
        command,
        ("timeseries.parquet", "pence"),
        frame(lambda t: t.assign(import_price_gbp_per_kwh=t["import_price_gbp_per_kwh"] * 100)),
    )
    add(f"run_config-empty-{command[0]}", command, ("run_config.yaml", "empty"), text(RC, ""))

# --- command-line options -----------------------------------------------------------------------
DAY_OLD = ("backtest", "b", "--mode", "rolling", "--forecast", "persistence_day")
OPTION_BAD = [
    (("backtest", "b", "--mode", "sideways"), ("--mode",)),
    (("backtest", "b", "--mode", "rolling", "--forecast", "crystal"), ("crystal",)),
    (("backtest", "b", "--mode", "rolling", "--reoptimise-every", "7min"), ("15",)),
    (("backtest", "b", "--mode", "rolling", "--reoptimise-every", "0min"), ("reoptimise",)),
    (("backtest", "b", "--mode", "rolling", "--reoptimise-every", "soon"), ("soon",)),
    (("backtest", "b", "--mode", "rolling", "--reoptimise-every", "-1h"), ("reoptimise",)),
    (
        ("backtest", "b", "--mode", "rolling", "--horizon", "10min", "--reoptimise-every", "1h"),
        ("horizon",),
    ),
    ((*DAY_OLD, "--reoptimise-every", "30d"), ("horizon_h",)),
    (
        (*DAY_OLD, "--reoptimise-every", "30d", "--horizon", "800h"),
        ("reoptimise_every_min", "longer than the run"),
    ),
    (("backtest", "b", "--mode", "rolling", "--forecast", "learned"), ("history",)),
    (("backtest", "b", "--mode", "rolling", "--forecast", "replay"), ("forecasts",)),
    (("backtest", "b", "--bogus"), ("--bogus",)),
    (("backtest",), ("bundle",)),
    (("backtest", "nowhere"), ("nowhere",)),
    (("backtest", "b/site_config.yaml"), ("site_config.yaml",)),
    (("live", "step", "b", "--at", "teatime", "--soc-kwh", "3"), ("teatime",)),
    (("live", "step", "b", "--at", "2025-03-18T10:00", "--soc-kwh", "3"), ("UTC",)),
    (("live", "step", "b", "--at", "2025-03-18T10:07Z", "--soc-kwh", "3"), ("step",)),
    (("live", "step", "b", "--at", "2030-01-01T00:00Z", "--soc-kwh", "3"), ("2030",)),
    (("live", "step", "b", "--at", "2025-03-18T10:00Z", "--soc-kwh", "-1"), ("--soc-kwh",)),
    (("live", "step", "b", "--at", "2025-03-18T10:00Z", "--soc-kwh", "1000"), ("soc_kwh",)),
    (
        (
            "live",
            "step",
            "b",
            "--at",
            "2025-03-18T10:00Z",
            "--soc-kwh",
            "3",
            "--peak-so-far-kw",
            "-5",
        ),
        ("--peak-so-far-kw",),
    ),
    (("live", "step", "b", "--soc-kwh", "3"), ("--at",)),
    (("underwrite", "b", "--sweep", "capacity_kwh=1:1e12:1"), ("--sweep", "at most")),
    (("underwrite", "b", "--sweep", "capacity_kwh=10:1:1"), ("--sweep",)),
    (("underwrite", "b", "--sweep", "capacity_kwh=1:10:0"), ("--sweep",)),
    (("underwrite", "b", "--sweep", "capacity_kwh=-5"), ("--sweep", "positive")),
    (("underwrite", "b", "--sweep", "colour=red"), ("--sweep", "capacity_kwh")),
    (("underwrite", "b", "--sweep", "capacity_kwh=nan"), ("--sweep",)),
    (
        ("underwrite", "b", "--sweep", "capacity_kwh=1:400:1", "--sweep", "power_kw=1:10:1"),
        ("--sweep", "combinations"),
    ),
    (("validate", "b", "--table", "weather"), ("--table",)),
    (("validate", "b", "--suite", "no_such_suite.json"), ("no_such_suite.json",)),
    (("bill", "b", "--dispatch", "no_such.parquet"), ("no_such.parquet",)),
    (("bill", "b", "--dispatch", "b/site_config.yaml"), ("site_config.yaml",)),
    (("bill", "b", "--dispatch", "b/timeseries.parquet"), ("timeseries.parquet", "grid_import_kw")),
    (("generate", "nowhere_site"), ("nowhere_site",)),
    (("generate", "home", "--days", "0"), ("--days",)),
    (("generate", "home", "--params", "missing.yaml"), ("missing.yaml",)),
    (("tariff", "show", "missing.yaml"), ("missing.yaml",)),
    (("forecast", "evaluate", "nowhere"), ("nowhere",)),
    (("verify",), ("bundle",)),
    (("nonsense",), ("nonsense",)),
]
for argv, names in OPTION_BAD:
    add("cli-" + " ".join(argv), argv, names)

# --- tariff files -------------------------------------------------------------------------------
TARIFF = "tariff.yaml"
SHOW = ("tariff", "show", TARIFF)
TARIFF_BAD = [
    ("standing_charge_gbp_per_day", -1),
    ("local_timezone", "Atlantis/Capital"),
    (
        "energy.bands",
        [{"name": "x", "rate_gbp_per_kwh": 0.1, "start_local": "25:00", "end_local": "07:00"}],
    ),
    (
        "energy.bands",
        [
            {
                "name": "x",
                "rate_gbp_per_kwh": 0.1,
                "start_local": "00:00",
                "end_local": "07:00",
                "days": "someday",
            }
        ],
    ),
    (
        "energy.bands",
        [
            {
                "name": "x",
                "rate_gbp_per_kwh": 0.1,
                "start_local": "00:00",
                "end_local": "07:00",
                "months": [13],
            }
        ],
    ),
    (
        "energy.bands",
        [{"name": "x", "rate_gbp_per_kwh": "cheap", "start_local": "00:00", "end_local": "07:00"}],
    ),
    (
        "energy.bands",
        [
            {
                "name": "x",
                "rate_gbp_per_kwh": 0.1,
                "start_local": "00:00",
                "end_local": "07:00",
                "colour": "red",
            }
        ],
    ),
    ("demand_charges", [{"name": "peak", "rate_gbp_per_kw": -9.0}]),
    ("demand_charges", [{"name": "peak", "rate_gbp_per_kw": 9.0, "averaging_min": -30}]),
    (
        "demand_charges",
        [{"name": "peak", "rate_gbp_per_kw": 9.0, "ratchet": {"fraction": 1.5, "months": 11}}],
    ),
    ("demand_charges", "lots"),
    ("export", {"rate_gbp_per_kwh": 0.0, "colour": "red"}),
    ("mystery", 1),
]
for dotted, value in TARIFF_BAD:
    add(f"tariff-{dotted}={value}", SHOW, (TARIFF,), yaml_set(TARIFF, dotted, value))
add("tariff-empty", SHOW, (TARIFF, "empty"), text(TARIFF, ""))
add("tariff-list", SHOW, (TARIFF, "list"), text(TARIFF, "- 1\n"))
add("tariff-malformed", SHOW, (TARIFF, "line"), text(TARIFF, "energy: {bands: [\n"))
for dotted, value in TARIFF_BAD[:6]:
    add(
        f"run_config-tariff.{dotted}={value}",
        BACKTEST,
        ("run_config.yaml",),
        yaml_set(RC, f"tariff.{dotted}", value),
    )

# --- params.yaml --------------------------------------------------------------------------------
GENERATE = ("generate", "home", "--params", "params.yaml", "--out", "new_bundle")
PARAMS_BAD = [
    ("bundles.home.series.days", 0),
    ("bundles.home.series.load_profile", "spaceship"),
    ("bundles.home.series.seed", "lucky"),
    ("bundles.home.baseline", "nothing"),
    ("bundles.home.tariff_file", "data/tariffs/missing.yaml"),
    ("bundles.home.colour", "red"),
    ("horizon.timestep_min", 7),
    ("battery.capacity_kwh", -1),
    ("rolling.horizon_h", -1),
    ("mystery", 1),
]
for dotted, value in PARAMS_BAD:
    named = "missing.yaml" if dotted.endswith("tariff_file") else "params.yaml"
    add(f"params-{dotted}={value}", GENERATE, (named,), yaml_set("params.yaml", dotted, value))
for name in ("../../escape", "a/b", "..", ".hidden", "with space", ""):
    add(
        f"params-bundle-name-{name!r}",
        ("generate", "home", "--params", "params.yaml", "--out", "new_bundle"),
        ("params.yaml", "plain name"),
        lambda root, n=name: _rename_bundle(root, n),
    )
add(
    "params-no-bundles", GENERATE, ("params.yaml", "bundles"), yaml_delete("params.yaml", "bundles")
)


def _rename_bundle(root: Path, name: str) -> None:
    data = yaml.safe_load((root / "params.yaml").read_text())
    data["bundles"][name] = data["bundles"].pop("home")
    (root / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


# --- forecasts (replay) -------------------------------------------------------------------------
REPLAY = ("backtest", "b", "--mode", "rolling", "--forecast", "replay", "--reoptimise-every", "1d")


def _vintages(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Edit:
    def edit(root: Path) -> None:
        table = pd.read_parquet(root / TS)[["timestamp", col.LOAD_KW, col.PV_KW]]
        table = table.assign(issued_at=table["timestamp"].iloc[0])
        change(table).to_parquet(root / "b/forecasts.parquet")

    return edit


add(
    "forecasts-no-load",
    REPLAY,
    ("forecasts.parquet", col.LOAD_KW),
    _vintages(lambda t: t.drop(columns=[col.LOAD_KW])),
)
add(
    "forecasts-no-issued_at",
    REPLAY,
    ("forecasts.parquet", "issued_at"),
    _vintages(lambda t: t.drop(columns=["issued_at"])),
)
add(
    "forecasts-late-vintage",
    REPLAY,
    ("issued",),
    _vintages(lambda t: t.assign(issued_at=t["timestamp"].iloc[-1])),
)
add("forecasts-short", REPLAY, ("vintage",), _vintages(lambda t: t.iloc[:50]))
add(
    "forecasts-nan",
    REPLAY,
    ("forecasts.parquet", col.PV_KW, "NaN"),
    _vintages(_at_row(col.PV_KW, 3, np.nan)),
)
add(
    "forecasts-naive",
    REPLAY,
    ("forecasts.parquet", "issued_at"),
    _vintages(lambda t: t.assign(issued_at=t["issued_at"].dt.tz_localize(None))),
)
add(
    "forecasts-negative",
    REPLAY,
    ("forecasts.parquet", col.LOAD_KW),
    _vintages(_at_row(col.LOAD_KW, 3, -1.0)),
)
add("forecasts-text", REPLAY, ("forecasts.parquet", "parquet"), text("b/forecasts.parquet", "no"))

# --- stale and mixed outputs: readers refuse ----------------------------------------------------
DOUBLED = frame(lambda t: t.assign(load_kw=t[col.LOAD_KW] * 2))
for reader in (
    ("metrics", "b"),
    ("report", "b"),
    ("bill", "b"),
    ("verify", "b"),
    ("validate", "b", "--table", "dispatch"),
):
    add(f"stale-timeseries-{reader[0]}", reader, ("timeseries.parquet", "rerun"), DOUBLED)
    add(
        f"mixed-dispatch-{reader[0]}",
        reader,
        ("dispatch.parquet",),
        lambda root: (root / "b/dispatch.parquet").write_bytes(
            (root / "other_dispatch.parquet").read_bytes()
        ),
    )
add(
    "stale-capacity-metrics",
    ("metrics", "b"),
    ("site_config.yaml", "rerun"),
    yaml_set(SC, "battery.capacity_kwh", 1.0),
)
add("no-dispatch-report", ("report", "b"), ("dispatch.parquet",), remove("b/dispatch.parquet"))
add("no-metrics-report", ("report", "b"), ("metrics.json",), remove("b/metrics.json"))
add("metrics-not-json", ("report", "b"), ("metrics.json",), text("b/metrics.json", "{"))


def _solved_again(root: Path) -> None:
    """Re-solve after an input edit, without recomputing the metrics."""
    from tests.conftest import invoke

    assert invoke("solve", root / "b").exit_code == 0


add(
    "solve-without-metrics-report",
    ("report", "b"),
    ("stale", "rerun"),
    both(DOUBLED, _solved_again),
)
add(
    "infeasible-after-highs",
    BACKTEST,
    ("cannot be balanced", "import_limit_kw"),
    yaml_set(SC, "grid.import_limit_kw", 0.01),
)
add(
    "infeasible-live-step",
    ("live", "step", "b", "--at", "2025-03-18T10:00Z", "--soc-kwh", "3"),
    ("import_limit_kw",),
    yaml_set(SC, "grid.import_limit_kw", 0.01),
)


# --- Trust, round 2 -----------------------------------------------------------------------------
# Outputs are checked where they are used: content, siblings, lineage (issue 26, classes 2-3).
def _json_edit(file: str, change: Callable[[dict[str, Any]], None]) -> Edit:
    def edit(root: Path) -> None:
        data = json.loads((root / file).read_text())
        change(data)
        (root / file).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

    return edit


def _keep_metadata(change: Callable[[pd.DataFrame], pd.DataFrame], file: str) -> Edit:
    """Rewrite a table's values, keeping its schema metadata (lineage record and all)."""

    def edit(root: Path) -> None:
        table = pq.read_table(root / file)
        changed = pa.Table.from_pandas(change(table.to_pandas()), preserve_index=False)
        pq.write_table(changed.replace_schema_metadata(table.schema.metadata), root / file)

    return edit


SAVINGS_9999 = _json_edit("b/metrics.json", lambda m: m.update(savings_gbp=9999.99))
for command in (("verify", "b"), ("report", "b")):
    add(f"tampered-metrics-{command[0]}", command, ("metrics.json", "edited"), SAVINGS_9999)
HALF_IMPORT = _keep_metadata(_assign(col.GRID_IMPORT_KW, 0.0), "b/dispatch.parquet")
for command in (("bill", "b"), ("metrics", "b"), ("verify", "b"), ("report", "b")):
    add(f"tampered-dispatch-{command[0]}", command, ("dispatch.parquet", "edited"), HALF_IMPORT)
add(
    "tampered-solve-stats-verify",
    ("verify", "b"),
    ("solve_stats.json", "edited"),
    _json_edit("b/solve_stats.json", lambda m: m.update(objective_gbp=-1.0)),
)
add(
    "tampered-metadata-verify",
    ("verify", "b"),
    ("bundle_metadata.json", "edited"),
    _json_edit("b/bundle_metadata.json", lambda m: m["site"]["battery"].update(capacity_kwh=99)),
)
for command in (("verify", "b"), ("report", "b"), ("metrics", "b")):
    add(
        f"deleted-metadata-{command[0]}",
        command,
        ("bundle_metadata.json", "missing"),
        remove("b/bundle_metadata.json"),
    )
add(
    "deleted-metrics-lineage-report",
    ("report", "b"),
    ("metrics.lineage.json", "missing"),
    remove("b/metrics.lineage.json"),
)
for journal in ("", '["dispatch.par', "{}"):
    add(
        f"corrupt-journal-{journal or 'empty'}-bill",
        ("bill", "b"),
        ("b", "gridq verify b"),
        text("b/.publishing.json", journal),
    )

# The lock's wait is finite (class 4).
LOCK_WAIT_ENV = "GRIDQ_LOCK_WAIT_S"
for wait in ("nan", "inf", "-inf", "-1"):
    add(f"lock-wait-{wait}", SOLVE, (LOCK_WAIT_ENV,), env={LOCK_WAIT_ENV: wait})


# Units checked against the site, at import and at every read (class 5).
def _csv(source: str, target: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> Edit:
    def edit(root: Path) -> None:
        table = pd.read_csv(REPO_DATA / "import_examples" / source, dtype=str)
        change(table).to_csv(root / target, index=False)

    return edit


def _scaled(column: str, factor: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda t: t.assign(**{column: (t[column].astype(float) * factor).map("{:.6f}".format)})


REPO_DATA = Path(__file__).resolve().parents[2] / "data"
METER, PRICES, INVERTER = "meter.csv", "prices.csv", "inverter.csv"
IMPORT = ("import", "b", "--load", METER, "--import-price", PRICES)
EXAMPLE_FILES = both(
    _csv("meter_half_hourly.csv", METER, lambda t: t),
    _csv("prices_half_hourly.csv", PRICES, lambda t: t),
    _csv("inverter_5min.csv", INVERTER, lambda t: t),
)
KWH, PENCE = "Consumption (kWh)", "value_inc_vat"
add(
    "import-wh-labelled-kwh",
    IMPORT,
    (METER, "load_kw", "Wh labelled kWh", "divide by 1000"),
    both(EXAMPLE_FILES, _csv("meter_half_hourly.csv", METER, _scaled(KWH, 1000))),
)
add(
    "import-w-labelled-kw",
    (*IMPORT, "--pv", f"{INVERTER}:inverter_kw", "--mapping", "mapping.yaml"),
    (INVERTER, "pv_kw", "W labelled kW", "pv_peak_kw"),
    both(
        EXAMPLE_FILES,
        text(
            "mapping.yaml",
            "inverter_kw: {time_column: Time, time_zone: Europe/London, stamps: end, "
            "value_column: 'Power (W)', unit: kW}\n",
        ),
    ),
)
add(
    "import-decimal-commas",
    IMPORT,
    (METER, "decimal commas", "0,200"),
    both(
        EXAMPLE_FILES,
        _csv(
            "meter_half_hourly.csv",
            METER,
            lambda t: t.assign(**{KWH: t[KWH].str.replace(".", ",")}),
        ),
    ),
)
add(
    "import-gbp-given-to-a-pence-layout",
    IMPORT,
    (PRICES, "import_price_gbp_per_kwh", "GBP given to a p/kWh layout"),
    both(EXAMPLE_FILES, _csv("prices_half_hourly.csv", PRICES, _scaled(PENCE, 0.01))),
)
add(
    "import-per-mwh-given-to-a-gbp-layout",
    (*IMPORT[:-1], f"{PRICES}:gbp", "--mapping", "mapping.yaml"),
    (PRICES, "GBP/MWh"),
    both(
        EXAMPLE_FILES,
        _csv("prices_half_hourly.csv", PRICES, _scaled(PENCE, 10)),
        text(
            "mapping.yaml",
            "gbp: {time_column: valid_from, value_column: value_inc_vat, unit: GBP/kWh}\n",
        ),
    ),
)
add(
    "import-latin-1",
    IMPORT,
    (METER, "UTF-8"),
    both(
        EXAMPLE_FILES, text(METER, "Date,Period,Consommation (kWh) \xe9t\xe9\n".encode("latin-1"))
    ),
)
for column, factor, names in (
    (col.LOAD_KW, 1000, ("load_kw", "import_limit_kw", "divide by 1000")),
    (col.PV_KW, 1000, ("pv_kw", "pv_peak_kw", "divide by 1000")),
    (col.IMPORT_PRICE, 0.01, ("import_price_gbp_per_kwh", "multiply by 100")),
    (col.IMPORT_PRICE, 1000, ("import_price_gbp_per_kwh", "GBP/MWh", "divide by 1000")),
    (col.IMPORT_PRICE, 100, ("import_price_gbp_per_kwh", "pence", "divide by 100")),
):
    add(
        f"timeseries-{column}-x{factor:g}",
        BACKTEST,
        ("timeseries.parquet", *names),
        frame(lambda t, c=column, f=factor: t.assign(**{c: t[c] * f})),
    )
for dotted, value in (
    ("battery.capacity_kwh", 1e12),
    ("battery.charge_power_max_kw", 1e9),
    ("grid.import_limit_kw", 1e9),
    ("pv_peak_kw", 4e6),
):
    add(
        f"site-size-{dotted}={value:g}",
        BACKTEST,
        ("site_config.yaml", dotted),
        yaml_set(SC, dotted, value),
    )

# Bad options that were internal errors or passed silently (class 6), and vague lines (class 7).
add(
    "training-days-below-a-day",
    BACKTEST,
    ("run_config.yaml", "rolling.training_days"),
    yaml_set(RC, "rolling.training_days", 0.001),
)
add(
    "learned-horizon-past-48h",
    (*BACKTEST, "--mode", "rolling", "--forecast", "learned", "--horizon", "72h"),
    ("rolling.horizon_h", "48"),
)
add("generate-days-past-the-limit", (*GENERATE, "--days", "10000000"), ("--days",))
add(
    "generate-series-past-the-calendar",
    (*GENERATE, "--days", "400"),
    ("series", "calendar", "--days"),
    yaml_set("params.yaml", "bundles.home.series.start_utc", "2249-06-01T00:00Z"),
)
LIVE = ("live", "step", "b", "--at", "2025-03-18T10:00Z", "--soc-kwh", "3")
add("peak-so-far-1e300", (*LIVE, "--peak-so-far-kw", "1e300"), ("--peak-so-far-kw",))
add(
    "live-at-after-the-data",
    ("live", "step", "b", "--at", "2026-01-01T00:00Z", "--soc-kwh", "3"),
    ("--at", "timeseries.parquet", "2025-03-17T00:00Z", "within"),
)


# tariff_file stays inside the project (class 8).
def _link_outside(root: Path) -> None:
    (root / "data" / "tariffs" / "link.yaml").symlink_to("/etc/hostname")


for label, path, setup in (
    ("dotdot", "../../etc/passwd", None),
    ("absolute", "/etc/passwd", None),
    ("symlink", "data/tariffs/link.yaml", _link_outside),
):
    edits = [yaml_set("params.yaml", "bundles.home.tariff_file", path)]
    add(
        f"tariff-file-{label}",
        GENERATE,
        ("params.yaml", "tariff_file", "outside the project"),
        both(*([setup] if setup else []), *edits),
    )


# Forecasts and meter tables are checked against the site too (class 5, at every read).
for column in (col.LOAD_KW, col.PV_KW):
    add(
        f"forecasts-{column}-x1000",
        REPLAY,
        ("forecasts.parquet", column, "divide by 1000"),
        _vintages(lambda t, c=column: t.assign(**{c: t[c] * 1000})),
    )


def _meter_in_watts(root: Path) -> None:
    table = pd.read_parquet(root / "b/dispatch.parquet")
    table[col.GRID_IMPORT_KW] *= 1000
    table.to_parquet(root / "meter.parquet")


add(
    "bill-meter-in-watts",
    ("bill", "b", "--dispatch", "meter.parquet"),
    ("meter.parquet", "grid_import_kw", "divide by 1000"),
    _meter_in_watts,
)
add(
    "sweep-size-past-a-site",
    ("underwrite", "b", "--sweep", "capacity_kwh=1e12:1e13:1e12"),
    ("--sweep", "1,000,000"),
)
add(
    "import-export-gbp-given-to-a-pence-layout",
    (*IMPORT, "--export-price", PRICES + ".export"),
    (PRICES + ".export", "export_price_gbp_per_kwh", "GBP given to a p/kWh layout"),
    both(EXAMPLE_FILES, _csv("prices_half_hourly.csv", PRICES + ".export", _scaled(PENCE, 0.01))),
)
