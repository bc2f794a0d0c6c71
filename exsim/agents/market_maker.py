"""Market maker: two-sided quotes around the mark, skewed by inventory, pulled in a storm.

Every ``requote_s`` it cancels its quotes and posts a bid and an ask (post-only)
``half_spread_bps`` away from the mark, shifted against its inventory so that it
leans towards flat.  When the mark moved more than ``pull_move_bps`` since the
last requote (a jump), it widens its spread by ``widen`` and, past
``max_inventory_lots``, quotes only the side that reduces inventory: this is
where crash liquidity goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exsim.agent import Agent, Context
from exsim.agents.params import read_params
from exsim.core.orders import BUY, POST_ONLY, SELL

POSITIVE = ("requote_s", "quote_lots", "widen")
DEFAULTS = {
    "requote_s": 1.0,
    "half_spread_bps": 5.0,
    "quote_lots": 20.0,
    "skew_bps_per_lot": 0.2,  # quote shift per lot of inventory
    "max_inventory_lots": 500.0,
    "pull_move_bps": 50.0,  # a mark move this large since the last requote is a jump
    "widen": 4.0,  # spread multiplier after a jump
}


class MarketMaker(Agent):
    trio_task = False  # awaits only ctx.sleep: stepped by the network

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, float]:
        return read_params("market_maker", DEFAULTS, params, POSITIVE)

    async def run(self, ctx: Context) -> None:
        p = self.check_params(ctx.params)
        last_mark: int | None = None
        quotes: list[int] = []
        while True:
            await ctx.sleep(p["requote_s"])
            ctx.drain_events()
            for oid in quotes:
                if ctx.live(oid):
                    ctx.cancel(oid)
            quotes.clear()
            snap = ctx.market()
            if snap is None or snap.mark is None:
                continue
            mark = snap.mark
            jump = last_mark is not None and abs(mark - last_mark) * 10_000 > (
                p["pull_move_bps"] * last_mark)
            last_mark = mark
            inventory = ctx.position[0]
            half = mark * p["half_spread_bps"] / 10_000 * (p["widen"] if jump else 1.0)
            centre = mark - mark * p["skew_bps_per_lot"] * inventory / 10_000
            bid = int(centre - max(half, 1))
            ask = int(centre + max(half, 1)) + 1
            qty = max(1, int(p["quote_lots"]))
            if bid > 0 and inventory < p["max_inventory_lots"]:
                quotes.append(ctx.submit(BUY, qty, bid, tif=POST_ONLY))
            if inventory > -p["max_inventory_lots"]:
                quotes.append(ctx.submit(SELL, qty, ask, tif=POST_ONLY))
