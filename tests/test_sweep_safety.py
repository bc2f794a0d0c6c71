"""Sweeps survive dead runs, signals and stale directories (issue 16, items 8 and 11).

A run that dies (os._exit, SIGKILL) is a failed row and the sweep goes on, with one
worker or two; SIGINT, SIGTERM (and Ctrl-C twice) stop the sweep at once, leaving no
process behind and results.csv holding what finished; SIGKILL of the sweep itself
takes its runs down too.  On resume, a truncated summary is not done and a run whose
config changed is run again, in a fresh directory.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from exsim.config import config_sha256, parse_config
from exsim.sweep import SweepInterrupted, plan, run_sweep

TESTS = Path(__file__).resolve().parent
EXSIM = str(Path(sys.executable).parent / "exsim")


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def tagged(tag: str) -> list[int]:
    """Pids of live processes whose environment holds ``tag`` (the sweep's and its children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if tag.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


def wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def sweep_process(tmp_path: Path, toml: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``exsim sweep`` of ``toml`` in its own session, tagged; its marks in tmp_path/marks."""
    (tmp_path / "marks").mkdir(exist_ok=True)
    (tmp_path / "s.toml").write_text(textwrap.dedent(toml))
    tag = f"exsim-test-{uuid.uuid4().hex}"
    env = {**os.environ, "PYTHONPATH": str(TESTS), "EXSIM_TEST_TAG": tag,
           "EXSIM_TEST_MARKS": str(tmp_path / "marks")}
    proc = subprocess.Popen([EXSIM, "sweep", "s.toml", "--out", "out", *args], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    return proc, tag


DEATHS = """
    [sweep]
    seeds = [1]
    [sweep.grid]
    "agents[1].class" = ["noise", "sweep_agents:ExitsHard", "sweep_agents:KillsItself"]
    [run]
    duration = 10.0
    [[agents]]
    class = "market_maker"
    deposit = 1000000.0
    [[agents]]
    class = "noise"
"""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_run_that_dies_is_a_failed_row_and_the_sweep_goes_on(workers: str,
                                                               tmp_path: Path) -> None:
    proc, tag = sweep_process(tmp_path, DEATHS, "--workers", workers)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err  # a failed run, not a dead sweep
    assert "3 runs (2 failed)" in out, err
    rows = {r["agents[1].class"]: r for r in read_csv(tmp_path / "out" / "results.csv")}
    assert rows["noise"]["complete"] == "True" and rows["noise"]["error"] == ""
    exited, killed = rows["sweep_agents:ExitsHard"], rows["sweep_agents:KillsItself"]
    assert exited["complete"] == killed["complete"] == "False"
    assert "exit status 3" in exited["error"] and "SIGKILL" in killed["error"]
    assert "died" in (tmp_path / "out" / exited["run"] / "error.txt").read_text()
    aggregate = read_csv(tmp_path / "out" / "aggregate.csv")
    assert sorted(a["failed"] for a in aggregate) == ["0", "1", "1"]
    assert wait_until(lambda: not tagged(tag), 10)


SLOW = """
    [sweep]
    seeds = [1, 2, 3]
    [sweep.grid]
    "agents[1].class" = ["noise", "sweep_agents:Slow"]
    [run]
    duration = 200.0
    [[agents]]
    class = "market_maker"
    deposit = 1000000.0
    [[agents]]
    class = "noise"
"""


def started(tmp_path: Path) -> int:
    return len(list((tmp_path / "marks").iterdir()))


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "Ctrl-C", "Ctrl-C twice"])
def test_a_signal_stops_the_sweep_and_its_runs_at_once(how: str, tmp_path: Path) -> None:
    """Three quick runs, then three slow ones on two workers: two slow ones are running
    and one is queued when the signal comes (Ctrl-C: to the terminal's process group)."""
    proc, tag = sweep_process(tmp_path, SLOW, "--workers", "2")
    assert wait_until(lambda: started(tmp_path) == 2, 60), proc.stderr
    sig = signal.SIGTERM if how == "SIGTERM" else signal.SIGINT
    t0 = time.monotonic()
    for _ in range(2 if how == "Ctrl-C twice" else 1):
        if how.startswith("Ctrl-C"):
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        time.sleep(0.1)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 15
    assert proc.returncode == 128 + sig, err
    assert f"exsim sweep: stopped by {sig.name}" in err and "Traceback" not in err, err
    assert wait_until(lambda: not tagged(tag), 10), "processes left behind"
    assert started(tmp_path) == 2  # the queued run never started
    rows = read_csv(tmp_path / "out" / "results.csv")
    assert [(r["agents[1].class"], r["seed"], r["complete"]) for r in rows] == [
        ("noise", s, "True") for s in ("1", "2", "3")]
    assert len(read_csv(tmp_path / "out" / "aggregate.csv")) == 1
    for summary in (tmp_path / "out").glob("*Slow*/summary.json"):  # stopped: not done
        assert json.loads(summary.read_text())["complete"] is False


def test_sigkill_of_the_sweep_takes_its_runs_down(tmp_path: Path) -> None:
    proc, tag = sweep_process(tmp_path, SLOW, "--workers", "2")
    assert wait_until(lambda: started(tmp_path) == 2, 60)
    proc.kill()
    proc.communicate(timeout=30)
    assert wait_until(lambda: not tagged(tag), 15), "runs outlived their sweep"
    assert started(tmp_path) == 2


# ------------------------------------------------------------------ in-process API
def document(duration: float = 10.0) -> dict[str, Any]:
    return {"sweep": {"seeds": 2}, "run": {"seed": 5, "duration": duration},
            "agents": [{"class": "market_maker", "deposit": 1_000_000.0},
                       {"class": "noise", "count": 3}]}


@pytest.mark.parametrize("workers", [1, 2])
def test_dead_runs_are_rows_through_the_api_too(workers: int, tmp_path: Path) -> None:
    doc = document()
    doc["sweep"] = {"seeds": 1, "grid": {"agents[1].class": ["noise", "sweep_agents:KillsItself"]}}
    result = run_sweep(plan(doc), tmp_path, workers=workers)
    assert [r["complete"] for r in result.rows] == [True, False]
    assert "SIGKILL" in result.rows[1]["error"]


def test_a_truncated_summary_is_not_done(tmp_path: Path) -> None:
    specs = plan(document())
    first = run_sweep(specs, tmp_path, workers=1)
    summary = tmp_path / specs[0].name / "summary.json"
    text = summary.read_text()
    summary.write_text(text[: len(text) // 2])
    (tmp_path / specs[1].name / "summary.json").write_bytes(b"\xff\xfe not json")
    again = run_sweep(specs, tmp_path, workers=1)
    assert again.reused == 0 and again.changed == 0
    assert [r["digest"] for r in again.rows] == [r["digest"] for r in first.rows]
    assert json.loads(summary.read_text())["complete"] is True
    third = run_sweep(specs, tmp_path, workers=1)
    assert third.reused == 2
    assert [r["digest"] for r in third.rows] == [r["digest"] for r in first.rows]


def test_a_changed_config_is_run_again_in_a_fresh_directory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exsim.cli import main

    cfg = tmp_path / "s.toml"
    toml = ('[sweep]\nseeds = 2\n[run]\nduration = {d}\n[[agents]]\nclass = "market_maker"\n'
            'deposit = 1000000.0\n[[agents]]\nclass = "noise"\ncount = 3\n')
    cfg.write_text(toml.format(d="10.0"))
    out = tmp_path / "out"
    assert main(["sweep", str(cfg), "--workers", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    (out / "base-seed1" / "stale.txt").write_text("from the first config")
    assert main(["sweep", str(cfg), "--workers", "1", "--out", str(out)]) == 0
    assert "reran" not in capsys.readouterr().err  # same config: both reused
    cfg.write_text(toml.format(d="12.0"))
    assert main(["sweep", str(cfg), "--workers", "1", "--out", str(out)]) == 0
    assert "reran 2 runs whose config changed" in capsys.readouterr().err
    rows = read_csv(out / "results.csv")
    assert [float(r["sim_seconds"]) for r in rows] == [12.0, 12.0]
    assert not (out / "base-seed1" / "stale.txt").exists()


def test_the_config_hash_is_the_runs_identity(tmp_path: Path) -> None:
    specs = plan(document())
    result = run_sweep(specs, tmp_path, workers=1)
    for spec, row in zip(specs, result.rows, strict=True):
        on_disk = json.loads((tmp_path / spec.name / "summary.json").read_text())
        assert on_disk["config_sha256"] == spec.config_sha256 == row["config_sha256"]
    base = parse_config({k: v for k, v in document().items() if k != "sweep"})
    assert specs[0].config_sha256 == config_sha256(base, 5) != config_sha256(base, 6)
    # the seed a run uses is what counts, not where it was written
    reseeded = parse_config({"run": {"seed": 6, "duration": 10.0}, "agents": document()["agents"]})
    assert config_sha256(reseeded, 6) == config_sha256(base, 6) == specs[1].config_sha256
    other = parse_config({"run": {"seed": 5, "duration": 10.0},
                          "agents": [*document()["agents"][:1],
                                     {"class": "noise", "count": 3, "params": {"rate": 0.2}}]})
    assert config_sha256(other, 5) != config_sha256(base, 5)


def test_an_interrupted_api_sweep_raises_with_what_finished(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    import exsim.sweep as sweep

    specs = plan(document())
    seen: list[int] = []

    def progress(done: int, failed: int, total: int) -> None:
        seen.append(done)
        if done == 1:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C after the first run

    with pytest.raises(SweepInterrupted) as info:
        sweep.run_sweep(specs, tmp_path, workers=1, progress=progress)
    assert info.value.signal == "SIGINT"
    assert [r["run"] for r in info.value.result.rows] == [specs[0].name]
    assert len(read_csv(tmp_path / "results.csv")) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
