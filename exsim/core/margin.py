"""Margin math: tiered maintenance margin, initial margin, liquidation and bankruptcy prices.

Everything here is a pure function of integers (atoms, ticks, lots, ppm).

Maintenance margin follows Binance's bracket model (../shared/reference/
mechanics.md section 2.1): a position of notional ``N`` in tier ``t`` needs
``N * MMR_t - cum_t`` where the "maintenance amount" ``cum_t`` makes the
requirement continuous across tier boundaries.  ``cum`` is kept scaled by
:data:`~exsim.core.units.PPM` so it is exact for any floors and rates.

Liquidation price (section 2.2): the mark at which a position's margin balance
equals its maintenance margin, solved exactly per tier and accepted in the tier
where the notional at that price actually falls (Binance's "recompute at the
liquidation price's tier" rule, vector V7).  Bankruptcy price (section 2.3): the
mark at which the margin balance is zero.  Both are rounded to the tick on the
side that protects the exchange: up for a long (liquidate earlier, close no
lower), down for a short.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction

import attrs

from exsim.core.units import PPM, ceil_div, floor_div


class MarginConfigError(ValueError):
    """A bracket table that cannot be a maintenance-margin schedule."""


@attrs.frozen
class Tier:
    """One maintenance-margin bracket.

    ``floor`` is the lowest notional (atoms, inclusive) of the tier, ``mmr`` the
    maintenance rate in ppm, ``max_leverage`` the highest leverage a position of
    this size may use, ``cum_scaled`` the maintenance amount in atoms x PPM.
    """

    floor: int
    mmr: int
    max_leverage: int
    cum_scaled: int

    @property
    def cum(self) -> Fraction:
        """The maintenance amount in atoms (exact)."""
        return Fraction(self.cum_scaled, PPM)


def make_brackets(rows: Iterable[tuple[int, int, int]]) -> tuple[Tier, ...]:
    """Build tiers from ``(floor_atoms, mmr_ppm, max_leverage)`` rows, computing ``cum``.

    ``cum_n = floor_n * (MMR_n - MMR_{n-1}) + cum_{n-1}``, ``cum_1 = 0``.
    """
    tiers: list[Tier] = []
    prev: Tier | None = None
    for i, (floor, mmr, max_lev) in enumerate(rows):
        where = f"tier {i + 1}"
        if prev is None:
            if floor != 0:
                raise MarginConfigError(f"{where}: the first tier must start at notional 0")
            cum = 0
        else:
            if floor <= prev.floor:
                raise MarginConfigError(f"{where}: notional floors must increase")
            if mmr < prev.mmr:
                raise MarginConfigError(f"{where}: maintenance rates must not decrease")
            if max_lev > prev.max_leverage:
                raise MarginConfigError(f"{where}: max leverage must not increase with size")
            cum = floor * (mmr - prev.mmr) + prev.cum_scaled
        if not 0 <= mmr < PPM:
            raise MarginConfigError(f"{where}: maintenance rate must be in [0, 1)")
        if max_lev < 1:
            raise MarginConfigError(f"{where}: max leverage must be >= 1")
        if mmr * max_lev >= PPM:
            raise MarginConfigError(
                f"{where}: maintenance rate {mmr / PPM:.4%} is not below the initial rate "
                f"at {max_lev}x ({1 / max_lev:.4%}): a new position would be liquidatable"
            )
        prev = Tier(floor, mmr, max_lev, cum)
        tiers.append(prev)
    if not tiers:
        raise MarginConfigError("at least one tier is needed")
    return tuple(tiers)


def tier_for(brackets: Sequence[Tier], notional: int) -> Tier:
    """The tier of an absolute notional (atoms)."""
    found = brackets[0]
    for t in brackets:
        if t.floor > notional:
            break
        found = t
    return found


def maintenance_margin(brackets: Sequence[Tier], notional: int) -> int:
    """Maintenance margin in atoms of an absolute notional, rounded up."""
    t = tier_for(brackets, notional)
    return ceil_div(notional * t.mmr - t.cum_scaled, PPM)


def initial_margin(notional: int, leverage: int) -> int:
    """Initial margin in atoms of an absolute notional at ``leverage``, rounded up."""
    return ceil_div(notional, leverage)


def max_leverage_for(brackets: Sequence[Tier], notional: int) -> int:
    """Highest leverage allowed for a position of this absolute notional."""
    return tier_for(brackets, notional).max_leverage


# ----------------------------------------------------------------------------- prices
def liquidation_price_exact(qty: int, cost: int, k: int, equity_other: int,
                            brackets: Sequence[Tier]) -> Fraction | None:
    """Exact mark (in ticks) where margin balance == maintenance margin, or ``None``.

    ``qty`` signed lots, ``cost`` the position's signed cost basis in atoms
    (``sum(qty_i * price_i * k)``), ``equity_other`` everything else that backs the
    position in atoms: the isolated margin, or for cross the wallet plus the
    other positions' unrealized PnL minus their maintenance margin (Binance's
    ``WB - TMM1 + UPNL1``).  Solves ``equity_other + qty*k*P - cost = |qty|*k*P*MMR - cum``
    tier by tier and returns the solution whose notional lies in its own tier.
    ``None`` when no positive price liquidates the position (flat, or a long
    that stays solvent down to zero).
    """
    if qty == 0:
        return None
    aq = abs(qty)
    for i, t in enumerate(brackets):
        num = PPM * (cost - equity_other) - t.cum_scaled
        den = k * (PPM * qty - aq * t.mmr)
        price = Fraction(num, den)
        if price <= 0:
            continue
        notional = aq * k * price
        upper = brackets[i + 1].floor if i + 1 < len(brackets) else None
        if notional >= t.floor and (upper is None or notional < upper):
            return price
    return None


def liquidation_price(qty: int, cost: int, k: int, equity_other: int,
                      brackets: Sequence[Tier]) -> int | None:
    """:func:`liquidation_price_exact` rounded to the tick: up for longs, down for shorts.

    The same solution in integers only (no ``Fraction``): the exchange recomputes
    this for every touched position at every instant, for the liquidator's index.
    ``tests/test_margin.py`` holds it equal to the exact one.
    """
    if qty == 0:
        return None
    aq = abs(qty)
    aqk = aq * k
    last = len(brackets) - 1
    for i, t in enumerate(brackets):
        num = PPM * (cost - equity_other) - t.cum_scaled
        den = k * (PPM * qty - aq * t.mmr)
        if den < 0:
            num, den = -num, -den
        if num <= 0:  # price <= 0
            continue
        # the notional aq*k*num/den must lie in this tier: [floor, next floor)
        if aqk * num >= t.floor * den and (i == last or aqk * num < brackets[i + 1].floor * den):
            return -(-num // den) if qty > 0 else num // den
    return None


def bankruptcy_price_exact(qty: int, cost: int, k: int, equity_other: int) -> Fraction | None:
    """Exact mark (ticks) where the margin balance is zero; ``None`` if flat or not positive."""
    if qty == 0:
        return None
    price = Fraction(cost - equity_other, qty * k)
    return price if price > 0 else None


def bankruptcy_price(qty: int, cost: int, k: int, equity_other: int) -> int | None:
    """:func:`bankruptcy_price_exact` rounded to the tick: up for longs, down for shorts.

    A liquidation order at this price (sell for a long, buy for a short) then
    never closes beyond the point where the position's margin is exhausted.
    """
    return _to_tick_protecting_exchange(bankruptcy_price_exact(qty, cost, k, equity_other), qty)


DEFICIT_BAND = 2
"""How far beyond its mark and entry a deficit may price a takeover: a long at most this
many times the higher of the two, a short at least the lower divided by it."""


def shared_bankruptcy_price_exact(qty: int, cost: int, k: int, mark: int, equity: int,
                                  notional: int) -> Fraction | None:
    """Exact takeover price (ticks) of a position backed by a share of ``equity``.

    ``equity`` and ``notional`` (atoms, at the marks) are those of everything that backs
    the position together (:func:`exsim.core.accounts.margin_equity`: a cross account's
    wallet plus all its cross uPnL over its gross cross notional, or an isolated
    position's own).  Each position carries the same share ``r = equity / notional`` of
    its notional, so its price is the same relative distance from its own mark: a long
    ``mark x (1 - r)``, a short ``mark x (1 + r)``.  Taken over there, a position takes
    exactly its share of the equity with it, and the ``r`` of what is left is unchanged.
    Alone (one position), this is :func:`bankruptcy_price_exact`.

    Beyond bankruptcy (``r < 0``) the price moves from the mark in the position's
    favour, the deficit spread the same way; but never further than a factor of two
    (:data:`DEFICIT_BAND`) from the position's mark and entry: a long at most twice the
    higher of them, a short at least half the lower.  Alone, a position with a
    non-negative wallet is always inside (its price lies between its mark and its
    entry); with several, a deficit could otherwise price a short at or below zero, or a
    long at many times its mark.  What the band leaves on the account, the fund makes
    whole once the account is flat (bad debt).  ``None`` if flat, or if no positive price
    exists (a long with ``r >= 1``, solvent down to zero: never while it is
    liquidatable, since its equity is then below its maintenance margin < notional).
    """
    if qty == 0 or notional <= 0:
        return None
    side = 1 if qty > 0 else -1
    price = Fraction(mark * (notional - side * equity), notional)
    if equity < 0:
        entry = Fraction(cost, qty * k)
        if qty > 0:
            price = min(price, DEFICIT_BAND * max(Fraction(mark), entry))
        else:
            price = max(price, min(Fraction(mark), entry) / DEFICIT_BAND)
    return price if price > 0 else None


def shared_bankruptcy_price(qty: int, cost: int, k: int, mark: int, equity: int,
                            notional: int) -> int | None:
    """:func:`shared_bankruptcy_price_exact` rounded to the tick: up for longs, down for
    shorts, so the account never ends below zero for the part taken over."""
    return _to_tick_protecting_exchange(
        shared_bankruptcy_price_exact(qty, cost, k, mark, equity, notional), qty)


def _to_tick_protecting_exchange(exact: Fraction | None, qty: int) -> int | None:
    """Round a price to the tick towards the position's entry: up for a long, down for a short."""
    if exact is None:
        return None
    if qty > 0:
        return ceil_div(exact.numerator, exact.denominator)
    return floor_div(exact.numerator, exact.denominator)
