"""Fixed-point units: integer ticks, lots and cash atoms, and the contract math.

All money in exsim is integer.  A symbol states its ``tick_size`` (price step),
``lot_size`` (quantity step) and ``cash_atom`` (the smallest unit of the quote
currency that the ledger keeps) as decimals; everything downstream works on
ints:

* a price is a number of ticks,
* a quantity is a number of lots,
* cash is a number of atoms.

The value of ``qty`` lots at ``price`` ticks must be a whole number of atoms,
so ``tick_size * lot_size`` must be a multiple of ``cash_atom``; construction
refuses any other combination.  The factor ``atoms_per_tick_lot`` (called
``k`` in hot paths) is then an exact integer and a linear contract's notional
is ``price * qty * k``.

Rates (fees, margin rates) are integers in parts per million (``PPM``); a
rate that needs more precision than 1e-6 is refused rather than rounded.

Rounding always favours the exchange: money the exchange is owed is rounded
up, money it pays out is rounded down.  The helpers :func:`ceil_div` and
:func:`floor_div` make the direction explicit at each call site.

This module is the one place that knows the contract is linear
(USDT-margined): :class:`LinearContract` turns (price, qty) into cash.  An
inverse (coin-margined) contract would be a second class with the same
methods, valuing a position as ``qty * contract_size / price``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

import attrs

PPM: Final = 1_000_000
"""Scale of every rate: 1 ppm = 1e-6 = 0.0001%."""

MAX_EXPONENT: Final = 100
"""A decimal is refused beyond 1e100 or below 1e-100 in size (zero aside)."""


class UnitsError(ValueError):
    """A decimal value does not fit the fixed-point grid it must live on."""


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for ints, ``b > 0``; exact for any size."""
    return -((-a) // b)


def floor_div(a: int, b: int) -> int:
    """``floor(a / b)`` for ints, ``b > 0``; spelled out for symmetry with :func:`ceil_div`."""
    return a // b


def to_decimal(value: object, what: str) -> Decimal:
    """Parse a config or user value as an exact decimal.

    Floats are accepted through their shortest repr (``0.1`` -> ``Decimal("0.1")``),
    which is what a user writing ``0.1`` in TOML means; strings and ints are exact.
    """
    if isinstance(value, bool):
        raise UnitsError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        d = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise UnitsError(f"{what}: {value!r} is not a number") from None
    else:
        raise UnitsError(f"{what}: expected a number, got {value!r}")
    if not d.is_finite():
        raise UnitsError(f"{what}: {value!r} is not a finite number")
    if d and not -MAX_EXPONENT <= d.adjusted() <= MAX_EXPONENT:
        # beyond any market, and beyond what Decimal arithmetic on it can hold (Overflow)
        raise UnitsError(f"{what}: {value!r} is out of range (1e-{MAX_EXPONENT} to "
                         f"1e{MAX_EXPONENT} in size)")
    return d


def scaled(value: object, step: Decimal, what: str) -> int:
    """``value / step`` as an exact int; refuse a value that is not a multiple of ``step``."""
    d = to_decimal(value, what)
    q = d / step
    if q != q.to_integral_value():
        raise UnitsError(f"{what}: {d} is not a multiple of {step}")
    return int(q)


def rate_ppm(value: object, what: str) -> int:
    """A decimal rate (``0.0004`` = 0.04%) as integer parts per million."""
    return scaled(value, Decimal(1) / PPM, what)


def _tick_size(v: object) -> Decimal:
    return to_decimal(v, "tick_size")


def _lot_size(v: object) -> Decimal:
    return to_decimal(v, "lot_size")


def _cash_atom(v: object) -> Decimal:
    return to_decimal(v, "cash_atom")


@attrs.frozen
class LinearContract:
    """A USDT-margined (linear) perpetual's fixed-point grid and cash math.

    ``k = atoms_per_tick_lot`` is the cash value, in atoms, of one lot moving
    one tick; notional, PnL and cost basis are all ``price * qty * k``.
    """

    tick_size: Decimal = attrs.field(converter=_tick_size)
    lot_size: Decimal = attrs.field(converter=_lot_size)
    cash_atom: Decimal = attrs.field(converter=_cash_atom)
    k: int = attrs.field(init=False)

    @k.default
    def _k(self) -> int:
        for name in ("tick_size", "lot_size", "cash_atom"):
            if getattr(self, name) <= 0:
                raise UnitsError(f"{name} must be > 0, got {getattr(self, name)}")
        value = self.tick_size * self.lot_size / self.cash_atom
        if value != value.to_integral_value():
            raise UnitsError(
                f"tick_size x lot_size = {self.tick_size * self.lot_size} is not a whole "
                f"number of cash atoms ({self.cash_atom}); choose a smaller cash_atom"
            )
        return int(value)

    # -- conversions between decimals and the integer grid ---------------------------------
    def price_to_ticks(self, price: object) -> int:
        """Decimal price -> ticks; :class:`UnitsError` if off the tick grid."""
        return scaled(price, self.tick_size, "price")

    def qty_to_lots(self, qty: object) -> int:
        """Decimal quantity -> lots; :class:`UnitsError` if off the lot grid."""
        return scaled(qty, self.lot_size, "quantity")

    def cash_to_atoms(self, cash: object) -> int:
        """Decimal cash -> atoms; :class:`UnitsError` if finer than one atom."""
        return scaled(cash, self.cash_atom, "cash")

    def ticks_to_price(self, ticks: int) -> Decimal:
        return ticks * self.tick_size

    def lots_to_qty(self, lots: int) -> Decimal:
        return lots * self.lot_size

    def atoms_to_cash(self, atoms: int) -> Decimal:
        return atoms * self.cash_atom

    # -- contract math ------------------------------------------------------------------------
    def notional(self, price: int, qty: int) -> int:
        """Cash value in atoms of ``qty`` lots at ``price`` ticks (signed with qty)."""
        return price * qty * self.k
