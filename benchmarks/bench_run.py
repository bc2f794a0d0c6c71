"""Runtime throughput: the actor pipeline and a 1,000-agent crowd, each beside its baseline.

Usage::

    python benchmarks/bench_run.py --json                 # both modes (several minutes)
    python benchmarks/bench_run.py --mode pipeline --events 200000
    python benchmarks/bench_run.py --mode crowd --seconds 600

* ``pipeline``: the seeded stream of ../shared/bench (or exsim's own stream)
  pushed by one producer through the network -> exchange actor -> back to the
  producer as the owner of every account (the event consumer), the recorder logging all, in
  virtual time, ``--batch`` events per instant with a 1 ms latency, versus the
  exchange core alone on the same stream in the same process:
  ``pipeline_events_per_s`` and ``pipeline_ratio``.
* ``crowd``: 800 noise traders (about every 10 s), 150 leveraged traders (about
  every 60 s) and 50 market makers (requoting every second) for one simulated
  hour (``--seconds``), written to a temporary run directory as ``exsim run`` does
  (the event log streams to disk): ``sim_seconds_per_wall_second``, ``events_per_s``
  (over the simulation's wall time; writing the output after it is ``output_seconds``),
  ``peak_rss_mb`` (the process's peak resident memory by the end of the run and its
  output, before the replay below), ``rss_mb_at_25_50_75_100pct`` (resident memory at
  those points of simulated time, before the output), and
  ``crowd_ratio``: the run's events/s over the core alone replaying the run's
  own order flow (its accepted orders, cancels and amends, in order).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import trio
import trio.testing

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_book  # noqa: E402

import exsim.core  # noqa: E402
from exsim.actors.exchange import ExchangeActor  # noqa: E402
from exsim.actors.latency import Constant  # noqa: E402
from exsim.actors.messages import Cancel, Submit  # noqa: E402
from exsim.actors.network import Network, Wake  # noqa: E402
from exsim.actors.recorder import Recorder  # noqa: E402
from exsim.config import parse_config  # noqa: E402
from exsim.core.engine import ExchangeCore  # noqa: E402
from exsim.core.events import (  # noqa: E402
    ACCEPTED,
    AMENDED,
    CANCELLED,
    DEPOSIT,
    FIELDS,
    LEVERAGE,
    MARK,
    Kind,
)
from exsim.core.orders import MARKET, CancelReason  # noqa: E402
from exsim.sim import Simulation  # noqa: E402

MS = 1_000_000


def pipeline(events: list[bench_book.Event], batch: int) -> tuple[float, int]:
    """Seconds and fills for the stream through network -> exchange actor -> event consumer.

    The producer owns every account of the stream, so each instant's events come back
    to it through the network (the consumer), and the recorder logs them all.
    """
    core = bench_book.make_core()
    net = Network(1, Constant(MS))
    recorder = Recorder()
    exchange = ExchangeActor(core, net, 0, service_ns=0, recorder=recorder)
    producer_inbox = net.register(1)
    accounts = bench_book.ACCOUNTS
    for acct in range(accounts):
        exchange.route(acct, 1)
    consumed = [0]

    async def producer() -> None:
        send = net.send
        for start in range(0, len(events), batch):
            for k, s, p, q, oid in events[start:start + batch]:
                acct = oid % accounts
                if k == 0:
                    send(1, 0, Submit(acct, 0, oid, s, q, p))
                elif k == 1:
                    send(1, 0, Cancel(acct, 0, oid))
                else:
                    send(1, 0, Submit(acct, 0, oid, s, q, None, MARKET))
            net.wake(1, net.now + MS)
            woken = False
            while not woken:
                for msg in await producer_inbox.receive():
                    if isinstance(msg, Wake):
                        woken = True
                    else:
                        consumed[0] += len(msg.events)

    async def main() -> None:
        async with trio.open_nursery() as n:
            n.start_soon(producer)
            await net.run(until=(len(events) // batch + 3) * MS)
            n.cancel_scope.cancel()

    t0 = time.perf_counter()
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert consumed[0] > 0, "the consumer received no events"
    return time.perf_counter() - t0, recorder.trades


def _rss_kb() -> int:
    """Resident memory now (Linux), else the peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() // 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def crowd_config(sim_seconds: float) -> dict[str, Any]:
    return {
        "run": {"seed": 1, "duration": sim_seconds},
        "agents": [
            {"class": "market_maker", "count": 50, "deposit": 2_000_000.0, "leverage": 5,
             "params": {"requote_s": 1.0, "quote_lots": 30}},
            {"class": "noise", "count": 800, "deposit": 20_000.0,
             "params": {"rate": 0.1, "p_market": 0.3}},
            {"class": "leveraged", "count": 150, "deposit": 10_000.0,
             "params": {"wait_mean_s": 60.0, "hold_mean_s": 60.0}},
        ],
    }


def _flow(run_dir: Path) -> list[tuple[int, int, tuple[Any, ...]]]:
    """The run's requests from its tables: ``(time, table rank, event)``, in log order
    within each table (the log itself is not kept once the tables are written)."""
    out: list[tuple[int, int, tuple[Any, ...]]] = []
    for rank, (name, kinds) in enumerate((("accounts", (DEPOSIT, LEVERAGE)), ("marks", (MARK,)),
                                          ("orders", (ACCEPTED, CANCELLED, AMENDED)))):
        table = pq.read_table(run_dir / f"{name}.parquet").to_pydict()
        for i, kind_name in enumerate(table["kind"]):
            kind = int(Kind[kind_name])
            if kind in kinds:
                fields = tuple(table[f][i] for f in FIELDS[kind])
                out.append((table["time_ns"][i], rank, (kind, *fields)))
    out.sort(key=lambda row: (row[0], row[1]))  # stable: each table keeps its order
    return out


def replay_flow(sim: Simulation, run_dir: Path) -> float:
    """Seconds for a fresh core to replay the run's own requests (accepted orders etc.)."""
    core = ExchangeCore(sim.specs, stp=sim.core.stp_default)
    requests: list[tuple[Any, ...]] = []
    for _, _, e in _flow(run_dir):
        kind = e[0]
        if kind == ACCEPTED:
            _, sym, oid, acct, side, price, qty, otype, tif, flags = e
            requests.append((core.submit, acct, sym, oid, side, qty, price or None, otype, tif,
                             bool(flags & 2), flags >> 2))
        elif kind == CANCELLED and e[5] == CancelReason.USER:
            requests.append((core.cancel, e[3], e[1], e[2]))
        elif kind == AMENDED:
            requests.append((core.amend, e[3], e[1], e[2], e[4], e[5]))
        elif kind == MARK:
            requests.append((core.set_mark, e[1], e[2]))
        elif kind == DEPOSIT and e[2] > 0:
            requests.append((core.deposit, e[1], e[2]))
        elif kind == LEVERAGE:
            requests.append((core.set_leverage, e[2], e[1], e[3]))
    t0 = time.perf_counter()
    out = core.events
    for i, (fn, *args) in enumerate(requests):
        fn(*args)
        if i & 4095 == 4095:
            out.clear()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=["pipeline", "crowd", "both"], default="both")
    ap.add_argument("--events", type=int, default=300_000, help="pipeline: stream events")
    ap.add_argument("--batch", type=int, default=256, help="pipeline: events per instant")
    ap.add_argument("--repeat", type=int, default=3, help="pipeline: rounds (median)")
    ap.add_argument("--seconds", "--sim-seconds", dest="sim_seconds", type=float,
                    default=3600.0, help="crowd: simulated seconds")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out: dict[str, Any] = {"compiled": exsim.core.COMPILED}  # the mypyc build (setup.py)
    if args.mode in ("pipeline", "both"):
        shared = bench_book.find_shared_bench(None)
        if shared is not None:
            events, _ = bench_book.shared_stream(shared, args.events)
        else:
            print("# ../shared/bench not found: exsim's own stream", file=sys.stderr)
            events = bench_book.own_stream(args.events)
        pipe, core = [], []
        for _ in range(args.repeat):  # round-robin, medians
            pipe.append(pipeline(events, args.batch)[0])
            core.append(bench_book.replay_core(events)[0])
        pipe.sort()
        core.sort()
        p, c = pipe[len(pipe) // 2], core[len(core) // 2]
        out.update(pipeline_events=len(events), pipeline_batch=args.batch,
                   pipeline_events_per_s=round(len(events) / p),
                   core_events_per_s=round(len(events) / c), pipeline_ratio=round(c / p, 3))
    if args.mode in ("crowd", "both"):
        sim = Simulation(parse_config(crowd_config(args.sim_seconds)))
        with tempfile.TemporaryDirectory() as tmp:  # as `exsim run` does: the log streams
            run_dir = Path(tmp) / "crowd"
            during: list[int] = []  # resident memory at each 1% of simulated time, KB
            ran = [0.0]  # when simulated time reached its end

            def progress(t: int, n: int) -> None:
                during.append(_rss_kb())
                ran[0] = time.perf_counter()

            t0 = time.perf_counter()
            summary = sim.run(run_dir, progress=progress)
            output = time.perf_counter() - ran[0]
            wall = ran[0] - t0  # the simulation, as before the output was written
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # the run's peak, KB
            replay = replay_flow(sim, run_dir)
        events = summary["events"]
        out.update(crowd_agents=summary["agents"], crowd_sim_seconds=summary["sim_seconds"],
                   crowd_wall_seconds=round(wall, 2), output_seconds=round(output, 2),
                   sim_seconds_per_wall_second=round(summary["sim_seconds"] / wall, 1),
                   events_per_s=round(events / wall), crowd_events=events,
                   crowd_trades=summary["trades"],
                   peak_rss_mb=round(rss / 1024),
                   rss_mb_at_25_50_75_100pct=[round(during[i] / 1024)
                                              for i in (24, 49, 74, len(during) - 1)],
                   crowd_ratio=round(replay / wall, 3),
                   crowd_complete=summary["complete"],
                   crowd_invariants=all(summary["invariants"].values()))
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:30s} {value}")


if __name__ == "__main__":
    main()
