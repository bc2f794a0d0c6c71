"""Mark-price methods against ../shared/reference/mechanics.md vector V20 (e) and (f)."""

from __future__ import annotations

import math

import pytest

from exsim.core.markprice import clamp_to_index, ema_alpha, funding_basis_price, median3


def test_v20_e_binance_median_of_three() -> None:
    # I = 40,000, last funding 0.01%, 2 h of 8 h left: Price1 = 40,001; MA basis 15: 40,015
    assert funding_basis_price(40_000, 0.0001, 2 / 8) == pytest.approx(40_001)
    assert median3(40_000, 0.0001, 2 / 8, 15, 40_100) == pytest.approx(40_015)
    assert median3(40_000, 0.0001, 2 / 8, 15, 40_005) == pytest.approx(40_005)
    assert median3(40_000, 0.0001, 2 / 8, 15, None) == pytest.approx(40_008)


def test_v20_f_bitmex_fair_price() -> None:
    assert funding_basis_price(40_000, 0.000375, 4 / 8) == pytest.approx(40_007.50)


def test_clamp_and_ema_weight() -> None:
    assert clamp_to_index(41_000, 40_000, 0.005) == 40_200
    assert clamp_to_index(39_000, 40_000, 0.005) == 39_800
    assert clamp_to_index(40_100, 40_000, 0.005) == 40_100
    # after one half-life of samples, a step is half absorbed
    a = ema_alpha(1.0, 30.0)
    assert 1 - (1 - a) ** 30 == pytest.approx(0.5)
    assert math.isclose(ema_alpha(30.0, 30.0), 0.5)
