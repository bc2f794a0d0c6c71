"""Funding: premium index, funding rate, and the exact split of a settlement.

Formulas from ../shared/reference/mechanics.md section 1.1 (Binance, a copy of
BitMEX's design):

    premium  P = [max(0, impact_bid - I) - max(0, I - impact_ask)] / I
    rate     F = avg(P) + clamp(interest - avg(P), -0.05%, +0.05%), then capped

Rates are integers in units of 1e-8 (:data:`RATE_SCALE`), the precision
exchanges publish.  A settlement pays ``|qty| x mark x k x F`` per position:
longs pay when ``F > 0``, shorts receive.  Payers' amounts are rounded up and
receivers' down, so the exchange never pays out more than it collects; the
difference (a few atoms) goes to the fee pool, which keeps cash conserved to
the atom.
"""

from __future__ import annotations

import math

RATE_SCALE = 100_000_000
"""Funding rates are ints in units of 1e-8 (0.01% = 10,000)."""


def premium(impact_bid: float, impact_ask: float, index: float) -> float:
    """One premium-index sample (a fraction, e.g. 0.0005 = 0.05%)."""
    if index <= 0:
        raise ValueError("index must be > 0")
    return (max(0.0, impact_bid - index) - max(0.0, index - impact_ask)) / index


def impact_price(levels: list[tuple[float, float]], notional: float) -> float | None:
    """Average fill price for ``notional`` of quote against ``levels`` [(price, qty)], best first.

    ``None`` if the levels are empty; if they hold less than ``notional``, the
    average over what they hold (a thin book is still a price).
    """
    filled_qty = spent = 0.0
    for price, qty in levels:
        take = min(qty, (notional - spent) / price)
        filled_qty += take
        spent += take * price
        if spent >= notional * (1 - 1e-12):
            break
    return spent / filled_qty if filled_qty > 0 else None


def funding_rate(avg_premium: float, interest: float = 0.0001, clamp: float = 0.0005,
                 cap: float = 0.03) -> int:
    """The rate for one interval, in 1e-8 units, rounded to nearest (ties to even)."""
    if clamp < 0 or cap < 0:
        raise ValueError("clamp and cap must be >= 0")
    rate = avg_premium + min(max(interest - avg_premium, -clamp), clamp)
    rate = min(max(rate, -cap), cap)
    if not math.isfinite(rate):
        raise ValueError(f"funding rate is not finite: {rate}")
    return round(rate * RATE_SCALE)


def payment(qty: int, mark: int, k: int, rate: int) -> int:
    """Signed cash flow of one position (atoms): < 0 pays, > 0 receives; rounded against it."""
    # longs pay a positive rate; flooring rounds a payment up and a receipt down
    return (-qty * mark * k * rate) // RATE_SCALE
