"""The engine's flat pre-trade check against a slow one built from the account views.

``ExchangeCore._risk_check`` is written out flat for speed.  The reference
here says the same thing the slow way: attach the order to the position,
recompute the position's claim with ``Position.claim`` and the account's
available balance with ``available_balance``, and decide.
"""

from __future__ import annotations

from core_helpers import spec
from hypothesis import given, settings
from hypothesis import strategies as st

from exsim.core.accounts import Account, Position, available_balance
from exsim.core.engine import ExchangeCore
from exsim.core.margin import max_leverage_for
from exsim.core.orders import BUY, Reject
from exsim.core.units import PPM, ceil_div


def slow_check(core: ExchangeCore, acct: Account, pos: Position, side: int, added: int,
               mark: int) -> Reject | None:
    m = core.markets[pos.sym]
    before_exposure = pos.exposure(mark, m.k)
    before_claim = pos.claim(mark, m.k)
    available = available_balance(acct, core.markets)
    if side == BUY:
        pos.buy_open += added
    else:
        pos.sell_open += added
    after_exposure = pos.exposure(mark, m.k)
    after_claim = pos.claim(mark, m.k)
    if side == BUY:
        pos.buy_open -= added
    else:
        pos.sell_open -= added
    if after_exposure <= before_exposure:
        return None
    if pos.leverage > max_leverage_for(m.brackets, after_exposure):
        return Reject.RISK_LIMIT
    fee = ceil_div(added * m.k * m.taker_fee, PPM)
    if available - (after_claim - before_claim) - fee < 0:
        return Reject.INSUFFICIENT_MARGIN
    return None


@settings(max_examples=400, deadline=None)
@given(qty=st.integers(-3000, 3000), entry=st.integers(200_000, 400_000),
       buy_open=st.integers(0, 3000), sell_open=st.integers(0, 3000),
       wallet=st.integers(-10**12, 10**13), lev=st.integers(1, 125), isolated=st.booleans(),
       margin=st.integers(0, 10**12), side=st.integers(0, 1), qty_order=st.integers(1, 5000),
       price=st.integers(200_000, 400_000), mark=st.integers(200_000, 400_000),
       other=st.none() | st.tuples(st.integers(-500, 500), st.integers(1000, 3000)))
def test_fast_risk_check_matches_the_slow_one(qty: int, entry: int, buy_open: int,
                                              sell_open: int, wallet: int, lev: int,
                                              isolated: bool, margin: int, side: int,
                                              qty_order: int, price: int, mark: int,
                                              other: tuple[int, int] | None) -> None:
    core = ExchangeCore([spec(), spec("ETHUSDT")])
    core.set_mark(0, mark)
    core.set_mark(1, 2000)
    acct = Account(1, wallet)
    core.accounts[1] = acct
    pos = Position(0, lev, isolated)
    pos.qty = qty
    pos.cost = qty * entry * core.markets[0].k
    pos.buy_open = buy_open * price
    pos.sell_open = sell_open * price
    pos.margin = margin if isolated else 0
    acct.positions[0] = pos
    if other is not None:  # a second cross position sends the check down its slow path
        eth = Position(1, 10)
        eth.qty, eth.cost = other[0], other[0] * other[1] * core.markets[1].k
        acct.positions[1] = eth
    added = price * qty_order
    assert core._risk_check(acct, pos, core.markets[0], side, added, mark) == slow_check(
        core, acct, pos, side, added, mark)
