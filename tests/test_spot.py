"""The spot venue's core: every order paid for up front, cash and coin conserved exactly,
replayed against a shadow ledger built from its events alone."""

from __future__ import annotations

import os

from hypothesis import event, given, settings
from hypothesis import strategies as st

from exsim.core.events import ACCEPTED, CANCELLED, FILL, REJECTED, SPOT_DEPOSIT
from exsim.core.orders import BUY, FOK, GTC, IOC, LIMIT, MARKET, POST_ONLY, SELL, Reject
from exsim.core.spot import SpotCore
from exsim.core.units import LinearContract

C = LinearContract("0.1", "0.001", "0.00000001")  # k = 10,000 atoms per tick-lot
SYM = 2  # the venue's index in a run: after two perpetuals, say


def venue(maker: int = 1000, taker: int = 1000) -> SpotCore:
    return SpotCore(SYM, "spot_a", C, maker_fee=maker, taker_fee=taker)


def test_a_trade_by_hand() -> None:
    """Maker sells 2 lots at 300,000 ticks (30,000.0); the taker buys them: 0.1% fees."""
    s = venue()
    s.deposit(1, 0, 5)
    s.deposit(2, 10**13, 0)
    assert s.submit(1, SYM, 11, SELL, 2, 300_000)
    assert s.accounts[1].coin_held == 2
    assert s.submit(2, SYM, 21, BUY, 2, 300_000, tif=IOC)
    notional = 300_000 * 2 * 10_000  # 6e9 atoms = 60 USDT
    fee = notional // 1000  # 0.1%: 6e6 atoms
    assert s.events[-1] == (FILL, SYM, 300_000, 2, 21, 2, BUY, 11, 1, fee, fee, 0, 0)
    assert (s.accounts[1].cash, s.accounts[1].coin) == (notional - fee, 3)
    assert (s.accounts[2].cash, s.accounts[2].coin) == (10**13 - notional - fee, 2)
    assert s.fee_pool == 2 * fee and all(s.invariants().values())


def test_a_resting_buy_holds_its_cash_and_its_fee_to_the_atom() -> None:
    """A fee that does not divide: 3 fills of 1 lot at 7 ticks, 0.05%, k = 10,000.

    Each 1-lot fill's notional is 70,000 atoms (fee 35 exactly); make it uneven with
    rate 333 ppm: cumulative fees ceil(23.31)=24, ceil(46.62)=47, ceil(69.93)=70."""
    s = venue(maker=333, taker=0)
    s.deposit(1, 10**9, 0)
    s.deposit(2, 0, 3)
    assert s.submit(1, SYM, 11, BUY, 3, 7)
    assert s.accounts[1].cash_held == 3 * 70_000 + 70
    charged = []
    for i in range(3):
        before = s.accounts[1].cash
        s.submit(2, SYM, 21 + i, SELL, 1, 7, tif=IOC)
        charged.append(before - s.accounts[1].cash - 70_000)
    assert charged == [24, 23, 23]
    assert s.accounts[1].cash_held == 0 and s.accounts[1].coin == 3
    assert all(s.invariants().values())


def test_orders_that_cannot_be_paid_for_are_refused_and_change_nothing() -> None:
    s = venue()
    s.deposit(1, 1_000, 1)
    assert not s.submit(1, SYM, 1, BUY, 1, 300_000)  # 30 USDT of cash it lacks
    assert not s.submit(1, SYM, 2, SELL, 2, 300_000)  # 2 lots of coin; it has 1
    assert [e[-1] for e in s.events if e[0] == REJECTED] == [
        Reject.INSUFFICIENT_MARGIN, Reject.INSUFFICIENT_MARGIN]
    assert (s.accounts[1].cash, s.accounts[1].coin, s.accounts[1].cash_held,
            s.accounts[1].coin_held) == (1_000, 1, 0, 0)
    assert not s.amend(1, SYM, 1, 10, 1) and not s.set_leverage(1, SYM, 5)


def test_a_market_buy_pays_for_the_depth_its_size_sweeps() -> None:
    s = venue(maker=0, taker=0)
    s.deposit(1, 0, 10)
    s.submit(1, SYM, 1, SELL, 1, 100)
    s.submit(1, SYM, 2, SELL, 1, 104)
    s.deposit(2, 204 * 10_000, 0)  # exactly what sweeping both costs
    assert s.submit(2, SYM, 3, BUY, 2, order_type=MARKET)
    assert s.accounts[2].coin == 2 and s.accounts[2].cash == 0
    s.submit(1, SYM, 4, SELL, 1, 200_000)  # beyond the 5% band of the best ask: untouched
    s.submit(1, SYM, 5, SELL, 1, 100)
    s.deposit(3, 10**12, 0)
    s.submit(3, SYM, 6, BUY, 2, order_type=MARKET)
    assert s.accounts[3].coin == 1 and s.events[-1][0] == CANCELLED


# ----------------------------------------------------------------------------- random driver
def snapshot(s: SpotCore) -> tuple[object, ...]:
    return (sorted((a.id, a.cash, a.coin, a.cash_held, a.coin_held)
                   for a in s.accounts.values()),
            sorted(map(tuple, s.book.orders.values())), s.fee_pool)


class Shadow:
    """Cash and coin per account from the events alone."""

    def __init__(self) -> None:
        self.cash: dict[int, int] = {}
        self.coin: dict[int, int] = {}
        self.pool = 0
        self.asked: dict[int, int] = {}
        self.done: dict[int, int] = {}

    def replay(self, events: list[tuple[int, ...]]) -> None:
        for e in events:
            if e[0] == SPOT_DEPOSIT:
                self.cash[e[2]] = self.cash.get(e[2], 0) + e[3]
                self.coin[e[2]] = self.coin.get(e[2], 0) + e[4]
            elif e[0] == FILL:
                _, _, price, q, toid, taker, side, moid, maker, tfee, mfee, _, _ = e
                value = price * q * C.k
                buyer, seller = (taker, maker) if side == BUY else (maker, taker)
                bfee, sfee = (tfee, mfee) if side == BUY else (mfee, tfee)
                self.cash[buyer] -= value + bfee
                self.cash[seller] += value - sfee
                self.coin[buyer] += q
                self.coin[seller] -= q
                self.pool += tfee + mfee
                self.done[toid] = self.done.get(toid, 0) + q
                self.done[moid] = self.done.get(moid, 0) + q
            elif e[0] == ACCEPTED:
                self.asked[e[2]] = e[6]
            elif e[0] == CANCELLED:
                self.done[e[2]] = self.done.get(e[2], 0) + e[4]


request = st.one_of(
    st.tuples(st.just("deposit"), st.integers(1, 4), st.integers(0, 10**11),
              st.integers(0, 50)),
    st.tuples(st.just("order"), st.one_of(st.integers(1, 4), st.integers(0, 5)),
              st.sampled_from([BUY, SELL]), st.one_of(st.integers(1, 8), st.integers(-1, 30)),
              st.one_of(st.integers(16, 24), st.integers(-5, 40)),
              st.sampled_from([(LIMIT, GTC), (LIMIT, IOC), (LIMIT, FOK), (LIMIT, POST_ONLY),
                               (MARKET, IOC)])),
    st.tuples(st.just("cancel"), st.integers(1, 4), st.integers(0, 60)),
)


@settings(max_examples=int(os.environ.get("EXSIM_LONG", "0") or 0) * 200 or 60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40).map(lambda lots: lots * 3_000_000_000 + 7),
                          st.integers(0, 40)), min_size=4, max_size=4),
       st.lists(request, min_size=20, max_size=80),
       st.sampled_from([(1000, 1000), (333, 0), (-200, 500)]))
def test_random_sessions_conserve_cash_and_coin(funds: list[tuple[int, int]],
                                                steps: list[tuple[object, ...]],
                                                fees: tuple[int, int]) -> None:
    s = venue(*fees)
    shadow = Shadow()
    oid = 0
    for acct, (cash, coin) in enumerate(funds, start=1):
        s.deposit(acct, cash, coin)
    fills = 0
    for step in steps:
        before = snapshot(s)
        if step[0] == "deposit":
            _, acct, cash, coin = step
            ok = s.deposit(acct, cash, coin)
        elif step[0] == "order":
            _, acct, side, qty, price, (kind, tif) = step
            oid += 1
            price = 300_000 + int(price) - 20 if int(price) > 0 else price  # near 30,000
            ok = s.submit(acct, SYM, oid, side, qty, price, kind, tif)
        else:
            _, acct, target = step
            ok = s.cancel(acct, SYM, target)
        if not ok:
            assert snapshot(s) == before, step  # a refusal changes nothing
        shadow.replay(s.events)
        fills += sum(e[0] == FILL for e in s.events)
        s.events.clear()
        assert all(s.invariants().values()), (step, s.invariants())
        for a in s.accounts.values():
            assert (a.cash, a.coin) == (shadow.cash[a.id], shadow.coin[a.id])
        assert s.fee_pool == shadow.pool
    event("fills" if fills else "no fills")
    resting = {o[0]: o[4] for o in s.book.orders.values()}
    assert all(asked == shadow.done.get(o, 0) + resting.get(o, 0)
               for o, asked in shadow.asked.items())
