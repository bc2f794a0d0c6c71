"""A momentum trader, shipped as its own package and found by exsim through an entry point."""

from collections.abc import Mapping
from typing import Any

import exsim
from exsim.core.orders import BUY, MARKET, SELL


class Momentum(exsim.Agent):
    """Every ``every_s`` seconds, follows the mark's move since the last look.

    Buys ``lots`` when the mark rose more than ``threshold_bps``, sells when it fell,
    and never holds more than ``max_lots`` either way.
    """

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> Mapping[str, Any]:
        unknown = set(params) - {"every_s", "threshold_bps", "lots", "max_lots"}
        if unknown:
            raise ValueError(f"unknown parameter {sorted(unknown)[0]!r}")
        return params

    async def run(self, ctx: exsim.Context) -> None:
        every = float(ctx.params.get("every_s", 5.0))
        threshold = float(ctx.params.get("threshold_bps", 2.0)) / 10_000
        lots, cap = int(ctx.params.get("lots", 10)), int(ctx.params.get("max_lots", 100))
        last = None
        while True:
            await ctx.sleep(every)
            snap = ctx.market()
            if snap is None or snap.mark is None:
                continue
            if last is not None:
                move = snap.mark / last - 1
                if move > threshold and ctx.position[0] + lots <= cap:
                    ctx.submit(BUY, lots, order_type=MARKET)
                elif move < -threshold and ctx.position[0] - lots >= -cap:
                    ctx.submit(SELL, lots, order_type=MARKET)
            last = snap.mark
