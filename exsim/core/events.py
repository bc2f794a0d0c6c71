"""What the exchange core reports: one flat tuple of ints per event.

Events are plain tuples because the core emits one or more per order and a
tuple costs a fraction of any object to build; the first field is the kind,
the layout of the rest is :data:`FIELDS`.  :func:`as_dict` names the fields
for people and for the recorder.  Events carry no time: the actor that drives
the core stamps each batch with the simulated time it was processed at.

Quantity accounting, which tests and the recorder check: for every order,
``ACCEPTED.qty + sum(AMENDED.leaves - AMENDED.old_leaves)`` equals the lots in
its ``FILL`` events plus those in its ``CANCELLED`` events plus what still rests.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final, TypeAlias

from exsim.core.orders import CancelReason, OrderType, Reject, Side, Stp, Tif

Event: TypeAlias = tuple[int, ...]


class Kind(IntEnum):
    ACCEPTED = 1
    REJECTED = 2
    FILL = 3
    CANCELLED = 4
    AMENDED = 5
    DEPOSIT = 6
    MARK = 7
    LEVERAGE = 8
    ISOLATED_MARGIN = 9
    FUNDING = 10
    FUNDING_RATE = 11
    ACCOUNT = 12
    LIQUIDATION = 13
    ADL = 14
    FUND = 15
    SOCIALIZED = 16
    VAULT_TRANSFER = 17
    SPOT_DEPOSIT = 18
    ADL_ROUND = 19
    SETTLEMENT = 20


class Request(IntEnum):
    """Which request a ``REJECTED`` event refuses."""

    SUBMIT = 1
    CANCEL = 2
    AMEND = 3
    DEPOSIT = 4
    WITHDRAW = 5
    MARK = 6
    LEVERAGE = 7
    MARGIN_MODE = 8
    ISOLATED_MARGIN = 9
    FUNDING = 10
    LIQUIDATE = 11
    ADL = 12
    FUND = 13
    SOCIALIZE = 14


ACCEPTED: Final = 1
REJECTED: Final = 2
FILL: Final = 3
CANCELLED: Final = 4
AMENDED: Final = 5
DEPOSIT: Final = 6
MARK: Final = 7
LEVERAGE: Final = 8
ISOLATED_MARGIN: Final = 9
FUNDING: Final = 10
FUNDING_RATE: Final = 11
ACCOUNT: Final = 12
LIQUIDATION: Final = 13
ADL: Final = 14
FUND: Final = 15
SOCIALIZED: Final = 16
VAULT_TRANSFER: Final = 17
SPOT_DEPOSIT: Final = 18
ADL_ROUND: Final = 19
SETTLEMENT: Final = 20

FIELDS: Final[dict[int, tuple[str, ...]]] = {
    # price is 0 for a market order; flags = post_only | reduce_only << 1 | stp << 2
    ACCEPTED: ("sym", "oid", "acct", "side", "price", "qty", "type", "tif", "flags"),
    # oid is -1 where the request names no order; sym -1 where it names no symbol
    REJECTED: ("request", "sym", "oid", "acct", "reason"),
    # realized PnL and fees in atoms; maker_fee < 0 is a rebate
    FILL: ("sym", "price", "qty", "taker_oid", "taker_acct", "taker_side", "maker_oid",
           "maker_acct", "taker_fee", "maker_fee", "taker_realized", "maker_realized"),
    CANCELLED: ("sym", "oid", "acct", "qty", "reason"),
    AMENDED: ("sym", "oid", "acct", "price", "leaves", "old_leaves", "kept_priority"),
    # amount < 0 is a withdrawal
    DEPOSIT: ("acct", "amount"),
    # the mark, and the index it was made from (ticks, rounded; 0: none given)
    MARK: ("sym", "price", "index"),
    LEVERAGE: ("sym", "acct", "leverage", "isolated"),
    # amount > 0 moves cash from the wallet into the isolated position, < 0 back
    ISOLATED_MARGIN: ("sym", "acct", "amount"),
    # one per position at a settlement: amount < 0 paid, > 0 received (atoms)
    FUNDING: ("sym", "acct", "amount"),
    # once per settlement: rate in 1e-8 units, the mark used, and what the fee pool kept:
    # the atoms of rounding, less (``rounding`` < 0) what it paid for a house account
    # that could not pay its funding
    FUNDING_RATE: ("sym", "rate", "mark", "rounding"),
    # periodic snapshot, one per position (sym -1: an account without any): atoms and lots
    ACCOUNT: ("acct", "sym", "qty", "cost", "isolated_margin", "wallet", "available",
              "adl_quantile"),
    # ``taken_by`` (the fund, -1, or the vault, -2) took over ``qty`` lots (all or part
    # of the position) at ``price``: the bankruptcy price, or the mark under the
    # ``capped``/``none`` fee policies; realized is the liquidated account's PnL on the
    # transfer, taker_realized the taker-over's (non-zero when it held the opposite side)
    LIQUIDATION: ("sym", "acct", "qty", "price", "mark", "realized", "taken_by",
                  "taker_realized"),
    # ``acct``'s position closed by ``qty`` lots (signed, its side) against the fund at
    # ``price``; realized PnL of each side
    ADL: ("sym", "acct", "qty", "price", "realized", "fund_realized"),
    # cash into the fund (> 0: seed, or a liquidated account's leftover margin or capped
    # liquidation fee; < 0: the fund paying a flat account's negative equity, its bad debt)
    FUND: ("sym", "acct", "amount"),
    # the account paid ``amount`` atoms of the fund's deficit; ``qty`` its position then
    SOCIALIZED: ("sym", "acct", "amount", "qty"),
    # cash into the backstop vault: its capital (acct -2) or a liquidated account's leftover
    # margin or fee
    VAULT_TRANSFER: ("sym", "acct", "amount"),
    # cash (atoms) and coin (lots) paid into an account at a spot venue (sym: the venue's)
    SPOT_DEPOSIT: ("sym", "acct", "cash", "coin"),
    # one ADL round, before its ADL events: the fund's equity at the trigger's valuation
    # (atoms, < 0 unless the round closes what is over the fund's position cap) and the
    # lots the round must close
    ADL_ROUND: ("sym", "fund", "equity", "lots"),
    # a position's PnL at ``price`` (the mark) booked into its account's cash, its cost
    # basis moved by as much: a fund's loss settled before a socialized-loss round
    SETTLEMENT: ("sym", "acct", "amount", "price"),
}

_ENUM_FIELDS: Final[dict[str, type[IntEnum]]] = {
    "side": Side,
    "taker_side": Side,
    "type": OrderType,
    "tif": Tif,
}


def as_dict(event: Event) -> dict[str, object]:
    """Name an event's fields; enum-valued fields become their names."""
    kind = event[0]
    out: dict[str, object] = {"kind": Kind(kind).name}
    for name, value in zip(FIELDS[kind], event[1:], strict=True):
        enum = _ENUM_FIELDS.get(name)
        if enum is not None:
            out[name] = enum(value).name
        elif name == "reason":
            out[name] = (Reject if kind == REJECTED else CancelReason)(value).name
        elif name == "request":
            out[name] = Request(value).name
        else:
            out[name] = value
    return out


def stp_of(flags: int) -> int:
    return (flags >> 2) & 3


__all__ = ["FIELDS", "Event", "Kind", "Request", "Stp", "as_dict", "stp_of"]
