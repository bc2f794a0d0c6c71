"""The watchdog: a spinning agent ends as crashed and names itself; a wall-time limit stops
a run between two instants, marked incomplete; both leave a written run directory.

Before the watchdog each of these runs hung for ever (a guard below kills the test
process after 60 s rather than let CI hang if it ever regresses)."""

from __future__ import annotations

import faulthandler
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import exsim
from exsim.config import parse_config
from exsim.sim import Simulation


@pytest.fixture(autouse=True)
def guard() -> Iterator[None]:
    faulthandler.dump_traceback_later(60, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


class Spinner(exsim.Agent):
    """Sleeps 5 simulated seconds, then never gives time back."""

    trio_task = False

    async def run(self, ctx: exsim.Context) -> None:
        await ctx.sleep(5.0)
        while True:
            pass


class TrioSpinner(Spinner):
    trio_task = True


def config(agent: str, **run: Any) -> dict[str, Any]:
    return {"run": {"duration": 60.0, **run}, "scenario": {"kind": "constant"},
            "agents": [{"class": "market_maker", "deposit": 1_000_000.0},
                       {"class": f"test_watchdog:{agent}"}]}


@pytest.mark.parametrize("agent", ["Spinner", "TrioSpinner"])
def test_a_spinning_agent_is_its_crash(agent: str, tmp_path: Path) -> None:
    sim = Simulation(parse_config(config(agent, max_stall_seconds=0.5)))
    summary = sim.run(tmp_path / "run")
    assert not summary["complete"]
    assert summary["reason"] == f"agent crashed: agents[1] (class 'test_watchdog:{agent}') #101"
    assert "held the simulation for 0.5 s of wall time at simulated 5.00" in summary["error"]
    assert sim.net.now == 5_000_000_000  # it stopped where the agent spun
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["reason"] == summary["reason"]


def test_an_isolated_spinner_is_dropped_and_the_run_goes_on() -> None:
    doc = config("Spinner", max_stall_seconds=0.5, on_agent_error="isolate")
    summary = Simulation(parse_config(doc)).run()
    assert summary["complete"] and summary["sim_seconds"] == 60.0
    [isolated] = summary["isolated_agents"]
    assert isolated["at_seconds"] == 5.0 and "held the simulation" in isolated["error"]


def test_the_wall_limit_stops_a_long_run_between_instants(tmp_path: Path) -> None:
    doc = {"run": {"duration": 10_000_000.0, "max_wall_seconds": 1.0},
           "scenario": {"kind": "constant"},
           "agents": [{"class": "market_maker", "deposit": 1_000_000.0},
                      {"class": "noise", "count": 5}]}
    summary = Simulation(parse_config(doc)).run(tmp_path / "run")
    assert not summary["complete"]
    assert summary["reason"] == ("watchdog: run.max_wall_seconds (1 s of wall time) reached")
    assert 0 < summary["sim_seconds"] < 10_000_000.0
    assert all(summary["invariants"].values())  # stopped between two instants: consistent
