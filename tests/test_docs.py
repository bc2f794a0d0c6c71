"""README and docs/ stay true: every code block runs, and CI runs README's test command.

Per page, the ```python blocks run in order in one namespace (a page reads like a
session). Agent classes they define then run in a short simulation; ``test_*``
functions they define run under pytest (with exsim's plugin, as in a user's
project) and must pass. ```toml blocks are checked in tests/test_config_doc.py.
In ```sh blocks, every ``exsim run|validate|sweep CONFIG`` names a config that
loads.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from exsim import Agent
from exsim.config import load_config, parse_config
from exsim.sim import Simulation

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks(page: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", page.read_text(), re.S)


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    blocks = _blocks(ROOT / "README.md", "sh")
    run_cmd, test_cmd = blocks[0].strip(), blocks[1].strip()
    assert README.index("```sh") < README.index("```python")
    assert "pip install -e ." in run_cmd and "exsim" in run_cmd
    assert "pytest" in test_cmd
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_run(page: Path, pytester: pytest.Pytester) -> None:
    blocks = _blocks(page, "python")
    if not blocks:
        pytest.skip(f"{page.name} has no python blocks")
    name = "doc_" + page.stem.lower()
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        for code in blocks:
            exec(compile(code, str(page), "exec"), module.__dict__)
        agents = [n for n, obj in vars(module).items()
                  if isinstance(obj, type) and issubclass(obj, Agent) and obj is not Agent]
        for agent in agents:
            cfg = parse_config({"run": {"duration": 300.0}, "agents": [
                {"class": "market_maker", "count": 2, "deposit": 1_000_000.0},
                {"class": "noise", "count": 5},
                {"class": f"{name}:{agent}"}]})
            summary = Simulation(cfg).run()
            assert summary["complete"], f"{page.name}: {agent}: {summary.get('error')}"
            assert all(summary["invariants"].values())
        tests = [n for n in vars(module) if n.startswith("test_")]
        if tests:
            pytester.makepyfile(**{f"test_{name}": "\n\n".join(blocks)})
            result = pytester.runpytest("-p", "no:cacheprovider")
            result.assert_outcomes(passed=len(tests))
    finally:
        del sys.modules[name]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_cli_commands_name_configs_that_load(page: Path) -> None:
    for block in _blocks(page, "sh"):
        for m in re.finditer(r"exsim (?:run|validate|sweep) (\S+\.toml)", block):
            load_config(ROOT / m.group(1))


def test_readme_shows_an_agent() -> None:
    assert "class " in README and "exsim.Agent" in README
