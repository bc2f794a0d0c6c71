"""The runtime end to end: quickstart in virtual time, determinism, bad configs and plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import attrs
import pyarrow.parquet as pq
import pytest

from exsim.agent import Agent, Context
from exsim.cli import main
from exsim.config import ConfigError, load_config, parse_config
from exsim.core.orders import BUY, MARKET
from exsim.sim import AgentLoadError, Simulation

ROOT = Path(__file__).resolve().parents[1]


def small(duration: float = 120.0, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "run": {"seed": 3, "duration": duration},
        "agents": [
            {"class": "market_maker", "count": 2, "deposit": 1_000_000.0, "leverage": 5},
            {"class": "noise", "count": 10, "params": {"rate": 0.5, "p_market": 0.3}},
        ],
    }
    doc.update(extra)
    return doc


def test_quickstart_config_loads_and_a_short_run_is_clean(tmp_path: Path) -> None:
    cfg = load_config()  # the built-in quickstart, cut to its first two minutes
    assert cfg.run.duration == 3600.0
    assert {a.cls for a in cfg.agents} == {"market_maker", "noise", "leveraged", "arbitrageur"}
    cfg = attrs.evolve(cfg, run=attrs.evolve(cfg.run, duration=120.0))
    summary = Simulation(cfg).run(tmp_path / "run")
    assert summary["complete"] and summary["sim_seconds"] == 120.0
    assert summary["trades"] > 50
    assert all(summary["invariants"].values()), summary["invariants"]
    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert written["digest"] == summary["digest"] and len(summary["digest"]) == 64
    trades = pq.read_table(tmp_path / "run" / "trades.parquet")
    assert trades.num_rows == summary["trades"]
    assert set(trades.column_names) >= {"time_ns", "price", "qty", "taker_acct", "maker_acct"}
    marks = pq.read_table(tmp_path / "run" / "marks.parquet").to_pydict()
    assert len(marks["price"]) >= 120  # one a second, plus the opening mark


DETERMINISM = textwrap.dedent("""
    import sys
    from trio._core import _run
    _run._r.seed(int(sys.argv[1]))  # perturb trio's scheduler
    from exsim.agents.noise import NoiseTrader
    from exsim.config import parse_config
    from exsim.sim import Simulation

    class TrioNoise(NoiseTrader):  # trio tasks beside the stepped built-in agents
        trio_task = True

    doc = {"run": {"seed": 3, "duration": 60.0}, "agents": [
        {"class": "market_maker", "count": 2, "deposit": 1000000.0},
        {"class": "noise", "count": 5, "params": {"rate": 0.5}},
        {"class": "__main__:TrioNoise", "count": 5, "params": {"rate": 0.5}}]}
    print(Simulation(parse_config(doc)).run()["digest"])
""")


def test_same_seed_same_digest_across_hash_seeds_and_schedulers() -> None:
    digests = set()
    for hash_seed, sched in (("0", "1"), ("4242", "99")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", DETERMINISM, sched], env=env,
                             capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1
    other = parse_config({**small(60.0), "run": {"seed": 4, "duration": 60.0}})
    assert Simulation(other).run()["digest"] not in digests


# -------------------------------------------------------------------- bad configs
@pytest.mark.parametrize(("doc", "message"), [
    ({"run": {"sed": 1}}, "run.sed: unknown key; did you mean 'seed'?"),
    ({"run": {"duration": "long"}}, "run.duration: expected a number, got 'long'"),
    ({"run": {"duration": -5}}, "run.duration: must be > 0, got -5"),
    ({"run": {"clock": "wal"}},
     "run.clock: 'wal' is not one of virtual, wall; did you mean 'wall'?"),
    ({"exchnage": {}}, "exchnage: unknown section; did you mean 'exchange'?"),
    ({"exchange": {"latency": {"kind": "gauss"}}}, "exchange.latency.kind: 'gauss' is not one of"),
    ({"agents": [{"count": 2}]}, "agents[0].class: missing required key"),
    ({"agents": [{"class": "noise", "count": 0}]}, "agents[0].count: must be > 0"),
    ({"symbols": [{"tick_size": "0.5", "lot_size": "0.001", "cash_atom": "0.001"}]},
     "symbols[0]: tick_size x lot_size"),
    ({"scenario": {"drop": 1.0}}, "scenario.drop: must be below 1"),
    ({"run": {"duration": float("inf")}}, "run.duration: must be a finite number"),
    ({"exchange": {"latency": {"sigma": float("nan")}}}, "must be a finite number"),
    ({"funding": {"interval_s": 1e-10}}, "funding.interval_s: 1e-10 is below 1 ns"),
    ({"exchange": {"service_us": 1e-5}}, "exchange.service_us: 1e-05 is below 1 ns"),
])
def test_bad_config_names_file_key_and_value(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(doc, "my.toml")
    assert str(err.value).startswith("my.toml: ")
    assert message in str(err.value)


def test_agent_params_are_checked_before_the_run() -> None:
    for params, message in (({"rate_typo": 1.0}, "unknown parameter 'rate_typo'"),
                            ({"lifetime_s": 0}, "'lifetime_s' must be > 0")):
        cfg = parse_config({"agents": [{"class": "noise", "params": params}]})
        with pytest.raises(AgentLoadError, match=message):
            Simulation(cfg)
    cfg = parse_config({"agents": [{"class": "shock", "params": {"side": 3}}]})
    with pytest.raises(AgentLoadError, match=r"agents\[0\] \(class 'shock'\): shock: "):
        Simulation(cfg)


def test_a_bad_csv_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "px.csv").write_text("0,100\n5,abc\n")
    with pytest.raises(ConfigError, match=r"scenario\.csv: .*px\.csv:2"):
        parse_config({"scenario": {"kind": "csv", "csv": "px.csv"}}, str(tmp_path / "c.toml"))


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nseed = 1")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(bad)


# -------------------------------------------------------------------- plugins
class Crasher(Agent):
    async def run(self, ctx: Context) -> None:
        await ctx.sleep(10)
        ctx.submit(BUY, 1, order_type=MARKET)
        await ctx.sleep(1)
        raise RuntimeError("strategy bug")


class NotAnAgent:
    async def run(self, ctx: Context) -> None: ...


class SyncRun(Agent):
    def run(self, ctx: Context) -> None:  # type: ignore[override]
        pass


@pytest.mark.parametrize(("cls", "message"), [
    ("no_such_module:Agent", "cannot load agent class 'no_such_module:Agent'"),
    ("test_sim:Missing", "has no attribute 'Missing'"),
    ("test_sim:NotAnAgent", "is not a subclass of exsim.Agent"),
    ("test_sim:SyncRun", "must be `async def run(self, ctx)`"),
    ("nosuchname", "no agent named 'nosuchname'"),
])
def test_bad_plugins_are_named(cls: str, message: str) -> None:
    cfg = parse_config({"agents": [{"class": "noise"}, {"class": cls}]})
    with pytest.raises(AgentLoadError) as err:
        Simulation(cfg)
    assert f"agents[1] (class '{cls}')" in str(err.value)
    assert message in str(err.value)


def test_a_crashing_agent_stops_the_run_and_keeps_its_output(tmp_path: Path) -> None:
    cfg = parse_config(small(600.0, agents=[
        {"class": "market_maker", "count": 1, "deposit": 1_000_000.0},
        {"class": "test_sim:Crasher"}]))
    summary = Simulation(cfg).run(tmp_path / "run")
    assert summary["complete"] is False
    assert "agent crashed: agents[1] (class 'test_sim:Crasher') #101" in summary["reason"]
    assert "RuntimeError: strategy bug" in summary["error"]
    assert 11 <= summary["sim_seconds"] < 600
    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert written["complete"] is False and written["events"] == summary["events"] > 0
    assert (tmp_path / "run" / "orders.parquet").exists()


def test_cli_run_validate_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(textwrap.dedent("""
        [run]
        duration = 30.0
        [[agents]]
        class = "noise"
        count = 3
    """))
    assert main(["validate", str(cfg)]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["run", str(cfg), "--seed", "9", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "invariant cash_conserved" in out and "seed" in out
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["seed"] == 9
    cfg.write_text("[run]\nduraton = 3\n")
    assert main(["validate", str(cfg)]) == 2
    assert "run.duraton: unknown key; did you mean 'duration'?" in capsys.readouterr().err
    assert main(["run", str(cfg)]) == 2


def test_isolate_drops_the_crashing_agent_and_goes_on(tmp_path: Path) -> None:
    cfg = parse_config({**small(60.0), "run": {"duration": 60.0, "on_agent_error": "isolate"},
                        "agents": [{"class": "market_maker", "deposit": 1_000_000.0},
                                   {"class": "test_sim:Crasher"}, {"class": "noise"}]})
    summary = Simulation(cfg).run()
    assert summary["complete"] and summary["sim_seconds"] == 60.0
    (dropped,) = summary["isolated_agents"]
    assert "test_sim:Crasher" in dropped["agent"] and "strategy bug" in dropped["error"]


class Interrupter(Agent):
    async def run(self, ctx: Context) -> None:
        await ctx.sleep(5)
        raise KeyboardInterrupt


def test_an_interrupted_run_writes_what_it_recorded(tmp_path: Path) -> None:
    cfg = parse_config(small(600.0, agents=[
        {"class": "market_maker", "count": 1, "deposit": 1_000_000.0},
        {"class": "noise", "count": 3}, {"class": "test_sim:Interrupter"}]))
    with pytest.raises(KeyboardInterrupt):
        Simulation(cfg).run(tmp_path / "run")
    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert written["complete"] is False and written["reason"] == "interrupted (Ctrl-C)"
    assert 5 <= written["sim_seconds"] < 600 and written["events"] > 0


def test_funding_settles_at_each_interval(tmp_path: Path) -> None:
    cfg = parse_config({**small(200.0), "funding": {"interval_s": 60.0, "sample_s": 5.0}})
    summary = Simulation(cfg).run(tmp_path / "run")
    assert summary["complete"] and all(summary["invariants"].values())
    funding = pq.read_table(tmp_path / "run" / "funding.parquet").to_pydict()
    rates = [(t, r) for t, k, r in zip(funding["time_ns"], funding["kind"], funding["rate"],
                                       strict=True) if k == "FUNDING_RATE"]
    # settlements at 60, 120, 180 s, arriving after the network's latency
    assert [round(t / 1e9) for t, _ in rates] == [60, 120, 180]
    assert all(abs(r) <= 750_000 for _, r in rates)  # within the 0.75% cap
    payments = [a for k, a in zip(funding["kind"], funding["amount"], strict=True)
                if k == "FUNDING"]
    assert payments and sum(payments) <= 0  # rounding never pays out more than it takes


@pytest.mark.parametrize("method", ["ema_basis", "median3", "fair"])
def test_every_mark_method_stays_within_its_clamp_of_the_index(method: str) -> None:
    cfg = parse_config({**small(120.0), "oracle": {"method": method, "clamp": 0.002},
                        "funding": {"interval_s": 60.0}})
    sim = Simulation(cfg)
    summary = sim.run()
    assert summary["complete"] and all(summary["invariants"].values())
    path = sim.paths[0]
    marks = [(t, e[2]) for t, e in sim.recorder.log if e[0] == 7]  # MARK
    assert len(marks) > 100
    tick = 0.1
    for t, mark in marks[1:]:
        # the oracle computed this mark one network hop (< 60 ms here) before it applied
        seen = [path.at(t - d) for d in range(0, 60_000_001, 1_000_000)]
        assert min(seen) * (1 - 0.002) - tick <= mark * tick <= max(seen) * (1 + 0.002) + tick


def test_account_snapshots_balance_and_reach_their_owners(tmp_path: Path) -> None:
    from exsim.core.events import ACCOUNT, FIELDS

    cfg = parse_config({**small(130.0), "output": {"account_snapshot_s": 60.0}})
    sim = Simulation(cfg)
    assert sim.run(tmp_path / "run")["complete"]
    # a run that writes a directory keeps no log in memory: its events are in the tables
    table = pq.read_table(tmp_path / "run" / "account_snapshots.parquet").to_pydict()
    snaps = [(t, (ACCOUNT, *fields)) for t, *fields in zip(
        table["time_ns"], *(table[f] for f in FIELDS[ACCOUNT]), strict=True)]
    times = sorted({t for t, _ in snaps})
    assert [round(t / 1e9) for t in times] == [60, 120]
    for t in times:
        rows = [e for at, e in snaps if at == t]
        assert {e[1] for e in rows} == set(sim.core.accounts)  # every account, every time
        assert sum(e[3] for e in rows if e[2] == 0) == 0  # open interest balances
    # the owners got theirs: every agent knows its available balance and its ADL lights
    assert all(ctx.available is not None and ctx.available > 0 for _, _, ctx in sim.agents)
    last = [e for at, e in snaps if at == times[-1] and e[2] == 0 and e[1] >= 0]  # traders
    for e in last:
        assert (e[8] == 0) == (e[3] == 0) and 0 <= e[8] <= 5
    for side in (1, -1):  # the first in line on each side shows five lights
        lights = [e[8] for e in last if e[3] * side > 0]
        assert not lights or max(lights) == 5
    assert set(table["kind"]) == {"ACCOUNT"}


def test_wall_clock_mode_runs_in_real_time() -> None:
    import time

    cfg = parse_config({"run": {"duration": 0.3, "clock": "wall"},
                        "agents": [{"class": "noise", "count": 2, "params": {"rate": 20.0}}]})
    t0 = time.perf_counter()
    summary = Simulation(cfg).run()
    assert summary["complete"] and summary["sim_seconds"] == pytest.approx(0.3)
    assert time.perf_counter() - t0 >= 0.3  # it waited for the real clock


def test_the_whole_quickstart_hour_end_to_end(tmp_path: Path) -> None:
    """`exsim run` with no config: one simulated hour, every invariant, all the files."""
    assert main(["run", "--out", str(tmp_path / "qs"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "qs" / "summary.json").read_text())
    assert summary["complete"] and summary["sim_seconds"] == 3600.0
    assert summary["agents"] == 77 and summary["trades"] > 5000
    assert all(summary["invariants"].values())
    for name in ("trades", "orders", "marks", "funding", "accounts", "account_snapshots"):
        assert (tmp_path / "qs" / f"{name}.parquet").exists()
    assert json.loads((tmp_path / "qs" / "config.json").read_text())["run"]["duration"] == 3600.0


def test_funding_settles_on_its_own_schedule_not_the_samples() -> None:
    """Interval 10 s, samples every 3 s: settlements at 10, 20 and 30 s, not only at 30."""
    from exsim.core.events import FUNDING_RATE

    cfg = parse_config({**small(35.0), "funding": {"interval_s": 10.0, "sample_s": 3.0}})
    sim = Simulation(cfg)
    sim.run()
    times = [round(t / 1e9) for t, e in sim.recorder.log if e[0] == FUNDING_RATE]
    assert times == [10, 20, 30]


def test_agents_mirrors_match_the_exchange() -> None:
    """After a run (and the messages still in flight), each agent's view of its orders,
    position and balance is exactly the exchange's."""
    from exsim.actors.messages import Events

    sim = Simulation(parse_config(small(300.0)))
    sim.run()
    for _, _, ctx in sim.agents:
        for msg in sim.net.take_pending(ctx.agent_id):
            if isinstance(msg, Events):
                ctx._absorb(msg.events)
        acct = sim.core.accounts[ctx.account]
        resting = {o[0]: o[4] for o in sim.core.markets[0].book.orders.values()
                   if o[1] == ctx.account}
        assert ctx.open_orders == resting
        pos = acct.positions.get(0)
        assert ctx.position[0] == (pos.qty if pos else 0)
        assert ctx.balance == acct.wallet + sum(p.margin for p in acct.positions.values())


def test_every_event_kind_has_a_table_and_a_route() -> None:
    from exsim.actors.exchange import owners_of
    from exsim.core.events import FIELDS, Kind
    from exsim.output.tables import TABLES

    tabled = {k for kinds in TABLES.values() for k in kinds}
    assert tabled == set(FIELDS) == {int(k) for k in Kind}
    for kind, fields in FIELDS.items():
        event = (kind, *range(10, 10 + len(fields)))
        has_account = any(f in ("acct", "taker_acct", "maker_acct") for f in fields)
        assert bool(owners_of(event)) == has_account, Kind(kind).name


def test_cli_finds_agent_modules_in_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`exsim validate` (the console script, whose sys.path does not hold the current
    directory) in a directory holding mybots_cli.py resolves "mybots_cli:Bot" (as
    `python -m` would); a missing module gets a message saying where exsim looks, and
    the error names the config file."""
    import subprocess
    import sys

    (tmp_path / "mybots_cli.py").write_text(
        "import exsim\n\nclass Bot(exsim.Agent):\n    async def run(self, ctx):\n"
        "        await ctx.sleep(1.0)\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[agents]]\nclass = "mybots_cli:Bot"\n')
    exsim = [str(Path(sys.executable).parent / "exsim"), "validate", "c.toml"]  # the script
    done = subprocess.run(exsim, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    cfg.write_text('[[agents]]\nclass = "nosuchbots:Bot"\n')
    done = subprocess.run(exsim, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    assert ("exsim validate: c.toml: agents[0] (class 'nosuchbots:Bot'): cannot load agent "
            "class 'nosuchbots:Bot': no module named 'nosuchbots'. exsim imports it like "
            "Python does") in done.stderr
    assert "Traceback" not in done.stderr


def test_summary_maps_accounts_to_agent_groups() -> None:
    cfg = parse_config({"run": {"duration": 5.0}, "agents": [
        {"class": "market_maker", "count": 2}, {"class": "noise", "count": 3}]})
    s = Simulation(cfg).run()
    assert s["agent_accounts"] == [
        {"class": "market_maker", "first_account": 100, "count": 2},
        {"class": "noise", "first_account": 102, "count": 3}]
