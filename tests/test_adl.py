"""ADL ranking and allocation against ../shared/reference/mechanics.md (V18, V19, extras)."""

from __future__ import annotations

import random
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from exsim.core.adl import (
    Candidate,
    allocate,
    binance_score,
    bitmex_score,
    deleverage_queue,
    hyperliquid_score,
    quantiles,
    rank,
)


def short(acct: int, entry: int, bankruptcy: int, qty: int, mark: int = 25_000) -> Candidate:
    return Candidate(acct, -qty, Fraction(entry), mark, Fraction(bankruptcy), 1)


V19 = [short(1, 30_000, 31_000, 20), short(2, 27_000, 27_500, 10), short(3, 26_000, 39_000, 30),
       short(4, 24_000, 26_000, 10), short(5, 35_000, 36_000, 20)]  # A..E, qty in 0.1s


def test_v19_bitmex_scores_order_and_allocation() -> None:
    scores = {c.acct: bitmex_score(c) for c in V19}
    assert round(float(scores[1]), 4) == 0.6944  # A
    assert round(float(scores[2]), 4) == 0.7407  # B
    assert round(float(scores[3]), 4) == 0.0687  # C
    assert round(float(scores[4]), 5) == -0.00167  # D: a loser, PnL% / leverage
    assert round(float(scores[5]), 4) == 0.6494  # E
    ordered = rank(V19, "bitmex")
    assert [c.acct for c in ordered] == [2, 1, 5, 3, 4]  # B, A, E, C, D
    # a long of 2.5 is liquidated with an empty fund: B closes 1.0, A 1.5
    assert allocate(ordered, 25) == [(2, 10), (1, 15)]


def test_v18_bitmex_allocation_by_rank() -> None:
    """Longs by ranking 6..1: accounts 2 (10), 5 (20), 4 (30), 1 (10), 6 (10), 3 (20).
    A short of 20 is liquidated: account 2 closes 10 and account 5 closes 10."""
    ordered = [Candidate(a, q, Fraction(1), 1, None, 1) for a, q in
               [(2, 10), (5, 20), (4, 30), (1, 10), (6, 10), (3, 20)]]
    assert allocate(ordered, 20) == [(2, 10), (5, 10)]


def test_binance_leverage_pnl_vector() -> None:
    # UPnL 40.2, WB 4.27, margin ratio 13.42%: PnL% 9.415, LeveragePnL 1.263
    # in micro-units: MM = 13.42% x (4.27 + 40.2) = 5.967874
    c = Candidate(1, 1, Fraction(1), 1, None, 1, account_wallet=4_270_000,
                  account_upnl=40_200_000, account_mm=5_967_874)
    assert binance_score(c) == Fraction(40_200_000, 4_270_000) * Fraction("0.1342")
    assert round(float(binance_score(c)), 3) == 1.263


def test_hyperliquid_index_vector() -> None:
    # X: entry 100, mark 150, notional 15,000, value 5,000 -> 4.5; Y: 140/150, 30,000/3,000
    x = Candidate(1, 100, Fraction(100), 150, None, 1, account_wallet=5_000)
    y = Candidate(2, 200, Fraction(140), 150, None, 1, account_wallet=3_000)
    assert hyperliquid_score(x) == Fraction(9, 2)
    assert round(float(hyperliquid_score(y)), 2) == 10.71
    assert [c.acct for c in rank([x, y], "hyperliquid")] == [2, 1]
    # a short in profit ranks by entry / mark
    s = Candidate(3, -100, Fraction(150), 100, None, 1, account_wallet=5_000)
    assert hyperliquid_score(s) == Fraction(150, 100) * Fraction(10_000, 5_000)


def test_quantiles_and_dydx_order() -> None:
    q = quantiles(V19, "bitmex")
    assert q == {2: 5, 1: 4, 5: 3, 3: 2, 4: 1}
    # dYdX: no ranking, account-id order from a pseudo-random start
    ids = [1, 2, 3, 4, 5]
    starts = set()
    for seed in range(20):
        order = [c.acct for c in rank(V19, "dydx", random.Random(seed))]
        i = ids.index(order[0])
        assert order == ids[i:] + ids[:i]
        starts.add(i)
    assert len(starts) > 1


@given(st.lists(st.tuples(st.integers(1, 100), st.integers(20_000, 40_000),
                          st.integers(1, 3_000)), min_size=1, max_size=12,
                unique_by=lambda t: t[0]),
       st.integers(20_000, 40_000), st.integers(1, 200))
def test_ranked_adl_takes_winners_before_losers(rows: list[tuple[int, int, int]], mark: int,
                                                qty: int) -> None:
    cands = [Candidate(a, q, Fraction(e), mark, Fraction(e) * Fraction(11, 10), 1)
             for a, e, q in rows]  # longs at 10x-ish
    ordered = rank(cands, "bitmex")
    taken = dict(allocate(ordered, qty))
    winners_left = sum(abs(c.qty) - taken.get(c.acct, 0) for c in cands if c.mark > c.entry)
    losers_hit = [c for c in cands if c.mark < c.entry and taken.get(c.acct)]
    assert not (losers_hit and winners_left)
    assert sum(taken.values()) == min(qty, sum(abs(c.qty) for c in cands))


@given(st.lists(st.tuples(st.integers(1, 100), st.integers(20_000, 40_000),
                          st.integers(-3_000, 3_000).filter(bool)), min_size=1, max_size=12,
                unique_by=lambda t: t[0]),
       st.integers(20_000, 40_000), st.integers(20_000, 40_000), st.integers(1, 5_000),
       st.sampled_from(["bitmex", "binance", "hyperliquid"]))
def test_ranked_adl_never_closes_a_position_at_a_loss(
        rows: list[tuple[int, int, int]], mark: int, price: int, qty: int, policy: str) -> None:
    """Whatever the size to close, a ranked queue holds exactly the positions that close
    in profit at the ADL price, in ranking order (in profit at the mark is not enough:
    the price is the bankrupt position's, beyond the mark)."""
    cands = [Candidate(a, q, Fraction(e), mark, None, 1, account_wallet=10**9,
                       account_upnl=q * (mark - e), account_mm=10**6) for a, e, q in rows]
    queue = deleverage_queue(cands, policy, price)
    winners = [c for c in cands if (price - c.entry) * c.qty > 0]
    assert [c.acct for c in queue] == [c.acct for c in rank(cands, policy) if c in winners]
    taken = dict(allocate(queue, qty))
    assert set(taken) <= {c.acct for c in winners}
    assert sum(taken.values()) == min(qty, sum(abs(c.qty) for c in winners))


def test_in_profit_at_the_mark_but_not_at_the_adl_price_is_left_alone() -> None:
    """The reviewer's case: the fund is long at 26,790, the mark 26,500; a short from
    26,700 is in profit at the mark but would lose 90 closing at 26,790."""
    s2 = Candidate(2, -10, Fraction(26_700), 26_500, None, 1)
    s3 = Candidate(3, -10, Fraction(27_000), 26_500, None, 1)
    assert [c.acct for c in deleverage_queue([s2, s3], "bitmex", 26_790)] == [3]


def test_dydx_queue_is_unranked_and_takes_anyone() -> None:
    cands = [short(1, 30_000, 31_000, 5), short(2, 20_000, 21_000, 5)]  # 2 loses at 25,000
    queue = deleverage_queue(cands, "dydx", 25_000, random.Random(3))
    assert sorted(c.acct for c in queue) == [1, 2]
    assert [c.acct for c in deleverage_queue(cands, "bitmex", 25_000)] == [1]
