"""Event tables in Parquet: one file per event kind, one column per field, plus time.

Columns come from :data:`exsim.core.events.FIELDS`, so the tables cannot drift
from the events.  Files: ``orders.parquet`` (accepted, rejected, cancelled,
amended, with a ``kind`` column), ``trades.parquet`` (fills), ``marks.parquet``,
``funding.parquet`` (rates and per-account payments), ``account_snapshots.parquet``
(every account's positions and balances at a fixed interval), ``liquidations.parquet``
(takeovers, ADL executions, fund transfers, socialized loss),
``accounts.parquet`` (deposits, leverage and margin changes).  pandas, polars
and duckdb read them directly.

Tables are written by streaming over the log (from the run's ``events.bin``), in row
groups: at most :data:`ROW_GROUP` rows are held in all, so no table is ever built whole
in memory.  Integer
columns are int64, unless some value does not fit: then that column is
decimal128(38, 0), or strings beyond that (a deposit above about 92 billion quote
units in atoms of 1e-8, an order id of 10**30), so one odd value never costs a run
its output.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from exsim.core.events import (
    ACCEPTED,
    ACCOUNT,
    ADL,
    ADL_ROUND,
    AMENDED,
    CANCELLED,
    DEPOSIT,
    FIELDS,
    FILL,
    FUND,
    FUNDING,
    FUNDING_RATE,
    ISOLATED_MARGIN,
    LEVERAGE,
    LIQUIDATION,
    MARK,
    REJECTED,
    SETTLEMENT,
    SOCIALIZED,
    SPOT_DEPOSIT,
    VAULT_TRANSFER,
    Event,
    Kind,
)
from exsim.output.eventlog import scan_wide
from exsim.scenarios.index_path import IndexPath

TABLES: dict[str, tuple[int, ...]] = {
    "trades": (FILL,),
    "orders": (ACCEPTED, REJECTED, CANCELLED, AMENDED),
    "marks": (MARK,),
    "funding": (FUNDING_RATE, FUNDING),
    "accounts": (DEPOSIT, LEVERAGE, ISOLATED_MARGIN, SPOT_DEPOSIT),
    "account_snapshots": (ACCOUNT,),
    "liquidations": (LIQUIDATION, ADL, ADL_ROUND, FUND, SOCIALIZED, VAULT_TRANSFER,
                     SETTLEMENT),
}


ROW_GROUP = 65_536  # rows buffered (in all tables) before the fullest table's go to its file
_PAD = (None,)  # appended to an event so that a missing column reads as null
_KIND_NAMES = pa.array([Kind(k).name if k in FIELDS else None
                        for k in range(max(FIELDS) + 1)], pa.string())
_ARROW = {"int": pa.int64(), "decimal": pa.decimal128(38, 0), "string": pa.string()}
_WIDER = {"int": 0, "decimal": 1, "string": 2}


def columns_of(kinds: tuple[int, ...]) -> list[str]:
    """A table's event columns: the union of its kinds' fields, in order of first use."""
    columns: list[str] = []
    for kind in kinds:
        columns.extend(f for f in FIELDS[kind] if f not in columns)
    return columns


def _column_types(kinds: tuple[int, ...], wide: Mapping[tuple[int, int], str]
                  ) -> dict[str, str]:
    """``time_ns`` and every event column -> ``int`` (int64), ``decimal`` (decimal128(38, 0))
    or ``string``: the narrowest type that holds every value (``wide``: the fields that
    int64 cannot hold, from :meth:`exsim.output.eventlog.LogReader.wide`)."""
    types = {c: "int" for c in ("time_ns", *columns_of(kinds))}
    for (kind, i), need in wide.items():
        if kind in kinds:
            column = "time_ns" if i == 0 else FIELDS[kind][i - 1]
            if _WIDER[need] > _WIDER[types[column]]:
                types[column] = need
    return types


def _arrow_column(values: Sequence[object], kind: str) -> pa.Array:
    if kind == "string":
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.array(values, _ARROW[kind])


class _TableWriter:
    """One table's Parquet file, written in row groups as its events come."""

    def __init__(self, path: Path, kinds: tuple[int, ...],
                 wide: Mapping[tuple[int, int], str]) -> None:
        self.path = path
        self.columns = columns_of(kinds)
        self.types = _column_types(kinds, wide)
        self.schema = pa.schema([("time_ns", _ARROW[self.types["time_ns"]]),
                                 ("kind", pa.string()),
                                 *[(c, _ARROW[self.types[c]]) for c in self.columns]])
        # per kind: the event's fields in the table's column order, None where it has none
        self.getters = {kind: itemgetter(*[FIELDS[kind].index(c) + 1 if c in FIELDS[kind]
                                           else len(FIELDS[kind]) + 1 for c in self.columns])
                        for kind in kinds}
        self.single = len(kinds) == 1 and len(self.columns) == len(FIELDS[kinds[0]])
        self.rows: list[tuple[int, Event]] = []
        self.written = 0
        self._file: pq.ParquetWriter | None = None

    def write_group(self) -> None:
        rows = self.rows
        if not rows:
            return
        times, events = zip(*rows, strict=True)
        if self.single:  # the event's own fields are the columns
            fields = list(zip(*events, strict=True))
            kinds, values = fields[0], fields[1:]
        else:
            getters = self.getters
            kinds = tuple(e[0] for e in events)
            values = list(zip(*[getters[e[0]](e + _PAD) for e in events], strict=True))
        types = self.types
        arrays = [_arrow_column(times, types["time_ns"]),
                  _KIND_NAMES.take(pa.array(kinds, pa.int64())),
                  *[_arrow_column(col, types[c]) for c, col in zip(self.columns, values,
                                                                     strict=True)]]
        if self._file is None:
            self._file = pq.ParquetWriter(self.path, self.schema)
        self._file.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self.written += len(rows)
        self.rows = []

    def close(self) -> None:
        self.write_group()
        if self._file is None:  # no rows: the file still says what its columns are
            pq.write_table(self.schema.empty_table(), self.path)
        else:
            self._file.close()


def write_tables(log: Iterable[tuple[int, Event]], out: Path,
                 wide: Mapping[tuple[int, int], str] | None = None) -> dict[str, int]:
    """Write every table, streaming over ``log`` in row groups; returns rows per table.

    A column whose values do not all fit int64 is written as decimal128(38, 0) when they
    fit that, else as strings: ``wide`` says which (from the event log); without it, the
    log is read twice (a list) to find out.  Each file is written to a temporary sibling
    and renamed into place, so a table is either whole or absent.
    """
    if wide is None:
        log = list(log)
        wide = scan_wide(log)
    writers = {name: _TableWriter(out / f".{name}.parquet.tmp", kinds, wide)
               for name, kinds in TABLES.items()}
    route: list[_TableWriter | None] = [None] * (max(FIELDS) + 1)
    for writer, kinds in zip(writers.values(), TABLES.values(), strict=True):
        for kind in kinds:
            route[kind] = writer
    buffered = 0
    for row in log:
        into = route[row[1][0]]
        assert into is not None
        into.rows.append(row)
        buffered += 1
        if buffered >= ROW_GROUP:  # at most ROW_GROUP rows held in all: the fullest goes
            fullest = max(writers.values(), key=lambda w: len(w.rows))
            buffered -= len(fullest.rows)
            fullest.write_group()
    counts = {}
    for name, writer in writers.items():
        writer.close()
        os.replace(writer.path, out / f"{name}.parquet")
        counts[name] = writer.written
    return counts


class SeriesWriter:
    """``series.parquet``: the run's time series for plots (name, time, sym, value), streamed.

    :func:`exsim.output.metrics.series` hands it each point (``add``); the fundamental
    value is sampled at every mark time, from the scenario's path (``paths``; ``None``:
    no such rows, as when a killed run's log is recovered without its scenario).  It keeps the
    lowest and the last ``fund_to_oi`` ratio for the summary.
    """

    def __init__(self, out: Path, paths: Sequence[IndexPath] | None) -> None:
        self.path = out / "series.parquet"
        self._tmp = out / ".series.parquet.tmp"
        self.paths = paths
        # one list per column (no tuple per point: fewer objects made and freed)
        self.columns: tuple[list[str], list[int], list[int], list[float]] = ([], [], [], [])
        self.fund_to_oi: tuple[float, float] | None = None  # (min, last)
        self._file: pq.ParquetWriter | None = None

    def add(self, name: str, t: int, sym: int, value: float) -> None:
        names, times, syms, values = self.columns
        names.append(name)
        times.append(t)
        syms.append(sym)
        values.append(float(value))
        if name == "mark" and self.paths is not None:
            names.append("fundamental")
            times.append(t)
            syms.append(sym)
            values.append(self.paths[sym].at(t))
        elif name == "fund_to_oi":
            low = value if self.fund_to_oi is None else min(self.fund_to_oi[0], value)
            self.fund_to_oi = (low, value)
        if len(names) >= ROW_GROUP:
            self._write_group()

    def _write_group(self) -> None:
        names, times, syms, values = self.columns
        if not names:
            return
        table = pa.table({"name": pa.array(names, pa.string()),
                          "time_ns": pa.array(times, pa.int64()),
                          "sym": pa.array(syms, pa.int64()),
                          "value": pa.array(values, pa.float64())}, schema=SERIES_SCHEMA)
        if self._file is None:
            self._file = pq.ParquetWriter(self._tmp, SERIES_SCHEMA)
        self._file.write_table(table)
        for column in self.columns:
            column.clear()

    def close(self) -> None:
        self._write_group()
        if self._file is None:
            pq.write_table(SERIES_SCHEMA.empty_table(), self._tmp)
        else:
            self._file.close()
        os.replace(self._tmp, self.path)


SERIES_SCHEMA = pa.schema([("name", pa.string()), ("time_ns", pa.int64()),
                           ("sym", pa.int64()), ("value", pa.float64())])
