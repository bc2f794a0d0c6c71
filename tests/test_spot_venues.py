"""Spot venues in a run: the index they make, the config that wires them, and runs that
keep every account's cash and coin."""

from __future__ import annotations

from typing import Any

import pytest

from exsim.actors.feed import MarketFeed, Snapshot
from exsim.actors.index import SpotIndex
from exsim.config import ConfigError, parse_config
from exsim.core.events import FILL, MARK
from exsim.scenarios.index_path import IndexPath
from exsim.sim import Simulation

S = 10**9


def snap(at: int, sym: int, bid: int | None, ask: int | None, last: int | None = None
         ) -> Snapshot:
    return Snapshot(at, sym, bid, ask, [], [], last, None, None)


def test_the_spot_index_by_hand() -> None:
    """Three venues (symbols 1-3) of perpetual 0, tick 0.5: mids of 200, 204 and 260 ticks
    are 100, 102 and 130 (the last more than 5% from the median, 102: left out), weights
    1, 3, 1: (100 x 1 + 102 x 3) / 4 = 101.5; the oracle reads them 2 s late; a venue
    silent for 10 s is stale."""
    feed = MarketFeed(4, 1, lookback_ns=2 * S)
    feed.publish(snap(0, 1, 199, 201))
    feed.publish(snap(0, 2, 203, 205))
    feed.publish(snap(0, 3, 259, 261))
    fundamental = [IndexPath([0], [40.0])]
    index = SpotIndex(feed, [[(1, 1.0), (2, 3.0), (3, 1.0)]], [0.5] * 4, fundamental,
                      latency_ns=2 * S, stale_ns=10 * S, outlier=0.05)
    assert index.at(0, 1 * S) == 40.0  # nothing seen yet (2 s late): the fundamental
    assert index.at(0, 3 * S) == pytest.approx(101.5)
    feed.publish(snap(5 * S, 2, None, None, last=209))  # an empty book: its last trade
    assert index.at(0, 8 * S) == pytest.approx((100 * 1 + 104.5 * 3) / 4)
    # at 14 s (seen: 12 s) venues 1 and 3 are 12 s old: stale; venue 2 alone
    assert index.at(0, 14 * S) == pytest.approx(104.5)
    with pytest.raises(ValueError, match="weights > 0"):
        SpotIndex(feed, [[(1, 0.0)]], [0.5] * 4, fundamental)


def venue(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "run": {"duration": 120.0, "seed": 4},
        "scenario": {"kind": "gbm", "volatility": 0.8},
        "oracle": {"index": "spot"},
        "spot": [{"name": "SPOT_A"}, {"name": "SPOT_B", "weight": 2.0}],
        "agents": [
            {"class": "market_maker", "deposit": 1_000_000.0, "leverage": 5},
            {"class": "market_maker", "venue": "SPOT_A", "deposit": 1_000_000.0, "coin": 30.0},
            {"class": "market_maker", "venue": "SPOT_B", "deposit": 1_000_000.0, "coin": 30.0},
            {"class": "informed", "count": 4, "venue": "SPOT_A", "deposit": 200_000.0,
             "coin": 5.0},
            {"class": "informed", "count": 4, "venue": "SPOT_B", "deposit": 200_000.0,
             "coin": 5.0},
            {"class": "noise", "count": 5, "deposit": 20_000.0},
            {"class": "arbitrageur", "deposit": 300_000.0, "hedge_venue": "SPOT_A",
             "hedge_cash": 300_000.0, "hedge_coin": 10.0},
        ],
    }
    doc.update(extra)
    return doc


def test_a_run_with_spot_venues_conserves_both_and_is_reproducible() -> None:
    runs = [Simulation(parse_config(venue())) for _ in range(2)]
    summaries = [r.run() for r in runs]
    for s in summaries:
        assert s["complete"] and all(s["invariants"].values()), s["invariants"]
        assert {"spot_cash_conserved", "spot_coin_conserved", "spot_never_short"} <= set(
            s["invariants"])
    assert summaries[0]["digest"] == summaries[1]["digest"]
    log = runs[0].recorder.log
    spot_fills = {e[1] for _, e in log if e[0] == FILL and e[1] >= 1}
    assert spot_fills == {1, 2}  # both venues traded
    index = [e[3] for _, e in log if e[0] == MARK]
    assert index and all(i > 0 for i in index)


@pytest.mark.parametrize(("change", "message"), [
    ({"spot": [{"name": "BTCUSDT"}]}, "spot[0].name: 'BTCUSDT' is already the name"),
    ({"spot": [{"name": "A", "symbol": "ETHUSDT"}]}, "spot[0].symbol: 'ETHUSDT' is not"),
    ({"spot": [{"name": "A", "weight": 0.0}]}, "spot[0].weight: must be > 0"),
    ({"spot": []}, "oracle.index: 'spot' needs a [[spot]] venue for BTCUSDT"),
    ({"spot": [{"name": "SPOT_A"}, {"name": "SPOT_B"}, {"name": "SPOT_C"}]},
     "spot[2]: SPOT_C has no market maker"),
])
def test_bad_venues_are_one_line_naming_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(venue(**change))


@pytest.mark.parametrize(("agent", "message"), [
    ({"venue": "NOWHERE"}, "agents[7].venue: 'NOWHERE' is not a symbol or spot venue"),
    ({"coin": 1.0}, "agents[7].coin: BTCUSDT is a perpetual"),
    ({"hedge_venue": "BTCUSDT"}, "agents[7].hedge_venue: 'BTCUSDT' is not a [[spot]] venue"),
    ({"hedge_cash": 5.0}, "agents[7].hedge_cash: only with a hedge_venue"),
])
def test_bad_agent_venues_name_the_key(agent: dict[str, Any], message: str) -> None:
    doc = venue()
    doc["agents"].append({"class": "noise", **agent})
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(doc)
