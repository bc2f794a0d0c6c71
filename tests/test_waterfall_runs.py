"""The shipped waterfall configs tell the stories their comments promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from exsim.config import load_config
from exsim.core.events import ADL, LIQUIDATION
from exsim.sim import Simulation

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def flash_crash() -> tuple[Simulation, dict]:
    sim = Simulation(load_config(CONFIGS / "flash_crash.toml"))
    return sim, sim.run()


@pytest.fixture(scope="module")
def thin_venue() -> tuple[Simulation, dict]:
    sim = Simulation(load_config(CONFIGS / "thin_venue.toml"))
    return sim, sim.run()


def test_flash_crash_cascade_earns_and_draws(flash_crash: tuple[Simulation, dict]) -> None:
    sim, s = flash_crash
    assert s["complete"] and all(s["invariants"].values()), s["invariants"]
    assert s["liquidations"] >= 5
    # the fund both earned (fills above bankruptcy) and paid (fills below, within tolerance)
    assert s["fund_contributions"] > 0 and s["fund_draws"] > 0
    assert s["insurance_fund"]["start"] == 2000.0 and s["insurance_fund"]["min"] >= 0
    # every liquidation happened in or after the crash (index flat before 600 s)
    times = [t for t, e in sim.recorder.log if e[0] == LIQUIDATION]
    assert min(times) >= 600e9


def test_thin_venue_deleverages(thin_venue: tuple[Simulation, dict]) -> None:
    sim, s = thin_venue
    assert s["complete"] and all(s["invariants"].values()), s["invariants"]
    assert s["liquidations"] > 0 and s["adl_events"] > 0
    assert s["fund_draws"] == 0  # tolerance 0: the fund never sells below bankruptcy
    # ADL only hits positions opposite to what the fund took over, and only winners first
    for _, e in sim.recorder.log:
        if e[0] == ADL:
            assert e[5] >= 0  # the deleveraged side realizes a profit at the bankruptcy price
