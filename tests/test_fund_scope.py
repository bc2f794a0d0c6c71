"""Per-symbol insurance funds against one shared fund, worked by hand on two symbols.

Both symbols have no fees and one 0.5% bracket (as in test_liquidation.py); ETHUSDT
is the same grid under another name.  The common setup at marks BTC 30,000 and
ETH 2,000: B (cross, 100,000) sells 1 BTC at 30,000 to A (isolated 20x: margin
1,500, bankruptcy price 28,500) and 1 ETH at 2,000 to E (isolated 20x: margin
100, bankruptcy price 1,900).  D (100,000) is the bidder the funds sell to.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from core_helpers import C, px, usd

from exsim.agent import Agent, Context
from exsim.core.engine import ExchangeCore
from exsim.core.events import ADL, FILL, LIQUIDATION, REJECTED, SETTLEMENT, SOCIALIZED
from exsim.core.events import FUND as FUND_EVENT
from exsim.core.liquidation import FUND, PER_SYMBOL, SHARED, VAULT, fund_account
from exsim.core.orders import BUY, IOC, MARKET, POST_ONLY, SELL, Reject
from exsim.core.symbols import SymbolSpec, brackets_from_quote

BTC = SymbolSpec("BTCUSDT", C, brackets_from_quote(C, [(0, "0.005", 100)]),
                 maker_fee=0, taker_fee=0, market_band=None, default_leverage=20)
ETH = SymbolSpec("ETHUSDT", C, brackets_from_quote(C, [(0, "0.005", 100)]),
                 maker_fee=0, taker_fee=0, market_band=None, default_leverage=20)
A, B, D, E = 1, 2, 4, 5
ETH_FUND = -3  # symbol 1's fund with per-symbol funds


def lots(x: str) -> int:
    return C.qty_to_lots(Decimal(x))


def two_symbols(scope: str) -> ExchangeCore:
    core = ExchangeCore([BTC, ETH], fund_scope=scope)
    core.set_mark(0, px(30000))
    core.set_mark(1, px(2000))
    for acct, cash in ((A, "1500"), (B, "100000"), (D, "100000"), (E, "100")):
        assert core.deposit(acct, usd(cash))
    assert core.set_margin_mode(A, 0, True) and core.set_margin_mode(E, 1, True)
    assert core.submit(B, 0, 1, SELL, lots("1"), px(30000), tif=POST_ONLY)
    assert core.submit(A, 0, 2, BUY, lots("1"), order_type=MARKET)
    assert core.submit(B, 1, 3, SELL, lots("1"), px(2000), tif=POST_ONLY)
    assert core.submit(E, 1, 4, BUY, lots("1"), order_type=MARKET)
    assert core.position_of(A, 0).margin == usd(1500)  # type: ignore[union-attr]
    assert core.position_of(E, 1).margin == usd(100)  # type: ignore[union-attr]
    core.events.clear()
    return core


def of_kind(core: ExchangeCore, kind: int) -> list[tuple[int, ...]]:
    return [e[1:] for e in core.events if e[0] == kind]


def rejected(core: ExchangeCore) -> tuple[int, int]:
    """(account, reason) of the last event, a REJECTED."""
    e = core.events[-1]
    assert e[0] == REJECTED
    return e[4], e[5]


def test_fund_accounts_per_scope() -> None:
    """Shared: -1 for every symbol.  Per symbol: -1, then below the vault (-2): -3, -4."""
    assert [fund_account(s, SHARED) for s in range(3)] == [FUND, FUND, FUND]
    assert [fund_account(s, PER_SYMBOL) for s in range(3)] == [FUND, -3, -4]
    assert VAULT not in [fund_account(s, PER_SYMBOL) for s in range(5)]
    with pytest.raises(ValueError, match="fund scope"):
        fund_account(0, "per_symbl")
    with pytest.raises(ValueError, match="fund scope"):
        ExchangeCore([BTC], fund_scope="isolated")
    shared, split = ExchangeCore([BTC, ETH]), ExchangeCore([BTC, ETH], fund_scope=PER_SYMBOL)
    assert shared.fund_ids == [FUND, FUND] and shared.funds == (FUND,)
    assert split.fund_ids == [FUND, ETH_FUND] and split.funds == (FUND, ETH_FUND)
    assert set(split.accounts) == {FUND, ETH_FUND}


def test_seeding_names_the_symbol_only_per_symbol() -> None:
    """Shared: the seed's FUND event names symbol -1, whichever symbol is given.  Per
    symbol: the seed needs a symbol and lands in that symbol's fund alone."""
    shared = ExchangeCore([BTC, ETH])
    assert shared.seed_fund(usd(10)) and shared.seed_fund(usd(5), "ETHUSDT")
    assert of_kind(shared, FUND_EVENT) == [(-1, FUND, usd(10)), (-1, FUND, usd(5))]
    assert shared.fund.wallet == usd(15)
    split = ExchangeCore([BTC, ETH], fund_scope=PER_SYMBOL)
    assert not split.seed_fund(usd(10))  # which fund?
    assert rejected(split) == (FUND, Reject.UNKNOWN_SYMBOL)
    assert not split.seed_fund(usd(10), "SOLUSDT")
    assert split.seed_fund(usd(10), 0) and split.seed_fund(usd(5), "ETHUSDT")
    assert of_kind(split, FUND_EVENT) == [(0, FUND, usd(10)), (1, ETH_FUND, usd(5))]
    assert (split.fund_of(0).wallet, split.fund_of(1).wallet) == (usd(10), usd(5))
    assert split.ledger.deposits == usd(15) and all(split.invariants().values())


def test_a_liquidation_draws_only_its_symbols_fund() -> None:
    """Per-symbol funds of 10,000 each.

    1. BTC mark 28,000: A (margin 1,500, uPnL -2,000) is beyond its bankruptcy price
       28,500.  The ETH fund may not take it over (another symbol's fund); the BTC fund
       (-1) takes 1 BTC at 28,500, A realizes -1,500 and ends at 0.  BTC fund equity
       10,000 - 500 = 9,500; the ETH fund's stays 10,000.
    2. The BTC fund sells the 1 BTC into D's bid at 28,000: realized -500, cash 9,500.
    3. ETH mark 1,850: E sells its 1 ETH itself into D's bid at 1,850 before any
       liquidation: -150 against its margin of 100 leaves -50, bad debt in ETH: the ETH
       fund pays 50 (cash 9,950), the BTC fund still 9,500.
    """
    core = two_symbols(PER_SYMBOL)
    assert core.seed_fund(usd(10000), 0) and core.seed_fund(usd(10000), 1)
    core.set_mark(0, px(28000))
    assert not core.liquidate(A, 0, to=ETH_FUND)
    assert rejected(core) == (A, Reject.BAD_REQUEST)
    assert not core.liquidate(ETH_FUND, 1)  # a fund is never liquidated
    assert rejected(core) == (ETH_FUND, Reject.NO_POSITION)
    core.events.clear()
    assert core.liquidate(A, 0)
    assert of_kind(core, LIQUIDATION) == [
        (0, A, lots("1"), px(28500), px(28000), -usd(1500), FUND, 0)]
    assert core.accounts[A].wallet == 0
    assert core.position_of(FUND, 0).qty == lots("1")  # type: ignore[union-attr]
    assert core.fund_equity(0) == usd(9500) and core.fund_equity(1) == usd(10000)

    assert core.submit(D, 0, 5, BUY, lots("1"), px(28000), tif=POST_ONLY)
    assert core.submit(FUND, 0, 6, SELL, lots("1"), px(28000), tif=IOC, reduce_only=True)
    (fill,) = of_kind(core, FILL)
    assert (fill[1], fill[4], fill[10]) == (px(28000), FUND, -usd(500))
    assert core.fund.wallet == usd(9500) and core.accounts[ETH_FUND].wallet == usd(10000)

    core.set_mark(1, px(1850))
    assert core.submit(D, 1, 7, BUY, lots("1"), px(1850), tif=POST_ONLY)
    core.events.clear()
    assert core.submit(E, 1, 8, SELL, lots("1"), px(1850), reduce_only=True)
    assert of_kind(core, FUND_EVENT) == [(1, E, -usd(50))]
    assert core.accounts[E].wallet == 0
    assert core.fund.wallet == usd(9500) and core.accounts[ETH_FUND].wallet == usd(9950)
    assert all(core.invariants().values())


def _gap_through_a(core: ExchangeCore) -> None:
    """BTC gaps to 27,500: A (equity 1,500 - 2,500 = -1,000) is taken over at 28,500."""
    core.set_mark(0, px(27500))
    assert core.liquidate(A, 0)
    assert of_kind(core, LIQUIDATION)[0][3] == px(28500)
    core.events.clear()


def test_a_short_symbol_fund_deleverages_while_the_other_is_rich() -> None:
    """Per-symbol funds: BTC 100, ETH 100,000.

    After the gap the BTC fund is long 1 from 28,500 at mark 27,500: equity
    100 - 1,000 = -900, short, while the ETH fund holds 100,000.  ADL in ETH is refused
    (its fund holds nothing); ADL in BTC at 28,500 closes what the BTC fund's 100
    cannot carry (``fund_first``: 100 carries 0.1 BTC of a 1,000-a-BTC loss): 0.9 of
    B's short 1 from 30,000, B realizing +1,350, the fund 0.  The BTC fund keeps 0.1 and
    its 100, equity exactly 0; the ETH fund never moved.
    """
    core = two_symbols(PER_SYMBOL)
    assert core.seed_fund(usd(100), 0) and core.seed_fund(usd(100000), 1)
    _gap_through_a(core)
    assert core.fund_equity(0) == -usd(900) and core.fund_equity(1) == usd(100000)
    assert not core.adl(1, "bitmex", px(2000))
    assert rejected(core) == (ETH_FUND, Reject.NO_POSITION)
    assert not core.socialize(1, "clawback")
    assert rejected(core) == (ETH_FUND, Reject.FUND_NOT_SHORT)
    core.events.clear()
    assert core.adl(0, "bitmex", px(28500))
    assert of_kind(core, ADL) == [(0, B, -lots("0.9"), px(28500), usd(1350), 0)]
    assert core.position_of(FUND, 0).qty == lots("0.1")  # type: ignore[union-attr]
    assert core.fund.wallet == usd(100) and core.fund_equity(0) == 0
    assert core.accounts[ETH_FUND].wallet == usd(100000)
    assert core.accounts[B].wallet == usd(100000) + usd(1350)
    assert all(core.invariants().values())


def test_a_short_symbol_fund_claws_back_only_in_its_symbol() -> None:
    """The same BTC shortfall of 900, socialized instead: a settlement books the BTC
    fund's loss at the mark (cash 100 - 1,000 = -900); B's BTC short is +2,500 at 27,500,
    the only profit in BTC, so B pays all 900 (ceil(900 x 2,500 / 2,500)) into the BTC
    fund: cash 0, equity 0.  Without the settlement nothing is booked, nothing taken.
    The ETH fund is untouched."""
    core = two_symbols(PER_SYMBOL)
    assert core.seed_fund(usd(100), 0) and core.seed_fund(usd(100000), 1)
    _gap_through_a(core)
    assert not core.socialize(0, "clawback")  # an unrealized loss is never socialized
    assert core.socialize(0, "clawback", settle=True)
    assert of_kind(core, SETTLEMENT) == [(0, FUND, -usd(1000), px(27500))]
    assert of_kind(core, SOCIALIZED) == [(0, B, usd(900), -lots("1"))]
    assert core.fund.wallet == 0 and core.fund_equity(0) == 0
    assert core.accounts[ETH_FUND].wallet == usd(100000)
    assert all(core.invariants().values())


def test_a_shared_fund_covers_the_symbol_from_the_others_money() -> None:
    """One shared fund with the same 100 + 100,000 = 100,100.

    After the same gap the fund is long 1 BTC from 28,500 at 27,500: equity
    100,100 - 1,000 = 99,100, not short, so neither ADL nor clawback is allowed.  It
    sells into D's bid at 27,500 and keeps 99,100.  E's bad debt in ETH (50, as in
    the per-symbol test) comes out of the same fund: 99,050.
    """
    core = two_symbols(SHARED)
    assert core.seed_fund(usd(100100))
    _gap_through_a(core)
    assert core.fund_equity(0) == core.fund_equity(1) == usd(99100)
    assert not core.adl(0, "bitmex", px(28500))
    assert rejected(core) == (FUND, Reject.FUND_NOT_SHORT)
    assert not core.socialize(0, "clawback")
    assert rejected(core) == (FUND, Reject.FUND_NOT_SHORT)
    assert core.submit(D, 0, 5, BUY, lots("1"), px(27500), tif=POST_ONLY)
    assert core.submit(FUND, 0, 6, SELL, lots("1"), px(27500), tif=IOC, reduce_only=True)
    assert core.fund.wallet == usd(99100)
    core.set_mark(1, px(1850))
    assert core.submit(D, 1, 7, BUY, lots("1"), px(1850), tif=POST_ONLY)
    core.events.clear()
    assert core.submit(E, 1, 8, SELL, lots("1"), px(1850), reduce_only=True)
    assert of_kind(core, FUND_EVENT) == [(1, E, -usd(50))]
    assert core.fund.wallet == usd(99050) and not of_kind(core, ADL)
    assert all(core.invariants().values())



def _liquidator_asks(funds: list[int], qty: list[int], cost: list[int], cash: list[int],
                     queued: tuple[int, int] | None = None) -> object:
    """The liquidator's next request for one RiskUpdate at marks BTC 27,500, ETH 2,000."""
    from exsim.actors.latency import Constant
    from exsim.actors.liquidator import Liquidator
    from exsim.actors.messages import RiskUpdate
    from exsim.actors.network import Network

    liq = Liquidator(Network(1, Constant(1)), 4, 0, 2, k=[C.k, C.k], interval_ns=1,
                     first="takeover",
                     slice_lots=1000, tolerance=0.0, adl_policy="bitmex")
    liq.latest = RiskUpdate(0, [px(27500), px(2000)], [], funds, qty, cost, cash)
    if queued is not None:
        acct, sym = queued
        liq.queued[sym].append(acct)
        liq.pending.add((acct, sym))
    return liq._next_request()


def test_the_liquidator_judges_each_fund_alone() -> None:
    """The BTC fund holds 1 BTC from 28,500 at 27,500 with 100 of cash: -900.  Per
    symbol, with 100,000 in the ETH fund, it asks for ADL in BTC (at 28,500); shared, the
    same 100,100 in one fund is 99,100, so it works the BTC out instead (a reduce-only
    sell at 28,500, tolerance 0).  Takeovers and work-out orders name the symbol's fund."""
    from exsim.actors.messages import Deleverage, Liquidate, Submit

    btc = [lots("1"), 0], [C.notional(px(28500), lots("1")), 0]
    assert _liquidator_asks([FUND, ETH_FUND], *btc, [usd(100), usd(100000)]) == Deleverage(
        0, "bitmex")  # at the fund's entry, 28,500, as the core finds it
    work_out = _liquidator_asks([FUND, FUND], *btc, [usd(100100)] * 2)
    assert work_out == Submit(FUND, 0, 1, SELL, lots("1"), px(28500), tif=IOC,
                              reduce_only=True)
    eth = [0, lots("1")], [0, C.notional(px(2000), lots("1"))]
    assert _liquidator_asks([FUND, ETH_FUND], *eth, [usd(100), usd(100000)]) == Submit(
        ETH_FUND, 1, 1, SELL, lots("1"), px(2000), tif=IOC, reduce_only=True)
    assert _liquidator_asks([FUND, ETH_FUND], [0, 0], [0, 0], [0, 0], queued=(E, 1)) == (
        Liquidate(E, 1, ETH_FUND))


# ----------------------------------------------------------------------------- whole runs
class OneOrder(Agent):
    """After ``delay_s``, one limit order on symbol ``sym``: ``side`` ("buy"/"sell"),
    ``qty`` and ``price`` in base and quote units.  Nothing else."""

    async def run(self, ctx: Context) -> None:
        p = ctx.params
        sym = int(p["sym"])
        await ctx.sleep(float(p["delay_s"]))
        ctx.submit(BUY if p["side"] == "buy" else SELL, ctx.lots(str(p["qty"]), sym),
                   ctx.ticks(str(p["price"]), sym), sym=sym)


def two_symbol_crash(scope: str) -> dict[str, Any]:
    """Ten minutes, both index paths fall 10% at 120 s over 60 s and recover a third.

    BTCUSDT (symbol 0) has the built-in crowd: deep makers, noise, 30 leveraged longs
    at 10-40x, so its liquidations are worked out into bids, mostly above bankruptcy.
    ETHUSDT (symbol 1) has only a whale, long 3 at 30,000 and 20x (cross, 5,000), and
    the seller it bought from: nobody bids, so whoever takes the whale over at about
    28,350 is still holding 3 when the index reaches 27,000, some 4,000 under water.
    """
    return {
        "run": {"seed": 3, "duration": 600.0},
        "symbols": [{"name": "BTCUSDT"}, {"name": "ETHUSDT"}],
        "scenario": {"kind": "flash_crash", "start_price": 30000.0, "crash_at_s": 120.0,
                     "drop": 0.1, "fall_s": 60.0, "recovery": 0.3, "recover_s": 300.0},
        "liquidation": {"fund_initial": 1000.0, "fund_scope": scope, "interval_ms": 50.0},
        "agents": [
            {"class": "market_maker", "count": 4, "deposit": 2_000_000.0, "leverage": 5,
             "params": {"quote_lots": 3000, "half_spread_bps": 3.0, "pull_move_bps": 30.0,
                        "widen": 5.0, "max_inventory_lots": 20000,
                        "skew_bps_per_lot": 0.002}},
            {"class": "noise", "count": 10, "deposit": 20_000.0},
            {"class": "leveraged", "count": 30, "deposit": 5000.0,
             "params": {"leverage_min": 10, "leverage_max": 40, "p_long": 0.9,
                        "wait_mean_s": 30, "hold_mean_s": 3600}},
            {"class": "test_fund_scope:OneOrder", "deposit": 100_000.0, "leverage": 5,
             "params": {"sym": 1, "side": "sell", "qty": "3", "price": "30000",
                        "delay_s": 1.0}},
            {"class": "test_fund_scope:OneOrder", "deposit": 5000.0, "leverage": 20,
             "params": {"sym": 1, "side": "buy", "qty": "3", "price": "30000",
                        "delay_s": 5.0}},
        ],
    }


def test_per_symbol_funds_in_a_whole_run() -> None:
    """Each fund takes over its own symbol's positions; ETHUSDT's fund (1,000) is short
    once the whale's 3 ETH are under water and ETH deleverages the seller, while
    BTCUSDT's fund has only grown from its liquidations.  Every invariant holds, per
    fund; the summary's fund is the total with a per-symbol breakdown."""
    from exsim.config import parse_config
    from exsim.sim import Simulation

    sim = Simulation(parse_config(two_symbol_crash("per_symbol")))
    s = sim.run()
    assert s["complete"] and all(s["invariants"].values()), s["invariants"]
    log = sim.recorder.log
    takeovers = [e for _, e in log if e[0] == LIQUIDATION]
    assert {(e[1], e[7]) for e in takeovers} == {(0, FUND), (1, ETH_FUND)}
    adl = [e for _, e in log if e[0] == ADL]
    assert adl and all(e[1] == 1 for e in adl)  # only ETH deleverages
    fund = s["insurance_fund"]
    btc, eth = fund["by_symbol"]["BTCUSDT"], fund["by_symbol"]["ETHUSDT"]
    assert btc["start"] == eth["start"] == 1000.0 and fund["start"] == 2000.0
    assert btc["min"] == 1000.0 and btc["end"] > 1000.0  # rich the whole time
    assert fund["end"] == pytest.approx(btc["end"] + eth["end"])
    assert {sym for _, sym, _ in sim.series["symbol_fund"]} == {0, 1}


def test_the_same_run_with_one_shared_fund_does_not_deleverage() -> None:
    """Shared: BTC's liquidation income stands behind the whale's ETH too, the fund is
    never short and nobody is deleveraged."""
    from exsim.config import parse_config
    from exsim.sim import Simulation

    sim = Simulation(parse_config(two_symbol_crash("shared")))
    s = sim.run()
    assert s["complete"] and all(s["invariants"].values()), s["invariants"]
    assert {e[7] for _, e in sim.recorder.log if e[0] == LIQUIDATION} == {FUND}
    assert s["adl_events"] == 0 and "by_symbol" not in s["insurance_fund"]
    assert "symbol_fund" not in sim.series


@pytest.mark.parametrize(("liquidation", "message"), [
    ({"fund_scope": "per-symbol"},
     "liquidation.fund_scope: 'per-symbol' is not one of shared, per_symbol; did you mean "
     "'per_symbol'"),
    ({"fund_scope": "isolated"}, "'isolated' is not one of shared, per_symbol"),
    ({"fund_scope": True}, "fund_scope: expected a string"),
    ({"fund_scope": "per_symbol", "fund_initial": [1000.0, 5000.0]},
     "fund_initial: one number, not a list"),
    ({"fund_scope": "per_symbol", "fund_initial": -1.0}, "fund_initial: must be >= 0"),
])
def test_invalid_fund_scopes_are_config_errors(liquidation: dict[str, Any],
                                                message: str) -> None:
    from exsim.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=message):
        parse_config({"liquidation": liquidation})


def test_fund_scope_reaches_the_core() -> None:
    from exsim.config import parse_config
    from exsim.sim import Simulation

    doc: dict[str, Any] = {"symbols": [{"name": "BTCUSDT"}, {"name": "ETHUSDT"}],
                           "liquidation": {"fund_initial": 250.0}}
    assert parse_config(doc).liquidation.fund_scope == "shared"
    shared = Simulation(parse_config(doc)).core
    assert shared.funds == (FUND,) and shared.fund.wallet == usd(250)
    doc["liquidation"]["fund_scope"] = "per_symbol"
    split = Simulation(parse_config(doc)).core
    assert split.fund_ids == [FUND, ETH_FUND]
    assert [split.accounts[f].wallet for f in split.funds] == [usd(250), usd(250)]


def test_the_liquidator_gives_every_symbol_its_turn() -> None:
    """The BTC fund (rich) holds a position it cannot sell; the ETH fund is short. Asked
    again and again, the liquidator alternates: a BTC slice, then ETH's ADL, ... (it used
    to offer BTC slices forever)."""
    from exsim.actors.latency import Constant
    from exsim.actors.liquidator import Liquidator
    from exsim.actors.messages import Deleverage, RiskUpdate, Submit
    from exsim.actors.network import Network

    liq = Liquidator(Network(1, Constant(1)), 4, 0, 2, k=[C.k, C.k], interval_ns=1,
                     first="takeover",
                     slice_lots=1000, tolerance=0.0, adl_policy="bitmex")
    # BTC fund: 1 BTC from 27,500 at 27,500 with 100,000; ETH fund: 1 ETH from 2,100 at 2,000
    liq.latest = RiskUpdate(0, [px(27500), px(2000)], [], [FUND, ETH_FUND],
                            [lots("1"), lots("1")],
                            [C.notional(px(27500), lots("1")), C.notional(px(2100), lots("1"))],
                            [usd(100000), usd(10)])
    asked = [liq._next_request() for _ in range(3)]
    assert [type(a) for a in asked] == [Submit, Deleverage, Submit]
    assert asked[1] == Deleverage(1, "bitmex")


def test_a_work_out_order_leaves_the_fund_its_fee() -> None:
    """The fund holds 1 BTC from 28,500 with 10 of cash and tolerance 2%; the taker fee
    (0.05% of ~28,500 = 14.25) is more than its cash, so it may only sell above its entry:
    (10 - 1 x 28,500 x 1.02 x 0.0005) / 1 BTC = -4.535: no lower than 28,504.535, 28,504.6
    on the 0.1 tick (rounded up, in the fund's favour)."""
    from exsim.actors.latency import Constant
    from exsim.actors.liquidator import Liquidator
    from exsim.actors.messages import RiskUpdate, Submit
    from exsim.actors.network import Network

    liq = Liquidator(Network(1, Constant(1)), 4, 0, 1, k=[C.k], interval_ns=1, first="takeover",
                     slice_lots=1000, tolerance=0.02, adl_policy="bitmex", last_step="none",
                     taker_fee_ppm=[500])
    liq.latest = RiskUpdate(0, [px(28500)], [], [FUND], [lots("1")],
                            [C.notional(px(28500), lots("1"))], [usd(10)])
    order = liq._next_request()
    assert isinstance(order, Submit) and order.price == px("28504.6")
