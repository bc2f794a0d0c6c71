"""Run configuration: one TOML file -> validated attrs classes.

Every section is an attrs class; :func:`load_config` walks the TOML tables
against them.  Unknown keys, wrong types and out-of-range values raise
:class:`ConfigError` naming the file, the key path and the bad value, and
suggesting the nearest valid key for a typo.  ``exsim validate CONFIG`` runs
exactly this without running anything.

Sections: ``[run]`` (seed, duration, clock, on_agent_error), ``[exchange]``
(service time, latency, feed), ``[[symbols]]`` (grid, fees, brackets),
``[scenario]`` (the index path), ``[oracle]`` (mark price), ``[funding]``,
``[liquidation]`` (the liquidator, partial steps and fee policy, insurance fund and
ADL), ``[[agents]]`` (class, count, params) and ``[output]``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, cast

import attrs

from exsim.core.engine import MAX_UNITS
from exsim.core.liquidation import FEE_POLICIES, FUND_SCOPES, MODES, LiquidationRules
from exsim.core.margin import MarginConfigError
from exsim.core.symbols import BINANCE_BTCUSDT_2021, SymbolError, SymbolSpec, brackets_from_quote
from exsim.core.units import LinearContract, UnitsError, rate_ppm

QUICKSTART = Path(__file__).resolve().parent / "configs" / "quickstart.toml"


class ConfigError(ValueError):
    """A configuration that cannot run; the message says where and why."""


@attrs.frozen
class RunConfig:
    seed: int = 1
    duration: float = 3600.0  # simulated seconds
    clock: str = "virtual"  # "virtual" (as fast as the CPU allows) or "wall"
    on_agent_error: str = "stop"  # "stop" the run, or "isolate": drop the agent and go on
    max_wall_seconds: float = 0.0  # stop the run after this much wall time; 0: no limit
    max_stall_seconds: float = 120.0  # simulated time stuck this long (wall s): stop; 0: never


@attrs.frozen
class LatencyConfig:
    kind: str = "lognormal"  # "constant", "uniform" or "lognormal"
    ms: float = 5.0  # constant value, uniform low, or lognormal median
    high_ms: float = 20.0  # uniform high
    sigma: float = 0.5  # lognormal shape
    floor_ms: float = 1.0  # lognormal floor


@attrs.frozen
class ExchangeConfig:
    service_us: float = 50.0  # simulated time the matching engine spends per request
    stp: str = "cancel_taker"  # none, cancel_taker, cancel_maker, cancel_both
    feed_interval_ms: float = 100.0  # market-data snapshots at most this often
    feed_latency_ms: float = 10.0  # agents see snapshots this old or older
    latency: LatencyConfig = LatencyConfig()


@attrs.frozen
class SymbolConfig:
    name: str = "BTCUSDT"
    tick_size: str = "0.1"
    lot_size: str = "0.001"
    cash_atom: str = "0.00000001"
    maker_fee: str = "0.0002"
    taker_fee: str = "0.0005"
    market_band: str = "0.05"  # "0" for none
    default_leverage: int = 20
    # rows of [notional floor, maintenance rate, max leverage]; default Binance BTCUSDT 2021
    brackets: tuple[tuple[object, object, int], ...] = BINANCE_BTCUSDT_2021

    def contract(self) -> LinearContract:
        return LinearContract(self.tick_size, self.lot_size, self.cash_atom)

    def spec(self) -> SymbolSpec:
        contract = self.contract()
        band = rate_ppm(self.market_band, "market_band")
        return SymbolSpec(self.name, contract, brackets_from_quote(contract, self.brackets),
                          maker_fee=rate_ppm(self.maker_fee, "maker_fee"),
                          taker_fee=rate_ppm(self.taker_fee, "taker_fee"),
                          market_band=band or None, default_leverage=self.default_leverage)


@attrs.frozen
class ScenarioConfig:
    kind: str = "gbm"  # "gbm", "merton", "flash_crash", "csv" or "constant"
    start_price: float = 30000.0
    step_s: float = 1.0  # resolution of the index path
    volatility: float = 0.6  # annualised (gbm)
    drift: float = 0.0  # annualised (gbm)
    crash_at_s: float = 1800.0  # flash_crash: when the drop starts
    drop: float = 0.2  # flash_crash: fraction lost at the bottom (negative: a pump, -4 = x5)
    fall_s: float = 300.0  # flash_crash: time to the bottom
    recovery: float = 0.5  # flash_crash: fraction of the drop recovered
    recover_s: float = 900.0  # flash_crash: time from the bottom to the recovered level
    jump_rate: float = 50.0  # merton: jumps per year
    jump_mean: float = -0.02  # merton: mean log jump
    jump_std: float = 0.05  # merton: std of the log jump
    csv: str = ""  # csv: file of timestamp,price rows (relative to the config file)
    candles: str = ""  # candles: a file of 1-minute OHLC rows, or a shipped one's name
    candles_start: str = ""  # candles: the first minute replayed (ISO UTC); "": the file's first
    rescale: bool = False  # candles: scale every price so the path starts at start_price


@attrs.frozen
class OracleConfig:
    method: str = "ema_basis"  # "ema_basis", "median3" (Binance) or "fair" (BitMEX)
    interval_ms: float = 1000.0  # mark published this often
    basis_halflife_s: float = 30.0  # EMA of (book mid - index)
    clamp: float = 0.005  # |mark - index| <= clamp x index
    # where the index comes from: "scripted" (the scenario's path) or "spot" (the
    # [[spot]] venues' prices, weighted, outliers left out)
    index: str = "scripted"
    index_latency_ms: float = 50.0  # spot: the oracle sees the venues this late
    index_outlier: float = 0.05  # spot: a venue this far from the median is left out
    index_stale_s: float = 10.0  # spot: a venue with no snapshot this recent is left out


@attrs.frozen
class FundingConfig:
    interval_s: float = 28800.0  # settle every 8 h of simulated time
    sample_s: float = 5.0  # premium-index samples
    interest: float = 0.0001  # per interval
    clamp: float = 0.0005  # |interest - premium| clamp
    cap: float = 0.0075  # |rate| cap
    impact_notional: float = 10000.0  # quote notional for impact bid/ask


@attrs.frozen
class LiquidationConfig:
    enabled: bool = True
    # what a liquidation does first: "book" sends the position to the book as a
    # liquidation order (Binance, Bybit, OKX), the rest to the fund; "takeover" hands it
    # all to the fund, which works it out (BitMEX)
    first: str = "book"
    latency_ms: float = 5.0  # the liquidator's own latency to the exchange
    interval_ms: float = 100.0  # its rate limit: one request per interval at most
    slice_lots: int = 1000  # largest work-out order of the fund
    tolerance: float = 0.02  # work-out orders may fill this much worse than the takeover price
    # the waterfall after the book: optionally "backstop" (a vault absorbs first), then
    # the fund, then at most one last step: "adl", "clawback" (OKEx 2018) or
    # "oi_funding" (Drift); without one the fund may stay short
    steps: tuple[str, ...] = ("insurance_fund", "adl")
    adl_policy: str = "bitmex"  # ranking for "adl": "bitmex", "binance", "hyperliquid", "dydx"
    fund_initial: float = 0.0  # quote currency the insurance fund starts with (each fund)
    # "shared": one insurance fund for every symbol; "per_symbol": one per symbol, each
    # with its own cash (fund_initial each), its own takeovers and its own last step
    fund_scope: str = "shared"
    vault_capital: float = 0.0  # the backstop vault's capital (with a "backstop" step)
    # how much of a position one liquidation step takes: "full" (all, Binance/BitMEX),
    # "tiers" (down to the next lower maintenance bracket, Bybit), "fraction" (dYdX)
    mode: str = "full"
    max_fraction: float = 0.1  # fraction: at most this share of the position per step
    min_step_notional: float = 0.0  # fraction: but at least this notional (quote) per step
    max_step_notional: float = 0.0  # fraction: and at most this notional per step; 0: no cap
    # who keeps the liquidated part's remaining margin: "all_to_fund" (the fund or vault,
    # Binance/BitMEX), "capped" (the fund up to fee_cap x notional, the trader the rest,
    # dYdX), "none" (the trader, Hyperliquid's book liquidations)
    fee_policy: str = "all_to_fund"
    fee_cap: float = 0.015  # capped: the fund's fee at most this rate of the liquidated notional
    # the last step (docs/mechanics.md, "ADL sizing and trigger"): when ADL may run
    # ("mtm": the fund short at the mark; "realised": at the price it could close at) and
    # how much it closes ("fund_first": what the fund cannot carry; "all": its whole
    # position; "pro_rata": the fund_first lots over every winner by size)
    adl_trigger: str = "mtm"
    adl_sizing: str = "fund_first"
    max_fund_notional: float = 0.0  # Binance: ADL what the fund holds beyond this; 0: no cap
    # the backstop vault takes over only what leaves its equity at the mark at least this
    # share of its positions' notional; the rest goes on to the fund
    vault_haircut: float = 0.1
    # clawback/oi_funding: collect a booked deficit at once (0) or at multiples of this
    # many seconds (OKX's clawback ran once per settlement)
    socialize_every_s: float = 0.0

    def rules(self, contract: LinearContract) -> LiquidationRules:
        """The core's integer rules (ppm rates, atoms of notional), with only the
        settings that the mode and fee policy use (the rest at the core's defaults)."""
        sizes: dict[str, int] = {}
        if self.mode == "fraction":
            sizes = {"max_fraction": rate_ppm(self.max_fraction, "max_fraction"),
                     "min_step": contract.cash_to_atoms(self.min_step_notional),
                     "max_step": contract.cash_to_atoms(self.max_step_notional)}
        cap = rate_ppm(self.fee_cap, "fee_cap") if self.fee_policy == "capped" else 0
        return LiquidationRules(mode=self.mode, fee_policy=self.fee_policy, fee_cap=cap,
                                adl_trigger=self.adl_trigger, adl_sizing=self.adl_sizing,
                                max_fund_notional=contract.cash_to_atoms(self.max_fund_notional),
                                vault_haircut=rate_ppm(self.vault_haircut, "vault_haircut"),
                                book_deficits=self.steps[-1] in ("clawback", "oi_funding"),
                                **sizes)


@attrs.frozen
class AgentConfig:
    cls: str  # "noise", "market_maker", or "package.module:Class", or an entry-point name
    count: int = 1
    deposit: float = 10_000.0  # quote currency per agent
    leverage: int = 10
    latency_ms: float = 0.0  # this agent's own constant latency to the exchange; 0: the default
    params: Mapping[str, Any] = attrs.field(factory=dict)
    venue: str = ""  # where it trades: a [[symbols]] or [[spot]] name; "": the first symbol
    coin: float = 0.0  # base currency it holds at a spot venue (with deposit, its cash there)
    hedge_venue: str = ""  # a [[spot]] venue where it also holds an account
    hedge_cash: float = 0.0  # quote currency there
    hedge_coin: float = 0.0  # base currency there


@attrs.frozen
class SpotConfig:
    """A spot venue (one order book of the base coin against quote cash, no margin)."""

    name: str
    symbol: str = ""  # the perpetual whose index it feeds; "": the first [[symbols]] entry
    weight: float = 1.0  # its weight in that index
    maker_fee: str = "0.001"
    taker_fee: str = "0.001"
    market_band: str = "0.05"  # market orders fill at most this far from the best price
    service_us: float = 50.0  # its matching engine's time per request


@attrs.frozen
class OutputConfig:
    dir: str = "runs"  # each run writes DIR/<name>-seed<seed>/
    name: str = "run"
    account_snapshot_s: float = 60.0  # every account's positions and balances; 0: never


@attrs.frozen
class Config:
    run: RunConfig = RunConfig()
    exchange: ExchangeConfig = ExchangeConfig()
    symbols: tuple[SymbolConfig, ...] = (SymbolConfig(),)
    scenario: ScenarioConfig = ScenarioConfig()
    oracle: OracleConfig = OracleConfig()
    funding: FundingConfig = FundingConfig()
    agents: tuple[AgentConfig, ...] = ()
    spot: tuple[SpotConfig, ...] = ()
    output: OutputConfig = OutputConfig()
    liquidation: LiquidationConfig = LiquidationConfig()


# ----------------------------------------------------------------------------- loading
T = TypeVar("T")

_CHOICES: dict[str, tuple[str, ...]] = {
    "run.clock": ("virtual", "wall"),
    "run.on_agent_error": ("stop", "isolate"),
    "exchange.stp": ("none", "cancel_taker", "cancel_maker", "cancel_both"),
    "exchange.latency.kind": ("constant", "uniform", "lognormal"),
    "oracle.method": ("ema_basis", "median3", "fair"),
    "oracle.index": ("scripted", "spot"),
    "liquidation.adl_policy": ("bitmex", "binance", "hyperliquid", "dydx"),
    "liquidation.mode": MODES,
    "liquidation.first": ("book", "takeover"),
    "liquidation.adl_trigger": ("mtm", "realised"),
    "liquidation.adl_sizing": ("fund_first", "all", "pro_rata"),
    "liquidation.fee_policy": FEE_POLICIES,
    "liquidation.fund_scope": FUND_SCOPES,
    "scenario.kind": ("gbm", "merton", "flash_crash", "csv", "candles", "constant"),
}
_POSITIVE = {"run.duration", "exchange.feed_interval_ms", "exchange.feed_latency_ms",
             "exchange.latency.ms", "exchange.latency.high_ms", "exchange.latency.floor_ms",
             "scenario.start_price", "scenario.step_s", "oracle.interval_ms",
             "oracle.basis_halflife_s", "agents.count", "agents.leverage",
             "scenario.fall_s", "scenario.recover_s", "funding.interval_s", "funding.sample_s",
             "funding.impact_notional", "liquidation.interval_ms", "liquidation.latency_ms",
             "liquidation.slice_lots", "liquidation.max_fraction", "liquidation.fee_cap",
             "oracle.index_outlier", "oracle.index_stale_s", "spot.weight"}
_NON_NEGATIVE = {"liquidation.max_fund_notional", "liquidation.vault_haircut",
                 "liquidation.socialize_every_s",
                 "run.max_wall_seconds", "run.max_stall_seconds", "oracle.index_latency_ms",
                 "agents.coin", "agents.hedge_cash", "agents.hedge_coin", "spot.service_us",
                 "exchange.service_us", "scenario.volatility", "exchange.latency.sigma",
                 "scenario.jump_rate", "scenario.jump_std",
                 "scenario.crash_at_s", "oracle.clamp", "agents.deposit", "funding.clamp",
                 "funding.cap", "output.account_snapshot_s", "agents.latency_ms",
                 "liquidation.fund_initial", "liquidation.vault_capital",
                 "liquidation.min_step_notional", "liquidation.max_step_notional"}
_FRACTION = {"liquidation.vault_haircut", "scenario.recovery", "liquidation.tolerance",
             "liquidation.max_fraction",
             "liquidation.fee_cap"}
# keys that only mean something with one liquidation mode or fee policy: naming them
# with another is an error rather than silently ignored
_ONLY_WITH = {"max_fraction": ("mode", "fraction"), "min_step_notional": ("mode", "fraction"),
              "max_step_notional": ("mode", "fraction"), "fee_cap": ("fee_policy", "capped")}


def _fail(source: str, path: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {path}: {message}")


def _build(cls: type[T], table: object, path: str, source: str) -> T:
    """Build an attrs class from a TOML table, checking keys, types and ranges."""
    if not isinstance(table, dict):
        raise _fail(source, path or "<top>", f"expected a table, got {table!r}")
    fields: dict[str, attrs.Attribute[Any]] = {f.name: f for f in attrs.fields(cast(Any, cls))}
    aliases = {"class": "cls"}
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        name = aliases.get(key, key)
        where = f"{path}.{key}" if path else key
        if name not in fields:
            valid = sorted("class" if k == "cls" else k for k in fields)
            near = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else f"; valid keys: {', '.join(valid)}"
            raise _fail(source, where, f"unknown key{hint}")
        kwargs[name] = _convert(fields[name].type, value, where, source)
        _check_range(_generic(where), value, where, source)
    missing = [n for n, f in fields.items() if f.default is attrs.NOTHING and n not in kwargs]
    if missing:
        key = "class" if missing[0] == "cls" else missing[0]
        raise _fail(source, f"{path}.{key}" if path else key, "missing required key")
    return cls(**kwargs)


def _generic(where: str) -> str:
    """``agents[2].count`` -> ``agents.count`` for range rules."""
    parts = [p.split("[")[0] for p in where.split(".")]
    return ".".join(parts)


def _convert(annotation: object, value: object, where: str, source: str) -> object:
    kind = str(annotation)
    nested = {"LatencyConfig": LatencyConfig}
    if kind in nested:
        return _build(nested[kind], value, where, source)
    if kind == "bool":
        if not isinstance(value, bool):
            raise _fail(source, where, f"expected true or false, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(source, where, f"expected an integer, got {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(source, where, f"expected a number, got {value!r}")
        return float(value)
    if kind == "str":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # decimals written as numbers are fine
        if not isinstance(value, str):
            raise _fail(source, where, f"expected a string, got {value!r}")
        return value
    if kind.startswith("Mapping"):
        if not isinstance(value, dict):
            raise _fail(source, where, f"expected a table, got {value!r}")
        return value
    if kind == "tuple[str, ...]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _fail(source, where, f"expected a list of strings, got {value!r}")
        return tuple(value)
    if kind.startswith("tuple[tuple"):
        if not isinstance(value, list) or not all(
                isinstance(r, list) and len(r) == 3 for r in value):
            raise _fail(source, where, "expected a list of [notional_floor, mmr, max_leverage]")
        return tuple(tuple(r) for r in value)
    raise _fail(source, where, f"cannot read a value of type {kind}")  # pragma: no cover


_NS_SCALE = {  # fields that become integer nanoseconds, and their unit in ns
    "run.duration": 1e9, "exchange.feed_interval_ms": 1e6, "exchange.feed_latency_ms": 1e6,
    "exchange.service_us": 1e3, "exchange.latency.ms": 1e6, "exchange.latency.high_ms": 1e6,
    "exchange.latency.floor_ms": 1e6, "oracle.interval_ms": 1e6,
    "oracle.basis_halflife_s": 1e9, "funding.interval_s": 1e9, "funding.sample_s": 1e9,
    "scenario.step_s": 1e9, "scenario.crash_at_s": 1e9, "scenario.fall_s": 1e9,
    "scenario.recover_s": 1e9, "output.account_snapshot_s": 1e9, "agents.latency_ms": 1e6,
    "liquidation.latency_ms": 1e6, "liquidation.interval_ms": 1e6,
}


MAX_NS = 2**63 - 1
"""Simulated times are int64 nanoseconds in the event tables: about 292 years."""
MAX_PATH_POINTS = 10_000_000
"""Most index points a sampled path may have (``run.duration / scenario.step_s``): the
path is built in memory before the run, one Python float per point."""
MAX_AGENTS = 1_000_000
"""Most agents in one run (every ``[[agents]]`` count together): each is an account,
a context and a task built before the run starts."""


def _check_range(rule: str, value: object, where: str, source: str) -> None:
    if rule in _CHOICES and value not in _CHOICES[rule]:
        near = difflib.get_close_matches(str(value), _CHOICES[rule], n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise _fail(source, where, f"{value!r} is not one of {', '.join(_CHOICES[rule])}{hint}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise _fail(source, where, f"must be a finite number, got {value!r}")
        scale = _NS_SCALE.get(rule)
        if scale is not None and value * scale > MAX_NS:
            raise _fail(source, where, f"{value!r} is beyond the longest simulated time "
                        "exsim counts (2**63 - 1 ns, about 292 years)")
        if scale is not None and value > 0 and round(value * scale) < 1:
            raise _fail(source, where, f"{value!r} is below 1 ns of simulated time")
        if rule in _POSITIVE and not value > 0:
            raise _fail(source, where, f"must be > 0, got {value!r}")
        if rule in _NON_NEGATIVE and not value >= 0:
            raise _fail(source, where, f"must be >= 0, got {value!r}")
        if rule in _FRACTION and not 0 <= value <= 1:
            raise _fail(source, where, f"must be between 0 and 1, got {value!r}")


_TOP = {"run": RunConfig, "exchange": ExchangeConfig, "scenario": ScenarioConfig,
        "oracle": OracleConfig, "funding": FundingConfig, "output": OutputConfig,
        "liquidation": LiquidationConfig}
_ARRAYS = {"symbols": SymbolConfig, "agents": AgentConfig, "spot": SpotConfig}


def parse_config(data: Mapping[str, Any], source: str = "<config>") -> Config:
    """Validate a parsed TOML document."""
    kwargs: dict[str, Any] = {}
    valid = sorted([*_TOP, *_ARRAYS])
    liquidation = data.get("liquidation")
    if isinstance(liquidation, dict) and isinstance(liquidation.get("fund_initial"), list):
        raise _fail(source, "liquidation.fund_initial",
                    "one number, not a list: with fund_scope = 'per_symbol' every symbol's "
                    "fund starts with it")
    for key, value in data.items():
        if key in _TOP:
            kwargs[key] = _build(_TOP[key], value, key, source)
        elif key in _ARRAYS:
            if not isinstance(value, list):
                raise _fail(source, key, f"expected [[{key}]] entries, got {value!r}")
            kwargs[key] = tuple(_build(_ARRAYS[key], v, f"{key}[{i}]", source)
                                for i, v in enumerate(value))
        elif key == "sweep":
            continue  # read by exsim.sweep; a single run ignores it
        else:
            near = difflib.get_close_matches(key, [*valid, "sweep"], n=1)
            hint = (f"; did you mean '{near[0]}'?" if near
                    else f"; valid sections: {', '.join([*valid, 'sweep'])}")
            raise _fail(source, key, f"unknown section{hint}")
    config = Config(**kwargs)
    if not config.symbols:
        raise _fail(source, "symbols", "at least one [[symbols]] entry is needed")
    _check_symbols(config.symbols, source)
    atoms = {sym.cash_atom for sym in config.symbols}
    if len({Decimal(a) for a in atoms}) > 1:
        raise _fail(source, "symbols", "all symbols must share one cash_atom (one wallet per "
                    f"account), got {sorted(atoms)}")
    contract = config.symbols[0].spec().contract
    _check_agents(config, contract, source)
    _check_venues(config, source)
    _check_scenario(config, source)
    _check_output(config.output, source)
    if config.scenario.kind == "csv":
        if not config.scenario.csv:
            raise _fail(source, "scenario.csv", "a csv scenario needs a file")
        csv_file = Path(config.scenario.csv)
        if not csv_file.is_absolute() and source != "<config>":
            csv_file = Path(source).parent / csv_file
        if not csv_file.is_file():
            raise _fail(source, "scenario.csv", f"no such file: {csv_file}")
        from exsim.scenarios.paths import csv_path

        try:
            csv_path(str(csv_file))
        except ValueError as exc:
            raise _fail(source, "scenario.csv", str(exc)) from None
        config = attrs.evolve(config, scenario=attrs.evolve(config.scenario, csv=str(csv_file)))
    if config.scenario.kind == "candles":
        config = _check_candles(config, source)
    steps = config.liquidation.steps
    last = ("adl", "clawback", "oi_funding")
    known = ("backstop", "insurance_fund", *last)
    for step in steps:
        if step not in known:
            near = difflib.get_close_matches(step, known, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else f"; known: {', '.join(known)}"
            raise _fail(source, "liquidation.steps", f"unknown step {step!r}{hint}")
    core_steps = steps[1:] if steps[:1] == ("backstop",) else steps
    if not core_steps or core_steps[0] != "insurance_fund" or len(set(steps)) != len(steps) or (
            len(core_steps) > 2 or (len(core_steps) == 2 and core_steps[1] not in last)):
        raise _fail(source, "liquidation.steps",
                    f"{list(steps)} is not a waterfall: it starts with 'insurance_fund' (after "
                    "an optional 'backstop') and may end with one of 'adl', 'clawback', "
                    "'oi_funding'")
    if "backstop" in steps and config.liquidation.vault_capital <= 0:
        raise _fail(source, "liquidation.vault_capital",
                    "a 'backstop' step needs a vault with capital > 0")
    if config.liquidation.tolerance >= 1:
        raise _fail(source, "liquidation.tolerance", "must be below 1")
    if config.liquidation.vault_haircut >= 1:
        raise _fail(source, "liquidation.vault_haircut", "must be below 1")
    _check_liquidation(config.liquidation, data.get("liquidation", {}), contract, source)
    if config.funding.sample_s > config.funding.interval_s:
        raise _fail(source, "funding.sample_s", "must not exceed funding.interval_s")
    if not -100 < config.scenario.drop < 1:
        raise _fail(source, "scenario.drop",
                    f"must be below 1 (and above -100 for a pump), got {config.scenario.drop}")
    if config.exchange.latency.kind == "uniform" and (
            config.exchange.latency.high_ms < config.exchange.latency.ms):
        raise _fail(source, "exchange.latency.high_ms", "must be >= exchange.latency.ms")
    return config


def _check_venues(config: Config, source: str) -> None:
    """Spot venues, the index made of them, agents' venues; and their grids and amounts."""
    from exsim.venues import VenueError, venues_of

    try:
        venues = venues_of(config)
    except VenueError as exc:
        raise _fail(source, exc.key, str(exc)) from None
    for i, venue in enumerate(config.spot):
        for key in ("maker_fee", "taker_fee", "market_band"):
            try:
                rate_ppm(getattr(venue, key), key)
            except UnitsError as exc:
                raise _fail(source, f"spot[{i}].{key}", str(exc)) from None
        if not 0 < rate_ppm(venue.market_band, "market_band") < 1_000_000:
            raise _fail(source, f"spot[{i}].market_band", "must be > 0 and < 1")
        if rate_ppm(venue.taker_fee, "taker_fee") < 0 or (
                rate_ppm(venue.maker_fee, "maker_fee") + rate_ppm(venue.taker_fee, "taker_fee")
                < 0):
            raise _fail(source, f"spot[{i}].taker_fee", "must be >= 0 and cover a maker rebate")
    for i, a in enumerate(config.agents):
        grid = config.symbols[venues.perp_of[venues.home[i]]].spec().contract
        for key, value, to in (("coin", a.coin, grid.qty_to_lots),
                               ("hedge_cash", a.hedge_cash, grid.cash_to_atoms),
                               ("hedge_coin", a.hedge_coin, grid.qty_to_lots)):
            try:
                to(value)
            except UnitsError as exc:
                raise _fail(source, f"agents[{i}].{key}", str(exc)) from None


def _check_candles(config: Config, source: str) -> Config:
    """A candles scenario's file, window and grid; returns the config with the file resolved."""
    from exsim.scenarios.candles import MINUTE_S, CandleError, read_candles, resolve, shipped
    from exsim.scenarios.candles import window as candle_window

    sc = config.scenario
    if not sc.candles:
        raise _fail(source, "scenario.candles", "a candles scenario needs a file (shipped: "
                    f"{', '.join(shipped())})")
    base = Path(source).parent if source != "<config>" else None
    path = resolve(sc.candles, base)
    if not path.is_file():
        raise _fail(source, "scenario.candles", f"no such file: {path} (shipped: "
                    f"{', '.join(shipped())})")
    step = sc.step_s
    if step != int(step) or MINUTE_S % int(step):
        raise _fail(source, "scenario.step_s", f"a candles path needs a whole number of "
                    f"seconds that divides 60, got {step!r}")
    try:
        rows = candle_window(read_candles(path), sc.candles_start, config.run.duration,
                             "scenario.candles_start")
    except CandleError as exc:
        raise _fail(source, "scenario.candles", str(exc)) from None
    if len(rows) * MINUTE_S < config.run.duration:
        raise _fail(source, "run.duration", f"{config.run.duration:g} s is longer than the "
                    f"{len(rows)} minutes of {path.name} from the first replayed minute")
    return attrs.evolve(config, scenario=attrs.evolve(sc, candles=str(path)))


def _check_symbols(symbols: tuple[SymbolConfig, ...], source: str) -> None:
    """Each symbol's grid, brackets and spec; names distinct (the core looks symbols up by name)."""
    seen: dict[str, int] = {}
    for i, sym in enumerate(symbols):
        where = f"symbols[{i}]"
        if sym.name in seen:
            raise _fail(source, f"{where}.name",
                        f"{sym.name!r} is already the name of symbols[{seen[sym.name]}]")
        seen[sym.name] = i
        try:
            contract = sym.contract()
        except UnitsError as exc:
            raise _fail(source, where, str(exc)) from None
        try:
            brackets_from_quote(contract, sym.brackets)
        except (UnitsError, SymbolError, MarginConfigError) as exc:
            raise _fail(source, f"{where}.brackets", str(exc)) from None
        try:
            sym.spec()
        except (UnitsError, SymbolError, MarginConfigError) as exc:
            raise _fail(source, where, str(exc)) from None


def _check_agents(config: Config, contract: LinearContract, source: str) -> None:
    """Deposits on the cash grid, leverage every symbol allows, a run's number of agents."""
    total = 0
    specs = [sym.spec() for sym in config.symbols]
    for i, agent in enumerate(config.agents):
        try:
            contract.cash_to_atoms(agent.deposit)
        except UnitsError as exc:
            raise _fail(source, f"agents[{i}].deposit", str(exc)) from None
        for spec in specs:
            if agent.leverage > spec.max_leverage:
                raise _fail(source, f"agents[{i}].leverage",
                            f"{agent.leverage} is above {spec.name}'s max leverage "
                            f"{spec.max_leverage}")
        total += agent.count
        if total > MAX_AGENTS:
            raise _fail(source, f"agents[{i}].count",
                        f"{agent.count} makes {total} agents; a run holds at most {MAX_AGENTS:,}")


def _check_scenario(config: Config, source: str) -> None:
    """A start price every symbol's tick grid can hold, and a path that fits in memory."""
    sc = config.scenario
    if sc.kind in ("gbm", "merton") and config.run.duration / sc.step_s > MAX_PATH_POINTS:
        raise _fail(source, "scenario.step_s",
                    f"{sc.step_s!r} gives {config.run.duration / sc.step_s:.3g} index points "
                    f"over run.duration {config.run.duration!r}; at most {MAX_PATH_POINTS:,} "
                    "(raise step_s for a long run)")
    if sc.kind == "csv":
        return  # its prices are checked against the grid with the path (exsim.scenarios)
    for sym in config.symbols:
        ticks = sc.start_price / float(sym.tick_size)  # checked a decimal > 0 by now
        if not 1 <= ticks < MAX_UNITS:
            raise _fail(source, "scenario.start_price",
                        f"{sc.start_price!r} is {ticks:.6g} ticks of {sym.name} (tick_size "
                        f"{sym.tick_size}); a price is at least 1 tick and below 2**53 ticks")


def _check_output(out: OutputConfig, source: str) -> None:
    """A run directory is ``output.dir/<name>-seed<N>``: the name must not leave ``dir``."""
    name = out.name
    if not name or "/" in name or "\\" in name or "\0" in name or ".." in name or name == ".":
        raise _fail(source, "output.name",
                    f"{name!r} must be a plain name, without '/', '\\' or '..': runs are "
                    "written to output.dir/<name>-seed<N>")


def _check_liquidation(lc: LiquidationConfig, table: Mapping[str, Any],
                       contract: LinearContract, source: str) -> None:
    """The checks of ``[liquidation]`` that span keys or need the cash grid."""
    for key in ("fund_initial", "vault_capital", "min_step_notional", "max_step_notional",
                "max_fund_notional"):
        try:
            contract.cash_to_atoms(getattr(lc, key))
        except UnitsError as exc:
            raise _fail(source, f"liquidation.{key}", str(exc)) from None
    for key in ("max_fraction", "fee_cap", "vault_haircut"):
        try:
            rate_ppm(getattr(lc, key), key)
        except UnitsError as exc:
            raise _fail(source, f"liquidation.{key}",
                        f"{exc} (rates are kept in parts per million)") from None
    for key, (switch, needed) in _ONLY_WITH.items():
        if key in table and getattr(lc, switch) != needed:
            raise _fail(source, f"liquidation.{key}",
                        f"only used with {switch} = {needed!r} (it is {getattr(lc, switch)!r})")
    if 0 < lc.max_step_notional < lc.min_step_notional:
        raise _fail(source, "liquidation.min_step_notional",
                    f"{lc.min_step_notional} exceeds max_step_notional {lc.max_step_notional}")


def config_sha256(config: Config, seed: int) -> str:
    """The identity of a run: sha256 of its validated config with the seed it runs with.

    A run's outcome is a function of this (and of the code: agent classes and exsim's
    version are not in it).  The config is hashed as canonical JSON (sorted keys);
    ``run.seed`` is replaced by ``seed``, which is what the run uses, and a CSV
    scenario's file by the sha256 of its bytes, so that editing the file (or moving
    it) changes the identity exactly when the index changes.  A sweep reuses a run
    only when this matches (:mod:`exsim.sweep`).
    """
    data = attrs.asdict(attrs.evolve(config, run=attrs.evolve(config.run, seed=seed)))
    if config.scenario.kind == "csv":
        digest = hashlib.sha256(Path(config.scenario.csv).read_bytes()).hexdigest()
        data["scenario"]["csv"] = f"sha256:{digest}"
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def load_document(path: str | Path | None = None) -> tuple[dict[str, Any], str]:
    """The parsed TOML document of a config file (not yet validated) and its name."""
    p = Path(path) if path is not None else QUICKSTART
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(text), str(p)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate a TOML config; ``None`` loads the built-in quickstart."""
    return parse_config(*load_document(path))
