"""Clearing: fills into positions, realized PnL and fees; the conservation ledger.

Conservation, exactly, after every step::

    sum(wallet + isolated margins - position cost over all accounts)
        + fee_pool == net deposits

(the insurance fund is an account too: id -1, see :mod:`exsim.core.liquidation`).

Why the ``- cost`` term: a trade moves no cash, it moves cost basis.  When a
position is reduced, its realized PnL is paid into the wallet out of the cost
basis (``realized = exit value - removed cost``), so wallets alone are not
conserved while positions are open: the winner's realized profit is still the
loser's unrealized loss.  Because long and short open interest are equal, the
positions' unrealized PnL summed at *any* common mark is exactly ``-sum(cost)``;
so the identity above says "total equity at any mark equals what was deposited",
with no rounding anywhere.  When every position is closed every cost is zero
and the wallets, the fee pool and the fund add up to the deposits.

Partial reductions remove ``cost * closed / qty`` rounded up (so realized PnL
is rounded down, in the exchange's favour); the remainder stays in the
position's cost basis and is realized when it closes, so no atom is created or
lost.  Fees are whole atoms: a taker fee (and a positive maker
fee) is rounded up, a maker rebate is rounded down.
"""

from __future__ import annotations

from exsim.core.accounts import Account, Position
from exsim.core.units import PPM, ceil_div


class Ledger:
    """The exchange's own named accounts, in atoms (the fund is an account of its own)."""

    __slots__ = ("deposits", "fee_pool")

    def __init__(self) -> None:
        self.deposits = 0  # net cash paid in (traders, and the exchange seeding its fund)
        self.fee_pool = 0  # trading fees minus maker rebates, plus rounding kept


def fee(notional: int, rate_ppm: int) -> int:
    """Fee in atoms on an absolute notional: charges rounded up, rebates (rate < 0) down."""
    if rate_ppm >= 0:
        return ceil_div(notional * rate_ppm, PPM)
    return -((notional * -rate_ppm) // PPM)


def apply_trade(acct: Account, pos: Position, dq: int, price: int, k: int) -> int:
    """Apply a signed fill of ``dq`` lots at ``price`` to ``pos``; return realized PnL (atoms).

    Handles open, add, reduce, close and flip.  Cross positions realize into the
    wallet.  Isolated positions move initial margin from the wallet when they
    grow, realize into their own margin when they shrink and hand back to the
    wallet the share of margin that the closed lots held (all of it on close;
    a negative remainder on close is absorbed by the wallet until the
    liquidation engine takes bankruptcies over).

    ``ExchangeCore._clear`` writes the cross-margin branch out inline for speed
    (``tests/test_fast_paths.py`` and the core's stateful tests hold it to this).
    """
    q = pos.qty
    if q == 0 or (q > 0) == (dq > 0):
        value = dq * price * k
        pos.qty = q + dq
        pos.cost += value
        if pos.isolated:
            im = ceil_div(value if value > 0 else -value, pos.leverage)
            acct.wallet -= im
            pos.margin += im
        return 0
    # reduce, close or flip: ``closing`` has the sign of dq and closes at most |q|
    closing = dq if (dq if dq > 0 else -dq) <= (q if q > 0 else -q) else -q
    new_q = q + closing
    # ceil(cost * closed / qty): the larger removal, so realized PnL is rounded down
    removed = pos.cost if new_q == 0 else -((pos.cost * closing) // q)
    realized = -closing * price * k - removed
    pos.qty = new_q
    pos.cost -= removed
    if pos.isolated:
        margin = pos.margin + realized
        if new_q == 0:
            release = margin
        else:
            release = (margin * -closing) // q if margin > 0 else 0
        pos.margin = margin - release
        acct.wallet += release
    else:
        acct.wallet += realized
    rest = dq - closing
    if rest:
        value = rest * price * k
        pos.qty = rest
        pos.cost = value
        if pos.isolated:
            im = ceil_div(value if value > 0 else -value, pos.leverage)
            acct.wallet -= im
            pos.margin += im
    return realized
