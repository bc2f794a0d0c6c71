"""The summary's market section, worked out by hand on a small log."""

from __future__ import annotations

import pytest

from exsim.core.events import ACCEPTED, ACCOUNT, CANCELLED, FILL, LIQUIDATION, MARK
from exsim.core.orders import BUY, GTC, IOC, LIMIT, SELL
from exsim.output.market import LIQUIDATION_ORDER, crash_start, market_summary
from exsim.scenarios.index_path import IndexPath

S = 10**9


def test_crash_start_is_the_peak_before_the_deepest_fall() -> None:
    path = IndexPath([0, 10 * S, 20 * S, 30 * S, 40 * S, 50 * S], [100, 110, 90, 120, 80, 85])
    assert crash_start(path, 50 * S) == 30 * S  # 120 -> 80 (-33%) beats 110 -> 90
    assert crash_start(IndexPath([0, S], [1.0, 2.0]), S) == 0  # never falls: the start


def test_a_small_crash_by_hand() -> None:
    """Tick 1.0, k 1, atom 1: one symbol, a fundamental from 100 at 10 s to 80 at 20 s.

    Makers rest 10 lots at 99 and 10 at 101 (mid 100: both within 1%) and 5 at 95; a
    trader (acct 7) is long 20 at 100 with 400 of wallet at the snapshot at 10 s: equity
    400 + 20 x (100 - 100) = 400, notional 2,000: leverage 5.  Then the fund (-1) takes
    over 20 lots at 96 and sells 8 of them in the book at 99 (a liquidation order), the
    ask is cancelled, marks go to 90 and 85; the index (the mark's third field) to 88."""
    fundamental = IndexPath([0, 10 * S, 20 * S, 30 * S], [100.0, 100.0, 80.0, 80.0])
    oid = LIQUIDATION_ORDER | 1
    log = [
        (0, (ACCEPTED, 0, 1, 2, BUY, 99, 10, LIMIT, GTC, 0)),
        (0, (ACCEPTED, 0, 2, 2, SELL, 101, 10, LIMIT, GTC, 0)),
        (0, (ACCEPTED, 0, 3, 2, BUY, 95, 5, LIMIT, GTC, 0)),
        (S, (MARK, 0, 100, 100)),
        (10 * S, (MARK, 0, 100, 100)),
        (10 * S, (ACCOUNT, 7, 0, 20, 2000, 0, 400, 0, 3)),
        (10 * S, (ACCOUNT, 9, -1, 0, 0, 0, 50, 50, 0)),  # flat: no leverage
        (12 * S, (LIQUIDATION, 0, 7, 20, 96, 97, -80, -1, 0)),
        (12 * S, (ACCEPTED, 0, oid, -1, SELL, 99, 8, LIMIT, IOC, 2)),
        (12 * S, (FILL, 0, 99, 8, oid, -1, SELL, 1, 2, 0, 0, 24, 0)),
        (13 * S, (MARK, 0, 90, 88)),
        (14 * S, (CANCELLED, 0, 2, 2, 10, 1)),
        (15 * S, (MARK, 0, 85, 92)),
    ]
    out = market_summary(log, names=["X"], k=[1], tick=[1.0], cash_atom=1.0,
                         fundamental=[fundamental], end_ns=30 * S, house=[-1],
                         configured_max=50)["X"]
    assert out["crash_start_s"] == 10.0
    assert out["fundamental_drawdown"] == pytest.approx(0.2)
    assert out["mark_drawdown"] == pytest.approx(0.15)
    assert out["index_drawdown"] == pytest.approx(0.12)
    assert out["last_drawdown"] == 0.0  # one trade, after the crash start: its own level
    # at 13 s the fundamental is 94 (a third of the way from 100 to 80) and the index 88
    assert out["max_index_deviation"] == pytest.approx(6 / 94)
    assert out["liquidated_in_book_notional"] == 8 * 99
    assert out["liquidated_takeover_notional"] == 20 * 96 - 8 * 99
    # depth at the crash start (the mark at 10 s): 10 x 99 + 10 x 101 = 2,000 within 1%;
    # open interest then 0 (no fills yet): the ratio is infinite
    assert out["depth_1pct_start"] == 2000
    # lowest after it: at 13 s, 2 lots left at 99 (95 is beyond 1% of the mid, 100)
    # and 10 at 101: 1,208 against open interest of 20 lots at 90; at 15 s the asks are
    # gone (one side empty: not sampled)
    assert out["depth_1pct_min"] == 2 * 99 + 10 * 101
    assert out["depth_1pct_min_over_oi"] == pytest.approx(1208 / 1800)
    # acct 7 at the worst mark after the snapshot (85): 400 - 20 x 15 = 100 left: no loss
    assert out["largest_stressed_losses"] == []
    assert out["realised_leverage"] == {"p50": 5.0, "p90": 5.0, "max": 5.0, "underwater": 0,
                                        "configured_max": 50}
