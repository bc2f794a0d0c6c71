"""The shipped waterfall configs tell the stories their comments promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from exsim.config import load_config
from exsim.core.events import ACCEPTED, ADL, LIQUIDATION
from exsim.core.liquidation import LIQUIDATION_ORDER
from exsim.core.orders import SELL
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
    # tolerance 0: every liquidation order asks for its takeover price or better
    at = None
    for _, e in sim.recorder.log:
        if e[0] == LIQUIDATION:
            at = e[4]
        elif e[0] == ACCEPTED and e[2] & LIQUIDATION_ORDER:
            assert at is not None and (e[5] >= at if e[4] == SELL else e[5] <= at), e
    # ADL only hits positions opposite to what the fund took over, and only winners first
    for _, e in sim.recorder.log:
        if e[0] == ADL:
            assert e[5] >= 0  # the deleveraged side realizes a profit at the bankruptcy price


def test_a_slower_liquidator_reaches_accounts_beyond_bankruptcy() -> None:
    """The concurrency binds: in a sharp crash (30 s, no recovery), a liquidator with
    300 ms of latency and one request per 600 ms reaches more accounts already beyond
    their bankruptcy price, and further beyond it (the gap the fund absorbs), over three
    seeds, than one with 5 ms and 20 ms.  (What the fund then loses also depends on how
    fast it works out into a book the makers have thinned: a fast liquidator dumps
    sooner, so the net draw is not ordered the same way in every seed.)"""
    import attrs

    base = load_config(CONFIGS / "flash_crash.toml")
    base = attrs.evolve(
        base, run=attrs.evolve(base.run, duration=900.0),
        scenario=attrs.evolve(base.scenario, fall_s=30.0, recovery=0.0),
        liquidation=attrs.evolve(base.liquidation, fund_initial=100_000.0, tolerance=0.1))

    def beyond_bankruptcy(latency_ms: float, interval_ms: float) -> tuple[int, int]:
        cfg = attrs.evolve(base, liquidation=attrs.evolve(
            base.liquidation, latency_ms=latency_ms, interval_ms=interval_ms))
        count = gap = 0
        for seed in (1, 2, 3):
            sim = Simulation(cfg, seed=seed)
            r = sim.run()
            assert r["complete"] and all(r["invariants"].values())
            for _, e in sim.recorder.log:  # (LIQUIDATION, sym, acct, qty, price, mark, ...)
                if e[0] == LIQUIDATION and (e[5] <= e[4] if e[3] > 0 else e[5] >= e[4]):
                    count += 1
                    gap += abs(e[5] - e[4]) * abs(e[3])
        return count, gap

    slow, fast = beyond_bankruptcy(300.0, 600.0), beyond_bankruptcy(5.0, 20.0)
    assert slow[0] > fast[0] and slow[1] > 2 * fast[1]


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_validates(path: Path) -> None:
    cfg = load_config(path)
    Simulation(cfg)  # agent classes load, accounts fund, the scenario builds


def test_march_2020_follows_the_documented_prices() -> None:
    import attrs

    cfg = load_config(CONFIGS / "march_2020.toml")
    path = Simulation(cfg).paths[0]
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


def _crash_with(liquidation: dict) -> dict:
    """Ten minutes, a 5% fall at 120 s: deep makers, 30 leveraged longs at 10-40x (the
    most leveraged are under maintenance after a 2% fall)."""
    return {
        "run": {"seed": 3, "duration": 600.0},
        "scenario": {"kind": "flash_crash", "start_price": 30000.0, "crash_at_s": 120.0,
                     "drop": 0.05, "fall_s": 60.0, "recovery": 0.3, "recover_s": 300.0},
        "liquidation": {"fund_initial": 5000.0, "interval_ms": 50.0, **liquidation},
        "agents": [
            {"class": "market_maker", "count": 4, "deposit": 2_000_000.0, "leverage": 5,
             "params": {"quote_lots": 3000, "half_spread_bps": 3.0, "pull_move_bps": 30.0,
                        "widen": 5.0, "max_inventory_lots": 20000,
                        "skew_bps_per_lot": 0.002}},
            {"class": "noise", "count": 10, "deposit": 20_000.0},
            {"class": "leveraged", "count": 30, "deposit": 5000.0,
             "params": {"leverage_min": 10, "leverage_max": 40, "p_long": 0.9,
                        "wait_mean_s": 30, "hold_mean_s": 3600}},
        ],
    }


def _partial_steps(log: list) -> tuple[int, set[int]]:
    """Liquidation steps that left the account a position, and the accounts still holding
    one at the end after at least one liquidation (positions rebuilt from the log)."""
    from exsim.core.events import FILL

    held: dict[int, int] = {}
    partial = 0
    liquidated: set[int] = set()
    for _, e in log:
        if e[0] == FILL:
            dq = e[3] if e[6] == 0 else -e[3]
            held[e[5]] = held.get(e[5], 0) + dq
            held[e[8]] = held.get(e[8], 0) - dq
        elif e[0] in (LIQUIDATION, ADL):
            held[e[2]] = held.get(e[2], 0) - e[3]
            if e[0] == LIQUIDATION:
                liquidated.add(e[2])
                partial += held[e[2]] != 0
    return partial, {a for a in liquidated if held[a]}


@pytest.mark.parametrize("liquidation", [
    {"mode": "tiers", "fee_policy": "capped", "fee_cap": 0.001},
    {"mode": "fraction", "max_fraction": 0.25, "min_step_notional": 1000.0,
     "fee_policy": "none"},
], ids=["tiers-capped", "fraction-none"])
def test_partial_liquidation_runs(liquidation: dict) -> None:
    """Liquidation steps that leave a position happen, and every invariant holds.

    Tiers: accounts in Binance's second bracket step down to the first (0.5% -> 0.4%),
    which the fall usually takes whole at the next step.  Fraction with no fee: each
    step leaves the trader its margin, so some are healthy again after a few steps and
    still hold a position at the end."""
    from exsim.config import parse_config
    from exsim.core.events import FUND as FUND_EVENT
    from exsim.core.liquidation import FUND

    sim = Simulation(parse_config(_crash_with(liquidation)))
    s = sim.run()
    assert s["complete"] and all(s["invariants"].values()), s["invariants"]
    assert s["liquidations"] > 0
    partial, survivors = _partial_steps(sim.recorder.log)
    assert partial > 0
    if liquidation["mode"] == "fraction":
        assert survivors  # some traders keep part of their position
    fees = [e for _, e in sim.recorder.log if e[0] == FUND_EVENT and e[2] != FUND]
    if liquidation["fee_policy"] == "capped":
        assert fees and all(e[3] > 0 for e in fees)  # every solvent step paid its fee
    else:
        assert not any(e[3] > 0 for e in fees)  # no fee: the fund only ever pays bad debt


@pytest.mark.parametrize(("liquidation", "message"), [
    ({"mode": "fractoin"}, "not one of full, tiers, fraction; did you mean 'fraction'"),
    ({"fee_policy": "cap"}, "not one of all_to_fund, capped, none"),
    ({"mode": "fraction", "max_fraction": 0.0}, "max_fraction: must be > 0"),
    ({"mode": "fraction", "max_fraction": 1.5}, "max_fraction: must be between 0 and 1"),
    ({"mode": "fraction", "max_fraction": 0.1234567}, "parts per million"),
    ({"max_fraction": 0.5}, "max_fraction: only used with mode = 'fraction'"),
    ({"mode": "tiers", "min_step_notional": 10.0}, "only used with mode = 'fraction'"),
    ({"fee_cap": 0.01}, "fee_cap: only used with fee_policy = 'capped'"),
    ({"fee_policy": "capped", "fee_cap": 0.0}, "fee_cap: must be > 0"),
    ({"mode": "fraction", "min_step_notional": 5000.0, "max_step_notional": 1000.0},
     "exceeds max_step_notional"),
    ({"mode": "fraction", "min_step_notional": 1e-9}, "min_step_notional"),
])
def test_invalid_partial_liquidation_settings_are_config_errors(liquidation: dict,
                                                                 message: str) -> None:
    from exsim.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=message):
        parse_config({"liquidation": liquidation})


def test_liquidation_settings_become_the_cores_integer_rules() -> None:
    from exsim.config import parse_config
    from exsim.core.liquidation import LiquidationRules

    default = parse_config({})
    assert default.liquidation.rules(default.symbols[0].spec().contract) == LiquidationRules(
        vault_haircut=100_000)  # the config's default keeps a 10% buffer in the vault
    cfg = parse_config({"liquidation": {"mode": "fraction", "max_fraction": 0.1,
                                        "min_step_notional": 1000.0,
                                        "max_step_notional": 100000.0,
                                        "fee_policy": "capped", "fee_cap": 0.015}})
    assert Simulation(cfg).core.liquidation_rules == LiquidationRules(
        mode="fraction", max_fraction=100_000, min_step=1000 * 10**8, max_step=100_000 * 10**8,
        fee_policy="capped", fee_cap=15_000, vault_haircut=100_000)
