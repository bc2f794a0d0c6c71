"""The recorder: receives every event batch, keeps the log, its digest and the quantity ledger.

The exchange hands it each instant's events as it publishes them (a direct call,
not a network message: the recorder observes the exchange, it takes no part in
the market, and a delivery 1 ns later cost one more distinct instant per publish,
a third of a crowded run's instants).  Batches come in publish order, so the log
(and its sha256, the run's ``digest``) is the same for the same config and seed.  Each batch is
hashed as one array of signed 64-bit ints: the time, then for every event its
length and its fields (every field is an int that fits; a value that did not
would fall back to the event's ``repr``).  The recorder also keeps, per order,
the lots asked for and the lots filled or cancelled, so the end of a run can
check that every order's quantity is accounted for.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import defaultdict

from exsim.actors.messages import Events
from exsim.core.events import ACCEPTED, AMENDED, CANCELLED, FILL, Event


class Recorder:
    def __init__(self) -> None:
        self.log: list[tuple[int, Event]] = []
        self._digest = hashlib.sha256()
        self.asked: dict[tuple[int, int], int] = defaultdict(int)
        self.done: dict[tuple[int, int], int] = defaultdict(int)
        self.trades = 0

    def absorb(self, msg: Events) -> None:
        at = msg.at
        asked, done = self.asked, self.done
        flat = [at]
        for e in msg.events:
            self.log.append((at, e))
            flat.append(len(e))
            flat.extend(e)
            kind = e[0]
            if kind == FILL:
                self.trades += 1
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
        try:
            self._digest.update(array("q", flat).tobytes())
        except OverflowError:
            self._digest.update(repr(flat).encode())

    @property
    def digest(self) -> str:
        return self._digest.hexdigest()

    def orders_accounted(self, resting: dict[tuple[int, int], int]) -> bool:
        """Every order: asked == filled + cancelled + resting (``resting``: (sym, oid) -> lots)."""
        return all(asked == self.done.get(key, 0) + resting.get(key, 0)
                   for key, asked in self.asked.items())
