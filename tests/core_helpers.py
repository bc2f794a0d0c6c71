"""Shared helpers for exchange-core tests: a standard symbol and a full-state snapshot."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from exsim.core.engine import ExchangeCore
from exsim.core.symbols import BINANCE_BTCUSDT_2021, SymbolSpec, brackets_from_quote
from exsim.core.units import LinearContract

C = LinearContract("0.1", "0.001", "0.00000001")
BRACKETS = brackets_from_quote(C, BINANCE_BTCUSDT_2021)


def spec(name: str = "BTCUSDT", **kw: Any) -> SymbolSpec:
    kw.setdefault("maker_fee", 200)
    kw.setdefault("taker_fee", 500)
    kw.setdefault("default_leverage", 10)
    return SymbolSpec(name, C, BRACKETS, **kw)


def usd(x: str | int) -> int:
    return C.cash_to_atoms(Decimal(x))


def px(x: str | int) -> int:
    return C.price_to_ticks(Decimal(x))


def lots(x: str | int) -> int:
    return C.qty_to_lots(Decimal(x))


def snapshot(core: ExchangeCore) -> Any:
    """Everything that a request may change, as plain comparable data."""
    accounts = {
        a.id: (a.wallet, {s: (p.qty, p.cost, p.leverage, p.isolated, p.margin, p.buy_open,
                              p.sell_open, list(p.ro)) for s, p in a.positions.items()})
        for a in core.accounts.values()
    }
    books = [
        (m.mark, [tuple(o) for o in m.book.orders.values()],
         {p: [o[0] for o in q] for p, q in m.book.bids.items()},
         {p: [o[0] for o in q] for p, q in m.book.asks.items()},
         list(m.book.bid_prices), list(m.book.ask_prices), m.book.best_bid, m.book.best_ask)
        for m in core.markets
    ]
    ledger = (core.ledger.deposits, core.ledger.fee_pool)
    return accounts, books, ledger


LONG = os.environ.get("EXSIM_LONG", "") not in ("", "0")
"""``EXSIM_LONG=1``: the property tests run many more and longer random sequences."""


def examples(n: int, factor: int = 20) -> int:
    """``n`` in CI (a few seconds), ``factor`` times as many under ``EXSIM_LONG=1``."""
    return n * factor if LONG else n
