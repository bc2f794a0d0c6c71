"""Who is liquidatable, and an index that finds them in O(log n + k) at a new mark.

A position is liquidatable when the margin behind it is below its maintenance
margin at the mark (never at the last trade): for an isolated position its own
margin plus its unrealized PnL, for cross positions the wallet plus all cross
unrealized PnL against all cross maintenance margin.

:class:`LiquidationIndex` keeps, per symbol, longs and shorts sorted by their
liquidation price, so that a mark update asks for exactly the positions it
crossed.  For a cross account with several symbols, a position's liquidation
price assumes the other marks stay where they were; the liquidator re-checks
every candidate with :func:`is_liquidatable` and refreshes entries whenever a
position or a mark changes, so a stale entry can only delay, never invent, a
liquidation.
"""

from __future__ import annotations

from collections.abc import Sequence

from sortedcontainers import SortedList

from exsim.core.accounts import Account, Position
from exsim.core.margin import maintenance_margin
from exsim.core.symbols import Market

FUND = -1
"""Account id of the insurance fund: its wallet is the fund's cash, its positions
are those it took over from liquidated accounts."""

VAULT = -2
"""Account id of the backstop vault (Hyperliquid's liquidator vault, FTX's backstop
providers): when the waterfall has a ``backstop`` step it takes positions over
before the insurance fund, and holds them on its own capital."""


def is_liquidatable(acct: Account, pos: Position, markets: Sequence[Market]) -> bool:
    """Is the margin behind ``pos`` below its maintenance margin at the marks?"""
    if not pos.qty:
        return False
    m = markets[pos.sym]
    if m.mark is None:
        return False
    if pos.isolated:
        equity = pos.margin + pos.upnl(m.mark, m.k)
        return equity < maintenance_margin(m.brackets, abs(pos.qty) * m.mark * m.k)
    equity = acct.wallet
    required = 0
    for p in acct.positions.values():
        if p.isolated or not p.qty:
            continue
        pm = markets[p.sym]
        if pm.mark is None:
            continue
        equity += p.upnl(pm.mark, pm.k)
        required += maintenance_margin(pm.brackets, abs(p.qty) * pm.mark * pm.k)
    return equity < required


class LiquidationIndex:
    """Positions of one symbol sorted by liquidation price (ticks), per side."""

    def __init__(self) -> None:
        self._longs: SortedList = SortedList()  # (liq price, acct): hit when mark <= price
        self._shorts: SortedList = SortedList()  # hit when mark >= price
        self._where: dict[int, tuple[bool, int]] = {}  # acct -> (is_long, liq price)

    def __len__(self) -> int:
        return len(self._where)

    def update(self, acct: int, qty: int, liq_price: int | None) -> None:
        """Record an account's position (``qty`` signed lots) and its liquidation price."""
        self.remove(acct)
        if qty and liq_price is not None:
            side = self._longs if qty > 0 else self._shorts
            side.add((liq_price, acct))
            self._where[acct] = (qty > 0, liq_price)

    def remove(self, acct: int) -> None:
        where = self._where.pop(acct, None)
        if where is not None:
            (self._longs if where[0] else self._shorts).remove((where[1], acct))

    def crossed(self, mark: int) -> list[int]:
        """Accounts whose liquidation price the mark has reached, in price order."""
        longs = [a for _, a in self._longs.irange((mark, -(1 << 62)), None)]
        shorts = [a for _, a in self._shorts.irange(None, (mark, 1 << 62))]
        return longs + shorts
