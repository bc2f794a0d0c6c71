"""Real crash paths: one-minute OHLC candles turned into a fundamental-value path.

A candle says where the price opened, how high and how low it went, and where it
closed in one minute; not the order.  :func:`candle_path` draws, from the run's
seed, one path per minute that starts at the open, touches the high and the low
exactly (in a seeded order: the low first more often in a rising minute), and
ends at the close, on the scenario's ``step_s`` grid.  Between those four anchor
points it is a Brownian bridge kept inside ``[low, high]``, so a minute's range is
honoured both ways: never exceeded, always reached.

The files shipped in ``exsim/data`` are Binance USD-M BTCUSDT perpetual candles
of four crashes (provenance in ``exsim/data/README.md``); a config names one by
its file name, or gives any file of the same format
(``time_utc,open,high,low,close[,volume]``, one row per minute, no gaps).
"""

from __future__ import annotations

import csv
import itertools
import math
import random
from datetime import UTC, datetime
from pathlib import Path

import attrs

from exsim.scenarios.index_path import IndexPath
from exsim.timeunits import NS_PER_S

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
MINUTE_S = 60


class CandleError(ValueError):
    """A candle file that cannot be a price path; the message names the file and row."""


@attrs.frozen
class Candle:
    start: datetime  # the minute's open time (UTC)
    open: float
    high: float
    low: float
    close: float


def shipped() -> list[str]:
    """File names of the candle files that come with exsim."""
    return sorted(p.name for p in DATA_DIR.glob("*.csv"))


def resolve(name: str, base: Path | None) -> Path:
    """A candle file: absolute, relative to ``base`` (the config's folder), or shipped."""
    path = Path(name)
    if path.is_absolute():
        return path
    if base is not None and (base / path).is_file():
        return base / path
    if (DATA_DIR / path).is_file():
        return DATA_DIR / path
    return (base / path) if base is not None else path


def _time(text: str, where: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CandleError(f"{where}: time {text!r} is not ISO-8601 UTC "
                          "(YYYY-MM-DDTHH:MM:SSZ)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t


def read_candles(path: Path) -> list[Candle]:
    """Every row of a candle file, checked: continuous minutes, positive, consistent prices."""
    out: list[Candle] = []
    try:
        text = path.read_text()
    except OSError as exc:
        raise CandleError(f"{path}: cannot read: {exc.strerror}") from None
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if header is None or [h.strip() for h in header[:5]] != [
            "time_utc", "open", "high", "low", "close"]:
        raise CandleError(f"{path}:1: expected the header 'time_utc,open,high,low,close'")
    for n, row in enumerate(rows, start=2):
        where = f"{path}:{n}"
        if not row:
            continue
        if len(row) < 5:
            raise CandleError(f"{where}: expected time_utc,open,high,low,close")
        start = _time(row[0], where)
        try:
            o, h, lo, c = (float(v) for v in row[1:5])
        except ValueError:
            raise CandleError(f"{where}: prices must be numbers, got {row[1:5]}") from None
        if not all(math.isfinite(v) and v > 0 for v in (o, h, lo, c)):
            raise CandleError(f"{where}: prices must be finite and > 0, got {row[1:5]}")
        if not lo <= min(o, c) <= max(o, c) <= h:
            raise CandleError(f"{where}: need low <= open, close <= high, got {row[1:5]}")
        if out:
            step = (start - out[-1].start).total_seconds()
            if step <= 0:
                raise CandleError(f"{where}: times must increase ({row[0]} after "
                                  f"{out[-1].start:%Y-%m-%dT%H:%M:%SZ})")
            if step != MINUTE_S:
                raise CandleError(f"{where}: a gap of {step:g} s before {row[0]}: rows "
                                  "must be consecutive minutes")
        out.append(Candle(start, o, h, lo, c))
    if not out:
        raise CandleError(f"{path}: no candles")
    return out


def window(candles: list[Candle], start: str, duration_s: float, where: str) -> list[Candle]:
    """The candles from ``start`` (ISO UTC; empty: the first) covering ``duration_s``."""
    first = 0
    if start:
        at = _time(start, where)
        found = [i for i, c in enumerate(candles) if c.start == at]
        if not found:
            raise CandleError(f"{where}: {start!r} is not a minute of the file (it runs from "
                              f"{candles[0].start:%Y-%m-%dT%H:%M:%SZ} to "
                              f"{candles[-1].start:%Y-%m-%dT%H:%M:%SZ})")
        first = found[0]
    minutes = max(1, math.ceil(duration_s / MINUTE_S))
    return candles[first:first + minutes]


def _bridge(rng: random.Random, a: float, b: float, steps: int, lo: float, hi: float,
            scale: float) -> list[float]:
    """``steps`` points after ``a`` ending exactly at ``b``: a Brownian bridge in [lo, hi]."""
    out = []
    x = 0.0
    for _ in range(1, steps):
        # a random walk pinned to 0 at the end: x_i - (i / steps) x_steps
        x += rng.gauss(0.0, scale)
        out.append(x)
    x += rng.gauss(0.0, scale)
    pts = []
    for i, w in enumerate(out, start=1):
        frac = i / steps
        level = a + (b - a) * frac + w - frac * x
        pts.append(min(hi, max(lo, level)))
    pts.append(b)
    return pts


def candle_path(candles: list[Candle], step_s: int, seed_rng: random.Random,
                scale: float = 1.0) -> IndexPath:
    """One seeded path through every candle (see the module docstring), times from 0.

    ``step_s`` divides a minute; each minute has ``60 / step_s`` points, the open at
    its start, the high and the low at two distinct seeded grid points, the close at
    its last point; ``scale`` multiplies every price (a rescaled start price).
    """
    per = MINUTE_S // step_s
    step_ns = step_s * NS_PER_S
    times: list[int] = []
    prices: list[float] = []
    for m, c in enumerate(candles):
        o, h, lo, cl = c.open * scale, c.high * scale, c.low * scale, c.close * scale
        base = m * per
        if per < 4:  # too coarse for four anchors: the open and the close
            anchors = [(0, o), (per - 1, cl)] if per > 1 else [(0, cl)]
        else:
            t1, t2 = sorted(seed_rng.sample(range(1, per - 1), 2))
            low_first = seed_rng.random() < (0.75 if cl >= o else 0.25)
            first, second = (lo, h) if low_first else (h, lo)
            anchors = [(0, o), (t1, first), (t2, second), (per - 1, cl)]
        times.append(base * step_ns)
        prices.append(anchors[0][1])
        noise = (h - lo) * 0.15 / math.sqrt(per)
        for (ta, pa), (tb, pb) in itertools.pairwise(anchors):
            for j, p in enumerate(_bridge(seed_rng, pa, pb, tb - ta, lo, h, noise), start=1):
                times.append((base + ta + j) * step_ns)
                prices.append(p)
    return IndexPath(times, prices)
