"""The Parquet tables: written in row groups from a stream, and never lost to a value that
does not fit int64 (issue 16, item 10)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from exsim.actors.messages import Events
from exsim.actors.recorder import Recorder
from exsim.config import parse_config
from exsim.core.events import ACCEPTED, ACCOUNT, DEPOSIT, FIELDS, FILL, MARK, REJECTED, Request
from exsim.output.tables import TABLES, write_tables
from exsim.sim import Simulation

BIG_OID = 10**30  # ctx.cancel(10**30): refused, and the REJECTED event names it
OVER_INT64 = 2**63 + 5  # a deposit of about 92 billion quote units in 1e-8 atoms, and more
BEYOND_DECIMAL = -(10**40)  # beyond decimal128(38, 0) too

LOG = [
    (0, (DEPOSIT, 100, OVER_INT64)),
    (0, (DEPOSIT, 101, 5)),
    (0, (MARK, 0, 300_000, 300_000)),
    (10, (ACCEPTED, 0, 7, 100, 0, 300_000, 3, 0, 0, 0)),
    (20, (REJECTED, int(Request.CANCEL), 0, BIG_OID, 101, 4)),
    (20, (ACCEPTED, 0, 8, 101, 1, 0, 3, 1, 0, 0)),
    (20, (FILL, 0, 300_000, 3, 8, 101, 1, 7, 100, 45, -9, 0, 0)),
    (30, (ACCOUNT, 100, 0, 3, 900_000, 0, BEYOND_DECIMAL, 1, 3)),
]


def _check(out: Path) -> None:
    orders = pq.read_table(out / "orders.parquet")
    assert orders.schema.field("oid").type == pa.decimal128(38, 0)
    assert orders.schema.field("acct").type == pa.int64()  # only what needs it is wider
    assert orders.column("oid").to_pylist() == [7, BIG_OID, 8]
    accounts = pq.read_table(out / "accounts.parquet")
    assert accounts.schema.field("amount").type == pa.decimal128(38, 0)
    assert accounts.column("amount").to_pylist() == [Decimal(OVER_INT64), 5]
    snaps = pq.read_table(out / "account_snapshots.parquet")
    assert snaps.schema.field("wallet").type == pa.string()
    assert snaps.column("wallet").to_pylist() == [str(BEYOND_DECIMAL)]
    assert snaps.schema.field("qty").type == pa.int64()
    trades = pq.read_table(out / "trades.parquet")
    assert trades.schema.field("maker_fee").type == pa.int64()
    assert trades.column("maker_fee").to_pylist() == [-9]


def test_a_value_beyond_int64_widens_its_column_only(tmp_path: Path) -> None:
    rows = write_tables(LOG, tmp_path)  # a list: the writer finds the wide columns itself
    assert rows == {"trades": 1, "orders": 3, "marks": 1, "funding": 0, "accounts": 2,
                    "account_snapshots": 1, "liquidations": 0}
    _check(tmp_path)


def test_the_same_through_a_spilled_log(tmp_path: Path) -> None:
    """The run's path: the log on disk says which columns are wide, without a second pass."""
    rec = Recorder()
    rec.spill_to(tmp_path / "events.bin", {}, every=2)
    for at in sorted({at for at, _ in LOG}):
        rec.absorb(Events(at, [e for t, e in LOG if t == at]))
    assert list(rec.events()) == LOG
    (tmp_path / "out").mkdir()
    write_tables(rec.events(), tmp_path / "out", rec.wide())
    _check(tmp_path / "out")


def test_tables_come_in_row_groups_and_keep_the_log_order(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    import exsim.output.tables as tables

    monkeypatch.setattr(tables, "ROW_GROUP", 7)
    log = [(t, (ACCEPTED, 0, t, 100 + t % 3, t % 2, 1000 + t, 1 + t % 5, 0, 0, 0)
            if t % 4 else (MARK, 0, 900 + t, 0)) for t in range(100)]
    rows = write_tables(log, tmp_path)
    orders = pq.ParquetFile(tmp_path / "orders.parquet")
    assert orders.metadata.num_row_groups > 5 and rows["orders"] == 75
    got = orders.read().to_pydict()
    assert got["oid"] == [t for t in range(100) if t % 4]
    assert got["price"] == [1000 + t for t in range(100) if t % 4]
    assert got["kind"] == ["ACCEPTED"] * 75
    assert pq.read_table(tmp_path / "marks.parquet").column("price").to_pylist() == [
        900 + t for t in range(0, 100, 4)]
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_every_table_has_its_columns_even_when_empty(tmp_path: Path) -> None:
    write_tables([], tmp_path)
    for name, kinds in TABLES.items():
        table = pq.read_table(tmp_path / f"{name}.parquet")
        assert table.num_rows == 0
        assert set(table.column_names) == {"time_ns", "kind",
                                           *(f for k in kinds for f in FIELDS[k])}


def test_a_deposit_above_92_billion_does_not_cost_the_run_its_output(tmp_path: Path) -> None:
    """Atoms of 1e-8: 1e11 quote units is 1e19 atoms, beyond int64; the run used to end
    with an OverflowError and no summary."""
    cfg = parse_config({"run": {"seed": 3, "duration": 70.0},
                        "output": {"account_snapshot_s": 60.0},
                        "agents": [{"class": "market_maker", "count": 2, "deposit": 1e11},
                                   {"class": "noise", "count": 3}]})
    summary = Simulation(cfg).run(tmp_path / "run")
    assert summary["complete"] and all(summary["invariants"].values())
    accounts = pq.read_table(tmp_path / "run" / "accounts.parquet")
    assert accounts.schema.field("amount").type == pa.decimal128(38, 0)
    assert max(a for a in accounts.column("amount").to_pylist() if a is not None) == (
        Decimal(10**19))
    snaps = pq.read_table(tmp_path / "run" / "account_snapshots.parquet")
    assert snaps.num_rows == summary["tables"]["account_snapshots"] > 0
