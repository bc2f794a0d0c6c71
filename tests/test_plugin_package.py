"""The plugin-package example installs and runs by its entry-point name, as a user would.

The package is installed (pip, no dependencies) into a temporary directory put on
PYTHONPATH, so the test leaves the environment as it found it; exsim then runs
the example's config through its CLI in a fresh process, which finds the agent
only through the ``exsim.agents`` entry point the package declares.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "examples" / "plugin_package"


def _pip_install(target: Path, source: Path) -> None:
    # built from a copy: an in-tree build would leave build/ and *.egg-info in the repo
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "--target", str(target), str(source)]
    # the venv's own setuptools when it has one (no download); else pip fetches it
    for extra in (["--no-build-isolation"], []):
        done = subprocess.run(base + extra, capture_output=True, text=True)
        if done.returncode == 0:
            return
    pytest.fail(f"pip could not install the example plugin:\n{done.stderr}")


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("plugin_site")
    _pip_install(target, tmp_path_factory.mktemp("plugin_source") / "plugin_package")
    return target


def _exsim(args: list[str], plugin_path: Path | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if plugin_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin_path),
                                                          env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "exsim", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT)


def test_config_names_the_agent_by_its_entry_point(plugin_path: Path, tmp_path: Path) -> None:
    config = PACKAGE / "momentum.toml"
    done = _exsim(["run", str(config), "--out", str(tmp_path / "run"), "--no-report"],
                  plugin_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["complete"] and all(summary["invariants"].values())
    assert summary["agents"] == 7
    # market makers only post (post-only quotes): every trade has a momentum taker
    assert summary["trades"] > 0


def test_without_the_package_the_name_is_unknown(tmp_path: Path) -> None:
    done = _exsim(["validate", str(PACKAGE / "momentum.toml")], None)
    assert done.returncode != 0
    assert "no agent named 'momentum'" in done.stderr
