"""The funding actor: samples the premium index, settles funding at each interval.

Every ``sample_ns`` it reads the latest market snapshot (through the feed, as
any agent would) and the index (:mod:`exsim.actors.index`), computes the impact bid and ask
for ``impact_notional`` of quote from the snapshot's depth, and records one
premium sample (../shared/reference/mechanics.md 1.1).  At each funding time
(multiples of ``interval_ns``) it turns the average premium into a rate
(:func:`exsim.core.funding.funding_rate`) and sends :class:`SettleFunding` to
the exchange, which settles every position at that rate and the current mark.  It is a
handler on the network (its timers are all it receives), not a trio task.
"""

from __future__ import annotations

from exsim.actors.feed import MarketFeed
from exsim.actors.index import Index
from exsim.actors.messages import SettleFunding
from exsim.actors.network import Network
from exsim.core.funding import funding_rate, impact_price, premium
from exsim.core.units import LinearContract


class FundingActor:
    def __init__(self, net: Network, actor_id: int, exchange: int, feed: MarketFeed,
                 index: Index, contracts: list[LinearContract], *, interval_ns: int,
                 sample_ns: int, interest: float, clamp: float, cap: float,
                 impact_notional: float) -> None:
        if not 0 < sample_ns <= interval_ns:
            raise ValueError("funding needs 0 < sample interval <= funding interval")
        self.net = net
        self.id = actor_id
        self.exchange = exchange
        self.feed = feed
        self.index = index
        self.tick = [float(c.tick_size) for c in contracts]
        self.lot = [float(c.lot_size) for c in contracts]
        self.interval_ns = interval_ns
        self.sample_ns = sample_ns
        self.interest, self.clamp, self.cap = interest, clamp, cap
        self.impact_notional = impact_notional
        self.samples: list[list[float]] = [[] for _ in range(index.symbols)]
        net.attach(actor_id, self.on_batch)

    def sample(self, sym: int) -> None:
        snap = self.feed.read(sym, self.net.now)
        if snap is None:
            return
        index = self.index.at(sym, self.net.now)
        tick, lot = self.tick[sym], self.lot[sym]
        bid = impact_price([(p * tick, q * lot) for p, q in snap.bids], self.impact_notional)
        ask = impact_price([(p * tick, q * lot) for p, q in snap.asks], self.impact_notional)
        if bid is None or ask is None:
            return  # one side empty: no meaningful premium this sample
        self.samples[sym].append(premium(bid, ask, index))

    def settle(self, sym: int) -> None:
        samples = self.samples[sym]
        avg = sum(samples) / len(samples) if samples else 0.0
        rate = funding_rate(avg, self.interest, self.clamp, self.cap)
        samples.clear()
        self.net.send(self.id, self.exchange, SettleFunding(sym, rate))

    def start(self) -> None:
        """Set the first timer (a handler on the network, not a trio task)."""
        self._next_timer()

    def _next_timer(self) -> None:
        now, sample, interval = self.net.now, self.sample_ns, self.interval_ns
        self.net.wake(self.id, min((now // sample + 1) * sample,
                                   (now // interval + 1) * interval))

    def on_batch(self, batch: list[object]) -> None:
        """Its timer (the only message it gets): sample and/or settle, set the next."""
        now = self.net.now
        for sym in range(self.index.symbols):
            if now % self.sample_ns == 0:
                self.sample(sym)
            if now % self.interval_ns == 0:
                self.settle(sym)
        self._next_timer()
