"""Conflated market data: time-stamped snapshots that agents read, never a push per book change.

The exchange actor appends a :class:`Snapshot` at most once per feed interval
(and only when something changed).  An agent reading at instant ``t`` gets
the latest snapshot taken at or before ``t - feed_latency``: a pure function
of time, so what an agent sees never depends on which task trio ran first.
Readers read at the current instant and time never goes back, so the snapshots
before the one visible now are dropped from time to time (memory stays bounded
however long the run); a reader's view is a lookup by time among the rest.
"""

from __future__ import annotations

from bisect import bisect_right

import attrs

_PRUNE_AT = 1024  # snapshots per symbol kept before the unreachable ones are dropped


@attrs.define(slots=True)
class Snapshot:
    """One symbol's market at ``at`` (ns): prices in ticks, quantities in lots."""

    at: int
    sym: int
    best_bid: int | None
    best_ask: int | None
    bids: list[tuple[int, int]]  # top levels, best first: (price, lots)
    asks: list[tuple[int, int]]
    last_price: int | None  # last trade
    mark: int | None
    index: float | None  # the scenario's index (quote currency, not ticks)
    funding_rate: int | None = None  # last settled rate, 1e-8 units

    @property
    def mid(self) -> float | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2


class MarketFeed:
    """Per-symbol snapshot history with a read delay."""

    def __init__(self, symbols: int, latency_ns: int, lookback_ns: int = 0) -> None:
        """``lookback_ns``: how far before now a reader may read (the spot index reads
        the venues its own latency late); older snapshots are dropped."""
        if latency_ns <= 0 or lookback_ns < 0:
            raise ValueError("feed latency must be > 0 ns, its lookback >= 0")
        self.latency_ns = latency_ns
        self.lookback_ns = lookback_ns
        self._times: list[list[int]] = [[] for _ in range(symbols)]
        self._snaps: list[list[Snapshot]] = [[] for _ in range(symbols)]

    def publish(self, snap: Snapshot) -> None:
        times = self._times[snap.sym]
        if times and times[-1] == snap.at:  # conflate within an instant
            self._snaps[snap.sym][-1] = snap
            return
        times.append(snap.at)
        snaps = self._snaps[snap.sym]
        snaps.append(snap)
        if len(times) > _PRUNE_AT:  # what no reader at now or later can see any more
            gone = bisect_right(times, snap.at - self.latency_ns - self.lookback_ns) - 1
            if gone > 0:
                del times[:gone]
                del snaps[:gone]

    def read(self, sym: int, now: int) -> Snapshot | None:
        """The latest snapshot of ``sym`` visible at ``now`` (the current instant, at most
        ``lookback_ns`` before it, or later: earlier ones may be gone), or ``None`` yet."""
        times = self._times[sym]
        i = bisect_right(times, now - self.latency_ns)
        return self._snaps[sym][i - 1] if i else None
