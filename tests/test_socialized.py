"""Socialized loss: vector V17 (Drift, through open interest) and the OKEx clawback."""

from __future__ import annotations

import attrs
import pytest

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


def book_of(positions: dict[int, tuple[int, int]], mark: int, booked: bool = True
            ) -> ExchangeCore:
    """Accounts with (qty, entry) positions, built trade by trade against account 0.

    ``booked``: the fund's position is then marked to the mark into its cash (its cost
    basis moved to the mark, its loss taken from its wallet: total equity unchanged), so
    the loss is a booked deficit, its cash below zero, as a socializing waterfall books
    it: socialized loss collects booked deficits only."""
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
    if booked:
        book_fund_loss(core)
    assert all(core.invariants().values())
    return core


def book_fund_loss(core: ExchangeCore) -> None:
    """Mark the fund's positions to the marks into its cash: what a socializing waterfall
    books when the fund closes them (total equity unchanged: cost moves with the cash)."""
    fund = core.accounts[FUND]
    for pos in fund.positions.values():
        mark = core.markets[pos.sym].mark
        if pos.qty and mark is not None:
            loss = pos.upnl(mark, core.markets[pos.sym].k)
            fund.wallet += loss
            pos.cost += loss


def test_an_unrealized_loss_is_never_socialized() -> None:
    """The fund short 100 from 90 at mark 100 (equity -1,000 at the mark) but with its cash
    at zero: nothing is booked, nothing collected; once it closes at 100 the 1,000 is."""
    core = book_of({FUND: (-100, 90), 1: (10, 100), 2: (290, 100)}, mark=100, booked=False)
    assert core.fund_equity() == -1000 and core.fund.wallet == 0
    assert not core.socialize(0, "oi_funding")
    assert core.events[-1][5] == Reject.FUND_NOT_SHORT
    booked = book_of({FUND: (-100, 90), 1: (10, 100), 2: (290, 100)}, mark=100)
    assert booked.fund.wallet == -1000 and booked.socialize(0, "oi_funding")


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
    book_fund_loss(core)
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


def two_symbol_book() -> ExchangeCore:
    """Fund short 100 X from 90 at mark 100 (deficit 1,000, no cash).  In X, account 1 is
    long 50 from 96 (+200) and account 2 long 50 from 90 (+500).  Account 1 also holds a
    long of 10 Y from 100 at mark 50 (-500) and 400 of wallet: its whole equity is
    400 + 200 - 500 = 100, though X alone shows 600.  Account 0, the counterparty of the
    setup, is flat in X and short the 10 Y."""
    core = ExchangeCore([UNIT, attrs.evolve(UNIT, name="Y")])
    core.set_mark(0, 100)
    core.set_mark(1, 50)
    core.deposit(0, 10**9)
    core.deposit(1, 400)
    core.deposit(2, 10**6)
    for acct, sym, qty, entry in ((FUND, 0, -100, 90), (1, 0, 50, 96), (2, 0, 50, 90),
                                  (1, 1, 10, 100)):
        a, counterparty = core.accounts[acct], core.accounts[0]
        a.positions.setdefault(sym, Position(sym, 10))
        counterparty.positions.setdefault(sym, Position(sym, 1))
        apply_trade(a, a.positions[sym], qty, entry, 1)
        apply_trade(counterparty, counterparty.positions[sym], -qty, entry, 1)
    assert core.accounts[0].positions[0].qty == 0
    assert core.fund_equity() == -1000 and core.account_equity(1) == 100
    book_fund_loss(core)
    assert all(core.invariants().values())
    core.events.clear()
    return core


@pytest.mark.parametrize(("policy", "shares"), [
    # clawback: ceil(1,000 x 200 / 700) = 286, at most the 200 of profit, and at most
    # the account's equity of 100; account 2 pays its whole profit, 500
    ("clawback", {1: 100, 2: 500}),
    # oi_funding: 1,000 x 50 / 100 = 500 each; account 1 can pay only its 100
    ("oi_funding", {1: 100, 2: 500}),
])
def test_a_share_is_capped_at_what_the_whole_account_can_pay(policy: str,
                                                             shares: dict[int, int]) -> None:
    """A share was capped by the symbol alone (X's profit, or the wallet plus X's uPnL:
    600 for account 1), so account 1 paid 200 or 500 and went to -100 or -400."""
    core = two_symbol_book()
    assert core.socialize(0, policy)
    assert {e[2]: e[3] for e in core.events if e[0] == SOCIALIZED} == shares
    assert core.account_equity(1) == 0 and core.account_equity(2) == 10**6 + 500 - 500
    assert core.fund_equity() == -1000 + sum(shares.values())
    assert all(core.invariants().values())
