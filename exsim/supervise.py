"""Run tasks each in a child process of its own, at most N at a time; a death is a result.

Why not ``concurrent.futures.ProcessPoolExecutor``: one worker that dies (a segfault,
``os._exit``, the out-of-memory killer) breaks the whole pool, and every pending task
fails with ``BrokenProcessPool``; its workers outlive a SIGTERM to the parent and go
on with the queue; and queued tasks still start after Ctrl-C.  Here every task gets
a fresh child, so a death belongs to exactly one task, and the parent waits on each
child's *sentinel* (ready when it exits) and *result pipe* together: a child that
exits without sending its result died, with its exit status or signal as the reason.

Children start from a fork server (``forkserver``, with the modules named in
``preload`` imported once, so a start costs a fork, not an interpreter; ``spawn``
where there is none).  Each child puts itself in its own process group, so a
terminal's Ctrl-C reaches only the parent, which then stops the children itself,
exactly once: SIGINT to each (a run writes what it recorded, marked incomplete),
SIGKILL to any still alive ``grace_s`` later, or at once on a second signal.  A
child whose parent dies (even by SIGKILL) interrupts itself the same way, watching
the parent from a thread.  While the caller holds a :class:`SignalStop`, SIGINT and
SIGTERM only note the signal: :func:`run_in_children` then stops (no queued task
starts after one), and the caller writes its results before the old handlers, and
with them KeyboardInterrupt, come back.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import attrs

Result = dict[str, Any]

GRACE_S = 10.0
"""How long a stopped child may take to write what it recorded before it is killed."""


def describe_exit(code: int | None) -> str:
    """``exit status 3``, ``killed by SIGKILL (signal 9)``."""
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name} (signal {-code})"
    return f"exit status {code}"


def _watch_parent(grace_s: float) -> None:
    """In a child: when the parent is gone, interrupt this process, then end it."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(grace_s)
        os._exit(1)

    threading.Thread(target=watch, name="exsim-parent-watch", daemon=True).start()


def _child(target: Callable[..., Result], args: tuple[Any, ...],
           conn: multiprocessing.connection.Connection, grace_s: float) -> None:
    os.setpgrp()  # a terminal's Ctrl-C goes to the parent only, which forwards it once
    _watch_parent(grace_s)
    try:
        result = target(*args)
    except KeyboardInterrupt:
        return  # stopped: the parent does not want a result
    conn.send(result)
    conn.close()


@attrs.define
class _Running:
    key: int
    process: multiprocessing.process.BaseProcess
    reader: multiprocessing.connection.Connection
    result: Result | None = None
    reading: bool = True  # until its result or end of file: then only its exit is awaited


class SignalStop:
    """SIGINT and SIGTERM, while it is entered, only note the signal and wake the
    supervisor's wait (a self-pipe); the old handlers come back on exit.  Installed in
    the main thread only (elsewhere Python allows no handlers: it does nothing)."""

    def __init__(self) -> None:
        self.signals: list[int] = []
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self._old: dict[int, Any] = {}

    @property
    def fd(self) -> int:
        return self._r

    @property
    def signal(self) -> str | None:
        """The name of the first signal received, if any."""
        return signal.Signals(self.signals[0]).name if self.signals else None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)
        with contextlib.suppress(BlockingIOError):  # full: it will wake the wait anyway
            os.write(self._w, b"\0")

    def __enter__(self) -> SignalStop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        os.close(self._r)
        os.close(self._w)


def _context(preload: Sequence[str]) -> Any:
    """The forkserver context (preloading ``preload`` when it starts the server), or spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))  # used when the server first starts
        return ctx
    return multiprocessing.get_context("spawn")


def run_in_children(target: Callable[..., Result], tasks: Sequence[tuple[int, tuple[Any, ...]]],
                    workers: int, on_result: Callable[[int, Result], None], stop: SignalStop,
                    *, preload: Sequence[str] = (), grace_s: float = GRACE_S) -> str | None:
    """Call ``target(*args)`` in a child per ``(key, args)`` task, ``workers`` at a time,
    until every task ran or ``stop`` (entered by the caller) caught a signal.

    ``on_result(key, result)`` gets each task's returned dict as it finishes, or, for a
    child that died first, ``{"complete": False, "died": True, "error": "... died ..."}``.
    Returns ``None`` when every task ran, or the name of the signal that stopped it
    (tasks not started then are not reported, nor those stopped, unless they completed).
    """
    ctx = _context(preload)
    queue = deque(tasks)
    running: list[_Running] = []
    while (queue or running) and not stop.signals:
        while queue and len(running) < max(1, workers):
            key, args = queue.popleft()
            reader, writer = ctx.Pipe(duplex=False)
            process = ctx.Process(target=_child, args=(target, args, writer, grace_s),
                                  name=f"exsim-task-{key}", daemon=False)
            process.start()
            writer.close()
            running.append(_Running(key, process, reader))
        _wait(running, stop.fd)
        for child in _finished(running):
            on_result(child.key, child.result if child.result is not None else {
                "complete": False, "died": True, "error": (
                    f"the run's process died ({describe_exit(child.process.exitcode)}) "
                    "before it reported a result")})
    if not stop.signals:
        return None
    _stop_all(running, stop, grace_s, on_result)
    return stop.signal


def _wait(running: list[_Running], wake_fd: int, timeout: float | None = None) -> None:
    """Until a child's result or exit, or a signal; reads the results that arrived."""
    ready = multiprocessing.connection.wait(
        [c.reader for c in running if c.reading] + [c.process.sentinel for c in running]
        + [wake_fd], timeout)
    if wake_fd in ready:
        with contextlib.suppress(BlockingIOError):
            os.read(wake_fd, 4096)  # the signals are counted by the handler
    for child in running:
        if child.reading and child.reader in ready:
            _receive(child)


def _receive(child: _Running) -> None:
    try:
        if child.reading and child.reader.poll():
            child.result = child.reader.recv()
            child.reading = False
    except (EOFError, OSError):
        child.reading = False  # closed without a result: it died (or was stopped)


def _finished(running: list[_Running]) -> list[_Running]:
    """Remove and return the children that have exited, each with its result if it sent one."""
    done = []
    for child in list(running):
        if child.process.exitcode is not None:
            _receive(child)  # sent just before it exited
            child.process.join()
            child.reader.close()
            running.remove(child)
            done.append(child)
    return done


def _stop_all(running: list[_Running], stop: SignalStop, grace_s: float,
              on_result: Callable[[int, Result], None]) -> None:
    """Interrupt every child once, give them ``grace_s`` (or until a second signal) to
    write what they recorded, then kill the rest; report only runs that completed."""
    for child in running:
        _signal(child, signal.SIGINT)
    deadline = time.monotonic() + grace_s
    while running and len(stop.signals) < 2 and time.monotonic() < deadline:
        _wait(running, stop.fd, max(0.0, deadline - time.monotonic()))
        for child in _finished(running):
            if child.result is not None and child.result.get("complete"):
                on_result(child.key, child.result)
    for child in running:
        _signal(child, signal.SIGKILL)
        child.process.join()
        child.reader.close()
    running.clear()


def _signal(child: _Running, sig: int) -> None:
    pid = child.process.pid
    if pid is not None and child.process.exitcode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
