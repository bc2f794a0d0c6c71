"""Order-book and exchange-core throughput, side by side with the reference matcher.

Usage::

    python benchmarks/bench_book.py --json            # 1M-event seeded stream, all modes
    python benchmarks/bench_book.py --events 200000   # shorter, human-readable table
    python benchmarks/bench_book.py --stream S.npy    # replay a given stream instead

The stream is ../shared/bench/gen_stream.py's (seed 20240601), generated in
memory and cached under benchmarks/.cache (never committed).  Three replays run
round-robin ``--repeat`` times each and the medians are reported:

* ``reference``: ../shared/bench/lob_ref.py, the plain-Python baseline;
* ``book``: exsim's :class:`~exsim.core.book.OrderBook` through
  benchmarks/book_adapter.py, the same protocol calls;
* ``core``: the same stream through :class:`~exsim.core.engine.ExchangeCore`,
  with validation, pre-trade margin checks, events and clearing on, the orders
  spread over 1,000 funded accounts (account = order id mod 1,000).

``agree`` is true when exsim's book produced exactly the reference's fills
(every maker, taker, price and quantity, in order); ``core_agree`` the same for
the core (self-trade prevention off, no rejects expected).  Figures are machine
dependent: compare the ratios, which are measured in the same process.

Where ../shared/bench is absent the script says so and measures exsim alone on
a stream it makes itself (or the one given with ``--stream``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from book_adapter import make_book  # noqa: E402

import exsim.core  # noqa: E402
from exsim.core.engine import ExchangeCore  # noqa: E402
from exsim.core.orders import MARKET, STP_NONE  # noqa: E402
from exsim.core.symbols import SymbolSpec, brackets_from_quote  # noqa: E402
from exsim.core.units import LinearContract  # noqa: E402

Event = tuple[int, int, int, int, int]  # kind (0 limit, 1 cancel, 2 market), side, price, qty, oid
SEED = 20240601
START_PX = 100_000
ACCOUNTS = 1_000


def find_shared_bench(explicit: str | None) -> Path | None:
    for cand in (explicit, os.environ.get("EXSIM_SHARED_BENCH"), REPO.parent / "shared" / "bench"):
        if cand and (Path(cand) / "lob_ref.py").exists():
            return Path(cand)
    return None


def load_stream(path: Path) -> list[Event]:
    import numpy as np

    arr = np.load(path)
    return list(zip(arr["kind"].tolist(), arr["side"].tolist(), arr["price"].tolist(),
                    arr["qty"].tolist(), arr["oid"].tolist(), strict=True))


def shared_stream(shared: Path, n: int) -> tuple[list[Event], str]:
    """The first ``n`` events of gen_stream.py's 1M stream, cached in benchmarks/.cache.

    A prefix rather than a shorter stream, so that short runs replay the events
    whose fill counts ../shared/bench/README.md quotes (4573 fills in 10,000).
    """
    import numpy as np

    n_gen = max(n, 1_000_000)
    cache = HERE / ".cache" / f"stream_{n_gen}_{SEED}.npy"
    if not cache.exists():
        sys.path.insert(0, str(shared))
        from gen_stream import generate

        print(f"# generating {n_gen} events with {shared / 'gen_stream.py'} ...",
              file=sys.stderr)
        arr, _ = generate(n_gen, SEED)
        cache.parent.mkdir(exist_ok=True)
        np.save(cache, arr)
    arr = np.load(cache)
    digest = hashlib.sha256(arr.tobytes()).hexdigest()
    return load_stream(cache)[:n], digest


def own_stream(n: int, seed: int = SEED) -> list[Event]:
    """A stream shaped like gen_stream.py's, made without ../shared: limits, cancels, markets."""
    rng = random.Random(seed)
    book = make_book()
    live: list[int] = []
    out: list[Event] = []
    for oid in range(1, n + 1):
        u = rng.random()
        side = rng.randrange(2)
        if u < 0.26 and live:
            j = rng.randrange(len(live))
            target = live[j]
            live[j] = live[-1]
            live.pop()
            o = book.orders.get(target)
            if o is None:
                continue
            out.append((1, o[2], o[3], 0, target))
            book.cancel(target)
        elif u < 0.36:
            q = 1 + int(rng.expovariate(1 / 12))
            out.append((2, side, 0, q, oid))
            book.market(oid, side, q)
        else:
            bb = book.best_bid if book.bids else START_PX - 1
            ba = book.best_ask if book.asks else START_PX + 1
            off = int(rng.expovariate(1 / 4))
            px = (bb - off if side == 0 else ba + off) if rng.random() < 0.95 else (
                ba if side == 0 else bb)
            q = 1 + int(rng.expovariate(1 / 4))
            out.append((0, side, px, q, oid))
            book.limit(oid, side, px, q)
            if oid in book.orders:
                live.append(oid)
    return out


# ------------------------------------------------------------------------------- replays
def replay_book(factory: Callable[[], Any], events: Iterable[Event]) -> tuple[float, int, int]:
    book = factory()
    limit, cancel, market = book.limit, book.cancel, book.market
    nf = vol = 0
    t0 = time.perf_counter()
    for k, s, p, q, oid in events:
        if k == 0:
            fills = limit(oid, s, p, q)
        elif k == 1:
            cancel(oid)
            continue
        else:
            fills = market(oid, s, q)
        if fills:
            nf += len(fills)
            for f in fills:
                vol += f[3]
    return time.perf_counter() - t0, nf, vol


def fills_digest(factory: Callable[[], Any], events: Iterable[Event]) -> str:
    """sha256 over every fill's (maker, taker, price, qty), untimed."""
    book = factory()
    h = hashlib.sha256()
    for k, s, p, q, oid in events:
        if k == 0:
            fills = book.limit(oid, s, p, q)
        elif k == 1:
            book.cancel(oid)
            continue
        else:
            fills = book.market(oid, s, q)
        for f in fills:
            h.update(b"%d,%d,%d,%d;" % (f[0], f[1], f[2], f[3]))
    return h.hexdigest()


def make_core() -> ExchangeCore:
    contract = LinearContract("0.1", "0.001", "0.00000001")
    brackets = brackets_from_quote(contract, [(0, "0.004", 125), (50_000_000, "0.005", 100)])
    spec = SymbolSpec("BTCUSDT", contract, brackets, maker_fee=200, taker_fee=500,
                      market_band=50_000, default_leverage=20)
    core = ExchangeCore([spec], stp=STP_NONE)
    core.set_mark(0, START_PX)
    for a in range(ACCOUNTS):
        core.deposit(a, contract.cash_to_atoms(10_000_000))
    core.events.clear()
    return core


def replay_core(events: list[Event], digest: bool = False) -> tuple[float, int, int, int, str]:
    """Replay through the exchange core; returns (seconds, fills, volume, rejects, digest)."""
    from exsim.core.events import FILL, REJECTED

    core = make_core()
    submit, cancel, out = core.submit, core.cancel, core.events
    flow = [(k, s, p, q, oid, oid % ACCOUNTS) for k, s, p, q, oid in events]
    nf = vol = rejects = 0
    h = hashlib.sha256()

    def drain() -> None:  # what the exchange actor's consumer does with a batch of events
        nonlocal nf, vol, rejects
        for e in out:
            if e[0] == FILL:
                nf += 1
                vol += e[3]
                if digest:
                    h.update(b"%d,%d,%d,%d;" % (e[7], e[4], e[2], e[3]))
            elif e[0] == REJECTED:
                rejects += 1
        out.clear()

    t0 = time.perf_counter()
    for start in range(0, len(flow), 4096):
        for k, s, p, q, oid, acct in flow[start:start + 4096]:
            if k == 0:
                submit(acct, 0, oid, s, q, p)
            elif k == 1:
                cancel(acct, 0, oid)
            else:
                submit(acct, 0, oid, s, q, None, MARKET)
        drain()
    dt = time.perf_counter() - t0
    if digest:  # the checks are O(accounts x orders): not in timed runs
        assert all(core.invariants().values()), core.invariants()
    return dt, nf, vol, rejects, h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--stream", help="replay this .npy stream (gen_stream.py format)")
    ap.add_argument("--shared", help="path of ../shared/bench (default: found beside the repo)")
    ap.add_argument("--no-core", action="store_true", help="skip the exchange-core mode")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    shared = find_shared_bench(args.shared)
    stream_sha = None
    if args.stream:
        events = load_stream(Path(args.stream))[: args.events]
    elif shared is not None:
        events, stream_sha = shared_stream(shared, args.events)
    else:
        print("# ../shared/bench not found: measuring exsim alone on its own stream",
              file=sys.stderr)
        events = own_stream(args.events)

    ref_factory: Callable[[], Any] | None = None
    if shared is not None:
        sys.path.insert(0, str(shared))
        from lob_ref import make_book as ref_make_book

        ref_factory = ref_make_book

    modes: dict[str, Callable[[], tuple[float, int, int]]] = {
        "book": lambda: replay_book(make_book, events)}
    if ref_factory is not None:
        modes["reference"] = lambda: replay_book(ref_factory, events)
    core_result: dict[str, int] = {}

    def core_mode() -> tuple[float, int, int]:
        dt, nf, vol, rejects, _ = replay_core(events)
        core_result.update(fills=nf, volume=vol, rejects=rejects)
        return dt, nf, vol

    if not args.no_core:
        modes["core"] = core_mode
    times: dict[str, list[float]] = {m: [] for m in modes}
    counts: dict[str, tuple[int, int]] = {}
    for _ in range(args.repeat):
        for name, run in modes.items():
            dt, nf, vol = run()
            times[name].append(dt)
            counts[name] = (nf, vol)
    med = {m: statistics.median(t) for m, t in times.items()}
    n = len(events)
    out: dict[str, Any] = {
        "events": n,
        "fills": counts["book"][0],
        "volume_lots": counts["book"][1],
        "events_per_s": round(n / med["book"]),
        "repeat": args.repeat,
        "python": platform.python_version(),
        "compiled": exsim.core.COMPILED,  # the mypyc build of the core (setup.py) ran
        "stream_sha256": stream_sha,  # of the whole generated stream
    }
    book_digest = fills_digest(make_book, events)
    if ref_factory is not None:
        out["reference_events_per_s"] = round(n / med["reference"])
        out["ratio"] = round(med["reference"] / med["book"], 3)
        out["agree"] = (counts["book"] == counts["reference"]
                        and book_digest == fills_digest(ref_factory, events))
    else:
        out["reference_events_per_s"] = out["ratio"] = out["agree"] = None
    if "core" in modes:
        core_digest = replay_core(events, digest=True)[4]
        out["core_events_per_s"] = round(n / med["core"])
        out["core_ratio"] = (round(med["reference"] / med["core"], 3)
                             if ref_factory is not None else None)
        out["core_vs_book"] = round(med["book"] / med["core"], 3)
        out["core_fills"] = core_result["fills"]
        out["core_rejects"] = core_result["rejects"]
        out["core_agree"] = core_digest == book_digest and core_result["rejects"] == 0
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:24s} {value}")


if __name__ == "__main__":
    main()
