"""Arbitrageur: ties the perpetual to the index, and leans against funding.

Every ``interval_s`` it compares the book's mid with the index.  When the perp
trades more than ``threshold_bps`` above the index (or the last funding rate
says longs pay more than ``funding_bps``), it sells ``qty_lots``; below, it
buys; never beyond ``max_position_lots``.  It is the force that pulls the
mark back to the index after a dislocation, if it has the capital.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exsim.agent import Agent, Context
from exsim.agents.params import read_params
from exsim.core.orders import BUY, MARKET, SELL

POSITIVE = ("interval_s", "qty_lots")
DEFAULTS = {
    "interval_s": 1.0,
    "threshold_bps": 10.0,
    "funding_bps": 2.0,  # a funding rate above this (per interval) tilts it short
    "qty_lots": 10.0,
    "max_position_lots": 200.0,
}


class Arbitrageur(Agent):
    trio_task = False  # awaits only ctx.sleep: stepped by the network

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, float]:
        return read_params("arbitrageur", DEFAULTS, params, POSITIVE)

    async def run(self, ctx: Context) -> None:
        p = self.check_params(ctx.params)
        tick = float(ctx.contracts[0].tick_size)
        qty, limit = max(1, int(p["qty_lots"])), int(p["max_position_lots"])
        while True:
            await ctx.sleep(p["interval_s"])
            ctx.drain_events()  # it reads its mirrors only: unread events would pile up
            snap = ctx.market()
            if snap is None or snap.mid is None or snap.index is None:
                continue
            gap_bps = (snap.mid * tick / snap.index - 1) * 10_000
            funding_bps = (snap.funding_rate or 0) / 10_000  # 1e-8 units -> bps
            pos = ctx.position[0]
            if (gap_bps > p["threshold_bps"] or funding_bps > p["funding_bps"]) and pos > -limit:
                ctx.submit(SELL, min(qty, pos + limit), order_type=MARKET)
            elif (gap_bps < -p["threshold_bps"] or funding_bps < -p["funding_bps"]) and (
                    pos < limit):
                ctx.submit(BUY, min(qty, limit - pos), order_type=MARKET)
