"""Bad input gives one line naming the key and the value, never a traceback (issue 16, 15).

Each case goes through the command line (``exsim.cli.main``) as a user would meet it;
a run that cannot mean anything (no mark, no accepted order) says so in its summary.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from exsim.agent import Agent, Context
from exsim.cli import main
from exsim.config import ConfigError, parse_config
from exsim.output.report import ReportError, write_report
from exsim.output.warnings import run_warnings
from exsim.sim import Simulation

AGENTS = textwrap.dedent("""
    [[agents]]
    class = "market_maker"
    deposit = 1000000.0
    [[agents]]
    class = "noise"
    count = 3
""")


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    """``exsim ARGV`` fails with exit status 2 and one stderr line holding every needle."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize(("toml", "needles"), [
    ("[run]\nduration = 1e300\n", ("run.duration", "1e+300")),
    ("[exchange]\nfeed_interval_ms = 1e300\n", ("exchange.feed_interval_ms", "1e+300")),
    ("[[symbols]]\ndefault_leverage = 5\n"
     'brackets = [[0, "0.004", 12.7], [50000, "0.005", 10]]\n',
     ("symbols[0].brackets", "12.7")),
    ('[[symbols]]\ndefault_leverage = 5\nbrackets = [[0, "0.004", true]]\n',
     ("symbols[0].brackets", "True")),
    ('[[symbols]]\ntick_size = "1e999999"\n', ("symbols[0]", "tick_size", "1e999999")),
    ('[[symbols]]\ncash_atom = "1e-999999"\n', ("symbols[0]", "cash_atom", "1e-999999")),
    ('[[symbols]]\n[[symbols]]\nname = "ETHUSDT"\n[[symbols]]\nname = "BTCUSDT"\n',
     ("symbols[2].name", "'BTCUSDT'", "symbols[0]")),
    ("[scenario]\nstart_price = 1e300\n", ("scenario.start_price", "1e+300")),
    ("[scenario]\nstart_price = 0.00001\n", ("scenario.start_price", "1e-05")),
    ('[output]\nname = "../../x"\n', ("output.name", "'../../x'")),
    ('[output]\nname = "a/b"\n', ("output.name", "'a/b'")),
    ('[output]\nname = ".."\n', ("output.name", "'..'")),
    ("[scenario]\nstep_s = 0.000001\n", ("scenario.step_s", "1e-06")),
    ("[[agents]]\nclass = \"noise\"\nleverage = 200\n", ("agents[0].leverage", "200")),
    ("[[agents]]\nclass = \"noise\"\ncount = 100000000\n", ("agents[0].count", "100000000")),
])
def test_validate_refuses_in_one_line(toml: str, needles: tuple[str, ...], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    one_line_error(capsys, ["validate", str(cfg)], "exsim validate: ", str(cfg), *needles)
    one_line_error(capsys, ["run", str(cfg), "--out", str(tmp_path / "o")], *needles)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("toml", "needles"), [
    ("[scenario]\nvolatility = 1e6\n", ("scenario.volatility", "1000000.0")),
    ('[scenario]\nkind = "merton"\njump_std = 1e6\n', ("scenario.jump_std", "1000000.0")),
    ("[scenario]\ndrift = 1e6\n", ("scenario.drift", "1000000.0")),
    ('[scenario]\nkind = "flash_crash"\ndrop = 0.9999999\n', ("scenario.drop", "0.9999999")),
])
def test_an_index_path_off_the_price_grid_is_refused(
        toml: str, needles: tuple[str, ...], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The path depends on the seed, so it is checked when the simulation is built."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml + AGENTS)
    one_line_error(capsys, ["validate", str(cfg)], "scenario", *needles)


def test_a_csv_path_off_the_price_grid_is_refused(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "px.csv").write_text("0,30000\n10,0.01\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[scenario]\nkind = "csv"\ncsv = "px.csv"\n' + AGENTS)
    one_line_error(capsys, ["validate", str(cfg)], "scenario.csv", "px.csv", "0.01")


def test_the_start_price_is_checked_against_every_symbols_tick() -> None:
    doc = {"symbols": [{}, {"name": "ETHUSDT", "tick_size": "100"}],
           "scenario": {"start_price": 50.0}}
    with pytest.raises(ConfigError, match=r"scenario\.start_price: 50\.0 is .*ETHUSDT"):
        parse_config(doc)
    doc["scenario"] = {"start_price": 100.0}
    parse_config(doc)


def test_bracket_leverage_must_be_an_integer_in_the_core_too() -> None:
    """The core refuses it itself (pure and compiled alike: tests/test_compiled.py)."""
    from exsim.core.symbols import SymbolError, brackets_from_quote
    from exsim.core.units import LinearContract

    contract = LinearContract("0.1", "0.001", "0.00000001")
    for bad in (12.7, 12.0, True, "12", None):
        with pytest.raises(SymbolError, match=r"^tier 2: max leverage must be an integer, got "):
            brackets_from_quote(contract, [(0, "0.004", 20), (50_000, "0.005", bad)])
    (first,) = brackets_from_quote(contract, [(0, "0.004", 20)])
    assert first.max_leverage == 20


class Exiter(Agent):
    async def run(self, ctx: Context) -> None:
        await ctx.sleep(2)
        raise SystemExit(3)


class Quitter(BaseException):
    """Not an Exception: a strategy's own way out."""


class SteppedQuitter(Agent):
    trio_task = False

    async def run(self, ctx: Context) -> None:
        await ctx.sleep(2)
        raise Quitter("done here")


@pytest.mark.parametrize("cls", ["test_validation:Exiter", "test_validation:SteppedQuitter"])
def test_an_agents_base_exception_is_its_crash(cls: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[run]\nduration = 30.0\n{AGENTS}[[agents]]\nclass = "{cls}"\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--quiet", "--no-report"]) == 1
    err = capsys.readouterr().err
    assert f"exsim run: INCOMPLETE: agent crashed: agents[2] (class '{cls}')" in err
    # the agent's own traceback, ending in its exception (before: SystemExit left `exsim`)
    assert err.rstrip().endswith(("SystemExit: 3", "Quitter: done here")), err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["reason"].startswith("agent crashed") and summary["sim_seconds"] == 2.0
    # isolated, the run goes on without it
    isolated = parse_config({"run": {"duration": 30.0, "on_agent_error": "isolate"},
                             "agents": [{"class": "noise"}, {"class": cls}]})
    summary = Simulation(isolated).run()
    assert summary["complete"] and summary["sim_seconds"] == 30.0
    (dropped,) = summary["isolated_agents"]
    assert cls in dropped["agent"] and dropped["at_seconds"] == 2.0


def test_a_corrupt_series_file_is_one_line_in_report(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    cfg = parse_config({"run": {"duration": 20.0}, "agents": [{"class": "noise"}]})
    Simulation(cfg).run(tmp_path)
    data = (tmp_path / "series.parquet").read_bytes()
    (tmp_path / "series.parquet").write_bytes(data[: len(data) // 2])
    err = one_line_error(capsys, ["report", str(tmp_path)], "series.parquet")
    assert str(tmp_path) in err
    (tmp_path / "series.parquet").write_bytes(data)
    pq.write_table(pq.read_table(tmp_path / "series.parquet").drop(["value"]),
                   tmp_path / "series.parquet")
    one_line_error(capsys, ["report", str(tmp_path)], "series.parquet", "value")
    (tmp_path / "series.parquet").write_bytes(data)
    (tmp_path / "summary.json").write_text('{"complete": tr')
    with pytest.raises(ReportError, match=r"summary\.json"):
        write_report(tmp_path)


def test_a_corrupt_sweep_aggregate_is_one_line_in_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "aggregate.parquet").write_bytes(b"PAR1 not really")
    one_line_error(capsys, ["report", str(tmp_path)], "aggregate.parquet")


# ------------------------------------------------------------------ trust warnings
def test_warnings_name_what_makes_a_run_meaningless() -> None:
    assert run_warnings(["BTCUSDT", "ETHUSDT"], [300_000, 20_000], orders_accepted=3) == []
    assert run_warnings(["BTCUSDT", "ETHUSDT"], [None, 20_000], orders_accepted=0) == [
        "no mark price was ever set for BTCUSDT: every order and margin check on it was "
        "refused (check scenario.start_price against its tick_size)",
        "no order was ever accepted: the run traded nothing (check the agents' deposits, "
        "leverage and prices)"]


def test_a_run_where_every_order_is_refused_says_so(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[run]\nduration = 30.0\n[[agents]]\nclass = "noise"\ncount = 3\n'
                   'deposit = 0.0\nparams = {rate = 1.0}\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--quiet", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "warning" in out and "no order was ever accepted" in out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["warnings"] == [run_warnings(["BTCUSDT"], [1], orders_accepted=0)[0]]
    assert summary["complete"]


def test_a_run_with_no_mark_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from exsim.core.engine import MAX_UNITS

    sim = Simulation(parse_config({"run": {"duration": 10.0},
                                   "agents": [{"class": "noise", "params": {"rate": 1.0}}]}))
    sim.core.markets[0].mark = None  # as when the start price was off the grid
    monkeypatch.setattr(sim.oracle, "mark_ticks", lambda sym: (MAX_UNITS, 1e300))
    summary = sim.run()
    assert summary["warnings"] == run_warnings(["BTCUSDT"], [None], orders_accepted=0)
    assert summary["trades"] == 0


def test_a_clean_run_has_no_warnings() -> None:
    cfg = parse_config({"run": {"duration": 20.0}, "agents": [
        {"class": "market_maker", "deposit": 1_000_000.0}, {"class": "noise", "count": 3}]})
    assert Simulation(cfg).run()["warnings"] == []
