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


def test_a_slower_liquidator_costs_the_fund_more() -> None:
    """Slippage comes from the concurrency: in a sharp crash (30 s, no recovery), a
    liquidator with 300 ms of latency and one request per 600 ms loses the fund more,
    on average over seeds, than one with 5 ms and 20 ms (net of its income)."""
    import attrs

    base = load_config(CONFIGS / "flash_crash.toml")
    base = attrs.evolve(
        base, run=attrs.evolve(base.run, duration=900.0),
        scenario=attrs.evolve(base.scenario, fall_s=30.0, recovery=0.0),
        liquidation=attrs.evolve(base.liquidation, fund_initial=100_000.0, tolerance=0.1))

    def mean_net_draw(latency_ms: float, interval_ms: float) -> float:
        cfg = attrs.evolve(base, liquidation=attrs.evolve(
            base.liquidation, latency_ms=latency_ms, interval_ms=interval_ms))
        runs = [Simulation(cfg, seed=seed).run() for seed in (1, 2, 3)]
        assert all(r["complete"] and all(r["invariants"].values()) for r in runs)
        return sum(r["fund_drawn"] - r["fund_contributions"] for r in runs) / len(runs)

    assert mean_net_draw(300.0, 600.0) > mean_net_draw(5.0, 20.0)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_validates(path: Path) -> None:
    cfg = load_config(path)
    Simulation(cfg)  # agent classes load, accounts fund, the scenario builds


def test_march_2020_follows_the_documented_prices() -> None:
    import attrs

    cfg = load_config(CONFIGS / "march_2020.toml")
    path = Simulation(cfg).oracle.paths[0]
    assert path.at(0) == 7353 and path.at(57_600 * 10**9) == 3978
    # the first simulated hour runs clean (the whole day is for the CLI)
    short = attrs.evolve(cfg, run=attrs.evolve(cfg.run, duration=3600.0))
    summary = Simulation(short).run()
    assert summary["complete"] and all(summary["invariants"].values())


def test_socialized_loss_claws_back_instead_of_deleveraging() -> None:
    sim = Simulation(load_config(CONFIGS / "socialized_loss.toml"))
    s = sim.run()
    assert s["complete"] and all(s["invariants"].values()), s["invariants"]
    assert s["liquidations"] > 0 and s["socialized_loss"] > 0 and s["adl_events"] == 0
    assert s["invariants"]["flat_accounts_never_pay"]


@pytest.mark.parametrize(("steps", "message"), [
    (["adl"], "starts with 'insurance_fund'"),
    (["insurance_fund", "adl", "clawback"], "is not a waterfall"),
    (["insurance_fnd", "adl"], "unknown step 'insurance_fnd'; did you mean 'insurance_fund'"),
])
def test_invalid_waterfalls_are_config_errors(steps: list[str], message: str) -> None:
    from exsim.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=message):
        parse_config({"liquidation": {"steps": steps}})


def test_jelly_the_vault_absorbs_and_adl_never_fires() -> None:
    from exsim.core.liquidation import VAULT
    from exsim.sim import FIRST_AGENT

    sim = Simulation(load_config(CONFIGS / "jelly.toml"))
    s = sim.run()
    assert s["complete"] and all(s["invariants"].values()), s["invariants"]
    whale = FIRST_AGENT + 6 + 30  # after the makers and the noise traders
    takeovers = [e for _, e in sim.recorder.log if e[0] == LIQUIDATION]
    assert any(e[2] == whale and e[7] == VAULT for e in takeovers)
    assert all(e[7] == VAULT for e in takeovers) and s["vault"]["takeovers"] == len(takeovers)
    assert s["adl_events"] == 0 and s["insurance_fund"]["min"] == s["insurance_fund"]["start"]
    vault_loss = 10_000_000 - s["vault"]["equity_end"]
    assert vault_loss > s["insurance_fund"]["start"]  # more than the fund could have paid
