"""Partial liquidation (tiers, fraction) and the fee policies, worked by hand in the core.

No trading fees anywhere, so every number is the arithmetic in the docstrings.  Prices
in USDT per BTC; ``lots("x")`` is x BTC (lot 0.001), ``usd`` atoms of 1e-8 USDT.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from core_helpers import C, lots, px, usd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exsim.core.accounts import position_bankruptcy_price, position_liquidation_price
from exsim.core.engine import ExchangeCore
from exsim.core.events import FUND as FUND_EVENT
from exsim.core.events import LIQUIDATION, REJECTED
from exsim.core.liquidation import (
    ALL_TO_FUND,
    CAPPED,
    FUND,
    NO_FEE,
    LiquidationRules,
    is_liquidatable,
    liquidation_fee,
    step_lots,
)
from exsim.core.orders import BUY, MARKET, POST_ONLY, SELL, Reject
from exsim.core.symbols import BINANCE_BTCUSDT_2021, SymbolSpec, brackets_from_quote


def symbol(rows: list[tuple[int, str, int]]) -> SymbolSpec:
    return SymbolSpec("BTCUSDT", C, brackets_from_quote(C, rows), maker_fee=0, taker_fee=0,
                      market_band=None, default_leverage=20)


FLAT = symbol([(0, "0.005", 100)])  # one 0.5% bracket
# two brackets: 1% below 50,000 of notional, 4% from there (cum = 50,000 x 3% = 1,500)
TIERED = symbol([(0, "0.01", 50), (50_000, "0.04", 20)])
DYDX = symbol([(0, "0.012", 50)])  # dYdX genesis large cap: IMF 2% x MMF 60% = 1.2%
A, B = 1, 2
K = C.k


def ppm(x: str) -> int:
    return int(Decimal(x) * 1_000_000)


def opened(spec: SymbolSpec, rules: LiquidationRules, deposit: str, qty: str, entry: int,
           *, isolated: bool = False, leverage: int = 20) -> ExchangeCore:
    """A (``deposit``) long ``qty`` at ``entry``, bought from B (1,000,000, cross)."""
    core = ExchangeCore([spec], liquidation=rules)
    core.set_mark(0, px(entry))
    core.deposit(A, usd(deposit))
    core.deposit(B, usd(1_000_000))
    if isolated:
        assert core.set_margin_mode(A, 0, True)
    assert core.set_leverage(A, 0, leverage)
    assert core.submit(B, 0, 1, SELL, lots(qty), px(entry), tif=POST_ONLY)
    assert core.submit(A, 0, 2, BUY, lots(qty), order_type=MARKET)
    assert core.position_of(A, 0).qty == lots(qty)  # type: ignore[union-attr]
    core.events.clear()
    return core


def of_kind(core: ExchangeCore, kind: int) -> list[tuple[int, ...]]:
    return [e for e in core.events if e[0] == kind]


def equity(core: ExchangeCore, acct: int) -> int:
    return core.account_equity(acct)


# ----------------------------------------------------------------------------- tiers
def test_tiers_steps_down_one_bracket_and_the_rest_is_healthy() -> None:
    """Bybit's step-down (mechanics.md 3.4), cross, everything to the fund.

    A deposits 6,000 and buys 4 BTC at 30,000 at 20x (initial margin 6,000).
    Mark 29,000: notional 116,000 is in bracket 2, MM = 116,000 x 4% - 1,500 = 3,140;
    equity 6,000 - 4,000 = 2,000 < 3,140: liquidatable.  Bankruptcy price
    30,000 - 6,000/4 = 28,500 (the mark is above it: not bankrupt).

    The step keeps the most lots whose notional is below bracket 2's floor 50,000:
    50,000 / 29,000 = 1.7241 -> 1.724 BTC (49,996); it takes 4 - 1.724 = 2.276 BTC,
    at the bankruptcy price: realized 2.276 x (28,500 - 30,000) = -3,414, wallet 2,586.
    The rest: equity 2,586 + 1.724 x (29,000 - 30,000) = 862 (= 2,000 x 1.724/4),
    MM 49,996 x 1% = 499.96: healthy.  Its new liquidation price solves
    2,586 + 1.724 (P - 30,000) = 1.724 P x 1%: P = 49,134 / 1.70676 = 28,787.88, up
    to 28,787.9.  The fund is long 2.276 at 28,500: +1,138 at the mark, the part's
    share of the equity (2,000 x 2.276/4); 862 + 1,138 = 2,000.
    """
    core = opened(TIERED, LiquidationRules(mode="tiers"), "6000", "4", 30000)
    core.set_mark(0, px(29000))
    acct = core.accounts[A]
    assert is_liquidatable(acct, acct.positions[0], core.markets)
    assert core.liquidate(A, 0)
    (liq,) = of_kind(core, LIQUIDATION)
    assert liq[2:] == (A, lots("2.276"), px(28500), px(29000), -usd(3414), FUND, 0)
    assert not of_kind(core, FUND_EVENT)
    assert acct.wallet == usd(2586) and acct.positions[0].qty == lots("1.724")
    assert equity(core, A) == usd(862) and equity(core, FUND) == usd(1138)
    assert not is_liquidatable(acct, acct.positions[0], core.markets)
    assert position_liquidation_price(acct, 0, core.markets) == px("28787.9")
    assert all(core.invariants().values())
    assert not core.liquidate(A, 0)
    assert core.events[-1][0] == REJECTED and core.events[-1][5] == Reject.NOT_LIQUIDATABLE


def test_tiers_liquidates_again_until_the_first_bracket_then_whole() -> None:
    """Same position, mark 28,700: equity 6,000 - 5,200 = 800, MM 4 x 28,700 x 4%
    - 1,500 = 3,092.  Step 1 keeps 50,000 / 28,700 = 1.742 BTC (49,995.40) and takes
    2.258 at 28,500: realized -3,387, wallet 2,613.  The rest has equity
    2,613 - 1.742 x 1,300 = 348.40 < MM 499.954: still liquidatable.  It is in the
    first bracket, so step 2 takes all 1.742, at the bankruptcy price
    (52,260 - 2,613) / 1.742 = 28,500 again: realized -2,613, A ends at exactly 0 and
    the fund holds 4 BTC at 28,500, +800 at the mark."""
    core = opened(TIERED, LiquidationRules(mode="tiers"), "6000", "4", 30000)
    core.set_mark(0, px(28700))
    assert core.liquidate(A, 0)
    acct = core.accounts[A]
    assert acct.wallet == usd(2613) and equity(core, A) == usd("348.4")
    assert is_liquidatable(acct, acct.positions[0], core.markets)
    assert core.liquidate(A, 0)
    assert [e[2:7] for e in of_kind(core, LIQUIDATION)] == [
        (A, lots("2.258"), px(28500), px(28700), -usd(3387)),
        (A, lots("1.742"), px(28500), px(28700), -usd(2613))]
    assert acct.wallet == 0 and acct.positions[0].qty == 0
    assert core.position_of(FUND, 0).qty == lots("4")  # type: ignore[union-attr]
    assert equity(core, FUND) == usd(800)
    assert all(core.invariants().values())


@pytest.mark.parametrize(("policy", "cap", "wallet", "fee"), [
    # at the mark, realized 2.276 x (29,000 - 30,000) = -2,276: wallet 3,724; the part's
    # excess is 2.276 x (29,000 - 28,500) = 1,138
    (NO_FEE, 0, "3724", None),  # the trader keeps all of it
    (CAPPED, ppm("0.01"), "3063.96", "660.04"),  # 1% x 66,004 < 1,138: the cap binds
    (CAPPED, ppm("0.05"), "2586", "1138"),  # 5% x 66,004 = 3,300.20 > 1,138: all of it
])
def test_tiers_step_under_each_fee_policy(policy: str, cap: int, wallet: str,
                                          fee: str | None) -> None:
    """The tiers step above, at the mark instead of the bankruptcy price: the fund takes
    2.276 BTC at 29,000 (worth 0 to it at the mark) plus the fee in cash.  A's equity
    plus the fund's is the 2,000 A had, whatever the policy."""
    core = opened(TIERED, LiquidationRules(mode="tiers", fee_policy=policy, fee_cap=cap),
                  "6000", "4", 30000)
    core.set_mark(0, px(29000))
    assert core.liquidate(A, 0)
    (liq,) = of_kind(core, LIQUIDATION)
    assert liq[2:7] == (A, lots("2.276"), px(29000), px(29000), -usd(2276))
    fees = [e[1:] for e in of_kind(core, FUND_EVENT)]
    assert fees == ([] if fee is None else [(0, A, usd(fee))])
    assert core.accounts[A].wallet == usd(wallet)
    assert core.fund.wallet == (0 if fee is None else usd(fee))
    assert equity(core, A) + equity(core, FUND) == usd(2000)
    assert all(core.invariants().values())


# ----------------------------------------------------------------------------- fraction
def test_fraction_with_no_fee_reduces_until_healthy() -> None:
    """dYdX-style steps of at most 25%, Hyperliquid's policy (the trader keeps its margin).

    A: cross, 1,500, long 1 BTC at 30,000 (20x).  Mark 28,600: equity 100 < MM 143;
    bankruptcy price 28,500.
    Step 1: 25% = 0.25 BTC at the mark: realized 0.25 x -1,400 = -350, wallet 1,150;
    the rest 0.75 has equity 1,150 - 1,050 = 100 < MM 0.75 x 28,600 x 0.5% = 107.25.
    Step 2: 25% of 0.75 = 0.1875, down to 0.187 BTC: realized -261.80, wallet 888.20;
    the rest 0.563 has equity 888.20 - 788.20 = 100 >= MM 80.509: healthy.  A kept all
    of its 100; the fund holds 0.437 at 28,600, worth 0 at the mark, and no cash.
    """
    core = opened(FLAT, LiquidationRules(mode="fraction", max_fraction=ppm("0.25"),
                                         fee_policy=NO_FEE), "1500", "1", 30000)
    core.set_mark(0, px(28600))
    assert core.liquidate(A, 0)
    acct = core.accounts[A]
    assert acct.wallet == usd(1150) and equity(core, A) == usd(100)
    assert is_liquidatable(acct, acct.positions[0], core.markets)
    assert core.liquidate(A, 0)
    assert [e[2:7] for e in of_kind(core, LIQUIDATION)] == [
        (A, lots("0.25"), px(28600), px(28600), -usd(350)),
        (A, lots("0.187"), px(28600), px(28600), -usd("261.8"))]
    assert acct.wallet == usd("888.2") and acct.positions[0].qty == lots("0.563")
    assert equity(core, A) == usd(100) and not is_liquidatable(acct, acct.positions[0],
                                                               core.markets)
    assert core.fund.wallet == 0 and equity(core, FUND) == 0
    assert not of_kind(core, FUND_EVENT) and all(core.invariants().values())


def test_fraction_with_everything_to_the_fund_takes_it_all_in_steps() -> None:
    """The same account with all_to_fund: each step trades at the bankruptcy price
    28,500, so A's wallet stays 1,500 per BTC it holds and its equity 100 per BTC, below
    MM 143 per BTC: never healthy (one bracket), liquidated step after step.  Steps of
    floor(25%) (at least one lot): 1,000 -> 750 -> 563 -> 423 -> 318 -> 239 -> 180 -> 135
    -> 102 -> 77 -> 58 -> 44 -> 33 -> 25 -> 19 -> 15 -> 12 -> 9 -> 7 -> 6 -> 5 -> 4 -> 3 ->
    2 -> 1 -> 0 lots: 25 steps.  A ends at exactly 0, the fund with +100 at the mark."""
    core = opened(FLAT, LiquidationRules(mode="fraction", max_fraction=ppm("0.25")),
                  "1500", "1", 30000)
    core.set_mark(0, px(28600))
    acct = core.accounts[A]
    held = [acct.positions[0].qty]
    while core.liquidate(A, 0):
        held.append(acct.positions[0].qty)
        assert acct.wallet == usd(1500) * held[-1] // lots("1")
    assert held == [1000, 750, 563, 423, 318, 239, 180, 135, 102, 77, 58, 44, 33, 25, 19, 15,
                    12, 9, 7, 6, 5, 4, 3, 2, 1, 0]
    assert all(e[4] == px(28500) for e in of_kind(core, LIQUIDATION))
    assert acct.wallet == 0 and equity(core, FUND) == usd(100)
    assert all(core.invariants().values())


def test_fraction_isolated_capped_splits_the_proportional_margin() -> None:
    """A: isolated, margin 1,500, long 1 at 30,000; mark 28,600 (margin + PnL 100 < MM
    143).  Steps of 25%, fee capped at 0.2%.  The part (0.25 BTC) takes its share of the
    margin, 1,500 x 0.25 = 375, and trades at the mark: realized -350, so its excess is
    25.  Fee min(25, 0.2% x 7,150 = 14.30) = 14.30 to the fund; A's wallet gets the other
    10.70.  The rest keeps 1,125 of margin: 1,125 - 1,050 = 75 < MM 107.25, still
    liquidatable, with the same liquidation price as before (the part was proportional):
    21,375 / 0.74625 = 28,643.22, up to 28,643.3."""
    rules = LiquidationRules(mode="fraction", max_fraction=ppm("0.25"), fee_policy=CAPPED,
                             fee_cap=ppm("0.002"))
    core = opened(FLAT, rules, "1500", "1", 30000, isolated=True)
    acct = core.accounts[A]
    assert acct.wallet == 0 and acct.positions[0].margin == usd(1500)
    lp = position_liquidation_price(acct, 0, core.markets)
    assert lp == px("28643.3")
    core.set_mark(0, px(28600))
    assert core.liquidate(A, 0)
    (liq,) = of_kind(core, LIQUIDATION)
    assert liq[2:7] == (A, lots("0.25"), px(28600), px(28600), -usd(350))
    assert [e[1:] for e in of_kind(core, FUND_EVENT)] == [(0, A, usd("14.3"))]
    pos = acct.positions[0]
    assert acct.wallet == usd("10.7") and pos.margin == usd(1125) and pos.qty == lots("0.75")
    assert position_liquidation_price(acct, 0, core.markets) == lp
    assert is_liquidatable(acct, pos, core.markets)
    assert core.fund.wallet == usd("14.3") and all(core.invariants().values())


def test_a_bankrupt_position_goes_whole_at_its_bankruptcy_price() -> None:
    """Partial modes only spare margin that exists: A (isolated, 1,500, long 1 at 30,000)
    with the mark at 28,000, below its bankruptcy price 28,500, is taken over whole at
    28,500 even with fraction steps and no fee; A ends at 0, the fund is -500 at the
    mark (the gap is the fund's)."""
    rules = LiquidationRules(mode="fraction", max_fraction=ppm("0.25"), fee_policy=NO_FEE)
    core = opened(FLAT, rules, "1500", "1", 30000, isolated=True)
    core.set_mark(0, px(28000))
    assert core.liquidate(A, 0)
    (liq,) = of_kind(core, LIQUIDATION)
    assert liq[2:7] == (A, lots("1"), px(28500), px(28000), -usd(1500))
    assert core.accounts[A].wallet == 0 and not of_kind(core, FUND_EVENT)
    assert equity(core, FUND) == -usd(500) and all(core.invariants().values())


# ----------------------------------------------------------------------------- fee policies
@pytest.mark.parametrize(("policy", "cap", "price", "fund_cash", "a_cash"), [
    (ALL_TO_FUND, 0, "28500", "0", "0"),  # V8/V11: at the bankruptcy price, A loses 1,500
    (CAPPED, ppm("0.002"), "28600", "57.2", "42.8"),  # cap 0.2% x 28,600 = 57.20 < 100
    (CAPPED, ppm("0.015"), "28600", "100", "0"),  # cap 429 > 100: the fund takes all 100
    (NO_FEE, 0, "28600", "0", "100"),  # Hyperliquid: A keeps its 100
])
def test_each_fee_policy_on_a_full_takeover(policy: str, cap: int, price: str, fund_cash: str,
                                            a_cash: str) -> None:
    """A: isolated, margin 1,500, long 1 at 30,000 (bankruptcy price 28,500, V8); mark
    28,600: 100 of margin left at the mark.  Full takeover.  all_to_fund trades at 28,500
    (the fund's 100 is in the position's price); the others trade at the mark (realized
    -1,400, the 100 released to A's wallet) and pay the fee out of it.  A's equity plus
    the fund's is always the 100."""
    core = opened(FLAT, LiquidationRules(fee_policy=policy, fee_cap=cap), "1500", "1", 30000,
                  isolated=True)
    core.set_mark(0, px(28600))
    assert core.liquidate(A, 0)
    (liq,) = of_kind(core, LIQUIDATION)
    assert liq[2:5] == (A, lots("1"), px(price))
    fees = [e[3] for e in of_kind(core, FUND_EVENT)]
    assert fees == ([usd(fund_cash)] if usd(fund_cash) else [])
    assert core.accounts[A].wallet == usd(a_cash) and core.fund.wallet == usd(fund_cash)
    assert equity(core, A) + equity(core, FUND) == usd(100)
    assert all(core.invariants().values())


def test_dydx_v12_size_bankruptcy_price_and_capped_fee() -> None:
    """mechanics.md V12 (dYdX genesis: MMR 1.2%, 10% per step, at least 1,000 of
    notional, fee cap 1.5%).  The subaccount "long 1 BTC, USDC -28,000" is A with 1,000
    long 1 at 29,000 (quote balance 1,000 - 29,000).  Oracle (mark) 28,300: TNC 300 <
    TMMR 339.60.  Step: 10% = 0.1 BTC (2,830 >= 1,000).  Bankruptcy price 28,000, i.e.
    2,800 for the 0.1 (V12's -DNNV - TNC x |DMMR|/TMMR).  Here the part changes hands at
    the mark, not at a book fill: realized 0.1 x -700 = -70, excess 0.1 x 300 = 30, fee
    min(30, 1.5% x 2,830 = 42.45) = 30.  A: 1,000 - 70 - 30 = 900; TNC 900 - 630 = 270 and
    TMMR 305.64 keep V12's ratio (300/339.6), so A is liquidated again next step."""
    rules = LiquidationRules(mode="fraction", max_fraction=ppm("0.1"), min_step=usd(1000),
                             fee_policy=CAPPED, fee_cap=ppm("0.015"))
    core = opened(DYDX, rules, "1000", "1", 29000, leverage=50)
    core.set_mark(0, px(28300))
    acct = core.accounts[A]
    assert is_liquidatable(acct, acct.positions[0], core.markets)
    assert position_bankruptcy_price(acct, 0, core.markets) == px(28000)
    assert core.liquidate(A, 0)
    (liq,) = of_kind(core, LIQUIDATION)
    assert liq[2:7] == (A, lots("0.1"), px(28300), px(28300), -usd(70))
    assert [e[3] for e in of_kind(core, FUND_EVENT)] == [usd(30)]
    assert acct.wallet == usd(900) and equity(core, A) == usd(270)
    assert is_liquidatable(acct, acct.positions[0], core.markets)
    # V12's fills in the book: fee = min(fill quote - bankruptcy quote, 1.5% x fill quote)
    assert liquidation_fee(rules, usd("24.06"), usd("2824.06")) == usd("24.06")
    assert liquidation_fee(rules, usd(28), usd(2828)) == usd(28)
    assert liquidation_fee(rules, usd(50), usd(2830)) == usd("42.45")  # where the cap binds
    assert liquidation_fee(rules, -usd(5), usd(2795)) == 0  # V13: beyond bankruptcy, no fee


def test_step_sizes() -> None:
    """step_lots on its own: dYdX's portion, minimum and block cap; Bybit's brackets."""
    unit = px(28300) * K  # atoms per lot at 28,300
    dydx = LiquidationRules(mode="fraction", max_fraction=ppm("0.1"), min_step=usd(1000))
    assert step_lots(dydx, lots("1"), px(28300), K, DYDX.brackets) == lots("0.1")
    # 0.03 BTC = 849 < 1,000: the minimum takes the whole position
    assert step_lots(dydx, lots("0.03"), px(28300), K, DYDX.brackets) == lots("0.03")
    # 0.2 BTC: 10% is 0.02 = 566, so the minimum: ceil(1,000 / 28.30) = 36 lots
    assert step_lots(dydx, lots("0.2"), px(28300), K, DYDX.brackets) == 36
    capped = LiquidationRules(mode="fraction", max_fraction=ppm("0.1"),
                              max_step=usd(20000))
    # 10 BTC: 10% = 1 BTC = 28,300 > 20,000: 20,000 / 28.30 = 706.7 -> 706 lots
    assert step_lots(capped, lots("10"), px(28300), K, DYDX.brackets) == 706 == (
        usd(20000) // unit)
    assert step_lots(capped, 3, px(28300), K, DYDX.brackets) == 1  # at least one lot
    binance = brackets_from_quote(C, BINANCE_BTCUSDT_2021)
    tiers = LiquidationRules(mode="tiers")
    # 30 BTC at 40,000 = 1.2M, bracket 4 (from 1M): keep 1M / 40,000 = 25 BTC less a lot
    assert step_lots(tiers, lots("30"), px(40000), K, binance) == lots("5.001")
    assert step_lots(tiers, lots("1"), px(40000), K, binance) == lots("1")  # bracket 1
    assert step_lots(LiquidationRules(), lots("30"), px(40000), K, binance) == lots("30")


def test_rules_refuse_nonsense() -> None:
    for bad in ({"mode": "half"}, {"fee_policy": "some"}, {"max_fraction": 0},
                {"max_fraction": 1_000_001}, {"min_step": -1},
                {"min_step": 10, "max_step": 5}, {"fee_cap": -1}):
        with pytest.raises(ValueError):
            LiquidationRules(**bad)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- property
@st.composite
def scenarios(draw: st.DrawFn) -> tuple[SymbolSpec, LiquidationRules, list, list[int]]:
    spec = draw(st.sampled_from([FLAT, TIERED]))
    mode = draw(st.sampled_from(["full", "tiers", "fraction"]))
    policy = draw(st.sampled_from([ALL_TO_FUND, CAPPED, NO_FEE]))
    rules = LiquidationRules(
        mode=mode, max_fraction=draw(st.integers(1, 1_000_000)),
        min_step=draw(st.sampled_from([0, usd(100), usd(5000)])),
        fee_policy=policy, fee_cap=draw(st.integers(0, 50_000)))
    traders = draw(st.lists(st.tuples(
        st.integers(500, 20_000),  # deposit
        st.booleans(),  # isolated
        st.integers(2, 20),  # leverage
        st.integers(-4_000, 4_000).filter(bool),  # signed lots
    ), min_size=2, max_size=4))
    marks = draw(st.lists(st.integers(24_000, 36_000), min_size=1, max_size=3))
    return spec, rules, traders, marks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_random_partial_liquidations_keep_the_exchange_exact(
        case: tuple[SymbolSpec, LiquidationRules, list, list[int]]) -> None:
    """Traders open positions against a deep account at 30,000; the mark moves; every
    liquidatable position is liquidated step by step until it is healthy or flat.
    After every step all core invariants hold; at the end every trader's equity at the
    mark is >= 0 (and above maintenance if it still holds a position), and the fund's
    cash is exactly what its FUND events and takeover PnL say."""
    spec, rules, traders, marks = case
    core = ExchangeCore([spec], liquidation=rules)
    core.set_mark(0, px(30000))
    core.deposit(B, usd(10_000_000))
    assert core.set_leverage(B, 0, 10)
    ids = []
    for i, (deposit, isolated, leverage, q) in enumerate(traders):
        acct = 10 + i
        core.deposit(acct, usd(deposit))
        if isolated:
            core.set_margin_mode(acct, 0, True)
        core.set_leverage(acct, 0, leverage)
        side = BUY if q > 0 else SELL
        core.submit(B, 0, 100 + i, 1 - side, abs(q), px(30000), tif=POST_ONLY)
        core.submit(acct, 0, 200 + i, side, abs(q), order_type=MARKET)
        core.cancel(B, 0, 100 + i)  # whatever the trader did not take (a refused order)
        ids.append(acct)
    core.events.clear()
    for mark in marks:
        core.set_mark(0, px(mark))
        for acct in [*ids, B]:
            for _ in range(5000):
                if not core.liquidate(acct, 0):
                    break
                assert all(core.invariants().values()), core.invariants()
            else:
                raise AssertionError("liquidation never resolved")
    for acct in ids:
        a = core.accounts[acct]
        assert core.account_equity(acct) >= 0
        pos = a.positions.get(0)
        if pos is not None and pos.qty:
            assert not is_liquidatable(a, pos, core.markets)
    cash = sum(e[3] for e in core.events if e[0] == FUND_EVENT)
    cash += sum(e[8] for e in core.events if e[0] == LIQUIDATION and e[7] == FUND)
    assert cash == core.fund.wallet >= 0
