"""Shock agent: a whale that sells (or buys) a given size at a given time.

At ``at_s`` it sends ``slices`` market orders of ``qty_lots / slices`` each,
``every_s`` apart, on side ``side`` (0 buy, 1 sell).  With a price band the
book may not absorb a slice: what it cannot fill is cancelled, as on a real
exchange.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exsim.agent import Agent, Context
from exsim.agents.params import read_params
from exsim.core.orders import MARKET

POSITIVE = ("qty_lots", "slices", "every_s")
DEFAULTS = {"at_s": 600.0, "side": 1.0, "qty_lots": 1000.0, "slices": 1.0, "every_s": 1.0}


class ShockAgent(Agent):
    trio_task = False  # awaits only ctx.sleep: stepped by the network

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, float]:
        p = read_params("shock", DEFAULTS, params, POSITIVE)
        if p["side"] not in (0, 1):
            raise ValueError("shock: parameter 'side' must be 0 (buy) or 1 (sell)")
        return p

    async def run(self, ctx: Context) -> None:
        p = self.check_params(ctx.params)
        side, slices, total = int(p["side"]), max(1, int(p["slices"])), int(p["qty_lots"])
        await ctx.sleep(max(p["at_s"] - ctx.now_s, 1e-9))
        for i in range(slices):
            qty = total // slices + (1 if i < total % slices else 0)
            if qty:
                ctx.submit(side, qty, order_type=MARKET, sym=ctx.home)
            if i + 1 < slices:
                await ctx.sleep(p["every_s"])
