"""The public Agent API: subclass :class:`Agent`, implement ``async def run(self, ctx)``.

An agent is one trio task (or, with ``trio_task = False``, a coroutine the network
resumes at its wake-ups) with its own account, its own RNG stream and its own
inbox.  Everything it does goes through ``ctx``:

* orders: :meth:`Context.submit`, :meth:`Context.cancel`, :meth:`Context.amend`,
  :meth:`Context.set_leverage`
  (they travel to the exchange with the network's latency and return at once;
  results arrive later on the agent's private stream);
* time: :attr:`Context.now` and ``await`` :meth:`Context.sleep` (simulated time,
  scheduled through the network so that wake-ups are ordered with data);
* market data: :meth:`Context.market`, the conflated snapshot visible now;
* its own stream: fills, accepts, cancels, amends and rejects of its account,
  folded into :attr:`Context.position` (lots per symbol),
  :attr:`Context.open_orders` (order id -> open lots), :attr:`Context.balance`
  (atoms: deposits, fees, realized PnL, funding), :attr:`Context.available` and
  :attr:`Context.adl_quantile` (from the periodic account snapshot) and kept in
  :attr:`Context.events` until the agent drains them;
* :attr:`Context.rng`, :attr:`Context.params` (the config's ``params`` table).
"""

from __future__ import annotations

import random
import types
from collections import deque
from collections.abc import Callable, Coroutine, Generator, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Protocol

import trio

from exsim.actors.feed import MarketFeed, Snapshot
from exsim.actors.messages import Amend, Cancel, Events, SetLeverage, Submit
from exsim.actors.network import Network, Wake
from exsim.core.events import (
    ACCEPTED,
    ACCOUNT,
    AMENDED,
    CANCELLED,
    DEPOSIT,
    FILL,
    FUNDING,
    REJECTED,
    SPOT_DEPOSIT,
    Event,
)
from exsim.core.orders import BUY, GTC, LIMIT
from exsim.core.units import LinearContract
from exsim.timeunits import NS_PER_S


class Suspended:
    """What a stepped agent's ``ctx.sleep`` yields to the network that resumes it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "exsim.agent.SUSPENDED"


SUSPENDED = Suspended()


@types.coroutine
def _suspend() -> Generator[Suspended, None, None]:
    yield SUSPENDED


class Agent:
    """Base class of every strategy.  Override :meth:`run`; it may return to stop the agent.

    ``trio_task`` says how the agent runs.  True (the default): as its own trio task,
    free to await anything trio offers.  False: ``run`` awaits nothing but
    ``ctx.sleep``, and the network resumes it directly at each wake-up, in the same
    instant and order, with no trio task switch (a wake-up then costs a few times
    less: docs/performance.md).  The log is the same either way.  Such an agent that
    awaits anything else is stopped as crashed, with a message saying so.
    """

    trio_task: ClassVar[bool] = True

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """Validate the config's ``params`` table before the run starts.

        Raise ``ValueError`` with a message naming the bad key; ``exsim validate``
        and ``exsim run`` report it with the agent's place in the config.  The
        default accepts anything.
        """
        return params

    async def run(self, ctx: Context) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} must implement `async def run(self, ctx)`")


class _Sleep(Protocol):
    def __call__(self, seconds: float) -> Coroutine[Any, Any, None]:
        """``await ctx.sleep(seconds)``: simulated seconds; own events meanwhile are folded in."""
        ...


class _Market(Protocol):
    def __call__(self, sym: int = 0) -> Snapshot | None:
        """The latest market snapshot visible now (``None`` before the first one)."""
        ...


class _Submit(Protocol):
    def __call__(self, side: int, qty: int, price: int | None = None, *,
                 order_type: int = LIMIT, tif: int = GTC, reduce_only: bool = False,
                 sym: int = 0) -> int:
        """Send an order (prices in ticks, quantities in lots); returns its order id."""
        ...


class _Cancel(Protocol):
    def __call__(self, oid: int, sym: int = 0) -> None:
        """Cancel an order (a CANCELLED or REJECTED event answers)."""
        ...


class _Amend(Protocol):
    def __call__(self, oid: int, price: int, qty: int, sym: int = 0) -> None:
        """Change an order's price and quantity (an AMENDED or REJECTED event answers)."""
        ...


class _SetLeverage(Protocol):
    def __call__(self, leverage: int, sym: int = 0) -> None:
        """Ask for a new leverage on ``sym`` (a LEVERAGE or REJECTED event answers)."""
        ...


class Context:
    """What an agent can see and do; built by the simulation, one per agent.

    It holds no reference to the network, the feed or the exchange's id as an
    attribute: they live in the closures :func:`_wire` gives it (``sleep``,
    ``market``, ``submit``, ``cancel``, ``amend``, ``set_leverage``; their signatures
    and docs are the protocols above), each sending only this agent's own requests as
    its own account (``account`` and ``agent_id`` are read-only).  That keeps a
    strategy from acting as another account or setting the mark by accident or by a
    shortcut; it is not a sandbox (an agent runs in the simulation's process, with all
    of Python at hand: configs are trusted like scripts, docs/agents.md).
    """

    # set per instance by _wire:
    _clock: Callable[[], int]
    submitted: Callable[[], int]  # orders this agent has sent so far (its last oid's count)
    sleep: _Sleep
    market: _Market
    submit: _Submit
    cancel: _Cancel
    amend: _Amend
    set_leverage: _SetLeverage

    def __init__(self, *, agent_id: int, account: int, net: Network,
                 exchange: int | Sequence[int], feed: MarketFeed,
                 contracts: list[LinearContract], rng: random.Random,
                 params: Mapping[str, Any], stepped: bool = False, home: int = 0,
                 hedge: int | None = None,
                 fundamental: Callable[[int, int], float | None] | None = None) -> None:
        self._agent_id = agent_id
        self._account = account
        self.rng = rng
        self.params = dict(params)
        self.contracts = contracts
        self.home = home  # the symbol (perpetual or spot venue) this agent trades by default
        self.hedge = hedge  # a spot venue where it also holds an account, if any
        self._fundamental = fundamental
        self.events: list[Event] = []  # own events not yet drained by the agent
        self.position: list[int] = [0] * len(contracts)  # lots per symbol, from own fills
        self.open_orders: dict[int, int] = {}  # own order id -> lots not yet filled or cancelled
        self._unacknowledged: set[int] = set()  # sent, no ACCEPTED or REJECTED back yet
        self.balance = 0  # atoms: deposits - fees + realized PnL + funding (all symbols)
        self.available: int | None = None  # atoms free for new orders, at the last account snapshot
        self.adl_quantile: list[int] = [0] * len(contracts)  # ADL lights 1-5 per symbol (0: flat)
        self.stepped = stepped
        self._inbox: trio.MemoryReceiveChannel[list[Any]] | None = None
        if stepped:
            # a handler: own events are folded in and the agent resumed at its wake-up,
            # synchronously at delivery (see Agent.trio_task)
            net.attach(agent_id, self._step)
        else:
            # own events are folded in at delivery, without waking the task; timers wake it
            self._inbox = net.register(agent_id, on_data=self._absorb_batch)
        self.resume: Callable[[], None] | None = None  # stepped: set by whoever runs the agent
        self._pending: deque[Any] = deque()  # delivered, not yet looked at
        self._sleeps = 0  # the token of the current sleep's wake-up
        # the actor that serves each symbol: the exchange, or a spot venue
        venues = [exchange] * len(contracts) if isinstance(exchange, int) else list(exchange)
        _wire(self, net, venues, feed)

    @property
    def agent_id(self) -> int:
        """This agent's actor id on the network (read-only)."""
        return self._agent_id

    @property
    def account(self) -> int:
        """This agent's account at the exchange (read-only; every request is sent as it)."""
        return self._account

    # ------------------------------------------------------------------ time
    @property
    def now(self) -> int:
        """Simulated time in nanoseconds."""
        return self._clock()

    @property
    def now_s(self) -> float:
        return self._clock() / NS_PER_S

    def _step(self, batch: list[Any]) -> None:
        """Stepped mode: one instant's messages; the wake-up of the current sleep resumes."""
        for msg in batch:
            if type(msg) is Events:
                self._absorb(msg.events)
            elif (type(msg) is Wake and msg.token == self._sleeps
                  and self.resume is not None):
                self.resume()

    def _absorb_batch(self, batch: list[Any]) -> None:
        for msg in batch:
            if isinstance(msg, Events):
                self._absorb(msg.events)

    def _absorb(self, events: list[Event]) -> None:
        """Fold own events into the position and open-order mirrors."""
        me = self._account
        leaves = self.open_orders
        for e in events:
            kind = e[0]
            if kind == FILL:
                lots = e[3]
                if e[5] == me:  # taker side
                    self.position[e[1]] += lots if e[6] == BUY else -lots
                    self.balance += e[11] - e[9]
                    self._reduce(e[4], lots)
                if e[8] == me:  # maker side (both, on a self-trade)
                    self.position[e[1]] += -lots if e[6] == BUY else lots
                    self.balance += e[12] - e[10]
                    self._reduce(e[7], lots)
            elif kind == ACCEPTED:
                leaves[e[2]] = e[6]
                self._unacknowledged.discard(e[2])
            elif kind == REJECTED:
                self._unacknowledged.discard(e[3])
            elif kind == CANCELLED:
                self._reduce(e[2], e[4])
            elif kind == AMENDED:
                leaves[e[2]] = e[5]
            elif kind == SPOT_DEPOSIT:  # coin given at a spot venue is its position there
                self.position[e[1]] += e[4]
            elif kind == DEPOSIT:
                self.balance += e[2]
            elif kind == FUNDING:
                self.balance += e[3]
            elif kind == ACCOUNT:
                self.available = e[7]
                if e[2] >= 0:
                    self.adl_quantile[e[2]] = e[8]
        self.events.extend(events)

    def _reduce(self, oid: int, lots: int) -> None:
        left = self.open_orders.get(oid, 0) - lots
        if left > 0:
            self.open_orders[oid] = left
        else:
            self.open_orders.pop(oid, None)

    def live(self, oid: int) -> bool:
        """May this order still rest?  In flight (not yet acknowledged) or open."""
        return oid in self.open_orders or oid in self._unacknowledged

    def drain_events(self) -> list[Event]:
        """Own events received since the last drain."""
        out, self.events = self.events, []
        return out

    # ------------------------------------------------------------------ market data
    def fundamental(self, sym: int = 0, at: int | None = None) -> float | None:
        """The scenario's fundamental value of ``sym``'s asset (quote currency) at ``at``
        ns (default now; never later than now), or ``None`` where the run gives agents
        none.  What informed traders trade towards; not a price anyone can trade at."""
        if self._fundamental is None:
            return None
        now = self._clock()
        return self._fundamental(sym, now if at is None else max(0, min(at, now)))

    def ticks(self, price: Decimal | float | str, sym: int = 0) -> int:
        """A decimal price in ticks (must be on the tick grid)."""
        return self.contracts[sym].price_to_ticks(price)

    def lots(self, qty: Decimal | float | str, sym: int = 0) -> int:
        """A decimal quantity in lots (must be on the lot grid)."""
        return self.contracts[sym].qty_to_lots(qty)


def _wire(ctx: Context, net: Network, venues: list[int], feed: MarketFeed) -> None:
    """Give ``ctx`` the calls that reach the world: closures over the network and the feed.

    They are the only holders of those references (no attribute of ``ctx`` is the
    network or the feed), and each request they send carries this agent's actor id and
    account, fixed here.  They are set on the instance, not looked up on the class: a
    call is one dictionary hit and no bound method, as cheap as the methods they replace
    (``ctx.submit`` and ``ctx.sleep`` are called at every wake-up of every agent).
    """
    agent_id, account, send = ctx.agent_id, ctx.account, net.send
    unacknowledged, pending, inbox = ctx._unacknowledged, ctx._pending, ctx._inbox
    absorb = ctx._absorb
    next_oid = 0

    def clock() -> int:
        return net.now

    def submitted() -> int:
        return next_oid

    async def sleep(seconds: float) -> None:
        ctx._sleeps += 1
        token = ctx._sleeps
        net.wake(agent_id, net.now + max(1, round(seconds * NS_PER_S)), token)
        if inbox is None:  # stepped: the network resumes the agent at the wake-up
            await _suspend()
            return
        while True:
            if not pending:
                pending.extend(await inbox.receive())
            msg = pending.popleft()
            if isinstance(msg, Wake):
                if msg.token == token:
                    return
            elif isinstance(msg, Events):
                absorb(msg.events)

    def market(sym: int = 0) -> Snapshot | None:
        return feed.read(sym, net.now)

    def submit(side: int, qty: int, price: int | None = None, *, order_type: int = LIMIT,
               tif: int = GTC, reduce_only: bool = False, sym: int = 0) -> int:
        nonlocal next_oid
        next_oid += 1
        oid = (agent_id << 32) | next_oid
        unacknowledged.add(oid)
        send(agent_id, venues[sym],
             Submit(account, sym, oid, side, qty, price, order_type, tif, reduce_only))
        return oid

    def cancel(oid: int, sym: int = 0) -> None:
        send(agent_id, venues[sym], Cancel(account, sym, oid))

    def amend(oid: int, price: int, qty: int, sym: int = 0) -> None:
        send(agent_id, venues[sym], Amend(account, sym, oid, price, qty))

    def set_leverage(leverage: int, sym: int = 0) -> None:
        send(agent_id, venues[sym], SetLeverage(account, sym, leverage))

    ctx._clock, ctx.submitted = clock, submitted
    ctx.sleep, ctx.market = sleep, market
    ctx.submit, ctx.cancel, ctx.amend, ctx.set_leverage = submit, cancel, amend, set_leverage
