"""Margin math against the worked examples of ../shared/reference/mechanics.md section 8.

V1/V2 are Binance's own published cross-margin example; V3-V8 are computed from
the published formulas (the reference shows the arithmetic).  Values are
checked exactly as rationals where the source gives enough digits, and the
tick rounding is checked to go the conservative way (up for longs, down for
shorts).
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exsim.core.accounts import position_bankruptcy_price, position_liquidation_price
from exsim.core.engine import ExchangeCore
from exsim.core.margin import (
    MarginConfigError,
    Tier,
    bankruptcy_price,
    liquidation_price,
    liquidation_price_exact,
    maintenance_margin,
    make_brackets,
    tier_for,
)
from exsim.core.orders import BUY, MARKET, POST_ONLY, SELL
from exsim.core.symbols import BINANCE_BTCUSDT_2021, SymbolSpec, brackets_from_quote
from exsim.core.units import PPM, LinearContract

# ETH/BTC-like grid fine enough for Binance's example: tick 0.01, lot 0.001, atom 1e-8.
FINE = LinearContract("0.01", "0.001", "0.00000001")
BTC = brackets_from_quote(FINE, BINANCE_BTCUSDT_2021)


def atoms(x: str) -> int:
    return FINE.cash_to_atoms(Decimal(x))


def test_v3_maintenance_amount_recursion() -> None:
    cums = [t.cum for t in BTC[:4]]
    assert cums == [0, atoms("50"), atoms("1300"), atoms("16300")]
    # continuity at 1M: tier 3 and tier 4 give the same 8,700
    assert maintenance_margin(BTC, atoms("1000000")) == atoms("8700")
    assert maintenance_margin(BTC, atoms("999999.99")) == atoms("8699.9999")
    assert tier_for(BTC, atoms("1000000")).mmr == 25_000


def test_v1_binance_cross_eth() -> None:
    # WB - TMM1 + UPNL1 with TMM1 = 3,500,032.458 x 2.5% - 16,300
    tmm1 = Decimal("3500032.458") * Decimal("0.025") - 16300
    assert tmm1 == Decimal("71200.81145")  # the FAQ prints 71,200.81144
    backing = atoms("1535443.01") - atoms("71200.81144") + atoms("-56354.57")
    qty = FINE.qty_to_lots("3683.979")
    cost = FINE.notional(FINE.price_to_ticks("1456.84"), qty)
    cum = atoms("135365")
    # the position's own bracket: MMR 10% with Binance's cumB
    brackets = (Tier(0, 100_000, 5, cum * PPM),)
    exact = liquidation_price_exact(qty, cost, FINE.k, backing, brackets)
    assert exact is not None
    assert abs(exact / 100 - Fraction("1153.2565")) < Fraction(1, 10_000)
    assert liquidation_price(qty, cost, FINE.k, backing, brackets) == 115326  # 1,153.26 (up)


def test_v2_binance_cross_btc() -> None:
    backing = atoms("1535443.01") - atoms("356512.508") + atoms("-448192.89")
    qty = FINE.qty_to_lots("109.488")
    cost = FINE.notional(FINE.price_to_ticks("32481.98"), qty)
    tier = BTC[3]  # 2.5%, cum 16,300
    assert tier.cum == atoms("16300")
    exact = liquidation_price_exact(qty, cost, FINE.k, backing, (tier,))
    assert exact is not None
    assert abs(exact / 100 - Fraction("26316.8933")) < Fraction(1, 10_000)
    # published rounded to nearest as 26,316.89; the conservative rounding for a long is up
    assert liquidation_price(qty, cost, FINE.k, backing, (tier,)) == 2631690


@pytest.mark.parametrize(
    ("qty", "entry", "margin", "exact", "rounded"),
    [
        ("1", "30000", "1500", Fraction(28_500_000, 996), 2861446),  # V4: 28,614.457.. up
        ("-1", "30000", "1500", Fraction(31_500_000, 1004), 3137450),  # V5: 31,374.501.. down
        ("10", "50000", "25000", Fraction(473_700, Fraction(99, 10)), 4784849),  # V6
        ("-10", "24000", "24000", Fraction(265_300, Fraction(101, 10)), 2626732),  # V7
    ],
)
def test_v4_to_v7_isolated_liquidation_prices(qty: str, entry: str, margin: str,
                                              exact: Fraction, rounded: int) -> None:
    lots = FINE.qty_to_lots(qty)
    cost = FINE.notional(FINE.price_to_ticks(entry), lots)
    got = liquidation_price_exact(lots, cost, FINE.k, atoms(margin), BTC)
    assert got == exact * 100  # ticks of 0.01
    assert liquidation_price(lots, cost, FINE.k, atoms(margin), BTC) == rounded


def test_v7_recomputes_in_the_tier_of_the_liquidation_price() -> None:
    lots = FINE.qty_to_lots("-10")
    cost = FINE.notional(FINE.price_to_ticks("24000"), lots)
    # with tier 2 only, the answer would be 26,273.63 (notional 262,736: tier 3)
    tier2_only = liquidation_price_exact(lots, cost, FINE.k, atoms("24000"), (BTC[1],))
    assert tier2_only is not None and round(float(tier2_only) / 100, 2) == 26273.63
    got = liquidation_price_exact(lots, cost, FINE.k, atoms("24000"), BTC)
    assert got is not None and round(float(got) / 100, 2) == 26267.33


def test_v8_bankruptcy_prices() -> None:
    one = FINE.qty_to_lots("1")
    cost = FINE.notional(FINE.price_to_ticks("30000"), one)
    assert bankruptcy_price(one, cost, FINE.k, atoms("1500")) == 2850000
    assert bankruptcy_price(-one, -cost, FINE.k, atoms("1500")) == 3150000
    # an odd margin: 1,500.005 -> 28,499.995 rounds up for the long, 31,500.005 down for the short
    assert bankruptcy_price(one, cost, FINE.k, atoms("1500.005")) == 2850000
    assert bankruptcy_price(-one, -cost, FINE.k, atoms("1500.005")) == 3150000
    # fully collateralized long: never bankrupt
    assert bankruptcy_price(one, cost, FINE.k, atoms("30000")) is None


def test_bracket_validation() -> None:
    with pytest.raises(MarginConfigError, match="start at notional 0"):
        make_brackets([(5, 4000, 125)])
    with pytest.raises(MarginConfigError, match="must increase"):
        make_brackets([(0, 4000, 125), (0, 5000, 100)])
    with pytest.raises(MarginConfigError, match="liquidatable"):
        make_brackets([(0, 10_000, 125)])  # 1% maintenance at 125x (0.8% initial)


def test_engine_isolated_positions_reproduce_v4_v5_v8() -> None:
    """The same vectors through the engine: deposit, isolated 20x, trade 1 BTC at 30,000."""
    spec = SymbolSpec("BTCUSDT", FINE, BTC, maker_fee=0, taker_fee=0, default_leverage=20)
    core = ExchangeCore([spec])
    core.set_mark(0, 3_000_000)
    for a in (1, 2):
        assert core.deposit(a, atoms("10000"))
        assert core.set_margin_mode(a, 0, True)
    one = FINE.qty_to_lots("1")
    assert core.submit(1, 0, 1, SELL, one, 3_000_000, tif=POST_ONLY)
    assert core.submit(2, 0, 2, BUY, one, order_type=MARKET)
    long, short = core.accounts[2], core.accounts[1]
    assert long.positions[0].margin == atoms("1500") == short.positions[0].margin
    assert position_liquidation_price(long, 0, core.markets) == 2861446
    assert position_liquidation_price(short, 0, core.markets) == 3137450
    assert position_bankruptcy_price(long, 0, core.markets) == 2850000
    assert position_bankruptcy_price(short, 0, core.markets) == 3150000
    # isolated margin is fenced off: the wallet paid exactly the initial margin
    assert long.wallet == atoms("8500")


@settings(max_examples=2000, deadline=None)
@given(qty=st.integers(-10**7, 10**7).filter(bool),
       entry=st.integers(1, 10**7),
       equity_other=st.integers(-10**16, 10**17),
       coarse=st.booleans())
def test_integer_liquidation_price_equals_the_exact_one_rounded(
        qty: int, entry: int, equity_other: int, coarse: bool) -> None:
    """The integer path the exchange uses equals the Fraction solution, rounded towards
    the entry, over all brackets (differential against the obviously-exact version)."""
    contract = LinearContract("10", "1", "0.00000001") if coarse else FINE
    brackets = brackets_from_quote(contract, BINANCE_BTCUSDT_2021)
    cost = qty * entry * contract.k
    exact = liquidation_price_exact(qty, cost, contract.k, equity_other, brackets)
    expected = None if exact is None else (math.ceil(exact) if qty > 0 else math.floor(exact))
    assert liquidation_price(qty, cost, contract.k, equity_other, brackets) == expected
