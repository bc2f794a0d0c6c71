"""Build a run's spot venues and its index source from the config.

Each ``[[spot]]`` entry is a :class:`~exsim.core.spot.SpotCore` behind its own
:class:`~exsim.actors.exchange.ExchangeActor` (the same single-server queue, the same
publishing to owners, the recorder and the feed as the perpetual's exchange; no
liquidator, no marks, no funding), on its own actor id.  The index is the scenario's
path (``[oracle] index = "scripted"``) or a :class:`~exsim.actors.index.SpotIndex`
over the venues (``"spot"``).
"""

from __future__ import annotations

from collections.abc import Sequence

from exsim.actors.exchange import ExchangeActor
from exsim.actors.feed import MarketFeed
from exsim.actors.index import Index, ScriptedIndex, SpotIndex
from exsim.actors.network import Network
from exsim.actors.recorder import Recorder
from exsim.config import Config
from exsim.core.spot import SpotCore
from exsim.core.units import LinearContract, rate_ppm
from exsim.scenarios.index_path import IndexPath
from exsim.timeunits import ns
from exsim.venues import Venues

FIRST_SPOT = 10
"""Actor id of the first spot venue (then 11, 12, ...; agents start at 100)."""


def build_spot_venues(config: Config, venues: Venues, net: Network, recorder: Recorder,
                      feed: MarketFeed, contracts: Sequence[LinearContract]
                      ) -> list[tuple[SpotCore, ExchangeActor]]:
    """One core and actor per ``[[spot]]`` entry, on actor ids from :data:`FIRST_SPOT`."""
    actors = []
    ex = config.exchange
    for i, spot in enumerate(config.spot):
        sym = venues.perps + i
        core = SpotCore(sym, spot.name, contracts[sym],
                        maker_fee=rate_ppm(spot.maker_fee, "maker_fee"),
                        taker_fee=rate_ppm(spot.taker_fee, "taker_fee"),
                        market_band=rate_ppm(spot.market_band, "market_band"))
        actors.append((core, ExchangeActor(
            core, net, FIRST_SPOT + i, service_ns=ns(spot.service_us / 1_000_000),
            recorder=recorder, feed=feed,
            feed_interval_ns=max(1, ns(ex.feed_interval_ms / 1000)))))
    return actors


def index_source(config: Config, venues: Venues, feed: MarketFeed, paths: list[IndexPath],
                 contracts: Sequence[LinearContract]) -> Index:
    """The run's index: the scripted paths, or the spot venues' prices."""
    oc = config.oracle
    if oc.index == "scripted":
        return ScriptedIndex(paths)
    return SpotIndex(feed, venues.constituents, [float(c.tick_size) for c in contracts],
                     paths, latency_ns=ns(oc.index_latency_ms / 1000),
                     stale_ns=max(1, ns(oc.index_stale_s)), outlier=oc.index_outlier)
