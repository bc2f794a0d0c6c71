"""The configuration reference, docs/config.md, generated from the config classes.

Types and defaults come from the attrs classes of :mod:`exsim.config`, the
allowed values from its validation rules (``_CHOICES``, ``_POSITIVE``,
``_NON_NEGATIVE``, ``_FRACTION``) plus :data:`RULES` for the checks written as
code, and the meaning of every key from :data:`DOCS`.  :func:`render` fails
if a config key has no entry in :data:`DOCS` or an entry names a key that no
longer exists, so a new key cannot go undocumented.

``python -m exsim.configdoc`` prints the Markdown; ``python -m exsim.configdoc
--check docs/config.md`` exits 1 if the file is not what it would print;
``python -m exsim.configdoc > docs/config.md`` regenerates it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import attrs

from exsim import config as cfg
from exsim.agents import BUILTIN


class DocError(Exception):
    """The reference and the config classes disagree (an undocumented or a stale key)."""


# ----------------------------------------------------------------------------- meanings
# One entry per section and per key, by dotted TOML path ("agents.class", not "cls").
DOCS: dict[str, str] = {
    # [run]
    "run": "What runs, for how long, and with which seed.",
    "run.seed": "Seed of every random stream (agents, latency, index paths): the same config "
                "and seed give the same run and digest. `exsim run --seed` overrides it.",
    "run.duration": "Simulated seconds to run.",
    "run.clock": "`virtual`: simulated time goes as fast as the CPU allows; `wall`: real time.",
    "run.on_agent_error": "When an agent raises: `stop` ends the run (recorded as incomplete); "
                          "`isolate` drops that agent and goes on.",
    "run.max_wall_seconds": "A watchdog: the run stops (between two instants, written and "
                            "marked incomplete with the reason) after this many seconds of "
                            "wall time; `0`: no limit.",
    "run.max_stall_seconds": "A watchdog for hangs (virtual clock): when simulated time has "
                             "not moved for this many seconds of wall time, an agent found "
                             "running ends as crashed (`on_agent_error` decides what "
                             "follows), anything else stops the run, marked incomplete; "
                             "`0`: never.",
    # [exchange]
    "exchange": "The matching engine, its market-data feed and the network between it and "
                "the agents.",
    "exchange.service_us": "Simulated time the matching engine spends per request, in "
                           "microseconds: bursts queue behind it.",
    "exchange.stp": "Self-trade prevention when an order would match its own account's "
                    "resting order: cancel the incoming order (taker), the resting one "
                    "(maker), or both; `none` lets it trade.",
    "exchange.feed_interval_ms": "Market-data snapshots are published at most this often.",
    "exchange.feed_latency_ms": "Agents see snapshots this old or older.",
    "exchange.latency": "Network latency of every message between an agent and the exchange, "
                        "drawn per message (an agent with its own `latency_ms` uses that "
                        "constant instead).",
    "exchange.latency.kind": "The latency distribution.",
    "exchange.latency.ms": "`constant`: the latency; `uniform`: the low end; `lognormal`: "
                           "the median.",
    "exchange.latency.high_ms": "`uniform`: the high end.",
    "exchange.latency.sigma": "`lognormal`: the shape (standard deviation of the log).",
    "exchange.latency.floor_ms": "`lognormal`: no message is faster than this.",
    # [[symbols]]
    "symbols": "The perpetuals traded: each `[[symbols]]` entry is one linear "
               "(USDT-margined) contract. Writing any entry replaces the default symbol.",
    "symbols.name": "The symbol's name, as it appears in the output.",
    "symbols.tick_size": "Price grid, in quote currency (a decimal: write it as a string).",
    "symbols.lot_size": "Quantity grid, in base currency.",
    "symbols.cash_atom": "Smallest unit of quote cash: balances, fees and PnL are whole atoms.",
    "symbols.maker_fee": "Maker fee, a fraction of notional (`0.0002` = 0.02%); negative: "
                         "a rebate.",
    "symbols.taker_fee": "Taker fee, a fraction of notional.",
    "symbols.market_band": "Price protection: market orders fill at most this fraction away "
                           "from the mark; `0`: no band.",
    "symbols.default_leverage": "Leverage of a position until its account sets another.",
    "symbols.brackets": "Maintenance-margin tiers by position notional (quote currency): "
                        "rows of [notional floor, maintenance rate, max leverage].",
    # [scenario]
    "scenario": "The index price path the oracle reads; every symbol gets its own path "
                "of this kind, with its own seed.",
    "scenario.kind": "`gbm`: geometric Brownian motion; `merton`: GBM with jumps; "
                     "`flash_crash`: a drop and a partial recovery; `csv`: a recorded "
                     "path; `candles`: a real crash replayed from one-minute candles; "
                     "`constant`: flat at `start_price`.",
    "scenario.start_price": "Index price at time 0.",
    "scenario.step_s": "Resolution of the index path, in seconds.",
    "scenario.volatility": "Annualised volatility (`gbm`, `merton`).",
    "scenario.drift": "Annualised drift (`gbm`, `merton`).",
    "scenario.crash_at_s": "`flash_crash`: when the drop starts.",
    "scenario.drop": "`flash_crash`: fraction of the price lost at the bottom; negative: "
                     "a pump (`-4` = x5).",
    "scenario.fall_s": "`flash_crash`: time from the start of the drop to the bottom.",
    "scenario.recovery": "`flash_crash`: fraction of the drop recovered.",
    "scenario.recover_s": "`flash_crash`: time from the bottom to the recovered level.",
    "scenario.jump_rate": "`merton`: jumps per year.",
    "scenario.jump_mean": "`merton`: mean of the log jump.",
    "scenario.jump_std": "`merton`: standard deviation of the log jump.",
    "scenario.csv": "`csv`: a file of `timestamp,price` rows, relative to the config file.",
    "scenario.candles": "`candles`: one-minute OHLC candles (`time_utc,open,high,low,close`), "
                        "relative to the config file, or the name of a file shipped in "
                        "`exsim/data` (real Binance BTCUSDT perpetual crashes: "
                        "`btc_1m_2020-03-12_13.csv`, `btc_1m_2021-05-19.csv`, "
                        "`btc_1m_2022-11-08.csv`, `btc_1m_2025-10-10.csv`). Each minute is "
                        "a seeded path from its open through its high and low to its close.",
    "scenario.candles_start": "`candles`: the first minute replayed, ISO-8601 UTC "
                              "(`2020-03-12T10:00:00Z`); empty: the file's first.",
    "scenario.rescale": "`candles`: multiply every price so that the path starts at "
                        "`start_price`.",
    # [oracle]
    "oracle": "The mark price: from the index and the book's basis, never the last trade "
              "alone.",
    "oracle.method": "`ema_basis`: index + EMA of (book mid - index); `median3`: Binance's "
                     "median of three; `fair`: BitMEX's fair price.",
    "oracle.interval_ms": "The mark is published this often.",
    "oracle.basis_halflife_s": "Half-life of the EMA of (book mid - index).",
    "oracle.clamp": "The mark stays within index x (1 +/- clamp). Around a scripted index "
                    "this band is what keeps forced selling from moving the mark.",
    "oracle.index": "`scripted`: the index is the scenario's path; `spot`: the weighted mean "
                    "of the `[[spot]]` venues' prices (Binance's index), which the agents' "
                    "trading moves: the scenario is then the fundamental value informed "
                    "traders trade towards.",
    "oracle.index_latency_ms": "`spot`: the oracle sees the venues' market data this much "
                               "later than it is published.",
    "oracle.index_outlier": "`spot`: a venue whose price is this fraction or more away from "
                            "the median of all venues is left out.",
    "oracle.index_stale_s": "`spot`: a venue with no snapshot this recent is left out.",
    # [funding]
    "funding": "Funding payments between longs and shorts.",
    "funding.interval_s": "Funding settles this often (28800 s = every 8 h).",
    "funding.sample_s": "The premium index is sampled this often.",
    "funding.interest": "Interest rate per funding interval.",
    "funding.clamp": "Clamp on (interest - premium).",
    "funding.cap": "Cap on the absolute funding rate.",
    "funding.impact_notional": "Quote notional for the impact bid and ask of the premium.",
    # [[agents]]
    "agents": "The traders: each `[[agents]]` entry is `count` agents of one class.",
    "agents.class": "The strategy: a built-in class (listed below the table), a class "
                    "path, or the name of an entry point in the group `exsim.agents`.",
    "agents.count": "How many agents of this entry.",
    "agents.deposit": "Each agent's starting balance, in quote currency.",
    "agents.leverage": "Each agent's leverage on every symbol.",
    "agents.latency_ms": "This entry's own constant latency to the exchange; `0`: the "
                         "`[exchange.latency]` model.",
    "agents.params": "The class's parameters, e.g. `params = { rate = 0.2 }`.",
    "agents.venue": "Where the agents trade: a `[[symbols]]` or `[[spot]]` name; empty: the "
                    "first symbol.",
    "agents.coin": "Base currency each agent holds at its spot venue (with `deposit` its "
                   "cash there).",
    "agents.hedge_venue": "A `[[spot]]` venue where each agent also holds an account (an "
                          "arbitrageur hedges there).",
    "agents.hedge_cash": "Quote currency each agent holds at its hedge venue.",
    "agents.hedge_coin": "Base currency each agent holds at its hedge venue.",
    # [[spot]]
    "spot": "Spot venues: each `[[spot]]` entry is an order book of the base coin against "
            "quote cash, with no margin (every order paid for up front), on its symbol's "
            "grid, behind its own matching engine; with `oracle.index = \"spot\"` the "
            "symbol's index is made of them.",
    "spot.name": "The venue's name (agents name it in `venue`).",
    "spot.symbol": "The perpetual whose index it feeds; empty: the first symbol.",
    "spot.weight": "Its weight in that index.",
    "spot.maker_fee": "Maker fee, a fraction of notional, charged in cash.",
    "spot.taker_fee": "Taker fee, a fraction of notional.",
    "spot.market_band": "Market orders fill at most this fraction away from the best price.",
    "spot.service_us": "Simulated time its matching engine spends per request.",
    # [output]
    "output": "Where a run writes its event tables, summary and report.",
    "output.dir": "Each run writes `DIR/NAME-seedSEED/` (a sweep `DIR/NAME-sweep/`); "
                  "`--out` overrides it.",
    "output.name": "The NAME in the run directory.",
    "output.account_snapshot_s": "Every account's positions and balances are recorded this "
                                 "often; `0`: never.",
    # [liquidation]
    "liquidation": "The liquidator, the insurance fund, and the waterfall after them: what "
                   "covers a loss beyond a position's margin.",
    "liquidation.enabled": "Run the liquidator; `false`: nothing takes over under-margined "
                           "accounts.",
    "liquidation.adl_trigger": "When ADL may run. `mtm`: the fund's equity with its position "
                               "at the mark is below zero; `realised`: valued at the price it "
                               "could close at now (the best bid for a long), so ADL waits "
                               "until a deficit would really be booked.",
    "liquidation.adl_sizing": "How much one ADL round closes. `fund_first` (Binance: the "
                              "insurance fund first): only the lots the fund's equity cannot "
                              "carry; `all`: its whole position (the winners carry all of "
                              "it); `pro_rata`: the `fund_first` lots spread over every "
                              "winner by position size instead of down the ranking.",
    "liquidation.max_fund_notional": "Binance's cap on the fund's position: what it holds "
                                     "beyond this notional (quote) is deleveraged, short or "
                                     "not; `0`: no cap.",
    "liquidation.socialize_every_s": "With a `clawback` or `oi_funding` last step: a booked "
                                     "deficit (the fund's realised losses beyond its cash) "
                                     "is collected at once (`0`) or at multiples of this "
                                     "many seconds (OKX's clawback ran once per settlement). "
                                     "Never an unrealized loss, never twice.",
    "liquidation.vault_haircut": "The backstop vault takes over only what leaves its equity "
                                 "at the mark at least this share of its positions' "
                                 "notional; what it cannot carry goes on to the fund.",
    "liquidation.first": "What a liquidation does first. `book`: the position (or the "
                         "step) goes to the book as a reduce-only IOC at its bankruptcy "
                         "price, or as far as `tolerance` worse while the fund's cash pays, "
                         "and only what does not fill stays with the fund (Binance, Bybit, "
                         "OKX, Hyperliquid); `takeover`: the fund takes it all over and "
                         "works it out (BitMEX).",
    "liquidation.latency_ms": "The liquidator's own constant latency to the exchange.",
    "liquidation.interval_ms": "Its rate limit: at most one request per interval.",
    "liquidation.slice_lots": "Largest order, in lots, with which the fund works a taken-over "
                              "position out into the book.",
    "liquidation.tolerance": "Work-out orders may fill this fraction worse than the takeover "
                             "(bankruptcy) price.",
    "liquidation.steps": "The waterfall after the book: optionally `backstop` (a vault "
                         "absorbs first), then `insurance_fund`, then at most one last step: "
                         "`adl`, `clawback` (OKEx 2018) or `oi_funding` (Drift); without "
                         "one the fund may stay short.",
    "liquidation.adl_policy": "How `adl` ranks the positions it deleverages.",
    "liquidation.fund_initial": "The insurance fund's starting cash, in quote currency; with "
                                "`fund_scope = \"per_symbol\"`, each symbol's fund starts "
                                "with this much.",
    "liquidation.fund_scope": "`shared`: one insurance fund (account -1) covers every symbol, "
                              "so a loss in one symbol is paid from what all earned. "
                              "`per_symbol`: each symbol has its own fund (accounts -1, -3, "
                              "-4, ... in symbol order) with its own cash; it takes over only "
                              "that symbol's positions, pays that symbol's bad debt, and when "
                              "it is short that symbol goes to the last step (ADL or "
                              "socialized loss) however rich the other funds are (Binance's "
                              "BTCUSDT/ETHUSDT funds of 2019, Bybit's isolated pools). The "
                              "summary's `insurance_fund` stays the total, with a `by_symbol` "
                              "breakdown.",
    "liquidation.vault_capital": "The backstop vault's capital, in quote currency (with a "
                                 "`backstop` step).",
    "liquidation.mode": "How much one liquidation step takes: `full` (the whole position, "
                        "Binance/BitMEX), `tiers` (just enough to drop below its maintenance "
                        "bracket's floor, Bybit) or `fraction` (a capped share per step, "
                        "dYdX). An account still under maintenance after a step is "
                        "liquidated again; a bankrupt one is always taken whole.",
    "liquidation.max_fraction": "`fraction` mode: at most this share of the position per step.",
    "liquidation.min_step_notional": "`fraction` mode: at least this notional (quote currency) "
                                     "per step; a smaller position goes whole.",
    "liquidation.max_step_notional": "`fraction` mode: at most this notional per step; 0: no "
                                     "cap.",
    "liquidation.fee_policy": "Who keeps the liquidated part's remaining margin: "
                              "`all_to_fund` (the fund, taking over at the bankruptcy price), "
                              "`capped` (the fund takes at most `fee_cap` x notional, the "
                              "trader keeps the rest, dYdX) or `none` (the trader keeps it "
                              "all, Hyperliquid's book liquidations).",
    "liquidation.fee_cap": "`capped` policy: the fund's fee is at most this rate of the "
                           "liquidated notional.",
    # [sweep]
    "sweep": "Seeds and a parameter grid for `exsim sweep CONFIG`, which runs every "
             "(grid point, seed) as a run of its own. A single run (`exsim run`, "
             "`exsim validate`) ignores this section; `exsim sweep` checks it, and every "
             "grid point as a whole config, before the first run starts.",
    "sweep.seeds": "A count N: the seeds `run.seed` ... `run.seed + N - 1`; or a list of "
                   "seeds.",
    "sweep.grid": "A table `[sweep.grid]` of key path = [values], e.g. "
                  "`\"liquidation.fund_initial\" = [1000.0, 10000.0]` or "
                  "`\"agents[2].count\" = [20, 40]`; the sweep runs every combination.",
}

# Checks that exsim.config makes in code rather than through its rule tables.
RULES: dict[str, str] = {
    "exchange.latency.high_ms": ">= `ms` when `kind` is `\"uniform\"`",
    "symbols.name": "not empty; no two symbols share one",
    "symbols.tick_size": "a decimal > 0",
    "symbols.lot_size": "a decimal > 0",
    "symbols.cash_atom": "a decimal > 0; tick_size x lot_size a whole number of atoms; the "
                         "same for every symbol",
    "symbols.maker_fee": "< 1, a multiple of 0.000001; maker_fee + taker_fee >= 0",
    "symbols.taker_fee": ">= 0, < 1, a multiple of 0.000001",
    "symbols.market_band": "0, or > 0 and < 1",
    "symbols.default_leverage": "1 to the first bracket's max leverage",
    "symbols.brackets": "floors start at 0 and increase; rates in [0, 1) do not decrease; "
                        "leverage an integer >= 1 that does not increase; rate x leverage < 1",
    "scenario.start_price": "at least 1 tick and below 2**53 ticks of every symbol",
    "scenario.step_s": "`run.duration / step_s` at most 10,000,000 (`gbm`, `merton`); with "
                       "`kind = \"candles\"`: a whole number of seconds dividing 60",
    "agents.count": "at most 1,000,000 agents in all",
    "output.name": "a plain name: no `/`, `\\` or `..`",
    "scenario.drop": "> -100, < 1",
    "scenario.csv": "an existing file when `kind` is `\"csv\"`",
    "scenario.candles": "an existing file of consecutive minutes with positive prices and "
                        "low <= open, close <= high, when `kind` is `\"candles\"`; at least "
                        "`run.duration` long from `candles_start`",
    "scenario.candles_start": "a minute of the file",
    "funding.sample_s": "<= `interval_s`",
    "agents.deposit": "a whole number of cash atoms",
    "agents.leverage": "at most every symbol's max leverage",
    "agents.params": "those of the class: unknown ones are errors",
    "agents.venue": "a symbol or spot venue",
    "agents.coin": "only at a spot venue; a whole number of lots",
    "agents.hedge_venue": "a spot venue other than `venue`",
    "agents.hedge_cash": "only with `hedge_venue`",
    "agents.hedge_coin": "only with `hedge_venue`",
    "spot.name": "not a symbol's or another venue's name",
    "spot.symbol": "a `[[symbols]]` name",
    "spot.market_band": "> 0, < 1",
    "oracle.index": "`\"spot\"` needs a `[[spot]]` venue for every symbol, and each venue "
                    "a `market_maker` agent",
    "liquidation.steps": "`\"backstop\"` (optional), `\"insurance_fund\"`, then at most one of "
                         "`\"adl\"`, `\"clawback\"`, `\"oi_funding\"`",
    "liquidation.tolerance": "not 1",
    "liquidation.vault_haircut": "below 1",
    "liquidation.fund_initial": "a whole number of cash atoms",
    "liquidation.vault_capital": "a whole number of cash atoms; > 0 with a `\"backstop\"` step",
    "liquidation.max_fraction": "only with `mode = \"fraction\"`; a multiple of 0.000001",
    "liquidation.min_step_notional": "only with `mode = \"fraction\"`; <= `max_step_notional` "
                                     "when that is > 0",
    "liquidation.max_step_notional": "only with `mode = \"fraction\"`",
    "liquidation.fee_cap": "only with `fee_policy = \"capped\"`; a multiple of 0.000001",
}

# [sweep] is read by exsim.sweep.plan, not by an attrs class: key -> (type, default, allowed).
SWEEP_KEYS: dict[str, tuple[str, str, str]] = {
    "sweep.seeds": ("integer or array of integers", "`1`",
                    "a count > 0, or a non-empty array"),
    "sweep.grid": ("table of key path = array", "`{}` (one point)",
                   "non-empty arrays; every point a valid config"),
}

# TOML spellings of field names that are Python keywords (exsim.config._build's aliases).
TOML_NAMES: dict[str, str] = {"cls": "class"}

# attrs field annotations (as exsim.config._convert reads them) -> TOML type names.
_BRACKETS = "tuple[tuple[object, object, int], ...]"
_TYPE_NAMES: dict[str, str] = {
    "int": "integer",
    "float": "number",
    "str": "string",
    "bool": "boolean",
    "tuple[str, ...]": "array of strings",
    "Mapping[str, Any]": "table",
    _BRACKETS: "array of [floor, rate, leverage]",
}


# ----------------------------------------------------------------------------- the walk
@attrs.frozen
class Key:
    """One leaf key of a section."""

    path: str  # dotted TOML path, e.g. "agents.class"
    name: str  # TOML key, e.g. "class"
    annotation: str  # the attrs field's annotation, e.g. "float"
    default: object  # attrs.NOTHING when the key is required


@attrs.frozen
class Section:
    """One TOML table or array of tables, with its leaf keys."""

    path: str  # "run", "exchange.latency", "agents"
    array: bool  # [[path]] rather than [path]
    default: object  # the enclosing class's default for it
    keys: tuple[Key, ...]


def _default(field: attrs.Attribute[Any]) -> object:
    default: object = field.default
    factory: object = getattr(default, "factory", None)
    if isinstance(default, attrs.Factory) and callable(factory):  # type: ignore[arg-type]
        return factory()
    return default


def _nested_class(hint: object) -> tuple[type[Any], bool] | None:
    """(attrs class, is an array) for a section-valued field; ``None`` for a leaf."""
    if get_origin(hint) is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis and isinstance(args[0], type) and attrs.has(
                args[0]):
            return args[0], True
        return None
    if get_origin(hint) is None and isinstance(hint, type) and attrs.has(hint):
        return hint, False
    return None


def sections() -> list[Section]:
    """Every section of :class:`exsim.config.Config`, parents before their nested tables."""
    out: list[Section] = []

    def walk(cls: type[Any], path: str, array: bool, default: object) -> None:
        hints = get_type_hints(cls)
        keys: list[Key] = []
        nested: list[tuple[type[Any], str, bool, object]] = []
        for field in attrs.fields(cls):
            name = TOML_NAMES.get(field.name, field.name)
            sub = f"{path}.{name}" if path else name
            inner = _nested_class(hints[field.name])
            if inner is not None:
                nested.append((inner[0], sub, inner[1], _default(field)))
            else:
                keys.append(Key(sub, name, str(field.type), _default(field)))
        if path:
            out.append(Section(path, array, default, tuple(keys)))
        elif keys:
            raise DocError(f"top-level keys outside any section: {[k.name for k in keys]}")
        for args in nested:
            walk(*args)

    walk(cfg.Config, "", False, None)
    return out


def documented_paths() -> set[str]:
    """Every dotted path that needs an entry in :data:`DOCS`."""
    paths = {"sweep", *SWEEP_KEYS}
    for section in sections():
        paths.add(section.path)
        paths.update(key.path for key in section.keys)
    return paths


def check_docs() -> None:
    """Raise :class:`DocError` unless :data:`DOCS` and :data:`RULES` match the config keys."""
    paths = documented_paths()
    missing = sorted(paths - DOCS.keys())
    stale = sorted(DOCS.keys() - paths)
    stale_rules = sorted(RULES.keys() - paths)
    problems = []
    if missing:
        problems.append(f"config keys without an entry in exsim.configdoc.DOCS: {missing}")
    if stale:
        problems.append(f"DOCS entries for keys that do not exist: {stale}")
    if stale_rules:
        problems.append(f"RULES entries for keys that do not exist: {stale_rules}")
    empty = sorted(p for p in paths & DOCS.keys() if not DOCS[p].strip())
    if empty:
        problems.append(f"empty DOCS entries: {empty}")
    if problems:
        raise DocError("; ".join(problems))


# ----------------------------------------------------------------------------- cells
def toml_value(value: object) -> str:
    """A default as it would be written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise DocError(f"cannot write {value!r} as TOML")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _type_name(key: Key) -> str:
    try:
        return _TYPE_NAMES[key.annotation]
    except KeyError:
        raise DocError(f"{key.path}: no TOML type name for the annotation {key.annotation!r}; "
                       "add one to exsim.configdoc._TYPE_NAMES") from None


def _default_cell(key: Key) -> str:
    if key.default is attrs.NOTHING:
        return "**required**"
    if key.annotation == _BRACKETS and isinstance(key.default, tuple) and key.default:
        return f"{len(key.default)} rows, below"
    return f"`{toml_value(key.default)}`"


def _allowed(path: str) -> str:
    parts: list[str] = []
    if path in cfg._CHOICES:
        parts.append(", ".join(f"`{json.dumps(c)}`" for c in cfg._CHOICES[path]))
    if path in cfg._POSITIVE:
        parts.append("> 0")
    if path in cfg._NON_NEGATIVE:
        parts.append(">= 0")
    if path in cfg._FRACTION:
        parts.append("0 to 1")
    if path == "agents.class":
        parts.append(", ".join(f"`{json.dumps(name)}`" for name in BUILTIN)
                     + ", `\"package.module:Class\"` or an entry point name")
    if path in RULES:
        parts.append(RULES[path])
    return "; ".join(parts) or "any"


def _table(rows: list[tuple[str, str, str, str, str]]) -> list[str]:
    lines = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _brackets_table(rows: tuple[tuple[object, object, int], ...]) -> list[str]:
    lines = ["| notional floor | maintenance rate | max leverage |", "|---:|---:|---:|"]
    for floor, rate, leverage in rows:
        floor_text = f"{floor:,}" if isinstance(floor, int) else str(floor)
        percent = (Decimal(str(rate)) * 100).normalize()
        lines.append(f"| {floor_text} | {rate} ({percent:f}%) | {leverage}x |")
    return lines


def _builtin_agents() -> list[str]:
    lines = []
    for name, cls in BUILTIN.items():
        module = sys.modules[cls.__module__]
        summary = (module.__doc__ or cls.__doc__ or "").strip().splitlines()
        defaults: Mapping[str, object] = getattr(module, "DEFAULTS", {})
        positive: Sequence[str] = getattr(module, "POSITIVE", ())
        params = ", ".join(f"`{k} = {toml_value(v)}`" for k, v in defaults.items())
        line = f"- `{name}`: {summary[0] if summary else cls.__name__}"
        if params:
            line += f" Params: {params}"
            if positive:
                line += f" (> 0: {', '.join(f'`{k}`' for k in positive)})"
            line += "."
        lines.append(line)
    return lines


def _error_examples() -> list[str]:
    """Real messages of the loader, so the examples cannot drift from it."""
    bad: list[dict[str, Any]] = [
        {"scenario": {"kind": "flash"}},
        {"agents": [{"class": "noise"}, {"class": "noise", "cuont": 5}]},
        {"funding": {"interval_s": 60.0, "sample_s": 120.0}},
    ]
    lines = []
    for document in bad:
        try:
            cfg.parse_config(document, "crash.toml")
        except cfg.ConfigError as exc:
            lines.append(f"- `{exc}`")
        else:  # pragma: no cover - the loader stopped rejecting a bad document
            raise DocError(f"exsim.config accepts {document!r}; update _error_examples")
    return lines


# ----------------------------------------------------------------------------- the page
EXAMPLE = """\
# A small flash crash: the index falls 30% in two minutes and recovers a third of it.
# Leveraged longs are liquidated on the way down, into a book the market makers pull.

[run]
seed = 3
duration = 900.0

[exchange]
service_us = 50.0
stp = "cancel_taker"

[exchange.latency]
kind = "lognormal"
ms = 5.0
sigma = 0.5
floor_ms = 1.0

[[symbols]]
name = "BTCUSDT"
tick_size = "0.1"
lot_size = "0.001"
maker_fee = "0.0002"
taker_fee = "0.0005"
default_leverage = 20
brackets = [
    [0, "0.005", 50],
    [250000, "0.01", 25],
    [1000000, "0.025", 10],
]

[scenario]
kind = "flash_crash"
start_price = 30000.0
volatility = 0.6
crash_at_s = 180.0
drop = 0.3
fall_s = 120.0
recovery = 0.33
recover_s = 300.0

[oracle]
method = "ema_basis"
clamp = 0.005

[liquidation]
latency_ms = 20.0
interval_ms = 50.0
slice_lots = 200
steps = ["insurance_fund", "adl"]
adl_policy = "bitmex"
fund_initial = 5000.0

[[agents]]
class = "market_maker"
count = 4
deposit = 1000000.0
leverage = 5
params = { quote_lots = 100, half_spread_bps = 4.0, pull_move_bps = 30.0, widen = 5.0 }

[[agents]]
class = "noise"
count = 30
deposit = 20000.0
params = { rate = 0.2, p_market = 0.4 }

[[agents]]
class = "leveraged"
count = 40
deposit = 2000.0
leverage = 25
params = { leverage_min = 10, leverage_max = 25, p_long = 0.8, wait_mean_s = 60 }

[output]
name = "small_flash_crash"
"""


def render() -> str:
    """The Markdown of docs/config.md."""
    check_docs()
    out: list[str] = [
        "# Configuration reference",
        "",
        "<!-- Generated from exsim/config.py and exsim/configdoc.py by "
        "`python -m exsim.configdoc > docs/config.md`; do not edit by hand. -->",
        "",
        "A run is configured by one TOML file, given to `exsim run CONFIG`, "
        "`exsim validate CONFIG` or `exsim sweep CONFIG`. `exsim run` without a CONFIG runs "
        "the built-in quickstart (`exsim/configs/quickstart.toml`); `configs/` holds more "
        "examples.",
        "",
        "## Writing a config",
        "",
        "Sections are TOML tables (`[run]`), one nested table (`[exchange.latency]`) and "
        "two arrays of tables: each `[[symbols]]` or `[[agents]]` header adds one entry. "
        "A table value may also be written inline, as in `params = { rate = 0.2 }`.",
        "",
        "Every section and every key is optional, and an omitted key takes the default "
        "shown below, with one exception: each `[[agents]]` entry needs its `class`.",
        "",
        "Types: a *number* key takes an integer or a float, an *integer* key only an "
        "integer. A *string* key also takes a number, but decimals such as tick sizes and "
        "fees are exact only when written as strings (`tick_size = \"0.1\"`). Rates and "
        "fees are fractions: `0.0005` is 0.05%. Times carry their unit in the key's name "
        "(`_s`, `_ms`, `_us`) and become whole nanoseconds of simulated time, so a time "
        "above 0 but below 1 ns is an error, and so is one beyond 2**63 - 1 ns (about 292 "
        "years). Cash amounts are in the quote currency. A decimal (a string or a number) "
        "is at most 1e100 and at least 1e-100 in size, or 0.",
        "",
        "The index path depends on the seed, so it is checked when the simulation is built "
        "(`exsim validate`, and every run): a path that leaves a symbol's price grid (below "
        "one tick, or 2**53 ticks and above) is an error naming the `[scenario]` keys that "
        "shape it, with their values. Whatever passes these checks may still make a run "
        "in which nothing can happen; its `summary.json` then says so under `warnings` "
        "(no mark price ever set for a symbol, no order ever accepted).",
        "",
        "## Errors",
        "",
        "Loading stops at the first problem with a `ConfigError` (`exsim.config`) that "
        "names the file, the key path (with the entry's index in an array) and the bad "
        "value, and suggests the nearest valid key or value for a typo:",
        "",
        *_error_examples(),
        "",
        "`exsim validate CONFIG` makes these checks, then loads every agent class and "
        "checks its `params`, without running anything: it prints `CONFIG: ok (...)`, or "
        "the error with exit status 2. `exsim run` and `exsim sweep` make the same checks "
        "before they start.",
        "",
        "In the tables below, *allowed* is what the loader checks: the choices, the range, "
        "and the rules between keys.",
    ]
    for section in sections():
        level = "###" if section.path.count(".") else "##"
        header = f"[[{section.path}]]" if section.array else f"[{section.path}]"
        out += ["", f"{level} `{header}`", "", DOCS[section.path]]
        if section.array:
            entries = section.default
            if not isinstance(entries, tuple) or not entries:
                out += ["", f"Without a `{header}` entry: none."]
            else:
                count = "one entry" if len(entries) == 1 else f"{len(entries)} entries"
                out += ["", f"Without a `{header}` entry: {count} with the defaults below."]
        rows = [(f"`{key.name}`", _type_name(key), _default_cell(key), _allowed(key.path),
                 DOCS[key.path]) for key in section.keys]
        out += ["", *_table(rows)]
        for key in section.keys:
            if key.annotation == _BRACKETS and isinstance(key.default, tuple) and key.default:
                out += ["", f"Default `{key.name}`, rows of [notional floor, maintenance rate, "
                        "max leverage]:", "", *_brackets_table(key.default)]
        if section.path == "agents":
            out += ["", "Built-in classes (`class = \"name\"`) and their `params` with "
                    "defaults; every param is a number >= 0:", "", *_builtin_agents()]
    out += ["", "## `[sweep]`", "", DOCS["sweep"], ""]
    out += _table([(f"`{path.split('.')[-1]}`", kind, default, allowed, DOCS[path])
                   for path, (kind, default, allowed) in SWEEP_KEYS.items()])
    out += ["", "## Example", "",
            "A complete config: a small flash crash with market makers, noise traders and "
            "leveraged traders.", "", "```toml", EXAMPLE.rstrip("\n"), "```", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exsim.configdoc",
        description="Print the configuration reference (docs/config.md), or check a file "
                    "against it.")
    parser.add_argument("--check", metavar="FILE",
                        help="exit 1 if FILE differs from the generated reference")
    args = parser.parse_args(argv)
    try:
        text = render()
    except DocError as exc:
        print(f"exsim.configdoc: {exc}", file=sys.stderr)
        return 2
    if args.check is None:
        sys.stdout.write(text)
        return 0
    path = Path(args.check)
    try:
        current = path.read_text()
    except OSError as exc:
        print(f"exsim.configdoc: {path}: cannot read: {exc.strerror}", file=sys.stderr)
        return 1
    if current != text:
        print(f"exsim.configdoc: {path} is out of date; regenerate it with "
              f"`python -m exsim.configdoc > {path}`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
