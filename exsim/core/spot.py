"""A spot venue's core: one order book of coin against cash, with no margin and no leverage.

The perpetual's index is made from spot venues' prices (Binance's index: a weighted
average over constituent venues), so a run that lets the market move the index needs
spot markets its agents trade.  :class:`SpotCore` is the whole of such a venue: the same
matcher as the perpetual (:class:`~exsim.core.book.OrderBook`), accounts holding cash
(quote atoms) and coin (base lots), and orders that must be paid for up front:

* a buy needs the cash for its notional at its limit (a market buy: at the price its
  size would sweep to, within ``market_band`` of the best ask) plus its fees; a resting
  buy *holds* that cash until it fills or is cancelled;
* a sell needs the coin, which a resting sell holds likewise.

So no account can ever owe anything: cash and coin never go below what is held, and
both are conserved exactly (``cash + fee_pool == cash deposited``, ``coin == coin
deposited``, checked by :meth:`SpotCore.invariants`).  Fees are in cash.  A resting buy
pays its maker fee on the cumulative filled notional (``ceil(p x filled x k x rate)``,
charged as the difference at each fill), so the cash it holds for fees is exact to the
atom; takers and sellers pay per fill.

Events are the perpetual's vocabulary (:mod:`exsim.core.events`: ACCEPTED, FILL,
CANCELLED, REJECTED) with the venue's symbol index, which follows the perpetuals', and
zero realized PnL; cash and coin arrive by ``SPOT_DEPOSIT``.  Requests follow
:class:`~exsim.core.engine.ExchangeCore`'s signatures so the same actor shell serves
both; amend and leverage are refused (``BAD_REQUEST``).
"""

from __future__ import annotations

from typing import Final, TypeGuard

from exsim.core import events as ev
from exsim.core.book import INF, OrderBook
from exsim.core.events import ACCEPTED, CANCELLED, FILL
from exsim.core.hints import Arg
from exsim.core.orders import (
    BUY,
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
from exsim.core.units import PPM, LinearContract

MAX_UNITS: Final = 1 << 53
_SUBMIT: Final = int(ev.Request.SUBMIT)
_CANCEL: Final = int(ev.Request.CANCEL)


def _int(x: object) -> TypeGuard[int]:
    """An int or IntEnum, not a bool."""
    return isinstance(x, int) and not isinstance(x, bool)


def _int64(x: object) -> int:
    """An id as an event field: itself if it is an int that fits int64, else -1."""
    return x if isinstance(x, int) and not isinstance(x, bool) and -(1 << 63) <= x < (
        1 << 63) else -1


def _fee(notional: int, rate: int) -> int:
    """Charges rounded up, rebates (rate < 0) rounded down, as on the perpetual."""
    return -(-notional * rate // PPM) if rate >= 0 else -(notional * -rate // PPM)


def _sweep_cost(book: OrderBook, qty: int, limit: int) -> int:
    """Tick-lots a buy of ``qty`` up to ``limit`` would pay, walking the asks as matching
    does (an upper bound: self-trade prevention can only stop it earlier)."""
    cost = 0
    for key in reversed(book.ask_prices):
        price = -key
        if price > limit or qty <= 0:
            break
        for o in book.asks[price].values():
            take = min(qty, o[4])
            cost += take * price
            qty -= take
            if qty <= 0:
                break
    return cost


class SpotAccount:
    """Cash (atoms) and coin (lots) at one spot venue, and what resting orders hold."""

    __slots__ = ("cash", "cash_held", "coin", "coin_held", "id")

    def __init__(self, acct_id: int) -> None:
        self.id = acct_id
        self.cash = 0
        self.coin = 0
        self.cash_held = 0
        self.coin_held = 0


class SpotMarket:
    """The venue's one market, shaped like a perpetual's ``Market`` where the shell reads it."""

    __slots__ = ("book", "index", "k", "mark", "name")

    def __init__(self, index: int, name: str, k: int) -> None:
        self.index = index
        self.name = name
        self.k = k
        self.book = OrderBook()
        self.mark: int | None = None  # a spot venue has no mark price


class SpotCore:
    """One spot venue; see the module docstring.  ``sym`` is its symbol index in the run."""

    def __init__(self, sym: int, name: str, contract: LinearContract, *, maker_fee: int = 0,
                 taker_fee: int = 0, market_band: int = 50_000,
                 stp: int = STP_CANCEL_TAKER) -> None:
        if not 0 <= taker_fee < PPM or not -taker_fee <= maker_fee < PPM:
            raise ValueError(f"{name}: fees must be below 100%, taker >= 0, maker >= -taker")
        if not 0 < market_band < PPM:
            raise ValueError(f"{name}: the market band must be in (0, 1)")
        self.sym = sym
        self.contract = contract
        self.k = contract.k
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.band = market_band
        self.stp = stp
        self.markets = [SpotMarket(sym, name, contract.k)]
        self.book = self.markets[0].book
        self.accounts: dict[int, SpotAccount] = {}
        self.events: list[ev.Event] = []
        self.cash_deposits = 0
        self.coin_deposits = 0
        self.fee_pool = 0
        # a resting buy's original size, for its cumulative maker fee (oid -> lots)
        self._placed: dict[int, int] = {}

    # ------------------------------------------------------------------ requests
    def _reject(self, request: int, oid: object, acct: object, reason: Reject) -> bool:
        self.events.append((ev.REJECTED, request, self.sym, _int64(oid), _int64(acct),
                            int(reason)))
        return False

    def deposit(self, acct_id: Arg[int], cash: Arg[int], coin: Arg[int] = 0) -> bool:
        """Credit ``cash`` atoms and ``coin`` lots, opening the account if new."""
        if not _int(acct_id) or acct_id < 0:
            return self._reject(int(ev.Request.DEPOSIT), None, acct_id, Reject.UNKNOWN_ACCOUNT)
        if (not _int(cash) or not _int(coin) or cash < 0 or coin < 0
                or not (cash or coin)):
            return self._reject(int(ev.Request.DEPOSIT), None, acct_id, Reject.BAD_AMOUNT)
        a = self.accounts.get(int(acct_id))
        if a is None:
            a = self.accounts[int(acct_id)] = SpotAccount(int(acct_id))
        a.cash += int(cash)
        a.coin += int(coin)
        self.cash_deposits += int(cash)
        self.coin_deposits += int(coin)
        self.events.append((ev.SPOT_DEPOSIT, self.sym, a.id, int(cash), int(coin)))
        return True

    def _buy_hold(self, price: int, placed: int, leaves: int) -> int:
        """Cash a resting buy of ``placed`` lots with ``leaves`` left holds: its notional
        and the maker fee not yet charged (cumulative over its fills, so exact)."""
        fee = 0
        if self.maker_fee > 0:
            k = self.k
            fee = (_fee(price * placed * k, self.maker_fee)
                   - _fee(price * (placed - leaves) * k, self.maker_fee))
        return price * leaves * self.k + fee

    def submit(self, acct_id: Arg[int], sym: Arg[int | str], oid: Arg[int], side: Arg[int],
               qty: Arg[int], price: Arg[int | None] = None, order_type: Arg[int] = LIMIT,
               tif: Arg[int] = GTC, reduce_only: Arg[bool] = False,
               stp: Arg[int | None] = None) -> bool:
        """Place an order; it is paid for (cash or coin held) or refused, never owed."""
        acct = self.accounts.get(acct_id) if _int(acct_id) else None
        if sym != self.sym and sym != self.markets[0].name:
            return self._reject(_SUBMIT, oid, acct_id, Reject.UNKNOWN_SYMBOL)
        if acct is None:
            return self._reject(_SUBMIT, oid, acct_id, Reject.UNKNOWN_ACCOUNT)
        if (not _int(oid) or oid < 0 or side not in (BUY, SELL)
                or order_type not in (LIMIT, MARKET) or tif not in (GTC, IOC, FOK, POST_ONLY)
                or reduce_only is not False or stp not in (None, 0, 1, 2, 3)):
            return self._reject(_SUBMIT, oid, acct.id, Reject.BAD_REQUEST)
        if not _int(qty) or not 0 < qty < MAX_UNITS:
            return self._reject(_SUBMIT, oid, acct.id, Reject.BAD_QTY)
        oid, side, qty, tif = int(oid), int(side), int(qty), int(tif)
        book = self.book
        if oid in book.orders:
            return self._reject(_SUBMIT, oid, acct.id, Reject.DUPLICATE_ORDER_ID)
        if order_type == MARKET:
            if tif in (FOK, POST_ONLY):
                return self._reject(_SUBMIT, oid, acct.id, Reject.BAD_REQUEST)
            best = book.best_ask if side == BUY else book.best_bid
            if abs(best) >= INF:  # an empty side: nothing to trade against
                limit = 1
            elif side == BUY:
                limit = best * (PPM + self.band) // PPM
            else:
                limit = max(1, -(-best * (PPM - self.band) // PPM))
            tif = IOC
        else:
            if not _int(price) or not 0 < price < MAX_UNITS:
                return self._reject(_SUBMIT, oid, acct.id, Reject.BAD_PRICE)
            limit = int(price)
        if tif == POST_ONLY and book.would_cross(side, limit):
            return self._reject(_SUBMIT, oid, acct.id, Reject.POST_ONLY_WOULD_CROSS)
        if side == BUY:
            if order_type == MARKET:  # pay for what its size can sweep, not for the band
                notional = _sweep_cost(book, qty, limit) * self.k
            else:
                notional = limit * qty * self.k
            need = notional + _fee(notional, self.taker_fee) + max(
                0, _fee(notional, self.maker_fee))
            if acct.cash - acct.cash_held < need:
                return self._reject(_SUBMIT, oid, acct.id, Reject.INSUFFICIENT_MARGIN)
        elif acct.coin - acct.coin_held < qty:
            return self._reject(_SUBMIT, oid, acct.id, Reject.INSUFFICIENT_MARGIN)
        stp_mode = self.stp if stp is None else int(stp)
        flags = int(tif == POST_ONLY) | (stp_mode << 2)
        self.events.append((ACCEPTED, self.sym, oid, acct.id, side,
                            0 if order_type == MARKET else limit, qty, int(order_type),
                            0 if order_type == MARKET else tif, flags))
        if tif == GTC:
            fills = book.limit(oid, side, limit, qty, acct.id, stp_mode, flags)
        elif tif == IOC:
            fills = book.ioc(oid, side, limit, qty, acct.id, stp_mode)
        elif tif == FOK:
            fills = book.fok(oid, side, limit, qty, acct.id, stp_mode)
        else:
            book.post(oid, side, limit, qty, acct.id, flags)
            fills = []
        for o in book.stp_cancelled:  # makers removed by self-trade prevention
            self._release(o[0], o[1], o[2], o[3], o[4])
            self.events.append((CANCELLED, self.sym, o[0], o[1], o[4],
                                int(CancelReason.STP_MAKER)))
        book.stp_cancelled.clear()
        filled = self._clear(acct, oid, side, fills)
        rested = book.rested
        if rested:
            if side == BUY:
                self._placed[oid] = rested
                acct.cash_held += self._buy_hold(limit, rested, rested)
            else:
                acct.coin_held += rested
        left = qty - filled - rested
        if left:
            why = (CancelReason.STP_TAKER if tif == GTC or book.stp_stopped
                   else CancelReason.FOK_UNFILLABLE if tif == FOK else CancelReason.IOC_REMAINDER)
            self.events.append((CANCELLED, self.sym, oid, acct.id, left, int(why)))
        return True

    def _clear(self, taker: SpotAccount, oid: int, side: int,
               fills: list[tuple[int, int, int, int, int]]) -> int:
        """Swap cash for coin at each fill's price; fees to the pool.  Returns lots."""
        k = self.k
        filled = 0
        for moid, _, price, q, maker_id in fills:
            filled += q
            maker = self.accounts[maker_id]
            notional = price * q * k
            tfee = _fee(notional, self.taker_fee)
            if side == BUY:  # the taker buys coin; the maker's resting sell gives it
                mfee = _fee(notional, self.maker_fee)
                taker.cash -= notional + tfee
                taker.coin += q
                maker.coin -= q
                maker.coin_held -= q
                maker.cash += notional - mfee
            else:  # the taker sells; the maker's resting buy pays from what it holds
                placed = self._placed[moid]
                leaves = self.book.orders[moid][4] if moid in self.book.orders else 0
                release = (self._buy_hold(price, placed, leaves + q)
                           - self._buy_hold(price, placed, leaves))
                # a fee: the increment of its cumulative fee, which the hold covered; a
                # rebate: per fill, rounded down like the perpetual's
                mfee = release - notional if self.maker_fee > 0 else _fee(notional,
                                                                          self.maker_fee)
                maker.cash_held -= release
                maker.cash -= notional + mfee
                maker.coin += q
                taker.coin -= q
                taker.cash += notional - tfee
                if not leaves:
                    del self._placed[moid]
            self.fee_pool += tfee + mfee
            self.events.append((FILL, self.sym, price, q, oid, taker.id, side, moid, maker_id,
                                tfee, mfee, 0, 0))
        return filled

    def _release(self, oid: int, acct_id: int, side: int, price: int, leaves: int) -> None:
        """What a resting order held goes back to its account (cancelled or removed)."""
        acct = self.accounts[acct_id]
        if side == BUY:
            acct.cash_held -= self._buy_hold(price, self._placed.pop(oid), leaves)
        else:
            acct.coin_held -= leaves

    def cancel(self, acct_id: Arg[int], sym: Arg[int | str], oid: Arg[int]) -> bool:
        o = self.book.orders.get(oid) if _int(oid) else None
        if o is None or o[1] != acct_id:
            return self._reject(_CANCEL, oid, acct_id, Reject.UNKNOWN_ORDER)
        self.book.cancel(o[0])
        self._release(o[0], o[1], o[2], o[3], o[4])
        self.events.append((CANCELLED, self.sym, o[0], o[1], o[4], int(CancelReason.USER)))
        return True

    def amend(self, acct_id: Arg[int], sym: Arg[int | str], oid: Arg[int], price: Arg[int],
              qty: Arg[int]) -> bool:
        """Not offered by this venue: cancel and place again."""
        return self._reject(int(ev.Request.AMEND), oid, acct_id, Reject.BAD_REQUEST)

    def set_leverage(self, acct_id: Arg[int], sym: Arg[int | str], leverage: Arg[int]) -> bool:
        """Spot has no leverage."""
        return self._reject(int(ev.Request.LEVERAGE), None, acct_id, Reject.BAD_REQUEST)

    # ------------------------------------------------------------------ invariants
    def invariants(self) -> dict[str, bool]:
        """Cash and coin conserved exactly; nothing held beyond what is owned or open."""
        held_cash: dict[int, int] = {}
        held_coin: dict[int, int] = {}
        for o in self.book.orders.values():
            if o[2] == BUY:
                held_cash[o[1]] = held_cash.get(o[1], 0) + self._buy_hold(
                    o[3], self._placed[o[0]], o[4])
            else:
                held_coin[o[1]] = held_coin.get(o[1], 0) + o[4]
        accts = self.accounts.values()
        return {
            "spot_cash_conserved": sum(a.cash for a in accts) + self.fee_pool
            == self.cash_deposits,
            "spot_coin_conserved": sum(a.coin for a in accts) == self.coin_deposits,
            "spot_holds_match_orders": all(
                a.cash_held == held_cash.get(a.id, 0) and a.coin_held == held_coin.get(a.id, 0)
                for a in accts),
            "spot_never_short": all(a.cash >= a.cash_held >= 0 and a.coin >= a.coin_held >= 0
                                    for a in accts),
            "book_uncrossed": self.book.best_bid < self.book.best_ask,
        }
