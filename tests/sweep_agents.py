"""Agents that misbehave the way a sweep's runs can die (tests/test_sweep_safety.py).

A plain module (no pytest import), so that each sweep child imports it quickly.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from exsim.agent import Agent, Context


class ExitsHard(Agent):
    """Leaves the process at once, as a C extension's abort() or an os._exit would."""

    trio_task = False

    async def run(self, ctx: Context) -> None:
        await ctx.sleep(1)
        os._exit(3)


class KillsItself(Agent):
    """SIGKILL, as the out-of-memory killer would."""

    trio_task = False

    async def run(self, ctx: Context) -> None:
        await ctx.sleep(1)
        os.kill(os.getpid(), signal.SIGKILL)


class Slow(Agent):
    """Marks that its run started (a file in $EXSIM_TEST_MARKS), then takes 50 ms of wall
    time per simulated second: a run that is still going when the sweep is stopped."""

    trio_task = False

    async def run(self, ctx: Context) -> None:
        marks = Path(os.environ["EXSIM_TEST_MARKS"])
        (marks / f"started-{os.getpid()}").write_text(str(ctx.agent_id))
        while True:
            await ctx.sleep(1)
            time.sleep(0.05)
