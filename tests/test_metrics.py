"""Waterfall metrics on hand-built event logs: who paid by a symbol it held nothing in."""

from __future__ import annotations

import pytest

from exsim.core.events import (
    ADL,
    FILL,
    FUND,
    FUNDING,
    LIQUIDATION,
    SOCIALIZED,
    VAULT_TRANSFER,
    Event,
)
from exsim.core.liquidation import FUND as FUND_ID
from exsim.core.liquidation import VAULT
from exsim.core.orders import BUY
from exsim.output.metrics import payments_by_flat

# account 1 buys 5 from account 2 at 100 in symbol 0; account 3 never trades
OPEN: list[Event] = [
    (FUND, -1, FUND_ID, 100), (VAULT_TRANSFER, -1, VAULT, 100),  # seeds: house accounts
    (FILL, 0, 100, 5, 1, 1, BUY, 2, 2, 0, 0, 0, 0),
]


def timed(events: list[Event]) -> list[tuple[int, Event]]:
    return [(i, e) for i, e in enumerate(events)]


def test_a_log_where_only_holders_pay() -> None:
    """The long pays funding and the short receives; the long is taken over and pays a
    fee right after, then the fund pays its bad debt; the short pays a share of
    socialized loss and is deleveraged.  A flat account's zero funding is no payment."""
    log = [
        *OPEN,
        (FUNDING, 0, 1, -10), (FUNDING, 0, 2, 10), (FUNDING, 0, 3, 0),
        (LIQUIDATION, 0, 1, 5, 90, 95, -50, FUND_ID, 0), (FUND, 0, 1, 3), (FUND, 0, 1, -2),
        (SOCIALIZED, 0, 2, 7, -5),
        (ADL, 0, 2, -5, 90, 50, 0),
    ]
    assert payments_by_flat(timed(log)) == []
    assert payments_by_flat(timed(log), funds=[FUND_ID]) == []


@pytest.mark.parametrize("bad", [
    [(FUNDING, 0, 3, -1)],  # funding paid by a flat account
    [(SOCIALIZED, 0, 3, 1, -5)],  # a share of loss, whatever qty the event claims
    [(ADL, 0, 3, 1, 90, 0, 0)],
    [(LIQUIDATION, 0, 3, 1, 90, 95, 0, FUND_ID, 0)],
    [(FUND, 0, 1, 3)],  # a fee with no takeover before it
    [(LIQUIDATION, 0, 1, 5, 90, 95, -50, VAULT, 0), (VAULT_TRANSFER, 0, 2, 3)],  # not its
    [(LIQUIDATION, 0, 1, 5, 90, 95, -50, FUND_ID, 0), (FUND, 1, 1, 3)],  # another symbol
    [(LIQUIDATION, 0, 1, 5, 90, 95, -50, FUND_ID, 0), (FUND, 0, 1, 3), (FUND, 0, 1, 3)],
    [(FUNDING, 1, 1, -1)],  # account 1 holds symbol 0, not 1
    [(LIQUIDATION, 0, 1, 5, 90, 95, -50, FUND_ID, 0), (FUNDING, 0, 1, -1)],  # flat after
])
def test_a_flat_payer_is_found(bad: list[Event]) -> None:
    """Each of these has exactly one payment by an account flat in that symbol just
    before it (a fee: just before the takeover it follows); the last event is it.  The
    old check, "no SOCIALIZED event with qty 0", passes every one of them."""
    log = timed([*OPEN, *bad])
    assert payments_by_flat(log) == [log[-1]]
    assert not any(e[0] == SOCIALIZED and e[4] == 0 for _, e in log)


def test_a_takeover_of_a_flat_account_and_its_fee_are_both_found() -> None:
    log = timed([*OPEN, (LIQUIDATION, 0, 3, 1, 90, 95, 0, FUND_ID, 0), (FUND, 0, 3, 2)])
    assert payments_by_flat(log) == log[-2:]
