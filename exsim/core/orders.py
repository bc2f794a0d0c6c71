"""Order vocabulary: sides, order types, time in force, self-trade prevention, reasons.

Each enum is an ``IntEnum`` so that events carry plain ints (cheap to build,
cheap to compare, stable in the event log) while code and reports can turn
them back into names.  Hot paths compare against the module-level int
constants below rather than enum attributes, which cost a class-attribute
lookup each time.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class Side(IntEnum):
    BUY = 0
    SELL = 1


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1


class Tif(IntEnum):
    """Time in force of a limit order (market orders are always IOC)."""

    GTC = 0  # rest until filled or cancelled
    IOC = 1  # fill what is possible now, cancel the rest
    FOK = 2  # fill entirely now or not at all
    POST_ONLY = 3  # rest only; rejected if it would take liquidity (Binance "GTX")


class Stp(IntEnum):
    """Self-trade prevention: what happens when a taker meets its own account's maker."""

    NONE = 0  # trade with yourself (a wash trade)
    CANCEL_TAKER = 1  # cancel the rest of the incoming order; the resting one stays
    CANCEL_MAKER = 2  # cancel the resting order and keep matching
    CANCEL_BOTH = 3  # cancel both


class Reject(IntEnum):
    """Why a request was refused.  A rejected request leaves the state unchanged."""

    BAD_QTY = 1  # zero, negative, non-integer or off the lot grid
    BAD_PRICE = 2  # zero, negative, non-integer or off the tick grid
    UNKNOWN_ACCOUNT = 3
    UNKNOWN_SYMBOL = 4
    INSUFFICIENT_MARGIN = 5
    REDUCE_ONLY_WOULD_INCREASE = 6
    POST_ONLY_WOULD_CROSS = 7
    UNKNOWN_ORDER = 8  # cancel/amend of an order that is not resting (or not yours)
    DUPLICATE_ORDER_ID = 9
    RISK_LIMIT = 10  # the position would exceed the notional allowed at its leverage
    BAD_LEVERAGE = 11
    BAD_REQUEST = 12  # malformed field (unknown side, type, time in force, STP mode)
    NO_MARK_PRICE = 13  # market order or margin check before the symbol has a mark
    BAD_AMOUNT = 14  # deposit/withdrawal amount not a positive int, or more than available
    POSITION_OR_ORDERS_OPEN = 15  # margin mode change while a position or orders exist
    NOT_LIQUIDATABLE = 16  # the position still meets its maintenance margin
    FUND_NOT_SHORT = 17  # ADL asked while the insurance fund can still cover its positions
    NO_POSITION = 18
    NO_COUNTERPARTY = 19  # ADL: no opposite position that would close in profit at the price


class CancelReason(IntEnum):
    """Why (part of) an order left the book or never rested."""

    USER = 1
    IOC_REMAINDER = 2  # IOC and market orders: the part that found no liquidity
    FOK_UNFILLABLE = 3
    STP_TAKER = 4
    STP_MAKER = 5
    REDUCE_ONLY_TRIM = 6  # position shrank below the reduce-only orders' size
    AMEND_DOWN = 7  # quantity removed by an amend
    LIQUIDATION = 8  # the account's orders, cancelled when it was liquidated
    DELEVERAGED = 9  # the account's orders in a symbol where it was auto-deleveraged


BUY: Final = 0
SELL: Final = 1
LIMIT: Final = 0
MARKET: Final = 1
GTC: Final = 0
IOC: Final = 1
FOK: Final = 2
POST_ONLY: Final = 3
STP_NONE: Final = 0
STP_CANCEL_TAKER: Final = 1
STP_CANCEL_MAKER: Final = 2
STP_CANCEL_BOTH: Final = 3

# Flags stored on a resting order.
FLAG_POST_ONLY: Final = 1
FLAG_REDUCE_ONLY: Final = 2
