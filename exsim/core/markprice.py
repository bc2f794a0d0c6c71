"""Mark-price methods (../shared/reference/mechanics.md 1.1-1.2), as pure functions.

Prices here are floats in quote currency; the oracle rounds the result to the
tick.  None of them follows the last trade alone: the liquidation engine
listens to the mark, and a thin print must not liquidate anyone.

* ``ema_basis``: index + EMA(mid - index), clamped to index x (1 +/- clamp).
* ``median3`` (Binance): median(Price1, Price2, last) with
  Price1 = index x (1 + last funding rate x time to funding / interval) and
  Price2 = index + MA(basis).
* ``fair`` (BitMEX): index x (1 + funding rate x time to funding / interval).
"""

from __future__ import annotations

import math


def ema_alpha(interval: float, halflife: float) -> float:
    """Weight of a new sample for an EMA with ``halflife``, sampled every ``interval``."""
    if interval <= 0 or halflife <= 0:
        raise ValueError("interval and half-life must be > 0")
    return 1 - math.exp(-math.log(2) * interval / halflife)


def clamp_to_index(price: float, index: float, clamp: float) -> float:
    band = index * clamp
    return min(max(price, index - band), index + band)


def funding_basis_price(index: float, rate: float, time_left_fraction: float) -> float:
    """BitMEX fair price / Binance Price1: the index carried by the pending funding."""
    return index * (1 + rate * time_left_fraction)


def median3(index: float, rate: float, time_left_fraction: float, basis_ma: float,
            last: float | None) -> float:
    """Binance's mark: the median of the funding price, index + MA(basis) and the last trade.

    Without a last trade yet, the median of the other two is their mean.
    """
    p1 = funding_basis_price(index, rate, time_left_fraction)
    p2 = index + basis_ma
    if last is None:
        return (p1 + p2) / 2
    return sorted((p1, p2, last))[1]
