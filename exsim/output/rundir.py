"""A run directory that never lies: marked incomplete from its first second, written
atomically, never a mix of two runs.

The life of ``runs/x/``:

1. :func:`open_run_dir` makes it (refusing one that already holds files, unless
   ``overwrite``) and writes ``config.json`` and a ``summary.json`` that says
   ``complete: false`` with the reason :data:`RUNNING`: a run killed at any later
   point leaves that behind, never an empty directory.
2. The recorder streams the event log to ``events.bin`` while the run runs.
3. At the end the tables and ``series.parquet`` are written, each to a hidden
   temporary sibling renamed into place (:func:`replace_atomically`), then
   ``summary.json`` with the run's real state, last; then ``events.bin`` goes (its
   events are in the tables).  So ``events.bin`` present means the tables are not all
   written: ``exsim report DIR`` rebuilds them (:mod:`exsim.output.recover`).

A replaced directory (``overwrite``) is swapped, not cleaned: the new one is made
beside it (``.x.new-<pid>``, with its marker), the old one renamed away
(``.x.old-<pid>``), the new one renamed to ``x``, then the old one deleted.  SIGINT
and SIGTERM are held off during the two renames; a SIGKILL between them leaves no
``x`` at all (and both hidden siblings, removed by the next run of that name), never
a directory holding the old run's files.  While a run writes its directory it holds
an exclusive ``flock`` on it, so that neither a rerun nor ``exsim report`` touches a
directory a live run is writing.  Atomic here means against a killed process; a
power cut can still lose what the OS had not written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: no lock, the rest holds
    fcntl = None  # type: ignore[assignment]

RUNNING = "running, or killed before it ended"
EVENTS = "events.bin"
RUN_FILES = ("summary.json", "config.json", EVENTS)  # any of these: a run directory


class RunDirError(ValueError):
    """A run directory that cannot be used; the message is one line, naming it."""


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` a hidden temporary sibling of ``path``, then rename it to ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, default=str)
    replace_atomically(path, lambda tmp: tmp.write_text(text))


def read_summary(directory: Path) -> dict[str, Any] | None:
    """The directory's ``summary.json``, or ``None`` if there is none or it is unreadable."""
    try:
        data = json.loads((directory / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (and arrive after) while the block runs (POSIX)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class RunDir:
    """An open run directory: its path and the lock held on it while the run writes."""

    def __init__(self, path: Path, lock: int | None) -> None:
        self.path = path
        self._lock = lock

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.path / "summary.json", summary)

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # releases the flock
            self._lock = None


def _lock(path: Path) -> int | None:
    """An exclusive flock on the directory, or ``None`` where there is no flock."""
    if fcntl is None:
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RunDirError(f"{path}: an exsim run is writing this directory now") from None
    return fd


def lock_run_dir(path: Path) -> RunDir:
    """An existing run directory, locked against a run writing it meanwhile."""
    return RunDir(path, _lock(path))


def being_written(path: Path) -> bool:
    """Does a live run hold ``path``'s lock?"""
    if fcntl is None or not path.is_dir():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _state(path: Path) -> str:
    summary = read_summary(path)
    if summary is None:
        return "a run with no readable summary"
    if summary.get("complete"):
        return "a complete run"
    return f"an incomplete run ({summary.get('reason')})"


def _remove_stale(path: Path) -> None:
    """Hidden siblings left by a killed replacement of ``path`` (their process is gone)."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(new|old)-(\d+)$")
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return
    for sibling in siblings:
        m = pattern.match(sibling.name)
        if m is None or int(m.group(2)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(2)), 0)
        except ProcessLookupError:
            shutil.rmtree(sibling, ignore_errors=True)
        except OSError:
            pass  # someone else's live process


def _fill(path: Path, config: Any, marker: dict[str, Any]) -> None:
    write_json(path / "config.json", config)
    write_json(path / "summary.json", marker)


def open_run_dir(path: Path, config: Any, marker: dict[str, Any], *,
                 overwrite: bool = False) -> RunDir:
    """Make ``path`` a fresh run directory holding ``config.json`` and the ``marker``
    summary (``complete: false``); see the module docstring.

    An existing directory that holds files is refused (:class:`RunDirError`) unless
    ``overwrite``, and even then if it is not a run directory (none of
    :data:`RUN_FILES`) or a live run is writing it.
    """
    _remove_stale(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        if being_written(path):
            raise RunDirError(f"{path}: an exsim run is writing this directory now")
        if not overwrite:
            raise RunDirError(f"{path} already holds {_state(path)}; pass --overwrite to "
                              "replace it, or --out DIR to write elsewhere")
        if not any((path / name).exists() for name in RUN_FILES):
            raise RunDirError(f"{path} is not an exsim run directory (no summary.json or "
                              "config.json): not replacing it")
        if Path.cwd().resolve().is_relative_to(path.resolve()):
            raise RunDirError(f"{path} holds the current directory: not replacing it")
        new = path.with_name(f".{path.name}.new-{os.getpid()}")
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir()
        _fill(new, config, marker)
        with _signals_held():
            os.replace(path, old)
            os.replace(new, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        path.mkdir(parents=True, exist_ok=True)
        _fill(path, config, marker)
    return RunDir(path, _lock(path))
