"""Index paths: shapes by hand, randomness from the seed only, CSV replay and its errors."""

from __future__ import annotations

import math
from pathlib import Path

import attrs
import pytest

from exsim.config import ConfigError, ScenarioConfig, parse_config
from exsim.scenarios.index_path import IndexPath
from exsim.scenarios.paths import csv_path, make_path

S = 1_000_000_000


def test_flash_crash_shape_by_hand() -> None:
    """30,000 flat to 100 s, -20% by 400 s (24,000), half recovered by 1,300 s (27,000)."""
    cfg = ScenarioConfig(kind="flash_crash", start_price=30000, crash_at_s=100, drop=0.2,
                         fall_s=300, recovery=0.5, recover_s=900)
    path = make_path(cfg, 2000, seed=1)
    assert path.at(0) == path.at(100 * S) == 30000
    assert path.at(250 * S) == pytest.approx(27000)
    assert path.at(400 * S) == pytest.approx(24000)
    assert path.at(1300 * S) == path.at(2000 * S) == pytest.approx(27000)


def test_gbm_depends_only_on_the_seed_and_has_its_volatility() -> None:
    cfg = ScenarioConfig(kind="gbm", start_price=100, volatility=0.8, step_s=60)
    year = 365.25 * 86400
    a, b, c = (make_path(cfg, 30 * 86400, seed=s) for s in (1, 1, 2))
    assert a.prices == b.prices and a.prices != c.prices
    logs = [math.log(y / x) for x, y in zip(a.prices, a.prices[1:], strict=False)]
    mean = sum(logs) / len(logs)
    var = sum((r - mean) ** 2 for r in logs) / (len(logs) - 1)
    assert math.sqrt(var * year / 60) == pytest.approx(0.8, rel=0.05)


def test_merton_adds_jumps() -> None:
    base = ScenarioConfig(kind="merton", start_price=100, volatility=0.2, step_s=60,
                          jump_rate=2000, jump_mean=-0.05, jump_std=0.01)
    path = make_path(base, 30 * 86400, seed=3)
    logs = [math.log(y / x) for x, y in zip(path.prices, path.prices[1:], strict=False)]
    jumps = [r for r in logs if r < -0.03]  # diffusion alone moves ~0.0022 per minute
    expected = 2000 * 30 / 365.25
    assert 0.6 * expected < len(jumps) < 1.4 * expected
    no_jumps = make_path(attrs.evolve(base, jump_rate=0), 30 * 86400, seed=3)
    assert min(math.log(y / x) for x, y in zip(no_jumps.prices, no_jumps.prices[1:],
                                               strict=False)) > -0.03


def test_csv_replay_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "px.csv"
    good.write_text("timestamp,price\n1000,100\n1010,110\n1030,90\n")
    path = csv_path(str(good))
    assert path.times_ns == [0, 10 * S, 30 * S]
    assert path.at(5 * S) == pytest.approx(105) and path.at(99 * S) == 90
    bad = tmp_path / "bad.csv"
    bad.write_text("0,100\n5,abc\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2: expected 'timestamp,price'"):
        csv_path(str(bad))
    bad.write_text("0,100\n0,101\n")
    with pytest.raises(ValueError, match="timestamps must increase"):
        csv_path(str(bad))
    bad.write_text("0,-1\n")
    with pytest.raises(ValueError, match="price > 0"):
        csv_path(str(bad))
    # from a config: relative to the config file, and a clear error when missing
    cfg = parse_config({"scenario": {"kind": "csv", "csv": "px.csv"}}, str(tmp_path / "c.toml"))
    assert cfg.scenario.csv == str(good)
    with pytest.raises(ConfigError, match=r"scenario\.csv: no such file"):
        parse_config({"scenario": {"kind": "csv", "csv": "nope.csv"}}, str(tmp_path / "c.toml"))


def test_index_path_refuses_bad_points() -> None:
    with pytest.raises(ValueError):
        IndexPath([5], [1.0])
    with pytest.raises(ValueError):
        IndexPath([0, 1], [1.0, 0.0])
