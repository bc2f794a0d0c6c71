"""A price path: prices at increasing times from 0, linear in between, flat after.

Its own module so that anything that needs a path (the oracle, the candle reader,
the config's checks) can import it without the scenario generators.
"""

from __future__ import annotations

from bisect import bisect_right


class IndexPath:
    """Prices at ``times_ns`` (ascending, starting at 0), linear in between, flat after."""

    def __init__(self, times_ns: list[int], prices: list[float]) -> None:
        if not times_ns or times_ns[0] != 0 or len(times_ns) != len(prices):
            raise ValueError("an index path needs matching times and prices starting at t=0")
        if any(p <= 0 for p in prices):
            raise ValueError("index prices must be > 0")
        self.times_ns = times_ns
        self.prices = prices

    def at(self, t_ns: int) -> float:
        i = bisect_right(self.times_ns, t_ns) - 1
        if i >= len(self.times_ns) - 1:
            return self.prices[-1]
        t0, t1 = self.times_ns[i], self.times_ns[i + 1]
        p0, p1 = self.prices[i], self.prices[i + 1]
        return p0 + (p1 - p0) * (t_ns - t0) / (t1 - t0)
