"""Agents with ``trio_task = False``: resumed by the network, the same log as trio tasks."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import trio
from test_sim import ROOT, Crasher, small

import exsim
from exsim.agent import Agent, Context
from exsim.agents.leveraged import LeveragedTrader
from exsim.agents.market_maker import MarketMaker
from exsim.agents.noise import NoiseTrader
from exsim.config import parse_config
from exsim.core.orders import BUY, MARKET
from exsim.sim import Simulation
from exsim.testing import AgentCrashed, open_exchange


class TrioMaker(MarketMaker):
    trio_task = True


class TrioNoise(NoiseTrader):
    trio_task = True


class TrioLeveraged(LeveragedTrader):
    trio_task = True


class SteppedCrasher(Crasher):
    trio_task = False


class Impatient(Agent):
    trio_task = False

    async def run(self, ctx: Context) -> None:
        await ctx.sleep(3)
        await trio.sleep(1)


class Scoped(Agent):
    trio_task = False

    async def run(self, ctx: Context) -> None:
        await ctx.sleep(2)
        with trio.CancelScope():  # would stay open on the network's task
            await ctx.sleep(1)


class OneBuy(Agent):
    trio_task = False

    async def run(self, ctx: Context) -> None:
        await ctx.sleep(2)
        ctx.submit(BUY, 1, order_type=MARKET)  # and return: its events still reach ctx


def story(classes: dict[str, str]) -> dict[str, Any]:
    """configs/flash_crash.toml to 800 s (the fall is under way), agent classes replaced."""
    doc = tomllib.loads((ROOT / "configs" / "flash_crash.toml").read_text())
    doc["run"]["duration"] = 800.0
    for a in doc["agents"]:
        a["class"] = classes.get(a["class"], a["class"])
    return doc


def test_stepped_agents_write_the_log_trio_tasks_write() -> None:
    """Built-in agents are stepped; the same classes as trio tasks give the same digest."""
    assert not (MarketMaker.trio_task or NoiseTrader.trio_task or LeveragedTrader.trio_task)
    stepped = Simulation(parse_config(story({}))).run()
    tasks = Simulation(parse_config(story({
        "market_maker": "test_stepped_agents:TrioMaker", "noise": "test_stepped_agents:TrioNoise",
        "leveraged": "test_stepped_agents:TrioLeveraged"}))).run()
    assert stepped["liquidations"] > 0 and stepped["trades"] > 500
    assert all(stepped["invariants"].values())
    for key in ("digest", "events", "trades", "liquidations"):
        assert stepped[key] == tasks[key], key


def test_a_stepped_agent_crash_stops_the_run_like_a_task_crash(tmp_path: Path) -> None:
    cfg = parse_config(small(600.0, agents=[
        {"class": "market_maker", "count": 1, "deposit": 1_000_000.0},
        {"class": "test_stepped_agents:SteppedCrasher"}]))
    summary = Simulation(cfg).run(tmp_path / "run")
    assert summary["complete"] is False
    assert ("agent crashed: agents[1] (class 'test_stepped_agents:SteppedCrasher') #101"
            in summary["reason"])
    assert "RuntimeError: strategy bug" in summary["error"]
    assert 11 <= summary["sim_seconds"] < 600
    assert (tmp_path / "run" / "orders.parquet").exists()
    # it stops at the crash's instant, as a trio task's crash does: the same log
    as_task = Simulation(parse_config(small(600.0, agents=[
        {"class": "market_maker", "count": 1, "deposit": 1_000_000.0},
        {"class": "test_sim:Crasher"}]))).run()
    assert summary["sim_seconds"] == as_task["sim_seconds"] == 11.0
    assert (summary["events"], summary["digest"]) == (as_task["events"], as_task["digest"])


@pytest.mark.parametrize(("cls", "at", "what"), [
    ("Impatient", 3.0, "awaited"),
    ("Scoped", 2.0, "kept a trio cancel scope or nursery open across ctx.sleep"),
])
def test_a_stepped_agent_that_uses_trio_is_stopped_with_why(cls: str, at: float,
                                                             what: str) -> None:
    summary = Simulation(parse_config(small(60.0, agents=[
        {"class": f"test_stepped_agents:{cls}"}]))).run()
    assert summary["complete"] is False and summary["sim_seconds"] == at
    assert what in summary["error"] and "sets `trio_task = False`" in summary["error"]
    assert "set `trio_task = True` to use trio" in summary["error"]


def test_isolate_drops_a_stepped_crasher_and_a_returning_agent_keeps_its_mirrors() -> None:
    cfg = parse_config({**small(60.0), "run": {"duration": 60.0, "on_agent_error": "isolate"},
                        "agents": [{"class": "market_maker", "deposit": 1_000_000.0},
                                   {"class": "test_stepped_agents:SteppedCrasher"},
                                   {"class": "test_stepped_agents:OneBuy"}]})
    sim = Simulation(cfg)
    summary = sim.run()
    assert summary["complete"] and summary["sim_seconds"] == 60.0
    (dropped,) = summary["isolated_agents"]
    assert "SteppedCrasher" in dropped["agent"] and "strategy bug" in dropped["error"]
    [one_buy] = [ctx for name, _, ctx in sim.agents if "OneBuy" in name]
    assert one_buy.position == [1] and one_buy.open_orders == {}


async def test_the_test_kit_reports_a_stepped_crash() -> None:
    class Faulty(exsim.Agent):
        trio_task = False

        async def run(self, ctx: exsim.Context) -> None:
            await ctx.sleep(5)
            raise RuntimeError("strategy bug")

    async with open_exchange() as ex:
        ex.add_agents(Faulty)
        await ex.advance(4)
        with pytest.raises(AgentCrashed, match=r"(?s)crashed at 5 s.*RuntimeError: strategy bug"):
            await ex.advance(2)


async def test_a_long_advance_of_stepped_agents_can_be_cancelled() -> None:
    """The network checkpoints every few thousand instants, even when no task wakes."""
    async with open_exchange() as ex:
        ex.add_agents("market_maker", count=2, deposit=1_000_000)
        ex.add_agents("noise", count=20, params={"rate": 1.0})
        with trio.CancelScope() as scope:

            async def cancel() -> None:  # runs at the first checkpoint it is given
                scope.cancel()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(cancel)
                await ex.advance(3600)
        assert scope.cancelled_caught and ex.now_s < 3600


async def test_a_stepped_agent_starts_when_time_next_runs() -> None:
    """As a trio task would: what the test sets between add_agents and advance counts."""

    class Sized(Agent):
        trio_task = False
        size = 1

        async def run(self, ctx: Context) -> None:
            ctx.submit(BUY, self.size, 1)
            await ctx.sleep(3600)

    async with open_exchange() as ex:
        [ctx] = ex.add_agents(Sized)
        ex.agent(ctx.account).size = 5
        await ex.advance(1)
        assert list(ctx.open_orders.values()) == [5]
