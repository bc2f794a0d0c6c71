"""Trust warnings: what makes a run that completed with every invariant ok still meaningless.

The invariants say no money was created or lost; they hold just as well for a run in
which nothing could happen.  A symbol whose mark was never set refuses every order
and margin check on it, and a run in which no order was ever accepted traded
nothing: its figures (no liquidations, a fund untouched) describe a venue that
never opened, not a calm market.  The summary lists such findings under
``warnings`` and ``exsim run`` prints them, so that a sweep or a reader does not
take them for results.
"""

from __future__ import annotations

from collections.abc import Sequence


def run_warnings(symbols: Sequence[str], marks: Sequence[int | None], *,
                 orders_accepted: int) -> list[str]:
    """One sentence per finding, in a fixed order; ``[]`` for a run that can be read.

    ``symbols`` and ``marks`` are each symbol's name and its mark at the end (``None``:
    never set, since a mark once set is only ever replaced); ``orders_accepted`` is
    the number of orders the exchange accepted over the run.
    """
    out = [f"no mark price was ever set for {name}: every order and margin check on it "
           "was refused (check scenario.start_price against its tick_size)"
           for name, mark in zip(symbols, marks, strict=True) if mark is None]
    if orders_accepted == 0:
        out.append("no order was ever accepted: the run traded nothing (check the agents' "
                   "deposits, leverage and prices)")
    return out
