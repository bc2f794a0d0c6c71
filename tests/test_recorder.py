"""The recorder: its log, its digest's encoding, and the order ledger it derives after the run."""

from __future__ import annotations

import hashlib
from array import array
from typing import Any

from test_sim import small

from exsim.actors.messages import Events
from exsim.actors.recorder import Recorder
from exsim.config import parse_config
from exsim.core.events import ACCEPTED, AMENDED, CANCELLED, FIELDS, FILL
from exsim.sim import Simulation

# (kind, sym, oid, acct, side, price, qty, type, tif, flags)
ACC_1 = (ACCEPTED, 0, 1, 7, 0, 100, 5, 0, 0, 0)
ACC_2 = (ACCEPTED, 0, 2, 8, 1, 100, 3, 0, 0, 0)
# (kind, sym, price, qty, taker_oid, taker_acct, taker_side, maker_oid, maker_acct, ...)
FILL_3 = (FILL, 0, 100, 3, 2, 8, 1, 1, 7, 0, 0, 0, 0)
# (kind, sym, oid, acct, price, leaves, old_leaves, kept_priority): order 1's 2 left lots -> 4
AMEND_UP = (AMENDED, 0, 1, 7, 100, 4, 2, 0)
CANCEL_4 = (CANCELLED, 0, 1, 7, 4, 0)


def test_every_event_of_a_run_has_its_kinds_length() -> None:
    """The digest hashes fields without per-event lengths: that is unambiguous only because
    an event's kind fixes its length."""
    sim = Simulation(parse_config(small(60.0)))
    sim.run()
    kinds = {e[0] for _, e in sim.recorder.log}
    assert {ACCEPTED, FILL, CANCELLED} <= kinds
    assert all(len(e) == 1 + len(FIELDS[e[0]]) for _, e in sim.recorder.log)


def test_log_digest_and_ledger_by_hand() -> None:
    rec = Recorder()
    rec.absorb(Events(10, [ACC_1, ACC_2, FILL_3]))
    assert rec.trades == 1
    assert rec.orders_accounted({(0, 1): 2})  # order 1: 5 asked, 3 filled, 2 rest
    assert not rec.orders_accounted({(0, 1): 1})  # a lot gone missing is caught
    rec.absorb(Events(20, [AMEND_UP]))
    rec.absorb(Events(30, [CANCEL_4]))
    assert rec.log == [(10, ACC_1), (10, ACC_2), (10, FILL_3), (20, AMEND_UP), (30, CANCEL_4)]
    assert rec.trades == 1  # counted once, though asked for again after more batches
    assert rec.orders_accounted({})  # 5 + 2 asked = 3 filled + 4 cancelled
    assert not rec.orders_accounted({(0, 1): 1})
    expected = hashlib.sha256()
    for at, events in ((10, [ACC_1, ACC_2, FILL_3]), (20, [AMEND_UP]), (30, [CANCEL_4])):
        flat: list[Any] = [at, len(events)]
        for e in events:
            flat.extend(e)
        expected.update(array("q", flat).tobytes())
    assert rec.digest == expected.hexdigest()


def test_batches_split_differently_hash_differently() -> None:
    one, two = Recorder(), Recorder()
    one.absorb(Events(10, [ACC_1, ACC_2]))
    two.absorb(Events(10, [ACC_1]))
    two.absorb(Events(10, [ACC_2]))
    assert one.log == two.log and one.digest != two.digest


def test_a_field_beyond_64_bits_is_hashed_by_its_repr() -> None:
    big = (ACCEPTED, 0, 1, 7, 0, 2**70, 5, 0, 0, 0)
    rec, other = Recorder(), Recorder()
    rec.absorb(Events(10, [big]))
    other.absorb(Events(10, [(ACCEPTED, 0, 1, 7, 0, 2**70 + 1, 5, 0, 0, 0)]))
    assert rec.log == [(10, big)] and rec.digest != other.digest
