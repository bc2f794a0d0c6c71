"""The recorder: receives every event batch, keeps the log and its digest.

The exchange hands it each instant's events as it publishes them (a direct call,
not a network message: the recorder observes the exchange, it takes no part in
the market, and a delivery 1 ns later cost one more distinct instant per publish,
a third of a crowded run's instants).  Batches come in publish order, so the log
(and its sha256, the run's ``digest``) is the same for the same config and seed.

Recording is on the hot path of every run, so it does no per-event Python work:
the log grows by ``(time, event)`` pairs built in C (``zip``), and each batch is
hashed as one array of signed 64-bit ints: the time, the number of events, then
every event's fields in order (every field is an int that fits; a batch holding
one that did not is hashed by its ``repr``).  An event's kind fixes its length
(:data:`~exsim.core.events.FIELDS`), so the stream decodes one way only.

What is only needed after the run (the trade count, and per order the lots asked
for against the lots filled or cancelled, for the "every order accounted for"
check) is computed from the log when asked for, over the events not yet counted.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import defaultdict
from itertools import chain, repeat

from exsim.actors.messages import Events
from exsim.core.events import ACCEPTED, AMENDED, CANCELLED, FILL, Event


class Recorder:
    def __init__(self) -> None:
        self.log: list[tuple[int, Event]] = []
        self._digest = hashlib.sha256()
        self._asked: dict[tuple[int, int], int] = defaultdict(int)
        self._done: dict[tuple[int, int], int] = defaultdict(int)
        self._trades = 0
        self._counted = 0  # log entries already in the trade count and the order ledger

    def absorb(self, msg: Events) -> None:
        at, events = msg.at, msg.events
        self.log.extend(zip(repeat(at), events))
        flat = array("q", (at, len(events)))
        try:
            flat.extend(chain.from_iterable(events))
        except (OverflowError, TypeError):
            self._digest.update(repr((at, events)).encode())
        else:
            self._digest.update(flat.tobytes())

    @property
    def digest(self) -> str:
        return self._digest.hexdigest()

    def _count(self) -> None:
        """Bring the trade count and the order ledger up to the end of the log."""
        log = self.log
        if self._counted == len(log):
            return
        asked, done = self._asked, self._done
        trades = 0
        for _, e in log[self._counted:]:
            kind = e[0]
            if kind == FILL:
                trades += 1
                done[(e[1], e[4])] += e[3]
                done[(e[1], e[7])] += e[3]
            elif kind == ACCEPTED:
                asked[(e[1], e[2])] += e[6]
            elif kind == CANCELLED:
                done[(e[1], e[2])] += e[4]
            elif kind == AMENDED:
                delta = e[5] - e[6]
                if delta > 0:
                    asked[(e[1], e[2])] += delta
                else:
                    done[(e[1], e[2])] -= delta
        self._trades += trades
        self._counted = len(log)

    @property
    def trades(self) -> int:
        """FILL events recorded so far."""
        self._count()
        return self._trades

    @property
    def orders_accepted(self) -> int:
        """Orders with an ACCEPTED event recorded so far (for the summary's warnings)."""
        self._count()
        return len(self._asked)

    def orders_accounted(self, resting: dict[tuple[int, int], int]) -> bool:
        """Every order: asked == filled + cancelled + resting (``resting``: (sym, oid) -> lots)."""
        self._count()
        done = self._done
        return all(asked == done.get(key, 0) + resting.get(key, 0)
                   for key, asked in self._asked.items())
