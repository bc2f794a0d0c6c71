"""Informed trader: trades towards the fundamental value, with finite size and conviction.

The scenario's path (GBM, a flash crash, a real crash replayed from candles) is the
asset's *fundamental* value; nobody trades at it.  An informed trader observes it
``lag_s`` late, with its own constant bias (drawn once, standard deviation
``bias_bps``) and fresh noise at each look (``noise_bps``), at Poisson times
(``rate`` per second).  When the book's best ask is more than ``threshold_bps`` below
its estimate it buys, when the best bid is as far above it sells: ``qty_lots`` at a
time, within ``max_position_lots`` of where it started, with an IOC order priced at
its estimate less the threshold (so it never pays more than it thinks the asset is
worth), or with probability ``p_limit`` a resting order at that price, cancelled
after ``lifetime_s``.  This is what pulls prices towards the fundamental, and no
faster than such traders' size and rate allow: against forced selling, they are
finite (ABIDES' value agents play the same part).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from exsim.agent import Agent, Context
from exsim.agents.params import read_params
from exsim.core.orders import BUY, IOC, SELL

POSITIVE = ("rate", "qty_lots", "lifetime_s")
DEFAULTS = {
    "rate": 0.2,  # looks per simulated second
    "lag_s": 0.0,  # it sees the fundamental this late
    "bias_bps": 10.0,  # standard deviation of its constant bias
    "noise_bps": 5.0,  # standard deviation of each look's noise
    "threshold_bps": 10.0,  # trade only on a gap larger than this
    "qty_lots": 5.0,
    "max_position_lots": 200.0,  # from its starting position, either way
    "p_limit": 0.3,  # share of its orders that rest instead of taking
    "lifetime_s": 30.0,
}


class InformedTrader(Agent):
    trio_task = False  # awaits only ctx.sleep: stepped by the network

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, float]:
        p = read_params("informed", DEFAULTS, params, POSITIVE)
        if p["p_limit"] > 1:
            raise ValueError("informed: parameter 'p_limit' must be at most 1")
        return p

    async def run(self, ctx: Context) -> None:
        p = self.check_params(ctx.params)
        rng = ctx.rng
        sym = ctx.home
        tick = float(ctx.contracts[sym].tick_size)
        bias = rng.gauss(0.0, p["bias_bps"] / 10_000)
        qty, limit = max(1, int(p["qty_lots"])), int(p["max_position_lots"])
        lag = round(p["lag_s"] * 1e9)
        start: int | None = None
        resting: deque[tuple[int, int]] = deque()  # (placed at ns, oid)
        while True:
            await ctx.sleep(rng.expovariate(p["rate"]))
            if start is None:
                start = ctx.position[sym]  # coin it was given, on a spot venue
            horizon = ctx.now - round(p["lifetime_s"] * 1e9)
            while resting and resting[0][0] <= horizon:
                oid = resting.popleft()[1]
                if ctx.live(oid):
                    ctx.cancel(oid, sym=sym)
            value = ctx.fundamental(sym, ctx.now - lag)
            snap = ctx.market(sym)
            if value is None or snap is None:
                continue
            estimate = value * (1 + bias + rng.gauss(0.0, p["noise_bps"] / 10_000)) / tick
            edge = p["threshold_bps"] / 10_000
            held = ctx.position[sym] - start
            if snap.best_ask is not None and snap.best_ask < estimate * (1 - edge) and (
                    held < limit):
                side, price = BUY, int(estimate * (1 - edge))
            elif snap.best_bid is not None and snap.best_bid > estimate * (1 + edge) and (
                    held > -limit):
                side, price = SELL, int(estimate * (1 + edge)) + 1
            else:
                continue
            size = min(qty, limit - held if side == BUY else limit + held)
            if rng.random() < p["p_limit"]:
                resting.append((ctx.now, ctx.submit(side, size, price, sym=sym)))
            else:
                ctx.submit(side, size, price, tif=IOC, sym=sym)
