"""The safety layer and the fallbacks, by hand: every limit wins over what was asked."""

import math

import pytest

from gridq.live.safety import Limits, Telemetry, rule_based_kw, safe_mode_kw, safe_setpoint
from gridq.live.steps import power_now_kw
from gridq.schemas import GridConnection
from tests.conftest import make_site

ROOM_KW = math.inf
"""A battery with room for any charging share: charging goes first."""
LIMITS = Limits.of(
    make_site(
        GridConnection(import_limit_kw=30.0, export_limit_kw=5.0),
        capacity_kwh=100.0,
        charge_power_max_kw=20.0,
        discharge_power_max_kw=25.0,
        soc_min_frac=0.1,
        soc_max_frac=0.9,
        initial_soc_frac=0.5,
    )
)


def kw_at(*args) -> float:
    """The battery's power of :func:`power_now_kw`, without its turn."""
    return power_now_kw(*args)[0]


def reading(load_kw: float, pv_kw: float = 0.0, soc_kwh: float = 50.0) -> Telemetry:
    """The site with the battery idle: the meter takes load less PV."""
    return Telemetry(0.0, load_kw - pv_kw, pv_kw, soc_kwh, 0.0)


def test_the_limits_come_from_the_site() -> None:
    assert (LIMITS.soc_min_kwh, LIMITS.soc_max_kwh) == (10.0, 90.0)
    assert (LIMITS.import_limit_kw, LIMITS.export_limit_kw) == (30.0, 5.0)


def test_load_is_what_meter_pv_and_battery_balance_to() -> None:
    # 12 kW imported, 3 kW of PV, the battery discharging 5: the load is 20.
    assert Telemetry(0.0, 12.0, 3.0, 50.0, 5.0).load_kw == 20.0


@pytest.mark.parametrize(
    ("asked_kw", "now", "expected_kw", "reason"),
    [
        (math.nan, reading(10.0), 0.0, "not finite"),
        (math.inf, reading(10.0), 0.0, "not finite"),
        (40.0, reading(30.0), 25.0, "discharge power limit"),
        (-40.0, reading(10.0), -20.0, "charge power limit"),
        (5.0, reading(10.0, soc_kwh=10.0), 0.0, "SOC at its minimum"),
        (-5.0, reading(10.0, soc_kwh=90.0), 0.0, "SOC at its maximum"),
        # 38 kW of load would import 38: the battery discharges at least 8.
        (0.0, reading(38.0), 8.0, "import limit"),
        # Charging 10 on a 25 kW load would import 35: charged only 5.
        (-10.0, reading(25.0), -5.0, "import limit"),
        # 12 kW of PV surplus exports 12 against a 5 kW limit: the battery stores 7.
        (0.0, reading(3.0, pv_kw=15.0), -7.0, "export limit"),
        (10.0, reading(3.0, pv_kw=15.0), -7.0, "export limit"),
    ],
)
def test_each_limit_by_hand(
    asked_kw: float, now: Telemetry, expected_kw: float, reason: str
) -> None:
    written_kw, reasons = safe_setpoint(asked_kw, now, LIMITS, 0.0, 5.0)
    assert written_kw == pytest.approx(expected_kw)
    assert any(reason in why for why in reasons), reasons


def test_a_setpoint_inside_every_limit_passes_unchanged() -> None:
    assert safe_setpoint(7.5, reading(20.0), LIMITS, 7.0, 5.0) == (7.5, [])


def test_the_ramp_limits_the_step_but_not_the_import_limit() -> None:
    ramped = Limits(**{**LIMITS.__dict__, "max_ramp_kw_per_s": 1.0})
    assert safe_setpoint(20.0, reading(20.0), ramped, 0.0, 5.0)[0] == pytest.approx(5.0)
    assert safe_setpoint(-20.0, reading(20.0), ramped, 0.0, 2.0)[0] == pytest.approx(-2.0)
    # 40 kW of load against a 30 kW limit: the battery must discharge 10 whatever the ramp.
    assert safe_setpoint(0.0, reading(40.0), ramped, 0.0, 5.0)[0] == pytest.approx(10.0)


def test_the_devices_own_limits_hold() -> None:
    limited = Telemetry(
        0.0, 10.0, 0.0, 50.0, 0.0, charge_available_kw=3.0, discharge_available_kw=4.0
    )
    assert safe_setpoint(10.0, limited, LIMITS, 0.0, 5.0)[0] == pytest.approx(4.0)
    assert safe_setpoint(-10.0, limited, LIMITS, 0.0, 5.0)[0] == pytest.approx(-3.0)
    assert "available discharge" in safe_setpoint(10.0, limited, LIMITS, 0.0, 5.0)[1][0]


def test_safe_mode_idles_but_keeps_import_under_the_limit() -> None:
    assert safe_mode_kw(None, LIMITS) == 0.0
    assert safe_mode_kw(reading(20.0), LIMITS) == 0.0
    assert safe_mode_kw(reading(42.0), LIMITS) == pytest.approx(12.0)
    assert safe_mode_kw(reading(42.0, soc_kwh=10.0), LIMITS) == 0.0


def test_rule_based_self_consumes_and_guards_the_peak_when_low() -> None:
    assert rule_based_kw(reading(3.0, pv_kw=10.0), LIMITS, None) == pytest.approx(-7.0)
    assert rule_based_kw(reading(12.0, pv_kw=2.0), LIMITS, 8.0) == pytest.approx(10.0)
    # Below half the usable energy (80 kWh usable, 30 left) only load above the peak paid for.
    low = reading(12.0, pv_kw=2.0, soc_kwh=40.0)
    assert rule_based_kw(low, LIMITS, 8.0) == pytest.approx(2.0)
    assert rule_based_kw(low, LIMITS, None) == pytest.approx(10.0)


def test_a_shared_step_charges_then_discharges_at_full_power() -> None:
    # 4 kW charging on average is 20 % of the step at 20 kW; 5 kW discharging 20 % at 25 kW
    # (20 kW of load: export stays under its 5 kW limit, import under 30).
    powers = [
        kw_at(4.0, 5.0, elapsed, LIMITS, 20.0, ROOM_KW) for elapsed in (0.0, 0.19, 0.21, 0.39, 0.41)
    ]
    assert powers == [-10.0, -10.0, -10.0, -10.0, 25.0]
    # Means over the step: 0.4 at 10 kW charged (import 20 + 10 = 30, the limit) and 0.2 at
    # 25 kW discharged.
    steps = [kw_at(4.0, 5.0, (k + 0.5) / 1000, LIMITS, 20.0, ROOM_KW) for k in range(1000)]
    assert sum(-kw for kw in steps if kw < 0) / 1000 == pytest.approx(4.0, abs=0.05)
    assert sum(kw for kw in steps if kw > 0) / 1000 == pytest.approx(5.0, abs=0.05)
    assert max(steps) == 25.0
    assert kw_at(4.0, 0.0, 0.5, LIMITS, 20.0, ROOM_KW) == -4.0
    # Each turn's end is told, so that a tick can fall on it: charging ends at 0.4, then
    # discharging at 0.6; a step that is not shared does not turn.
    assert power_now_kw(4.0, 5.0, 0.1, LIMITS, 20.0, ROOM_KW) == (-10.0, pytest.approx(0.4))
    assert power_now_kw(4.0, 5.0, 0.5, LIMITS, 20.0, ROOM_KW) == (25.0, pytest.approx(0.6))
    assert power_now_kw(4.0, 5.0, 0.7, LIMITS, 20.0, ROOM_KW) == (0.0, math.inf)
    assert power_now_kw(4.0, 0.0, 0.5, LIMITS, 20.0, ROOM_KW) == (-4.0, math.inf)


def test_a_full_batterys_shared_step_discharges_first() -> None:
    # Charging 4 kW first would overfill a battery with room for 2 kW over the step: the
    # discharging share (20 % at 25 kW) goes first, then the charging share (40 % at 10 kW).
    powers = [kw_at(4.0, 5.0, e, LIMITS, 20.0, 2.0) for e in (0.0, 0.19, 0.21, 0.59, 0.61)]
    assert powers == [25.0, 25.0, -10.0, -10.0, 0.0]
    # The order changes nothing the step settles to: the same means as charging first.
    for room_kw in (2.0, ROOM_KW):
        steps = [kw_at(4.0, 5.0, (k + 0.5) / 1000, LIMITS, 20.0, room_kw) for k in range(1000)]
        assert sum(-kw for kw in steps if kw < 0) / 1000 == pytest.approx(4.0, abs=0.05)
        assert sum(kw for kw in steps if kw > 0) / 1000 == pytest.approx(5.0, abs=0.05)
    # Room for the charging share exactly: charging first still fits.
    assert kw_at(4.0, 5.0, 0.0, LIMITS, 20.0, 4.0) == -10.0


def test_a_shared_step_discharges_no_faster_than_the_export_limit_allows() -> None:
    # 1 kW of load: discharging may export 5, so 6 kW; charging at 20 (import 21 < 30).
    steps = [kw_at(2.0, 1.5, (k + 0.5) / 1000, LIMITS, 1.0, ROOM_KW) for k in range(1000)]
    assert max(steps) == pytest.approx(6.0)
    assert min(steps) == pytest.approx(-20.0)
    assert sum(kw for kw in steps if kw > 0) / 1000 == pytest.approx(1.5, abs=0.01)
    # Shares that overfill the step (15/20 + 3/6) shrink in proportion (by 1.25).
    steps = [kw_at(15.0, 3.0, (k + 0.5) / 1000, LIMITS, 1.0, ROOM_KW) for k in range(1000)]
    assert sum(-kw for kw in steps if kw < 0) / 1000 == pytest.approx(15.0 / 1.25, abs=0.05)
    assert sum(kw for kw in steps if kw > 0) / 1000 == pytest.approx(3.0 / 1.25, abs=0.05)


def test_a_tick_falls_on_every_step_start():
    from gridq.live.runner import next_tick_s

    origin = 1_700_000_100.0  # a calendar starting 100 s past a multiple of the step
    assert next_tick_s(origin, 5.0, origin, 900.0) == origin + 5.0
    assert next_tick_s(origin + 897.0, 5.0, origin, 900.0) == origin + 900.0
    assert next_tick_s(origin + 899.5, 60.0, origin, 900.0) == origin + 900.0
    assert next_tick_s(origin + 900.0, 5.0, origin, 900.0) == origin + 905.0
    # A shared step's turn between two ticks gets its own; one passed or beyond the next does not.
    assert next_tick_s(origin + 10.0, 5.0, origin, 900.0, origin + 12.5) == origin + 12.5
    assert next_tick_s(origin + 10.0, 5.0, origin, 900.0, origin + 9.0) == origin + 15.0
    assert next_tick_s(origin + 10.0, 5.0, origin, 900.0, origin + 16.0) == origin + 15.0
    ticks, clock = [], origin + 3.0
    while clock < origin + 3 * 900:
        clock = next_tick_s(clock, 7.0, origin, 900.0)
        ticks.append(clock)
    assert {origin + 900.0, origin + 1800.0} <= set(ticks)
    assert max(b - a for a, b in zip(ticks, ticks[1:], strict=False)) <= 7.0
