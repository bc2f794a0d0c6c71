"""Price-time-priority limit order book for one symbol: pure, synchronous, integer.

The book knows prices (ticks), quantities (lots), order ids and the account
behind each order (for self-trade prevention).  It knows nothing of margin,
positions or money: the exchange engine (:mod:`exsim.core.engine`) validates
requests before they get here and clears the fills that come out.

Why it looks the way it does (every choice measured, see docs/performance.md):

* A resting order is a small ``list`` ``[oid, acct, side, price, leaves, flags]``
  (indices :data:`OID` ... :data:`FLAGS`), not an object: building a list costs
  about a quarter of a slots object with an ``__init__``, and the book builds one
  per resting order.
* Each side is a dict ``price -> Level`` plus a plain sorted list of its
  prices with the best price *last* (asks are stored negated), so creating or
  removing a level near the touch is a C-level ``insort``/``pop`` at the end
  of a short list instead of a ``SortedDict`` insertion.
* A :class:`Level` is an ``OrderedDict`` ``oid -> order`` in time priority,
  not a deque: a cancel is an O(1) ``del`` where ``deque.remove`` compared its
  way through half the level (levels hold ~90 orders on the benchmark stream;
  the book went from the reference's speed to ~1.3x it).  Matching walks the
  level's values and deletes the orders it used up once it stops.  A plain
  dict is ~10% faster still, but finding its first entry scans past every
  entry deleted since its last resize: draining a deep level one small taker
  at a time became quadratic (14 us per taker at 80,000 orders, against
  0.5 us here and 0.4 us with a deque).
* The touch (``best_bid``/``best_ask``) is cached; a non-marketable limit order
  costs one comparison plus a dict get.
* A fill is a tuple ``(maker_oid, taker_oid, price, qty, maker_acct)``: the
  first four fields are the benchmark protocol of ../shared/bench, the fifth
  lets clearing find the maker without another lookup.

Outcomes that the caller cannot see in the returned fills are reported in two
attributes, valid until the next call: :attr:`OrderBook.rested` (lots of the
taker left resting) and :attr:`OrderBook.stp_cancelled` (maker orders removed
by self-trade prevention).  Everything else about an order's fate follows from
``qty - filled - rested``.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Iterator
from typing import Final, TypeAlias

from exsim.core.orders import (
    BUY,
    STP_CANCEL_BOTH,
    STP_CANCEL_MAKER,
    STP_CANCEL_TAKER,
    STP_NONE,
)

# Layout of a resting order.  The matching loops use the literal indices.
OID: Final = 0
ACCT: Final = 1
SIDE: Final = 2
PRICE: Final = 3
LEAVES: Final = 4
FLAGS: Final = 5

INF: Final = 1 << 62
"""Price beyond any real price: ``best_ask`` of an empty ask side, ``-INF`` for bids."""

BookOrder: TypeAlias = list[int]
Fill: TypeAlias = tuple[int, int, int, int, int]
"""``(maker_oid, taker_oid, price, qty, maker_acct)``."""

NO_FILLS: Final[list[Fill]] = []
"""Shared empty result for calls that trade nothing.  Never mutate it."""


class Level(OrderedDict[int, BookOrder]):
    """One price level: order id -> resting order, oldest first.

    A FIFO queue with an O(1) cancel (see the module docstring).  Iterating a
    level yields its orders, oldest first, as iterating a queue would; the book
    itself walks ``values()``.
    """

    __slots__ = ()

    def __iter__(self) -> Iterator[BookOrder]:  # type: ignore[override]
        return iter(self.values())


class OrderBook:
    """One symbol's book.  All methods are synchronous and do no I/O."""

    __slots__ = (
        "ask_prices",
        "asks",
        "best_ask",
        "best_bid",
        "bid_prices",
        "bids",
        "orders",
        "rested",
        "stp_cancelled",
        "stp_stopped",
    )

    def __init__(self) -> None:
        self.bids: dict[int, Level] = {}
        self.asks: dict[int, Level] = {}
        self.bid_prices: list[int] = []  # ascending: best bid last
        self.ask_prices: list[int] = []  # negated asks, ascending: best ask is -last
        self.orders: dict[int, BookOrder] = {}
        self.best_bid: int = -INF
        self.best_ask: int = INF
        self.rested: int = 0
        self.stp_cancelled: list[BookOrder] = []
        self.stp_stopped: bool = False  # last IOC/FOK/market taker was cancelled by STP

    # ------------------------------------------------------------------ queries
    def depth(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top ``n`` levels a side as ``(price, total lots)``, best first."""
        bids = [(p, sum(o[LEAVES] for o in self.bids[p].values()))
                for p in self.bid_prices[: -n - 1 : -1]]
        asks = [(-p, sum(o[LEAVES] for o in self.asks[-p].values()))
                for p in self.ask_prices[: -n - 1 : -1]]
        return bids, asks

    def sweep_price(self, side: int, qty: int) -> int | None:
        """The last opposite price a taker of ``qty`` lots would reach (``None``: side empty)."""
        if side == BUY:
            levels, prices, sign = self.asks, self.ask_prices, -1
        else:
            levels, prices, sign = self.bids, self.bid_prices, 1
        price = None
        for key in reversed(prices):
            price = sign * key
            qty -= sum(o[LEAVES] for o in levels[price].values())
            if qty <= 0:
                break
        return price

    def would_cross(self, side: int, price: int) -> bool:
        """Would a limit order at ``price`` take liquidity right now?"""
        return price >= self.best_ask if side == BUY else price <= self.best_bid

    def fillable(self, acct: int, side: int, price: int, qty: int, stp: int) -> bool:
        """Could ``qty`` lots be filled now up to ``price``, under the given STP mode?

        Walks the opposite side exactly as matching would: under cancel-taker or
        cancel-both, liquidity ends at the first own order; under cancel-maker,
        own orders are skipped.  Used for fill-or-kill.
        """
        if side == BUY:
            levels, prices, sign = self.asks, self.ask_prices, -1
        else:
            levels, prices, sign = self.bids, self.bid_prices, 1
        for key in reversed(prices):
            p = sign * key
            if (p > price) if side == BUY else (p < price):
                return False
            for o in levels[p].values():
                if stp and o[ACCT] == acct:
                    if stp == STP_CANCEL_MAKER:
                        continue
                    return False
                qty -= o[LEAVES]
                if qty <= 0:
                    return True
        return False

    # ------------------------------------------------------------------ matching
    def _take_asks(self, taker: int, acct: int, qty: int, limit: int, stp: int,
                   fills: list[Fill]) -> int:
        """Match a buy against asks up to ``limit``.

        Returns the unfilled lots, or ``~unfilled`` (a negative number) when
        self-trade prevention cancelled the taker.
        """
        asks = self.asks
        orders = self.orders
        prices = self.ask_prices
        stopped = False  # by self-trade prevention
        while qty and self.best_ask <= limit:
            price = self.best_ask
            q = asks[price]
            gone: list[int] = []  # the orders that left the front of the level
            for o in q.values():
                moid = o[0]
                if stp and o[1] == acct:
                    if stp == STP_CANCEL_TAKER:
                        stopped = True
                        break
                    gone.append(moid)
                    del orders[moid]
                    self.stp_cancelled.append(o)
                    if stp == STP_CANCEL_BOTH:
                        stopped = True
                        break
                    continue
                oq = o[4]
                if oq <= qty:
                    qty -= oq
                    fills.append((moid, taker, price, oq, o[1]))
                    gone.append(moid)
                    del orders[moid]
                    if not qty:
                        break
                else:
                    o[4] = oq - qty
                    fills.append((moid, taker, price, qty, o[1]))
                    qty = 0
                    break
            else:  # the whole level went: on to the next one
                del asks[price]
                prices.pop()
                self.best_ask = -prices[-1] if prices else INF
                continue
            # the taker ended at this level: filled, or stopped by STP
            for moid in gone:
                del q[moid]
            if not q:
                del asks[price]
                prices.pop()
                self.best_ask = -prices[-1] if prices else INF
            return ~qty if stopped else qty
        return qty

    def _take_bids(self, taker: int, acct: int, qty: int, limit: int, stp: int,
                   fills: list[Fill]) -> int:
        """Mirror of :meth:`_take_asks` for a sell against bids down to ``limit``."""
        bids = self.bids
        orders = self.orders
        prices = self.bid_prices
        stopped = False  # by self-trade prevention
        while qty and self.best_bid >= limit:
            price = self.best_bid
            q = bids[price]
            gone: list[int] = []  # the orders that left the front of the level
            for o in q.values():
                moid = o[0]
                if stp and o[1] == acct:
                    if stp == STP_CANCEL_TAKER:
                        stopped = True
                        break
                    gone.append(moid)
                    del orders[moid]
                    self.stp_cancelled.append(o)
                    if stp == STP_CANCEL_BOTH:
                        stopped = True
                        break
                    continue
                oq = o[4]
                if oq <= qty:
                    qty -= oq
                    fills.append((moid, taker, price, oq, o[1]))
                    gone.append(moid)
                    del orders[moid]
                    if not qty:
                        break
                else:
                    o[4] = oq - qty
                    fills.append((moid, taker, price, qty, o[1]))
                    qty = 0
                    break
            else:  # the whole level went: on to the next one
                del bids[price]
                prices.pop()
                self.best_bid = prices[-1] if prices else -INF
                continue
            # the taker ended at this level: filled, or stopped by STP
            for moid in gone:
                del q[moid]
            if not q:
                del bids[price]
                prices.pop()
                self.best_bid = prices[-1] if prices else -INF
            return ~qty if stopped else qty
        return qty

    def _rest(self, o: BookOrder) -> None:
        """Put an order at the back of its price level."""
        oid = o[OID]
        price = o[PRICE]
        self.orders[oid] = o
        if o[SIDE] == BUY:
            q = self.bids.get(price)
            if q is None:
                q = self.bids[price] = Level()
                if price > self.best_bid:
                    self.bid_prices.append(price)
                    self.best_bid = price
                else:
                    insort(self.bid_prices, price)
            q[oid] = o
        else:
            q = self.asks.get(price)
            if q is None:
                q = self.asks[price] = Level()
                if price < self.best_ask:
                    self.ask_prices.append(-price)
                    self.best_ask = price
                else:
                    insort(self.ask_prices, -price)
            q[oid] = o

    # ------------------------------------------------------------------ order entry
    def limit(self, oid: int, side: int, price: int, qty: int, acct: int = 0,
              stp: int = STP_NONE, flags: int = 0) -> list[Fill]:
        """Good-till-cancelled limit order: match what crosses, rest the rest.

        The resting part is :meth:`_rest` written out per side: this is the
        hottest call of the book, and the extra call and side test cost ~10%.
        """
        if side == BUY:
            if price >= self.best_ask:
                fills: list[Fill] = []
                qty = self._take_asks(oid, acct, qty, price, stp, fills)
                if qty <= 0:  # filled, or cancelled by STP (~unfilled < 0)
                    self.rested = 0
                    return fills
            else:
                fills = NO_FILLS
            o = [oid, acct, 0, price, qty, flags]
            self.orders[oid] = o
            q = self.bids.get(price)
            if q is None:
                q = self.bids[price] = Level()
                if price > self.best_bid:
                    self.bid_prices.append(price)
                    self.best_bid = price
                else:
                    insort(self.bid_prices, price)
            q[oid] = o
        else:
            if price <= self.best_bid:
                fills = []
                qty = self._take_bids(oid, acct, qty, price, stp, fills)
                if qty <= 0:
                    self.rested = 0
                    return fills
            else:
                fills = NO_FILLS
            o = [oid, acct, 1, price, qty, flags]
            self.orders[oid] = o
            q = self.asks.get(price)
            if q is None:
                q = self.asks[price] = Level()
                if price < self.best_ask:
                    self.ask_prices.append(-price)
                    self.best_ask = price
                else:
                    insort(self.ask_prices, -price)
            q[oid] = o
        self.rested = qty
        return fills

    def ioc(self, oid: int, side: int, price: int, qty: int, acct: int = 0,
            stp: int = STP_NONE) -> list[Fill]:
        """Immediate-or-cancel up to ``price``; nothing rests."""
        self.rested = 0
        fills: list[Fill] = []
        left = 0
        if side == BUY:
            if price >= self.best_ask:
                left = self._take_asks(oid, acct, qty, price, stp, fills)
        elif price <= self.best_bid:
            left = self._take_bids(oid, acct, qty, price, stp, fills)
        self.stp_stopped = left < 0
        return fills

    def market(self, oid: int, side: int, qty: int, acct: int = 0, limit: int | None = None,
               stp: int = STP_NONE) -> list[Fill]:
        """Market order: IOC up to the protection ``limit`` price (``None``: no band)."""
        if limit is None:
            limit = INF - 1 if side == BUY else 1 - INF
        return self.ioc(oid, side, limit, qty, acct, stp)

    def fok(self, oid: int, side: int, price: int, qty: int, acct: int = 0,
            stp: int = STP_NONE) -> list[Fill]:
        """Fill-or-kill up to ``price``: all of ``qty`` now, or nothing."""
        if not self.fillable(acct, side, price, qty, stp):
            self.rested = 0
            self.stp_stopped = False
            return NO_FILLS
        return self.ioc(oid, side, price, qty, acct, stp)

    def post(self, oid: int, side: int, price: int, qty: int, acct: int = 0,
             flags: int = 0) -> bool:
        """Post-only: rest the order, or refuse it (``False``) if it would cross."""
        if self.would_cross(side, price):
            self.rested = 0
            return False
        self._rest([oid, acct, side, price, qty, flags])
        self.rested = qty
        return True

    # ------------------------------------------------------------------ cancel / amend
    def cancel(self, oid: int) -> BookOrder | None:
        """Remove a resting order; return it (with its leaves), or ``None`` if unknown."""
        o = self.orders.pop(oid, None)
        if o is None:
            return None
        self._unlink(o)
        return o

    def _unlink(self, o: BookOrder) -> None:
        """Take an order (already out of ``orders``) out of its level."""
        price = o[PRICE]
        if o[SIDE] == BUY:
            q = self.bids[price]
            del q[o[OID]]
            if not q:
                del self.bids[price]
                prices = self.bid_prices
                if price == self.best_bid:
                    prices.pop()
                    self.best_bid = prices[-1] if prices else -INF
                else:
                    del prices[bisect_left(prices, price)]
        else:
            q = self.asks[price]
            del q[o[OID]]
            if not q:
                del self.asks[price]
                prices = self.ask_prices
                if price == self.best_ask:
                    prices.pop()
                    self.best_ask = -prices[-1] if prices else INF
                else:
                    del prices[bisect_left(prices, -price)]

    def reduce(self, oid: int, leaves: int) -> None:
        """Lower a resting order's leaves in place, keeping its priority (0 < leaves <= old)."""
        self.orders[oid][LEAVES] = leaves

    def amend(self, oid: int, price: int, leaves: int, stp: int = STP_NONE) -> list[Fill]:
        """Change a resting order's price and/or open quantity.

        Same price and fewer lots keeps the order's place in the queue; a new
        price or more lots sends it to the back, and at a new price it may trade
        like a new limit order.  The caller has checked that ``oid`` rests and
        ``leaves > 0`` (and refused a post-only amend that would cross).
        """
        o = self.orders[oid]
        if price == o[PRICE] and leaves <= o[LEAVES]:
            o[LEAVES] = leaves
            self.rested = leaves
            return NO_FILLS
        del self.orders[oid]
        self._unlink(o)
        return self.limit(oid, o[SIDE], price, leaves, o[ACCT], stp, o[FLAGS])
