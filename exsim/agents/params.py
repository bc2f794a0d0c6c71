"""Typed parameters for built-in agents: defaults, and errors that name the bad key."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any


def read_params(agent: str, defaults: Mapping[str, float], given: Mapping[str, Any],
                positive: tuple[str, ...] = ()) -> dict[str, float]:
    """``defaults`` updated with ``given``; unknown keys, non-numbers and, for the keys in
    ``positive`` (intervals, sizes), values that are not > 0 are errors."""
    out = dict(defaults)
    for key, value in given.items():
        if key not in defaults:
            near = difflib.get_close_matches(key, list(defaults), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else f"; known: {', '.join(defaults)}"
            raise ValueError(f"{agent}: unknown parameter '{key}'{hint}")
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or value < 0):
            raise ValueError(f"{agent}: parameter '{key}' must be a number >= 0, got {value!r}")
        if key in positive and value <= 0:
            raise ValueError(f"{agent}: parameter '{key}' must be > 0, got {value!r}")
        out[key] = float(value)
    return out
