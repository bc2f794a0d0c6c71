"""Event tables in Parquet: one file per event kind, one column per field, plus time.

Columns come from :data:`exsim.core.events.FIELDS`, so the tables cannot drift
from the events.  Files: ``orders.parquet`` (accepted, rejected, cancelled,
amended, with a ``kind`` column), ``trades.parquet`` (fills), ``marks.parquet``,
``funding.parquet`` (rates and per-account payments), ``account_snapshots.parquet``
(every account's positions and balances at a fixed interval), ``liquidations.parquet``
(takeovers, ADL executions, fund transfers, socialized loss),
``accounts.parquet`` (deposits, leverage and margin changes).  pandas, polars
and duckdb read them directly.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from exsim.core.events import (
    ACCEPTED,
    ACCOUNT,
    ADL,
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
    SOCIALIZED,
    SPOT_DEPOSIT,
    VAULT_TRANSFER,
    Event,
    Kind,
)
from exsim.scenarios.index_path import IndexPath

TABLES: dict[str, tuple[int, ...]] = {
    "trades": (FILL,),
    "orders": (ACCEPTED, REJECTED, CANCELLED, AMENDED),
    "marks": (MARK,),
    "funding": (FUNDING_RATE, FUNDING),
    "accounts": (DEPOSIT, LEVERAGE, ISOLATED_MARGIN, SPOT_DEPOSIT),
    "account_snapshots": (ACCOUNT,),
    "liquidations": (LIQUIDATION, ADL, FUND, SOCIALIZED, VAULT_TRANSFER),
}


def table_rows(log: list[tuple[int, Event]], kinds: tuple[int, ...]) -> pa.Table:
    """A table of the events of ``kinds``: ``time_ns``, ``kind`` and the union of fields."""
    columns: list[str] = []
    for kind in kinds:
        columns.extend(f for f in FIELDS[kind] if f not in columns)
    data: dict[str, list[object]] = {"time_ns": [], "kind": [], **{c: [] for c in columns}}
    for at, e in log:
        if e[0] not in kinds:
            continue
        data["time_ns"].append(at)
        data["kind"].append(Kind(e[0]).name)
        values = dict(zip(FIELDS[e[0]], e[1:], strict=True))
        for c in columns:
            data[c].append(values.get(c))
    schema = pa.schema([("time_ns", pa.int64()), ("kind", pa.string()),
                        *[(c, pa.int64()) for c in columns]])
    return pa.table(data, schema=schema)


def write_tables(log: list[tuple[int, Event]], out: Path) -> dict[str, int]:
    """Write every table; returns rows per table."""
    rows = {}
    for name, kinds in TABLES.items():
        table = table_rows(log, kinds)
        pq.write_table(table, out / f"{name}.parquet")
        rows[name] = table.num_rows
    return rows


def write_series(series: dict[str, list[tuple[int, int, float]]], paths: list[IndexPath],
                 out: Path) -> None:
    """``series.parquet``: the run's time series for plots (name, time, sym, value).

    The index is sampled at every mark time, from the scenario's path.
    """
    rows = [(name, t, sym, value) for name, points in series.items()
            for t, sym, value in points]
    rows += [("index", t, sym, paths[sym].at(t)) for _, t, sym, _ in
             [r for r in rows if r[0] == "mark"]]
    table = pa.table({"name": [r[0] for r in rows], "time_ns": [r[1] for r in rows],
                      "sym": [r[2] for r in rows], "value": [float(r[3]) for r in rows]},
                     schema=pa.schema([("name", pa.string()), ("time_ns", pa.int64()),
                                       ("sym", pa.int64()), ("value", pa.float64())]))
    pq.write_table(table, out / "series.parquet")
