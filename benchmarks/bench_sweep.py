"""Sweep scaling: the same runs on one worker and on two, and the sweep's own overhead.

Usage::

    python benchmarks/bench_sweep.py --json               # 16 quickstart runs, 600 s each

Prints ``speedup`` (one worker's wall time over two workers'; goal >= 1.7 on two
cores), and ``overhead_share``: the part of the one-worker wall time not spent
inside the runs themselves (planning, process pool, tables), as a share of it
(goal < 5%).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exsim.config import load_document
from exsim.sweep import plan, run_sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--sim-seconds", type=float, default=600.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    document, source = load_document(None)  # the built-in quickstart
    document["run"]["duration"] = args.sim_seconds
    document["sweep"] = {"seeds": args.runs}
    specs = plan(document, source)
    times = {}
    inside = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            t0 = time.perf_counter()
            rows = run_sweep(specs, Path(tmp) / f"w{workers}", workers=workers).rows
            times[workers] = time.perf_counter() - t0
            assert all(r["complete"] for r in rows)
            if workers == 1:
                inside = sum(r["run_seconds"] for r in rows)
    out = {"runs": len(specs), "sim_seconds": args.sim_seconds,
           "one_worker_s": round(times[1], 2), "two_workers_s": round(times[2], 2),
           "speedup": round(times[1] / times[2], 2),
           "overhead_share": round((times[1] - inside) / times[1], 4)}
    print(json.dumps(out) if args.json else "\n".join(f"{k:16s} {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
