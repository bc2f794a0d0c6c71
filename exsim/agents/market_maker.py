"""Market maker: two-sided quotes that widen, thin and pull when the market turns.

Every ``requote_s`` it cancels its quotes and posts a bid and an ask (post-only)
around a reference price: the mark on a perpetual (the book's mid with
``anchor_mid = 1``, and always on a spot venue, which has no mark; with an empty
book, the last trade, else the fundamental as other venues show it).  What a real
maker does in a crash is what this one does:

* **Volatility.** It keeps an exponentially weighted estimate of the reference's
  move per requote (half-life ``vol_halflife_s``).  Past ``calm_bps`` per requote,
  the spread widens and the size thins in proportion (up to ``max_widen`` times).
* **Jumps.** A move of more than ``pull_move_bps`` in one requote, or a volatility
  estimate above ``pull_vol_bps``, pulls every quote for ``pull_s`` seconds; it then
  comes back at least ``widen`` times wider for as long again, and wide while the
  estimate decays.
* **Losses.** Its equity (cash and position at the reference, tracked from its own
  fills) is watched against its peak: a drawdown of ``max_drawdown`` (a fraction)
  thins its quotes to nothing; half of it, to half.  It has finite capital: on a
  perpetual it can be liquidated like anyone.
* **Inventory.** Quotes lean against inventory by ``skew_bps_per_lot``, at most
  ``max_skew_bps``, and never cross the book as it last saw it (a bid stays below
  the best ask, an ask above the best bid); past ``max_inventory_lots`` it quotes
  only the side that reduces inventory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from exsim.agent import Agent, Context
from exsim.agents.params import read_params
from exsim.core.events import DEPOSIT, FILL, FUNDING, SPOT_DEPOSIT
from exsim.core.orders import BUY, POST_ONLY, SELL

POSITIVE = ("requote_s", "quote_lots", "widen", "max_widen", "vol_halflife_s", "calm_bps")
DEFAULTS = {
    "requote_s": 1.0,
    "half_spread_bps": 5.0,
    "quote_lots": 20.0,
    "skew_bps_per_lot": 0.2,  # quote shift per lot of inventory
    "max_skew_bps": 20.0,  # ... at most this
    "max_inventory_lots": 500.0,
    "anchor_mid": 0.0,  # 1: quote around the book's mid, not the mark
    "calm_bps": 5.0,  # a move per requote this small is calm: no widening
    "vol_halflife_s": 30.0,
    "max_widen": 10.0,
    "widen": 4.0,  # spread multiplier while it comes back after a pull
    "pull_move_bps": 50.0,  # a move this large in one requote is a jump: pull
    "pull_vol_bps": 100.0,  # a volatility estimate this large: pull
    "pull_s": 3.0,  # how long it stays out after a pull
    "max_drawdown": 0.2,  # of its peak equity: quoting thins to nothing
}


class MarketMaker(Agent):
    trio_task = False  # awaits only ctx.sleep: stepped by the network

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, float]:
        p = read_params("market_maker", DEFAULTS, params, POSITIVE)
        if p["anchor_mid"] not in (0, 1):
            raise ValueError("market_maker: parameter 'anchor_mid' must be 0 or 1")
        if p["max_drawdown"] > 1:
            raise ValueError("market_maker: parameter 'max_drawdown' must be at most 1")
        return p

    async def run(self, ctx: Context) -> None:
        p = self.check_params(ctx.params)
        sym = ctx.home
        k = ctx.contracts[sym].k
        keep = 0.5 ** (p["requote_s"] / p["vol_halflife_s"])  # EWMA weight per requote
        calm = p["calm_bps"] / 10_000
        var = calm * calm
        last_ref: float | None = None
        out_until = 0
        cash = 0  # atoms: deposits, minus what buys cost, plus what sells brought, fees out
        held = 0  # lots it was given (coin at a spot venue): its inventory is beyond these
        peak: float | None = None
        quotes: list[int] = []
        while True:
            await ctx.sleep(p["requote_s"])
            for e in ctx.drain_events():
                cash += _cash_flow(e, ctx.account, k)
                if e[0] == SPOT_DEPOSIT:
                    held += e[4]
            for oid in quotes:
                if ctx.live(oid):
                    ctx.cancel(oid, sym=sym)
            quotes.clear()
            snap = ctx.market(sym)
            ref = _reference(snap, bool(p["anchor_mid"]), ctx, sym)
            if ref is None:
                continue
            move = abs(math.log(ref / last_ref)) if last_ref else 0.0
            last_ref = ref
            var = keep * var + (1 - keep) * move * move
            vol = math.sqrt(var)
            inventory = ctx.position[sym] - held
            equity = cash + ctx.position[sym] * ref * k
            peak = equity if peak is None or equity > peak else peak
            if move * 10_000 > p["pull_move_bps"] or vol * 10_000 > p["pull_vol_bps"]:
                out_until = ctx.now + round(p["pull_s"] * 1e9)
            if ctx.now < out_until:
                continue
            drawdown = (peak - equity) / peak if peak > 0 else 0.0
            appetite = max(0.0, 1 - drawdown / p["max_drawdown"]) if p["max_drawdown"] else 1.0
            stress = max(1.0, vol / calm)
            if out_until and ctx.now < out_until + round(p["pull_s"] * 1e9):  # back from a pull
                stress = max(stress, p["widen"])
            stress = min(p["max_widen"], stress)
            qty = int(p["quote_lots"] * appetite / stress)
            if qty <= 0:
                continue
            half = max(ref * p["half_spread_bps"] / 10_000 * stress, 1.0)
            skew = max(-p["max_skew_bps"], min(p["max_skew_bps"],
                                               p["skew_bps_per_lot"] * inventory))
            centre = ref * (1 - skew / 10_000)
            bid = math.floor(centre - half)
            ask = math.ceil(centre + half)
            if snap is not None and snap.best_ask is not None:
                bid = min(bid, snap.best_ask - 1)  # a post-only bid never crosses
            if snap is not None and snap.best_bid is not None:
                ask = max(ask, snap.best_bid + 1)
            if bid > 0 and inventory < p["max_inventory_lots"]:
                quotes.append(ctx.submit(BUY, qty, bid, tif=POST_ONLY, sym=sym))
            if inventory > -p["max_inventory_lots"]:
                quotes.append(ctx.submit(SELL, qty, ask, tif=POST_ONLY, sym=sym))


def _reference(snap: Any, anchor_mid: bool, ctx: Context, sym: int) -> float | None:
    """The price it quotes around, in ticks (see the module docstring)."""
    if snap is not None:
        if snap.mark is not None and not anchor_mid:
            return float(snap.mark)
        if snap.mid is not None:
            return float(snap.mid)
        if snap.last_price is not None:
            return float(snap.last_price)
    value = ctx.fundamental(sym)
    return None if value is None else value / float(ctx.contracts[sym].tick_size)


def _cash_flow(e: tuple[int, ...], me: int, k: int) -> int:
    """Atoms of cash an own event moves, as if every position were bought with cash:
    fills (price x lots x k, fees), deposits.  Equity = this + position at a price."""
    kind = e[0]
    if kind == FILL:
        value = e[2] * e[3] * k
        flow = 0
        if e[5] == me:  # taker
            flow += (-value if e[6] == BUY else value) - e[9]
        if e[8] == me:  # maker
            flow += (value if e[6] == BUY else -value) - e[10]
        return flow
    if kind == DEPOSIT:
        return e[2]
    if kind in (FUNDING, SPOT_DEPOSIT):
        return e[3]
    return 0
