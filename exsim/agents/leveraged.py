"""Leveraged directional trader: takes a view, sizes it to its margin, holds, exits.

At start it draws its leverage uniformly from ``[leverage_min, leverage_max]``
(so a population spans careful and reckless accounts, and some get
liquidated when the market turns).  While flat it waits an exponential time
(mean ``wait_mean_s``), then buys (probability ``p_long``) or sells with a
market order sized to use ``utilization`` of its balance at that leverage;
it holds for an exponential time (mean ``hold_mean_s``) and closes with a
reduce-only market order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exsim.agent import Agent, Context
from exsim.agents.params import read_params
from exsim.core.orders import BUY, MARKET, SELL

POSITIVE = ("leverage_min", "leverage_max", "utilization", "wait_mean_s", "hold_mean_s")
DEFAULTS = {
    "leverage_min": 2.0,
    "leverage_max": 20.0,
    "utilization": 0.8,
    "p_long": 0.5,
    "wait_mean_s": 300.0,
    "hold_mean_s": 900.0,
}


class LeveragedTrader(Agent):
    trio_task = False  # awaits only ctx.sleep: stepped by the network

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, float]:
        p = read_params("leveraged", DEFAULTS, params, POSITIVE)
        if not 1 <= int(p["leverage_min"]) <= int(p["leverage_max"]):
            raise ValueError("leveraged: need 1 <= leverage_min <= leverage_max")
        return p

    async def run(self, ctx: Context) -> None:
        p = self.check_params(ctx.params)
        rng = ctx.rng
        low, high = int(p["leverage_min"]), int(p["leverage_max"])
        leverage = rng.randint(low, high)
        ctx.set_leverage(leverage)
        k = ctx.contracts[0].k
        while True:
            await ctx.sleep(rng.expovariate(1 / max(p["wait_mean_s"], 1e-9)))
            ctx.drain_events()  # it reads its mirrors only: unread events would pile up
            snap = ctx.market()
            if snap is None or snap.mark is None or ctx.balance <= 0:
                continue
            qty = int(ctx.balance * leverage * p["utilization"] // (snap.mark * k))
            if qty <= 0:
                continue
            ctx.submit(BUY if rng.random() < p["p_long"] else SELL, qty, order_type=MARKET)
            await ctx.sleep(rng.expovariate(1 / max(p["hold_mean_s"], 1e-9)))
            held = ctx.position[0]
            if held:
                ctx.submit(SELL if held > 0 else BUY, abs(held), order_type=MARKET,
                           reduce_only=True)
