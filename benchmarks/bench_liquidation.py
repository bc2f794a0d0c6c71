"""Liquidation detection and throughput.

Usage::

    python benchmarks/bench_liquidation.py --json

* ``mark_update_us``: the cost of one mark update when no position is
  liquidatable, with 1k, 10k and 100k open positions in the liquidator's index
  (a query of the positions the new mark crossed: an empty answer).  The
  ``ratio_100k_1k`` should stay near 1 (O(log n + k), goal < 2).
* ``crash``: 10,000 long accounts at leverages from 2x to 50x, the mark walked
  down 2.7% in 200 steps (enough to liquidate about 30% of them: those above
  ~35x); at each step the index names the crossed accounts, the core takes each
  over at its bankruptcy price and the fund sells into a deep bid wall.
  Reports liquidations, wall seconds and liquidations per wall-second, with
  every core invariant checked at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exsim.core.accounts import position_liquidation_price
from exsim.core.engine import ExchangeCore
from exsim.core.liquidation import FUND, LiquidationIndex
from exsim.core.orders import BUY, IOC, POST_ONLY, SELL
from exsim.core.symbols import example_spec

MARK = 300_000  # 30,000.0 in ticks of 0.1


def mark_update_cost(n: int, repeat: int = 20_000) -> float:
    """Microseconds per crossed() query at an uncrossing mark, ``n`` positions indexed."""
    rng = random.Random(n)
    index = LiquidationIndex()
    for acct in range(n):
        if acct % 2:
            index.update(acct, 10, rng.randint(150_000, 290_000))  # longs below the mark
        else:
            index.update(acct, -10, rng.randint(310_000, 450_000))  # shorts above
    marks = [MARK + rng.randint(-5_000, 5_000) for _ in range(repeat)]
    t0 = time.perf_counter()
    for mark in marks:
        if index.crossed(mark):
            raise AssertionError("nothing should be liquidatable")
    return (time.perf_counter() - t0) / repeat * 1e6


def crash(accounts: int = 10_000, steps: int = 200, drop: float = 0.027) -> dict[str, float]:
    spec = example_spec()
    c = spec.contract
    core = ExchangeCore([spec])
    core.set_mark(0, MARK)
    rng = random.Random(1)
    wall = 10**9  # the whale that takes the other side and later buys what the fund sells
    core.deposit(wall, c.cash_to_atoms(10**12))
    core.set_leverage(wall, 0, 1)
    oid = 0
    index = LiquidationIndex()
    for acct in range(accounts):
        lev = rng.randint(2, 50)
        core.deposit(acct, c.cash_to_atoms(1_000))
        core.set_leverage(acct, 0, lev)
        lots = 1_000 * lev * 9 // 300  # lots of 0.001 BTC worth 90% of 1,000 USDT x leverage
        oid += 2
        core.submit(wall, 0, oid, SELL, lots, MARK, tif=POST_ONLY)
        core.submit(acct, 0, oid + 1, BUY, lots, MARK)
        pos = core.accounts[acct].positions[0]
        index.update(acct, pos.qty, position_liquidation_price(core.accounts[acct], 0,
                                                               core.markets))
    core.events.clear()
    liquidated = 0
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        mark = round(MARK * (1 - drop * step / steps))
        core.set_mark(0, mark)
        oid += 1
        bid = oid
        core.submit(wall, 0, bid, BUY, 10**7, max(1, mark - 5), tif=POST_ONLY)  # deep bids
        for acct in index.crossed(mark):
            if core.liquidate(acct, 0):
                liquidated += 1
            index.remove(acct)
        fund_pos = core.fund.positions.get(0)
        if fund_pos is not None and fund_pos.qty:
            oid += 1
            core.submit(FUND, 0, oid, SELL, fund_pos.qty, 1, tif=IOC, reduce_only=True)
        core.cancel(wall, 0, bid)
        core.events.clear()
    dt = time.perf_counter() - t0
    ok = all(core.invariants().values())
    return {"crash_accounts": accounts, "crash_liquidations": liquidated,
            "crash_liquidated_share": round(liquidated / accounts, 3),
            "crash_wall_seconds": round(dt, 3),
            "liquidations_per_wall_second": round(liquidated / dt),
            "crash_invariants": ok}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out: dict[str, object] = {}
    costs = {}
    for n in (1_000, 10_000, 100_000):
        costs[n] = statistics.median(mark_update_cost(n) for _ in range(3))
        out[f"mark_update_us_{n // 1000}k"] = round(costs[n], 3)
    out["ratio_100k_1k"] = round(costs[100_000] / costs[1_000], 3)
    out.update(crash())
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:30s} {value}")


if __name__ == "__main__":
    main()
