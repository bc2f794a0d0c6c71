"""Funding against ../shared/reference/mechanics.md vector V20, and exact settlement."""

from __future__ import annotations

import pytest
from core_helpers import lots, px, spec, usd

from exsim.core.engine import ExchangeCore
from exsim.core.events import FUNDING, FUNDING_RATE
from exsim.core.funding import RATE_SCALE, funding_rate, impact_price, payment, premium
from exsim.core.liquidation import FUND, VAULT
from exsim.core.orders import BUY, MARKET, SELL


def test_v20_a_b_rates() -> None:
    # (a) P = 0.04%, interest 0.01%: F = 0.04% + clamp(-0.03%) = 0.01%
    assert funding_rate(0.0004, 0.0001) == 10_000  # 0.01% in 1e-8 units
    # (b) P = 0.10%: clamp(-0.09%) = -0.05%, F = 0.05%; a 4 h symbol pays half
    assert funding_rate(0.0010, 0.0001) == 50_000
    assert funding_rate(0.0010, 0.0001) // 2 == 25_000
    # the cap
    assert funding_rate(0.5, 0.0001, cap=0.0075) == 750_000


def test_v20_c_premium_sample() -> None:
    # index 40,000, impact bid 40,020, impact ask 40,030: P = 20 / 40,000 = 0.05%
    assert premium(40_020, 40_030, 40_000) == pytest.approx(0.0005)
    assert premium(39_990, 40_010, 40_000) == 0.0  # index inside the impact spread
    assert premium(39_980, 39_990, 40_000) == pytest.approx(-0.00025)


def test_impact_price_walks_the_levels() -> None:
    levels = [(100.0, 1.0), (101.0, 2.0)]
    assert impact_price(levels, 100.0) == 100.0
    assert impact_price(levels, 302.0) == pytest.approx(302.0 / 3.0)
    assert impact_price(levels, 10_000.0) == pytest.approx(302.0 / 3.0)  # thin book
    assert impact_price([], 1.0) is None


def test_v20_d_payment_and_rounding() -> None:
    k = 10_000  # tick 0.1, lot 0.001, atom 1e-8
    # long 2 BTC at mark 40,000, F = 0.01%: pays 8 USDT; the short receives 8
    assert payment(lots(2), px(40000), k, 10_000) == -usd(8)
    assert payment(-lots(2), px(40000), k, 10_000) == usd(8)
    # an odd amount: a payer rounds up, a receiver down
    assert payment(1, 1, 1, 1) == -1 and payment(-1, 1, 1, 1) == 0
    assert RATE_SCALE == 100_000_000


def test_settlement_moves_cash_exactly() -> None:
    """Long 2 BTC (acct 1, cross) vs short 1.5 (acct 2, isolated) and 0.5 (acct 3)."""
    core = ExchangeCore([spec(taker_fee=0, maker_fee=0)])
    core.set_mark(0, px(40000))
    for a in (1, 2, 3):
        core.deposit(a, usd(100_000))
    core.set_margin_mode(2, 0, True)
    core.submit(2, 0, 1, SELL, lots("1.5"), px(40000))
    core.submit(3, 0, 2, SELL, lots("0.5"), px(40000))
    core.submit(1, 0, 3, BUY, lots(2), order_type=MARKET)
    iso_before = core.position_of(2, 0).margin  # type: ignore[union-attr]
    core.events.clear()
    assert core.settle_funding(0, 10_000)
    rate_event, *flows = core.events
    assert rate_event == (FUNDING_RATE, 0, 10_000, px(40000), 0)
    assert [(e[2], e[3]) for e in flows if e[0] == FUNDING] == [
        (1, -usd(8)), (2, usd(6)), (3, usd(2))]
    assert core.accounts[1].wallet == usd(100_000 - 8)
    assert core.position_of(2, 0).margin == iso_before + usd(6)  # type: ignore[union-attr]
    assert all(core.invariants().values())
    # rounding: a 1-lot position at a 1e-8 rate: payer pays 1 atom, receiver gets 0
    assert not core.settle_funding(0, RATE_SCALE)  # 100% is refused
    assert not core.settle_funding(5, 1)


@pytest.mark.parametrize("house", [FUND, VAULT])
def test_a_house_account_pays_funding_only_out_of_its_cash(house: int) -> None:
    """No fees.  A (isolated 20x, margin 1,500) is long 1 BTC at 30,000 against B; at mark
    28,600 it is taken over at 28,500 by the fund (or the vault), which then holds 3 USDT.

    At +0.05% the long pays 28,600 x 0.05% = 14.30: the house account pays what it has,
    3.00, and never goes below zero; B receives its 14.30 in full, and the fee pool pays
    the other 11.30 (FUNDING_RATE's last field: what the pool keeps, here -11.30).  At
    -0.05% it receives 14.30 like anyone."""
    core = ExchangeCore([spec(taker_fee=0, maker_fee=0, default_leverage=20)])
    core.set_mark(0, px(30000))
    core.deposit(1, usd(1500))
    core.deposit(2, usd(100_000))
    assert core.set_margin_mode(1, 0, True)
    assert core.submit(2, 0, 1, SELL, lots(1), px(30000))
    assert core.submit(1, 0, 2, BUY, lots(1), px(30000))
    core.set_mark(0, px(28600))
    assert core.liquidate(1, 0, to=house)
    taker = core.accounts[house]
    assert taker.positions[0].qty == lots(1) and taker.wallet == 0
    assert (core.seed_fund(usd(3)) if house == FUND else core.seed_vault(usd(3)))
    pool, short = core.ledger.fee_pool, core.accounts[2].wallet
    core.events.clear()
    assert core.settle_funding(0, 50_000)
    assert core.events[0] == (FUNDING_RATE, 0, 50_000, px(28600), -usd("11.30"))
    assert sorted((e[2], e[3]) for e in core.events if e[0] == FUNDING) == [
        (house, -usd(3)), (2, usd("14.30"))]
    assert taker.wallet == 0 and core.accounts[2].wallet == short + usd("14.30")
    assert core.ledger.fee_pool == pool - usd("11.30")
    assert all(core.invariants().values())
    core.events.clear()
    assert core.settle_funding(0, -50_000)  # it receives normally
    assert sorted((e[2], e[3]) for e in core.events if e[0] == FUNDING) == [
        (house, usd("14.30")), (2, -usd("14.30"))]
    assert taker.wallet == usd("14.30")
    assert all(core.invariants().values())
