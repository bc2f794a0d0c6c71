"""Where a perpetual's index comes from: a script, or the spot venues its agents trade.

The index is what the mark is anchored to, so it decides whether forced selling on
the perpetual can move the price that liquidates.  Two sources, each a pure function
of (symbol, simulated time), so the oracle and funding agree whatever trio does:

* :class:`ScriptedIndex` (``[oracle] index = "scripted"``): the scenario's path.  The
  mark is then held near a price nobody trades: a crash can never feed on itself.
* :class:`SpotIndex` (``"spot"``): Binance's construction over constituent spot
  venues.  Each venue's price is its book's mid as the oracle last saw it (``at -
  latency``: the feed's own delay and the oracle's), else its last trade; a venue
  whose snapshot is older than ``stale_ns`` is left out, a venue more than
  ``outlier`` (a fraction) away from the median of the others is left out, and the
  index is the weighted mean of the rest (weights renormalised).  With no venue
  priced yet (empty books at the start) it is the fundamental: the value informed
  traders quote around.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from exsim.actors.feed import MarketFeed
from exsim.scenarios.index_path import IndexPath


class Index(Protocol):
    """An index source: the index of perpetual ``sym`` at ``now`` (quote currency)."""

    symbols: int

    def at(self, sym: int, now: int) -> float: ...


class ScriptedIndex:
    """The scenario's path per perpetual symbol, as the index."""

    def __init__(self, paths: list[IndexPath]) -> None:
        self.paths = paths  # shared, not copied: the test kit steers a path in place
        self.symbols = len(self.paths)

    def at(self, sym: int, now: int) -> float:
        return self.paths[sym].at(now)


class SpotIndex:
    """A weighted mean over spot venues, outliers and stale venues left out."""

    def __init__(self, feed: MarketFeed, constituents: Sequence[Sequence[tuple[int, float]]],
                 ticks: Sequence[float], fundamental: Sequence[IndexPath], *,
                 latency_ns: int = 0, stale_ns: int = 10**10, outlier: float = 0.05) -> None:
        """``constituents[sym]``: (spot symbol, weight) of perpetual ``sym``'s venues;
        ``ticks``: tick size of every symbol (perpetuals and spot venues, by index)."""
        if latency_ns < 0 or stale_ns <= 0 or outlier <= 0:
            raise ValueError("spot index: latency >= 0, stale > 0 and outlier > 0 needed")
        if any(not venues or any(w <= 0 for _, w in venues) for venues in constituents):
            raise ValueError("spot index: every perpetual needs venues with weights > 0")
        self.feed = feed
        self.constituents = [list(v) for v in constituents]
        self.symbols = len(self.constituents)
        self.ticks = list(ticks)
        self.fundamental = list(fundamental)
        self.latency_ns = latency_ns
        self.stale_ns = stale_ns
        self.outlier = outlier

    def venue_price(self, spot: int, now: int) -> float | None:
        """One venue's price (quote currency) as the oracle sees it at ``now``."""
        seen = now - self.latency_ns
        snap = self.feed.read(spot, seen)
        if snap is None or seen - snap.at > self.stale_ns:
            return None
        ticks = snap.mid if snap.mid is not None else snap.last_price
        return None if ticks is None else ticks * self.ticks[spot]

    def at(self, sym: int, now: int) -> float:
        priced = [(p, w) for p, w in ((self.venue_price(s, now), w)
                                      for s, w in self.constituents[sym]) if p is not None]
        if not priced:
            return self.fundamental[sym].at(now)
        prices = sorted(p for p, _ in priced)
        n = len(prices)
        median = prices[n // 2] if n % 2 else (prices[n // 2 - 1] + prices[n // 2]) / 2
        kept = [(p, w) for p, w in priced if abs(p / median - 1) <= self.outlier] or priced
        total = sum(w for _, w in kept)
        return sum(p * w for p, w in kept) / total
