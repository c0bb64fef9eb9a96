"""Project finance against hand-computed cash flows."""

import pytest

from gridq.engine import finance

FLOWS = [-1000.0, 300.0, 400.0, 500.0]


def test_npv_by_hand():
    # -1000 + 300 / 1.1 + 400 / 1.21 + 500 / 1.331
    assert finance.npv(0.10, FLOWS) == pytest.approx(
        -1000 + 272.7273 + 330.5785 + 375.6574, abs=1e-3
    )


def test_irr_zeroes_the_npv_and_matches_the_known_rate():
    rate = finance.irr(FLOWS)
    assert rate == pytest.approx(0.088963, abs=1e-6)
    assert finance.npv(rate, FLOWS) == pytest.approx(0.0, abs=1e-8)


def test_irr_can_be_negative_and_is_none_when_nothing_comes_back():
    # 100 x^2 + 100 x = 1000 with x = 1 / (1 + r): x = (sqrt(41) - 1) / 2.
    x = (41**0.5 - 1) / 2
    assert finance.irr([-1000.0, 100.0, 100.0]) == pytest.approx(1 / x - 1, abs=1e-9)
    assert finance.irr([-1000.0, 0.0, 0.0]) is None


def test_paybacks_interpolate_within_the_year():
    # Cumulative: -1000, -700, -300, +200: paid back 300 / 500 into year 3.
    assert finance.payback_years(FLOWS) == pytest.approx(2.6)
    # Discounted at 0%, the same; at 10% the cumulative ends at -21: never.
    assert finance.discounted_payback_years(0.0, FLOWS) == pytest.approx(2.6)
    assert finance.discounted_payback_years(0.10, FLOWS) is None


def test_levelised_cost_of_storage_by_hand():
    # Capex 1000, opex 10 a year; 1000 kWh a year for 2 years at 0%: 1020 / 2000.
    assert finance.levelised_cost_gbp_per_kwh(
        0.0, [1000, 10, 10], [0, 1000, 1000]
    ) == pytest.approx(0.51)
    assert finance.levelised_cost_gbp_per_kwh(0.0, [1000, 10], [0, 0]) is None
