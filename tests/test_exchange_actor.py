"""The exchange actor queues a burst: later orders meet a book that has moved."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from core_helpers import spec, usd

from exsim.actors.exchange import ExchangeActor
from exsim.actors.latency import Constant
from exsim.actors.messages import Cancel, Events, SetMark, Submit
from exsim.actors.network import Network
from exsim.actors.recorder import Recorder
from exsim.core.engine import ExchangeCore
from exsim.core.events import FILL, REJECTED
from exsim.core.orders import BUY, MARKET, SELL

MS = 1_000_000
EXCHANGE, MAKER, T1, T2, T3 = 0, 10, 11, 12, 13


def scenario(service_ns: int) -> dict[str, Any]:
    """A maker rests asks of 1 lot at 1000, 1001 and 1002 ticks.  At t=9 ms three
    takers each send a market buy of 1 lot and the maker a cancel of its 1002 ask;
    all arrive at 10 ms (1 ms latency), the maker's first (lowest sender id)."""

    async def main() -> dict[str, Any]:
        net = Network(5, Constant(1 * MS))
        core = ExchangeCore([spec(taker_fee=0, maker_fee=0)])
        recorder = Recorder()
        ex = ExchangeActor(core, net, EXCHANGE, service_ns=service_ns, recorder=recorder)
        inboxes = {a: net.register(a) for a in (MAKER, T1, T2, T3)}
        for a in inboxes:
            core.deposit(a, usd(1_000_000))
            ex.route(a, a)
        got: dict[int, list[tuple[int, tuple[int, ...]]]] = {a: [] for a in inboxes}

        async def listen(a: int) -> None:
            async for batch in inboxes[a]:
                for msg in batch:
                    assert isinstance(msg, Events)
                    got[a].extend((msg.at, e) for e in msg.events)

        async with trio.open_nursery() as n:
            for a in inboxes:
                n.start_soon(listen, a)
            net.send(MAKER, EXCHANGE, SetMark(0, 1000))
            net.send(MAKER, EXCHANGE, "not a request")  # dropped and counted, not fatal
            for i, price in enumerate((1000, 1001, 1002)):
                net.send(MAKER, EXCHANGE, Submit(MAKER, 0, i + 1, SELL, 1, price))
            await net.run(until=9 * MS)
            for t in (T1, T2, T3):
                net.send(t, EXCHANGE, Submit(t, 0, 100 + t, BUY, 1, order_type=MARKET))
            net.send(MAKER, EXCHANGE, Cancel(MAKER, 0, 3))
            await net.run(until=100 * MS)
            n.cancel_scope.cancel()
        assert ex.dropped == 1
        return {"got": got, "log": recorder.log, "max_queue": ex.max_queue, "core": core}

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # type: ignore[no-any-return]


def fills_of(events: list[tuple[int, tuple[int, ...]]]) -> list[tuple[int, int]]:
    return [(at, e[2]) for at, e in events if e[0] == FILL]


def test_a_burst_queues_and_later_orders_meet_a_moved_book() -> None:
    out = scenario(service_ns=2 * MS)
    # arrivals at 10 ms queue in key order: cancel (maker, id 10), T1, T2, T3; each takes
    # 2 ms: the cancel is done at 12 ms, then T1 at 14, T2 at 16, T3 at 18 finds nothing
    assert fills_of(out["got"][T1]) == [(14 * MS, 1000)]
    assert fills_of(out["got"][T2]) == [(16 * MS, 1001)]
    assert fills_of(out["got"][T3]) == []
    assert out["max_queue"] == 4
    assert all(out["core"].invariants().values())
    # the recorder saw every event the owners saw, at the same times
    owner_events = {x for a in out["got"] for x in out["got"][a]}
    assert owner_events <= set(out["log"])


def test_without_service_time_requests_apply_on_arrival() -> None:
    out = scenario(service_ns=0)
    # all four arrive at 10 ms and apply at once, in sender order: the cancel first
    assert fills_of(out["got"][T1]) == [(10 * MS, 1000)]
    assert fills_of(out["got"][T2]) == [(10 * MS, 1001)]
    assert fills_of(out["got"][T3]) == []
    assert [e[0] for _, e in out["got"][MAKER] if e[0] == REJECTED] == []
    assert out["max_queue"] == 0
