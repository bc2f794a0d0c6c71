"""Clearing worked by hand: positions, average entry, realized PnL, fees, conservation.

Grid: tick 0.1, lot 0.001 BTC, atom 1e-8 USDT (k = 10,000 atoms per tick-lot).
Fees: maker -0.01% (a rebate), taker 0.05%.
"""

from __future__ import annotations

from decimal import Decimal

from exsim.core.accounts import Account, Position
from exsim.core.clearing import apply_trade, fee
from exsim.core.engine import ExchangeCore
from exsim.core.events import FILL
from exsim.core.orders import BUY, MARKET, SELL
from exsim.core.symbols import BINANCE_BTCUSDT_2021, SymbolSpec, brackets_from_quote
from exsim.core.units import LinearContract

C = LinearContract("0.1", "0.001", "0.00000001")
SPEC = SymbolSpec("BTCUSDT", C, brackets_from_quote(C, BINANCE_BTCUSDT_2021),
                  maker_fee=-100, taker_fee=500, default_leverage=10)


def usd(x: str) -> int:
    return C.cash_to_atoms(Decimal(x))


def px(x: str) -> int:
    return C.price_to_ticks(Decimal(x))


def lots(x: str) -> int:
    return C.qty_to_lots(Decimal(x))


def fresh(*accounts: int, cash: str = "100000") -> ExchangeCore:
    core = ExchangeCore([SPEC])
    core.set_mark(0, px("30000"))
    for a in accounts:
        core.deposit(a, usd(cash))
    return core


def fills(core: ExchangeCore) -> list[tuple[int, ...]]:
    out = [e for e in core.events if e[0] == FILL]
    core.events.clear()
    return out


def test_fee_rounding() -> None:
    # 1 lot at 1 tick = 10,000 atoms: 0.0333% -> 3.33 atoms: charged 4, rebated 3
    assert fee(10_000, 333) == 4
    assert fee(10_000, -333) == -3
    assert fee(10_000, 500) == 5


def test_open_reduce_flip_close_by_hand() -> None:
    """A sells 2 BTC to B at 30,000; B sells 0.5 to C at 31,000; B sells 2 to D at 30,500.

    1. B buys 2 @ 30,000 (taker): notional 60,000, B pays 30.00, A (maker) gets 6.00.
    2. B sells 0.5 @ 31,000 to C's bid: realized (31,000 - 30,000) x 0.5 = +500;
       fee 0.05% x 15,500 = 7.75; C's rebate 1.55.
    3. B sells 2 @ 30,500 to D's bid: closes 1.5 (realized 1.5 x 500 = +750) and opens a
       0.5 short at 30,500; fee 0.05% x 61,000 = 30.50; D's rebate 6.10.
    B's wallet: 100,000 - 30 + 500 - 7.75 + 750 - 30.50 = 101,181.75.
    """
    core = fresh(1, 2, 3, 4)
    assert core.submit(1, 0, 1, SELL, lots("2"), px("30000"))
    assert core.submit(2, 0, 2, BUY, lots("2"), order_type=MARKET)
    (f,) = fills(core)
    assert f[2:4] == (px("30000"), lots("2"))
    assert f[9:13] == (usd("30"), -usd("6"), 0, 0)  # fees, realized
    assert core.accounts[1].wallet == usd("100006")

    core.set_mark(0, px("31000"))
    assert core.submit(3, 0, 3, BUY, lots("0.5"), px("31000"))
    assert core.submit(2, 0, 4, SELL, lots("0.5"), px("31000"))
    (f,) = fills(core)
    assert f[9:13] == (usd("7.75"), -usd("1.55"), usd("500"), 0)

    assert core.submit(4, 0, 5, BUY, lots("2"), px("30500"))
    assert core.submit(2, 0, 6, SELL, lots("2"), px("30500"))
    (f,) = fills(core)
    assert f[9:13] == (usd("30.5"), -usd("6.1"), usd("750"), 0)

    b = core.accounts[2].positions[0]
    assert b.qty == -lots("0.5")
    assert b.cost == -C.notional(px("30500"), lots("0.5"))
    assert b.entry_price(C.k) == px("30500")
    assert core.accounts[2].wallet == usd("101181.75")
    # fee pool: 30 - 6 + 7.75 - 1.55 + 30.5 - 6.1
    assert core.ledger.fee_pool == usd("54.6")
    assert core.open_interest(0) == (lots("2.5"), lots("2.5"))
    assert all(core.invariants().values())

    # everybody closes at 29,000 against a maker (account 5): every cost goes back to zero
    core.deposit(5, usd("1000000"))
    core.set_mark(0, px("29000"))
    for acct in (1, 3, 4, 2):
        pos = core.accounts[acct].positions[0]
        side = SELL if pos.qty > 0 else BUY
        maker_side = BUY if side == SELL else SELL
        oid = 100 + acct
        assert core.submit(5, 0, oid, maker_side, abs(pos.qty), px("29000"))
        assert core.submit(acct, 0, oid + 10, side, abs(pos.qty), px("29000"))
    fills(core)
    assert all(p.qty == 0 and p.cost == 0 for a in (1, 2, 3, 4)
               for p in core.accounts[a].positions.values())
    flat = sum(core.accounts[a].wallet for a in (1, 2, 3, 4))
    open_ = core.accounts[5].positions[0]
    # account 5 holds the net position; total equity still equals deposits to the atom
    assert flat + core.accounts[5].wallet - open_.cost + core.ledger.fee_pool == \
        core.ledger.deposits


def test_partial_close_rounding_loses_no_atom() -> None:
    """Long 3 lots bought at 10, 11, 11 ticks (cost 320,000 atoms); sell 1 then 2 at 12.

    First close removes ceil(320,000 / 3) = 106,667 of cost (the exchange's side of
    the rounding): realized 13,333.  Second removes the rest, 213,333: realized
    26,667.  Total 40,000 = 3 x 12 x k - 320,000 exactly.
    """
    acct = Account(1, 0)
    pos = Position(0, 10)
    k = 10_000
    for p in (10, 11, 11):
        assert apply_trade(acct, pos, 1, p, k) == 0
    assert pos.cost == 320_000
    assert apply_trade(acct, pos, -1, 12, k) == 13_333
    assert (pos.qty, pos.cost) == (2, 213_333)
    assert apply_trade(acct, pos, -2, 12, k) == 26_667
    assert (pos.qty, pos.cost, acct.wallet) == (0, 0, 40_000)


def test_short_partial_close_and_flip() -> None:
    acct = Account(1, 0)
    pos = Position(0, 10)
    k = 1
    apply_trade(acct, pos, -4, 100, k)  # short 4 @ 100: cost -400
    # a short's odd split also rounds against the trader: 4 lots with proceeds 401,
    # bought back 1 at 100: exact gain 100.25 - 100 = 0.25, paid 0 (removes ceil(-100.25))
    other = Account(2, 0)
    odd = Position(0, 10)
    apply_trade(other, odd, -4, 100, k)
    odd.cost -= 1
    assert apply_trade(other, odd, 1, 100, k) == 0
    assert odd.cost == -301
    assert apply_trade(acct, pos, 1, 90, k) == 10  # buy back 1 @ 90: +10
    assert (pos.qty, pos.cost) == (-3, -300)
    assert apply_trade(acct, pos, 5, 110, k) == -30  # close 3 @ 110 (-30), open long 2 @ 110
    assert (pos.qty, pos.cost, acct.wallet) == (2, 220, -20)


def test_isolated_margin_moves_and_returns() -> None:
    """Isolated 10x: long 1 BTC at 30,000 moves 3,000 into the position's margin.

    Selling 0.4 at 29,000 realizes -400 into the margin (2,600), then returns
    the closed share 0.4 / 1 of it (1,040) to the wallet; closing the rest at
    31,000 realizes +600 into the margin (2,160), all returned.
    Wallet: 10,000 - 3,000 + 1,040 + 2,160 = 10,200 (fees aside) = 10,000 - 400 + 600.
    """
    acct = Account(1, usd("10000"))
    pos = Position(0, 10, isolated=True)
    k = C.k
    apply_trade(acct, pos, lots("1"), px("30000"), k)
    assert (acct.wallet, pos.margin) == (usd("7000"), usd("3000"))
    assert apply_trade(acct, pos, -lots("0.4"), px("29000"), k) == -usd("400")
    assert (acct.wallet, pos.margin) == (usd("8040"), usd("1560"))
    assert apply_trade(acct, pos, -lots("0.6"), px("31000"), k) == usd("600")
    assert (acct.wallet, pos.margin, pos.qty) == (usd("10200"), 0, 0)
