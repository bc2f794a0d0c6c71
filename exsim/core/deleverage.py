"""How much ADL closes, and when: sizing and trigger policies for the last step.

Auto-deleveraging closes the fund's position against ranked winners at the fund's
entry, so each lot closed moves that lot's loss from the fund to a winner.  How many
lots, and when it may happen at all, are venue policies (mechanics.md 5):

* **trigger** ``mtm``: the fund's equity with its position in the symbol at the mark
  is below zero (the loss it would book at the mark exceeds what it holds);
  ``realised``: valued at the price it could actually close at now (the best bid for
  a long position, the best ask for a short; an empty side: the mark beyond the
  symbol's market band), so ADL waits until a deficit would really be booked.
* **sizing** ``fund_first`` (Binance's "the insurance fund first"): close only the lots
  that the fund's equity, at the trigger's valuation, cannot carry, so that it ends
  at zero or above; ``all``: the fund's whole position in the symbol (BitMEX-era
  behaviour, the winners carry all of it); ``pro_rata``: the ``fund_first`` lots,
  spread over every winner in proportion to its position instead of down the
  ranking.
* ``max_notional`` (atoms, 0: none): Binance also deleverages the part of the fund's
  position whose notional at the mark exceeds a cap, short or not.

All integers: a valuation is atoms, a price ticks, quantities lots.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from exsim.core.adl import Candidate

TRIGGERS: Final = ("mtm", "realised")
SIZINGS: Final = ("fund_first", "all", "pro_rata")


def lots_to_close(qty: int, cost: int, other: int, value_price: int, k: int, sizing: str,
                  mark: int = 0, max_notional: int = 0) -> int:
    """Lots of the fund's position (``qty`` signed lots, ``cost`` atoms) ADL must close.

    ``other`` is the fund's equity apart from this position (cash and its other
    positions at their marks); the position is valued at ``value_price`` (ticks).
    ``all``: the whole position when the fund is short.  ``fund_first``/``pro_rata``:
    the fewest lots ``L`` such that ``other + pnl x (|qty| - L) / |qty| >= 0``, i.e.
    keep ``floor(other x |qty| / -pnl)`` lots (none when ``other`` < 0).  Beyond a
    ``max_notional`` cap at ``mark``, at least the lots over it.  0: nothing to close.
    """
    lots = abs(qty)
    if not lots:
        return 0
    pnl = qty * value_price * k - cost  # the position's PnL at the valuation price
    need = 0
    if other + pnl < 0:  # short at this valuation
        if sizing == "all":
            need = lots
        else:
            keep = other * lots // -pnl if other > 0 else 0
            need = max(1, lots - keep)
    if max_notional > 0 and mark > 0:
        over = lots * mark * k - max_notional
        if over > 0:
            need = max(need, -(-over // (mark * k)))
    return min(need, lots)


def pro_rata(ordered: Sequence[Candidate], lots: int) -> list[tuple[int, int]]:
    """``lots`` spread over every candidate in proportion to its position, as
    ``[(acct, lots), ...]``: floors first, then one more lot each down the ranking
    until the total is reached (never more than a position)."""
    total = sum(abs(c.qty) for c in ordered)
    if total == 0 or lots <= 0:
        return []
    lots = min(lots, total)
    shares = [lots * abs(c.qty) // total for c in ordered]
    left = lots - sum(shares)
    for i, c in enumerate(ordered):
        if left <= 0:
            break
        if shares[i] < abs(c.qty):
            shares[i] += 1
            left -= 1
    return [(c.acct, n) for c, n in zip(ordered, shares, strict=True) if n]
