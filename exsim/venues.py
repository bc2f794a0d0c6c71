"""The run's venues by name: perpetuals first, then spot venues, one symbol index each.

A config names where things trade by name (``[[symbols]] name``, ``[[spot]] name``);
the core, the feed and the agents' contexts use one integer index per venue:
``0 .. P-1`` for the perpetuals, ``P .. P+S-1`` for the spot venues, in config order.
:func:`venues_of` builds that map once and checks everything that spans the
``[[symbols]]``, ``[[spot]]``, ``[oracle]`` and ``[[agents]]`` tables, so a config
that cannot run is refused with one line naming the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from exsim.config import Config


class VenueError(ValueError):
    """A venue setting that cannot run: ``key`` is the config path, the message says why."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@attrs.frozen
class Venues:
    names: tuple[str, ...]  # every venue, perpetuals first
    perps: int  # how many of them are perpetuals
    perp_of: tuple[int, ...]  # each venue's perpetual (a perpetual's is itself)
    constituents: tuple[tuple[tuple[int, float], ...], ...]  # per perpetual: (spot, weight)
    home: tuple[int, ...]  # per [[agents]] entry: the venue it trades
    hedge: tuple[int | None, ...]  # per [[agents]] entry: its spot hedge venue, if any

    def is_spot(self, sym: int) -> bool:
        return sym >= self.perps


def venues_of(config: Config) -> Venues:
    """The venues of ``config``, checked; :class:`VenueError` naming the key if not."""
    perps = [s.name for s in config.symbols]
    names = list(perps)
    perp_of = list(range(len(perps)))
    constituents: list[list[tuple[int, float]]] = [[] for _ in perps]
    for i, venue in enumerate(config.spot):
        where = f"spot[{i}]"
        if not venue.name:
            raise VenueError(f"{where}.name", "a spot venue needs a name")
        if venue.name in names:
            raise VenueError(f"{where}.name", f"{venue.name!r} is already the name of a "
                             "symbol or spot venue")
        target = venue.symbol or perps[0]
        if target not in perps:
            raise VenueError(f"{where}.symbol", f"{target!r} is not a [[symbols]] name "
                             f"(one of {', '.join(perps)})")
        if not venue.weight > 0:
            raise VenueError(f"{where}.weight", f"must be > 0, got {venue.weight!r}")
        sym = len(names)
        names.append(venue.name)
        perp = perps.index(target)
        perp_of.append(perp)
        constituents[perp].append((sym, venue.weight))
    if config.oracle.index == "spot":
        for p, name in enumerate(perps):
            if not constituents[p]:
                raise VenueError("oracle.index", f"'spot' needs a [[spot]] venue for {name} "
                                 "(spot.symbol)")
    home: list[int] = []
    hedge: list[int | None] = []
    for i, a in enumerate(config.agents):
        where = f"agents[{i}]"
        place = a.venue or perps[0]
        if place not in names:
            raise VenueError(f"{where}.venue", f"{place!r} is not a symbol or spot venue "
                             f"(one of {', '.join(names)})")
        sym = names.index(place)
        if sym < len(perps) and a.coin:
            raise VenueError(f"{where}.coin", f"{place} is a perpetual: coin is held at a "
                             "spot venue")
        home.append(sym)
        if a.hedge_venue:
            h = names.index(a.hedge_venue) if a.hedge_venue in names else -1
            if h < len(perps):
                raise VenueError(f"{where}.hedge_venue", f"{a.hedge_venue!r} is not a "
                                 "[[spot]] venue")
            if h == sym:
                raise VenueError(f"{where}.hedge_venue", "is the agent's own venue")
            hedge.append(h)
        else:
            for key in ("hedge_cash", "hedge_coin"):
                if getattr(a, key):
                    raise VenueError(f"{where}.{key}", "only with a hedge_venue")
            hedge.append(None)
    for i, venue in enumerate(config.spot):
        sym = len(perps) + i
        if not any(h == sym and a.cls == "market_maker"
                   for h, a in zip(home, config.agents, strict=True)):
            raise VenueError(f"spot[{i}]", f"{venue.name} has no market maker: add an "
                             f"[[agents]] entry with class = \"market_maker\" and venue = "
                             f"\"{venue.name}\"")
    return Venues(tuple(names), len(perps), tuple(perp_of),
                  tuple(tuple(c) for c in constituents), tuple(home), tuple(hedge))
