"""The event log on disk: a spilling recorder keeps the same log and digest as one in memory,
in bounded memory, and a log cut anywhere (a kill) reads back as its whole chunks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from test_sim import small

from exsim.actors.messages import Events
from exsim.actors.recorder import Recorder
from exsim.config import parse_config
from exsim.core.events import ACCEPTED, DEPOSIT, FIELDS, FILL, MARK, REJECTED
from exsim.output.eventlog import LogError, LogReader
from exsim.sim import Simulation

META: dict[str, Any] = {"k": [1], "cash_atom": 1e-8, "tick": [0.1], "lot": [0.001],
                        "funds": [-1]}


def _event(kind: int, values: list[int]) -> tuple[int, ...]:
    n = len(FIELDS[kind])
    return (kind, *(values * n)[:n])


# a batch: a time and events of a few kinds, with fields up to far beyond int64
_fields = st.lists(st.one_of(st.integers(-(2**40), 2**40), st.integers(-(10**45), 10**45)),
                   min_size=1, max_size=3)
_events = st.lists(st.builds(_event, st.sampled_from([ACCEPTED, REJECTED, FILL, MARK, DEPOSIT]),
                             _fields), min_size=1, max_size=4)
_batches = st.lists(st.tuples(st.integers(0, 10**12), _events), min_size=1, max_size=25)


def _record(batches: list[tuple[int, list[tuple[int, ...]]]], path: Path | None,
            every: int = 3) -> tuple[Recorder, list[int]]:
    """Feed ``batches`` to a recorder (spilling to ``path`` if given); returns it and the
    file's size after each batch."""
    rec = Recorder()
    if path is not None:
        rec.spill_to(path, META, every=every)
    sizes = []
    for at, events in batches:
        rec.absorb(Events(at, list(events)))
        sizes.append(path.stat().st_size if path is not None else 0)
    return rec, sizes


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=_batches, every=st.integers(1, 6))
def test_a_spilled_log_reads_back_with_the_same_digest(tmp_path: Path, batches: Any,
                                                       every: int) -> None:
    path = tmp_path / f"log-{every}.bin"
    in_memory, _ = _record(batches, None)
    spilled, _ = _record(batches, path, every)
    spilled.close()
    assert list(spilled.events()) == in_memory.log
    assert spilled.count == len(in_memory.log)
    assert spilled.digest == in_memory.digest == LogReader(path).digest()
    path.unlink()


def _chunk_sizes(batches: Any, every: int) -> list[int]:
    """Events per chunk, by the recorder's rule: int64 batches are buffered until ``every``
    events; a batch that does not fit int64 flushes the buffer, then goes alone."""
    out, buffered = [], 0
    for at, events in batches:
        if all(-(2**63) <= v < 2**63 for v in (at, *(f for e in events for f in e))):
            buffered += len(events)
            if buffered >= every:
                out.append(buffered)
                buffered = 0
        else:
            if buffered:
                out.append(buffered)
                buffered = 0
            out.append(len(events))
    return out


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=_batches, every=st.integers(1, 5), cut=st.floats(0, 1))
def test_a_log_cut_anywhere_reads_back_as_its_whole_chunks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batches: Any, every: int,
        cut: float) -> None:
    """A kill can cut the file at any byte: the reader gives exactly the events of the
    chunks that end before the cut, and says it was cut unless the cut is between chunks."""
    from exsim.output.eventlog import LogWriter

    ends: list[int] = []
    real = LogWriter._chunk

    def chunk(self: LogWriter, kind: int, raw: Any) -> None:
        real(self, kind, raw)
        ends.append(self._file.tell())

    monkeypatch.setattr(LogWriter, "_chunk", chunk)
    path = tmp_path / "log.bin"
    _record(batches, path, every)
    sizes = _chunk_sizes(batches, every)
    assert len(sizes) == len(ends)  # the recorder wrote the chunks its rule says
    header = LogReader(path)._start
    at = header + round(cut * (path.stat().st_size - header))
    with open(path, "r+b") as f:
        f.truncate(at)
    kept = sum(n for n, end in zip(sizes, ends, strict=True) if end <= at)
    reader = LogReader(path)
    log = [(t, e) for t, events in batches for e in events]
    assert list(reader.events()) == log[:kept]
    assert reader.torn == (at not in (header, *ends))
    path.unlink()


def test_a_damaged_chunk_ends_the_log_there(tmp_path: Path) -> None:
    path = tmp_path / "log.bin"
    batches = [(t, [_event(MARK, [0, 100 + t, 0])]) for t in range(10)]
    _, sizes = _record(batches, path, every=1)  # one chunk per batch
    with open(path, "r+b") as f:
        f.seek(sizes[4] + 30)  # inside the sixth chunk's stored bytes
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    reader = LogReader(path)
    assert [t for t, _ in reader.events()] == [0, 1, 2, 3, 4] and reader.torn


def test_not_a_log_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"PAR1 something else")
    with pytest.raises(LogError, match="not an exsim event log"):
        LogReader(tmp_path / "x.bin")


def test_a_spilling_run_has_the_same_log_digest_and_tables(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """A run that writes a directory (spilling every 200 events here) records exactly the
    run kept in memory: the same digest, and tables equal to those built from the list."""
    import pyarrow.parquet as pq

    import exsim.actors.recorder as recorder
    from exsim.output.tables import TABLES, write_tables

    cfg = parse_config(small(120.0))
    memory = Simulation(cfg)
    kept = memory.run()
    monkeypatch.setattr(recorder, "SPILL_EVERY", 200)
    writer = Simulation(cfg)
    spilled = writer.run(tmp_path / "run")
    assert spilled["digest"] == kept["digest"] and spilled["events"] == kept["events"]
    assert spilled["trades"] == kept["trades"] and spilled["invariants"] == kept["invariants"]
    resting = {(m.index, o[0]): o[4] for m in writer.core.markets
               for o in m.book.orders.values()}
    assert writer.recorder._ledger.open == resting  # it kept only the orders still open
    (tmp_path / "ref").mkdir()
    write_tables(memory.recorder.log, tmp_path / "ref")
    for name in TABLES:
        assert pq.read_table(tmp_path / "run" / f"{name}.parquet").equals(
            pq.read_table(tmp_path / "ref" / f"{name}.parquet")), name
    assert not (tmp_path / "run" / "events.bin").exists()  # its events are in the tables
    with pytest.raises(RuntimeError, match="written to the run's tables and removed"):
        writer.recorder.events()
    rec = Recorder()
    rec.spill_to(tmp_path / "x.bin", META)
    with pytest.raises(RuntimeError, match="not to memory: read the run's Parquet tables"):
        rec.log  # noqa: B018
