"""SIGINT and SIGTERM during a run: stop between two instants, then write what was recorded.

SIGTERM is what ``kill``, ``timeout``, Slurm, Kubernetes and docker send; by
default Python dies of it on the spot, leaving a run directory that says
nothing.  While :class:`StopOnSignal` is active, the first SIGINT or SIGTERM asks
the running simulation to stop (through trio, so the network stops between two
instants, with the state consistent), and the run is written, marked incomplete
with the reason (:data:`REASONS`).  A signal that comes while the results are
being written waits until they are.  A second signal does not wait: it raises at
once (``KeyboardInterrupt``, or :class:`Terminated` for SIGTERM), for a run that
does not stop.  Signals can only be handled in the main thread; elsewhere (a
worker thread) this does nothing and the signals keep their usual effect.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from contextlib import suppress
from types import FrameType, TracebackType
from typing import Any

import trio

REASONS = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)"}


class Terminated(BaseException):
    """SIGTERM stopped the run (as ``KeyboardInterrupt`` is SIGINT's): what was recorded is
    written, marked incomplete.  A ``BaseException``, so ``except Exception`` lets it by."""


def reason_of(exc: BaseException) -> str | None:
    """The reason a run stopped by ``exc`` gives, if a signal's (or an exception group
    holding one: trio groups task errors)."""
    for kind, signum in ((KeyboardInterrupt, signal.SIGINT), (Terminated, signal.SIGTERM)):
        if isinstance(exc, kind) or (isinstance(exc, BaseExceptionGroup)
                                     and exc.subgroup(kind) is not None):
            return REASONS[signum]
    return None


def raise_for(signum: int) -> None:
    if signum == signal.SIGTERM:
        raise Terminated
    raise KeyboardInterrupt


class StopOnSignal:
    """``with StopOnSignal() as signals``: see the module docstring.

    ``signum`` is the first signal received (``None`` yet), ``stopped`` whether it stopped
    the run; :meth:`arm`, called inside trio, gives the function that stops the run.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.stopped = False  # the run was stopped by a signal (not only signalled)
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: Callable[[], None] | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for signum in REASONS:
                self._old[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for signum, old in self._old.items():
            signal.signal(signum, old)
        self._old.clear()

    @property
    def reason(self) -> str | None:
        return None if self.signum is None else REASONS[signal.Signals(self.signum)]

    def arm(self, stop: Callable[[], None]) -> None:
        """From inside trio: ``stop`` ends the run (now, if a signal came already)."""
        self._token = trio.lowlevel.current_trio_token()
        self._stop = stop
        if self.signum is not None:
            self._stop_now()

    def disarm(self) -> None:
        self._token = self._stop = None

    def _stop_now(self) -> None:  # in trio's thread, between tasks
        if self._stop is not None:  # else the run ended first: it was not stopped
            self.stopped = True
            self._stop()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise_for(signum)  # the second: now
        self.signum = signum
        if self._token is not None and self._stop is not None:
            with suppress(trio.RunFinishedError):  # it has just ended: nothing to stop
                self._token.run_sync_soon(self._stop_now, idempotent=True)
