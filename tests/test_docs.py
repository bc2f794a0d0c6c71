"""README stays true: its code runs, and CI runs the test command it gives."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

from exsim import Agent
from exsim.config import parse_config
from exsim.sim import Simulation

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    run_cmd, test_cmd = blocks[0], blocks[1]
    assert "pip install -e ." in run_cmd and "exsim" in run_cmd
    assert "pytest" in test_cmd
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()


def test_readme_python_snippets_run() -> None:
    """Every snippet executes; agents it defines run in a short simulation."""
    module = types.ModuleType("readme_snippets")
    sys.modules["readme_snippets"] = module
    try:
        for code in re.findall(r"```python\n(.*?)```", README, re.S):
            exec(compile(code, "README.md", "exec"), module.__dict__)
        agents = [name for name, obj in vars(module).items()
                  if isinstance(obj, type) and issubclass(obj, Agent) and obj is not Agent]
        assert agents, "README shows an agent"
        for name in agents:
            cfg = parse_config({"run": {"duration": 300.0}, "agents": [
                {"class": "market_maker", "count": 2, "deposit": 1_000_000.0},
                {"class": "noise", "count": 5},
                {"class": f"readme_snippets:{name}"}]})
            summary = Simulation(cfg).run()
            assert summary["complete"], summary.get("error")
            assert all(summary["invariants"].values())
    finally:
        del sys.modules["readme_snippets"]
