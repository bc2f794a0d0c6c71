"""A user's own strategy, as it would live in their repository (examples below test it)."""

import exsim
from exsim.core.orders import BUY, MARKET, SELL


class DipBuyer(exsim.Agent):
    """Buys 0.1 BTC each time the mark is 5% under its running high, up to 0.5 BTC;
    sells everything back once the mark recovers to 2% under the high."""

    async def run(self, ctx):
        high = None
        while True:
            await ctx.sleep(1.0)
            snap = ctx.market()
            if snap is None or snap.mark is None:
                continue
            high = snap.mark if high is None else max(high, snap.mark)
            step, cap = ctx.lots("0.1"), ctx.lots("0.5")
            held = ctx.position[0] + sum(ctx.open_orders.values())
            if snap.mark < high * 0.95 and held < cap:
                ctx.submit(BUY, step, order_type=MARKET)
            elif snap.mark > high * 0.98 and ctx.position[0] > 0 and not ctx.open_orders:
                ctx.submit(SELL, ctx.position[0], order_type=MARKET, reduce_only=True)
