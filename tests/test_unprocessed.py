"""Requests the run ends before the exchange processes are counted, not lost (issue 16, item 12)."""

from __future__ import annotations

from typing import Any, ClassVar

from exsim.actors.messages import Submit
from exsim.agent import Agent, Context
from exsim.config import parse_config
from exsim.core.events import ACCEPTED, REJECTED, Request
from exsim.core.orders import BUY, SELL
from exsim.sim import Simulation


class Flooder(Agent):
    """At 1.9 s sends 3,000 resting orders (50 us of service each: at most 2,000 are served
    by the end, at 2 s), 200 more and 100 cancels at 1.999 s (still in flight then, or
    queued behind the rest)."""

    trio_task = False
    sent: ClassVar[int] = 0

    async def run(self, ctx: Context) -> None:
        await ctx.sleep(1.9)
        for i in range(3000):
            ctx.submit(BUY if i % 2 else SELL, 1, 29_000_0 if i % 2 else 31_000_0)
        await ctx.sleep(0.099)
        oids = [ctx.submit(BUY, 1, 29_000_0) for _ in range(200)]
        for oid in oids[:100]:
            ctx.cancel(oid)
        Flooder.sent = 3200


def _flood() -> dict[str, Any]:
    return {"run": {"seed": 5, "duration": 2.0},
            "agents": [{"class": "market_maker", "deposit": 1_000_000.0,
                        "params": {"requote_s": 60.0}},  # quotes once, at the start
                       {"class": "test_unprocessed:Flooder", "deposit": 10_000_000.0}]}


def test_requests_left_at_the_end_are_counted_by_kind() -> None:
    sim = Simulation(parse_config(_flood()))
    summary = sim.run()
    left = summary["unprocessed_requests"]
    flooder = 101
    answered = sum(1 for _, e in sim.recorder.log
                   if (e[0] == ACCEPTED and e[3] == flooder)
                   or (e[0] == REJECTED and e[1] == Request.SUBMIT and e[4] == flooder))
    assert Flooder.sent == 3200 and answered < 2000  # at most 0.1 s / 50 us were served
    assert left["submit"] == Flooder.sent - answered > 1000  # the rest, all the flooder's
    assert left["cancel"] == 100 and left["amend"] == 0
    assert left["total"] == sum(v for k, v in left.items() if k != "total")
    assert summary["complete"] and all(summary["invariants"].values())
    assert summary["max_exchange_queue"] >= left["submit"]


def test_a_lost_request_breaks_orders_accounted() -> None:
    """A submit the exchange takes and never answers (lost) is caught: sent != answered +
    unprocessed."""
    sim = Simulation(parse_config(_flood()))
    real = sim.exchange._appliers[Submit]
    lost = [0]

    def lose_one(req: Submit) -> None:
        if req.acct == 101 and not lost[0]:
            lost[0] = 1
            return
        real(req)

    sim.exchange._appliers[Submit] = lose_one
    summary = sim.run()
    assert lost == [1] and summary["invariants"]["orders_accounted"] is False
