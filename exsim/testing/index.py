"""An index path the test steers while the exchange runs: step, ramp, crash, or a list of points.

The oracle reads the index at each of its ticks (``at(now)``), so the mark follows
whatever the test sets, through the configured mark method and its clamp.  Changes
only ever reshape the future: the path up to now stays as it was, so the run's
recorded index series is the one the exchange actually saw.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence

from exsim.scenarios.index_path import IndexPath
from exsim.timeunits import NS_PER_S


class UsageError(RuntimeError):
    """exsim's test kit used in a way that cannot work; the message says what to do."""


class SteeredIndex(IndexPath):
    """Piecewise-linear index prices over simulated time, extended by the test as it goes.

    ``now`` is a callable giving the current simulated time in ns (the network's clock).
    """

    def __init__(self, start_price: float, now: Callable[[], int]) -> None:
        if not start_price > 0:
            raise UsageError(f"the index must start above 0, got {start_price!r}")
        super().__init__([0], [float(start_price)])
        self._now = now

    @property
    def price(self) -> float:
        """The index now."""
        return self.at(self._now())

    # ------------------------------------------------------------------ steering
    def _from_now(self) -> int:
        """Drop planned points after now and pin the current value at now; returns now."""
        now = self._now()
        value = self.at(now)
        keep = bisect_right(self.times_ns, now)
        del self.times_ns[keep:], self.prices[keep:]
        if self.times_ns[-1] != now:
            self.times_ns.append(now)
            self.prices.append(value)
        else:
            self.prices[-1] = value
        return now

    def _to(self, t_ns: int, price: float) -> None:
        if not price > 0:
            raise UsageError(f"index prices must be above 0, got {price!r}")
        self.times_ns.append(t_ns)
        self.prices.append(float(price))

    def step(self, price: float) -> None:
        """Jump to ``price`` (1 ns from now); the oracle's next tick sees it."""
        now = self._from_now()
        self._to(now + 1, price)

    def ramp(self, price: float, over: float) -> None:
        """Move linearly to ``price`` over ``over`` simulated seconds."""
        self.path([(over, price)])

    def crash(self, drop: float, over: float, recover: float = 0.0,
              recover_over: float = 0.0) -> None:
        """Fall by the fraction ``drop`` over ``over`` s, then win back ``recover`` of the
        fall over ``recover_over`` s (a negative ``drop`` is a pump)."""
        if not drop < 1:
            raise UsageError(f"drop must be below 1 (a fraction of the price), got {drop!r}")
        start = self.price
        bottom = start * (1 - drop)
        points = [(over, bottom)]
        if recover:
            if not recover_over > 0:
                raise UsageError("a recovery needs recover_over > 0 seconds")
            points.append((over + recover_over, bottom + (start - bottom) * recover))
        self.path(points)

    def path(self, points: Sequence[tuple[float, float]]) -> None:
        """Follow ``(seconds from now, price)`` points, linearly in between."""
        now = self._from_now()
        last = now
        for seconds, price in points:
            t = now + max(1, round(seconds * NS_PER_S))
            if t <= last:
                raise UsageError(f"index points must be at increasing times, got {points!r}")
            self._to(t, price)
            last = t
