"""What used to grow with simulated time no longer does (issue 16, item 13): the market feed
keeps only the snapshots a reader can still see, and agents that never read their own
events drain them."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings
from test_sim import small

import exsim.actors.feed as feed_module
from exsim.actors.feed import MarketFeed, Snapshot
from exsim.config import parse_config
from exsim.sim import Simulation


def _snap(at: int) -> Snapshot:
    return Snapshot(at, 0, at, at + 1, [], [], None, None, None)


@settings(max_examples=100, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 30), st.booleans()), max_size=300),
       latency=st.integers(1, 40), keep=st.integers(1, 8))
def test_a_pruned_feed_reads_as_one_that_keeps_everything(
        steps: list[tuple[int, bool]], latency: int, keep: int) -> None:
    """Time moves forward; at each instant a snapshot may be published, then read: the
    pruned feed answers exactly as a list of every snapshot would."""
    old = feed_module._PRUNE_AT
    feed_module._PRUNE_AT = keep
    try:
        feed = MarketFeed(1, latency)
        everything: list[Snapshot] = []
        now = 0
        for dt, publish in steps:
            now += dt
            if publish:
                snap = _snap(now)
                if everything and everything[-1].at == now:
                    everything[-1] = snap
                else:
                    everything.append(snap)
                feed.publish(snap)
                # kept: at most ``keep``, or the one visible now and those not yet visible
                waiting = sum(1 for s in everything if s.at > now - latency)
                assert len(feed._snaps[0]) <= max(keep, waiting + 1)
            visible = [s for s in everything if s.at <= now - latency]
            assert feed.read(0, now) is (visible[-1] if visible else None)
    finally:
        feed_module._PRUNE_AT = old


def test_a_run_keeps_a_bounded_feed_and_few_own_events(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setattr(feed_module, "_PRUNE_AT", 50)
    published = [0]
    real = MarketFeed.publish

    def publish(self: MarketFeed, snap: Snapshot) -> None:
        published[0] += 1
        real(self, snap)

    monkeypatch.setattr(MarketFeed, "publish", publish)
    cfg = parse_config(small(300.0, agents=[
        {"class": "market_maker", "count": 2, "deposit": 1_000_000.0},
        {"class": "noise", "count": 5},
        {"class": "leveraged", "count": 5, "params": {"wait_mean_s": 5.0, "hold_mean_s": 5.0}},
        {"class": "arbitrageur", "deposit": 100_000.0}]))
    sim = Simulation(cfg)
    summary = sim.run()
    assert published[0] > 500 and len(sim.feed._snaps[0]) <= 50
    assert summary["complete"] and all(summary["invariants"].values())
    for name, _, ctx in sim.agents:
        assert len(ctx.events) < 200, name  # read or drained, not piled up
