"""The recorder: its log, its digest's encoding, and the order ledger it derives after the run."""

from __future__ import annotations

import hashlib
from array import array
from pathlib import Path
from typing import Any

from test_sim import small

from exsim.actors.messages import Events
from exsim.actors.recorder import Recorder
from exsim.config import parse_config
from exsim.core.events import ACCEPTED, AMENDED, CANCELLED, FIELDS, FILL, REJECTED, Request
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


def test_the_ledger_drops_orders_once_accounted_and_catches_strays() -> None:
    rec = Recorder()
    rec.absorb(Events(10, [ACC_1, ACC_2, FILL_3]))  # order 2: 3 asked, 3 filled: done
    assert rec.orders_accounted({(0, 1): 2})
    assert rec._ledger.open == {(0, 1): 2}  # only the open order is held
    rec.absorb(Events(20, [AMEND_UP, CANCEL_4]))
    assert rec.orders_accounted({}) and rec._ledger.open == {}
    assert not rec.orders_accounted({(0, 9): 1})  # resting, but never asked for


def test_every_submit_sent_is_answered_or_unprocessed() -> None:
    rejected = (REJECTED, int(Request.SUBMIT), 0, 3, 7, 1)
    rec = Recorder()
    rec.absorb(Events(10, [ACC_1, ACC_2, FILL_3, rejected]))  # 2 accepted, 1 refused
    resting = {(0, 1): 2}
    assert rec.orders_accounted(resting, submits_sent=3)
    assert rec.orders_accounted(resting, submits_sent=5, submits_unprocessed=2)
    assert not rec.orders_accounted(resting, submits_sent=4)  # one went missing
    assert not rec.orders_accounted(resting, submits_sent=3, submits_unprocessed=1)


def test_by_hand_when_spilling(tmp_path: Path) -> None:
    """The same log, digest and ledger as in memory, every batch its own chunk."""
    rec = Recorder()
    rec.spill_to(tmp_path / "events.bin", {}, every=1)
    rec.absorb(Events(10, [ACC_1, ACC_2, FILL_3]))
    assert rec.trades == 1 and rec.orders_accounted({(0, 1): 2})
    rec.absorb(Events(20, [AMEND_UP]))
    rec.absorb(Events(30, [CANCEL_4]))
    assert list(rec.events()) == [(10, ACC_1), (10, ACC_2), (10, FILL_3), (20, AMEND_UP),
                                  (30, CANCEL_4)]
    assert rec.trades == 1 and rec.orders_accounted({}) and rec.count == 5
    memory = Recorder()
    for at, events in ((10, [ACC_1, ACC_2, FILL_3]), (20, [AMEND_UP]), (30, [CANCEL_4])):
        memory.absorb(Events(at, events))
    assert rec.digest == memory.digest


def test_events_recorded_before_spilling_go_first(tmp_path: Path) -> None:
    """The setup's events are recorded in memory; spilling writes them first, and the
    digest (already taken) is not taken twice."""
    rec, memory = Recorder(), Recorder()
    for r in (rec, memory):
        r.absorb(Events(0, [ACC_1, ACC_2]))
    rec.spill_to(tmp_path / "events.bin", {})
    for r in (rec, memory):
        r.absorb(Events(10, [FILL_3]))
    assert list(rec.events()) == memory.log and rec.digest == memory.digest
