"""The exchange core: validation, pre-trade risk, the books and clearing, as one state machine.

:class:`ExchangeCore` is the single writer of all exchange state.  Every request
(deposit, mark, leverage, submit, cancel, amend) is a synchronous method that
either changes the state and appends events to :attr:`ExchangeCore.events`, or
appends one ``REJECTED`` event and changes nothing.  Bad input of any shape
(wrong types, off-grid decimals, unknown ids) is a reject with a reason code,
never an exception.  The actor layer wraps this class; nothing here awaits.

Prices are ticks and quantities lots (ints).  ``Decimal`` prices and quantities
are also accepted and converted on the symbol's grid, so an off-tick price is
rejected with ``BAD_PRICE`` rather than silently rounded.  Symbols may be named
by index or by name.

Pre-trade risk: an order that raises its position's worst-case exposure
(:meth:`exsim.core.accounts.Position.exposure`, which counts resting orders) must
fit the risk limit of its leverage (the bracket's max leverage at the new
notional) and leave the account's available balance non-negative after the
extra initial margin and the taker fee it could pay.  Orders that do not raise
exposure (including every reduce-only order) are never refused for margin.

Known simplification: reduce-only is enforced when an order is placed and
whenever its position changes (orders are trimmed to the position).  Inside a
single sweep by one taker, a reduce-only maker can still fill past zero if a
normal order of the same account on the same side was filled earlier in that
sweep.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Final, TypeGuard

from exsim.core import events as ev
from exsim.core.accounts import (
    Account,
    Position,
    available_balance,
    margin_equity,
    position_bankruptcy_price,
    position_bankruptcy_price_exact,
    withdrawable,
)
from exsim.core.adl import POLICIES as ADL_POLICIES
from exsim.core.adl import Candidate, allocate, deleverage_queue, quantiles
from exsim.core.book import INF, NO_FILLS, OrderBook
from exsim.core.clearing import Ledger, apply_trade
from exsim.core.deleverage import lots_to_close, pro_rata
from exsim.core.events import ACCEPTED, CANCELLED, FILL
from exsim.core.funding import RATE_SCALE
from exsim.core.funding import payment as funding_payment
from exsim.core.hints import Arg
from exsim.core.liquidation import (
    ALL_TO_FUND,
    FUND,
    FUND_SCOPES,
    LIQUIDATION_ORDER,
    SHARED,
    VAULT,
    LiquidationRules,
    fund_account,
    is_liquidatable,
    liquidation_fee,
    liquidation_order_limit,
    step_lots,
)
from exsim.core.margin import (
    initial_margin,
    maintenance_margin,
    max_leverage_for,
)
from exsim.core.orders import (
    BUY,
    FLAG_POST_ONLY,
    FLAG_REDUCE_ONLY,
    FOK,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    POST_ONLY,
    SELL,
    STP_CANCEL_TAKER,
    CancelReason,
    Reject,
)
from exsim.core.symbols import Market, SymbolSpec
from exsim.core.units import PPM, ceil_div

MAX_UNITS: Final = 1 << 53
"""Largest price (ticks) or quantity (lots) accepted: beyond any market, far below ``INF``."""

_INT64_MIN: Final = -(1 << 63)
_INT64_END: Final = 1 << 63

_SUBMIT: Final = int(ev.Request.SUBMIT)
_CANCEL: Final = int(ev.Request.CANCEL)
_AMEND: Final = int(ev.Request.AMEND)
_C_USER: Final = int(CancelReason.USER)
_C_IOC: Final = int(CancelReason.IOC_REMAINDER)
_C_FOK: Final = int(CancelReason.FOK_UNFILLABLE)
_C_STP_TAKER: Final = int(CancelReason.STP_TAKER)
_C_STP_MAKER: Final = int(CancelReason.STP_MAKER)
_C_RO_TRIM: Final = int(CancelReason.REDUCE_ONLY_TRIM)
_C_LIQUIDATION: Final = int(CancelReason.LIQUIDATION)
_C_DELEVERAGED: Final = int(CancelReason.DELEVERAGED)


def _is_int(x: object) -> TypeGuard[int]:
    """An int or IntEnum, but not a bool (``True`` is not a quantity)."""
    return isinstance(x, int) and not isinstance(x, bool)


def _on_grid(value: object, step: Decimal) -> int | None:
    """A positive int below :data:`MAX_UNITS` from an int or an on-grid Decimal, else ``None``."""
    if _is_int(value):
        n = int(value)
    elif isinstance(value, Decimal):
        # refuse non-finite and absurdly large values before any arithmetic on them
        if not value.is_finite() or value.adjusted() > 30:
            return None
        q = value / step
        if q != q.to_integral_value():
            return None
        n = int(q)
    else:
        return None
    return n if 0 < n < MAX_UNITS else None


def _int64_or_minus_one(value: object) -> int:
    """``value`` as an int if it is one that fits in int64, else -1 (for a REJECTED event)."""
    if _is_int(value) and _INT64_MIN <= value < _INT64_END:
        return int(value)
    return -1


def _small_enum(value: object, size: int) -> int | None:
    """An int (or IntEnum) in ``range(size)``, else ``None``."""
    if _is_int(value) and 0 <= value < size:
        return int(value)
    return None


class ExchangeCore:
    """Books, accounts and the ledger of one exchange; see the module docstring.

    ``fund_scope`` (:data:`~exsim.core.liquidation.FUND_SCOPES`): one insurance fund
    for every symbol (``"shared"``, account -1), or one per symbol (``"per_symbol"``,
    accounts :func:`~exsim.core.liquidation.fund_account`: -1, -3, -4, ...), each
    with its own cash, taking over only its symbol's positions and judged short on
    its own equity.
    """

    def __init__(self, symbols: Sequence[SymbolSpec], *, stp: int = STP_CANCEL_TAKER,
                 liquidation: LiquidationRules | None = None,
                 fund_scope: str = SHARED) -> None:
        if not symbols:
            raise ValueError("an exchange needs at least one symbol")
        names = [s.name for s in symbols]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate symbol names: {names}")
        if not 0 <= stp <= 3:
            raise ValueError(f"unknown self-trade prevention mode {stp}")
        if fund_scope not in FUND_SCOPES:
            raise ValueError(f"fund scope must be one of {FUND_SCOPES}, got {fund_scope!r}")
        self.markets: list[Market] = [Market(i, s) for i, s in enumerate(symbols)]
        self.symbol_index: dict[str, int] = {s.name: i for i, s in enumerate(symbols)}
        self.fund_scope = fund_scope
        # the insurance fund's account behind each symbol (all -1 when shared)
        self.fund_ids: list[int] = [fund_account(i, fund_scope) for i in range(len(symbols))]
        self.funds: tuple[int, ...] = tuple(dict.fromkeys(self.fund_ids))  # each fund once
        self.accounts: dict[int, Account] = {f: Account(f) for f in self.funds}
        self.ledger = Ledger()
        self.stp_default = stp
        # how a liquidation step is sized and who keeps the liquidated part's margin
        self.liquidation_rules = liquidation if liquidation is not None else LiquidationRules()
        self.events: list[ev.Event] = []
        self.liquidation_orders = 0  # liquidation orders sent to the book so far

    # ================================================================== lookups
    def market(self, sym: object) -> Market | None:
        """The market for a symbol index or name, or ``None``."""
        if type(sym) is int:
            return self.markets[sym] if 0 <= sym < len(self.markets) else None
        if isinstance(sym, str):
            i = self.symbol_index.get(sym)
            return None if i is None else self.markets[i]
        if _is_int(sym):
            return self.market(int(sym))
        return None

    def account(self, acct_id: object) -> Account | None:
        return self.accounts.get(acct_id) if _is_int(acct_id) else None

    def position_of(self, acct_id: Arg[int], sym: Arg[int | str]) -> Position | None:
        """An account's position in a symbol, if it has one."""
        acct = self.account(acct_id)
        m = self.market(sym)
        return None if acct is None or m is None else acct.positions.get(m.index)

    def book(self, sym: Arg[int | str]) -> OrderBook:
        m = self.market(sym)
        if m is None:
            raise KeyError(sym)
        return m.book

    def _reject(self, request: int, sym: object, oid: object, acct: object,
                reason: Reject) -> bool:
        """Append one REJECTED event; an oid or account id that is not an int64 is -1 in it
        (the event log's columns are int64: a refused ``cancel(10**30)`` must not break it)."""
        m = self.market(sym) if sym is not None else None
        self.events.append((ev.REJECTED, request, -1 if m is None else m.index,
                            _int64_or_minus_one(oid), _int64_or_minus_one(acct), int(reason)))
        return False

    # ================================================================== cash and settings
    def deposit(self, acct_id: Arg[int], amount: Arg[int]) -> bool:
        """Credit ``amount`` atoms to an account's wallet, opening the account if new."""
        if not _is_int(acct_id) or acct_id < 0:
            return self._reject(int(ev.Request.DEPOSIT), None, None, acct_id,
                                Reject.UNKNOWN_ACCOUNT)
        if not _is_int(amount) or amount <= 0:
            return self._reject(int(ev.Request.DEPOSIT), None, None, acct_id, Reject.BAD_AMOUNT)
        acct_id, amount = int(acct_id), int(amount)
        acct = self.accounts.get(acct_id)
        if acct is None:
            acct = self.accounts[acct_id] = Account(acct_id)
        acct.wallet += amount
        self.ledger.deposits += amount
        self.events.append((ev.DEPOSIT, acct_id, amount))
        return True

    def withdraw(self, acct_id: Arg[int], amount: Arg[int]) -> bool:
        """Pay ``amount`` atoms out of the wallet, if that much is withdrawable
        (:func:`~exsim.core.accounts.withdrawable`: cash, never unrealized profit)."""
        req = int(ev.Request.WITHDRAW)
        acct = self.account(acct_id)
        if acct is None:
            return self._reject(req, None, None, acct_id, Reject.UNKNOWN_ACCOUNT)
        if not _is_int(amount) or amount <= 0:
            return self._reject(req, None, None, acct_id, Reject.BAD_AMOUNT)
        if withdrawable(acct, self.markets) < amount:
            return self._reject(req, None, None, acct_id, Reject.INSUFFICIENT_MARGIN)
        acct.wallet -= amount
        self.ledger.deposits -= amount
        self.events.append((ev.DEPOSIT, acct.id, -amount))
        return True

    def set_mark(self, sym: Arg[int | str], price: Arg[int], index: Arg[int] = 0) -> bool:
        """Set a symbol's mark price (ticks), the price every margin figure uses.

        ``index`` (ticks, rounded; 0: not given) is the index the mark was made from,
        recorded beside it so that a run's log says where the index went (with an index
        from spot venues, nothing else does).
        """
        m = self.market(sym)
        if m is None:
            return self._reject(int(ev.Request.MARK), sym, None, None, Reject.UNKNOWN_SYMBOL)
        p = _on_grid(price, m.spec.contract.tick_size)
        if p is None or not _is_int(index) or not 0 <= index < MAX_UNITS:
            return self._reject(int(ev.Request.MARK), sym, None, None, Reject.BAD_PRICE)
        m.mark = p
        self.events.append((ev.MARK, m.index, p, int(index)))
        return True

    def _settings_target(self, req: int, acct_id: object, sym: object
                         ) -> tuple[Account, Market] | None:
        acct = self.account(acct_id)
        if acct is None:
            self._reject(req, sym, None, acct_id, Reject.UNKNOWN_ACCOUNT)
            return None
        m = self.market(sym)
        if m is None:
            self._reject(req, sym, None, acct_id, Reject.UNKNOWN_SYMBOL)
            return None
        return acct, m

    def _position(self, acct: Account, m: Market) -> tuple[Position, bool]:
        """The account's position in ``m``, or a fresh one not yet attached (``True``)."""
        pos = acct.positions.get(m.index)
        if pos is None:
            return Position(m.index, m.spec.default_leverage), True
        return pos, False

    def set_leverage(self, acct_id: Arg[int], sym: Arg[int | str], leverage: Arg[int]) -> bool:
        """Change a position's leverage, if its risk limit and the account's margin allow."""
        req = int(ev.Request.LEVERAGE)
        target = self._settings_target(req, acct_id, sym)
        if target is None:
            return False
        acct, m = target
        if not _is_int(leverage) or not 1 <= leverage <= m.spec.max_leverage:
            return self._reject(req, m.index, None, acct.id, Reject.BAD_LEVERAGE)
        leverage = int(leverage)
        pos, new = self._position(acct, m)
        if pos.qty or pos.buy_open or pos.sell_open:
            if m.mark is None:
                return self._reject(req, m.index, None, acct.id, Reject.NO_MARK_PRICE)
            exposure = pos.exposure(m.mark, m.k)
            if leverage > max_leverage_for(m.brackets, exposure):
                return self._reject(req, m.index, None, acct.id, Reject.RISK_LIMIT)
            old = pos.leverage
            pos.leverage = leverage
            if leverage < old and available_balance(acct, self.markets) < 0:
                pos.leverage = old
                return self._reject(req, m.index, None, acct.id, Reject.INSUFFICIENT_MARGIN)
        pos.leverage = leverage
        if new:
            acct.positions[m.index] = pos
        self.events.append((ev.LEVERAGE, m.index, acct.id, leverage, int(pos.isolated)))
        return True

    def set_margin_mode(self, acct_id: Arg[int], sym: Arg[int | str], isolated: Arg[bool]
                        ) -> bool:
        """Switch a symbol between cross and isolated margin (only while flat with no orders)."""
        req = int(ev.Request.MARGIN_MODE)
        target = self._settings_target(req, acct_id, sym)
        if target is None:
            return False
        acct, m = target
        if not isinstance(isolated, bool):
            return self._reject(req, m.index, None, acct.id, Reject.BAD_REQUEST)
        pos, new = self._position(acct, m)
        if pos.qty or pos.buy_open or pos.sell_open or pos.ro or pos.margin:
            return self._reject(req, m.index, None, acct.id, Reject.POSITION_OR_ORDERS_OPEN)
        pos.isolated = isolated
        if new:
            acct.positions[m.index] = pos
        self.events.append((ev.LEVERAGE, m.index, acct.id, pos.leverage, int(isolated)))
        return True

    def adjust_isolated_margin(self, acct_id: Arg[int], sym: Arg[int | str], amount: Arg[int]
                               ) -> bool:
        """Move ``amount`` atoms from the wallet into an isolated position (``< 0``: back).

        Adding needs that much available balance; removing must leave the
        position at least its initial margin.
        """
        req = int(ev.Request.ISOLATED_MARGIN)
        target = self._settings_target(req, acct_id, sym)
        if target is None:
            return False
        acct, m = target
        pos = acct.positions.get(m.index)
        if pos is None or not pos.isolated or not pos.qty:
            return self._reject(req, m.index, None, acct.id, Reject.BAD_REQUEST)
        if not _is_int(amount) or amount == 0:
            return self._reject(req, m.index, None, acct.id, Reject.BAD_AMOUNT)
        amount = int(amount)
        if amount > 0:
            if available_balance(acct, self.markets) < amount:
                return self._reject(req, m.index, None, acct.id, Reject.INSUFFICIENT_MARGIN)
        else:
            mark = m.mark if m.mark is not None else 0
            keep = (initial_margin(abs(pos.qty) * mark * m.k, pos.leverage)
                    - min(pos.upnl(mark, m.k), 0))
            if pos.margin + amount < keep:
                return self._reject(req, m.index, None, acct.id, Reject.INSUFFICIENT_MARGIN)
        acct.wallet -= amount
        pos.margin += amount
        self.events.append((ev.ISOLATED_MARGIN, m.index, acct.id, amount))
        return True

    def settle_funding(self, sym: Arg[int | str], rate: Arg[int]) -> bool:
        """Settle one funding interval at ``rate`` (1e-8 units) and the current mark.

        Every open position pays or receives ``|qty| x mark x rate`` (longs pay
        a positive rate), cross positions from the wallet and isolated ones
        from their margin.  Rounding is against each position, and the atoms
        this keeps go to the fee pool, so cash stays conserved exactly.

        A house account (a fund or the vault: a negative id) receives funding like
        anyone but pays only out of its cash, never below zero: the positions it holds
        are ones it is working out, and a fund with a negative balance would be a debt
        nobody backs.  What it cannot pay the fee pool pays, so the receivers get their
        due in full; its FUNDING event shows what it paid.
        """
        req = int(ev.Request.FUNDING)
        m = self.market(sym)
        if m is None:
            return self._reject(req, sym, None, None, Reject.UNKNOWN_SYMBOL)
        if not _is_int(rate) or abs(rate) >= RATE_SCALE:
            return self._reject(req, m.index, None, None, Reject.BAD_AMOUNT)
        mark = m.mark
        if mark is None:
            return self._reject(req, m.index, None, None, Reject.NO_MARK_PRICE)
        net = 0
        flows: list[ev.Event] = []
        for acct in self.accounts.values():
            pos = acct.positions.get(m.index)
            if pos is None or not pos.qty:
                continue
            amount = funding_payment(pos.qty, mark, m.k, int(rate))
            if amount < 0 and acct.id < 0:  # a house account pays out of its cash only
                cash = pos.margin if pos.isolated else acct.wallet
                if -amount > cash:
                    amount = -cash if cash > 0 else 0
            if pos.isolated:
                pos.margin += amount
            else:
                acct.wallet += amount
            net += amount
            flows.append((ev.FUNDING, m.index, acct.id, amount))
        self.ledger.fee_pool -= net
        self.events.append((ev.FUNDING_RATE, m.index, int(rate), mark, -net))
        self.events.extend(flows)
        return True

    def snapshot_accounts(self, adl_policy: str = "bitmex") -> None:
        """Append one ACCOUNT event per position (or per empty account) to :attr:`events`.

        Each carries the position's ADL indicator (1-5, 0 when flat) under
        ``adl_policy``, as exchanges show it to their users.
        """
        append = self.events.append
        markets = self.markets
        lights = [self.adl_quantiles(m.index, adl_policy) for m in markets]
        for acct in self.accounts.values():
            available = available_balance(acct, markets)
            if not acct.positions:
                append((ev.ACCOUNT, acct.id, -1, 0, 0, 0, acct.wallet, available, 0))
            for sym, pos in acct.positions.items():
                append((ev.ACCOUNT, acct.id, sym, pos.qty, pos.cost, pos.margin, acct.wallet,
                        available, lights[sym].get(acct.id, 0)))

    # ================================================================== liquidation
    @property
    def fund(self) -> Account:
        """The insurance fund's account (id -1): the shared fund, or symbol 0's."""
        return self.accounts[FUND]

    def fund_of(self, sym: int) -> Account:
        """The account of the insurance fund that covers symbol index ``sym``."""
        return self.accounts[self.fund_ids[sym]]

    def fund_equity(self, sym: int = 0) -> int:
        """Cash plus PnL at the marks of the positions it took over, of the fund that
        covers symbol index ``sym`` (shared: the one fund, whatever ``sym``)."""
        return self.account_equity(self.fund_ids[sym])

    def seed_fund(self, amount: Arg[int], sym: Arg[int | str | None] = None) -> bool:
        """Pay ``amount`` atoms into an insurance fund (counted as a deposit).

        Shared: the one fund (``sym`` may be left out); its FUND event names symbol -1.
        Per symbol: the fund of ``sym``, which must be given; the event names it.
        """
        if sym is None:
            if self.fund_scope != SHARED:
                return self._reject(int(ev.Request.DEPOSIT), None, None, FUND,
                                    Reject.UNKNOWN_SYMBOL)
            return self._seed(FUND, ev.FUND, amount)
        m = self.market(sym)
        if m is None:
            return self._reject(int(ev.Request.DEPOSIT), sym, None, FUND, Reject.UNKNOWN_SYMBOL)
        return self._seed(self.fund_ids[m.index], ev.FUND, amount,
                          -1 if self.fund_scope == SHARED else m.index)

    def seed_vault(self, amount: Arg[int]) -> bool:
        """Give the backstop vault (account -2) ``amount`` atoms of capital (a deposit)."""
        return self._seed(VAULT, ev.VAULT_TRANSFER, amount)

    def _seed(self, acct_id: int, kind: int, amount: object, sym: int = -1) -> bool:
        if not _is_int(amount) or amount <= 0:
            return self._reject(int(ev.Request.DEPOSIT), None, None, acct_id, Reject.BAD_AMOUNT)
        acct = self.accounts.get(acct_id)
        if acct is None:
            acct = self.accounts[acct_id] = Account(acct_id)
        acct.wallet += amount
        self.ledger.deposits += amount
        self.events.append((kind, sym, acct_id, int(amount)))
        return True

    def _cancel_all(self, acct: Account, syms: Sequence[int], reason: int) -> None:
        for sym in syms:
            m = self.markets[sym]
            pos = acct.positions.get(sym)
            if pos is None:
                continue
            for o in [o for o in m.book.orders.values() if o[1] == acct.id]:
                m.book.cancel(o[0])
                self._forget_resting(pos, o[0], o[2], o[3], o[4])
                self.events.append((CANCELLED, sym, o[0], acct.id, o[4], reason))

    def liquidate(self, acct_id: Arg[int], sym: Arg[int | str], to: Arg[int | None] = None,
                  into_book: Arg[bool] = False, tolerance: Arg[int] = 0, budget: Arg[int] = 0
                  ) -> bool:
        """One liquidation step: take (part of) a position under maintenance over.

        The account's open orders are cancelled (in that symbol if the position
        is isolated; if it is cross, in every symbol, isolated positions' orders
        too).  Then a part of the position, sized by :attr:`liquidation_rules`
        (:func:`~exsim.core.liquidation.step_lots`: all of it, down to the next lower
        bracket, or a capped fraction), moves to
        the taker-over ``to``: the insurance fund that covers the symbol (``None``,
        the default; :data:`FUND` when shared) or the backstop vault
        (:data:`VAULT`); another symbol's fund is refused.  A position at or beyond
        its bankruptcy price (no equity left at the mark) goes whole in every mode.
        If the rest is still under maintenance, the liquidator asks again: the next
        step.

        **The price.**  The bankruptcy price ``BP`` is the whole position's
        (:func:`~exsim.core.accounts.position_bankruptcy_price`: its share of the
        equity behind it exhausted, rounded towards the entry; a cross account's
        equity is shared over its cross positions by notional, each priced the same
        relative distance from its own mark); a part is the same fraction of the
        position and of the margin behind it, so it shares that price.  A deficit the
        price cannot carry (beyond the band of
        :func:`~exsim.core.margin.shared_bankruptcy_price_exact`) stays on the account,
        and the fund pays it as bad debt once the account is flat.  What the
        liquidated part is worth at the mark beyond ``BP`` (its remaining margin, the
        *excess*) is split by the fee policy
        (:func:`~exsim.core.liquidation.liquidation_fee`):

        * ``all_to_fund`` (Binance/BitMEX, the default): the part changes hands at
          ``BP``, so the excess goes to the taker-over as the part's value at the
          mark (plus, for an isolated part, the atoms of tick rounding, in cash).
        * ``capped`` (dYdX v4) and ``none`` (Hyperliquid): the part changes hands
          at the mark, so the excess stays with the trader, who then pays the
          taker-over the capped fee out of it (``none``: nothing).  A position at
          or beyond ``BP`` goes whole at ``BP`` under every policy: the
          taker-over absorbs the gap, the trader ends at zero for it.

        **The margin.**  Cross: the part's realized PnL at that price goes to the
        wallet, the rest of the position keeps the rest of the wallet.  Isolated:
        the part takes its proportional share of the isolated margin (rounded up,
        so it covers the part's loss at ``BP`` to the atom), the rest of the
        position keeps the rest; the part's excess is released to the wallet,
        out of which the fee is paid.  The fee is a FUND (or VAULT_TRANSFER)
        event, so the fund reconciles from events.  Cash is conserved exactly and
        the account never ends below zero for the part.  The fund then works its
        position out in the book; filling better than its takeover price is its
        income, worse its loss.  A vault holds what it absorbs.
        """
        req = int(ev.Request.LIQUIDATE)
        target = self._settings_target(req, acct_id, sym)
        if target is None:
            return False
        acct, m = target
        pos = acct.positions.get(m.index)
        if acct.id == VAULT and pos is not None and pos.qty:
            return self._release_vault(acct, pos, m)
        if acct.id < 0 or pos is None or not pos.qty:  # a fund (or an empty vault)
            return self._reject(req, m.index, None, acct.id, Reject.NO_POSITION)
        if to is None:
            to = self.fund_ids[m.index]
        elif not _is_int(to) or to not in (self.fund_ids[m.index], VAULT):  # another's fund
            return self._reject(req, m.index, None, acct.id, Reject.BAD_REQUEST)
        to = int(to)
        if (not isinstance(into_book, bool) or not _is_int(tolerance) or not _is_int(budget)
                or not 0 <= tolerance < PPM or budget < 0):
            return self._reject(req, m.index, None, acct.id, Reject.BAD_REQUEST)
        if not is_liquidatable(acct, pos, self.markets):
            return self._reject(req, m.index, None, acct.id, Reject.NOT_LIQUIDATABLE)
        price = position_bankruptcy_price(acct, m.index, self.markets)
        if price is None:  # no positive price: never while liquidatable (equity < notional)
            return self._reject(req, m.index, None, acct.id, Reject.NOT_LIQUIDATABLE)
        # cross: every order of the account, isolated ones too (Binance): one left resting
        # could fill later and take initial margin out of the wallet the takeover emptied
        syms = [m.index] if pos.isolated else list(acct.positions)
        self._cancel_all(acct, syms, _C_LIQUIDATION)
        mark = m.mark or 0  # set: is_liquidatable needs it
        qty = pos.qty
        whole = abs(qty)
        rules = self.liquidation_rules
        bankrupt = mark <= price if qty > 0 else mark >= price
        lots = whole if bankrupt else step_lots(rules, whole, mark, m.k, m.brackets)
        part = lots if qty > 0 else -lots
        # Where the difference between the mark and the bankruptcy price goes: trading
        # at BP hands it to the taker-over (all_to_fund); trading at the mark leaves it
        # with the trader, who pays the policy's fee out of it below.
        at = price if bankrupt or rules.fee_policy == ALL_TO_FUND else mark
        if to == VAULT and not self._vault_carries(m, part, at):
            to = self.fund_ids[m.index]  # what the vault cannot carry goes on to the fund
        taker = self.accounts.get(to)
        if taker is None:
            taker = self.accounts[to] = Account(to)
        tpos = taker.positions.get(m.index)
        if tpos is None:
            tpos = taker.positions[m.index] = Position(m.index, 1)
        wallet_before = acct.wallet
        margin_before = pos.margin
        realized = apply_trade(acct, pos, -part, at, m.k)
        taker_realized = apply_trade(taker, tpos, part, at, m.k)  # if it held the other side
        self.events.append((ev.LIQUIDATION, m.index, acct.id, part, at, mark, realized,
                            to, taker_realized))
        if pos.isolated:
            # apply_trade put the realized PnL into the margin and released a share to
            # the wallet; re-split the same cash: the rest of the position keeps its
            # proportional margin, the part's excess (share + realized) is released
            share = margin_before if lots == whole else ceil_div(margin_before * lots, whole)
            excess = acct.wallet - wallet_before + pos.margin - (margin_before - share)
            pos.margin = margin_before - share
            acct.wallet = wallet_before + excess
        else:  # already in the wallet: the part's PnL at the mark beyond its PnL at BP
            excess = lots * m.k * abs(at - price)
        fee = liquidation_fee(rules, excess, lots * mark * m.k)
        if fee > 0:
            acct.wallet -= fee
            taker.wallet += fee
            self.events.append((ev.FUND, m.index, acct.id, fee) if to != VAULT
                               else (ev.VAULT_TRANSFER, m.index, acct.id, fee))
        if acct.wallet < 0:  # a deficit the prices could not carry: bad debt once flat
            self._cover_bad_debt(m.index, acct)
        if into_book:
            self._liquidation_order(taker, tpos, m, part, at, int(tolerance),
                                    int(budget) if self.liquidation_rules.book_deficits
                                    else min(int(budget), max(taker.wallet, 0)))
        return True

    def _release_vault(self, vault: Account, pos: Position, m: Market) -> bool:
        """The vault's position in ``m`` goes on down the waterfall, to the symbol's fund,
        when the vault's equity at the marks no longer carries its haircut: at the price
        that leaves the vault's equity for this position at zero, shared over its
        positions by notional as for a cross account, so the vault ends at zero or
        above and the fund takes what the vault could not carry."""
        req = int(ev.Request.LIQUIDATE)
        if self._vault_carries(m, 0, 0):
            return self._reject(req, m.index, None, VAULT, Reject.NOT_LIQUIDATABLE)
        price = position_bankruptcy_price(vault, m.index, self.markets)
        if price is None:
            return self._reject(req, m.index, None, VAULT, Reject.NOT_LIQUIDATABLE)
        fund = self.accounts[self.fund_ids[m.index]]
        fpos = fund.positions.get(m.index)
        if fpos is None:
            fpos = fund.positions[m.index] = Position(m.index, 1)
        part = pos.qty
        self._cancel_all(vault, list(vault.positions), _C_LIQUIDATION)
        realized = apply_trade(vault, pos, -part, price, m.k)
        taker_realized = apply_trade(fund, fpos, part, price, m.k)
        self.events.append((ev.LIQUIDATION, m.index, VAULT, part, price, m.mark or 0, realized,
                            fund.id, taker_realized))
        return True

    def _vault_carries(self, m: Market, part: int, at: int) -> bool:
        """Would the vault, taking ``part`` lots over at ``at``, keep an equity at the marks
        of at least ``vault_haircut`` of its positions' notional there?  (Its equity
        changes by the part's value at the mark beyond ``at``.)"""
        vault = self.accounts.get(VAULT)
        mark = m.mark or 0
        equity = (0 if vault is None else self.account_equity(VAULT)) + part * (mark - at) * m.k
        notional = 0
        for pos in ([] if vault is None else vault.positions.values()):
            pm = self.markets[pos.sym]
            qty = pos.qty + (part if pos.sym == m.index else 0)
            notional += abs(qty) * (pm.mark or 0) * pm.k
        if vault is None or m.index not in vault.positions:
            notional += abs(part) * mark * m.k
        return equity >= 0 and equity * PPM >= self.liquidation_rules.vault_haircut * notional

    def _liquidation_order(self, taker: Account, tpos: Position, m: Market, part: int,
                           at: int, tolerance: int, budget: int) -> None:
        """The liquidation order into the book: the part just taken over, sold (or bought
        back) by its taker-over at once, reduce-only IOC, at ``at`` or as far as
        ``tolerance`` (ppm) worse while ``budget`` atoms of its cash pay for the difference
        (:func:`~exsim.core.liquidation.liquidation_order_limit`).  What does not fill
        stays with the taker-over, as a takeover would.  Its order id has
        :data:`~exsim.core.liquidation.LIQUIDATION_ORDER` set."""
        held = tpos.qty
        if not held or (held > 0) != (part > 0):  # the takeover netted against its position
            return
        lots = min(abs(part), abs(held))
        limit = liquidation_order_limit(held, tpos.cost, lots, at, m.k, m.taker_fee,
                                        tolerance, budget)
        self.liquidation_orders += 1
        self._submit(taker.id, m.index, LIQUIDATION_ORDER | self.liquidation_orders,
                     SELL if held > 0 else BUY, lots, limit, LIMIT, IOC, True, None)

    def _cover_bad_debt(self, sym: int, acct: Account) -> None:
        """An account left flat with negative equity (it closed beyond bankruptcy before
        the liquidator reached it): the insurance fund pays the deficit, as far as its
        cash goes.  A debt the fund cannot cover stays visible on the account.  With
        per-symbol funds the fund of ``sym`` pays, the symbol whose trade left it so."""
        if acct.id < 0 or any(p.qty for p in acct.positions.values()):
            return
        deficit = -(acct.wallet + sum(p.margin for p in acct.positions.values()))
        fund = self.accounts[self.fund_ids[sym]]
        # booking deficits (a socializing last step): the fund pays it all, its cash may go
        # below zero until a round collects it; otherwise only what its cash holds
        paid = deficit if self.liquidation_rules.book_deficits else min(deficit,
                                                                        max(fund.wallet, 0))
        if paid <= 0:
            return
        fund.wallet -= paid
        acct.wallet += paid
        self.events.append((ev.FUND, sym, acct.id, -paid))

    def account_equity(self, acct_id: int) -> int:
        """Wallet, isolated margins and unrealized PnL at the marks of one account."""
        acct = self.accounts[acct_id]
        total = acct.wallet
        for pos in acct.positions.values():
            mark = self.markets[pos.sym].mark
            total += pos.margin
            if pos.qty and mark is not None:
                total += pos.upnl(mark, self.markets[pos.sym].k)
        return total

    def adl(self, sym: Arg[int | str], policy: Arg[str], price: Arg[int | None] = None,
            rng: random.Random | None = None) -> bool:
        """Close the fund's position in ``sym`` against ranked opposite positions.

        Allowed only while the fund that covers ``sym`` is short (its equity at the
        marks < 0; with per-symbol funds, ``sym``'s own fund, however rich the
        others): ADL is the last step.  The price is the fund's average entry (the
        takeover prices it paid) rounded in its favour, up for a long and down for a
        short, computed here from its position now (``price=None``): so the fund never
        realizes a loss by ADL and the counterparties never close worse than its entry.
        A ``price`` the caller gives must be exactly that, else ``BAD_PRICE``: a
        liquidator working from a stale view (more takeovers in flight) cannot
        deleverage anyone at a price that no longer is the fund's.  Counterparties are
        ranked by ``policy`` (:mod:`exsim.core.adl`), their orders in the symbol are
        cancelled, and they close ``min(left, position)`` each, without fees.
        """
        req = int(ev.Request.ADL)
        m = self.market(sym)
        if m is None:
            return self._reject(req, sym, None, FUND, Reject.UNKNOWN_SYMBOL)
        fund = self.fund_of(m.index)
        fpos = fund.positions.get(m.index)
        if fpos is None or not fpos.qty:
            return self._reject(req, m.index, None, fund.id, Reject.NO_POSITION)
        entry = fpos.cost // (fpos.qty * m.k)  # floor; exact, or up a tick for a long
        if fpos.qty > 0 and entry * fpos.qty * m.k != fpos.cost:
            entry += 1
        if (price is not None and (not _is_int(price) or price != entry)) or m.mark is None:
            return self._reject(req, m.index, None, fund.id, Reject.BAD_PRICE)
        if policy not in ADL_POLICIES:
            return self._reject(req, m.index, None, fund.id, Reject.BAD_REQUEST)
        rules = self.liquidation_rules
        mark = m.mark
        value = mark if rules.adl_trigger == "mtm" else self._close_price(m, fpos.qty)
        other = self.account_equity(fund.id) - fpos.upnl(mark, m.k)  # the rest, at marks
        need = lots_to_close(fpos.qty, fpos.cost, other, value, m.k, rules.adl_sizing, mark,
                             rules.max_fund_notional)
        if not need:
            return self._reject(req, m.index, None, fund.id, Reject.FUND_NOT_SHORT)
        ordered = deleverage_queue(self.adl_candidates(m.index, -fpos.qty), policy, entry, rng)
        allocation = (pro_rata(ordered, need) if rules.adl_sizing == "pro_rata"
                      else allocate(ordered, need))
        if not allocation:  # nobody on the other side (in profit there, if ranked)
            return self._reject(req, m.index, None, fund.id, Reject.NO_COUNTERPARTY)
        self.events.append((ev.ADL_ROUND, m.index, fund.id,
                            other + fpos.qty * value * m.k - fpos.cost, need))
        for acct_id, lots in allocation:
            acct = self.accounts[acct_id]
            pos = acct.positions[m.index]
            self._cancel_all(acct, [m.index], _C_DELEVERAGED)
            signed = lots if pos.qty > 0 else -lots
            realized = apply_trade(acct, pos, -signed, entry, m.k)
            fund_realized = apply_trade(fund, fpos, signed, entry, m.k)
            self.events.append((ev.ADL, m.index, acct_id, signed, entry, realized,
                                fund_realized))
            if acct.wallet < 0:  # a loser closed beyond its own bankruptcy
                self._cover_bad_debt(m.index, acct)
        return True

    def _settle(self, acct: Account, m: Market) -> None:
        """Book ``acct``'s PnL in ``m`` at the mark into its cash: the cost basis moves to
        the mark by as much as the cash (total equity unchanged), as a futures settlement
        does.  A SETTLEMENT event records it."""
        pos = acct.positions.get(m.index)
        if pos is None or not pos.qty or m.mark is None:
            return
        pnl = pos.upnl(m.mark, m.k)
        if not pnl:
            return
        acct.wallet += pnl
        pos.cost += pnl
        self.events.append((ev.SETTLEMENT, m.index, acct.id, pnl, m.mark))

    @staticmethod
    def _close_price(m: Market, qty: int) -> int:
        """Where a position of ``qty`` could be closed now: the best bid (a long) or ask
        (a short); with that side empty, the mark beyond its market band (10% without)."""
        mark = m.mark or 0
        band = m.band if m.band is not None else PPM // 10
        if qty > 0:
            bid = m.book.best_bid
            return bid if bid > 0 else max(1, mark * (PPM - band) // PPM)
        ask = m.book.best_ask
        return ask if ask < INF else -(-mark * (PPM + band) // PPM)

    def socialize(self, sym: Arg[int | str], policy: Arg[str], settle: Arg[bool] = False
                  ) -> bool:
        """Spread the fund's deficit over traders, as the alternative last step to ADL.

        Only on a *booked* deficit: the cash of the fund that covers ``sym`` below zero
        (realised losses it paid beyond what it held, which
        :attr:`~exsim.core.liquidation.LiquidationRules.book_deficits` allows), never
        an unrealized loss at the marks; what a round collects is booked back, so the
        same deficit is never charged twice.  The deficit ``D`` is collected into that
        fund from accounts that hold a position in ``sym``, so an account with no
        position never pays:

        * ``clawback`` (OKEx 2018): from accounts with an unrealized profit in
          ``sym``, pro rata to that profit, at most all of it; the profit is
          taken out of the position (its cost basis moves), so a second call
          finds only what is left;
        * ``oi_funding`` (Drift): from every position, long and short, pro rata
          to its size, like a one-off funding payment.

        Each share is rounded up (the fund is made whole, a few atoms over at
        most, never under while the payers' profits or sizes suffice), and capped
        at what the account can pay without going below zero equity at the marks
        (:func:`~exsim.core.accounts.margin_equity`: a cross position's whole
        account, its other positions and a negative wallet included; an isolated
        position, its own margin and uPnL).  What the caps leave stays the fund's
        deficit.
        """
        req = int(ev.Request.SOCIALIZE)
        m = self.market(sym)
        if m is None:
            return self._reject(req, sym, None, FUND, Reject.UNKNOWN_SYMBOL)
        fund = self.fund_of(m.index)
        if (policy not in ("clawback", "oi_funding") or m.mark is None
                or not isinstance(settle, bool)):
            return self._reject(req, m.index, None, fund.id, Reject.BAD_REQUEST)
        if settle:
            self._settle(fund, m)
        deficit = -fund.wallet  # booked: never an unrealized loss at the marks
        if deficit <= 0:
            return self._reject(req, m.index, None, fund.id, Reject.FUND_NOT_SHORT)
        payers: list[tuple[Account, Position, int]] = []
        for acct in self.accounts.values():
            pos = acct.positions.get(m.index)
            if acct.id < 0 or pos is None or not pos.qty:  # the funds and the vault
                continue
            weight = (pos.upnl(m.mark, m.k) if policy == "clawback" else abs(pos.qty))
            if weight > 0:
                payers.append((acct, pos, weight))
        total = sum(w for _, _, w in payers)
        if total == 0:
            return self._reject(req, m.index, None, fund.id, Reject.NO_POSITION)
        collected = 0
        for acct, pos, weight in payers:
            share = -(-deficit * weight // total)
            equity = margin_equity(acct, pos, self.markets)[0]
            share = min(share, max(equity, 0))  # never into negative equity
            if policy == "clawback":
                # the profit itself is taken: the position's cost basis moves, so a
                # later clawback sees what is left of it, and cash stays conserved
                share = min(share, weight)
                pos.cost += share
            else:
                if pos.isolated:
                    pos.margin -= share
                else:
                    acct.wallet -= share
            if share <= 0:
                continue
            collected += share
            fund.wallet += share
            self.events.append((ev.SOCIALIZED, m.index, acct.id, share, pos.qty))
        if not collected:
            return self._reject(req, m.index, None, fund.id, Reject.NO_POSITION)
        return True

    def adl_candidates(self, sym: int, side_qty: int) -> list[Candidate]:
        """Positions in ``sym`` on the side of ``side_qty``'s sign, as ADL ranking sees them."""
        m = self.markets[sym]
        mark = m.mark
        out: list[Candidate] = []
        if mark is None:
            return out
        for acct in self.accounts.values():
            pos = acct.positions.get(sym)
            if acct.id < 0 or pos is None or not pos.qty or (  # not the funds, the vault
                    (pos.qty > 0) != (side_qty > 0)):
                continue
            bankrupt = position_bankruptcy_price_exact(acct, sym, self.markets)
            upnl = sum(p.upnl(self.markets[p.sym].mark or 0, self.markets[p.sym].k)
                       for p in acct.positions.values() if p.qty)
            mm = sum(maintenance_margin(self.markets[p.sym].brackets,
                                        abs(p.qty) * (self.markets[p.sym].mark or 0)
                                        * self.markets[p.sym].k)
                     for p in acct.positions.values() if p.qty)
            out.append(Candidate(acct.id, pos.qty, Fraction(pos.cost, pos.qty * m.k), mark,
                                 bankrupt, m.k, acct.wallet, upnl, mm))
        return out

    def adl_quantiles(self, sym: int, policy: str) -> dict[int, int]:
        """Every position's ADL indicator (1-5) in ``sym``, longs and shorts ranked apart."""
        out = quantiles(self.adl_candidates(sym, 1), policy)
        out.update(quantiles(self.adl_candidates(sym, -1), policy))
        return out

    # ================================================================== orders
    def submit(self, acct_id: Arg[int], sym: Arg[int | str], oid: Arg[int], side: Arg[int],
               qty: int | Decimal, price: int | Decimal | None = None,
               order_type: Arg[int] = LIMIT, tif: Arg[int] = GTC,
               reduce_only: Arg[bool] = False, stp: Arg[int | None] = None) -> bool:
        """Place an order.  Returns whether it was accepted (see :attr:`events` for the rest).

        ``order_type`` LIMIT needs ``price``; MARKET ignores it and trades as IOC
        within the symbol's price band around the mark.  ``tif`` is GTC, IOC,
        FOK or POST_ONLY (limit orders only).  ``stp`` defaults to the exchange's
        self-trade prevention mode.

        The common request (int fields, a GTC limit or a market order, not
        reduce-only, the exchange's STP mode, from an account that already has
        the symbol) is placed right here, written out flat because this is the
        core's hottest call; anything else, including every refusal except a
        margin one, goes through :meth:`_submit`, which checks each field the
        careful way.  Both emit the same events for the same request.  The
        pre-trade check is written out for the two outcomes that decide almost
        every order (exposure does not grow; one cross position in the first
        bracket with enough equity), which accept exactly when
        :meth:`_risk_check` would; any other case asks it.
        """
        markets = self.markets
        # ``is`` compares with the defaults (the common call passes none of these),
        # and with the cached ints 0 and 1: an int side, never a bool or an IntEnum
        if (stp is None and tif is GTC and reduce_only is False
                and (side is BUY or side is SELL) and type(sym) is int
                and type(acct_id) is int and type(oid) is int and type(qty) is int
                and 0 <= sym < len(markets) and oid >= 0 and 0 < qty < MAX_UNITS):
            m = markets[sym]
            book = m.book
            mark = m.mark
            acct = self.accounts.get(acct_id)
            if acct is not None and mark is not None and oid not in book.orders:
                pos = acct.positions.get(sym)
                gtc = order_type is LIMIT
                if gtc and type(price) is int and 0 < price < MAX_UNITS:
                    limit = check = price
                elif order_type is MARKET:
                    limit, check = self._market_limits(m, book, side, qty, mark)
                else:
                    pos = None
                if pos is not None:
                    if side and book.best_bid > check:
                        check = book.best_bid  # a crossing sell fills at the bids
                    # -- pre-trade risk ------------------------------------------------
                    added = check * qty
                    qn = pos.qty * mark
                    if side:
                        after = pos.sell_open - qn + added
                        grows = after > qn + pos.buy_open
                    else:
                        after = qn + pos.buy_open + added
                        grows = after > pos.sell_open - qn
                    if grows:
                        # cross, alone in the account: available >= need reduces to
                        # wallet + uPnL >= IM(after) + taker fee (IM before cancels out)
                        k = m.k
                        lev = pos.leverage
                        after *= k
                        if not (after < m.tier1_cap and lev <= m.tier1_lev and m.fees_exact
                                and not pos.isolated and len(acct.positions) == 1
                                and acct.wallet + qn * k - pos.cost
                                >= -(-after // lev) + added * m.taker_per_ticklot):
                            reason = self._risk_check(acct, pos, m, side, added, mark)
                            if reason is not None:
                                return self._reject(_SUBMIT, sym, oid, acct_id, reason)
                    # -- accepted ------------------------------------------------------
                    stp = self.stp_default
                    flags = stp << 2
                    events = self.events
                    if gtc:
                        events.append((ACCEPTED, sym, oid, acct_id, side, limit, qty, LIMIT, GTC,
                                       flags))
                        fills = book.limit(oid, side, limit, qty, acct_id, stp, flags)
                    else:
                        events.append((ACCEPTED, sym, oid, acct_id, side, 0, qty, MARKET, GTC,
                                       flags))
                        fills = book.ioc(oid, side, limit, qty, acct_id, stp)
                    if book.stp_cancelled:
                        self._stp_makers(m)
                    rested = book.rested
                    if rested:
                        if side:
                            pos.sell_open += limit * rested
                        else:
                            pos.buy_open += limit * rested
                        if rested == qty:  # no fills: the common resting order
                            return True
                    filled = self._clear(m, acct, pos, oid, side, fills) if fills else 0
                    left = qty - filled - rested
                    if left:
                        events.append((CANCELLED, sym, oid, acct_id, left,
                                       _C_STP_TAKER if gtc or book.stp_stopped else _C_IOC))
                    return True
        return self._submit(acct_id, sym, oid, side, qty, price, order_type, tif, reduce_only, stp)

    def _submit(self, acct_id: Arg[int], sym: Arg[int | str], oid: Arg[int], side: Arg[int],
                qty: int | Decimal, price: int | Decimal | None, order_type: Arg[int],
                tif: Arg[int], reduce_only: Arg[bool], stp: Arg[int | None]) -> bool:
        """:meth:`submit` for any request: every field checked, every order type."""
        # -- shape: one test for the common all-int request, a careful one otherwise
        if stp is None:
            stp = self.stp_default
        markets = self.markets
        if (type(sym) is int and type(acct_id) is int and type(oid) is int and oid >= 0
                and type(side) is int and type(qty) is int and type(order_type) is int
                and type(tif) is int and type(stp) is int and type(reduce_only) is bool
                and 0 <= sym < len(markets) and 0 <= side <= 1 and 0 < qty < MAX_UNITS
                and 0 <= order_type <= 1 and 0 <= tif <= 3 and 0 <= stp <= 3):
            m = markets[sym]
            acct = self.accounts.get(acct_id)
            if acct is None:
                return self._reject(_SUBMIT, sym, oid, acct_id, Reject.UNKNOWN_ACCOUNT)
        else:
            checked = self._check_shape(acct_id, sym, oid, side, qty, order_type, tif,
                                        reduce_only, stp)
            if checked is None:
                return False
            m, acct, oid, side, qty, order_type, tif, stp, reduce_only = checked
        book = m.book
        mark = m.mark
        if order_type == 0:  # LIMIT
            if type(price) is not int or not 0 < price < MAX_UNITS:
                p = _on_grid(price, m.spec.contract.tick_size)
                if p is None:
                    return self._reject(_SUBMIT, m.index, oid, acct.id, Reject.BAD_PRICE)
                price = p
            limit = check_price = price
        elif tif in (POST_ONLY, FOK):
            return self._reject(_SUBMIT, m.index, oid, acct.id, Reject.BAD_REQUEST)
        elif mark is not None:
            limit, check_price = self._market_limits(m, book, side, qty, mark)
        if oid in book.orders:
            return self._reject(_SUBMIT, m.index, oid, acct.id, Reject.DUPLICATE_ORDER_ID)
        if mark is None:
            return self._reject(_SUBMIT, m.index, oid, acct.id, Reject.NO_MARK_PRICE)
        if side == SELL and book.best_bid > check_price:
            check_price = book.best_bid  # a crossing sell fills at the bids, above its limit
        pos = acct.positions.get(m.index)
        new_pos = pos is None
        if pos is None:
            pos = Position(m.index, m.spec.default_leverage)
        # -- reduce-only must shrink the position; post-only must not cross ------
        if reduce_only:
            q = pos.qty
            room = abs(q) - sum(book.orders[o][4] for o in pos.ro)
            if q == 0 or (q > 0) == (side == BUY) or room <= 0:
                return self._reject(_SUBMIT, m.index, oid, acct.id,
                                    Reject.REDUCE_ONLY_WOULD_INCREASE)
        elif tif == POST_ONLY and book.would_cross(side, limit):
            return self._reject(_SUBMIT, m.index, oid, acct.id, Reject.POST_ONLY_WOULD_CROSS)
        # -- pre-trade risk (reduce-only orders cannot add exposure) -------------
        else:
            reason = self._risk_check(acct, pos, m, side, check_price * qty, mark)
            if reason is not None:
                return self._reject(_SUBMIT, m.index, oid, acct.id, reason)
        if reduce_only and tif == POST_ONLY and book.would_cross(side, limit):
            return self._reject(_SUBMIT, m.index, oid, acct.id, Reject.POST_ONLY_WOULD_CROSS)
        # -- accepted ----------------------------------------------------------------
        if new_pos:
            acct.positions[m.index] = pos
        flags = (tif == POST_ONLY) | (reduce_only << 1) | (stp << 2)
        events = self.events
        aid = acct.id
        events.append((ACCEPTED, m.index, oid, aid, side, limit if order_type == 0 else 0,
                       qty, order_type, tif, flags))
        if reduce_only and qty > room:
            events.append((CANCELLED, m.index, oid, aid, qty - room, _C_RO_TRIM))
            qty = room
        if tif == GTC and order_type == 0:
            fills = book.limit(oid, side, limit, qty, aid, stp, flags)
        elif tif == IOC or order_type == 1:
            fills = book.ioc(oid, side, limit, qty, aid, stp)
        elif tif == FOK:
            fills = book.fok(oid, side, limit, qty, aid, stp)
        else:
            book.post(oid, side, limit, qty, aid, flags)
            fills = NO_FILLS
        if book.stp_cancelled:
            self._stp_makers(m)
        rested = book.rested
        filled = self._clear(m, acct, pos, oid, side, fills) if fills else 0
        if rested:
            self._attach_resting(pos, oid, side, limit, rested, reduce_only)
            if filled + rested == qty:
                return True
        elif filled == qty:
            return True
        if (tif == GTC and order_type == 0) or book.stp_stopped:
            why = _C_STP_TAKER
        else:
            why = _C_FOK if tif == FOK else _C_IOC
        events.append((CANCELLED, m.index, oid, aid, qty - filled - rested, why))
        return True

    def _check_shape(self, acct_id: object, sym: object, oid: object, side: object, qty: object,
                     order_type: object, tif: object, reduce_only: object, stp: object
                     ) -> tuple[Market, Account, int, int, int, int, int, int, bool] | None:
        """Slow-path validation of a submit's fields (names, enums, Decimals); rejects itself."""
        m = self.market(sym)
        if m is None:
            self._reject(_SUBMIT, sym, oid, acct_id, Reject.UNKNOWN_SYMBOL)
            return None
        acct = self.account(acct_id)
        if acct is None:
            self._reject(_SUBMIT, m.index, oid, acct_id, Reject.UNKNOWN_ACCOUNT)
            return None
        if not _is_int(oid) or oid < 0:
            self._reject(_SUBMIT, m.index, oid, acct.id, Reject.BAD_REQUEST)
            return None
        side_, type_, tif_, stp_ = (_small_enum(side, 2), _small_enum(order_type, 2),
                                    _small_enum(tif, 4), _small_enum(stp, 4))
        if (side_ is None or type_ is None or tif_ is None or stp_ is None
                or not isinstance(reduce_only, bool)):
            self._reject(_SUBMIT, m.index, oid, acct.id, Reject.BAD_REQUEST)
            return None
        lots = _on_grid(qty, m.spec.contract.lot_size)
        if lots is None:
            self._reject(_SUBMIT, m.index, oid, acct.id, Reject.BAD_QTY)
            return None
        return m, acct, int(oid), side_, lots, type_, tif_, stp_, reduce_only

    @staticmethod
    def _market_limits(m: Market, book: OrderBook, side: int, qty: int, mark: int
                       ) -> tuple[int, int]:
        """A market order's protection limit, and the price its margin is judged at.

        With a band, the limit is the band's edge around the mark.  Margin is
        judged at the highest price the order can trade at: the limit for a buy
        (the caller raises a sell's to the best bid), or without a band the
        last ask a buy of ``qty`` would reach (the mark if there are no asks).
        """
        band = m.band
        if band is not None:
            if side == BUY:
                limit = mark * (PPM + band) // PPM
            else:
                limit = -(-mark * (PPM - band) // PPM)
            return limit, limit
        if side == BUY:
            reach = book.sweep_price(BUY, qty)
            return INF - 1, mark if reach is None else reach
        return 1 - INF, mark

    def _risk_check(self, acct: Account, pos: Position, m: Market, side: int, added: int,
                    mark: int) -> Reject | None:
        """``None`` if adding ``added`` tick-lots of orders on ``side`` is allowed, else why not.

        Written out flat because it runs for every order: no builtins, no helper
        calls on the common path (one position, first bracket).
        """
        qn = pos.qty * mark
        up = qn + pos.buy_open  # position if every resting buy filled
        down = qn - pos.sell_open  # ... every resting sell; up >= down always
        before = up if up > -down else -down  # = max(|up|, |down|) since up >= down
        if side == BUY:
            after = up + added
        else:
            after = added - down
        if after <= before:
            return None
        k = m.k
        lev = pos.leverage
        after *= k
        before *= k
        # the first bracket answers most orders; larger positions look their tier up
        if (after >= m.tier1_cap or lev > m.tier1_lev) and lev > max_leverage_for(
                m.brackets, after):
            return Reject.RISK_LIMIT
        im_before = -(-before // lev)
        im_after = -(-after // lev)
        if pos.isolated:
            margin = pos.margin
            extra = (im_after - margin if im_after > margin else 0) - (
                im_before - margin if im_before > margin else 0)
            claim_before = im_before - margin if im_before > margin else 0
        else:
            extra = im_after - im_before
            claim_before = im_before - (pos.qty * mark * k - pos.cost)
        taker = m.taker_fee
        need = extra - (-(added * k * taker) // PPM) if taker > 0 else extra
        positions = acct.positions
        if len(positions) <= 1 and (not positions or m.index in positions):
            available = acct.wallet - claim_before if positions else acct.wallet
        else:
            available = available_balance(acct, self.markets)
        if available < need:
            return Reject.INSUFFICIENT_MARGIN
        return None

    def _clear(self, m: Market, acct: Account, pos: Position, oid: int, side: int,
               fills: list[tuple[int, int, int, int, int]]) -> int:
        """Settle a taker's fills: positions, PnL, fees, makers' open orders.  Returns lots.

        A cross position's trade is :func:`~exsim.core.clearing.apply_trade` written
        out inline (the same arithmetic, two calls fewer per fill, the hottest loop
        of the core); isolated positions go through ``apply_trade`` itself.
        """
        k = m.k
        sym = m.index
        taker_id = acct.id
        accounts = self.accounts
        append = self.events.append
        buy = side == BUY
        exact = m.fees_exact
        taker_per, maker_per = m.taker_per_ticklot, m.maker_per_ticklot
        taker_rate, maker_rate = m.taker_fee, m.maker_fee
        taker_isolated = pos.isolated
        filled = fees = 0
        trim: list[tuple[Account, Position]] | None = None
        for moid, _, price, q, macct_id in fills:
            filled += q
            pq = price * q
            notional = pq * k
            if exact:
                tfee = pq * taker_per
                mfee = pq * maker_per
            else:
                tfee = -(-notional * taker_rate // PPM)  # charges rounded up, rebates down
                mfee = -(-notional * maker_rate // PPM)
            fees += tfee + mfee
            macct = accounts[macct_id]
            mpos = macct.positions[sym]
            # taker: +q lots (buy) or -q, worth ``value`` atoms at this price
            if buy:
                d = q
                value = notional
            else:
                d = -q
                value = -notional
            if taker_isolated:
                acct.wallet -= tfee
                treal = apply_trade(acct, pos, d, price, k)
            else:
                q0 = pos.qty
                nq = q0 + d
                if q0 * d >= 0:  # open or add
                    pos.qty = nq
                    pos.cost += value
                    treal = 0
                    acct.wallet -= tfee
                elif nq * q0 >= 0:  # reduce or close
                    removed = pos.cost if nq == 0 else -((pos.cost * d) // q0)
                    treal = -value - removed
                    pos.qty = nq
                    pos.cost -= removed
                    acct.wallet += treal - tfee
                else:  # flip
                    treal = q0 * price * k - pos.cost
                    pos.qty = nq
                    pos.cost = nq * price * k
                    acct.wallet += treal - tfee
            # maker: the opposite trade
            if mpos.isolated:
                macct.wallet -= mfee
                mreal = apply_trade(macct, mpos, -d, price, k)
            else:
                q0 = mpos.qty
                nq = q0 - d
                if q0 * d <= 0:
                    mpos.qty = nq
                    mpos.cost -= value
                    mreal = 0
                    macct.wallet -= mfee
                elif nq * q0 >= 0:
                    removed = mpos.cost if nq == 0 else -((mpos.cost * -d) // q0)
                    mreal = value - removed
                    mpos.qty = nq
                    mpos.cost -= removed
                    macct.wallet += mreal - mfee
                else:
                    mreal = q0 * price * k - mpos.cost
                    mpos.qty = nq
                    mpos.cost = nq * price * k
                    macct.wallet += mreal - mfee
            append((FILL, sym, price, q, oid, taker_id, side, moid, macct_id, tfee, mfee,
                    treal, mreal))
            if mpos.ro:
                if moid in mpos.ro:
                    if moid not in m.book.orders:
                        del mpos.ro[moid]
                elif buy:
                    mpos.sell_open -= pq
                else:
                    mpos.buy_open -= pq
                if trim is None:
                    trim = []
                trim.append((macct, mpos))
            elif buy:
                mpos.sell_open -= pq
            else:
                mpos.buy_open -= pq
            if macct.wallet < 0:
                self._cover_bad_debt(sym, macct)
        self.ledger.fee_pool += fees
        if acct.wallet < 0:
            self._cover_bad_debt(sym, acct)
        if pos.ro:
            self._trim_reduce_only(m, acct, pos)
        if trim is not None:
            for owner, p in trim:
                if p.ro:
                    self._trim_reduce_only(m, owner, p)
        return filled

    def _stp_makers(self, m: Market) -> None:
        """Account for maker orders that self-trade prevention removed from the book."""
        book = m.book
        for o in book.stp_cancelled:
            oid, acct_id, side, price, leaves, _flags = o
            pos = self.accounts[acct_id].positions[m.index]
            self._forget_resting(pos, oid, side, price, leaves)
            self.events.append((CANCELLED, m.index, oid, acct_id, leaves, _C_STP_MAKER))
        book.stp_cancelled.clear()

    @staticmethod
    def _attach_resting(pos: Position, oid: int, side: int, price: int, leaves: int,
                        reduce_only: bool) -> None:
        """Count a resting order in its position's open-order sums (or reduce-only list)."""
        if reduce_only:
            pos.ro[oid] = None
        elif side == BUY:
            pos.buy_open += price * leaves
        else:
            pos.sell_open += price * leaves

    @staticmethod
    def _forget_resting(pos: Position, oid: int, side: int, price: int, leaves: int) -> None:
        """Remove a resting order's contribution to its position's open-order sums."""
        if oid in pos.ro:
            del pos.ro[oid]
        elif side == BUY:
            pos.buy_open -= price * leaves
        else:
            pos.sell_open -= price * leaves

    def _trim_reduce_only(self, m: Market, acct: Account, pos: Position) -> None:
        """Cancel or shrink reduce-only orders so that they cannot outgrow the position.

        The oldest orders keep their size; newer ones are trimmed first.
        """
        book = m.book
        q = pos.qty
        closing_side = SELL if q > 0 else BUY
        room = abs(q)
        for oid in list(pos.ro):
            o = book.orders[oid]
            leaves = o[4]
            if q == 0 or o[2] != closing_side or room == 0:
                book.cancel(oid)
                del pos.ro[oid]
                self.events.append((CANCELLED, m.index, oid, acct.id, leaves, _C_RO_TRIM))
            elif leaves > room:
                book.reduce(oid, room)
                self.events.append((CANCELLED, m.index, oid, acct.id, leaves - room,
                                    _C_RO_TRIM))
                room = 0
            else:
                room -= leaves

    def cancel(self, acct_id: Arg[int], sym: Arg[int | str], oid: Arg[int]) -> bool:
        """Cancel a resting order of this account.

        The common request (int fields naming an order of this account) is
        handled here; anything else goes through :meth:`_cancel`.
        """
        markets = self.markets
        if (type(sym) is int and type(oid) is int and type(acct_id) is int
                and 0 <= sym < len(markets)):
            book = markets[sym].book
            o = book.orders.get(oid)
            if o is not None and o[1] == acct_id:  # an order rests only for a known account
                side, price, leaves = o[2], o[3], o[4]
                book.cancel(oid)
                pos = self.accounts[acct_id].positions[sym]
                if oid in pos.ro:  # _forget_resting, inline
                    del pos.ro[oid]
                elif side == BUY:
                    pos.buy_open -= price * leaves
                else:
                    pos.sell_open -= price * leaves
                self.events.append((CANCELLED, sym, oid, acct_id, leaves, _C_USER))
                return True
        return self._cancel(acct_id, sym, oid)

    def _cancel(self, acct_id: Arg[int], sym: Arg[int | str], oid: Arg[int]) -> bool:
        """:meth:`cancel` for any request, every field checked."""
        markets = self.markets
        if type(sym) is int and 0 <= sym < len(markets):
            m = markets[sym]
        else:
            found = self.market(sym)
            if found is None:
                return self._reject(_CANCEL, sym, oid, acct_id, Reject.UNKNOWN_SYMBOL)
            m = found
        acct = self.accounts.get(acct_id) if type(acct_id) is int else self.account(acct_id)
        if acct is None:
            return self._reject(_CANCEL, m.index, oid, acct_id, Reject.UNKNOWN_ACCOUNT)
        o = m.book.orders.get(oid) if type(oid) is int or _is_int(oid) else None
        if o is None or o[1] != acct.id:
            return self._reject(_CANCEL, m.index, oid, acct.id, Reject.UNKNOWN_ORDER)
        oid, _, side, price, leaves, _ = o
        m.book.cancel(oid)
        self._forget_resting(acct.positions[m.index], oid, side, price, leaves)
        self.events.append((CANCELLED, m.index, oid, acct.id, leaves, _C_USER))
        return True

    def amend(self, acct_id: Arg[int], sym: Arg[int | str], oid: Arg[int], price: int | Decimal,
              qty: int | Decimal) -> bool:
        """Change a resting order's price and open quantity (``qty`` = new leaves).

        Same price and fewer lots keeps queue priority; a new price or more lots
        loses it, and a new price that crosses trades like a new limit order.
        """
        m = self.market(sym)
        if m is None:
            return self._reject(_AMEND, sym, oid, acct_id, Reject.UNKNOWN_SYMBOL)
        acct = self.account(acct_id)
        if acct is None:
            return self._reject(_AMEND, m.index, oid, acct_id, Reject.UNKNOWN_ACCOUNT)
        book = m.book
        o = book.orders.get(oid) if _is_int(oid) else None
        if o is None or o[1] != acct.id:
            return self._reject(_AMEND, m.index, oid, acct.id, Reject.UNKNOWN_ORDER)
        new_qty = _on_grid(qty, m.spec.contract.lot_size)
        if new_qty is None:
            return self._reject(_AMEND, m.index, oid, acct.id, Reject.BAD_QTY)
        new_price = _on_grid(price, m.spec.contract.tick_size)
        if new_price is None:
            return self._reject(_AMEND, m.index, oid, acct.id, Reject.BAD_PRICE)
        oid, _, side, old_price, old_leaves, flags = o
        pos = acct.positions[m.index]
        reduce_only = bool(flags & FLAG_REDUCE_ONLY)
        moved = new_price != old_price
        if flags & FLAG_POST_ONLY and moved and book.would_cross(side, new_price):
            return self._reject(_AMEND, m.index, oid, acct.id, Reject.POST_ONLY_WOULD_CROSS)
        if reduce_only and new_qty > old_leaves:
            return self._reject(_AMEND, m.index, oid, acct.id, Reject.REDUCE_ONLY_WOULD_INCREASE)
        if m.mark is None:
            return self._reject(_AMEND, m.index, oid, acct.id, Reject.NO_MARK_PRICE)
        kept = not moved and new_qty <= old_leaves
        # judge the amended order against the position without the old one; a
        # reduce-only order that keeps its priority also keeps its place in ``ro``
        if not (reduce_only and kept):
            self._forget_resting(pos, oid, side, old_price, old_leaves)
        if not reduce_only:
            judged = new_price if side == BUY or book.best_bid <= new_price else book.best_bid
            reason = self._risk_check(acct, pos, m, side, judged * new_qty, m.mark)
            if reason is not None:
                self._attach_resting(pos, oid, side, old_price, old_leaves, reduce_only)
                return self._reject(_AMEND, m.index, oid, acct.id, reason)
        kept = not moved and new_qty <= old_leaves
        self.events.append((ev.AMENDED, m.index, oid, acct.id, new_price, new_qty, old_leaves,
                            int(kept)))
        fills = book.amend(oid, new_price, new_qty, ev.stp_of(flags))
        if book.stp_cancelled:
            self._stp_makers(m)
        rested = book.rested
        filled = self._clear(m, acct, pos, oid, side, fills) if fills else 0
        if rested and not (reduce_only and kept):
            self._attach_resting(pos, oid, side, new_price, rested, reduce_only)
        left = new_qty - filled - rested
        if left:
            self.events.append((CANCELLED, m.index, oid, acct.id, left, _C_STP_TAKER))
        return True

    # ================================================================== invariants
    def open_interest(self, sym: int) -> tuple[int, int]:
        """(long lots, short lots) over all accounts: equal at all times."""
        long = short = 0
        for acct in self.accounts.values():
            pos = acct.positions.get(sym)
            if pos is not None:
                if pos.qty > 0:
                    long += pos.qty
                else:
                    short -= pos.qty
        return long, short

    def total_equity(self) -> int:
        """Sum over accounts (the fund's too) of wallet + isolated margin - cost, plus fees.

        Equals ``ledger.deposits`` exactly (see :mod:`exsim.core.clearing`).
        """
        total = self.ledger.fee_pool
        for acct in self.accounts.values():
            total += acct.wallet
            for pos in acct.positions.values():
                total += pos.margin - pos.cost
        return total

    def invariants(self) -> dict[str, bool]:
        """Named checks that must hold after every request."""
        oi_ok = all(self.open_interest(m.index)[0] == self.open_interest(m.index)[1]
                    for m in self.markets)
        uncrossed = all(m.book.best_bid < m.book.best_ask for m in self.markets)
        open_ok = True
        for m in self.markets:
            sums: dict[int, list[int]] = {}
            ro: dict[int, list[int]] = {}
            for o in m.book.orders.values():
                if o[5] & FLAG_REDUCE_ONLY:
                    ro.setdefault(o[1], []).append(o[0])
                else:
                    sums.setdefault(o[1], [0, 0])[o[2]] += o[3] * o[4]
            for acct in self.accounts.values():
                pos = acct.positions.get(m.index)
                if pos is None:
                    open_ok &= acct.id not in sums and acct.id not in ro
                    continue
                buys, sells = sums.get(acct.id, [0, 0])
                open_ok &= (pos.buy_open, pos.sell_open) == (buys, sells)
                open_ok &= sorted(pos.ro) == sorted(ro.get(acct.id, []))
        return {
            "open_interest_balanced": oi_ok,
            "cash_conserved": self.total_equity() == self.ledger.deposits,
            "book_uncrossed": uncrossed,
            "open_orders_consistent": open_ok,
        }


__all__ = ["MAX_UNITS", "ExchangeCore"]
