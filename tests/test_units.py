"""Fixed-point grid: exact conversions, refusals, rounding direction."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exsim.core.units import LinearContract, UnitsError, ceil_div, floor_div, rate_ppm


def test_k_is_atoms_per_tick_lot() -> None:
    c = LinearContract("0.1", "0.001", "0.00000001")
    assert c.k == 10_000
    assert c.notional(300_000, 1_000) == c.cash_to_atoms("30000")  # 1 BTC at 30,000


def test_refuses_grid_that_does_not_divide_into_atoms() -> None:
    with pytest.raises(UnitsError, match="not a whole number of cash atoms"):
        LinearContract("0.5", "0.001", "0.001")  # 0.0005 is half an atom
    with pytest.raises(UnitsError, match="must be > 0"):
        LinearContract("0", "1", "1")
    with pytest.raises(UnitsError, match="not a number"):
        LinearContract("abc", "1", "1")


def test_conversions_are_exact_and_refuse_off_grid() -> None:
    c = LinearContract("0.5", "0.01", "0.001")
    assert c.price_to_ticks("100.5") == 201
    assert c.price_to_ticks(100.5) == 201  # a float means its shortest repr
    assert c.qty_to_lots(Decimal("0.07")) == 7
    assert c.ticks_to_price(201) == Decimal("100.5")
    with pytest.raises(UnitsError, match=r"not a multiple of 0\.5"):
        c.price_to_ticks("100.25")
    with pytest.raises(UnitsError, match="not a multiple"):
        c.cash_to_atoms("0.0001")
    with pytest.raises(UnitsError):
        c.price_to_ticks(True)
    with pytest.raises(UnitsError):
        c.price_to_ticks("nan")


def test_rates_in_ppm() -> None:
    assert rate_ppm("0.0005", "fee") == 500
    assert rate_ppm("-0.0001", "fee") == -100
    with pytest.raises(UnitsError):
        rate_ppm("0.00000005", "fee")


def test_rounding_helpers() -> None:
    assert ceil_div(7, 2) == 4 and ceil_div(-7, 2) == -3
    assert floor_div(7, 2) == 3 and floor_div(-7, 2) == -4
