"""The waterfall in the core, worked by hand: takeover, fund income, fund shortfall, ADL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from core_helpers import C, px, snapshot, usd

from exsim.core.engine import ExchangeCore
from exsim.core.events import ADL, ADL_ROUND, CANCELLED, FILL, LIQUIDATION, REJECTED
from exsim.core.events import FUND as FUND_EVENT
from exsim.core.liquidation import FUND, LiquidationIndex, LiquidationRules, is_liquidatable
from exsim.core.orders import BUY, IOC, MARKET, POST_ONLY, SELL, CancelReason, Reject
from exsim.core.symbols import SymbolSpec, brackets_from_quote

# no fees and one 0.5% bracket, so every number below is easy to check by hand
SPEC = SymbolSpec("BTCUSDT", C, brackets_from_quote(C, [(0, "0.005", 100)]),
                  maker_fee=0, taker_fee=0, market_band=None, default_leverage=20)
ETH = SymbolSpec("ETHUSDT", C, brackets_from_quote(C, [(0, "0.005", 100)]),
                 maker_fee=0, taker_fee=0, market_band=None, default_leverage=20)
A, B, C_, D, E, F = 1, 2, 3, 4, 5, 6


def lots(x: str) -> int:
    return C.qty_to_lots(Decimal(x))


def events_of(core: ExchangeCore, kind: int) -> list[tuple[int, ...]]:
    return [e for e in core.events if e[0] == kind]


@pytest.mark.parametrize("sizing", ["fund_first", "all"])
def test_hand_worked_waterfall(sizing: str) -> None:
    """Six accounts, no fees, MMR 0.5%.

    Setup at mark 30,000: B (cross, 100,000) sells 2 BTC at 30,000 to A and E, each
    isolated at 20x (margin 1,500; E adds 500 more: 2,000).  Mark 29,000: C (cross,
    500 at 100x) sells 0.5 at 29,000 to F.  D bids 1 BTC at 28,600.

    1. Mark 28,600.  A: margin + uPnL = 1,500 - 1,400 = 100 < MM 143: liquidatable
       (its liquidation price is 28,500 / 0.995 = 28,643.2, up to 28,643.3).  E has
       2,000 - 1,400 = 600: not.  A is taken over at its bankruptcy price 28,500:
       A realizes -1,500, ends at 0.  The fund sells the 1 BTC (reduce-only IOC at
       28,500 or better) into D's bid at 28,600: +100 to the fund (V11).
    2. ADL is refused while the fund holds the position: its equity at the mark is
       +100, it is not short.
    3. Mark gaps to 27,500.  E: 2,000 - 2,500 = -500, bankrupt.  Taken over at its
       bankruptcy price 30,000 - 2,000 = 28,000; E ends at exactly 0.  The fund is
       long 1 at 28,000 with the mark at 27,500: equity 100 - 500 = -400, short.
    4. ADL at 28,000 against the shorts, BitMEX ranking at mark 27,500:
       C: short 0.5 at 29,000, bankruptcy (14,500 + 500) / 0.5 = 30,000,
          PnL% 1,500 / 29,000 = 5.17%, leverage 27,500 / 2,500 = 11: score 0.569.
       B: short 2 at 30,000, bankruptcy (60,000 + 100,000) / 2 = 80,000,
          PnL% 8.33%, leverage 27,500 / 52,500 = 0.524: score 0.0437.
       ``all``: C closes 0.5 (realizing (29,000 - 28,000) x 0.5 = +500), B closes 0.5
       (+1,000).  The fund closes at its entry: +0.  Fund cash 100.
       ``fund_first`` (the default): the fund's 100 of cash carries 100 / 500 of its
       loss, i.e. 0.2 BTC at 500 a BTC: ADL closes only 0.8 (C 0.5, B 0.3); the fund
       keeps 0.2 at 28,000, its equity exactly 0 at the mark.
    """
    core = ExchangeCore([SPEC], liquidation=LiquidationRules(adl_sizing=sizing))
    core.set_mark(0, px(30000))
    for acct, cash in ((A, "1500"), (E, "1500"), (B, "100000"), (C_, "500"), (D, "100000"),
                       (F, "100000")):
        core.deposit(acct, usd(cash))
    core.deposit(E, usd(500))
    for acct in (A, E):
        assert core.set_margin_mode(acct, 0, True)
    assert core.set_leverage(C_, 0, 100)
    assert core.submit(B, 0, 1, SELL, lots("2"), px(30000), tif=POST_ONLY)
    assert core.submit(A, 0, 2, BUY, lots("1"), order_type=MARKET)
    assert core.submit(E, 0, 3, BUY, lots("1"), order_type=MARKET)
    assert core.adjust_isolated_margin(E, 0, usd(500))
    core.set_mark(0, px(29000))
    assert core.submit(C_, 0, 4, SELL, lots("0.5"), px(29000), tif=POST_ONLY)
    assert core.submit(F, 0, 5, BUY, lots("0.5"), order_type=MARKET)
    assert core.submit(D, 0, 6, BUY, lots("1"), px(28600), tif=POST_ONLY)
    assert core.position_of(A, 0).margin == usd(1500)  # type: ignore[union-attr]
    assert core.position_of(E, 0).margin == usd(2000)  # type: ignore[union-attr]

    # 1. the first liquidation, worked out in the book above bankruptcy
    core.set_mark(0, px(28600))
    accounts = core.accounts
    assert is_liquidatable(accounts[A], accounts[A].positions[0], core.markets)
    assert not is_liquidatable(accounts[E], accounts[E].positions[0], core.markets)
    before = snapshot(core)
    assert not core.liquidate(E, 0)  # not under maintenance: a reject, nothing changes
    assert core.events[-1][5] == Reject.NOT_LIQUIDATABLE and snapshot(core) == before
    core.events.clear()
    assert core.liquidate(A, 0)
    (liq,) = events_of(core, LIQUIDATION)
    assert liq[2:] == (A, lots("1"), px(28500), px(28600), -usd(1500), FUND, 0)
    assert core.position_of(A, 0).qty == 0 and accounts[A].wallet == 0  # type: ignore[union-attr]
    assert core.position_of(FUND, 0).qty == lots("1")  # type: ignore[union-attr]

    # 2. the fund holds the position with a profit at the mark: no ADL
    assert not core.adl(0, "bitmex", px(28500))
    assert core.events[-1][0] == REJECTED and core.events[-1][5] == Reject.FUND_NOT_SHORT
    core.events.clear()
    assert core.submit(FUND, 0, 7, SELL, lots("1"), px(28500), tif=IOC, reduce_only=True)
    (fill,) = events_of(core, FILL)
    assert (fill[2], fill[3], fill[5], fill[11]) == (px(28600), lots("1"), FUND, usd(100))
    assert core.fund.wallet == usd(100) and core.fund_equity() == usd(100)
    assert not core.adl(0, "bitmex", px(28500))  # and now it has nothing to deleverage
    assert core.events[-1][5] == Reject.NO_POSITION

    # 3. a gap through E's bankruptcy price
    core.set_mark(0, px(27500))
    core.events.clear()
    assert core.liquidate(E, 0)
    (liq,) = events_of(core, LIQUIDATION)
    assert liq[4] == px(28000) and liq[6] == -usd(2000)
    assert accounts[E].wallet == 0 and core.position_of(E, 0).margin == 0  # type: ignore[union-attr]
    assert core.fund_equity() == usd(-400)

    # 4. ADL: C before B, at E's bankruptcy price
    assert core.adl_quantiles(0, "bitmex")[C_] == 5
    core.events.clear()
    assert core.adl(0, "bitmex", px(28000))
    b = lots("0.5") if sizing == "all" else lots("0.3")
    assert [e[2:] for e in events_of(core, ADL)] == [
        (C_, -lots("0.5"), px(28000), usd(500), 0),
        (B, -b, px(28000), usd(1000) * b // lots("0.5"), 0)]
    assert events_of(core, ADL_ROUND) == [
        (ADL_ROUND, 0, FUND, -usd(400), lots("1") if sizing == "all" else lots("0.8"))]
    kept = lots("1") - lots("0.5") - b
    assert core.position_of(FUND, 0).qty == kept and core.fund.wallet == usd(100)  # type: ignore[union-attr]
    assert core.fund_equity() == usd(100) - usd(500) * kept // lots("1") >= 0
    assert core.position_of(B, 0).qty == -lots("2") + b  # type: ignore[union-attr]
    assert core.position_of(C_, 0).qty == 0  # type: ignore[union-attr]
    assert all(core.invariants().values())
    # no account below zero equity once the liquidations are resolved
    for acct in accounts.values():
        equity = acct.wallet + sum(p.margin + p.upnl(px(27500), C.k)
                                   for p in acct.positions.values())
        assert equity >= 0


def test_fund_seed_and_reconciliation() -> None:
    core = ExchangeCore([SPEC])
    assert core.seed_fund(usd(1000))
    assert not core.seed_fund(0)
    assert core.fund.wallet == usd(1000) and core.ledger.deposits == usd(1000)
    assert all(core.invariants().values())


def test_liquidation_index_finds_exactly_the_crossed_positions() -> None:
    index = LiquidationIndex()
    index.update(1, 5, 28_000)  # long: liquidated at marks <= 28,000
    index.update(2, 5, 29_000)
    index.update(3, -5, 31_000)  # short: liquidated at marks >= 31,000
    index.update(4, -5, 32_000)
    assert index.crossed(30_000) == []
    assert index.crossed(29_000) == [2]
    assert index.crossed(27_000) == [1, 2]
    assert index.crossed(31_500) == [3]
    index.update(2, 0, None)  # flat: gone
    index.update(4, -5, 31_200)  # moved
    assert index.crossed(27_000) == [1] and index.crossed(31_500) == [3, 4]
    assert len(index) == 3


def test_a_backstop_vault_takes_over_instead_of_the_fund() -> None:
    from exsim.core.liquidation import VAULT

    core = ExchangeCore([SPEC])
    core.set_mark(0, px(30000))
    core.deposit(A, usd("1500"))
    core.deposit(B, usd("100000"))
    assert core.set_margin_mode(A, 0, True)
    assert core.seed_vault(usd("50000"))
    core.submit(B, 0, 1, SELL, lots("1"), px(30000), tif=POST_ONLY)
    core.submit(A, 0, 2, BUY, lots("1"), order_type=MARKET)
    core.set_mark(0, px(28000))
    assert not core.liquidate(A, 0, to=99)  # neither the fund nor the vault
    assert core.liquidate(A, 0, to=VAULT)
    vault = core.accounts[VAULT]
    assert vault.positions[0].qty == lots("1") and vault.positions[0].cost == C.notional(
        px(28500), lots("1"))
    assert core.fund.positions == {} and core.fund.wallet == 0
    assert core.account_equity(VAULT) == usd("50000") - usd("500")  # long from 28,500 at 28,000
    assert all(core.invariants().values())


def test_the_fund_pays_a_flat_accounts_bad_debt() -> None:
    """A (isolated, margin 1,500, long 1 at 30,000) sells itself out at 28,000, below its
    bankruptcy price 28,500, before any liquidator came: -2,000 realized against 1,500 of
    margin leaves -500.  The fund (seeded 10,000) pays the 500; A ends at exactly 0."""
    core = ExchangeCore([SPEC])
    core.set_mark(0, px(30000))
    core.deposit(A, usd("1500"))
    core.deposit(B, usd("100000"))
    assert core.seed_fund(usd("10000"))
    assert core.set_margin_mode(A, 0, True)
    core.submit(B, 0, 1, SELL, lots("1"), px(30000), tif=POST_ONLY)
    core.submit(A, 0, 2, BUY, lots("1"), order_type=MARKET)
    core.set_mark(0, px(28000))
    core.submit(B, 0, 3, BUY, lots("1"), px(28000), tif=POST_ONLY)
    core.events.clear()
    assert core.submit(A, 0, 4, SELL, lots("1"), px(28000), reduce_only=True)
    assert [e[1:] for e in core.events if e[0] == FUND_EVENT] == [(0, A, -usd("500"))]
    assert core.accounts[A].wallet == 0 and core.fund.wallet == usd("9500")
    assert all(core.invariants().values())


def test_a_cross_liquidation_cancels_every_order_of_the_account_isolated_too() -> None:
    """A (1,000, cross in BTC, isolated in ETH) is long 0.5 BTC at 30,000 and bids 1 ETH at
    1,900 isolated.  Mark 28,100: equity 1,000 - 950 = 50 < MM 70.25, liquidatable; the
    takeover is at 28,000 and leaves the wallet at 0.  Its ETH bid is cancelled too (as on
    Binance): left resting, B's sell at 1,900 would fill it and move 95 of initial margin
    out of an empty wallet."""
    core = ExchangeCore([SPEC, ETH])
    core.set_mark(0, px(30000))
    core.set_mark(1, px(2000))
    core.deposit(A, usd("1000"))
    core.deposit(B, usd("100000"))
    assert core.set_margin_mode(A, 1, True)
    assert core.submit(B, 0, 1, SELL, lots("0.5"), px(30000), tif=POST_ONLY)
    assert core.submit(A, 0, 2, BUY, lots("0.5"), order_type=MARKET)
    assert core.submit(A, 1, 3, BUY, lots("1"), px(1900))
    assert core.submit(A, 0, 4, BUY, lots("0.1"), px(27000))  # a cross order as well
    core.set_mark(0, px(28100))
    core.events.clear()
    assert core.liquidate(A, 0)
    cancelled = sorted((e[1], e[2], e[5]) for e in core.events if e[0] == CANCELLED)
    assert cancelled == [(0, 4, CancelReason.LIQUIDATION), (1, 3, CancelReason.LIQUIDATION)]
    (liq,) = events_of(core, LIQUIDATION)
    assert liq[4] == px(28000) and core.accounts[A].wallet == 0
    assert not any(o[1] == A for m in core.markets for o in m.book.orders.values())
    assert core.submit(B, 1, 5, SELL, lots("1"), px(1900))  # rests: nobody to fill
    assert not events_of(core, FILL) and core.accounts[A].wallet == 0
    assert all(core.invariants().values())


def long_eth_short_btc(deposit: str) -> ExchangeCore:
    """A (``deposit``, cross, 20x) long 5 ETH at 2,000 and short 0.01 BTC at 30,000 against
    B; the fund holds 10,000.  Then ETH falls 10% to 1,800: A's ETH loses 1,000."""
    core = ExchangeCore([SPEC, ETH])
    core.set_mark(0, px(30000))
    core.set_mark(1, px(2000))
    core.deposit(A, usd(deposit))
    core.deposit(B, usd("100000"))
    assert core.seed_fund(usd("10000"))
    assert core.submit(B, 1, 1, SELL, lots("5"), px(2000), tif=POST_ONLY)
    assert core.submit(A, 1, 2, BUY, lots("5"), px(2000))
    assert core.submit(B, 0, 3, BUY, lots("0.01"), px(30000), tif=POST_ONLY)
    assert core.submit(A, 0, 4, SELL, lots("0.01"), px(30000))
    core.set_mark(1, px(1800))
    core.events.clear()
    return core


def test_a_cross_account_spreads_its_equity_over_its_positions_by_notional() -> None:
    """A holds 1,030: equity E = 1,030 - 1,000 = 30 under MM 46.5 (0.5% of 9,000 + 300).
    Over the gross notional W = 9,300 every position is taken over E/W = 1/310 from its own
    mark: the BTC short at 30,000 x 311/310 = 30,096.77 (down to 30,096.7), the ETH long at
    1,800 x 309/310 = 1,794.19 (up to 1,794.2).  It used to be the BTC short alone that
    absorbed all of E, at 33,000, 10% over its mark.  A ends at 1,030 - 0.967 - 1,029 =
    0.033, never below zero; the E/W of what is left is kept (the ETH price is the same
    before and after the BTC takeover)."""
    from fractions import Fraction

    from exsim.core.accounts import position_bankruptcy_price_exact

    core = long_eth_short_btc("1030")
    acct = core.accounts[A]
    exact = position_bankruptcy_price_exact(acct, 0, core.markets)
    assert exact == Fraction(px(30000) * 311, 310)
    (cand,) = core.adl_candidates(0, -1)[:1]  # ADL's ranking sees the same figure
    assert cand.acct == A and cand.bankruptcy == exact
    assert position_bankruptcy_price_exact(acct, 1, core.markets) == Fraction(px(1800) * 309,
                                                                             310)
    assert core.liquidate(A, 0)
    (btc,) = events_of(core, LIQUIDATION)
    assert (btc[3], btc[4], btc[6]) == (-lots("0.01"), px("30096.7"), -usd("0.967"))
    core.events.clear()
    assert core.liquidate(A, 1)
    (eth,) = events_of(core, LIQUIDATION)
    assert (eth[3], eth[4], eth[6]) == (lots("5"), px("1794.2"), -usd("1029"))
    assert acct.wallet == usd("0.033") and not any(p.qty for p in acct.positions.values())
    assert all(core.invariants().values())


def test_a_deficit_beyond_the_account_never_prices_a_takeover_at_a_tick() -> None:
    """A holds 600: E = -400, a deficit.  The BTC short used to be taken over at 1 tick
    (0.1 USDT against a mark of 30,000: its bankruptcy price with ETH held at its mark,
    -10,000, carried all of the deficit).  Now r = E/W = -400/9,300 prices it at
    30,000 x 89/93 = 28,709.68 (down to 28,709.6): A gains 12.904 on it; then the ETH
    long at 1,800 x (1 + 387.096/9,000) = 1,877.42 (up to 1,877.5).  A ends at 0.404 (the
    rounding it keeps), no bad debt; the fund is down the 400 less that."""
    core = long_eth_short_btc("600")
    assert core.liquidate(A, 0)
    (btc,) = events_of(core, LIQUIDATION)
    assert (btc[4], btc[6]) == (px("28709.6"), usd("12.904"))
    core.events.clear()
    assert core.liquidate(A, 1)
    (eth,) = events_of(core, LIQUIDATION)
    assert eth[4] == px("1877.5") and core.accounts[A].wallet == usd("0.404")
    assert not events_of(core, FUND_EVENT)
    assert core.fund_equity() == usd("10000") - usd("400.404")
    assert all(core.invariants().values())


def test_the_order_of_the_takeovers_does_not_matter() -> None:
    """The other order: the ETH long first, at 1,800 x 97/93 = 1,877.42 (up to 1,877.5):
    A realizes -612.5 and is left at -12.5 with the BTC short, so r = -12.5/300 and the
    short goes at 30,000 x 23/24 = 28,750, +12.5: A ends at exactly 0, the fund 400 down."""
    core = long_eth_short_btc("600")
    assert core.liquidate(A, 1)
    (eth,) = events_of(core, LIQUIDATION)
    assert eth[4] == px("1877.5") and core.accounts[A].wallet == -usd("12.5")
    core.events.clear()
    assert core.liquidate(A, 0)
    (btc,) = events_of(core, LIQUIDATION)
    assert btc[4] == px(28750) and core.accounts[A].wallet == 0
    assert not events_of(core, FUND_EVENT)
    assert core.fund_equity() == usd("10000") - usd("400")
    assert all(core.invariants().values())


def test_what_the_band_cannot_carry_the_fund_pays_as_bad_debt() -> None:
    """A (600) is long 5 ETH at 2,000 alone; at mark 1,000 three funding settlements of
    99.999999% take 3 x 4,999.99995 from its wallet: -14,399.99985, equity -19,399.99985.
    Its bankruptcy price would be 1,000 x (1 + 19,399.99985/5,000) = 4,880.00 (to the
    tick), more than twice its entry: the takeover is at the band's edge, 2 x 2,000 =
    4,000 (+10,000), and the fund pays the 4,399.99985 left as bad debt."""
    core = ExchangeCore([SPEC, ETH])
    core.set_mark(1, px(2000))
    core.deposit(A, usd("600"))
    core.deposit(B, usd("100000"))
    assert core.seed_fund(usd("10000"))
    assert core.submit(B, 1, 1, SELL, lots("5"), px(2000), tif=POST_ONLY)
    assert core.submit(A, 1, 2, BUY, lots("5"), px(2000))
    core.set_mark(1, px(1000))
    for _ in range(3):
        assert core.settle_funding(1, 99_999_999)
    assert core.accounts[A].wallet == -usd("14399.99985")
    core.events.clear()
    assert core.liquidate(A, 1)
    (eth,) = events_of(core, LIQUIDATION)
    assert (eth[4], eth[6]) == (px(4000), usd("10000"))
    assert [e[1:] for e in events_of(core, FUND_EVENT)] == [(1, A, -usd("4399.99985"))]
    assert core.accounts[A].wallet == 0
    assert all(core.invariants().values())


def test_adl_is_at_the_funds_entry_rounded_in_its_favour_and_nowhere_else() -> None:
    """A (isolated, 1,500) and E (isolated, 1,999.9) are long 1 BTC each at 30,000 against B
    (short 2).  At mark 27,500 both are bankrupt: taken over at 28,500 and 28,000.1, the
    fund (no cash) is long 2 at an average 28,250.05, equity -1,500.1.  ADL closes it
    against B at that entry rounded in the fund's favour, 28,250.1: the fund realizes
    +0.1, and B closes no worse than the fund's entry.  Any other price is refused: one
    below makes the fund realize a loss (a stale price from a liquidator that has not
    seen the second takeover yet: 28,500 was the entry then, and is now a price that
    takes a profit out of B), the mark most of all; ``None`` asks the core for it."""
    core = ExchangeCore([SPEC])
    core.set_mark(0, px(30000))
    core.deposit(A, usd("1500"))
    core.deposit(E, usd("1999.9"))
    core.deposit(B, usd("100000"))
    for acct in (A, E):
        assert core.set_margin_mode(acct, 0, True)
    assert core.submit(B, 0, 1, SELL, lots("2"), px(30000), tif=POST_ONLY)
    assert core.submit(A, 0, 2, BUY, lots("1"), order_type=MARKET)
    assert core.submit(E, 0, 3, BUY, lots("1"), order_type=MARKET)
    assert core.adjust_isolated_margin(E, 0, usd("499.9"))
    core.set_mark(0, px(27500))
    assert core.liquidate(A, 0) and core.liquidate(E, 0)
    fund = core.position_of(FUND, 0)
    assert fund is not None and fund.cost == C.notional(px(28500), lots(1)) + C.notional(
        px("28000.1"), lots(1))
    before = snapshot(core)
    for stale in (px("28250"), px(28500), px(27500), px(28000), 0, "28250.1"):
        core.events.clear()
        assert not core.adl(0, "bitmex", stale)  # type: ignore[arg-type]
        assert [e[0] for e in core.events] == [REJECTED]
        assert core.events[0][5] == Reject.BAD_PRICE and snapshot(core) == before
    core.events.clear()
    assert core.adl(0, "bitmex", None)
    (adl,) = events_of(core, ADL)
    assert adl[2:] == (B, -lots("2"), px("28250.1"), usd("3499.8"), usd("0.1"))
    assert core.fund.wallet == usd("0.1")
    assert all(core.invariants().values())
