"""Simulated time is an integer number of nanoseconds; these convert it."""

from __future__ import annotations

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


def ns(seconds: float) -> int:
    """Seconds (as a config states them) to integer nanoseconds."""
    return round(seconds * NS_PER_S)
