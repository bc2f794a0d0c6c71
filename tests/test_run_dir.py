"""A run directory is honest: marked incomplete from the start, never refilled by a second
run unless replaced whole, and stopped cleanly by SIGINT and SIGTERM (issue 16, item 9).
Kills of a real process are in test_kills.py."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from test_sim import small

from exsim.agent import Agent, Context
from exsim.cli import main
from exsim.config import parse_config
from exsim.interrupts import Terminated
from exsim.output.rundir import RUNNING, RunDirError
from exsim.sim import Simulation


def _summary(d: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((d / "summary.json").read_text())
    return data


class Peeker(Agent):
    """Reads its run's directory from inside the run, at 5 s (the directory is passed in
    ``params``)."""

    trio_task = False
    seen: ClassVar[dict[str, Any]] = {}

    async def run(self, ctx: Context) -> None:
        await ctx.sleep(5.0)
        d = Path(ctx.params["dir"])
        Peeker.seen = {"files": sorted(p.name for p in d.iterdir()), "summary": _summary(d)}


def test_the_directory_says_incomplete_from_the_first_second(tmp_path: Path) -> None:
    d = tmp_path / "run"
    cfg = parse_config(small(20.0, agents=[
        {"class": "market_maker", "count": 1, "deposit": 1_000_000.0},
        {"class": "test_run_dir:Peeker", "params": {"dir": str(d)}}]))
    summary = Simulation(cfg).run(d)
    assert Peeker.seen["files"] == ["config.json", "events.bin", "summary.json"]
    assert Peeker.seen["summary"]["complete"] is False
    assert Peeker.seen["summary"]["reason"] == RUNNING
    assert summary["complete"] and _summary(d)["digest"] == summary["digest"]
    assert not (d / "events.bin").exists()


def test_a_rerun_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    d = tmp_path / "run"
    cfg = parse_config(small(10.0))
    Simulation(cfg).run(d)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    with pytest.raises(RunDirError) as err:
        Simulation(cfg).run(d)
    assert str(err.value) == (f"{d} already holds a complete run; pass --overwrite to "
                              "replace it, or --out DIR to write elsewhere")
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


def test_overwrite_replaces_the_whole_directory(tmp_path: Path) -> None:
    """The old run's report, plots and any other file are gone: nothing of it is left to be
    mistaken for the new run's (here a run without a report replaces one with)."""
    d = tmp_path / "run"
    assert main(["run", "--out", str(d), "--quiet", "--seed", "1",
                 small_config(tmp_path)]) == 0
    assert (d / "report.html").exists() and (d / "prices.png").exists()
    (d / "notes.txt").write_text("the old run's")
    assert main(["run", "--out", str(d), "--quiet", "--seed", "2", "--no-report",
                 small_config(tmp_path)]) == 2
    assert main(["run", "--out", str(d), "--quiet", "--seed", "2", "--no-report",
                 "--overwrite", small_config(tmp_path)]) == 0
    names = {p.name for p in d.iterdir()}
    assert names == {"summary.json", "config.json", "series.parquet", "trades.parquet",
                     "orders.parquet", "marks.parquet", "funding.parquet", "accounts.parquet",
                     "account_snapshots.parquet", "liquidations.parquet"}
    assert _summary(d)["seed"] == 2 and _summary(d)["complete"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def small_config(tmp_path: Path) -> str:
    path = tmp_path / "small.toml"
    path.write_text('[run]\nduration = 10.0\n[[agents]]\nclass = "market_maker"\n'
                    'deposit = 1000000.0\n[[agents]]\nclass = "noise"\ncount = 3\n')
    return str(path)


def test_refusals_are_one_line_naming_the_directory(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"...")
    assert main(["run", "--out", str(other), "--quiet", "--overwrite",
                 small_config(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"exsim run: {other} is not an exsim run directory (no summary.json or "
                   "config.json): not replacing it\n")
    assert (other / "cat.jpg").exists()
    file = tmp_path / "a-file"
    file.write_text("x")
    assert main(["run", "--out", str(file), "--quiet", small_config(tmp_path)]) == 2
    assert capsys.readouterr().err == f"exsim run: {file} exists and is not a directory\n"
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty directory is simply used
    assert main(["run", "--out", str(empty), "--quiet", small_config(tmp_path)]) == 0


def test_an_incomplete_run_is_refused_too_and_says_so(tmp_path: Path) -> None:
    d = tmp_path / "run"
    d.mkdir()
    (d / "summary.json").write_text(json.dumps({"complete": False, "reason": RUNNING}))
    with pytest.raises(RunDirError, match=rf"holds an incomplete run \({RUNNING}\); pass "):
        Simulation(parse_config(small(5.0))).run(d)
    summary = Simulation(parse_config(small(5.0))).run(d, overwrite=True)
    assert summary["complete"] and _summary(d) == summary


class Rerun(Agent):
    """From inside a run, at 2 s, tries to replace that run's directory (``params.dir``)."""

    trio_task = False
    error: ClassVar[str] = ""

    async def run(self, ctx: Context) -> None:
        await ctx.sleep(2.0)
        try:
            Simulation(parse_config(small(5.0))).run(Path(ctx.params["dir"]), overwrite=True)
        except RunDirError as exc:
            Rerun.error = str(exc)


class Reporter(Agent):
    """From inside a run, at 2 s, asks for its directory's report (``params.dir``)."""

    trio_task = False
    error: ClassVar[str] = ""

    async def run(self, ctx: Context) -> None:
        from exsim.output.report import ReportError, write_report

        await ctx.sleep(2.0)
        try:
            write_report(ctx.params["dir"])
        except ReportError as exc:
            Reporter.error = str(exc)


def test_exsim_report_leaves_a_live_run_alone(tmp_path: Path) -> None:
    """A running run's directory holds events.bin, as a killed one does; `exsim report`
    must not take it for a killed run and rebuild (and remove) it under the live run."""
    d = tmp_path / "run"
    cfg = parse_config(small(4.0, agents=[{"class": "test_run_dir:Reporter",
                                           "params": {"dir": str(d)}}]))
    assert Simulation(cfg).run(d)["complete"]
    assert Reporter.error == f"{d}: an exsim run is writing this directory now"


def test_a_live_runs_directory_is_not_replaced(tmp_path: Path) -> None:
    """While a run writes its directory it holds a lock on it: a rerun with overwrite (as a
    second process would try) is refused."""
    d = tmp_path / "run"
    cfg = parse_config(small(4.0, agents=[{"class": "test_run_dir:Rerun",
                                           "params": {"dir": str(d)}}]))
    assert Simulation(cfg).run(d)["complete"]
    assert Rerun.error == f"{d}: an exsim run is writing this directory now"


class Signaller(Agent):
    """Sends its own process a signal at 5 simulated s, as `kill` or Ctrl-C would."""

    async def run(self, ctx: Context) -> None:
        await ctx.sleep(5.0)
        os.kill(os.getpid(), ctx.params["signal"])
        await ctx.sleep(1.0)


@pytest.mark.parametrize(("signum", "raised", "reason"), [
    (signal.SIGTERM, Terminated, "terminated (SIGTERM)"),
    (signal.SIGINT, KeyboardInterrupt, "interrupted (Ctrl-C)")])
def test_sigterm_and_sigint_stop_the_run_and_write_it_incomplete(
        tmp_path: Path, signum: int, raised: type[BaseException], reason: str) -> None:
    d = tmp_path / "run"
    cfg = parse_config(small(600.0, agents=[
        {"class": "market_maker", "count": 1, "deposit": 1_000_000.0},
        {"class": "noise", "count": 3},
        {"class": "test_run_dir:Signaller", "params": {"signal": int(signum)}}]))
    sim = Simulation(cfg)
    with pytest.raises(raised):
        sim.run(d)
    written = _summary(d)
    assert written["complete"] is False and written["reason"] == reason
    assert 5 <= written["sim_seconds"] < 6  # stopped between two instants, at once
    assert written["events"] == sum(written["tables"].values()) > 0
    assert all(written["invariants"].values())  # a consistent state: no request half-done
    assert not (d / "events.bin").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_default_directory_is_replaced_on_a_rerun(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    """The README's `exsim run` can be repeated: exsim's default output place holds the
    latest run of a config and seed; a --out directory still needs --overwrite."""
    config = tmp_path / "small.toml"
    config.write_text(Path(small_config(tmp_path)).read_text()
                      + f'[output]\ndir = "{tmp_path / "runs"}"\nname = "small"\n')
    run = tmp_path / "runs" / "small-seed1"
    assert main(["run", "--quiet", "--no-report", str(config)]) == 0
    (run / "report.html").write_text("the first run's report")
    assert main(["run", "--quiet", "--no-report", str(config)]) == 0
    assert f"replacing the earlier run in {run}" in capsys.readouterr().err
    assert not (run / "report.html").exists()  # replaced whole, not mixed
    assert json.loads((run / "summary.json").read_text())["complete"]
