"""Random configs, valid and not, through the loader and the simulation's construction.

Whatever a config file says, ``parse_config`` then ``Simulation(...)`` either build, or
raise :class:`ConfigError` (or :class:`AgentLoadError` for a class or its params), the
two errors the command line prints as one line; never another exception (issue 16,
item 15).  Values come from each key's neighbourhood and from the extremes: zero,
negatives, 1e300, inf, NaN, decimals beyond Decimal's range, wrong types.
``EXSIM_FUZZ_EXAMPLES`` raises the number of examples (default 200).
"""

from __future__ import annotations

import contextlib
import os
import typing
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exsim import config
from exsim.config import ConfigError, parse_config
from exsim.sim import AgentLoadError, Simulation

EXAMPLES = int(os.environ.get("EXSIM_FUZZ_EXAMPLES", "200"))

NUMBERS = st.sampled_from([0, 1, -1, 2, 7, 60, 2**31, 2**63, 10**30, 0.0, -0.0, 0.5, 1.0,
                           3.0, 60.0, 1e-9, 1e-300, 1e300, float("inf"), float("-inf"),
                           float("nan")])
STRINGS = st.sampled_from(["", "x", "0", "0.1", "0.001", "-1", "1e300", "1e-999999",
                           "1e999999", "nan", "../x", "BTCUSDT", "ETHUSDT", "gbm", "merton",
                           "flash_crash", "constant", "csv", "fraction", "tiers", "capped",
                           "per_symbol", "isolate", "wall", "uniform", "median3"])
VALUES = st.one_of(NUMBERS, STRINGS, st.booleans(),
                   st.lists(st.one_of(NUMBERS, STRINGS), max_size=3),
                   st.just({}), st.just([[0, "0.004", 12.7]]), st.just([[0, "0.01", 20]]))
CLASSES = st.sampled_from(["noise", "market_maker", "leveraged", "shock", "arbitrageur",
                           "nope", "x:y", "exsim.agents.noise:NoiseTrader", 5])


def _fields(cls: type[Any]) -> dict[str, tuple[attrs.Attribute[Any], Any]]:
    """TOML key -> its attrs field and resolved type, for a config class (which keeps its
    string annotations: exsim.config reads them)."""
    hints = typing.get_type_hints(cls)
    return {("class" if f.name == "cls" else f.name): (f, hints[f.name])
            for f in attrs.fields(cls)}


def _near(path: str, field: attrs.Attribute[Any]) -> st.SearchStrategy[Any]:
    """Values a user would plausibly write for this key: its choices, or its default scaled."""
    if path in config._CHOICES:
        return st.sampled_from(config._CHOICES[path])
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory()
    if isinstance(default, bool) or default is attrs.NOTHING:
        return st.booleans()
    if isinstance(default, int):
        return st.sampled_from([default, default + 1, max(1, default - 1), default * 3])
    if isinstance(default, float):
        return st.sampled_from([default, default * 0.5, default * 2, default * 10])
    if isinstance(default, tuple):
        return st.just([list(row) if isinstance(row, tuple) else row for row in default])
    return st.just(default)


@st.composite
def tables(draw: st.DrawFn, cls: type[Any], path: str) -> dict[str, Any]:
    """A table of some of ``cls``'s keys: mostly plausible values, now and then odd ones
    (and an unknown key)."""
    fields = _fields(cls)
    table: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True)):
        (field, kind), where = fields[key], f"{path}.{key}"
        if isinstance(kind, type) and attrs.has(kind):
            table[key] = draw(tables(kind, where))
        elif key == "class":
            table[key] = draw(CLASSES)
        else:
            odd = draw(st.integers(0, 3)) == 0
            table[key] = draw(VALUES if odd else _near(where, field))
    if draw(st.integers(0, 29)) == 0:
        table["zz_unknown"] = 1
    return table


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for section, cls in config._TOP.items():
        if draw(st.booleans()):
            doc[section] = draw(tables(cls, section))
    if draw(st.booleans()):
        doc["symbols"] = draw(st.lists(tables(config.SymbolConfig, "symbols"), max_size=2))
    doc["agents"] = [{"class": draw(CLASSES), **draw(tables(config.AgentConfig, "agents"))}
                     for _ in range(draw(st.integers(0, 2)))]
    for agent in doc["agents"]:
        if isinstance(agent.get("count"), int) and not isinstance(agent["count"], bool):
            agent["count"] = min(agent["count"], 7)  # building 10**30 agents is not the point
    return doc


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_a_config_builds_or_is_one_clean_error(doc: dict[str, Any]) -> None:
    try:
        cfg = parse_config(doc, "fuzz.toml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml: ") and "\n" not in str(exc)
        return
    with contextlib.suppress(ConfigError, AgentLoadError):
        Simulation(cfg)


def test_the_fuzzer_reaches_both_outcomes() -> None:
    """The strategy is not so wild that every config fails, nor so tame that none does."""
    outcomes: set[str] = set()

    @settings(max_examples=200, deadline=None, database=None)
    @given(documents())
    def probe(doc: dict[str, Any]) -> None:
        try:
            Simulation(parse_config(doc))
            outcomes.add("built")
        except (ConfigError, AgentLoadError):
            outcomes.add("refused")

    probe()
    assert outcomes == {"built", "refused"}
