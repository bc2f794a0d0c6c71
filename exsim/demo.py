"""A seeded order flow replayed through the exchange core, with a summary.

This is the main job until the actor runtime lands: it shows the pure core
(book, margin, clearing, ledger) working on a realistic mix of requests and
checks its invariants after every step.  The flow is a small crowd around a
random-walk mark: market makers quote both sides, noise traders send limit,
IOC and market orders, leveraged traders push their positions until the
margin check refuses them, and everyone cancels and amends.  Some requests are
malformed on purpose (off-tick prices, zero sizes, unknown orders) to show
that they become reject events, not exceptions.

Same seed, same event log: the summary's ``digest`` is the sha256 of the log.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from decimal import Decimal
from typing import Any

from exsim.core import events as ev
from exsim.core.engine import ExchangeCore
from exsim.core.orders import BUY, FOK, GTC, IOC, MARKET, POST_ONLY, SELL, CancelReason, Reject
from exsim.core.symbols import example_spec

START_PRICE = Decimal("30000")


def run_demo(seed: int = 7, steps: int = 20_000, accounts: int = 50) -> dict[str, Any]:
    """Replay ``steps`` seeded requests through a fresh core; return a summary dict."""
    rng = random.Random(seed)
    spec = example_spec()
    contract = spec.contract
    core = ExchangeCore([spec])
    sym = 0
    mark = contract.price_to_ticks(START_PRICE)
    core.set_mark(sym, mark)
    for a in range(accounts):
        core.deposit(a, contract.cash_to_atoms(rng.choice([2_000, 10_000, 50_000])))
        if a % 5 == 4:
            core.set_margin_mode(a, sym, True)
        core.set_leverage(a, sym, rng.choice([2, 5, 10, 20, 50]))
    makers = range(0, max(2, accounts // 10))
    mine: dict[int, list[int]] = {a: [] for a in range(accounts)}
    next_oid = 1
    invariant_failures: Counter[str] = Counter()
    tally: Counter[str] = Counter()
    digest = hashlib.sha256()
    log_events = 0

    for step in range(steps):
        if step % 50 == 0:  # the mark walks
            mark = max(1, mark + rng.randint(-30, 30))
            core.set_mark(sym, mark)
        a = rng.randrange(accounts)
        oid = next_oid
        next_oid += 1
        u = rng.random()
        if a in makers and u < 0.6:
            half = rng.randint(1, 20)
            core.submit(a, sym, oid, BUY, rng.randint(1, 50), mark - half, tif=POST_ONLY)
            next_oid += 1
            core.submit(a, sym, oid + 1, SELL, rng.randint(1, 50), mark + half, tif=POST_ONLY)
            mine[a] += [oid, oid + 1]
        elif u < 0.45:
            side = rng.randrange(2)
            price = mark + (rng.randint(-40, 10) if side == BUY else rng.randint(-10, 40))
            tif = rng.choices([GTC, IOC, FOK], [8, 1, 1])[0]
            core.submit(a, sym, oid, side, rng.randint(1, 30), price, tif=tif)
            mine[a].append(oid)
        elif u < 0.6:
            core.submit(a, sym, oid, rng.randrange(2), rng.randint(1, 40), order_type=MARKET)
        elif u < 0.8 and mine[a]:
            target = mine[a].pop(rng.randrange(len(mine[a])))
            core.cancel(a, sym, target)
        elif u < 0.9 and mine[a]:
            target = rng.choice(mine[a])
            o = core.book(sym).orders.get(target)
            if o is not None:
                core.amend(a, sym, target, o[3] + rng.randint(-5, 5),
                           max(1, o[4] + rng.randint(-5, 5)))
        elif u < 0.95:
            pos = core.position_of(a, sym)
            if pos is not None and pos.qty:
                side = SELL if pos.qty > 0 else BUY
                core.submit(a, sym, oid, side, abs(pos.qty), order_type=MARKET, reduce_only=True)
        else:  # malformed on purpose: each must become a reject, not an exception
            bad = rng.randrange(4)
            if bad == 0:
                core.submit(a, sym, oid, BUY, 1, Decimal("30000.05"))  # off the 0.1 tick
            elif bad == 1:
                core.submit(a, sym, oid, SELL, 0, mark)
            elif bad == 2:
                core.cancel(a, sym, 10**9)
            else:
                core.submit(10**9, sym, oid, BUY, 1, mark)
        for name, ok in core.invariants().items() if step % 100 == 0 else ():
            if not ok:
                invariant_failures[name] += 1
        for e in core.events:
            digest.update(repr(e).encode())
        log_events += len(core.events)
        _tally(core.events, tally)
        core.events.clear()

    final = core.invariants()
    for name, ok in final.items():
        if not ok:
            invariant_failures[name] += 1
    long, short = core.open_interest(sym)
    summary: dict[str, Any] = {
        "seed": seed,
        "steps": steps,
        "events": log_events,
        "orders_accepted": tally.pop("accepted", 0),
        "fills": tally.pop("fills", 0),
        "volume": str(contract.lots_to_qty(tally.pop("volume", 0))),
        "rejects": {k.removeprefix("reject:"): v for k, v in sorted(tally.items())
                    if k.startswith("reject:")},
        "cancels": {k.removeprefix("cancel:"): v for k, v in sorted(tally.items())
                    if k.startswith("cancel:")},
        "open_interest": str(contract.lots_to_qty(long)),
        "fee_pool": str(contract.atoms_to_cash(core.ledger.fee_pool)),
        "deposits": str(contract.atoms_to_cash(core.ledger.deposits)),
        "resting_orders": len(core.book(sym).orders),
        "final_mark": str(contract.ticks_to_price(mark)),
        "invariants": {name: ok and not invariant_failures[name] for name, ok in final.items()}
                      | {"open_interest_long_eq_short": long == short},
        "digest": digest.hexdigest(),
    }
    return summary


def _tally(events: list[ev.Event], tally: Counter[str]) -> None:
    for e in events:
        kind = e[0]
        if kind == ev.FILL:
            tally["fills"] += 1
            tally["volume"] += e[3]
        elif kind == ev.ACCEPTED:
            tally["accepted"] += 1
        elif kind == ev.REJECTED:
            tally["reject:" + Reject(e[5]).name] += 1
        elif kind == ev.CANCELLED:
            tally["cancel:" + CancelReason(e[5]).name] += 1


def format_summary(summary: dict[str, Any]) -> str:
    """A plain-text table of a demo summary."""
    lines = []
    for key, value in summary.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines.extend(f"  {k:32s} {v}" for k, v in value.items())
        else:
            lines.append(f"{key:34s} {value}")
    return "\n".join(lines)
