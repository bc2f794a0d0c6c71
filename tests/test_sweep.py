"""Sweeps: one row per (grid point, seed), resume, failures as rows, same digests either way."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from exsim.agent import Agent, Context
from exsim.cli import main
from exsim.config import ConfigError
from exsim.sweep import plan, run_sweep, wilson


class Boom(Agent):
    async def run(self, ctx: Context) -> None:
        await ctx.sleep(1)
        raise RuntimeError("boom")


def document(**grid: list[Any]) -> dict[str, Any]:
    return {
        "sweep": {"seeds": 2, "grid": grid},
        "run": {"seed": 5, "duration": 30.0},
        "agents": [{"class": "market_maker", "deposit": 1_000_000.0},
                   {"class": "noise", "count": 5, "params": {"rate": 0.5}}],
    }


def test_one_row_per_point_and_seed_and_resume(tmp_path: Path) -> None:
    specs = plan(document(**{"liquidation.fund_initial": [0.0, 500.0],
                             "agents[1].count": [3, 6]}))
    assert len(specs) == 8 and {s.seed for s in specs} == {5, 6}
    calls: list[tuple[int, int, int]] = []
    rows = run_sweep(specs, tmp_path, workers=1, progress=lambda *a: calls.append(a)).rows
    assert len(rows) == 8 and all(r["complete"] and r["invariants_ok"] for r in rows)
    assert calls[-1] == (8, 0, 8)
    with open(tmp_path / "results.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 8 and {(r["agents[1].count"], r["seed"]) for r in table} == {
        (c, s) for c in ("3", "6") for s in ("5", "6")}
    agg = pq.read_table(tmp_path / "aggregate.parquet").to_pylist()
    assert len(agg) == 4 and all(a["runs"] == 2 for a in agg)
    # a second pass skips every completed run and gives the same table
    again = run_sweep(specs, tmp_path, workers=1).rows
    assert [r["digest"] for r in again] == [r["digest"] for r in rows]
    summary = json.loads((tmp_path / specs[0].name / "summary.json").read_text())
    assert summary["seed"] == 5


def test_digests_are_the_same_with_one_or_two_workers(tmp_path: Path) -> None:
    specs = plan(document(**{"liquidation.fund_initial": [0.0, 500.0]}))
    one = run_sweep(specs, tmp_path / "one", workers=1).rows
    two = run_sweep(specs, tmp_path / "two", workers=2).rows
    assert [r["digest"] for r in one] == [r["digest"] for r in two]
    assert len({r["digest"] for r in one}) == 4  # seeds (and fund sizes) differ


def test_a_failing_run_is_a_failed_row(tmp_path: Path) -> None:
    specs = plan(document(**{"agents[1].class": ["noise", "test_sweep:Boom"]}))
    rows = run_sweep(specs, tmp_path, workers=2).rows
    failed = [r for r in rows if not r["complete"]]
    assert len(failed) == 2 and all("Boom" in r["run"] for r in failed)
    agg = {a["agents[1].class"]: a for a in pq.read_table(tmp_path / "aggregate.parquet")
           .to_pylist()}
    assert agg["test_sweep:Boom"]["failed"] == 2 and agg["noise"]["failed"] == 0


def test_bad_sweeps_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="needs a \\[sweep\\] section"):
        plan({"run": {}})
    with pytest.raises(ConfigError, match=r"sweep\.seeds"):
        plan({"sweep": {"seeds": 0}})
    with pytest.raises(ConfigError, match=r"no agents\[7\]"):
        plan(document(**{"agents[7].count": [1]}))
    with pytest.raises(ConfigError, match=r"must be > 0.*sweep point"):
        plan(document(**{"run.duration": [-1.0]}))


def test_wilson_interval() -> None:
    low, high = wilson(0, 4)
    assert low == 0 and round(high, 3) == 0.49
    low, high = wilson(10, 10)
    assert high == 1 and round(low, 3) == 0.722


def test_cli_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text('[sweep]\nseeds = 2\n[run]\nduration = 10.0\n'
                   '[[agents]]\nclass = "noise"\ncount = 2\n')
    assert main(["sweep", str(cfg), "--workers", "1", "--out", str(tmp_path / "o")]) == 0
    assert "2 runs (0 failed)" in capsys.readouterr().out
    assert (tmp_path / "o" / "aggregate.csv").exists()


def test_ray_gives_the_same_digests_as_the_local_pool(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the Ray extra is not installed (CI installs it)")
    specs = plan(document(**{"liquidation.fund_initial": [0.0, 500.0]}))
    local = run_sweep(specs, tmp_path / "local", workers=2).rows
    on_ray = run_sweep(specs, tmp_path / "ray", executor="ray").rows
    assert [r["digest"] for r in on_ray] == [r["digest"] for r in local]
    assert all(r["complete"] for r in on_ray)


def test_list_valued_and_mixed_grid_values(tmp_path: Path) -> None:
    specs = plan(document(**{"liquidation.steps": [["insurance_fund", "adl"],
                                                   ["insurance_fund", "clawback"]]}))
    rows = run_sweep(specs, tmp_path, workers=1).rows
    assert len(rows) == 4
    agg = pq.read_table(tmp_path / "aggregate.parquet").to_pylist()
    assert len(agg) == 2 and all(a["runs"] == 2 for a in agg)
    with pytest.raises(ConfigError, match="appears twice"):
        plan({**document(), "sweep": {"seeds": [3, 3]}})
