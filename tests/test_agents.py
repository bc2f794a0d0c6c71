"""Built-in agents do what their docstrings say, inside real runs."""

from __future__ import annotations

from typing import Any

import pytest

from exsim.agents.params import read_params
from exsim.config import parse_config
from exsim.core.events import ACCEPTED, CANCELLED, FILL, LEVERAGE
from exsim.sim import FIRST_AGENT, Simulation

MAKERS = {"class": "market_maker", "count": 3, "deposit": 5_000_000.0, "leverage": 5,
          "params": {"quote_lots": 200, "half_spread_bps": 2.0}}


def run(agents: list[dict[str, Any]], duration: float = 300.0, **extra: Any) -> Simulation:
    doc = {"run": {"seed": 5, "duration": duration}, "scenario": {"kind": "constant"},
           "agents": agents, **extra}
    sim = Simulation(parse_config(doc))
    summary = sim.run()
    assert summary["complete"], summary.get("error")
    assert all(summary["invariants"].values()), summary["invariants"]
    return sim


def fills_of(sim: Simulation, acct: int) -> list[tuple[int, tuple[int, ...]]]:
    return [(t, e) for t, e in sim.recorder.log if e[0] == FILL and acct in (e[5], e[8])]


def test_shock_agent_sells_its_size_at_its_time() -> None:
    shock_id = FIRST_AGENT + 3  # after three market makers
    sim = run([MAKERS, {"class": "shock", "deposit": 10_000_000.0, "leverage": 1,
                        "params": {"at_s": 100, "qty_lots": 900, "slices": 3, "every_s": 10}}])
    mine = fills_of(sim, shock_id)
    assert mine and all(e[5] == shock_id and e[6] == 1 for _, e in mine)  # taker, selling
    assert all(100e9 <= t < 130e9 for t, _ in mine)  # at 100, 110, 120 s plus latency
    orders = [e for _, e in sim.recorder.log if e[0] == ACCEPTED and e[3] == shock_id]
    assert [e[6] for e in orders] == [300, 300, 300]
    # what the book could not absorb within the band was cancelled, not lost
    unfilled = sum(e[4] for _, e in sim.recorder.log if e[0] == CANCELLED and e[3] == shock_id)
    filled = sum(e[3] for _, e in mine)
    assert filled > 0 and filled + unfilled == 900
    assert sim.core.position_of(shock_id, 0).qty == -filled  # type: ignore[union-attr]


def test_leveraged_traders_draw_their_leverage_and_trade() -> None:
    first = FIRST_AGENT + 3
    sim = run([MAKERS, {"class": "leveraged", "count": 8, "deposit": 10_000.0,
                        "params": {"leverage_min": 3, "leverage_max": 12, "wait_mean_s": 30,
                                   "hold_mean_s": 60}}], duration=600.0)
    chosen = {e[2]: e[3] for t, e in sim.recorder.log if e[0] == LEVERAGE and t > 0}
    assert set(chosen) == set(range(first, first + 8))
    assert all(3 <= lev <= 12 for lev in chosen.values())
    assert len(set(chosen.values())) > 1  # drawn, not fixed
    traded = [a for a in chosen if fills_of(sim, a)]
    assert len(traded) >= 6


def test_arbitrageur_leans_against_a_rich_perp() -> None:
    """A whale buys hard at 100 s; the arbitrageur sells the premium back."""
    arb = FIRST_AGENT + 4
    sim = run([MAKERS,
               {"class": "shock", "deposit": 10_000_000.0, "leverage": 1,
                "params": {"at_s": 100, "side": 0, "qty_lots": 3000, "slices": 1}},
               {"class": "arbitrageur", "deposit": 5_000_000.0, "leverage": 5,
                "params": {"threshold_bps": 5, "qty_lots": 20}}])
    sells = [e for _, e in fills_of(sim, arb) if e[5] == arb and e[6] == 1]
    assert sells
    assert sim.core.position_of(arb, 0).qty < 0  # type: ignore[union-attr]


def test_agent_parameters_are_checked_by_name() -> None:
    with pytest.raises(ValueError, match="unknown parameter 'rat'; did you mean 'rate'"):
        read_params("noise", {"rate": 1.0}, {"rat": 2})
    with pytest.raises(ValueError, match="must be a number >= 0"):
        read_params("noise", {"rate": 1.0}, {"rate": "fast"})


def test_an_agent_can_have_its_own_latency() -> None:
    """The shock agent acts at 10 s; with 250 ms to the exchange its order arrives at
    10.25 s and is accepted after the exchange's 50 us of service."""
    shock = FIRST_AGENT + 3
    sim = run([MAKERS, {"class": "shock", "latency_ms": 250.0, "deposit": 10_000_000.0,
                        "params": {"at_s": 10, "qty_lots": 10}}], duration=20.0)
    (accepted,) = [t for t, e in sim.recorder.log if e[0] == ACCEPTED and e[3] == shock]
    assert accepted == 10_250_050_000
