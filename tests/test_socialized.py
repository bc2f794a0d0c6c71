"""Socialized loss: vector V17 (Drift, through open interest) and the OKEx clawback."""

from __future__ import annotations

from exsim.core.accounts import Position
from exsim.core.clearing import apply_trade
from exsim.core.engine import ExchangeCore
from exsim.core.events import SOCIALIZED
from exsim.core.liquidation import FUND
from exsim.core.margin import make_brackets
from exsim.core.orders import Reject
from exsim.core.symbols import SymbolSpec
from exsim.core.units import LinearContract

UNIT = SymbolSpec("X", LinearContract("1", "1", "1"), make_brackets([(0, 5_000, 100)]),
                  maker_fee=0, taker_fee=0, default_leverage=10)


def book_of(positions: dict[int, tuple[int, int]], mark: int) -> ExchangeCore:
    """Accounts with (qty, entry) positions, built trade by trade against account 0."""
    core = ExchangeCore([UNIT])
    core.set_mark(0, mark)
    core.deposit(0, 10**9)
    for acct, (qty, entry) in positions.items():
        if acct != FUND:
            core.deposit(acct, 10**6)
        a, counterparty = core.accounts[acct], core.accounts[0]
        a.positions.setdefault(0, Position(0, 10))
        counterparty.positions.setdefault(0, Position(0, 1))
        apply_trade(a, a.positions[0], qty, entry, 1)
        apply_trade(counterparty, counterparty.positions[0], -qty, entry, 1)
    assert all(core.invariants().values())
    return core


def test_v17_loss_spread_through_open_interest() -> None:
    """Fund short 100 from 90 at mark 100: deficit 1,000.  Others: longs 300 (A 10, B 290),
    shorts 200 (C 5, D 195): 500 units, 2 per unit; A pays 20, C pays 10 (V17)."""
    core = book_of({FUND: (-100, 90), 1: (10, 100), 2: (290, 100), 3: (-5, 100),
                    4: (-195, 100)}, mark=100)
    # account 0 (the counterparty of the setup) holds the net: flat overall
    assert core.accounts[0].positions[0].qty == 0
    assert core.fund_equity() == -1000
    core.events.clear()
    assert core.socialize(0, "oi_funding")
    paid = {e[2]: e[3] for e in core.events if e[0] == SOCIALIZED}
    assert paid == {1: 20, 2: 580, 3: 10, 4: 390}
    assert core.fund_equity() == 0
    assert all(core.invariants().values())
    # the fund is whole: asking again is refused
    assert not core.socialize(0, "oi_funding")
    assert core.events[-1][5] == Reject.FUND_NOT_SHORT


def test_clawback_takes_18_percent_of_profits() -> None:
    """Deficit 1,200 over profits 4,000 + 2,000 + 666 = 6,666: 18% each, rounded up;
    the losing short (account 4, short 606 from 99) and the flat account 5 pay nothing."""
    core = book_of({FUND: (-120, 90), 1: (40, 0), 2: (20, 0), 3: (666, 99),
                    4: (-606, 99)}, mark=100)
    core.deposit(5, 1000)  # flat: never pays
    assert core.fund_equity() == -1200
    core.events.clear()
    assert core.socialize(0, "clawback")
    paid = {e[2]: e[3] for e in core.events if e[0] == SOCIALIZED}
    assert paid == {1: 721, 2: 361, 3: 120}
    assert all(e[4] != 0 for e in core.events if e[0] == SOCIALIZED)
    assert core.fund_equity() == 2  # made whole, two atoms of rounding over
    assert all(core.invariants().values())
