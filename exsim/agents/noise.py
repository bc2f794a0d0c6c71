"""Noise trader: Poisson arrivals of small random orders around the market."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from exsim.agent import Agent, Context
from exsim.agents.params import read_params
from exsim.core.orders import BUY, IOC, MARKET

POSITIVE = ("mean_lots", "lifetime_s")
DEFAULTS = {
    "rate": 0.1,  # orders per simulated second (Poisson)
    "p_market": 0.2,  # share of market orders; the rest are limit orders
    "p_ioc": 0.1,  # share of limit orders sent as IOC
    "mean_lots": 5.0,  # mean order size (geometric), in lots
    "mean_offset_ticks": 5.0,  # mean distance of a limit order behind the touch
    "lifetime_s": 60.0,  # resting orders older than this are cancelled
}


class NoiseTrader(Agent):
    """Buys or sells at random: market orders, and limit orders a few ticks off the touch."""

    trio_task = False  # awaits only ctx.sleep: stepped by the network

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, float]:
        return read_params("noise", DEFAULTS, params, POSITIVE)

    async def run(self, ctx: Context) -> None:
        p = self.check_params(ctx.params)
        if p["rate"] <= 0:
            return
        placed: deque[tuple[int, int]] = deque()  # (simulated ns, oid), oldest first
        rng = ctx.rng
        sym = ctx.home
        while True:
            await ctx.sleep(rng.expovariate(p["rate"]))
            ctx.drain_events()
            horizon = ctx.now - int(p["lifetime_s"] * 1e9)
            while placed and placed[0][0] <= horizon:
                _, oid = placed.popleft()
                if ctx.live(oid):
                    ctx.cancel(oid, sym=sym)
            snap = ctx.market(sym)
            if snap is None or snap.mark is None:
                continue
            side = rng.randrange(2)
            qty = 1 + int(rng.expovariate(1 / max(p["mean_lots"], 1e-9)))
            if rng.random() < p["p_market"]:
                ctx.submit(side, qty, order_type=MARKET, sym=sym)
                continue
            offset = int(rng.expovariate(1 / max(p["mean_offset_ticks"], 1e-9)))
            if rng.random() < p["p_ioc"]:  # through the far touch
                far = (snap.best_ask if side == BUY else snap.best_bid) or snap.mark
                price = far + offset if side == BUY else max(1, far - offset)
                ctx.submit(side, qty, price, tif=IOC, sym=sym)
            else:  # behind the near touch
                near = (snap.best_bid if side == BUY else snap.best_ask) or snap.mark
                price = near - offset if side == BUY else near + offset
                placed.append((ctx.now, ctx.submit(side, qty, max(1, price), sym=sym)))
