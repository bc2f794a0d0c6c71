"""The recorder: receives every event batch, keeps the log (in memory or on disk) and its digest.

The exchange hands it each instant's events as it publishes them (a direct call,
not a network message: the recorder observes the exchange, it takes no part in
the market, and a delivery 1 ns later cost one more distinct instant per publish,
a third of a crowded run's instants).  Batches come in publish order, so the log
(and its sha256, the run's ``digest``) is the same for the same config and seed.

Recording is on the hot path of every run, so it does no per-event Python work:
each batch is hashed as one array of signed 64-bit ints: the time, the number of
events, then every event's fields in order (every field is an int that fits; a
batch holding one that did not is hashed by its ``repr``).  An event's kind fixes
its length (:data:`~exsim.core.events.FIELDS`), so the stream decodes one way only.

Two modes.  In memory (the default: the test kit, ``Simulation.run()`` without a
directory) the log is a list of ``(time, event)`` pairs built in C (``zip``),
:attr:`Recorder.log`.  Spilling (:meth:`Recorder.spill_to`, what a run that writes
a directory does) keeps no events: the hashed bytes of each batch go into a buffer
that is written to ``events.bin`` (:mod:`exsim.output.eventlog`) every
``SPILL_EVERY`` events and whenever :meth:`flush` is called, so memory stays
bounded however long the run, and a killed run's log is readable up to its last
flush.  :meth:`events` streams the log back in either mode.

What is only needed after the run (the trade count, and per order the lots asked
for against the lots filled or cancelled, for the "every order accounted for"
check) is computed from the log when asked for, by streaming over it: the
:class:`OrderLedger` keeps only orders still open.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Iterator
from itertools import chain, islice, repeat
from pathlib import Path
from typing import Any

from exsim.actors.messages import Events
from exsim.core.events import ACCEPTED, AMENDED, CANCELLED, FILL, REJECTED, Event, Request
from exsim.output.eventlog import LogReader, LogWriter, scan_wide

SPILL_EVERY = 100_000  # events buffered before a spill (about 80 bytes each, as int64 words)
_SUBMIT = int(Request.SUBMIT)


class OrderLedger:
    """Per order, the lots asked for less the lots filled or cancelled; fully accounted
    orders are dropped, so it holds only open ones.  Also counts trades and the answers
    to submits (ACCEPTED, and REJECTED of a submit)."""

    def __init__(self) -> None:
        self.open: dict[tuple[int, int], int] = {}  # (sym, oid) -> lots not yet accounted
        self.trades = 0
        self.accepted = 0
        self.rejected_submits = 0

    def feed(self, log: Iterable[tuple[int, Event]]) -> None:
        open_ = self.open
        trades = accepted = rejected = 0

        def settle(key: tuple[int, int], lots: int) -> None:
            left = open_.get(key, 0) - lots
            if left:
                open_[key] = left
            else:
                open_.pop(key, None)

        for _, e in log:
            kind = e[0]
            if kind == FILL:
                trades += 1
                settle((e[1], e[4]), e[3])
                settle((e[1], e[7]), e[3])
            elif kind == ACCEPTED:
                accepted += 1
                settle((e[1], e[2]), -e[6])
            elif kind == CANCELLED:
                settle((e[1], e[2]), e[4])
            elif kind == AMENDED:
                settle((e[1], e[2]), e[6] - e[5])
            elif kind == REJECTED and e[1] == _SUBMIT:
                rejected += 1
        self.trades += trades
        self.accepted += accepted
        self.rejected_submits += rejected


class Recorder:
    def __init__(self) -> None:
        self._log: list[tuple[int, Event]] = []
        self._digest = hashlib.sha256()
        self._ledger = OrderLedger()
        self._counted = 0  # events already fed to the ledger
        self._writer: LogWriter | None = None
        self._buffer = array("q")  # spilling: hashed batches not yet written
        self._buffered = 0  # events in the buffer
        self._spilled = 0  # events written to the file
        self._every = SPILL_EVERY
        self._removed = False
        self.absorb = self._absorb_to_memory  # the exchange calls this at each publish

    # ------------------------------------------------------------------ recording
    def _absorb_to_memory(self, msg: Events) -> None:
        at, events = msg.at, msg.events
        self._log.extend(zip(repeat(at), events))
        flat = array("q", (at, len(events)))
        try:
            flat.extend(chain.from_iterable(events))
        except (OverflowError, TypeError):
            self._digest.update(repr((at, events)).encode())
        else:
            self._digest.update(flat)

    def _absorb_to_disk(self, msg: Events) -> None:
        at, events = msg.at, msg.events
        flat = array("q", (at, len(events)))
        try:
            flat.extend(chain.from_iterable(events))
        except (OverflowError, TypeError):
            text = repr((at, events)).encode()
            self._digest.update(text)
            self.flush()  # the buffer first: the log stays in order
            assert self._writer is not None
            self._writer.batch_repr(text)
            self._spilled += len(events)
            return
        self._digest.update(flat)
        self._buffer.extend(flat)
        self._buffered += len(events)
        if self._buffered >= self._every:
            self.flush()

    def spill_to(self, path: Path, meta: dict[str, Any], every: int | None = None) -> None:
        """From now on, stream the log to ``path`` (``meta`` into its header), flushing every
        ``every`` events (default :data:`SPILL_EVERY`); what is already in memory goes first."""
        if self._writer is not None:
            raise RuntimeError("the recorder is already spilling to a file")
        self._every = max(1, SPILL_EVERY if every is None else every)
        self._writer = LogWriter(path, meta)
        self.absorb = self._absorb_to_disk
        held, self._log = self._log, []
        kept, self._digest = self._digest, hashlib.sha256()  # these were hashed already
        start = 0
        while start < len(held):  # the events so far, as batches of one instant each
            at = held[start][0]
            end = start
            while end < len(held) and held[end][0] == at:
                end += 1
            self._absorb_to_disk(Events(at, [e for _, e in held[start:end]]))
            start = end
        self._digest = kept
        self.flush()

    def flush(self) -> None:
        """Write the buffered batches to the file (spilling; nothing to do in memory)."""
        if self._writer is None or not self._buffered:
            return
        self._writer.ints(self._buffer)
        self._spilled += self._buffered
        self._buffer = array("q")
        self._buffered = 0

    def close(self) -> None:
        """Write what is buffered and close the file (the log stays readable)."""
        if self._writer is not None:
            self.flush()
            self._writer.close()

    def discard(self) -> None:
        """The file's events are in the run's tables now: remove it."""
        if self._writer is not None:
            self.close()
            self._writer.path.unlink(missing_ok=True)
            self._removed = True

    # ------------------------------------------------------------------ reading
    @property
    def spilling(self) -> bool:
        return self._writer is not None

    @property
    def log(self) -> list[tuple[int, Event]]:
        """The whole log as a list (in memory only; a spilling recorder keeps none)."""
        if self._writer is not None:
            raise RuntimeError(f"this run's event log streams to {self._writer.path}, not "
                               "to memory: read the run's Parquet tables, or iterate "
                               "Recorder.events() while that file exists")
        return self._log

    @property
    def count(self) -> int:
        """Events recorded so far."""
        return len(self._log) + self._spilled + self._buffered

    def events(self) -> Iterator[tuple[int, Event]]:
        """Every ``(time ns, event)`` recorded so far, in order, streamed (from the file
        when spilling: flushed first)."""
        if self._writer is None:
            return iter(self._log)
        if self._removed:
            raise RuntimeError(f"the event log {self._writer.path} was written to the run's "
                               "tables and removed")
        self.flush()
        return LogReader(self._writer.path).events()

    def wide(self) -> dict[tuple[int, int], str]:
        """Fields that int64 cannot hold (see :meth:`exsim.output.eventlog.LogReader.wide`)."""
        if self._writer is None:
            return scan_wide(self._log)
        self.flush()
        return LogReader(self._writer.path).wide()

    @property
    def digest(self) -> str:
        return self._digest.hexdigest()

    def _count(self) -> OrderLedger:
        """Bring the trade count and the order ledger up to the end of the log."""
        if self._counted < self.count:
            if self._writer is None:
                self._ledger.feed(self._log[self._counted:])
            else:
                self._ledger.feed(islice(self.events(), self._counted, None))
            self._counted = self.count
        return self._ledger

    @property
    def trades(self) -> int:
        """FILL events recorded so far."""
        return self._count().trades

    @property
    def orders_accepted(self) -> int:
        """Orders with an ACCEPTED event recorded so far (for the summary's warnings)."""
        return self._count().accepted

    def orders_accounted(self, resting: dict[tuple[int, int], int], *,
                         submits_sent: int | None = None, submits_unprocessed: int = 0) -> bool:
        """Every order: asked == filled + cancelled + resting (``resting``: (sym, oid) -> lots),
        and no order rests that was not asked for.  With ``submits_sent``, also every
        submit sent was answered (ACCEPTED or REJECTED) or is still unprocessed."""
        ledger = self._count()
        if ledger.open != {key: lots for key, lots in resting.items() if lots}:
            return False
        return submits_sent is None or (
            submits_sent == ledger.accepted + ledger.rejected_submits + submits_unprocessed)
