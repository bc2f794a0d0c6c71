"""What a config and an agent can and cannot reach (issue 16, item 16).

A config's class paths run code, so configs are trusted like scripts (docs/agents.md).
But a file in the working directory that happens to be named like a dependency must
not run, and an agent's ``ctx`` offers no way to act as another account or to reach
the network it sends through.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from exsim.actors.feed import MarketFeed
from exsim.actors.latency import Constant
from exsim.actors.messages import Cancel, Submit
from exsim.actors.network import Network
from exsim.agent import Context
from exsim.core.orders import BUY
from exsim.core.units import LinearContract

SHADOW = ("from pathlib import Path\n"
          "Path(__file__).with_name('shadow_ran').write_text('ran')\n"
          "raise SystemExit('the pyarrow.py of the working directory was imported')\n")


@pytest.mark.parametrize("how", ["script", "module"])
def test_a_module_named_like_a_dependency_in_the_cwd_does_not_run(how: str,
                                                                  tmp_path: Path) -> None:
    (tmp_path / "pyarrow.py").write_text(SHADOW)
    (tmp_path / "mybots_trust.py").write_text(
        "import exsim\n\nclass Bot(exsim.Agent):\n    async def run(self, ctx):\n"
        "        await ctx.sleep(1.0)\n")
    (tmp_path / "c.toml").write_text('[[agents]]\nclass = "mybots_trust:Bot"\n')
    command = ([str(Path(sys.executable).parent / "exsim")] if how == "script"
               else [sys.executable, "-m", "exsim"])
    done = subprocess.run([*command, "validate", "c.toml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert not (tmp_path / "shadow_ran").exists(), done.stderr
    assert done.returncode == 0, done.stderr  # and the cwd's own module still loads
    assert "c.toml: ok" in done.stdout


# ------------------------------------------------------------------ ctx privacy
class Tap(Network):
    """A network that also notes who sends what to whom."""

    def __init__(self) -> None:
        super().__init__(1, Constant(1_000))
        self.attach(0, lambda batch: None)  # the exchange's id
        self.sent: list[tuple[int, int, object]] = []

    def send(self, sender: int, dest: int, msg: object) -> int:
        self.sent.append((sender, dest, msg))
        return super().send(sender, dest, msg)


def make_ctx(stepped: bool = False) -> tuple[Context, Tap]:
    net = Tap()
    contract = LinearContract("0.1", "0.001", "0.00000001")
    ctx = Context(agent_id=100, account=100, net=net, exchange=0, feed=MarketFeed(1, 10),
                  contracts=[contract], rng=random.Random(1), params={}, stepped=stepped)
    return ctx, net


def reachable(ctx: Context) -> list[Any]:
    """Every value reachable as an attribute of ``ctx``, one level deep."""
    values = [getattr(ctx, name) for name in dir(ctx) if not name.startswith("__")]
    with contextlib.suppress(TypeError):  # no __dict__
        values += list(vars(ctx).values())
    return values


@pytest.mark.parametrize("stepped", [False, True])
def test_ctx_gives_no_way_to_the_network_or_another_account(stepped: bool) -> None:
    ctx, net = make_ctx(stepped)
    for value in reachable(ctx):
        assert not isinstance(value, Network | MarketFeed), value
        assert getattr(value, "__self__", None) is not net  # no bound method of it either
    for name in ("_net", "_feed", "_exchange", "net", "feed", "exchange"):
        assert not hasattr(ctx, name), name
    for name, value in (("account", 7), ("agent_id", 7)):
        with pytest.raises(AttributeError):
            setattr(ctx, name, value)
        assert getattr(ctx, name) == 100
    assert ctx.account == ctx.agent_id == 100


def test_what_ctx_sends_is_always_its_own_account() -> None:
    ctx, net = make_ctx()
    with pytest.raises(AttributeError):
        ctx.account = 7  # type: ignore[misc]
    oid = ctx.submit(BUY, 3, 300_000)
    ctx.cancel(oid)
    ctx.amend(oid, 300_001, 2)
    ctx.set_leverage(5)
    assert [(src, dst) for src, dst, _ in net.sent] == [(100, 0)] * 4
    assert all(msg.acct == 100 for _, _, msg in net.sent)  # type: ignore[attr-defined]
    submit, cancel = net.sent[0][2], net.sent[1][2]
    assert isinstance(submit, Submit) and submit.oid == oid and submit.qty == 3
    assert isinstance(cancel, Cancel) and cancel.oid == oid
    assert oid >> 32 == 100  # order ids carry the agent's id too
    assert net.take_pending(0) == [m for _, _, m in net.sent]
