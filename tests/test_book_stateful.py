"""exsim's book against the slow reference book, over random request sequences.

Hypothesis drives limit, IOC, FOK, market, post-only, cancel and amend requests
from three accounts (so self-trade prevention fires often) on a narrow price
range (so orders cross often) into both books, and checks after every step:

* identical fills (maker, taker, price, quantity, maker account), in order;
* identical STP cancellations and resting quantities;
* identical book contents in priority order, and the book never crossed;
* exsim's price lists and touch caches agree with its levels;
* every order's quantity = filled + resting + cancelled.
"""

from __future__ import annotations

from collections import defaultdict

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from reference_book import RefBook

from exsim.core.book import INF, OrderBook

prices = st.integers(95, 105)
qtys = st.integers(1, 6)
sides = st.integers(0, 1)
accts = st.integers(0, 2)
stps = st.integers(0, 3)


class BookVersusReference(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = OrderBook()
        self.ref = RefBook()
        self.next_oid = 1
        self.ordered: dict[int, int] = defaultdict(int)  # oid -> total quantity ever asked
        self.filled: dict[int, int] = defaultdict(int)
        self.cancelled: dict[int, int] = defaultdict(int)

    # -- bookkeeping ----------------------------------------------------------------
    def _oid(self) -> int:
        self.next_oid += 1
        return self.next_oid

    def _compare(self, mine: list, ref: list, oid: int, asked: int) -> None:
        assert [tuple(f) for f in mine] == ref
        assert [o[0] for o in self.book.stp_cancelled] == self.ref.stp_cancelled
        assert self.book.rested == self.ref.rested
        for o in self.book.stp_cancelled:
            self.cancelled[o[0]] += o[4]
        self.book.stp_cancelled.clear()
        got = 0
        for maker, taker, _, q, _ in mine:
            self.filled[maker] += q
            self.filled[taker] += q
            got += q
        self.cancelled[oid] += asked - got - self.book.rested

    # -- requests --------------------------------------------------------------------
    @rule(side=sides, price=prices, qty=qtys, acct=accts, stp=stps)
    def limit(self, side: int, price: int, qty: int, acct: int, stp: int) -> None:
        oid = self._oid()
        self.ordered[oid] += qty
        mine = self.book.limit(oid, side, price, qty, acct, stp)
        self._compare(mine, self.ref.limit(oid, side, price, qty, acct, stp), oid, qty)

    @rule(side=sides, price=prices, qty=qtys, acct=accts, stp=stps)
    def ioc(self, side: int, price: int, qty: int, acct: int, stp: int) -> None:
        oid = self._oid()
        self.ordered[oid] += qty
        mine = self.book.ioc(oid, side, price, qty, acct, stp)
        self._compare(mine, self.ref.ioc(oid, side, price, qty, acct, stp), oid, qty)

    @rule(side=sides, price=prices, qty=st.integers(1, 15), acct=accts, stp=stps)
    def fok(self, side: int, price: int, qty: int, acct: int, stp: int) -> None:
        oid = self._oid()
        self.ordered[oid] += qty
        mine = self.book.fok(oid, side, price, qty, acct, stp)
        self._compare(mine, self.ref.fok(oid, side, price, qty, acct, stp), oid, qty)
        assert sum(f[3] for f in mine) in (0, qty)

    @rule(side=sides, qty=st.integers(1, 15), acct=accts, stp=stps,
          band=st.none() | st.integers(0, 6))
    def market(self, side: int, qty: int, acct: int, stp: int, band: int | None) -> None:
        oid = self._oid()
        self.ordered[oid] += qty
        limit = None if band is None else (100 + band if side == 0 else 100 - band)
        mine = self.book.market(oid, side, qty, acct, limit, stp)
        ref_limit = limit if limit is not None else (INF - 1 if side == 0 else 1 - INF)
        self._compare(mine, self.ref.ioc(oid, side, ref_limit, qty, acct, stp), oid, qty)

    @rule(side=sides, price=prices, qty=qtys, acct=accts)
    def post(self, side: int, price: int, qty: int, acct: int) -> None:
        oid = self._oid()
        accepted = self.book.post(oid, side, price, qty, acct)
        assert accepted == self.ref.post(oid, side, price, qty, acct)
        if accepted:
            self.ordered[oid] += qty
            assert self.book.rested == qty

    def _live(self) -> list[int]:
        return sorted(self.book.orders)

    @precondition(lambda self: self.book.orders)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        oid = data.draw(st.sampled_from(self._live()))
        mine = self.book.cancel(oid)
        ref = self.ref.cancel(oid)
        assert mine is not None and ref is not None and mine[4] == ref.leaves
        self.cancelled[oid] += mine[4]

    @rule(oid=st.integers(-5, 0))
    def cancel_unknown(self, oid: int) -> None:
        assert self.book.cancel(oid) is None and self.ref.cancel(oid) is None

    @precondition(lambda self: self.book.orders)
    @rule(data=st.data(), price=prices, leaves=qtys, stp=stps)
    def amend(self, data: st.DataObject, price: int, leaves: int, stp: int) -> None:
        oid = data.draw(st.sampled_from(self._live()))
        old = self.book.orders[oid][4]
        if leaves > old:
            self.ordered[oid] += leaves - old
        else:
            self.cancelled[oid] += old - leaves
        mine = self.book.amend(oid, price, leaves, stp)
        self._compare(mine, self.ref.amend(oid, price, leaves, stp), oid, leaves)

    # -- invariants ------------------------------------------------------------------
    @invariant()
    def same_book(self) -> None:
        mine_bids = [(p, o[0], o[4]) for p in reversed(self.book.bid_prices)
                     for o in self.book.bids[p]]
        mine_asks = [(-p, o[0], o[4]) for p in reversed(self.book.ask_prices)
                     for o in self.book.asks[-p]]
        assert mine_bids == self.ref.priority_order(0)
        assert mine_asks == self.ref.priority_order(1)

    @invariant()
    def structure_consistent(self) -> None:
        b = self.book
        assert b.bid_prices == sorted(b.bids) and b.ask_prices == sorted(-p for p in b.asks)
        assert all(b.bids.values()) and all(b.asks.values())  # no empty levels
        assert b.best_bid == (b.bid_prices[-1] if b.bid_prices else -INF)
        assert b.best_ask == (-b.ask_prices[-1] if b.ask_prices else INF)
        assert b.best_bid < b.best_ask  # never crossed at rest
        on_levels = {o[0] for q in (*b.bids.values(), *b.asks.values()) for o in q}
        assert on_levels == set(b.orders)

    @invariant()
    def quantities_accounted(self) -> None:
        for oid, asked in self.ordered.items():
            o = self.book.orders.get(oid)
            resting = o[4] if o is not None else 0
            assert asked == self.filled[oid] + resting + self.cancelled[oid], oid


BookVersusReference.TestCase.settings = settings(max_examples=150, stateful_step_count=60,
                                                 deadline=None)
test_book_matches_reference = BookVersusReference.TestCase
