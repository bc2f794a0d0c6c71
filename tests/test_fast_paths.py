"""The core's fast paths against its careful ones, request for request.

``ExchangeCore.submit`` and ``cancel`` handle the common request (int fields,
a GTC limit or a market order, default flags) in a flat fast path, and send
anything else to ``_submit`` / ``_cancel``, which check every field.  Here two
cores take the same requests, one through the public methods and one straight
through the careful ones, and must emit the same events and reach the same
state after every step.  Wallets are small and fees are both whole atoms per
tick-lot (0.05% / 0.02%) and not (0.0333% / -0.0033%), so the margin checks
decide at their boundary; every self-trade prevention mode is drawn.  Last,
the cross-margin clearing that ``ExchangeCore._clear`` writes out inline is
replayed fill by fill through ``clearing.apply_trade``.
"""

from __future__ import annotations

from typing import Any

from core_helpers import px, snapshot, spec, usd
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from exsim.core.engine import ExchangeCore
from exsim.core.orders import LIMIT, MARKET

ACCOUNTS = (1, 2, 3)
accts = st.sampled_from(ACCOUNTS)
syms = st.sampled_from([0, 1])
sides = st.integers(0, 1)


class FastVersusCareful(RuleBasedStateMachine):
    @initialize(stp=st.integers(0, 3), exact=st.booleans(),
                wallets=st.tuples(*[st.integers(50, 3000)] * len(ACCOUNTS)))
    def setup(self, stp: int, exact: bool, wallets: tuple[int, ...]) -> None:
        fees = {} if exact else {"taker_fee": 333, "maker_fee": -33}
        specs = [spec(**fees), spec("ETHUSDT", taker_fee=700, maker_fee=-100)]
        self.fast = ExchangeCore(specs, stp=stp)
        self.careful = ExchangeCore(specs, stp=stp)
        self.both("set_mark", 0, px(30000))
        self.both("set_mark", 1, px(2000))
        for a, w in zip(ACCOUNTS, wallets, strict=True):
            self.both("deposit", a, usd(w))
        self.next_oid = 0

    def both(self, method: str, *args: Any) -> None:
        getattr(self.fast, method)(*args)
        getattr(self.careful, method)(*args)

    def oid(self) -> int:
        self.next_oid += 1
        return self.next_oid

    @rule(a=accts, s=syms, side=sides, qty=st.integers(1, 400), off=st.integers(-30, 30))
    def limit(self, a: int, s: int, side: int, qty: int, off: int) -> None:
        price = self.fast.markets[s].mark + off * (10 if s == 0 else 1)  # type: ignore[operator]
        oid = self.oid()
        self.fast.submit(a, s, oid, side, qty, price)
        self.careful._submit(a, s, oid, side, qty, price, LIMIT, 0, False, None)

    @rule(a=accts, s=syms, side=sides, qty=st.integers(1, 400))
    def market(self, a: int, s: int, side: int, qty: int) -> None:
        oid = self.oid()
        self.fast.submit(a, s, oid, side, qty, None, MARKET)
        self.careful._submit(a, s, oid, side, qty, None, MARKET, 0, False, None)

    @rule(a=accts, s=syms, data=st.data())
    def cancel(self, a: int, s: int, data: st.DataObject) -> None:
        live = sorted(self.fast.markets[s].book.orders)
        oid = data.draw(st.sampled_from(live)) if live and data.draw(st.booleans()) else 10**6
        self.fast.cancel(a, s, oid)
        self.careful._cancel(a, s, oid)

    @rule(s=syms, move=st.integers(-300, 300))
    def mark(self, s: int, move: int) -> None:
        mark = self.fast.markets[s].mark
        assert mark is not None
        self.both("set_mark", s, max(1, mark + move * (10 if s == 0 else 1)))

    @rule(a=accts, s=syms, lev=st.integers(1, 125))
    def leverage(self, a: int, s: int, lev: int) -> None:
        self.both("set_leverage", a, s, lev)

    @rule(a=accts, s=syms, isolated=st.booleans())
    def margin_mode(self, a: int, s: int, isolated: bool) -> None:
        self.both("set_margin_mode", a, s, isolated)

    @rule(a=accts, amount=st.integers(1, 300))
    def deposit(self, a: int, amount: int) -> None:
        self.both("deposit", a, usd(amount))

    @invariant()
    def same_events_and_state(self) -> None:
        if not hasattr(self, "fast"):
            return
        assert self.fast.events == self.careful.events
        assert snapshot(self.fast) == snapshot(self.careful)
        self.fast.events.clear()
        self.careful.events.clear()


FastVersusCareful.TestCase.settings = settings(max_examples=200, stateful_step_count=50,
                                               deadline=None)
TestFastVersusCareful = FastVersusCareful.TestCase


def _pair(exact: bool, qty: int, entry: int, buy_open: int, sell_open: int, lev: int,
          margin: int | None, other: tuple[int, int] | None, bid: int | None,
          wallet: int) -> list[ExchangeCore]:
    """Two identical cores: account 1 with the given positions, built directly, and
    account 2 bidding 5 lots at ``bid``."""
    from exsim.core.accounts import Account, Position

    fees = {} if exact else {"taker_fee": 333, "maker_fee": -33}
    cores = []
    for _ in range(2):
        core = ExchangeCore([spec(**fees), spec("ETHUSDT")])
        core.set_mark(0, px(30000))
        core.set_mark(1, px(2000))
        acct = Account(1, wallet)
        pos = Position(0, lev, isolated=margin is not None)
        pos.qty, pos.cost = qty, qty * entry * core.markets[0].k
        pos.margin = margin or 0
        pos.buy_open, pos.sell_open = buy_open, sell_open
        acct.positions[0] = pos
        if other is not None:  # a second cross position: the careful check counts it
            eth = acct.positions[1] = Position(1, 10)
            eth.qty, eth.cost = other[0], other[0] * other[1] * core.markets[1].k
        core.accounts[1] = acct
        if bid is not None:
            core.deposit(2, usd(10**6))
            core.submit(2, 0, 1, 0, 5, bid)
        core.events.clear()
        cores.append(core)
    return cores


@settings(max_examples=500, deadline=None)
@given(exact=st.booleans(), qty=st.integers(-300, 300), entry=st.integers(250_000, 350_000),
       buy_open=st.integers(0, 10**8), sell_open=st.integers(0, 10**8), lev=st.integers(1, 125),
       side=sides, order_qty=st.integers(1, 5000), price=st.integers(290_000, 310_000),
       market=st.booleans(), nudge=st.integers(-2, 2),
       margin=st.none() | st.integers(0, 10**11),
       other=st.none() | st.tuples(st.integers(-500, 500), st.integers(15_000, 25_000)),
       bid=st.none() | st.integers(280_000, 320_000))
@example(exact=True, qty=0, entry=300_000, buy_open=0, sell_open=0, lev=120, side=0,  # tier 2
         order_qty=1900, price=300_000, market=False, nudge=0, margin=None, other=None, bid=None)
@example(exact=False, qty=10, entry=300_000, buy_open=0, sell_open=0, lev=100, side=1,
         order_qty=1900, price=300_000, market=True, nudge=-1, margin=None, other=None,
         bid=None)
@example(exact=True, qty=0, entry=300_000, buy_open=0, sell_open=0, lev=20, side=1,
         order_qty=50, price=299_000, market=False, nudge=-1, margin=None, other=None,
         bid=300_000)  # a crossing sell is judged at the bid, above its limit
def test_margin_edge(exact: bool, qty: int, entry: int, buy_open: int, sell_open: int,
                     lev: int, side: int, order_qty: int, price: int, market: bool,
                     nudge: int, margin: int | None, other: tuple[int, int] | None,
                     bid: int | None) -> None:
    """An order against a wallet a few atoms either side of what it needs (cross).

    Isolated positions (``margin``) and accounts with a second position
    (``other``) take the careful check on both paths.
    """
    from exsim.core.units import PPM, ceil_div

    probe = _pair(exact, qty, entry, buy_open, sell_open, lev, None, None, bid, 0)[0]
    m = probe.markets[0]
    pos = probe.accounts[1].positions[0]
    mark = m.mark
    assert mark is not None
    if market:  # judged at the band's edge (an empty book)
        check = (mark * (PPM + m.band) // PPM if side == 0  # type: ignore[operator]
                 else -(-mark * (PPM - m.band) // PPM))  # type: ignore[operator]
    else:
        check = price
    if side == 1 and bid is not None:
        check = max(check, bid)
    added = check * order_qty
    before = pos.exposure(mark, m.k)
    if side == 0:
        pos.buy_open += added
    else:
        pos.sell_open += added
    after = pos.exposure(mark, m.k)
    need = ceil_div(after, lev) + ceil_div(added * m.k * m.taker_fee, PPM)
    edge = need - (pos.qty * mark * m.k - pos.cost)  # the wallet at which available == need
    fast, careful = _pair(exact, qty, entry, buy_open, sell_open, lev, margin, other, bid,
                          edge + nudge)
    if market:
        fast.submit(1, 0, 7, side, order_qty, None, MARKET)
        careful._submit(1, 0, 7, side, order_qty, None, MARKET, 0, False, None)
    else:
        fast.submit(1, 0, 7, side, order_qty, price)
        careful._submit(1, 0, 7, side, order_qty, price, LIMIT, 0, False, None)
    assert fast.events == careful.events
    assert snapshot(fast) == snapshot(careful)
    if after > before and nudge < 0 and after < m.tier1_cap and margin is None and other is None:
        assert fast.events[0][0] == 2  # refused: one atom short is short


class ClearingVersusApplyTrade(RuleBasedStateMachine):
    """``_clear`` settles cross positions inline; replay every FILL through ``apply_trade``.

    Shadow accounts take each fill's fees and ``apply_trade`` on both sides; the
    realized PnL in the event and every wallet and position must match.
    Account 3 is isolated, so both branches run; self-trades are allowed.
    """

    @initialize(exact=st.booleans())
    def setup(self, exact: bool) -> None:
        from exsim.core.accounts import Account, Position
        from exsim.core.orders import STP_NONE

        fees = {} if exact else {"taker_fee": 333, "maker_fee": -33}
        self.core = ExchangeCore([spec(**fees)], stp=STP_NONE)
        self.core.set_mark(0, px(30000))
        self.shadow: dict[int, Account] = {}
        for a in ACCOUNTS:
            self.core.deposit(a, usd(10**7))
            self.shadow[a] = Account(a, usd(10**7))
            self.shadow[a].positions[0] = Position(0, 10, isolated=a == 3)
        self.core.set_margin_mode(3, 0, True)
        self.core.events.clear()
        self.next_oid = 0

    @rule(a=accts, side=sides, qty=st.integers(1, 50), off=st.integers(-20, 20),
          market=st.booleans())
    def order(self, a: int, side: int, qty: int, off: int, market: bool) -> None:
        from exsim.core.clearing import apply_trade
        from exsim.core.events import FILL

        self.next_oid += 1
        if market:
            self.core.submit(a, 0, self.next_oid, side, qty, None, MARKET)
        else:
            self.core.submit(a, 0, self.next_oid, side, qty, px(30000) + off * 10)
        k = self.core.markets[0].k
        for e in self.core.events:
            if e[0] != FILL:
                continue
            _, _, price, q, _, taker, tside, _, maker, tfee, mfee, treal, mreal = e
            dq = q if tside == 0 else -q
            t, mk = self.shadow[taker], self.shadow[maker]
            t.wallet -= tfee
            mk.wallet -= mfee
            assert apply_trade(t, t.positions[0], dq, price, k) == treal
            assert apply_trade(mk, mk.positions[0], -dq, price, k) == mreal
        self.core.events.clear()

    @invariant()
    def same_positions_and_wallets(self) -> None:
        if not hasattr(self, "core"):
            return
        for a, shadow in self.shadow.items():
            acct = self.core.accounts[a]
            pos, spos = acct.positions.get(0), shadow.positions[0]
            assert acct.wallet == shadow.wallet
            if pos is not None:
                assert (pos.qty, pos.cost, pos.margin) == (spos.qty, spos.cost, spos.margin)


ClearingVersusApplyTrade.TestCase.settings = settings(max_examples=100, stateful_step_count=60,
                                                      deadline=None)
TestClearingVersusApplyTrade = ClearingVersusApplyTrade.TestCase
