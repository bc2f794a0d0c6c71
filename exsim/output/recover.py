"""A killed run's results, rebuilt from the event log it left (``exsim report DIR`` does this).

A run killed outright (SIGKILL, the OOM killer, a power-off of its container), or
stopped while it wrote its results, leaves its directory marked incomplete with
``events.bin``: every event up to its last flush (:mod:`exsim.output.rundir`).
:func:`recover` writes the tables and the plot series from that log and a
``summary.json`` that still says ``complete: false`` but adds what the log
proves: its events, trades, digest, the waterfall's figures and how far it got
(``recovered``).  What needs the exchange's state at the end (the invariants,
the requests left unprocessed) is gone with the process and is not claimed.  The
plots have no index line: the index comes from the scenario, not the log (unless
the run had already written ``series.parquet``, which is then kept).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from exsim.actors.recorder import OrderLedger
from exsim.core.events import Event
from exsim.output.eventlog import LogReader
from exsim.output.metrics import series, waterfall
from exsim.output.rundir import EVENTS, RUNNING, lock_run_dir, read_summary
from exsim.output.tables import SeriesWriter, write_tables
from exsim.timeunits import NS_PER_S

KILLED = "killed before it ended"


def recover(directory: Path) -> dict[str, Any] | None:
    """Rebuild ``directory``'s tables, series and summary from its ``events.bin`` and remove
    the log; returns the new summary, or ``None`` when there is no log to recover.

    Refuses (:class:`~exsim.output.rundir.RunDirError`) a directory a live run is writing.
    """
    path = directory / EVENTS
    if not path.exists():
        return None
    run_dir = lock_run_dir(directory)
    try:
        before = read_summary(directory) or {}
        if before.get("complete"):  # killed between its summary and removing the log
            path.unlink()
            return before
        reader = LogReader(path)
        meta = reader.meta
        seen = [0, 0]  # events, time of the last

        def counted(log: Iterator[tuple[int, Event]]) -> Iterator[tuple[int, Event]]:
            for pair in log:
                seen[0] += 1
                seen[1] = pair[0]
                yield pair

        tables = write_tables(counted(reader.events()), directory, reader.wide())
        ledger = OrderLedger()
        ledger.feed(reader.events())
        atom, funds = meta["cash_atom"], meta["funds"]
        flows = waterfall(reader.events(), atom, funds)
        writer = None
        if not (directory / "series.parquet").exists():  # else the run's own, with the index
            writer = SeriesWriter(directory, None)
            series(reader.events(), meta["k"], atom, meta["tick"], meta["lot"], funds,
                   sink=writer.add, spot_tick=meta.get("spot_tick", ()))
            writer.close()
        reason = before.get("reason") or RUNNING
        flows["insurance_fund"].pop("end_atoms", None)
        summary = {
            **before,
            "complete": False,
            "reason": KILLED if reason == RUNNING else reason,
            "recovered": {"from": EVENTS, "events": seen[0], "through_sim_seconds":
                          seen[1] / NS_PER_S, "log_cut_short": reader.torn},
            "digest": reader.digest(),  # of the batches recorded
            "seed": meta.get("seed", before.get("seed")),
            "sim_seconds": seen[1] / NS_PER_S,
            "events": seen[0],
            "trades": ledger.trades,
            **{k: flows[k] for k in ("liquidations", "fund_draws", "fund_drawn",
                                     "fund_contributions", "adl_events", "socialized_loss",
                                     "insurance_fund")},
            "fund_to_oi": ({"min": writer.fund_to_oi[0], "end": writer.fund_to_oi[1]}
                           if writer is not None and writer.fund_to_oi else None),
            "tables": tables,
            "invariants": {},  # they need the exchange's state at the end, lost with the run
        }
        run_dir.write_summary(summary)
        path.unlink()
        return summary
    finally:
        run_dir.close()
