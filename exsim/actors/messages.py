"""Requests that travel over the network to the exchange actor, and what comes back.

Small mutable-slots attrs classes (a frozen attrs class costs about 3x as much
to build, see ../shared/bench/README.md); treat them as immutable.  The time a
message was sent, its sender and the sender's sequence number travel in the
network's heap key, not in the message.
"""

from __future__ import annotations

import attrs

from exsim.core.events import Event
from exsim.core.orders import GTC, LIMIT


@attrs.define(slots=True)
class Submit:
    acct: int
    sym: int
    oid: int
    side: int
    qty: int
    price: int | None = None
    order_type: int = LIMIT
    tif: int = GTC
    reduce_only: bool = False
    stp: int | None = None


@attrs.define(slots=True)
class Cancel:
    acct: int
    sym: int
    oid: int


@attrs.define(slots=True)
class Amend:
    acct: int
    sym: int
    oid: int
    price: int
    qty: int


@attrs.define(slots=True)
class SetLeverage:
    acct: int
    sym: int
    leverage: int


@attrs.define(slots=True)
class Liquidate:
    """From the liquidator: take this position over into ``to`` (the insurance fund that
    covers ``sym``, or the vault, -2; ``None``: that fund); the exchange re-checks it.
    With ``into_book``, the part taken over goes straight to the book as a liquidation
    order, as far as ``tolerance`` (ppm) worse while ``budget`` atoms pay for it."""

    acct: int
    sym: int
    to: int | None = None
    into_book: bool = False
    tolerance: int = 0
    budget: int = 0


@attrs.define(slots=True)
class Deleverage:
    """From the liquidator: ADL ``sym``'s fund's position in ``sym``.  ``price`` (ticks):
    ``None``, the fund's entry as the core finds it when the request is served; a price
    given must be that same one (``ExchangeCore.adl``)."""

    sym: int
    policy: str
    price: int | None = None


@attrs.define(slots=True)
class Socialize:
    """From the liquidator: spread the booked deficit of ``sym``'s fund (``clawback`` or
    ``oi_funding``); with ``settle``, its position in ``sym`` is settled at the mark first."""

    sym: int
    policy: str
    settle: bool = False


@attrs.define(slots=True)
class RiskUpdate:
    """From the exchange to the liquidator, once per instant when marks or positions moved.

    ``updates`` are ``(acct, sym, qty, liquidation price or None)`` for every
    position touched.  Per symbol: ``funds`` the account of the insurance fund that
    covers it (all -1 when the fund is shared), ``fund_qty``/``fund_cost`` that
    fund's position in it, ``fund_cash`` that fund's wallet, ``takeovers`` how many
    ``Liquidate`` requests in it the exchange has served so far (so the liquidator
    knows which of its takeovers this state already shows).
    """

    at: int
    marks: list[int | None]
    updates: list[tuple[int, int, int, int | None]]
    funds: list[int]
    fund_qty: list[int]
    fund_cost: list[int]
    fund_cash: list[int]
    vault_equity: int = 0
    takeovers: list[int] = attrs.Factory(list)
    vault_qty: list[int] = attrs.Factory(list)  # the vault's position per symbol


@attrs.define(slots=True)
class SetMark:
    """From the oracle: control plane, applied on arrival rather than queued behind orders.

    ``index`` (quote currency) rides along so that market-data snapshots show it, and
    ``index_ticks`` (rounded to the tick; 0: none) so that the MARK event records it.
    """

    sym: int
    price: int
    index: float | None = None
    index_ticks: int = 0


@attrs.define(slots=True)
class SettleFunding:
    """From the funding actor: control plane; ``rate`` in 1e-8 units."""

    sym: int
    rate: int


@attrs.define(slots=True)
class Events:
    """Core events produced at simulated time ``at`` (ns), to an account owner or the recorder."""

    at: int
    events: list[Event]


Request = Submit | Cancel | Amend | SetLeverage | Liquidate | Deleverage | Socialize
