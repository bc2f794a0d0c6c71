"""Real crash paths from one-minute candles: every minute's open, high, low and close are
hit exactly and never exceeded; the shipped files are intact; bad files are one clear line."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exsim.config import ConfigError, parse_config
from exsim.scenarios.candles import (
    DATA_DIR,
    Candle,
    CandleError,
    candle_path,
    read_candles,
    shipped,
)
from exsim.scenarios.paths import make_path

T0 = datetime(2020, 3, 12, tzinfo=UTC)


@st.composite
def candles(draw: st.DrawFn) -> list[Candle]:
    n = draw(st.integers(1, 6))
    out = []
    price = draw(st.floats(100, 100_000))
    for i in range(n):
        o = price
        c = o * draw(st.floats(0.9, 1.1))
        hi = max(o, c) * draw(st.floats(1.0, 1.05))
        lo = min(o, c) * draw(st.floats(0.95, 1.0))
        out.append(Candle(T0 + timedelta(minutes=i), o, hi, lo, c))
        price = c
    return out


@settings(max_examples=60, deadline=None)
@given(candles(), st.sampled_from([1, 2, 5, 10, 15]), st.integers(0, 10**6))
def test_each_minute_opens_touches_its_range_and_closes(rows: list[Candle], step: int,
                                                        seed: int) -> None:
    path = candle_path(rows, step, random.Random(seed))
    per = 60 // step
    assert len(path.prices) == per * len(rows)
    assert path.times_ns == [i * step * 10**9 for i in range(per * len(rows))]
    for m, c in enumerate(rows):
        minute = path.prices[m * per:(m + 1) * per]
        assert minute[0] == c.open and minute[-1] == c.close
        assert min(minute) >= c.low and max(minute) <= c.high
        if per >= 4:  # room for both extremes between the open and the close
            assert min(minute) == c.low and max(minute) == c.high


def test_the_path_depends_on_the_seed_only() -> None:
    rows = read_candles(DATA_DIR / "btc_1m_2025-10-10.csv")[:30]
    a, b, c = (candle_path(rows, 1, random.Random(s)) for s in (1, 1, 2))
    assert a.prices == b.prices and a.prices != c.prices


def test_shipped_files_hold_what_their_readme_says() -> None:
    """Row counts and the documented extremes (exsim/data/README.md, from Binance)."""
    expected = {  # file: (rows, lowest low, its minute)
        "btc_1m_2020-03-12_13.csv": (2161, 3621.81, "2020-03-13T02:16"),
        "btc_1m_2021-05-19.csv": (1081, 28688.00, "2021-05-19T13:10"),
        "btc_1m_2022-11-08.csv": (466, 16830.00, "2022-11-08T19:32"),
        "btc_1m_2025-10-10.csv": (241, 101516.50, "2025-10-10T21:20"),
    }
    assert shipped() == sorted(expected)
    for name, (count, low, when) in expected.items():
        rows = read_candles(DATA_DIR / name)
        assert len(rows) == count
        lowest = min(rows, key=lambda r: r.low)
        assert (lowest.low, f"{lowest.start:%Y-%m-%dT%H:%M}") == (low, when)


def test_scenario_window_and_rescale() -> None:
    base = {"run": {"duration": 600.0},
            "scenario": {"kind": "candles", "candles": "btc_1m_2025-10-10.csv",
                         "candles_start": "2025-10-10T20:50:00Z"}}
    config = parse_config(base)
    path = make_path(config.scenario, 600.0, seed=3)
    rows = read_candles(Path(config.scenario.candles))
    first = next(i for i, r in enumerate(rows) if f"{r.start:%H:%M}" == "20:50")
    assert path.prices[0] == rows[first].open
    assert path.prices[-1] == rows[first + 9].close
    base["scenario"] |= {"rescale": True, "start_price": 30000.0}
    scaled = make_path(parse_config(base).scenario, 600.0, seed=3)
    ratio = 30000.0 / rows[first].open
    assert scaled.prices == pytest.approx([p * ratio for p in path.prices])


def _write(tmp: Path, rows: list[str]) -> Path:
    f = tmp / "c.csv"
    f.write_text("time_utc,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return f


@pytest.mark.parametrize(("rows", "message"), [
    (["2020-03-12T00:00:00Z,10,11,9,10,1", "2020-03-12T00:02:00Z,10,11,9,10,1"],
     ":3: a gap of 120 s"),
    (["2020-03-12T00:01:00Z,10,11,9,10,1", "2020-03-12T00:00:00Z,10,11,9,10,1"],
     ":3: times must increase"),
    (["2020-03-12T00:00:00Z,10,11,0,10,1"], ":2: prices must be finite and > 0"),
    (["2020-03-12T00:00:00Z,10,11,10.5,10,1"], ":2: need low <= open, close <= high"),
    (["12/03/2020,10,11,9,10,1"], ":2: time '12/03/2020' is not ISO-8601"),
    ([], ": no candles"),
])
def test_bad_candle_files_name_the_row(tmp_path: Path, rows: list[str], message: str) -> None:
    with pytest.raises(CandleError, match=message):
        read_candles(_write(tmp_path, rows))


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    def error(scenario: dict[str, object], duration: float = 60.0) -> str:
        cfg = tmp_path / "x.toml"
        cfg.write_text("")
        with pytest.raises(ConfigError) as info:
            parse_config({"run": {"duration": duration},
                          "scenario": {"kind": "candles", **scenario}}, str(cfg))
        return str(info.value)

    assert "scenario.candles: a candles scenario needs a file" in error({})
    assert "scenario.candles: no such file" in error({"candles": "nope.csv"})
    assert "scenario.step_s" in error({"candles": "btc_1m_2025-10-10.csv", "step_s": 7.0})
    assert "scenario.candles: " in error({"candles": "btc_1m_2025-10-10.csv",
                                          "candles_start": "2025-10-11T00:00:00Z"})
    assert "run.duration: 20000 s is longer" in error(
        {"candles": "btc_1m_2025-10-10.csv"}, duration=20000.0)
    _write(tmp_path, ["2020-03-12T00:00:00Z,10,11,9,10,1", "2020-03-12T00:05:00Z,10,11,9,10,1"])
    assert "c.csv:3: a gap of 300 s" in error({"candles": "c.csv"})
