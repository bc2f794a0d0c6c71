"""ADL sizing and trigger: fund_first closes only what the fund cannot carry (against a
brute force), pro_rata spreads it by size, realised waits for the executable price, the
position cap deleverages what is beyond it, and the vault takes over only what it can carry."""

from __future__ import annotations

import pytest
from core_helpers import C, examples, lots, px, usd
from hypothesis import given, settings
from hypothesis import strategies as st

from exsim.config import ConfigError, parse_config
from exsim.core.adl import Candidate
from exsim.core.deleverage import lots_to_close, pro_rata
from exsim.core.engine import ExchangeCore
from exsim.core.events import ADL, ADL_ROUND, LIQUIDATION, REJECTED
from exsim.core.liquidation import FUND, VAULT, LiquidationRules
from exsim.core.orders import BUY, POST_ONLY, SELL, Reject
from exsim.core.symbols import SymbolSpec, brackets_from_quote

K = 7  # any k: the sizing is exact for every grid


@settings(max_examples=examples(400), deadline=None)
@given(qty=st.integers(-2_000, 2_000).filter(bool), entry=st.integers(50, 5_000),
       value=st.integers(1, 5_000), other=st.integers(-10**6, 10**7))
def test_fund_first_is_the_fewest_lots_that_leave_the_fund_solvent(
        qty: int, entry: int, value: int, other: int) -> None:
    cost = qty * entry * K
    lots_ = abs(qty)

    def equity_keeping(keep: int) -> int:  # the rest of the fund, plus kept lots' PnL
        # (keep / |qty| of the position's PnL at the valuation: exact, times |qty|)
        return other * lots_ + (qty * value * K - cost) * keep

    need = lots_to_close(qty, cost, other, value, K, "fund_first")
    if equity_keeping(lots_) >= 0:  # not short: nothing
        assert need == 0
        return
    brute = next(lots_ - keep for keep in range(lots_, -1, -1) if equity_keeping(keep) >= 0
                 ) if equity_keeping(0) >= 0 else lots_
    assert need == max(1, brute)
    assert lots_to_close(qty, cost, other, value, K, "all") == lots_


def test_the_position_cap_deleverages_what_is_beyond_it() -> None:
    """Not short (other 10**9), but 100 lots at mark 1,000, k 7, notional 700,000 against
    a cap of 500,000: 200,000 over, 7,000 a lot: 29 lots (28.6 rounded up)."""
    assert lots_to_close(100, 100 * 1000 * K, 10**9, 1000, K, "fund_first", 1000, 500_000) == 29
    assert lots_to_close(100, 100 * 1000 * K, 10**9, 1000, K, "fund_first", 1000, 0) == 0


def cand(acct: int, qty: int) -> Candidate:
    return Candidate(acct, qty, entry=1000, mark=900, bankruptcy=None, k=1)  # type: ignore[arg-type]


@settings(max_examples=examples(300), deadline=None)
@given(sizes=st.lists(st.integers(1, 500), min_size=1, max_size=12), share=st.floats(0, 1))
def test_pro_rata_spreads_by_size_and_adds_up(sizes: list[int], share: float) -> None:
    ordered = [cand(i, -q) for i, q in enumerate(sizes)]
    need = int(sum(sizes) * share)
    out = dict(pro_rata(ordered, need))
    assert sum(out.values()) == need
    total = sum(sizes)
    for i, q in enumerate(sizes):
        got = out.get(i, 0)
        assert got <= q and need * q // total <= got <= need * q // total + 1


# ----------------------------------------------------------------------------- in the core
SPEC = SymbolSpec("BTCUSDT", C, brackets_from_quote(C, [(0, "0.005", 100)]),
                  maker_fee=0, taker_fee=0, market_band=None, default_leverage=20)


def gapped(rules: LiquidationRules, fund: str = "100") -> ExchangeCore:
    """A long 1 BTC at 30,000 (isolated, 1,500) against B's short; a gap to 27,500 takes A
    over at 28,500: the fund long 1 from 28,500, its cash ``fund``."""
    core = ExchangeCore([SPEC], liquidation=rules)
    core.set_mark(0, px(30000))
    core.deposit(1, usd(1500))
    core.deposit(2, usd(100000))
    core.deposit(3, usd(100000))
    core.seed_fund(usd(fund))
    assert core.set_margin_mode(1, 0, True)
    core.submit(2, 0, 1, SELL, lots(1), px(30000), tif=POST_ONLY)
    core.submit(1, 0, 2, BUY, lots(1), px(30000))
    core.set_mark(0, px(27500))
    assert core.liquidate(1, 0)
    core.events.clear()
    return core


def test_realised_waits_for_the_price_it_could_close_at() -> None:
    """Fund long 1 from 28,500 with 100, mark 27,500: short by 900 at the mark.  With the
    realised trigger and a bid at 28,450 (C's), closing there loses only 50: not short,
    no ADL.  With the best bid at 27,000 it is short by 1,400 there: ADL closes what 100
    cannot carry at 1,500 a BTC: 1 - 100 / 1,500 = 0.934 (0.0666 kept)."""
    core = gapped(LiquidationRules(adl_trigger="realised"))
    core.submit(3, 0, 5, BUY, lots("0.1"), px(28450), tif=POST_ONLY)
    assert not core.adl(0, "bitmex")
    assert core.events[-1][0] == REJECTED and core.events[-1][-1] == Reject.FUND_NOT_SHORT
    core.cancel(3, 0, 5)
    core.submit(3, 0, 6, BUY, lots("0.1"), px(27000), tif=POST_ONLY)
    core.events.clear()
    assert core.adl(0, "bitmex")
    [round_] = [e for e in core.events if e[0] == ADL_ROUND]
    assert round_ == (ADL_ROUND, 0, FUND, -usd(1400), lots(1) - lots("0.066"))
    assert sum(-e[3] for e in core.events if e[0] == ADL) == lots(1) - lots("0.066")


def test_the_vault_takes_over_only_what_it_can_carry() -> None:
    """A vault with 10 of capital and a 10% haircut cannot carry 1 BTC (notional 27,500
    needs 2,750 of equity): the takeover goes to the fund instead.  With 5,000 it can."""
    rules = LiquidationRules(vault_haircut=100_000)
    for capital, taker in (("10", FUND), ("5000", VAULT)):
        core = ExchangeCore([SPEC], liquidation=rules)
        core.set_mark(0, px(30000))
        core.deposit(1, usd(1500))
        core.deposit(2, usd(100000))
        core.seed_vault(usd(capital))
        assert core.set_margin_mode(1, 0, True)
        core.submit(2, 0, 1, SELL, lots(1), px(30000), tif=POST_ONLY)
        core.submit(1, 0, 2, BUY, lots(1), px(30000))
        core.set_mark(0, px(27500))
        assert core.liquidate(1, 0, to=VAULT)
        [liq] = [e for e in core.events if e[0] == LIQUIDATION]
        assert liq[7] == taker


@pytest.mark.parametrize(("liquidation", "message"), [
    ({"adl_sizing": "fund"}, "liquidation.adl_sizing: 'fund' is not one of fund_first"),
    ({"adl_trigger": "mark"}, "liquidation.adl_trigger: 'mark' is not one of mtm, realised"),
    ({"vault_haircut": 1.0}, "liquidation.vault_haircut: must be below 1"),
    ({"vault_haircut": -0.1}, "liquidation.vault_haircut: must be >= 0"),
    ({"max_fund_notional": -5.0}, "liquidation.max_fund_notional: must be >= 0"),
    ({"socialize_every_s": -1.0}, "liquidation.socialize_every_s: must be >= 0"),
])
def test_bad_waterfall_settings_are_one_line_naming_the_key(liquidation: dict[str, object],
                                                           message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"liquidation": liquidation})
