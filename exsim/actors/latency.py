"""Latency models for the network's delay lines, in integer nanoseconds, always > 0.

A model draws from the RNG it is handed (the sender's own stream), so the
latencies a sender sees depend only on the run seed and the order of that
sender's own messages, never on how trio happened to schedule other tasks.
A strictly positive latency is what lets the network deliver everything due
at an instant in one deterministic pass: nothing sent at ``t`` can be due at ``t``.
"""

from __future__ import annotations

import math
import random
from typing import Protocol

import attrs


class LatencyModel(Protocol):
    def draw(self, rng: random.Random) -> int:
        """One latency in nanoseconds, >= 1."""
        ...


def _positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0:
        raise ValueError(f"latency {attribute.name} must be > 0 ns, got {value}")


@attrs.frozen
class Constant:
    """Every message takes ``ns``."""

    ns: int = attrs.field(validator=_positive)

    def draw(self, rng: random.Random) -> int:
        return self.ns


@attrs.frozen
class Uniform:
    """Uniform on ``[low_ns, high_ns]`` (integers)."""

    low_ns: int = attrs.field(validator=_positive)
    high_ns: int = attrs.field(validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.high_ns < self.low_ns:
            raise ValueError(f"uniform latency: high {self.high_ns} < low {self.low_ns}")

    def draw(self, rng: random.Random) -> int:
        return rng.randint(self.low_ns, self.high_ns)


@attrs.frozen
class LogNormal:
    """Log-normal with the given median and shape ``sigma``, never below ``floor_ns``.

    Network latencies have a floor (propagation) and a long right tail
    (queues, retransmits); the floor keeps every draw strictly positive.
    """

    median_ns: int = attrs.field(validator=_positive)
    sigma: float = attrs.field(default=0.5)
    floor_ns: int = attrs.field(default=1, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if not (self.sigma >= 0 and math.isfinite(self.sigma)):
            raise ValueError(f"lognormal latency: sigma must be finite and >= 0, got {self.sigma}")

    def draw(self, rng: random.Random) -> int:
        value = round(self.median_ns * math.exp(self.sigma * rng.gauss(0.0, 1.0)))
        return value if value > self.floor_ns else self.floor_ns
