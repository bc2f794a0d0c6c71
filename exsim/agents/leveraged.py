"""Leveraged directional trader: takes a view, builds it to its leverage, holds, exits.

At start it draws its leverage uniformly from ``[leverage_min, leverage_max]`` (so
a population spans careful and reckless accounts, and some get liquidated when the
market turns).  While flat it waits an exponential time (mean ``wait_mean_s``),
picks a side (long with probability ``p_long``) and a target position worth
``utilization`` of its equity times that leverage.  It builds it with market
orders: what a thin book does not fill is cancelled, so it tries again every
``retry_s`` for the rest, for at most ``entry_s`` seconds (as a real trader keeps
clicking), until the position is within ``fill_tolerance`` of the target.  It
holds for an exponential time (mean ``hold_mean_s``) and closes with a reduce-only
market order, retried the same way.  Liquidated, it is flat again: it waits and
re-enters with what it has left.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exsim.agent import Agent, Context
from exsim.agents.params import read_params
from exsim.core.orders import BUY, MARKET, SELL

POSITIVE = ("leverage_min", "leverage_max", "utilization", "wait_mean_s", "hold_mean_s",
            "retry_s")
DEFAULTS = {
    "leverage_min": 2.0,
    "leverage_max": 20.0,
    "utilization": 0.8,
    "p_long": 0.5,
    "wait_mean_s": 300.0,
    "hold_mean_s": 900.0,
    "retry_s": 2.0,  # while building or closing: the next market order after this
    "entry_s": 60.0,  # give up building after this long
    "fill_tolerance": 0.05,  # built: within this fraction of the target
}


class LeveragedTrader(Agent):
    trio_task = False  # awaits only ctx.sleep: stepped by the network

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, float]:
        p = read_params("leveraged", DEFAULTS, params, POSITIVE)
        if not 1 <= int(p["leverage_min"]) <= int(p["leverage_max"]):
            raise ValueError("leveraged: need 1 <= leverage_min <= leverage_max")
        if p["fill_tolerance"] >= 1:
            raise ValueError("leveraged: parameter 'fill_tolerance' must be below 1")
        return p

    async def run(self, ctx: Context) -> None:
        p = self.check_params(ctx.params)
        rng = ctx.rng
        sym = ctx.home
        leverage = rng.randint(int(p["leverage_min"]), int(p["leverage_max"]))
        ctx.set_leverage(leverage, sym=sym)
        k = ctx.contracts[sym].k
        while True:
            await ctx.sleep(rng.expovariate(1 / p["wait_mean_s"]))
            ctx.drain_events()  # it reads its mirrors only: unread events would pile up
            snap = ctx.market(sym)
            if snap is None or snap.mark is None or ctx.balance <= 0 or ctx.position[sym]:
                continue
            target = int(ctx.balance * leverage * p["utilization"] // (snap.mark * k))
            if target <= 0:
                continue
            side = BUY if rng.random() < p["p_long"] else SELL
            await self._trade_to(ctx, p, sym, target if side == BUY else -target, False)
            await ctx.sleep(rng.expovariate(1 / p["hold_mean_s"]))
            if ctx.position[sym]:
                await self._trade_to(ctx, p, sym, 0, True)

    @staticmethod
    async def _trade_to(ctx: Context, p: Mapping[str, float], sym: int, target: int,
                        closing: bool) -> None:
        """Market orders towards ``target`` lots until within tolerance or out of time."""
        deadline = ctx.now + round(p["entry_s"] * 1e9)
        slack = int(abs(target) * p["fill_tolerance"])
        last: int | None = None
        while True:
            gap = target - ctx.position[sym]
            if abs(gap) <= slack or (closing and ctx.position[sym] == 0):
                return
            if last is None or not ctx.live(last):  # one order in flight at a time
                last = ctx.submit(BUY if gap > 0 else SELL, abs(gap), order_type=MARKET,
                                  reduce_only=closing, sym=sym)
            if ctx.now >= deadline:
                return
            await ctx.sleep(p["retry_s"])
