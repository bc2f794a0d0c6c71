"""Accounts and positions, and the margin views derived from them.

An :class:`Account` has one cross wallet (``wallet``, atoms) and one
:class:`Position` per symbol it has traded or ordered.  A position is either
cross (backed by the wallet and the other cross positions' PnL) or isolated
(backed only by its own ``margin``).

A position keeps its cost basis ``cost`` as the exact signed sum of
``qty * price * k`` over its open lots, so the average entry price is
``cost / (qty * k)`` without rounding, unrealized PnL at mark ``M`` is
``qty * M * k - cost``, and the sum of every position's cost is what the
clearing ledger owes open positions (see :mod:`exsim.core.clearing`).

Open orders are summarised per position as ``buy_open``/``sell_open``, the sum
of ``price * leaves`` of resting buy/sell orders (tick-lots), so that the
margin that open orders tie up is O(1) to find.  Reduce-only orders are kept
out of those sums (they can only shrink the position) and listed in ``ro``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from exsim.core.margin import (
    initial_margin,
    liquidation_price,
    maintenance_margin,
    shared_bankruptcy_price,
    shared_bankruptcy_price_exact,
)
from exsim.core.symbols import Market


class Position:
    """One account's position in one symbol."""

    __slots__ = (
        "buy_open",
        "cost",
        "isolated",
        "leverage",
        "margin",
        "qty",
        "ro",
        "sell_open",
        "sym",
    )

    def __init__(self, sym: int, leverage: int, isolated: bool = False) -> None:
        self.sym = sym
        self.qty = 0  # signed lots: > 0 long, < 0 short
        self.cost = 0  # signed atoms: sum of qty_i * price_i * k over open lots
        self.leverage = leverage
        self.isolated = isolated
        self.margin = 0  # isolated margin in atoms (always 0 for cross)
        self.buy_open = 0  # sum(price * leaves) of resting non-reduce-only buys
        self.sell_open = 0  # same for sells
        self.ro: dict[int, None] = {}  # resting reduce-only order ids, oldest first

    def upnl(self, mark: int, k: int) -> int:
        """Unrealized PnL in atoms at ``mark``."""
        return self.qty * mark * k - self.cost

    def exposure(self, mark: int, k: int) -> int:
        """Worst-case absolute notional (atoms) if all buys or all sells filled.

        ``max(|Q*M + buys|, |Q*M - sells|)``: the position at the mark, with open
        orders at their own prices.  Orders that would reduce the position first
        net against it, as on exchanges that charge margin only for the side
        that increases risk.
        """
        qn = self.qty * mark
        up = qn + self.buy_open
        down = qn - self.sell_open
        return max(up if up >= 0 else -up, down if down >= 0 else -down) * k

    def claim(self, mark: int, k: int) -> int:
        """What this position takes from the cross wallet's available balance (atoms).

        Cross: initial margin of its worst-case exposure minus its unrealized PnL
        (a profit frees margin, a loss uses it).  Isolated: only the part of the
        initial margin that its own margin does not already cover.
        """
        im = initial_margin(self.exposure(mark, k), self.leverage)
        if self.isolated:
            return im - self.margin if im > self.margin else 0
        return im - (self.qty * mark * k - self.cost)

    def entry_price(self, k: int) -> float | None:
        """Average entry price in ticks (float, for display only)."""
        return self.cost / (self.qty * k) if self.qty else None


class Account:
    """A trader's cross wallet and positions."""

    __slots__ = ("id", "positions", "wallet")

    def __init__(self, acct_id: int, wallet: int = 0) -> None:
        self.id = acct_id
        self.wallet = wallet
        self.positions: dict[int, Position] = {}


# ----------------------------------------------------------------------------- views
def available_balance(acct: Account, markets: Sequence[Market]) -> int:
    """Cash (atoms) free for new orders: wallet minus every position's claim.

    Positions in a symbol without a mark yet are skipped (no claim, no PnL); the
    engine refuses orders in such a symbol, so they can only be empty.
    """
    avail = acct.wallet
    for pos in acct.positions.values():
        m = markets[pos.sym]
        mark = m.mark
        if mark is None:
            continue
        avail -= pos.claim(mark, m.k)
    return avail


def withdrawable(acct: Account, markets: Sequence[Market]) -> int:
    """Cash (atoms) that may leave the exchange: the available balance without the cross
    positions' unrealized profits (their losses still count).

    A profit is not cash until it is realized: paid out, it would leave the account
    short if the price came back, and the fund would pay the difference.  Every
    position's claim without its profit is at least zero, so this is never more than the
    wallet.
    """
    free = acct.wallet
    for pos in acct.positions.values():
        m = markets[pos.sym]
        mark = m.mark
        if mark is None:
            continue
        free -= pos.claim(mark, m.k)
        if not pos.isolated:
            upnl = pos.upnl(mark, m.k)
            if upnl > 0:
                free -= upnl
    return free


def margin_equity(acct: Account, pos: Position, markets: Sequence[Market]) -> tuple[int, int]:
    """``(equity, notional)`` in atoms at the marks of what backs ``pos``.

    Cross: the wallet plus every cross position's uPnL, and their gross notional
    ``sum(|Q| x M x k)``; isolated: the position's own margin plus its uPnL, and its
    notional.  The equity is what the account can pay before it is below zero (a share
    of socialized loss is capped at it); a takeover spreads it over the notional
    (:func:`position_bankruptcy_price`).
    """
    if pos.isolated:
        m = markets[pos.sym]
        if m.mark is None or not pos.qty:
            return pos.margin, 0
        return pos.margin + pos.upnl(m.mark, m.k), abs(pos.qty) * m.mark * m.k
    equity = acct.wallet
    notional = 0
    for p in acct.positions.values():
        if p.isolated or not p.qty:
            continue
        m = markets[p.sym]
        if m.mark is None:
            continue
        equity += p.upnl(m.mark, m.k)
        notional += abs(p.qty) * m.mark * m.k
    return equity, notional


def _liquidation_backing(acct: Account, pos: Position, markets: Sequence[Market]) -> int:
    """Cash behind one position apart from its own PnL and the maintenance margin of the
    others (``equity_other`` in margin.py: Binance's ``WB - TMM1 + UPNL1``)."""
    if pos.isolated:
        return pos.margin
    back = acct.wallet
    for other in acct.positions.values():
        if other is pos or other.isolated or not other.qty:
            continue
        m = markets[other.sym]
        if m.mark is None:
            continue
        back += other.upnl(m.mark, m.k)
        back -= maintenance_margin(m.brackets, abs(other.qty) * m.mark * m.k)
    return back


def position_liquidation_price(acct: Account, sym: int, markets: Sequence[Market]) -> int | None:
    """Liquidation price in ticks of the account's position in ``sym``, the other marks
    fixed: where the liquidator's index looks; the core re-checks the account itself."""
    pos = acct.positions.get(sym)
    if pos is None or not pos.qty:
        return None
    m = markets[sym]
    back = _liquidation_backing(acct, pos, markets)
    return liquidation_price(pos.qty, pos.cost, m.k, back, m.brackets)


def position_bankruptcy_price_exact(acct: Account, sym: int, markets: Sequence[Market]
                                    ) -> Fraction | None:
    """Exact bankruptcy (takeover) price in ticks of the account's position in ``sym``.

    The equity behind it is shared over the notional it backs
    (:func:`margin_equity`, :func:`~exsim.core.margin.shared_bankruptcy_price_exact`):
    every cross position of an account lies the same relative distance from its own
    mark, so taking one over never loads the whole account's deficit (or surplus) on it.
    """
    pos = acct.positions.get(sym)
    if pos is None or not pos.qty:
        return None
    m = markets[sym]
    if m.mark is None:
        return None
    equity, notional = margin_equity(acct, pos, markets)
    return shared_bankruptcy_price_exact(pos.qty, pos.cost, m.k, m.mark, equity, notional)


def position_bankruptcy_price(acct: Account, sym: int, markets: Sequence[Market]) -> int | None:
    """:func:`position_bankruptcy_price_exact` rounded to the tick, up for a long and down
    for a short: the price a takeover uses."""
    pos = acct.positions.get(sym)
    if pos is None or not pos.qty:
        return None
    m = markets[sym]
    if m.mark is None:
        return None
    equity, notional = margin_equity(acct, pos, markets)
    return shared_bankruptcy_price(pos.qty, pos.cost, m.k, m.mark, equity, notional)
