"""Order book behaviours, each worked out by hand."""

from __future__ import annotations

from exsim.core.book import OrderBook
from exsim.core.orders import BUY, SELL, STP_CANCEL_BOTH, STP_CANCEL_MAKER, STP_CANCEL_TAKER


def book_with_asks() -> OrderBook:
    """Asks: 101 x 2 (oid 1, acct 1), 101 x 3 (oid 2, acct 2), 102 x 5 (oid 3, acct 1)."""
    b = OrderBook()
    assert b.limit(1, SELL, 101, 2, 1) == []
    assert b.limit(2, SELL, 101, 3, 2) == []
    assert b.limit(3, SELL, 102, 5, 1) == []
    return b


def test_price_time_priority_and_partial_fill() -> None:
    b = book_with_asks()
    fills = b.limit(10, BUY, 102, 6, 9)
    # oldest at the best price first, then the next level; maker's price each time
    assert fills == [(1, 10, 101, 2, 1), (2, 10, 101, 3, 2), (3, 10, 102, 1, 1)]
    assert b.rested == 0
    assert b.depth(5) == ([], [(102, 4)])
    assert (b.best_bid, b.best_ask) == (-(1 << 62), 102)


def test_limit_rests_remainder_and_depth() -> None:
    b = book_with_asks()
    b.limit(10, BUY, 101, 7, 9)
    assert b.rested == 2
    assert b.depth(2) == ([(101, 2)], [(102, 5)])
    b.limit(11, BUY, 99, 1, 9)
    b.limit(12, BUY, 100, 4, 9)
    assert b.depth(2)[0] == [(101, 2), (100, 4)]
    assert b.depth(10)[0] == [(101, 2), (100, 4), (99, 1)]


def test_ioc_and_fok() -> None:
    b = book_with_asks()
    assert b.ioc(10, BUY, 101, 9, 9) == [(1, 10, 101, 2, 1), (2, 10, 101, 3, 2)]
    assert b.rested == 0 and 10 not in b.orders
    assert b.fok(11, BUY, 102, 6, 9) == []  # only 5 lots up to 102
    assert b.depth(1)[1] == [(102, 5)]
    assert b.fok(12, BUY, 102, 5, 9) == [(3, 12, 102, 5, 1)]


def test_post_only_refuses_to_cross() -> None:
    b = book_with_asks()
    assert not b.post(10, BUY, 101, 1, 9)
    assert b.post(11, BUY, 100, 1, 9) and b.rested == 1
    assert 10 not in b.orders and b.best_bid == 100


def test_market_order_stops_at_its_band() -> None:
    b = book_with_asks()
    fills = b.market(10, BUY, 20, 9, limit=101)
    assert sum(f[3] for f in fills) == 5 and b.best_ask == 102
    fills = b.market(11, BUY, 20, 9)  # no band: sweeps what there is, the rest is dropped
    assert sum(f[3] for f in fills) == 5 and not b.asks


def test_amend_keeps_priority_only_for_a_smaller_size_at_the_same_price() -> None:
    b = book_with_asks()
    assert b.amend(1, 101, 1) == []  # down in size: keeps its place
    assert [o[0] for o in b.asks[101]] == [1, 2]
    b.amend(1, 101, 4)  # up in size: to the back of the queue
    assert [o[0] for o in b.asks[101]] == [2, 1]
    b.amend(2, 103, 3)  # new price: new level, back of the queue
    assert [o[0] for o in b.asks[103]] == [2] and b.depth(3)[1] == [(101, 4), (102, 5), (103, 3)]
    # a price that crosses trades like a new limit order
    b.limit(20, BUY, 100, 2, 9)
    assert b.amend(3, 100, 5) == [(20, 3, 100, 2, 9)]
    assert b.rested == 3 and b.best_ask == 100


def test_self_trade_prevention_modes() -> None:
    b = book_with_asks()  # acct 1 owns the first order at 101
    assert b.limit(10, BUY, 101, 4, 1, STP_CANCEL_TAKER) == []
    assert b.rested == 0 and 1 in b.orders and b.stp_cancelled == []

    b = book_with_asks()
    fills = b.limit(10, BUY, 101, 4, 1, STP_CANCEL_MAKER)
    assert fills == [(2, 10, 101, 3, 2)] and b.rested == 1
    assert [o[0] for o in b.stp_cancelled] == [1] and 1 not in b.orders

    b = book_with_asks()
    assert b.limit(10, BUY, 102, 4, 1, STP_CANCEL_BOTH) == []
    assert [o[0] for o in b.stp_cancelled] == [1] and b.rested == 0 and 2 in b.orders

    b = book_with_asks()
    assert b.ioc(10, BUY, 101, 4, 1, STP_CANCEL_TAKER) == [] and b.stp_stopped
    assert b.ioc(11, BUY, 101, 1, 5, STP_CANCEL_TAKER) == [(1, 11, 101, 1, 1)]
    assert not b.stp_stopped


def test_fok_counts_liquidity_as_stp_would() -> None:
    b = book_with_asks()
    # cancel-maker skips its own 2 + 5 lots: only 3 lots are there for acct 1
    assert b.fok(10, BUY, 102, 4, 1, STP_CANCEL_MAKER) == []
    assert 1 in b.orders  # the dry run removed nothing
    assert b.fok(11, BUY, 102, 3, 1, STP_CANCEL_MAKER) == [(2, 11, 101, 3, 2)]
    assert [o[0] for o in b.stp_cancelled] == [1]


def test_cancel_removes_levels_and_updates_touch() -> None:
    b = book_with_asks()
    assert b.cancel(3) == [3, 1, SELL, 102, 5, 0]
    assert b.cancel(3) is None
    b.cancel(1)
    b.cancel(2)
    assert not b.asks and not b.ask_prices and b.best_ask == 1 << 62
