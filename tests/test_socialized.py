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


def test_a_second_clawback_finds_only_what_is_left() -> None:
    """Deficit 1,000 against one trader with 100 of profit: 100 is taken once, then the
    profit is gone (the cost basis moved) and nothing more can be clawed."""
    core = book_of({FUND: (-100, 90), 1: (10, 90), 2: (90, 100)}, mark=100)
    assert core.fund_equity() == -1000 and core.accounts[1].positions[0].upnl(100, 1) == 100
    assert core.socialize(0, "clawback")
    assert core.accounts[1].positions[0].upnl(100, 1) == 0
    assert core.fund_equity() == -900
    assert not core.socialize(0, "clawback")  # no profit left anywhere
    assert core.events[-1][5] == Reject.NO_POSITION
    assert all(core.invariants().values())


def test_oi_funding_never_pushes_a_payer_below_zero() -> None:
    """Account 2 sold 100 to the trader at 100 and bought them back from the fund at 90
    (+1,000).  At mark 100 the fund is short 1,000 and its only counterparty, the trader
    (long 100 from 100, 50 deposited), has 50 of equity: it pays 50, not 1,000."""
    core = ExchangeCore([UNIT])
    core.set_mark(0, 100)
    core.deposit(1, 50)
    core.deposit(2, 1)
    fund, trader, dealer = core.accounts[FUND], core.accounts[1], core.accounts[2]
    for a in (fund, trader, dealer):
        a.positions[0] = Position(0, 1)
    apply_trade(dealer, dealer.positions[0], -100, 100, 1)
    apply_trade(trader, trader.positions[0], 100, 100, 1)
    apply_trade(dealer, dealer.positions[0], 100, 90, 1)
    apply_trade(fund, fund.positions[0], -100, 90, 1)
    assert all(core.invariants().values())
    assert core.account_equity(1) == 50 and core.fund_equity() == -1000
    core.events.clear()
    assert core.socialize(0, "oi_funding")
    (paid,) = [e for e in core.events if e[0] == SOCIALIZED]
    assert paid[2:4] == (1, 50) and core.account_equity(1) == 0
    assert all(core.invariants().values())


def test_adl_with_nobody_to_deleverage_is_refused() -> None:
    """The fund is short and the only long is the backstop vault: nobody to deleverage."""
    from exsim.core.liquidation import VAULT

    core = ExchangeCore([UNIT])
    core.set_mark(0, 100)
    core.seed_vault(10**6)
    fund, vault = core.accounts[FUND], core.accounts[VAULT]
    fund.positions[0], vault.positions[0] = Position(0, 1), Position(0, 1)
    apply_trade(fund, fund.positions[0], -100, 90, 1)
    apply_trade(vault, vault.positions[0], 100, 90, 1)
    assert core.fund_equity() == -1000
    core.events.clear()
    assert not core.adl(0, "bitmex", 90)
    assert [e[5] for e in core.events] == [Reject.NO_COUNTERPARTY]
    assert all(core.invariants().values())
