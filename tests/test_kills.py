"""`exsim run` killed for real, in a subprocess, at several points (issue 16, items 9 and 13).

After every kill the run directory is either a complete run or says plainly that it is
not (``summary.json`` with ``complete: false`` and why), and never holds a previous run's
files; a run killed outright leaves its event log readable up to its last flush, and
``exsim report DIR`` rebuilds its tables from it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from exsim.cli import main
from exsim.output.eventlog import LogReader
from exsim.output.rundir import RUNNING
from exsim.output.tables import TABLES

# `exsim run` in a child, spilling every 300 events; with PAUSE_AT_WRITE it announces the
# final write on stdout and waits that long before doing it
CHILD = textwrap.dedent("""
    import os, sys, time
    import exsim.actors.recorder as recorder
    recorder.SPILL_EVERY = 300
    import exsim.sim as sim
    if os.environ.get("PAUSE_AT_WRITE"):
        real = sim.write_tables
        def paused(*args, **kwargs):
            print("WRITING", flush=True)
            time.sleep(float(os.environ["PAUSE_AT_WRITE"]))
            return real(*args, **kwargs)
        sim.write_tables = paused
    from exsim.cli import main
    sys.exit(main(sys.argv[1:]))
""")

TABLE_FILES = {f"{name}.parquet" for name in TABLES}


def _config(tmp_path: Path, duration: float) -> str:
    path = tmp_path / f"run{duration:g}.toml"
    path.write_text(textwrap.dedent(f"""
        [run]
        duration = {duration}
        [[agents]]
        class = "market_maker"
        count = 2
        deposit = 1000000.0
        [[agents]]
        class = "noise"
        count = 10
        params = {{ rate = 0.5 }}
    """))
    return str(path)


def _start(tmp_path: Path, out: Path, duration: float, *extra: str,
           pause: float | None = None) -> subprocess.Popen[str]:
    env = None
    if pause is not None:
        import os

        env = {**os.environ, "PAUSE_AT_WRITE": str(pause)}
    return subprocess.Popen([sys.executable, "-c", CHILD, "run", _config(tmp_path, duration),
                             "--out", str(out), "--quiet", "--no-report", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait(until: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not until():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no {what} within 60 s")
        time.sleep(0.02)


def _logged(out: Path, at_least: int) -> Callable[[], bool]:
    """The run has flushed at least ``at_least`` events to its log."""
    def check() -> bool:
        try:
            return sum(1 for _ in LogReader(out / "events.bin").events()) >= at_least
        except (OSError, ValueError):
            return False
    return check


def _writing(proc: subprocess.Popen[str]) -> Callable[[], bool]:
    assert proc.stdout is not None
    stdout = proc.stdout
    return lambda: stdout.readline().strip() == "WRITING"


def _summary(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return data


def _files(out: Path) -> set[str]:
    return {p.name for p in out.iterdir()}


def _assert_complete_tables(out: Path, summary: dict[str, Any]) -> None:
    rows = {name: pq.read_table(out / f"{name}.parquet").num_rows for name in TABLES}
    assert rows == summary["tables"] and sum(rows.values()) == summary["events"] > 0


def _recover_and_check(out: Path, logged: int) -> dict[str, Any]:
    """`exsim report DIR` on a killed run: tables from its log, still marked incomplete."""
    assert main(["report", str(out)]) == 0
    summary = _summary(out)
    assert summary["complete"] is False
    assert summary["recovered"]["events"] == summary["events"] == logged
    if logged:
        _assert_complete_tables(out, summary)
    assert "events.bin" not in _files(out) and "report.html" in _files(out)
    return summary


@pytest.mark.parametrize(("signum", "code", "reason"), [
    (signal.SIGINT, 130, "interrupted (Ctrl-C)"),
    (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_sigint_and_sigterm_mid_run(tmp_path: Path, signum: int, code: int,
                                    reason: str) -> None:
    out = tmp_path / "run"
    proc = _start(tmp_path, out, 36000.0)
    _wait(_logged(out, 2000), proc, "2,000 events on disk")
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    summary = _summary(out)
    assert summary["complete"] is False and summary["reason"] == reason
    assert 0 < summary["sim_seconds"] < 36000
    assert all(summary["invariants"].values())
    _assert_complete_tables(out, summary)
    assert _files(out) == {"summary.json", "config.json", "series.parquet", *TABLE_FILES}
    assert f"{reason}; the run in {out} is INCOMPLETE ({reason}) at " in err


@pytest.mark.parametrize("at_least", [0, 2000])  # as soon as it exists; mid-run
def test_sigkill_leaves_a_marked_directory_and_a_readable_log(tmp_path: Path,
                                                              at_least: int) -> None:
    out = tmp_path / "run"
    proc = _start(tmp_path, out, 36000.0)
    _wait(lambda: (out / "summary.json").exists() and _logged(out, at_least)(), proc,
          f"{at_least} events on disk")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    marker = _summary(out)
    assert marker["complete"] is False and marker["reason"] == RUNNING
    assert {"summary.json", "config.json", "events.bin"} <= _files(out)
    assert not _files(out) & TABLE_FILES
    reader = LogReader(out / "events.bin")
    logged = sum(1 for _ in reader.events())
    assert logged >= at_least
    summary = _recover_and_check(out, logged)
    assert summary["reason"] == "killed before it ended"
    assert len(summary["digest"]) == 64


def test_one_sigint_during_the_final_write_lets_it_finish(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start(tmp_path, out, 20.0, pause=1.0)
    _wait(_writing(proc), proc, "the final write")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    summary = _summary(out)
    assert summary["complete"] is True and summary["sim_seconds"] == 20.0
    _assert_complete_tables(out, summary)
    assert "events.bin" not in _files(out)
    assert f"the run in {out} is complete" in err


def test_a_second_sigint_during_the_final_write_stops_it_marked(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start(tmp_path, out, 20.0, pause=5.0)
    _wait(_writing(proc), proc, "the final write")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    summary = _summary(out)
    assert summary["complete"] is False
    assert summary["reason"].startswith("interrupted (Ctrl-C) while writing the results; "
                                        f"`exsim report {out}` rebuilds the tables")
    assert not _files(out) & TABLE_FILES and "events.bin" in _files(out)
    logged = sum(1 for _ in LogReader(out / "events.bin").events())
    recovered = _recover_and_check(out, logged)
    assert recovered["sim_seconds"] == pytest.approx(20.0, abs=0.01)


def test_sigkill_during_the_final_write(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start(tmp_path, out, 20.0, pause=5.0)
    _wait(_writing(proc), proc, "the final write")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    marker = _summary(out)
    assert marker["complete"] is False and marker["reason"] == RUNNING
    assert "series.parquet" in _files(out)  # written whole before the tables
    logged = sum(1 for _ in LogReader(out / "events.bin").events())
    _recover_and_check(out, logged)
    # the run's own series (with its index line) is kept
    names = set(pq.read_table(out / "series.parquet").column("name").to_pylist())
    assert "index" in names


def test_a_killed_overwrite_never_leaves_the_old_runs_files(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _start(tmp_path, out, 10.0)
    first.communicate(timeout=60)
    assert first.returncode == 0 and _summary(out)["complete"]
    (out / "report.html").write_text("the old run's report")
    old_digest = _summary(out)["digest"]
    refused = _start(tmp_path, out, 36000.0)
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 2 and "already holds a complete run" in err
    proc = _start(tmp_path, out, 36000.0, "--overwrite", "--seed", "9")
    _wait(_logged(out, 2000), proc, "2,000 events of the new run on disk")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert _files(out) == {"summary.json", "config.json", "events.bin"}
    marker = _summary(out)
    assert marker["complete"] is False and marker["seed"] == 9
    summary = _recover_and_check(out, sum(1 for _ in LogReader(out / "events.bin").events()))
    assert summary["digest"] != old_digest
    # and the next overwrite clears what the killed one left beside it
    again = _start(tmp_path, out, 5.0, "--overwrite")
    again.communicate(timeout=60)
    assert again.returncode == 0 and _summary(out)["complete"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
