"""The network: delay lines and timers in one heap, the simulation's only timing authority.

Every message between actors, and every timer an actor sets for itself, goes
into one heap keyed ``(deliver_at, kind, sent_at, sender, sender_seq)`` with
``kind`` 0 for data and 1 for wake-ups.  The network task sleeps until the
earliest key is due, then delivers everything due at that instant in one
synchronous pass: each receiver gets one list, its messages in key order,
with one ``send_nowait`` into its inbox (a channel operation costs far more
than a list item, ../shared/bench/README.md).  Because every latency is > 0,
nothing sent at instant ``t`` can be due at ``t``: when the clock reaches
``t`` the heap already holds all of it, and
the delivery order cannot depend on which task trio ran first.  That is what
makes a run reproducible byte for byte (../shared/DESIGN.md section 2).

Simulated time is an integer number of nanoseconds (:attr:`Network.now`).  In
virtual time the network needs no clock at all: an instant is over when every
other task is blocked waiting for a message (``wait_all_tasks_blocked``), and
the network then jumps straight to the next key.  That costs about 10 us per
distinct instant against about 23 us for a timed wake-up under
``MockClock(autojump_threshold=0)`` (measured here).  The simulation still runs
under a MockClock, so any trio timer is virtual too.  With ``virtual=False``
(``clock = "wall"``) the network sleeps on trio's real clock until the next key.

Two kinds of receiver.  A *task* (an agent) has an inbox channel and wakes up
for its lists.  A *handler* (:meth:`Network.attach`; the exchange) is a plain
function the network calls synchronously at the instant: an actor that never
awaits anything but its inbox gains nothing from a task of its own but a task
switch and a barrier per instant.  A task may also pass ``on_data`` to
:meth:`Network.register`: its data messages are then handed to that function at
delivery and only its timers wake the task (an agent's own events update its
mirrors without waking it).  An instant that woke no task needs no barrier: the
network goes straight on to the next one.

Each link (sender, receiver) is first-in, first-out: a message is delivered no
earlier than the previous one on its link, so an agent never sees a fill
before the acceptance of its order.

Senders call :meth:`Network.send` synchronously (it only pushes onto the heap);
in wall-clock mode, if the new item is due before the instant the network is
sleeping towards, the network's wake-up deadline is moved earlier.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import trio
from trio.testing import wait_all_tasks_blocked

from exsim.actors.latency import Constant, LatencyModel
from exsim.rng import stream
from exsim.timeunits import NS_PER_S

DATA = 0
WAKE = 1
CHECKPOINT_EVERY = 4096  # instants without a trio checkpoint, at most, in virtual time


@attrs.define(slots=True)
class Wake:
    """A timer an actor set for itself (:meth:`Network.wake`), delivered to its own inbox."""

    token: object = None


class Network:
    """Delay lines between registered actors, plus their timers; see the module docstring."""

    def __init__(self, run_seed: int, default: LatencyModel, *,
                 per_sender: Mapping[int, LatencyModel] | None = None,
                 per_link: Mapping[tuple[int, int], LatencyModel] | None = None,
                 virtual: bool = True) -> None:
        self.run_seed = run_seed
        self.virtual = virtual
        self.default = default
        self.per_sender = dict(per_sender or {})
        self.per_link = dict(per_link or {})
        self.now = 0  # simulated time, ns
        self._heap: list[tuple[int, int, int, int, int, int, Any]] = []
        self._inboxes: dict[int, trio.MemorySendChannel[list[Any]]] = {}
        self._handlers: dict[int, Callable[[list[Any]], None]] = {}  # everything, synchronously
        self._on_data: dict[int, Callable[[list[Any]], None]] = {}  # a task's data, synchronously
        self._woke = True  # the last instant woke a task (so the next needs a barrier)
        self._starting: list[Callable[[], None]] = []  # call_at_start
        self._seq: dict[int, int] = {}
        self._rngs: dict[int, random.Random] = {}
        self._links: dict[tuple[int, int], list[Any]] = {}  # see _open_link
        self._scope: trio.CancelScope | None = None
        self._target = 0  # the instant the network is sleeping towards
        self._origin = 0.0  # trio time at simulated 0

    # ------------------------------------------------------------------ wiring
    def register(self, actor_id: int, on_data: Callable[[list[Any]], None] | None = None
                 ) -> trio.MemoryReceiveChannel[list[Any]]:
        """Give a task an id on the network; returns its inbox of per-instant message lists.

        With ``on_data``, the task's data messages go to ``on_data`` (one list per
        instant, synchronously at delivery) and only its timers reach the inbox.
        """
        self._claim(actor_id)
        send, receive = trio.open_memory_channel[list[Any]](math.inf)
        self._inboxes[actor_id] = send
        if on_data is not None:
            self._on_data[actor_id] = on_data
        return receive

    def attach(self, actor_id: int, handler: Callable[[list[Any]], None]) -> None:
        """Put a handler on the network: each instant's messages for it (data and
        timers, in key order) are passed to ``handler`` synchronously at delivery."""
        self._claim(actor_id)
        self._handlers[actor_id] = handler

    def _claim(self, actor_id: int) -> None:
        if actor_id in self._seq:
            raise ValueError(f"actor id {actor_id} is already registered")
        self._seq[actor_id] = 0
        self._rngs[actor_id] = stream(self.run_seed, "latency", actor_id)

    def latency(self, sender: int, dest: int) -> LatencyModel:
        """The model for a link: the link's own, else the sender's, else the default."""
        model = self.per_link.get((sender, dest))
        if model is None:
            model = self.per_sender.get(sender, self.default)
        return model

    # ------------------------------------------------------------------ sending
    def _push(self, deliver_at: int, kind: int, sender: int, dest: int, msg: object) -> None:
        seq = self._seq[sender] + 1
        self._seq[sender] = seq
        heapq.heappush(self._heap, (deliver_at, kind, self.now, sender, seq, dest, msg))
        if self._scope is not None and deliver_at < self._target:
            self._target = deliver_at
            self._scope.deadline = self._origin + deliver_at / NS_PER_S

    def send(self, sender: int, dest: int, msg: object) -> int:
        """Send ``msg`` from ``sender`` to ``dest``; returns the instant it will arrive."""
        link = (sender, dest)
        state = self._links.get(link)
        if state is None:
            state = self._open_link(sender, dest)
        model = state[0]
        if type(model) is Constant:  # validated > 0 when built: the common case, no call
            delay = model.ns
        else:
            delay = model.draw(state[1])
            if delay <= 0:
                raise ValueError(f"latency model for {sender}->{dest} drew {delay} ns; "
                                 "must be > 0")
        # a link is first-in, first-out (like a TCP connection): a message never
        # overtakes an earlier one on the same link, however the latencies fall
        now = self.now
        deliver_at = now + delay
        if deliver_at < state[2]:
            deliver_at = state[2]
        state[2] = deliver_at
        seq = self._seq[sender] + 1  # _push, written out: one call fewer per message
        self._seq[sender] = seq
        heapq.heappush(self._heap, (deliver_at, DATA, now, sender, seq, dest, msg))
        if self._scope is not None and deliver_at < self._target:
            self._target = deliver_at
            self._scope.deadline = self._origin + deliver_at / NS_PER_S
        return deliver_at

    def _open_link(self, sender: int, dest: int) -> list[Any]:
        """A link's state on its first message: [model, the sender's RNG, latest deliver_at]."""
        if dest not in self._seq:
            raise KeyError(f"no actor {dest} on the network")
        if sender not in self._seq:
            raise KeyError(f"no actor {sender} on the network (register it first)")
        state = self._links[(sender, dest)] = [self.latency(sender, dest), self._rngs[sender], 0]
        return state

    def wake(self, actor: int, at: int, token: object = None) -> None:
        """Deliver ``Wake(token)`` to ``actor`` at instant ``at`` (> now), after data due then."""
        if at <= self.now:
            raise ValueError(f"wake-up at {at} ns is not after now ({self.now} ns)")
        self._push(at, WAKE, actor, actor, Wake(token))

    def settle(self) -> None:
        """End the current instant with a barrier (a trio checkpoint), as if it had woken a
        task: for a handler that cancelled something a task must see at this instant."""
        self._woke = True

    def call_at_start(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` at the start of the next :meth:`run`, at ``now``, before anything
        due then is delivered (a stepped agent's first step, like a new task's)."""
        self._starting.append(fn)

    def take_pending(self, dest: int) -> list[Any]:
        """Remove and return the undelivered messages for ``dest``, in key order.

        For the end of a run (or a test): the messages still in flight to ``dest``.
        """
        mine = sorted(item for item in self._heap if item[5] == dest)
        # in place: a run in progress holds this very list
        self._heap[:] = [item for item in self._heap if item[5] != dest]
        heapq.heapify(self._heap)
        return [item[6] for item in mine]

    # ------------------------------------------------------------------ the clock
    async def run(self, until: int, stop: Callable[[], bool] | None = None) -> None:
        """Deliver everything due up to ``until`` (ns, inclusive), then return with now = until.

        ``stop`` (virtual time only) is asked after each instant has settled (every
        other task blocked again); when it answers true, ``run`` returns at once, with
        ``now`` at that instant.  The test kit waits for an event this way.
        """
        if until < self.now:
            raise ValueError(f"cannot run until {until} ns: the clock is at {self.now} ns")
        heap = self._heap
        self._origin = trio.current_time() - self.now / NS_PER_S
        self._woke = True  # whatever ran before this call may still be settling
        starting, self._starting = self._starting, []
        for start in starting:  # at now, before anything due now is delivered
            start()
        deliver = self._deliver
        while True:
            if self.virtual:
                # the instant is over when every other task waits for a message; if
                # it woke none (only handlers ran), it is over already
                if self._woke:
                    await wait_all_tasks_blocked()
                    self._woke = False
                if stop is not None and stop():
                    return
                if stop is None:  # instants that wake no task follow each other here,
                    # with a trio checkpoint every CHECKPOINT_EVERY of them (a timeout
                    # or a cancel around the run must not wait for its end)
                    left = CHECKPOINT_EVERY
                    while heap and heap[0][0] <= until and not self._woke and left:
                        deliver(heap[0][0])
                        left -= 1
                    if not left:
                        await trio.lowlevel.checkpoint()
                    if self._woke or not left:
                        continue
                target = until
            else:
                target = await self._sleep_towards(heap[0][0] if heap and heap[0][0] < until
                                                   else until)
            if not heap or heap[0][0] > target:
                self.now = until
                return
            self._deliver(heap[0][0])

    async def _sleep_towards(self, target: int) -> int:
        """Wall clock: sleep until ``target`` or an earlier push; return the instant reached."""
        if target > self.now:
            self._target = target
            with trio.CancelScope(deadline=self._origin + target / NS_PER_S) as scope:
                self._scope = scope
                await trio.sleep_forever()
            self._scope = None
            target = self._target
        return target

    def _deliver(self, t: int) -> None:
        """Everything due at ``t``: one list per receiver, messages in key order."""
        heap = self._heap
        self.now = t
        on_data = self._on_data
        item = heapq.heappop(heap)
        self._woke = False  # before any receiver runs: one may ask to settle()
        if not heap or heap[0][0] != t:  # one message at this instant: the common case
            dest = item[5]
            if item[1] == DATA and dest in on_data:
                on_data[dest]([item[6]])
                return
            handler = self._handlers.get(dest)
            if handler is not None:
                handler([item[6]])
            else:
                self._inboxes[dest].send_nowait([item[6]])
                self._woke = True
            return
        batches: dict[int, list[Any]] = {}
        absorbed: dict[int, list[Any]] = {}
        while True:
            dest = item[5]
            into = absorbed if item[1] == DATA and dest in on_data else batches
            batch = into.get(dest)
            if batch is None:
                into[dest] = [item[6]]
            else:
                batch.append(item[6])
            if not heap or heap[0][0] != t:
                break
            item = heapq.heappop(heap)
        for dest, batch in absorbed.items():
            on_data[dest](batch)
        handlers = self._handlers
        for dest, batch in batches.items():
            handler = handlers.get(dest)
            if handler is not None:
                handler(batch)
            else:
                self._inboxes[dest].send_nowait(batch)
                self._woke = True
