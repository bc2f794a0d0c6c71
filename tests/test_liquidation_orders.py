"""Liquidation orders into the book: the part taken over goes straight to the book as a
reduce-only IOC at the takeover price or as far worse as the fund's budget pays; what the
book does not take stays with the fund."""

from __future__ import annotations

from core_helpers import C, examples, px, usd
from hypothesis import given, settings
from hypothesis import strategies as st

from exsim.core.accounts import Account, Position
from exsim.core.clearing import apply_trade
from exsim.core.engine import ExchangeCore
from exsim.core.events import ACCEPTED, CANCELLED, FILL, LIQUIDATION, REJECTED
from exsim.core.liquidation import FUND, LIQUIDATION_ORDER, liquidation_order_limit
from exsim.core.orders import BUY, IOC, LIMIT, SELL, Reject
from exsim.core.symbols import SymbolSpec, brackets_from_quote

SPEC = SymbolSpec("BTCUSDT", C, brackets_from_quote(C, [(0, "0.005", 100)]),
                  maker_fee=0, taker_fee=0, market_band=None, default_leverage=20)
K = C.k  # 10,000 atoms per tick-lot


@settings(max_examples=examples(300), deadline=None)
@given(held=st.integers(1, 10_000), side=st.sampled_from([1, -1]),
       entry=st.integers(1_000, 1_000_000), frac=st.integers(1, 100),
       at=st.integers(1_000, 1_000_000), fee=st.integers(0, 2_000),
       tolerance=st.integers(0, 200_000), budget=st.integers(0, 10**12),
       better=st.integers(0, 50_000))
def test_the_limit_never_lets_a_fill_spend_more_than_the_budget(
        held: int, side: int, entry: int, frac: int, at: int, fee: int, tolerance: int,
        budget: int, better: int) -> None:
    """A fill at the limit, or at any better price, takes at most ``budget`` atoms from
    the taker-over's cash (loss against its cost plus the taker fee, as clearing books
    them), and the limit is never more than ``tolerance`` worse than ``at``."""
    qty = side * held
    lots = max(1, held * frac // 100)
    cost = qty * entry * K
    limit = liquidation_order_limit(qty, cost, lots, at, K, fee, tolerance, budget)
    if side > 0:
        assert limit >= at - at * tolerance // 1_000_000
        price = limit + better
    else:
        assert limit <= at + at * tolerance // 1_000_000
        price = max(1, limit - better)
    acct, pos = Account(-1, wallet=0), Position(0, 1)
    pos.qty, pos.cost = qty, cost
    realized = apply_trade(acct, pos, -side * lots, price, K)
    paid_fee = -(-lots * price * K * fee // 1_000_000)
    assert paid_fee - realized <= budget


def book_with_bids(*bids: tuple[str, str]) -> ExchangeCore:
    """A at 20x long 1 BTC at 30,000 (1,500 of margin, cross), bids from D below."""
    core = ExchangeCore([SPEC])
    core.set_mark(0, px(30000))
    for acct, cash in ((1, "1500"), (2, "1000000"), (4, "1000000")):
        core.deposit(acct, usd(cash))
    core.submit(2, 0, 1, SELL, 1000, px(30000))
    core.submit(1, 0, 2, BUY, 1000, px(30000))
    for i, (price, qty) in enumerate(bids):
        core.submit(4, 0, 10 + i, BUY, C.qty_to_lots(qty), px(price))
    core.events.clear()
    return core


def test_into_the_book_at_the_bankruptcy_price_by_hand() -> None:
    """Mark 28,600: A (equity 100 < MM 143) goes at its bankruptcy price 28,500.  The
    book bids 0.4 at 28,700 and 0.3 at 28,550; with no budget the order sells at 28,500
    or better: 0.7 fills (the fund earns 0.4 x 200 + 0.3 x 50 = 95), 0.3 stays with it."""
    core = book_with_bids(("28700", "0.4"), ("28550", "0.3"), ("28400", "1"))
    core.set_mark(0, px(28600))
    assert core.liquidate(1, 0, into_book=True)
    liq = [e for e in core.events if e[0] == LIQUIDATION]
    assert liq == [(LIQUIDATION, 0, 1, 1000, px(28500), px(28600), -usd(1500), FUND, 0)]
    oid = LIQUIDATION_ORDER | 1
    assert [e for e in core.events if e[0] == ACCEPTED] == [
        (ACCEPTED, 0, oid, FUND, SELL, px(28500), 1000, LIMIT, IOC, 2 | 1 << 2)]
    fills = [(e[2], e[3]) for e in core.events if e[0] == FILL]
    assert fills == [(px(28700), 400), (px(28550), 300)]
    assert [e[4] for e in core.events if e[0] == CANCELLED] == [300]
    assert core.position_of(FUND, 0).qty == 300  # type: ignore[union-attr]
    assert core.fund.wallet == usd(400 * 200 + 300 * 50) // 1000
    assert all(core.invariants().values())


def test_a_budget_lets_it_sell_worse_but_never_spend_more() -> None:
    """Budget 60: selling 1 BTC as low as 60 below 28,500 (28,440) is paid for (the 1%
    tolerance would allow 28,215).  It sells 0.7 at 28,550 (+35) and 0.3 at 28,450
    (-15); the 28,400 bid is beyond what the budget pays."""
    core = book_with_bids(("28550", "0.7"), ("28450", "0.3"), ("28400", "1"))
    core.seed_fund(usd(60))
    core.set_mark(0, px(28600))
    assert core.liquidate(1, 0, into_book=True, tolerance=10_000, budget=usd(60))
    [accepted] = [e for e in core.events if e[0] == ACCEPTED]
    assert accepted[5] == px(28440)  # (1 BTC x 28,500 - 60) / 1 BTC
    assert [(e[2], e[3]) for e in core.events if e[0] == FILL] == [
        (px(28550), 700), (px(28450), 300)]
    assert core.position_of(FUND, 0).qty == 0  # type: ignore[union-attr]
    assert core.fund.wallet == usd(60) + usd(700 * 50 - 300 * 50) // 1000
    assert core.fund.wallet >= 0 and all(core.invariants().values())


def test_bad_liquidation_order_settings_are_refused_and_change_nothing() -> None:
    core = book_with_bids(("28550", "1"))
    core.set_mark(0, px(28600))
    for kw in ({"into_book": 1}, {"tolerance": -1}, {"tolerance": 1_000_000},
               {"budget": -5}, {"budget": 1.5}):
        assert not core.liquidate(1, 0, **kw)  # type: ignore[arg-type]
        assert core.events[-1][-1] == Reject.BAD_REQUEST and core.events[-1][0] == REJECTED
    assert core.position_of(1, 0).qty == 1000  # type: ignore[union-attr]
