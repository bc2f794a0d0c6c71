"""Auto-deleveraging: rank the positions on the other side, pick who closes, show quantiles.

Policies (../shared/reference/mechanics.md section 5):

* ``bitmex`` (also Bybit): per position, ``PnL% x effective leverage`` when in
  profit, ``PnL% / effective leverage`` when not, with
  ``PnL% = side x (mark - entry) / entry`` and
  ``effective leverage = |mark value| / |mark value - bankrupt value|``.
* ``binance``: per account, ``max(0, uPnL) / max(1, wallet) x MM / (wallet + uPnL)``
  (0 when the account's equity is not positive).
* ``hyperliquid``: ``(mark / entry) x (notional / account value)`` for a long; for a
  short the price ratio is turned over (``entry / mark``), so that a profitable
  short ranks high: the source does not say how shorts are oriented, this is
  exsim's assumption.
* ``dydx``: no ranking: accounts in id order from a pseudo-random start.

Scores are exact :class:`~fractions.Fraction` values, ties broken by account
id, so the ranking never depends on float rounding or dict order.  Under a
ranked policy only positions in profit at the ADL price (the liquidated
position's bankruptcy price) are deleveraged (:func:`deleverage_queue`): ADL
takes profits, it does not force a loss on anyone.  When the winners do not
cover the fund's position, the rest stays with the fund, which keeps working
it out in the book (a property test over
random crashes holds this; all four rankings show lights for every position).
dYdX's unranked queue takes anyone, as dYdX does.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from fractions import Fraction

import attrs

POLICIES = ("bitmex", "binance", "hyperliquid", "dydx")


@attrs.frozen
class Candidate:
    """One opposite position as the ranking sees it (prices in ticks, cash in atoms).

    ``entry`` and ``bankruptcy`` are exact prices (ticks, possibly fractional);
    ``account_wallet``, ``account_upnl`` and ``account_mm`` describe the whole
    account for the account-level policies.
    """

    acct: int
    qty: int  # signed lots
    entry: Fraction
    mark: int
    bankruptcy: Fraction | None
    k: int
    account_wallet: int = 0
    account_upnl: int = 0
    account_mm: int = 0


def bitmex_score(c: Candidate) -> Fraction:
    side = 1 if c.qty > 0 else -1
    pnl = side * (c.mark - c.entry) / c.entry
    if c.bankruptcy is None:  # cannot go bankrupt: no leverage to speak of
        return pnl if pnl <= 0 else Fraction(0)
    gap = abs(c.mark - c.bankruptcy)
    if gap == 0:
        return pnl  # at bankruptcy: infinitely leveraged; keep the sign of its PnL
    leverage = Fraction(c.mark) / gap
    return pnl * leverage if pnl > 0 else pnl / leverage


def binance_score(c: Candidate) -> Fraction:
    equity = c.account_wallet + c.account_upnl
    pnl_percent = Fraction(max(0, c.account_upnl), max(1, c.account_wallet))
    margin_ratio = Fraction(c.account_mm, equity) if equity > 0 else Fraction(0)
    return pnl_percent * margin_ratio


def hyperliquid_score(c: Candidate) -> Fraction:
    value = c.account_wallet + c.account_upnl
    if value <= 0:
        return Fraction(0)
    ratio = c.mark / c.entry if c.qty > 0 else c.entry / c.mark
    notional = abs(c.qty) * c.mark * c.k
    return ratio * Fraction(notional, value)


SCORES = {"bitmex": bitmex_score, "binance": binance_score, "hyperliquid": hyperliquid_score}


def rank(candidates: Sequence[Candidate], policy: str, rng: random.Random | None = None
         ) -> list[Candidate]:
    """Candidates in the order ADL takes them."""
    if policy not in POLICIES:
        raise ValueError(f"unknown ADL policy {policy!r}; one of {', '.join(POLICIES)}")
    if policy == "dydx":
        ordered = sorted(candidates, key=lambda c: c.acct)
        if not ordered:
            return []
        start = (rng or random.Random(0)).randrange(len(ordered))
        return ordered[start:] + ordered[:start]
    score = SCORES[policy]
    return sorted(candidates, key=lambda c: (-score(c), c.acct))


def in_profit(c: Candidate, price: int) -> bool:
    """Would the position close in profit at ``price`` (ticks)?"""
    return (price - c.entry) * c.qty > 0


def deleverage_queue(candidates: Sequence[Candidate], policy: str, price: int,
                     rng: random.Random | None = None) -> list[Candidate]:
    """Who ADL closes at ``price``, in order: the ranking, cut under a ranked policy to
    the positions that close in profit there."""
    ordered = rank(candidates, policy, rng)
    if policy == "dydx":
        return ordered
    return [c for c in ordered if in_profit(c, price)]


def quantiles(candidates: Sequence[Candidate], policy: str) -> dict[int, int]:
    """ADL indicator lights, 1-5 (5: first in line), per account, as exchanges show them."""
    if policy == "dydx":
        return {c.acct: 1 for c in candidates}  # unranked: nobody is first in line
    ordered = rank(candidates, policy)
    n = len(ordered)
    return {c.acct: 5 - (5 * i) // n for i, c in enumerate(ordered)}


def allocate(ordered: Sequence[Candidate], qty: int) -> list[tuple[int, int]]:
    """Walk the ranking taking ``min(left, position)`` each: ``[(acct, lots), ...]``."""
    out: list[tuple[int, int]] = []
    left = qty
    for c in ordered:
        if left <= 0:
            break
        take = min(left, abs(c.qty))
        if take:
            out.append((c.acct, take))
            left -= take
    return out
