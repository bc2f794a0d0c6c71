"""Arbitrageur: trades the perpetual's basis to the index, hedged on a spot venue if it has one.

Every ``interval_s`` it compares the perpetual's mid with the index.  When the perp
trades more than ``threshold_bps`` above the index (or the last funding rate says
longs pay more than ``funding_bps``), it sells ``qty_lots`` of it; below, it buys;
never beyond ``max_position_lots``.  When the basis is back within ``unwind_bps``
it closes ``qty_lots`` of its position, freeing its capital for the next one.

With a hedge venue (``hedge_venue`` in its config entry: a spot venue where it also
holds cash and coin), each perp trade comes with the opposite spot trade, so that
its coin plus its perp position stay where they started: short perp, long spot.
That is the channel through which forced selling on the perpetual reaches the spot
venues, and through them the index: the arbitrageur buys the cheap perp and sells
spot.  Its capital is finite on both sides (margin on the perp; cash and coin on the
spot venue), so in a large enough crash it stops.
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
    "unwind_bps": 3.0,  # a basis this small: close some of the position
    "funding_bps": 2.0,  # a funding rate above this (per interval) tilts it short
    "qty_lots": 10.0,
    "max_position_lots": 200.0,
}


class Arbitrageur(Agent):
    trio_task = False  # awaits only ctx.sleep: stepped by the network

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, float]:
        p = read_params("arbitrageur", DEFAULTS, params, POSITIVE)
        if p["unwind_bps"] > p["threshold_bps"]:
            raise ValueError("arbitrageur: 'unwind_bps' must not exceed 'threshold_bps'")
        return p

    async def run(self, ctx: Context) -> None:
        p = self.check_params(ctx.params)
        sym, hedge = ctx.home, ctx.hedge
        tick = float(ctx.contracts[sym].tick_size)
        qty, limit = max(1, int(p["qty_lots"])), int(p["max_position_lots"])
        coin: int | None = None  # the hedge venue's coin it started with
        while True:
            await ctx.sleep(p["interval_s"])
            if hedge is not None and coin is None:
                coin = ctx.position[hedge]
            ctx.drain_events()  # it reads its mirrors only: unread events would pile up
            snap = ctx.market(sym)
            if snap is None or snap.mid is None or snap.index is None:
                continue
            gap_bps = (snap.mid * tick / snap.index - 1) * 10_000
            funding_bps = (snap.funding_rate or 0) / 10_000  # 1e-8 units -> bps
            pos = ctx.position[sym]
            if (gap_bps > p["threshold_bps"] or funding_bps > p["funding_bps"]) and pos > -limit:
                ctx.submit(SELL, min(qty, pos + limit), order_type=MARKET, sym=sym)
            elif (gap_bps < -p["threshold_bps"] or funding_bps < -p["funding_bps"]) and (
                    pos < limit):
                ctx.submit(BUY, min(qty, limit - pos), order_type=MARKET, sym=sym)
            elif abs(gap_bps) < p["unwind_bps"] and pos:
                ctx.submit(SELL if pos > 0 else BUY, min(qty, abs(pos)), order_type=MARKET,
                           reduce_only=True, sym=sym)
            if hedge is not None and coin is not None:
                # the spot leg follows what the perp leg has become (fills, not orders)
                off = coin - pos - ctx.position[hedge]  # > 0: it needs more coin
                if abs(off) >= qty:
                    ctx.submit(BUY if off > 0 else SELL, min(qty, abs(off)), order_type=MARKET,
                               sym=hedge)
