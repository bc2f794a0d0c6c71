"""A watchdog for runs that hang: a wall-time limit, and a stall limit that names the culprit.

Two ways a run never ends: it is simply too long for the user's patience or a batch
slot (``[run] max_wall_seconds``), or something spins without ever giving simulated
time back (an agent's ``while True: pass``, a strategy stuck in a loop): nothing in
the simulation can interrupt that, because it never returns to the network.

The watchdog is a wall-clock timer signal (``SIGALRM``, about once a second), whose
handler runs between two bytecodes of whatever the main thread is doing, so it
reaches spinning code too:

* past ``max_wall_seconds`` it asks the run to stop between two instants (as the
  first Ctrl-C does), marked incomplete with the reason; if the run has not stopped
  ``GRACE_S`` later (it is stuck), it raises :class:`WatchdogExpired`;
* when simulated time has not moved for ``max_stall_seconds`` of wall time (virtual
  clock only: a wall-clock run waits between instants on purpose), it looks at the
  interrupted stack: inside an agent, it raises :class:`AgentStalled` there, so the
  agent ends as crashed (``on_agent_error`` then stops the run or isolates the agent,
  as for any crash); anywhere else, :class:`WatchdogExpired` stops the run.

Without a main thread (a worker thread) or with both limits at 0 it does nothing.
No per-event work: the handler reads the network's clock once a tick.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from types import FrameType, TracebackType
from typing import Any

import trio

GRACE_S = 5.0  # after asking a run to stop: how long it may take before it is forced


class WatchdogExpired(BaseException):
    """The watchdog stopped a run that could not be stopped between instants."""


class AgentStalled(Exception):
    """Raised inside an agent that held the simulation for ``max_stall_seconds``: its crash."""


class Watchdog:
    """``with Watchdog(...) as dog``: see the module docstring.

    ``clock()`` is the simulation's time (ns); ``agent_name(obj)`` names an agent object
    found on the interrupted stack (``None``: not an agent).  ``reason`` says why it
    fired, once it has.
    """

    def __init__(self, max_wall_s: float, max_stall_s: float, clock: Callable[[], int],
                 agent_name: Callable[[object], str | None]) -> None:
        self.max_wall_s = max_wall_s
        self.max_stall_s = max_stall_s
        self.clock = clock
        self.agent_name = agent_name
        self.reason: str | None = None
        self._stop: Callable[[], None] | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._old: Any = None
        self._on = False
        self._started = self._moved_at = 0.0
        self._seen = -1
        self._asked_at: float | None = None

    def __enter__(self) -> Watchdog:
        limits = [x for x in (self.max_wall_s, self.max_stall_s) if x > 0]
        if limits and threading.current_thread() is threading.main_thread():
            self._started = self._moved_at = time.monotonic()
            self._old = signal.signal(signal.SIGALRM, self._tick)
            tick = min(1.0, min(limits) / 4)
            signal.setitimer(signal.ITIMER_REAL, tick, tick)
            self._on = True
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._on:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)
            self._on = False

    def arm(self, stop: Callable[[], None]) -> None:
        """From inside trio: ``stop`` ends the run between two instants."""
        self._token = trio.lowlevel.current_trio_token()
        self._stop = stop

    def disarm(self) -> None:
        self._token = self._stop = None

    def _tick(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if self._asked_at is not None:
            if now - self._asked_at > GRACE_S:
                raise WatchdogExpired(self.reason)
            return
        if self.max_wall_s > 0 and now - self._started > self.max_wall_s:
            self._ask(f"watchdog: run.max_wall_seconds ({self.max_wall_s:g} s of wall time) "
                      "reached", now)
            return
        seen = self.clock()
        if seen != self._seen:
            self._seen, self._moved_at = seen, now
            return
        if self.max_stall_s > 0 and now - self._moved_at > self.max_stall_s:
            self._moved_at = now  # once per stall: an isolated agent's run goes on
            stuck = f"{self.max_stall_s:g} s of wall time at simulated {seen / 1e9:.6f} s"
            name = self._agent_on(frame)
            if name is not None:
                raise AgentStalled(f"{name} held the simulation for {stuck} without "
                                   "returning to it (run.max_stall_seconds)")
            self.reason = f"watchdog: the simulation stalled for {stuck} (run.max_stall_seconds)"
            raise WatchdogExpired(self.reason)

    def _ask(self, reason: str, now: float) -> None:
        self.reason, self._asked_at = reason, now
        if self._token is not None and self._stop is not None:
            with suppress(trio.RunFinishedError):
                self._token.run_sync_soon(self._stop, idempotent=True)

    def _agent_on(self, frame: FrameType | None) -> str | None:
        """The innermost agent whose code is on the interrupted stack, by name."""
        while frame is not None:
            owner = frame.f_locals.get("self")
            if owner is not None:
                name = self.agent_name(owner)
                if name is not None:
                    return name
            frame = frame.f_back
        return None
