"""The exchange actor: a single-server queue in front of the pure exchange core.

Requests (:class:`~exsim.actors.messages.Submit`, ``Cancel``, ``Amend``) arrive
through the network and wait in FIFO order; each takes ``service_ns`` of
simulated time, and its effect on the core happens when its service completes.
Under a burst (a crash) the queue grows, and orders, cancels and liquidation
orders meet a book that has moved while they waited: that is where slippage
comes from, not from a random number.  With ``service_ns == 0`` requests are
applied on arrival.

Mark prices from the oracle and funding settlements are control plane: applied
on arrival, not queued behind orders.

With a :class:`~exsim.actors.feed.MarketFeed`, the actor publishes a snapshot of
each symbol that changed at most once per ``feed_interval_ns``, on a timer
aligned to multiples of the interval.  Every ``account_snapshot_ns`` (0: never)
it records every account's positions and balances (ACCOUNT events, which also
reach each owner as its account stream).

After each instant's batch of messages the actor sends each account owner the
events that concern it (its private stream) and the recorder every event, one
message each, stamped with the time: all requests completed at one instant
share one simulated time, so batching them changes no timestamp.
The actor is a handler on the network (:meth:`Network.attach`), not a trio task:
the network calls :meth:`ExchangeActor.on_batch` with each instant's messages, so
the whole exchange is synchronous and an instant that only reaches it costs no
task switch (docs/architecture.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from exsim.actors.feed import MarketFeed, Snapshot
from exsim.actors.messages import (
    Amend,
    Cancel,
    Deleverage,
    Events,
    Liquidate,
    Request,
    RiskUpdate,
    SetLeverage,
    SetMark,
    SettleFunding,
    Socialize,
    Submit,
)
from exsim.actors.network import Network, Wake
from exsim.actors.recorder import Recorder
from exsim.core.accounts import position_liquidation_price
from exsim.core.book import INF
from exsim.core.engine import ExchangeCore
from exsim.core.events import (
    ACCEPTED,
    ADL,
    AMENDED,
    CANCELLED,
    DEPOSIT,
    FIELDS,
    FILL,
    FUNDING,
    FUNDING_RATE,
    ISOLATED_MARGIN,
    LEVERAGE,
    LIQUIDATION,
    MARK,
    REJECTED,
    SETTLEMENT,
    SOCIALIZED,
    Event,
)
from exsim.core.events import FUND as FUND_EVENT
from exsim.core.events import Request as RequestKind
from exsim.core.liquidation import VAULT
from exsim.core.spot import SpotCore
from exsim.rng import stream

FEED = "feed"  # token of the feed timer (service timers carry None)
ACCOUNTS = "accounts"  # token of the account-snapshot timer
# events after which the liquidator needs a position's new liquidation price
_RISK_KINDS = frozenset((FILL, DEPOSIT, FUNDING, LEVERAGE, ISOLATED_MARGIN, LIQUIDATION, ADL,
                         SOCIALIZED, FUND_EVENT, SETTLEMENT))
_LIQUIDATE = int(RequestKind.LIQUIDATE)
DEPTH = 5  # levels per side in a snapshot
MARKET_CHANGES = frozenset((ACCEPTED, FILL, CANCELLED, AMENDED, MARK))  # events with sym at [1]


_OWNER_FIELDS: dict[int, tuple[int, ...]] = {
    kind: tuple(i + 1 for i, name in enumerate(fields)
                if name in ("acct", "taker_acct", "maker_acct"))
    for kind, fields in FIELDS.items()
}


# where a kind's single account field is (0: none); FILL, the one kind with two, is apart
_ONE_OWNER: dict[int, int] = {kind: where[0] if where else 0
                              for kind, where in _OWNER_FIELDS.items() if len(where) <= 1}
assert set(_ONE_OWNER) == set(FIELDS) - {FILL}, "publish routes only FILL to two accounts"
assert _OWNER_FIELDS[FILL] == (5, 8), "publish reads FILL's accounts at 5 and 8"


def owners_of(event: Event) -> tuple[int, ...]:
    """The account ids an event concerns (its private-stream recipients), from FIELDS."""
    where = _OWNER_FIELDS[event[0]]
    if len(where) == 1:
        return (event[where[0]],)
    if not where:
        return ()
    a, b = event[where[0]], event[where[1]]
    return (a,) if a == b else (a, b)


class ExchangeActor:
    """See the module docstring.  ``owners`` maps account id -> actor id of its agent."""

    def __init__(self, core: ExchangeCore | SpotCore, net: Network, actor_id: int, *,
                 service_ns: int,
                 recorder: Recorder | None = None, feed: MarketFeed | None = None,
                 feed_interval_ns: int = 100_000_000, account_snapshot_ns: int = 0,
                 liquidator: int | None = None, adl_seed: int = 0,
                 adl_policy: str = "bitmex") -> None:
        if service_ns < 0:
            raise ValueError(f"service time must be >= 0 ns, got {service_ns}")
        if feed_interval_ns <= 0:
            raise ValueError(f"feed interval must be > 0 ns, got {feed_interval_ns}")
        self.core = core
        if isinstance(core, SpotCore) and (liquidator is not None or account_snapshot_ns > 0):
            raise ValueError("a spot venue has no liquidator and no account snapshots")
        self.net = net
        self.id = actor_id
        self.service_ns = service_ns
        self.recorder = recorder
        self.owners: dict[int, int] = {}
        net.attach(actor_id, self.on_batch)
        self.queue: deque[Request] = deque()
        self.busy = False
        self.max_queue = 0
        self.dropped = 0  # messages of a kind the exchange does not handle
        self.feed = feed
        self.feed_interval_ns = feed_interval_ns
        self.account_snapshot_ns = account_snapshot_ns
        if account_snapshot_ns > 0:
            net.wake(actor_id, account_snapshot_ns, ACCOUNTS)
        self.feed_pending = False
        self.dirty: set[int] = set()
        # per symbol, by the symbol's index in the run (a spot venue's follows the perps')
        width = max(m.index for m in core.markets) + 1
        self.market_at = {m.index: m for m in core.markets}
        self.last_price: list[int | None] = [None] * width
        self.index: list[float | None] = [None] * width
        self.funding_rate: list[int | None] = [None] * width
        self.liquidator = liquidator
        self.adl_rng = stream(adl_seed, "adl")  # dYdX-style pseudo-random ADL start
        self.adl_policy = adl_policy  # the ranking behind the ADL lights in account snapshots
        self.takeovers = [0] * len(core.markets)  # Liquidate requests served, per symbol
        self._appliers: dict[type, Callable[[Any], None]] = {
            Submit: self._submit, Cancel: self._cancel, Amend: self._amend,
            SetLeverage: self._set_leverage, Liquidate: self._liquidate,
            Deleverage: self._deleverage, Socialize: self._socialize}

    @property
    def request_kinds(self) -> tuple[type, ...]:
        """The request types it serves (queued behind each other, one service time each)."""
        return tuple(self._appliers)

    def take_unprocessed(self) -> list[Any]:
        """For the end of a run: the requests it never processed, in the queue or still in
        flight to it (taken off the network, with any other message in flight to it)."""
        arriving = [m for m in self.net.take_pending(self.id) if type(m) in self._appliers]
        return [*self.queue, *arriving]

    @property
    def perp(self) -> ExchangeCore | None:
        """The perpetuals' core (marks, funding, liquidation, account snapshots), or None
        for a spot venue, whose core serves only orders.  (Read from ``core`` each time:
        a test may wrap the core it serves.)"""
        core = self.core
        return None if isinstance(core, SpotCore) else core

    def route(self, acct: int, actor_id: int) -> None:
        """Send account ``acct``'s private events to ``actor_id``."""
        self.owners[acct] = actor_id

    def on_batch(self, batch: list[Any]) -> None:
        """One instant's messages, in key order (the network calls this at the instant)."""
        # without a service time a request is applied on arrival: straight to its method
        direct = self._appliers if self.service_ns == 0 else {}
        on_message = self._on_message
        for msg in batch:
            apply = direct.get(type(msg))
            if apply is not None:
                apply(msg)
            else:
                on_message(msg)
        self.publish()  # one batch of events per instant for each recipient

    def _on_message(self, msg: Any) -> None:
        kind = type(msg)
        if kind in self._appliers:  # a request: queued behind the others
            if self.service_ns == 0:
                self._apply(msg)
                return
            self.queue.append(msg)
            if len(self.queue) > self.max_queue:
                self.max_queue = len(self.queue)
            if not self.busy:
                self.busy = True
                self.net.wake(self.id, self.net.now + self.service_ns)
        elif kind is Wake:
            if msg.token == FEED:
                self._publish_feed()
                return
            if msg.token == ACCOUNTS:
                assert self.perp is not None  # set only for a perpetuals' core
                self.perp.snapshot_accounts(self.adl_policy)
                self.net.wake(self.id, self.net.now + self.account_snapshot_ns, ACCOUNTS)
                return
            self._apply(self.queue.popleft())
            if self.queue:
                self.net.wake(self.id, self.net.now + self.service_ns)
            else:
                self.busy = False
        elif kind is SetMark and self.perp is not None:
            if self.perp.set_mark(msg.sym, msg.price, msg.index_ticks):
                self.index[msg.sym] = msg.index
        elif kind is SettleFunding and self.perp is not None:
            self.perp.settle_funding(msg.sym, msg.rate)
        else:
            self.dropped += 1  # a stray message must not take the exchange down

    def _apply(self, req: Request) -> None:
        self._appliers[type(req)](req)

    def _submit(self, req: Submit) -> None:
        self.core.submit(req.acct, req.sym, req.oid, req.side, req.qty, req.price,
                         req.order_type, req.tif, req.reduce_only, req.stp)

    def _cancel(self, req: Cancel) -> None:
        self.core.cancel(req.acct, req.sym, req.oid)

    def _amend(self, req: Amend) -> None:
        self.core.amend(req.acct, req.sym, req.oid, req.price, req.qty)

    def _set_leverage(self, req: SetLeverage) -> None:
        self.core.set_leverage(req.acct, req.sym, req.leverage)

    def _liquidate(self, req: Liquidate) -> None:
        if self.perp is None:
            self.dropped += 1
            return
        self.perp.liquidate(req.acct, req.sym, req.to, req.into_book, req.tolerance, req.budget)
        if type(req.sym) is int and 0 <= req.sym < len(self.takeovers):
            self.takeovers[req.sym] += 1

    def _deleverage(self, req: Deleverage) -> None:
        if self.perp is None:
            self.dropped += 1
        else:
            self.perp.adl(req.sym, req.policy, req.price, self.adl_rng)

    def _socialize(self, req: Socialize) -> None:
        if self.perp is None:
            self.dropped += 1
        else:
            self.perp.socialize(req.sym, req.policy, req.settle)

    def publish(self) -> None:
        """Route the core's new events: each owner its own, the recorder all."""
        events = self.core.events
        if not events:
            return
        now = self.net.now
        per_owner: dict[int, list[Event]] = {}
        owners = self.owners
        dirty = self.dirty
        one_owner = _ONE_OWNER
        last_price = self.last_price
        for e in events:  # one pass, no calls but dict and set methods: a hot loop
            kind = e[0]
            if kind == FILL:  # the taker's and the maker's, once if they share an owner
                dirty.add(e[1])
                last_price[e[1]] = e[2]
                owner = owners.get(e[5])
                if owner is not None:
                    mine = per_owner.get(owner)
                    if mine is None:
                        per_owner[owner] = [e]
                    else:
                        mine.append(e)
                maker = owners.get(e[8])
                if maker is not None and maker != owner:
                    mine = per_owner.get(maker)
                    if mine is None:
                        per_owner[maker] = [e]
                    else:
                        mine.append(e)
                continue
            if kind in MARKET_CHANGES:
                dirty.add(e[1])
            elif kind == FUNDING_RATE:
                self.funding_rate[e[1]] = e[2]
            field = one_owner[kind]
            if field:
                owner = owners.get(e[field])
                if owner is not None:
                    mine = per_owner.get(owner)
                    if mine is None:
                        per_owner[owner] = [e]
                    else:
                        mine.append(e)
        for owner, mine in per_owner.items():
            self.net.send(self.id, owner, Events(now, mine))
        if self.recorder is not None:
            self.recorder.absorb(Events(now, events))
        if self.liquidator is not None:
            self._send_risk(events)
        events.clear()
        self._schedule_feed()

    def _send_risk(self, events: list[Event]) -> None:
        """Tell the liquidator the marks, the fund, and touched accounts' liquidation prices."""
        core = self.perp
        assert core is not None  # a liquidator is wired to the perpetuals' exchange only
        touched: dict[int, None] = {}
        marks_moved = False
        for e in events:
            kind = e[0]
            if kind == MARK:
                marks_moved = True
            elif kind in _RISK_KINDS or (kind == REJECTED and e[1] == _LIQUIDATE):
                # a refused takeover is news too: the liquidator may ask again later
                for owner in owners_of(e):
                    touched[owner] = None
        for house in (*core.funds, VAULT):
            touched.pop(house, None)
        if not touched and not marks_moved:
            return
        updates = []
        for acct_id in touched:
            account = core.accounts.get(acct_id)
            if account is None:
                continue
            for sym, pos in account.positions.items():
                lp = position_liquidation_price(account, sym, core.markets) if pos.qty else None
                updates.append((acct_id, sym, pos.qty, lp))
        fund_qty = []
        fund_cost = []
        fund_cash = []
        for sym, fund_id in enumerate(core.fund_ids):  # each symbol's fund
            fund = core.accounts[fund_id]
            held = fund.positions.get(sym)
            fund_qty.append(0 if held is None else held.qty)
            fund_cost.append(0 if held is None else held.cost)
            fund_cash.append(fund.wallet)
        assert self.liquidator is not None
        vault = core.accounts.get(VAULT)
        vault_held = [] if vault is None else [
            p.qty if (p := vault.positions.get(sym)) is not None else 0
            for sym in range(len(core.markets))]
        self.net.send(self.id, self.liquidator, RiskUpdate(
            self.net.now, [m.mark for m in core.markets], updates, core.fund_ids, fund_qty,
            fund_cost, fund_cash, 0 if vault is None else core.account_equity(VAULT),
            list(self.takeovers), vault_held))

    def _publish_feed(self) -> None:
        """Snapshot every symbol that changed since the last snapshot."""
        self.feed_pending = False
        if self.feed is None:
            return
        now = self.net.now
        for sym in sorted(self.dirty):
            m = self.market_at[sym]
            book = m.book
            bids, asks = book.depth(DEPTH)
            self.feed.publish(Snapshot(
                now, sym, book.best_bid if book.best_bid > -INF else None,
                book.best_ask if book.best_ask < INF else None, bids, asks,
                self.last_price[sym], m.mark, self.index[sym], self.funding_rate[sym]))
        self.dirty.clear()

    def _schedule_feed(self) -> None:
        if self.feed is not None and self.dirty and not self.feed_pending:
            step = self.feed_interval_ns
            self.feed_pending = True
            self.net.wake(self.id, (self.net.now // step + 1) * step, FEED)
