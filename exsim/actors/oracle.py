"""The mark-price oracle: the index, the basis from the book, the mark to the exchange.

Every ``interval_ns`` it reads the index (:mod:`exsim.actors.index`: the scenario's
path, or the spot venues' prices as it sees them) at now and the latest market
snapshot (as any agent would, through the feed), updates an exponential
moving average of the basis ``mid - index`` (half-life ``halflife_ns``) and
computes the mark by one of the methods of :mod:`exsim.core.markprice`
(``ema_basis``, ``median3``, ``fair``), clamped to ``index x (1 +/- clamp)``.
It never follows the last trade alone.  It sends :class:`SetMark` to the
exchange.  Like the exchange, it is a handler on the network, not a trio task: it
never awaits anything but its timer.
"""

from __future__ import annotations

from exsim.actors.feed import MarketFeed
from exsim.actors.index import Index
from exsim.actors.messages import SetMark
from exsim.actors.network import Network
from exsim.core.funding import RATE_SCALE
from exsim.core.markprice import clamp_to_index, ema_alpha, funding_basis_price, median3
from exsim.core.units import LinearContract

METHODS = ("ema_basis", "median3", "fair")


class Oracle:
    def __init__(self, net: Network, actor_id: int, exchange: int, feed: MarketFeed,
                 index: Index, contracts: list[LinearContract], *, interval_ns: int,
                 halflife_ns: int, clamp: float, method: str = "ema_basis",
                 funding_interval_ns: int = 8 * 3600 * 10**9) -> None:
        if clamp < 0 or method not in METHODS:
            raise ValueError(f"oracle: clamp must be >= 0 and method one of {METHODS}")
        if funding_interval_ns <= 0:
            raise ValueError("oracle: the funding interval must be > 0 ns")
        self.net = net
        self.id = actor_id
        self.exchange = exchange
        self.feed = feed
        self.index = index
        self.tick = [float(c.tick_size) for c in contracts]
        self.interval_ns = interval_ns
        self.alpha = ema_alpha(interval_ns, halflife_ns)
        self.clamp = clamp
        self.method = method
        self.funding_interval_ns = funding_interval_ns
        self.basis = [0.0] * index.symbols
        net.attach(actor_id, self.on_batch)

    def mark_ticks(self, sym: int) -> tuple[int, float]:
        """Update the basis EMA for ``sym`` and return (mark in ticks, index)."""
        now = self.net.now
        index = self.index.at(sym, now)
        tick = self.tick[sym]
        snap = self.feed.read(sym, now)
        if snap is not None and snap.mid is not None:
            self.basis[sym] += self.alpha * (snap.mid * tick - index - self.basis[sym])
        if self.method == "ema_basis":
            mark = index + self.basis[sym]
        else:
            rate = (snap.funding_rate or 0) / RATE_SCALE if snap is not None else 0.0
            left = 1 - (now % self.funding_interval_ns) / self.funding_interval_ns
            if self.method == "fair":
                mark = funding_basis_price(index, rate, left)
            else:
                last = snap.last_price * tick if snap is not None and snap.last_price else None
                mark = median3(index, rate, left, self.basis[sym], last)
        return max(1, round(clamp_to_index(mark, index, self.clamp) / tick)), index

    def start(self) -> None:
        """Publish the marks now, and again every interval (a handler on the network)."""
        self.publish()
        self.net.wake(self.id, self.net.now + self.interval_ns)

    def on_batch(self, batch: list[object]) -> None:
        """Its timer (the only message it gets): publish, and set the next one."""
        self.start()

    def publish(self) -> None:
        for sym in range(self.index.symbols):
            mark, index = self.mark_ticks(sym)
            self.net.send(self.id, self.exchange,
                          SetMark(sym, mark, index, max(0, round(index / self.tick[sym]))))
