"""The mark-price oracle: index from the scenario, basis from the book, mark to the exchange.

Every ``interval_ns`` it reads the index path at now, the latest market
snapshot (as any agent would, through the feed), and updates an exponential
moving average of the basis ``mid - index`` with half-life ``halflife_ns``.
The mark is ``index + EMA(basis)``, clamped to ``index x (1 +/- clamp)``
(Binance's Price2 with a clamp, ../shared/reference/mechanics.md 1.1): it
never follows the last trade alone.  It sends :class:`SetMark` to the exchange.
"""

from __future__ import annotations

import math

from exsim.actors.feed import MarketFeed
from exsim.actors.messages import SetMark
from exsim.actors.network import Network
from exsim.core.units import LinearContract
from exsim.scenarios.paths import IndexPath


class Oracle:
    def __init__(self, net: Network, actor_id: int, exchange: int, feed: MarketFeed,
                 paths: list[IndexPath], contracts: list[LinearContract], *, interval_ns: int,
                 halflife_ns: int, clamp: float) -> None:
        if interval_ns <= 0 or halflife_ns <= 0 or clamp < 0:
            raise ValueError("oracle interval and half-life must be > 0, clamp >= 0")
        self.net = net
        self.id = actor_id
        self.exchange = exchange
        self.feed = feed
        self.paths = paths
        self.tick = [float(c.tick_size) for c in contracts]
        self.interval_ns = interval_ns
        self.alpha = 1 - math.exp(-math.log(2) * interval_ns / halflife_ns)
        self.clamp = clamp
        self.basis = [0.0] * len(paths)
        self.inbox = net.register(actor_id)
        self.published = 0

    def mark_ticks(self, sym: int) -> tuple[int, float]:
        """Update the basis EMA for ``sym`` and return (mark in ticks, index)."""
        now = self.net.now
        index = self.paths[sym].at(now)
        tick = self.tick[sym]
        snap = self.feed.read(sym, now)
        if snap is not None and snap.mid is not None:
            self.basis[sym] += self.alpha * (snap.mid * tick - index - self.basis[sym])
        band = index * self.clamp
        basis = min(max(self.basis[sym], -band), band)
        return max(1, round((index + basis) / tick)), index

    async def run(self) -> None:
        self.publish()
        while True:
            self.net.wake(self.id, self.net.now + self.interval_ns)
            await self.inbox.receive()
            self.publish()

    def publish(self) -> None:
        for sym in range(len(self.paths)):
            mark, index = self.mark_ticks(sym)
            self.net.send(self.id, self.exchange, SetMark(sym, mark, index))
        self.published += 1
