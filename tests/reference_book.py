"""A slow, obviously-correct order book to test exsim's book against.

Every resting order sits in one flat list.  To match, scan the whole list for
the best crossing maker (best price, then lowest arrival sequence), fill
against it, repeat.  No caches, no per-level structures, no cleverness: each
rule of price-time priority and self-trade prevention is one readable line.
"""

from __future__ import annotations

from dataclasses import dataclass

NONE, CANCEL_TAKER, CANCEL_MAKER, CANCEL_BOTH = 0, 1, 2, 3
BUY, SELL = 0, 1


@dataclass
class RefOrder:
    oid: int
    acct: int
    side: int
    price: int
    leaves: int
    seq: int
    flags: int = 0


class RefBook:
    def __init__(self) -> None:
        self.resting: list[RefOrder] = []
        self.seq = 0
        self.stp_cancelled: list[int] = []  # maker oids removed by STP in the last call
        self.rested = 0

    # -- queries -------------------------------------------------------------------
    def find(self, oid: int) -> RefOrder | None:
        return next((o for o in self.resting if o.oid == oid), None)

    def crosses(self, side: int, maker: RefOrder, limit: int) -> bool:
        if side == BUY:
            return maker.side == SELL and maker.price <= limit
        return maker.side == BUY and maker.price >= limit

    def best_maker(self, side: int, limit: int) -> RefOrder | None:
        candidates = [o for o in self.resting if self.crosses(side, o, limit)]
        if not candidates:
            return None
        if side == BUY:
            return min(candidates, key=lambda o: (o.price, o.seq))
        return min(candidates, key=lambda o: (-o.price, o.seq))

    def priority_order(self, side: int) -> list[tuple[int, int, int]]:
        """(price, oid, leaves) of one side, best first."""
        orders = [o for o in self.resting if o.side == side]
        key = (lambda o: (-o.price, o.seq)) if side == BUY else (lambda o: (o.price, o.seq))
        return [(o.price, o.oid, o.leaves) for o in sorted(orders, key=key)]

    # -- matching ------------------------------------------------------------------
    def _match(self, oid: int, acct: int, side: int, limit: int, qty: int, stp: int
               ) -> tuple[list[tuple[int, int, int, int, int]], int, bool]:
        """Returns (fills, unfilled, stopped_by_stp)."""
        fills = []
        while qty > 0:
            maker = self.best_maker(side, limit)
            if maker is None:
                break
            if stp != NONE and maker.acct == acct:
                if stp == CANCEL_TAKER:
                    return fills, qty, True
                self.resting.remove(maker)
                self.stp_cancelled.append(maker.oid)
                if stp == CANCEL_BOTH:
                    return fills, qty, True
                continue
            q = min(qty, maker.leaves)
            fills.append((maker.oid, oid, maker.price, q, maker.acct))
            maker.leaves -= q
            qty -= q
            if maker.leaves == 0:
                self.resting.remove(maker)
        return fills, qty, False

    def _rest(self, oid: int, acct: int, side: int, price: int, qty: int, flags: int) -> None:
        self.seq += 1
        self.resting.append(RefOrder(oid, acct, side, price, qty, self.seq, flags))

    def limit(self, oid: int, side: int, price: int, qty: int, acct: int = 0, stp: int = NONE,
              flags: int = 0) -> list[tuple[int, int, int, int, int]]:
        self.stp_cancelled = []
        fills, left, stopped = self._match(oid, acct, side, price, qty, stp)
        self.rested = 0
        if left and not stopped:
            self._rest(oid, acct, side, price, left, flags)
            self.rested = left
        return fills

    def ioc(self, oid: int, side: int, price: int, qty: int, acct: int = 0, stp: int = NONE
            ) -> list[tuple[int, int, int, int, int]]:
        self.stp_cancelled = []
        self.rested = 0
        return self._match(oid, acct, side, price, qty, stp)[0]

    def fok(self, oid: int, side: int, price: int, qty: int, acct: int = 0, stp: int = NONE
            ) -> list[tuple[int, int, int, int, int]]:
        # dry run on a copy: the order fills entirely or nothing happens
        saved = ([RefOrder(**vars(o)) for o in self.resting], self.seq)
        self.stp_cancelled = []
        _, left, _ = self._match(oid, acct, side, price, qty, stp)
        self.resting, self.seq = saved
        self.stp_cancelled = []
        self.rested = 0
        if left:
            return []
        return self.ioc(oid, side, price, qty, acct, stp)

    def post(self, oid: int, side: int, price: int, qty: int, acct: int = 0,
             flags: int = 0) -> bool:
        self.stp_cancelled = []
        self.rested = 0
        if any(self.crosses(side, o, price) for o in self.resting):
            return False
        self._rest(oid, acct, side, price, qty, flags)
        self.rested = qty
        return True

    def cancel(self, oid: int) -> RefOrder | None:
        o = self.find(oid)
        if o is not None:
            self.resting.remove(o)
        return o

    def amend(self, oid: int, price: int, leaves: int, stp: int = NONE
              ) -> list[tuple[int, int, int, int, int]]:
        self.stp_cancelled = []
        o = self.find(oid)
        assert o is not None
        if price == o.price and leaves <= o.leaves:
            o.leaves = leaves
            self.rested = leaves
            return []
        self.resting.remove(o)
        return self.limit(oid, o.side, price, leaves, o.acct, stp, o.flags)
