"""What a run did to the market: drawdowns, liquidity, liquidations and leverage at the crash.

``summary.json``'s ``market`` section, one entry per perpetual, from the event log in
one pass (:func:`market_summary`) plus the fundamental path that drove the run.
Every drawdown is a positive fraction for a fall, measured from the level just
before the crash (:func:`crash_start`: the peak of the fundamental before its
deepest trough; the run's start when it never falls) to the lowest level after it:

* ``fundamental_drawdown``, ``index_drawdown``, ``mark_drawdown``, ``last_drawdown``
  (last trade); ``max_index_deviation``: the largest ``|index / fundamental - 1|``;
* ``liquidated_in_book_notional``: what liquidation orders sold (or bought) in the
  book, and ``liquidated_takeover_notional``: what was left to the fund or vault to
  take over, quote currency at the liquidation prices;
* ``depth_1pct_start`` and ``depth_1pct_min``: resting lots within 1% of the mid,
  both sides, in quote currency, at the crash start and at their lowest after it
  (the book replayed from the log, sampled at each mark), and the same over open
  interest (``_over_oi``, open interest's notional at that mark);
* ``oi_notional_start``: the traders' open interest at the crash start (the funds' and
  the vault's own positions left out), quote currency;
* ``largest_stressed_losses``: the two largest losses beyond their equity that traders'
  positions at the crash start would take at the worst mark after it (a clearing house's
  Cover 1 and Cover 2 inputs), quote currency;
* ``realised_leverage``: position notional over equity of every leveraged trader
  holding a position at the first account snapshot at or after the crash start (p50,
  p90, max; ``underwater``: how many had no equity left), beside ``configured_max``,
  the highest leverage the config lets them ask.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sortedcontainers import SortedDict

from exsim.core.events import (
    ACCEPTED,
    ACCOUNT,
    ADL,
    AMENDED,
    CANCELLED,
    FILL,
    LIQUIDATION,
    MARK,
    Event,
)
from exsim.core.orders import BUY, GTC, LIMIT, POST_ONLY
from exsim.scenarios.index_path import IndexPath

LIQUIDATION_ORDER = 1 << 62
"""Bit set in the order id of a liquidation order sent to the book (its fills are the
``in_book`` part of a liquidation)."""


def crash_start(path: IndexPath, end_ns: int) -> int:
    """When the fundamental's deepest fall (peak to a later trough) begins, in ns."""
    peak_t, peak = 0, path.at(0)
    best = (0.0, 0)  # (fall, its peak's time)
    for t, p in zip(path.times_ns, path.prices, strict=True):
        if t > end_ns:
            break
        if p >= peak:  # the latest time at the peak: a flat start is not yet the crash
            peak_t, peak = t, p
        elif 1 - p / peak > best[0]:
            best = (1 - p / peak, peak_t)
    return best[1]


class _Level:
    """A series' level just before ``t0`` and its lowest at or after it."""

    __slots__ = ("before", "low", "t0")

    def __init__(self, t0: int) -> None:
        self.t0 = t0
        self.before: float | None = None
        self.low: float | None = None

    def add(self, t: int, value: float) -> None:
        if t <= self.t0 or self.before is None:
            self.before = value
        if t >= self.t0:
            base = value if self.low is None else min(self.low, value)
            self.low = base if self.before is None else min(base, self.before)

    def drawdown(self) -> float | None:
        if self.before is None or self.low is None or self.before <= 0:
            return None
        return max(0.0, 1 - self.low / self.before)


class _Book:
    """Resting lots per price, replayed from order events (enough for depth near the mid)."""

    def __init__(self) -> None:
        self.orders: dict[int, list[int]] = {}  # oid -> [side, price, leaves]
        self.sides = (SortedDict(), SortedDict())  # price -> lots, bids and asks

    def _move(self, o: list[int], lots: int) -> None:
        side = self.sides[o[0]]
        left = side.get(o[1], 0) + lots
        if left:
            side[o[1]] = left
        else:
            del side[o[1]]

    def add(self, oid: int, side: int, price: int, qty: int) -> None:
        o = self.orders[oid] = [side, price, qty]
        self._move(o, qty)

    def reduce(self, oid: int, lots: int) -> None:
        o = self.orders.get(oid)
        if o is None:
            return
        take = min(lots, o[2])
        o[2] -= take
        self._move(o, -take)
        if not o[2]:
            del self.orders[oid]

    def amend(self, oid: int, price: int, leaves: int) -> None:
        o = self.orders.pop(oid, None)
        if o is not None:
            self._move(o, -o[2])
            self.add(oid, o[0], price, leaves)

    def depth(self, band: float) -> int | None:
        """Tick-lots resting within ``band`` of the mid, both sides (``None``: one empty)."""
        bids, asks = self.sides
        if not bids or not asks:
            return None
        mid = (bids.peekitem(-1)[0] + asks.peekitem(0)[0]) / 2
        total: int = sum(p * bids[p] for p in bids.irange(minimum=mid * (1 - band)))
        total += sum(p * asks[p] for p in asks.irange(maximum=mid * (1 + band)))
        return total


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def market_summary(log: Iterable[tuple[int, Event]], *, names: Sequence[str],
                   k: Sequence[int], tick: Sequence[float], cash_atom: float,
                   fundamental: Sequence[IndexPath], end_ns: int, house: Iterable[int],
                   configured_max: int, leveraged: Iterable[int] | None = None
                   ) -> dict[str, dict[str, Any]]:
    """The ``market`` section of a summary (see the module docstring), keyed by symbol.

    ``leveraged``: the accounts whose realised leverage is reported (the run's
    leveraged traders); ``None``: every trader's."""
    measured = None if leveraged is None else frozenset(leveraged)
    n = len(names)
    t0 = [crash_start(fundamental[s], end_ns) for s in range(n)]
    house = frozenset(house)
    levels = {name: [_Level(t0[s]) for s in range(n)] for name in ("mark", "index", "last")}
    books = [_Book() for _ in range(n)]
    oi = [0] * n
    positions: dict[tuple[int, int], int] = {}
    marks: list[int | None] = [None] * n
    deviation = [0.0] * n
    in_book = [0] * n
    taken = [0] * n
    depth_start: list[tuple[float, float] | None] = [None] * n
    traders_oi_start: list[int | None] = [None] * n  # atoms of long notional, house out
    depth_min: list[tuple[float, float] | None] = [None] * n
    snapshot_at: int | None = None  # the account snapshot that leverage is read from
    equity: dict[int, int] = {}  # acct -> wallet + isolated margins + uPnL, at that snapshot
    notional: dict[tuple[int, int], int] = {}  # (acct, sym) -> |position| at the mark
    # every trader at that snapshot, for the stressed losses (clearing's Cover 1 / 2)
    every_equity: dict[int, int] = {}
    held: dict[tuple[int, int], tuple[int, int]] = {}  # (acct, sym) -> (qty, mark then)
    low_mark: list[int | None] = [None] * n
    high_mark: list[int | None] = [None] * n

    def move(acct: int, sym: int, dq: int) -> None:
        old = positions.get((acct, sym), 0)
        positions[(acct, sym)] = old + dq
        oi[sym] += max(old + dq, 0) - max(old, 0)

    for at, e in log:
        kind = e[0]
        sym = e[1] if kind != ACCOUNT else e[2]
        if kind == ACCOUNT:
            if snapshot_at is None and at >= min(t0):
                snapshot_at = at
            if at == snapshot_at and e[1] not in house and 0 <= sym < n:
                mark = marks[sym] or 0
                every_equity[e[1]] = every_equity.get(e[1], e[6]) + (
                    e[3] * mark * k[sym] - e[4] + e[5])
                if e[3]:
                    held[(e[1], sym)] = (e[3], mark)
            if at == snapshot_at and e[1] not in house and 0 <= sym < n and (
                    measured is None or e[1] in measured):
                mark = marks[sym] or 0
                equity[e[1]] = equity.get(e[1], e[6]) + e[3] * mark * k[sym] - e[4] + e[5]
                if e[3]:
                    notional[(e[1], sym)] = abs(e[3]) * mark * k[sym]
            continue
        if not 0 <= sym < n:
            continue  # a spot venue's event
        if kind == MARK:
            marks[sym] = e[2]
            if snapshot_at is not None and at >= snapshot_at:
                low_mark[sym] = min(low_mark[sym] or e[2], e[2])
                high_mark[sym] = max(high_mark[sym] or e[2], e[2])
            if at <= t0[sym] or traders_oi_start[sym] is None:  # the traders' own, at t0
                traders_oi_start[sym] = (oi[sym] - sum(max(positions.get((h, sym), 0), 0)
                                                       for h in house)) * e[2] * k[sym]
            levels["mark"][sym].add(at, e[2] * tick[sym])
            value = fundamental[sym].at(at)
            if len(e) > 3 and e[3] > 0:  # the index the mark was made from
                index = e[3] * tick[sym]
                levels["index"][sym].add(at, index)
                deviation[sym] = max(deviation[sym], abs(index / value - 1))
            depth = books[sym].depth(0.01)
            if depth is not None:
                quote = depth * k[sym] * cash_atom
                oi_quote = oi[sym] * e[2] * k[sym] * cash_atom
                point = (quote, quote / oi_quote if oi_quote else float("inf"))
                if at <= t0[sym] or depth_start[sym] is None:
                    depth_start[sym] = point
                if at >= t0[sym]:
                    low = depth_min[sym]
                    depth_min[sym] = point if low is None else (
                        min(low[0], point[0]), min(low[1], point[1]))
        elif kind == FILL:
            price, q = e[2], e[3]
            levels["last"][sym].add(at, price * tick[sym])
            books[sym].reduce(e[4], q)
            books[sym].reduce(e[7], q)
            dq = q if e[6] == BUY else -q
            move(e[5], sym, dq)
            move(e[8], sym, -dq)
            if e[5] in house and e[4] & LIQUIDATION_ORDER:
                in_book[sym] += price * q
        elif kind == ACCEPTED:
            if e[7] == LIMIT and e[8] in (GTC, POST_ONLY):
                books[sym].add(e[2], e[4], e[5], e[6])
        elif kind == CANCELLED:
            books[sym].reduce(e[2], e[4])
        elif kind == AMENDED:
            books[sym].amend(e[2], e[4], e[5])
        elif kind == LIQUIDATION:
            move(e[2], sym, -e[3])
            move(e[7], sym, e[3])
            taken[sym] += abs(e[3]) * e[4]
        elif kind == ADL:
            move(e[2], sym, -e[3])
    leverage: list[list[float]] = [[] for _ in range(n)]
    for (acct, s), value in notional.items():
        leverage[s].append(value / equity[acct] if equity[acct] > 0 else float("inf"))
    stressed: list[list[int]] = [[] for _ in range(n)]
    for (acct, s), (qty, then) in held.items():
        worst = low_mark[s] if qty > 0 else high_mark[s]
        if worst is not None:
            loss = -(every_equity[acct] + qty * (worst - then) * k[s])
            if loss > 0:
                stressed[s].append(loss)
    out: dict[str, dict[str, Any]] = {}
    for s, name in enumerate(names):
        fund_level = _Level(t0[s])
        for t, p in zip(fundamental[s].times_ns, fundamental[s].prices, strict=True):
            if t <= end_ns:
                fund_level.add(t, p)
        lev = [x for x in leverage[s] if x != float("inf")]
        start, low = depth_start[s], depth_min[s]
        atom = k[s] * cash_atom
        out[name] = {
            "crash_start_s": t0[s] / 1e9,
            "oi_notional_start": (traders_oi_start[s] or 0) * cash_atom,
            "largest_stressed_losses": [x * cash_atom
                                        for x in sorted(stressed[s], reverse=True)[:2]],
            "fundamental_drawdown": fund_level.drawdown(),
            "index_drawdown": levels["index"][s].drawdown(),
            "mark_drawdown": levels["mark"][s].drawdown(),
            "last_drawdown": levels["last"][s].drawdown(),
            "max_index_deviation": deviation[s],
            "liquidated_in_book_notional": in_book[s] * atom,
            "liquidated_takeover_notional": max(0, taken[s] - in_book[s]) * atom,
            "depth_1pct_start": None if start is None else start[0],
            "depth_1pct_min": None if low is None else low[0],
            "depth_1pct_start_over_oi": None if start is None else start[1],
            "depth_1pct_min_over_oi": None if low is None else low[1],
            "realised_leverage": {"p50": _quantile(lev, 0.5), "p90": _quantile(lev, 0.9),
                                  "max": max(lev) if lev else None,
                                  "underwater": len(leverage[s]) - len(lev),
                                  "configured_max": configured_max},
        }
    return out
