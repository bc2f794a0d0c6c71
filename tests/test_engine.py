"""Exchange core: rejects leave the state unchanged; margin, risk limits and reduce-only."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from core_helpers import lots, px, snapshot, spec, usd

from exsim.core.accounts import available_balance
from exsim.core.engine import ExchangeCore
from exsim.core.events import ACCEPTED, CANCELLED, FILL, REJECTED, as_dict
from exsim.core.orders import (
    BUY,
    FOK,
    IOC,
    MARKET,
    POST_ONLY,
    SELL,
    CancelReason,
    Reject,
    Side,
    Tif,
)


@pytest.fixture
def core() -> ExchangeCore:
    """Two accounts with 10,000 USDT each; a resting ask of 1 BTC at 30,010 from account 2."""
    c = ExchangeCore([spec(), spec("ETHUSDT")])
    c.set_mark(0, px(30000))
    for a in (1, 2):
        c.deposit(a, usd(10_000))
    assert c.submit(2, 0, 100, SELL, lots(1), px(30010))
    c.events.clear()
    return c


BAD_SUBMITS: list[tuple[str, dict[str, Any], Reject]] = [
    ("zero qty", {"qty": 0}, Reject.BAD_QTY),
    ("negative qty", {"qty": -3}, Reject.BAD_QTY),
    ("float qty", {"qty": 1.5}, Reject.BAD_QTY),
    ("bool qty", {"qty": True}, Reject.BAD_QTY),
    ("off-lot Decimal qty", {"qty": Decimal("0.0005")}, Reject.BAD_QTY),
    ("zero price", {"price": 0}, Reject.BAD_PRICE),
    ("negative price", {"price": -1}, Reject.BAD_PRICE),
    ("off-tick Decimal price", {"price": Decimal("30000.05")}, Reject.BAD_PRICE),
    ("string price", {"price": "30000"}, Reject.BAD_PRICE),
    ("missing price", {"price": None}, Reject.BAD_PRICE),
    ("huge price", {"price": 1 << 60}, Reject.BAD_PRICE),
    ("unknown account", {"acct_id": 99}, Reject.UNKNOWN_ACCOUNT),
    ("account of wrong type", {"acct_id": "1"}, Reject.UNKNOWN_ACCOUNT),
    ("unknown symbol index", {"sym": 7}, Reject.UNKNOWN_SYMBOL),
    ("negative symbol index", {"sym": -1}, Reject.UNKNOWN_SYMBOL),
    ("unknown symbol name", {"sym": "DOGEUSDT"}, Reject.UNKNOWN_SYMBOL),
    ("bad side", {"side": 2}, Reject.BAD_REQUEST),
    ("side as text", {"side": "buy"}, Reject.BAD_REQUEST),
    ("bad time in force", {"tif": 9}, Reject.BAD_REQUEST),
    ("bad stp", {"stp": 4}, Reject.BAD_REQUEST),
    ("reduce_only not a bool", {"reduce_only": 1}, Reject.BAD_REQUEST),
    ("post-only market", {"order_type": MARKET, "tif": POST_ONLY}, Reject.BAD_REQUEST),
    ("oid of wrong type", {"oid": "x"}, Reject.BAD_REQUEST),
    ("negative oid", {"oid": -1}, Reject.BAD_REQUEST),
    ("astronomically large Decimal qty", {"qty": Decimal("1e999999")}, Reject.BAD_QTY),
    ("astronomically large Decimal price", {"price": Decimal("9e999999")}, Reject.BAD_PRICE),
    ("duplicate live oid", {"oid": 100}, Reject.DUPLICATE_ORDER_ID),
    ("too large for the margin", {"qty": lots(10)}, Reject.INSUFFICIENT_MARGIN),
    ("reduce-only while flat", {"reduce_only": True}, Reject.REDUCE_ONLY_WOULD_INCREASE),
    ("post-only that crosses", {"price": px(30010), "tif": POST_ONLY},
     Reject.POST_ONLY_WOULD_CROSS),
]


@pytest.mark.parametrize(("label", "change", "reason"), BAD_SUBMITS,
                         ids=[b[0] for b in BAD_SUBMITS])
def test_bad_submit_is_a_reject_and_changes_nothing(core: ExchangeCore, label: str,
                                                    change: dict[str, Any],
                                                    reason: Reject) -> None:
    request: dict[str, Any] = {"acct_id": 1, "sym": 0, "oid": 1, "side": BUY, "qty": lots(1),
                               "price": px(29990)}
    request.update(change)
    before = snapshot(core)
    assert core.submit(**request) is False
    assert snapshot(core) == before
    (event,) = core.events
    assert event[0] == REJECTED
    assert as_dict(event)["reason"] == reason.name


def test_other_bad_requests_are_rejects(core: ExchangeCore) -> None:
    before = snapshot(core)
    cases = [
        (lambda: core.cancel(1, 0, 100), Reject.UNKNOWN_ORDER),  # someone else's order
        (lambda: core.cancel(1, 0, 555), Reject.UNKNOWN_ORDER),
        (lambda: core.cancel(1, 0, None), Reject.UNKNOWN_ORDER),  # type: ignore[arg-type]
        (lambda: core.cancel(1, "X", 100), Reject.UNKNOWN_SYMBOL),
        (lambda: core.cancel(9, 0, 100), Reject.UNKNOWN_ACCOUNT),
        (lambda: core.amend(1, 0, 100, px(30000), 1), Reject.UNKNOWN_ORDER),
        (lambda: core.amend(2, 0, 100, px(30000), 0), Reject.BAD_QTY),
        (lambda: core.amend(2, 0, 100, Decimal("1.05"), 1), Reject.BAD_PRICE),
        (lambda: core.amend(2, 0, 100, px(29990), lots(5)), Reject.INSUFFICIENT_MARGIN),
        (lambda: core.set_mark(0, 0), Reject.BAD_PRICE),
        (lambda: core.set_mark(5, px(1)), Reject.UNKNOWN_SYMBOL),
        (lambda: core.set_leverage(1, 0, 0), Reject.BAD_LEVERAGE),
        (lambda: core.set_leverage(1, 0, 126), Reject.BAD_LEVERAGE),
        (lambda: core.set_margin_mode(2, 0, True), Reject.POSITION_OR_ORDERS_OPEN),
        (lambda: core.set_margin_mode(1, 0, "yes"), Reject.BAD_REQUEST),  # type: ignore[arg-type]
        (lambda: core.withdraw(1, usd(10_001)), Reject.INSUFFICIENT_MARGIN),
        (lambda: core.withdraw(1, -5), Reject.BAD_AMOUNT),
        (lambda: core.deposit(1, 0), Reject.BAD_AMOUNT),
        (lambda: core.deposit(None, 5), Reject.UNKNOWN_ACCOUNT),  # type: ignore[arg-type]
        (lambda: core.deposit(-1, 5), Reject.UNKNOWN_ACCOUNT),
        (lambda: core.set_mark(0, Decimal("1e999999")), Reject.BAD_PRICE),
        (lambda: core.adjust_isolated_margin(1, 0, 5), Reject.BAD_REQUEST),  # not isolated
    ]
    for call, reason in cases:
        core.events.clear()
        assert call() is False
        assert snapshot(core) == before
        (event,) = core.events
        assert event[0] == REJECTED and event[5] == reason, (reason, event)


def test_orders_need_a_mark() -> None:
    core = ExchangeCore([spec()])
    core.deposit(1, usd(100))
    assert not core.submit(1, 0, 1, BUY, 1, px(100))
    assert core.events[-1][5] == Reject.NO_MARK_PRICE


def test_enums_and_decimals_are_accepted(core: ExchangeCore) -> None:
    assert core.submit(1, "BTCUSDT", 5, Side.BUY, Decimal("0.010"), Decimal("29990.0"),
                       tif=Tif.GTC)
    assert core.events[-1][:7] == (ACCEPTED, 0, 5, 1, BUY, px(29990), lots("0.01"))


def test_margin_check_counts_open_orders(core: ExchangeCore) -> None:
    """10,000 USDT at 10x buys up to ~100,000 of notional, fees included.

    A bid of 3 BTC at 30,000 needs 9,000 IM + 45 taker fee (reserved for the check);
    then 0.3 BTC more needs 900 + 4.5 but only 1,000 is free: accepted; a further
    0.04 (120 + 0.6) is refused.  A sell does not add exposure while bids net it.
    """
    assert core.submit(1, 0, 1, BUY, lots(3), px(30000))
    assert available_balance(core.accounts[1], core.markets) == usd(1000)
    assert core.submit(1, 0, 2, BUY, lots("0.3"), px(30000))
    assert available_balance(core.accounts[1], core.markets) == usd(100)
    assert not core.submit(1, 0, 3, BUY, lots("0.04"), px(30000))
    assert core.events[-1][5] == Reject.INSUFFICIENT_MARGIN
    # a sell of 2 BTC rests: exposure if all sells fill is 2 BTC short < 3.3 long
    assert core.submit(1, 0, 4, SELL, lots(2), px(31000))
    assert available_balance(core.accounts[1], core.markets) == usd(100)
    # cancelling the 3 BTC bid: the worst case is now the 2 BTC of sells at 31,000
    # (62,000 of notional, 6,200 of margin), not the 0.3 BTC bid left (9,000)
    assert core.cancel(1, 0, 1)
    assert available_balance(core.accounts[1], core.markets) == usd(3800)


def test_risk_limit_caps_leverage_by_size() -> None:
    core = ExchangeCore([spec()])
    core.set_mark(0, px(30000))
    core.deposit(1, usd(1_000_000))
    assert core.set_leverage(1, 0, 125)
    # 125x is allowed only below 50,000 notional (tier 1)
    assert core.submit(1, 0, 1, BUY, lots("1.6"), px(30000))  # 48,000
    assert not core.submit(1, 0, 2, BUY, lots("0.1"), px(30000))  # 51,000 in total
    assert core.events[-1][5] == Reject.RISK_LIMIT
    assert not core.set_leverage(1, 0, 125) or True  # unchanged leverage is fine
    assert core.set_leverage(1, 0, 100)
    assert core.submit(1, 0, 2, BUY, lots("0.1"), px(30000))


def test_reduce_only_is_clipped_and_trimmed(core: ExchangeCore) -> None:
    """Account 1 buys 1 BTC; a reduce-only sell of 3 is clipped to 1; a later partial
    close by a normal order trims it again."""
    assert core.submit(1, 0, 1, BUY, lots(1), order_type=MARKET)
    assert core.position_of(1, 0).qty == lots(1)  # type: ignore[union-attr]
    core.events.clear()
    assert not core.submit(1, 0, 2, BUY, lots(1), px(29000), reduce_only=True)
    assert core.submit(1, 0, 3, SELL, lots(3), px(31000), reduce_only=True)
    assert [as_dict(e)["reason"] for e in core.events if e[0] == CANCELLED] == [
        "REDUCE_ONLY_TRIM"]
    assert core.book(0).orders[3][4] == lots(1)
    # a normal sell of 0.4 against a bid shrinks the position to 0.6: the RO order follows
    core.submit(2, 0, 50, BUY, lots("0.4"), px(30000))
    core.events.clear()
    assert core.submit(1, 0, 4, SELL, lots("0.4"), px(30000))
    assert core.book(0).orders[3][4] == lots("0.6")
    trims = [e for e in core.events if e[0] == CANCELLED]
    assert [(e[2], e[4], e[5]) for e in trims] == [(3, lots("0.4"), CancelReason.REDUCE_ONLY_TRIM)]
    # the reduce-only order never counts as exposure
    assert core.position_of(1, 0).sell_open == 0  # type: ignore[union-attr]
    assert all(core.invariants().values())


def test_market_order_band_and_ioc_remainder(core: ExchangeCore) -> None:
    """Asks: 1 BTC at 30,010 and 1 at 32,000 (beyond the 5% band above a 30,000 mark)."""
    core.submit(2, 0, 101, SELL, lots(1), px(32000))
    core.events.clear()
    assert core.submit(1, 0, 1, BUY, lots(2), order_type=MARKET)
    fills = [e for e in core.events if e[0] == FILL]
    assert [(f[2], f[3]) for f in fills] == [(px(30010), lots(1))]
    (cancel,) = [e for e in core.events if e[0] == CANCELLED]
    assert cancel[4:] == (lots(1), CancelReason.IOC_REMAINDER)


def test_fok_and_ioc_outcomes(core: ExchangeCore) -> None:
    assert core.submit(1, 0, 1, BUY, lots(2), px(30010), tif=FOK)
    assert [e[0] for e in core.events] == [ACCEPTED, CANCELLED]
    assert core.events[-1][5] == CancelReason.FOK_UNFILLABLE
    core.events.clear()
    assert core.submit(1, 0, 2, BUY, lots(2), px(30010), tif=IOC)
    assert [e[0] for e in core.events] == [ACCEPTED, FILL, CANCELLED]


def test_self_trade_prevention_default_cancels_taker(core: ExchangeCore) -> None:
    assert core.submit(2, 0, 1, BUY, lots(1), px(30010))
    assert core.events[-1][4:] == (lots(1), CancelReason.STP_TAKER)
    assert 100 in core.book(0).orders


def test_amend_moves_open_order_margin(core: ExchangeCore) -> None:
    assert core.submit(1, 0, 1, BUY, lots(1), px(29000))
    pos = core.position_of(1, 0)
    assert pos is not None and pos.buy_open == px(29000) * lots(1)
    assert core.amend(1, 0, 1, px(29500), lots(2))
    assert pos.buy_open == px(29500) * lots(2)
    # amend through the ask: trades 1 BTC at 30,010, the rest rests at the new price
    assert core.amend(1, 0, 1, px(30010), lots(2))
    assert pos.qty == lots(1) and pos.buy_open == px(30010) * lots(1)
    assert all(core.invariants().values())


def test_isolated_margin_adjustments(core: ExchangeCore) -> None:
    assert core.set_margin_mode(1, 0, True)
    assert core.submit(1, 0, 1, BUY, lots(1), order_type=MARKET)
    pos = core.position_of(1, 0)
    assert pos is not None and pos.margin == usd("3001")  # 30,010 / 10 rounded up to the atom
    assert core.adjust_isolated_margin(1, 0, usd(500))
    assert pos.margin == usd("3501")
    assert not core.adjust_isolated_margin(1, 0, -usd(600))  # below initial margin
    assert core.adjust_isolated_margin(1, 0, -usd(400))
    assert all(core.invariants().values())


def test_a_crossing_sell_is_judged_at_the_bids_it_will_hit() -> None:
    """10 USDT cannot short 1 BTC by naming a limit of 0.1: it would fill at the 30,000 bid."""
    core = ExchangeCore([spec()])
    core.set_mark(0, px(30000))
    core.deposit(1, usd(1_000_000))
    core.deposit(2, usd(10))
    assert core.submit(1, 0, 1, BUY, lots(1), px(30000))
    before = snapshot(core)
    assert not core.submit(2, 0, 2, SELL, lots(1), 1)
    assert core.events[-1][5] == Reject.INSUFFICIENT_MARGIN and snapshot(core) == before
    # the same through an amend: a far ask moved down through the bid
    core.deposit(2, usd(100))  # 110 in all
    assert core.submit(2, 0, 3, SELL, lots("0.01"), px(60000))  # 600 notional: 60 IM + 0.30 fee
    assert not core.amend(2, 0, 3, 1, lots("0.1"))
    assert core.events[-1][5] == Reject.INSUFFICIENT_MARGIN


def test_unbanded_market_buy_is_judged_at_the_depth_it_sweeps() -> None:
    """Asks of 0.1 BTC at 30,000 and 1 BTC at 90,000; a market buy of 0.5 sweeps to 90,000."""
    core = ExchangeCore([spec(market_band=None)])
    core.set_mark(0, px(30000))
    core.deposit(1, usd(1_000_000))
    core.deposit(2, usd(2_000))
    core.submit(1, 0, 1, SELL, lots("0.1"), px(30000))
    core.submit(1, 0, 2, SELL, lots(1), px(90000))
    # judged at 30,000 it would need 1,500 + fees; at 90,000 it needs 4,500
    assert not core.submit(2, 0, 3, BUY, lots("0.5"), order_type=MARKET)
    assert core.events[-1][5] == Reject.INSUFFICIENT_MARGIN
    assert core.submit(2, 0, 4, BUY, lots("0.2"), order_type=MARKET)  # 1,800 at 90,000


def test_amend_that_keeps_priority_keeps_reduce_only_seniority(core: ExchangeCore) -> None:
    assert core.submit(1, 0, 1, BUY, lots(1), order_type=MARKET)
    assert core.submit(1, 0, 2, SELL, lots("0.5"), px(31000), reduce_only=True)  # older
    assert core.submit(1, 0, 3, SELL, lots("0.5"), px(31000), reduce_only=True)
    assert core.amend(1, 0, 2, px(31000), lots("0.4"))  # keeps its place
    core.submit(2, 0, 50, BUY, lots("0.5"), px(30000))
    core.events.clear()
    assert core.submit(1, 0, 4, SELL, lots("0.5"), px(30000))  # position 1 -> 0.5
    # the newer order is trimmed first: 0.4 + 0.1 fit the 0.5 left
    assert core.book(0).orders[2][4] == lots("0.4")
    assert core.book(0).orders[3][4] == lots("0.1")
    assert all(core.invariants().values())


def test_a_rejected_event_carries_only_int64_ids(core: ExchangeCore) -> None:
    """An oid or account id outside int64 is refused, and the REJECTED event says -1 for
    it: the event log's columns are int64 (a 10**30 there broke the Parquet writer)."""
    low, high = -(1 << 63), (1 << 63) - 1
    cases = [
        (lambda: core.cancel(1, 0, 10**30), 10**30, 1),
        (lambda: core.cancel(1, 0, -(10**30)), -(10**30), 1),
        (lambda: core.amend(1, 0, 1 << 63, px(30000), 1), 1 << 63, 1),
        (lambda: core.submit(10**30, 0, 7, BUY, 1, px(30000)), 7, 10**30),
        (lambda: core.withdraw(-(1 << 64), 5), None, -(1 << 64)),
        (lambda: core.cancel(1, 0, high), high, 1),  # in range: kept as it came
        (lambda: core.cancel(low, 0, 5), 5, low),
    ]
    for call, oid, acct in cases:
        core.events.clear()
        assert call() is False
        (event,) = core.events
        assert event[0] == REJECTED
        fits = (oid if oid is not None and low <= oid <= high else -1,
                acct if low <= acct <= high else -1)
        assert (event[3], event[4]) == fits, event


def test_withdrawals_pay_out_cash_never_unrealized_profit() -> None:
    """No fees.  Account 1 (10,000) buys 1 BTC at 30,000 at 10x from account 2.

    Mark 33,000: uPnL +3,000, initial margin 3,300.  The available balance counts the
    profit (10,000 - 3,300 + 3,000 = 9,700), but only cash may leave: 10,000 - 3,300 =
    6,700.  Mark 28,000: a loss counts: 10,000 - 2,800 - 2,000 = 5,200.  Account 2 (short
    at 28,000, +2,000) likewise keeps its profit in: 10,000 - 2,800 = 7,200."""
    core = ExchangeCore([spec(maker_fee=0, taker_fee=0)])
    core.set_mark(0, px(30000))
    for a in (1, 2):
        core.deposit(a, usd(10_000))
    assert core.submit(2, 0, 1, SELL, lots(1), px(30000))
    assert core.submit(1, 0, 2, BUY, lots(1), order_type=MARKET)
    for mark, cases in ((33000, {1: "6700"}), (28000, {1: "5200", 2: "7200"})):
        core.set_mark(0, px(mark))
        for acct, free in cases.items():
            before = snapshot(core)
            assert available_balance(core.accounts[acct], core.markets) >= usd(free)
            assert not core.withdraw(acct, usd(free) + 1)
            assert core.events[-1][0] == REJECTED
            assert core.events[-1][5] == Reject.INSUFFICIENT_MARGIN
            assert snapshot(core) == before
            assert core.withdraw(acct, usd(free))  # free cash still leaves
            assert core.deposit(acct, usd(free))  # put back for the next case
    assert all(core.invariants().values())
