"""Index paths sampled on a fixed step (or read from CSV), interpolated in between.

A path is computed once, up front, from the run seed (its own RNG stream), so
the index at any simulated instant is a pure function of (config, seed, t):
the oracle and any agent that peeks at the index agree, whatever trio does.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from exsim.config import ConfigError, ScenarioConfig
from exsim.core.engine import MAX_UNITS
from exsim.core.units import LinearContract
from exsim.rng import stream
from exsim.scenarios.candles import candle_path, read_candles, window
from exsim.scenarios.index_path import IndexPath
from exsim.timeunits import NS_PER_S

SECONDS_PER_YEAR = 365.25 * 86400


def gbm(cfg: ScenarioConfig, duration_s: float, seed: int) -> IndexPath:
    rng = stream(seed, "scenario", "gbm")
    dt = cfg.step_s / SECONDS_PER_YEAR
    steps = max(1, math.ceil(duration_s / cfg.step_s))
    price = cfg.start_price
    times, prices = [0], [price]
    drift = (cfg.drift - 0.5 * cfg.volatility ** 2) * dt
    shock = cfg.volatility * math.sqrt(dt)
    for i in range(1, steps + 1):
        price *= math.exp(drift + shock * rng.gauss(0.0, 1.0))
        times.append(round(i * cfg.step_s * NS_PER_S))
        prices.append(price)
    return IndexPath(times, prices)


def merton(cfg: ScenarioConfig, duration_s: float, seed: int) -> IndexPath:
    """GBM plus Poisson jumps: ``jump_rate`` per year, log-jump ~ N(jump_mean, jump_std)."""
    rng = stream(seed, "scenario", "merton")
    dt = cfg.step_s / SECONDS_PER_YEAR
    steps = max(1, math.ceil(duration_s / cfg.step_s))
    # compensate the drift so that jumps do not move the expected price
    kappa = math.exp(cfg.jump_mean + 0.5 * cfg.jump_std ** 2) - 1
    drift = (cfg.drift - 0.5 * cfg.volatility ** 2 - cfg.jump_rate * kappa) * dt
    shock = cfg.volatility * math.sqrt(dt)
    p_jump = cfg.jump_rate * dt
    price = cfg.start_price
    times, prices = [0], [price]
    for i in range(1, steps + 1):
        log_return = drift + shock * rng.gauss(0.0, 1.0)
        if rng.random() < p_jump:
            log_return += rng.gauss(cfg.jump_mean, cfg.jump_std)
        price *= math.exp(log_return)
        times.append(round(i * cfg.step_s * NS_PER_S))
        prices.append(price)
    return IndexPath(times, prices)


def csv_path(path: str) -> IndexPath:
    """Replay ``timestamp,price`` rows (seconds from the start, or any increasing seconds).

    Timestamps are shifted so the first row is t = 0.  Lines starting with ``#``
    are comments; the first other line may be a header.
    """
    times: list[int] = []
    prices: list[float] = []
    header_allowed = True
    with open(path, newline="") as fh:
        for n, row in enumerate(csv.reader(fh), start=1):
            if not row or row[0].strip().startswith("#"):
                continue
            try:
                t, p = float(row[0]), float(row[1])
            except (ValueError, IndexError):
                if header_allowed:
                    header_allowed = False
                    continue
                raise ValueError(f"{path}:{n}: expected 'timestamp,price', got {row!r}") from None
            header_allowed = False
            if not (math.isfinite(t) and math.isfinite(p)) or p <= 0:
                raise ValueError(f"{path}:{n}: timestamp must be finite and price > 0")
            t_ns = round(t * NS_PER_S)
            if times and t_ns <= times[-1]:
                raise ValueError(f"{path}:{n}: timestamps must increase")
            times.append(t_ns)
            prices.append(p)
    if not times:
        raise ValueError(f"{path}: no rows")
    start = times[0]
    return IndexPath([t - start for t in times], prices)


def flash_crash(cfg: ScenarioConfig, duration_s: float) -> IndexPath:
    """Flat, then a linear drop of ``drop`` over ``fall_s``, then a partial recovery."""
    start = cfg.start_price
    bottom = start * (1 - cfg.drop)
    recovered = bottom + (start - bottom) * cfg.recovery
    t_crash = cfg.crash_at_s
    points = [(0.0, start), (t_crash, start), (t_crash + cfg.fall_s, bottom),
              (t_crash + cfg.fall_s + cfg.recover_s, recovered)]
    times: list[int] = []
    prices: list[float] = []
    for t, p in points:
        ns = round(t * NS_PER_S)
        if times and ns <= times[-1]:
            continue
        times.append(ns)
        prices.append(p)
    return IndexPath(times, prices)


def make_path(cfg: ScenarioConfig, duration_s: float, seed: int) -> IndexPath:
    """The index path of ``cfg``; :class:`ConfigError` naming its keys if it leaves floats."""
    try:
        if cfg.kind == "gbm":
            return gbm(cfg, duration_s, seed)
        if cfg.kind == "merton":
            return merton(cfg, duration_s, seed)
        if cfg.kind == "flash_crash":
            return flash_crash(cfg, duration_s)
        if cfg.kind == "csv":
            return csv_path(cfg.csv)
        if cfg.kind == "candles":
            rows = window(read_candles(Path(cfg.candles)), cfg.candles_start, duration_s,
                          "scenario.candles_start")
            scale = cfg.start_price / rows[0].open if cfg.rescale else 1.0
            return candle_path(rows, int(cfg.step_s), stream(seed, "scenario", "candles"),
                               scale)
        return IndexPath([0], [cfg.start_price])
    except (OverflowError, ValueError) as exc:  # exp() overflowed, or a price reached 0
        raise ConfigError(f"scenario: the {cfg.kind} index path cannot be computed ({exc}); "
                          f"check {_knobs(cfg)}") from None


# the keys that shape each kind's path, named when it leaves the price grid
_KNOBS = {"gbm": ("start_price", "step_s", "volatility", "drift"),
          "merton": ("start_price", "step_s", "volatility", "drift", "jump_rate", "jump_mean",
                     "jump_std"),
          "flash_crash": ("start_price", "drop", "recovery"),
          "csv": ("csv",), "constant": ("start_price",)}


def _knobs(cfg: ScenarioConfig) -> str:
    return ", ".join(f"scenario.{k} = {getattr(cfg, k)!r}" for k in _KNOBS[cfg.kind])


def check_path(path: IndexPath, cfg: ScenarioConfig, contract: LinearContract,
               symbol: str) -> None:
    """Every index price of ``path`` is on ``contract``'s price grid: 1 tick to 2**53 ticks.

    The oracle turns the index into a mark in ticks, and the exchange refuses a mark
    outside that range, so a path that leaves it gives a run with no mark (every order
    refused) from there on.  A start price is checked with the config; the rest of a
    sampled path depends on the seed, so this runs when the simulation is built.
    """
    tick = float(contract.tick_size)
    low, high = tick, MAX_UNITS * tick
    prices = path.prices
    if low <= min(prices) and max(prices) < high and math.isfinite(sum(prices)):
        return  # the common case, at C speed (a NaN makes the sum NaN)
    for t_ns, price in zip(path.times_ns, prices, strict=True):
        if not low <= price < high:  # also NaN and inf
            raise ConfigError(
                f"scenario: the {cfg.kind} index path reaches {price:.6g} at "
                f"{t_ns / NS_PER_S:g} s, off {symbol}'s price grid ({low:g} to {high:.6g}, "
                f"1 tick to 2**53 ticks); check {_knobs(cfg)}")
