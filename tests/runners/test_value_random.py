"""``gridq value --random``: seeded random sites of each archetype, scored as the README says."""

import pytest

from gridq.io import params as params_io
from gridq.runners import value
from tests.conftest import PARAMS, invoke

ARCHETYPES = {archetype.name: archetype for archetype in value.ARCHETYPES}
CI_SEED = 7
"""Used by no other measurement: `gridq value --random 2 --seed 7 --archetypes
commercial_demand_charge --days 42 --forecasts learned` kept 85% (83-87%) when written, 86%
(85-86%) with the day-ahead high side, 87% (86-87%) with the error's fade, 88% (88-88%) with the
reserve's release."""
CI_MEAN_AT_LEAST, CI_MIN_AT_LEAST = 0.8, 0.75


def _drawn(name: str, count: int, seed: int, days: int = 14) -> list[value.DrawnSite]:
    archetype = ARCHETYPES[name]
    example = params_io.example_bundle(PARAMS, archetype.example)
    return value.draw_sites(
        archetype, example.site, example.run_config, example.series, count, seed, days
    )


def test_draws_depend_on_the_seed_alone_and_stay_in_range():
    first, again, other = (_drawn("pv_demand_charge", 4, seed) for seed in (5, 5, 6))
    assert [d.series for d in first] == [d.series for d in again]
    assert [d.series.seed for d in first] != [d.series.seed for d in other]
    example = params_io.example_bundle(PARAMS, "commercial_demand_charge")
    for drawn in first:
        scale = drawn.site.battery.capacity_kwh / example.site.battery.capacity_kwh
        assert value.SIZE_SCALE[0] <= scale <= value.SIZE_SCALE[1]
        assert drawn.site.battery.discharge_power_max_kw == pytest.approx(
            example.site.battery.discharge_power_max_kw * scale
        )
        # The archetype no example has: demand charges and a PV array.
        assert drawn.site.pv_peak_kw == drawn.series.pv_peak_kw
        assert 75.0 <= drawn.series.pv_peak_kw <= 225.0
        assert drawn.series.days == 14 + value.HISTORY_DAYS
        assert drawn.series.start_utc.year == 2025


def test_a_perfect_forecast_keeps_everything_and_none_beats_perfect_foresight():
    rows = [
        value.run_site(drawn, forecast)
        for name in ("uk_business_duos", "pv_demand_charge")
        for drawn in _drawn(name, 1, 11)
        for forecast in ("perfect", "persistence_week")
    ]
    for row in rows:
        # The prescient run is the exact optimum over the same steps: nothing beats it.
        assert row["captured_frac"] <= 1 + 1e-9, row
        assert row["bill_excess_frac"] >= -1e-9, row
        if row["forecast"] == "perfect":
            assert row["captured_frac"] >= 0.99, row
    summary = value.summarise(rows)
    assert {(r["archetype"], r["forecast"]) for r in summary} == {
        (name, forecast)
        for name in ("uk_business_duos", "pv_demand_charge")
        for forecast in ("perfect", "persistence_week")
    }
    for row in summary:
        assert row["captured_min"] <= row["captured_mean"] <= row["captured_max"]


def test_the_command_prints_the_table_and_refuses_bad_options_in_one_line():
    result = invoke(
        "value",
        "--random",
        1,
        "--seed",
        2,
        "--archetypes",
        "uk_business_duos",
        "--days",
        14,
        "--forecasts",
        "perfect",
        "--params",
        PARAMS,
    )
    assert result.exit_code == 0, result.output
    assert "Random sites: --random 1 --seed 2" in result.stdout
    assert "| uk_business_duos | 14 | perfect | 1 | 100% |" in result.stdout
    for option, bad, named in (
        ("--archetypes", "mars", "mars"),
        ("--days", "3", "--days"),
        ("--days", "x", "--days"),
        ("--forecasts", "crystal_ball", "crystal_ball"),
    ):
        refused = invoke("value", "--random", 1, option, bad, "--params", PARAMS)
        assert refused.exit_code == 2, refused.output
        assert len(refused.stderr.strip().splitlines()) == 1
        assert named in refused.stderr


def _captured(stdout: str, archetype: str, days: int, forecast: str) -> tuple[float, float]:
    """(mean, min) captured share of one row of the printed table."""
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[:3] == [archetype, str(days), forecast]:
            return float(cells[4].rstrip("%")) / 100, float(cells[5].rstrip("%")) / 100
    raise AssertionError(f"no row for {archetype} {days} {forecast} in:\n{stdout}")


def test_unseen_demand_charge_sites_keep_what_the_readme_claims():
    # CI's small version of the README's random-site table: two sites drawn from a seed used
    # nowhere else. The previous controller kept 49-77% of such sites' prescient savings.
    result = invoke(
        "value",
        "--random",
        2,
        "--seed",
        CI_SEED,
        "--archetypes",
        "commercial_demand_charge",
        "--days",
        42,
        "--forecasts",
        "learned",
        "--params",
        PARAMS,
    )
    assert result.exit_code == 0, result.output
    mean, least = _captured(result.stdout, "commercial_demand_charge", 42, "learned")
    assert mean >= CI_MEAN_AT_LEAST
    assert least >= CI_MIN_AT_LEAST
