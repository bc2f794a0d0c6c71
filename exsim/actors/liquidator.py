"""The liquidator: finds accounts under maintenance at each mark, takes them over, works
the fund's positions out in the book, and calls ADL when the fund is short.

It sees the exchange only through :class:`~exsim.actors.messages.RiskUpdate`
messages (marks, the liquidation prices of touched positions, the fund's
positions and cash): never the last trade.  Its own index
(:class:`~exsim.core.liquidation.LiquidationIndex`) answers "who did this mark
cross?" in O(log n + k).  Everything it asks for goes to the exchange as a
request with the liquidator's own latency, at most one every ``interval_ns``
(its rate limit), so in a cascade it builds a backlog and its orders meet a
book that has moved.

Per symbol, each step is one of, in this order of priority:

1. take over the next crossed account (``Liquidate``; the exchange re-checks),
   into the backstop vault while the waterfall has a ``backstop`` step and the
   vault's equity is positive, else into the insurance fund that covers the
   symbol (the shared one, or the symbol's own with ``fund_scope =
   "per_symbol"``); with partial liquidation (``[liquidation] mode``) the
   exchange takes one step, and an account still crossed at the mark after it
   is queued again behind the others;
2. if that fund is short (its cash plus its PnL at the marks below zero; with
   per-symbol funds each is judged alone, so one symbol's fund can be short
   while another's is rich), the configured last step: ``adl`` deleverages its
   position at its average entry, the price it took it over at (the bankruptcy
   price, or the mark under the ``capped``/``none`` fee policies)
   (``Deleverage``, with no price: the core computes the entry from the fund's
   position when it serves the request, so a risk update that is stale by then,
   with more takeovers in flight, cannot set the price); ``clawback`` or
   ``oi_funding`` spread the deficit over traders (``Socialize``); ``none`` leaves
   the fund short;
3. otherwise sell (or buy back) a slice of at most ``slice_lots`` of the fund's
   position with a reduce-only IOC order priced at the entry, or up to
   ``tolerance`` worse when the fund's cash can pay the difference: filling
   better than the entry is the fund's income, worse is a draw on it.

A slice may still be in flight when the next is priced (the liquidator's latency
beyond its interval, or a queue at the exchange), and the cash in the latest risk
update does not show it yet.  So each slice's worst-case draw (its limit's loss
against the entry plus its taker fee) is reserved from that cash when it is sent,
and released when its own events come back (the funds' events come to the
liquidator): at once if it did not fill, else at the risk update after them, whose
cash shows its fills.  So the slices in flight never together spend more than the
fund's cash.  And no slice is priced while a takeover in a symbol of the same
fund is in flight (sent, not yet counted in ``RiskUpdate.takeovers``): it is served
before the slice and moves the fund's entry, so a slice priced on the entry it sees
could sell far below the entry it meets.
"""

from __future__ import annotations

import math
from collections import deque

from exsim.actors.messages import Deleverage, Events, Liquidate, RiskUpdate, Socialize, Submit
from exsim.actors.network import Network, Wake
from exsim.core.events import ACCEPTED, FILL, REJECTED
from exsim.core.liquidation import VAULT, LiquidationIndex
from exsim.core.orders import BUY, IOC, SELL

FIRST_STEPS = ("book", "takeover")
"""What a liquidation does first: send the position to the book as a liquidation order
(Binance, Bybit, OKX, Hyperliquid), what does not fill staying with the fund; or hand it
to the fund whole, which works it out (BitMEX's takeover)."""


class Liquidator:
    def __init__(self, net: Network, actor_id: int, exchange: int, symbols: int, *, k: list[int],
                 interval_ns: int, slice_lots: int, tolerance: float, adl_policy: str,
                 last_step: str = "adl", backstop: bool = False,
                 taker_fee_ppm: list[int] | None = None, first: str = "book",
                 max_fund_notional: int = 0, socialize_every_ns: int = 0,
                 vault_haircut: int = 0) -> None:
        if interval_ns <= 0 or slice_lots <= 0 or not 0 <= tolerance < 1:
            raise ValueError("liquidator: interval and slice must be > 0, tolerance in [0, 1)")
        self.net = net
        self.id = actor_id
        self.exchange = exchange
        self.k = k
        self.taker_fee_ppm = taker_fee_ppm or [0] * symbols  # what a work-out order pays
        self.next_sym = 0  # where the next look for fund work starts: each symbol its turn
        self.interval_ns = interval_ns
        self.slice_lots = slice_lots
        self.tolerance = tolerance
        self.adl_policy = adl_policy
        self.last_step = last_step  # "adl", "clawback", "oi_funding" or "none"
        self.backstop = backstop
        if first not in FIRST_STEPS:
            raise ValueError(f"liquidator: first must be one of {FIRST_STEPS}, got {first!r}")
        self.into_book = first == "book"
        self.max_fund_notional = max_fund_notional  # atoms: ADL beyond it (Binance's cap)
        # a socializing last step books deficits: the fund's realised losses beyond its
        # cash; rounds collect them at once, or every ``socialize_every_ns``
        self.books_deficits = last_step in ("clawback", "oi_funding")
        self.vault_haircut = vault_haircut  # ppm of the vault's notional it keeps as equity
        self.socialize_every_ns = socialize_every_ns
        self.next_round_ns = socialize_every_ns
        self.settled: dict[int, int] = {}  # sym -> the last settlement period it was settled
        self.indexes = [LiquidationIndex() for _ in range(symbols)]
        net.attach(actor_id, self.on_batch)  # a handler on the network, not a trio task
        self.latest: RiskUpdate | None = None
        self.queued: list[deque[int]] = [deque() for _ in range(symbols)]  # accounts to take
        self.pending: set[tuple[int, int]] = set()  # (acct, sym) asked, not yet resolved
        self.next_free = 0  # the rate limit: earliest instant of the next request
        self.timer_set = False
        self.next_oid = 0
        # per fund, its state when the last step (ADL or socialize) was last asked for:
        # not asked again until that state changes, so a refusal cannot loop
        self.last_step_asked: dict[int, tuple[object, ...]] = {}
        # work-out slices sent whose cash the latest risk update does not show yet:
        # oid -> (fund, worst-case draw in atoms); ``served`` those whose events came
        self.reserved: dict[int, tuple[int, int]] = {}
        self.served: list[int] = []
        self.takeovers_sent = [0] * symbols  # Liquidate requests sent, per symbol
        # the budget of each takeover whose liquidation order the latest update does not
        # show yet: (sym, its count among that symbol's takeovers) -> (fund, atoms)
        self.takeover_budgets: dict[tuple[int, int], tuple[int, int]] = {}

    def on_batch(self, batch: list[object]) -> None:
        """One instant's risk updates, the funds' own events and the timer, then the next
        request if one is due."""
        for msg in batch:
            if isinstance(msg, RiskUpdate):
                for oid in self.served:  # their fills are in this update's cash
                    self.reserved.pop(oid, None)
                self.served.clear()
                for key in [k for k in self.takeover_budgets  # served: in its cash too
                            if k[1] <= (msg.takeovers[k[0]] if k[0] < len(msg.takeovers)
                                        else 0)]:
                    del self.takeover_budgets[key]
                self._absorb(msg)
            elif isinstance(msg, Events):
                self._note_served(msg.events)
            elif isinstance(msg, Wake):
                self.timer_set = False
        self._act()

    def _note_served(self, events: list[tuple[int, ...]]) -> None:
        """A slice's request was served when its ACCEPTED or REJECTED arrives (an IOC's
        fills and cancel come in the same batch).  Without a fill it spent nothing: its
        reserve goes now.  With fills, at the risk update that follows them (the
        exchange sends it in the same instant, after these events), whose cash shows
        them."""
        served: list[int] = []
        filled: set[int] = set()
        for e in events:
            kind = e[0]
            if kind == FILL:
                filled.add(e[4])  # the taker's oid: a slice never rests
            elif kind in (ACCEPTED, REJECTED):
                oid = e[2] if kind == ACCEPTED else e[3]
                if oid in self.reserved:
                    served.append(oid)
        for oid in served:
            if oid in filled:
                self.served.append(oid)
            else:
                del self.reserved[oid]

    def _absorb(self, update: RiskUpdate) -> None:
        self.latest = update
        for acct, sym, qty, lp in update.updates:
            self.indexes[sym].update(acct, qty, lp)
            # resolved (taken over), or changed: it is asked again if still crossed
            self.pending.discard((acct, sym))
        for sym, mark in enumerate(update.marks):
            if mark is None:
                continue
            for acct in self.indexes[sym].crossed(mark):
                if (acct, sym) not in self.pending:
                    self.pending.add((acct, sym))
                    self.queued[sym].append(acct)

    def _act(self) -> None:
        """Send the next request if the rate limit allows, else wake when it does."""
        if self.latest is None:
            return
        now = self.net.now
        if now < self.next_free:
            if not self.timer_set:
                self.timer_set = True
                self.net.wake(self.id, self.next_free)
            return
        request = self._next_request()
        if request is None:
            return
        self.net.send(self.id, self.exchange, request)
        self.next_free = now + self.interval_ns
        if not self.timer_set:  # come back for the rest of the backlog
            self.timer_set = True
            self.net.wake(self.id, self.next_free)

    def _next_request(self) -> Liquidate | Deleverage | Socialize | Submit | None:
        update = self.latest
        assert update is not None
        for sym, queue in enumerate(self.queued):
            while queue:
                acct = queue.popleft()
                if (acct, sym) in self.pending:  # still waiting for its takeover
                    to = (VAULT if self.backstop and update.vault_equity > 0
                          else update.funds[sym])
                    self.takeovers_sent[sym] += 1
                    if not self.into_book:
                        return Liquidate(acct, sym, to)
                    # the fund's free cash pays a liquidation order below the takeover
                    # price (the vault holds what it takes: it sends at that price only)
                    budget = (0 if to == VAULT else 1 << 62 if self.books_deficits
                              else max(0, self._free_cash(update, to, sym)))
                    self.takeover_budgets[(sym, self.takeovers_sent[sym])] = (to, budget)
                    return Liquidate(acct, sym, to, True, round(self.tolerance * 1_000_000),
                                     budget)
        release = self._vault_release(update)
        if release is not None:
            return release
        funds = update.funds
        if self.books_deficits:  # a booked deficit (cash below zero): a round, if due
            round_ = self._socialize_round(update)
            if round_ is not None:
                return round_
        equity: dict[int, int] = {}  # each fund's equity at the marks
        for sym, qty in enumerate(update.fund_qty):
            fund = funds[sym]
            if fund not in equity:
                equity[fund] = update.fund_cash[sym]
            mark = update.marks[sym]
            if qty and mark is not None:
                equity[fund] += qty * mark * self.k[sym] - update.fund_cost[sym]
        n = len(update.fund_qty)
        for sym in [(self.next_sym + i) % n for i in range(n)]:  # round robin over symbols
            qty = update.fund_qty[sym]
            if not qty:
                continue
            self.next_sym = (sym + 1) % n
            fund = funds[sym]
            cash = update.fund_cash[sym]
            entry = update.fund_cost[sym] / (qty * self.k[sym])  # ticks, exact enough to price
            mine = [s for s, f in enumerate(funds) if f == fund]  # the symbols it covers
            # asked again when its position, cash or marks change (a new mark can leave
            # a fund_first fund short again); never twice for the same state (no loop)
            state = (cash, tuple(update.fund_qty[s] for s in mine),
                     tuple((update.fund_cost[s], update.marks[s]) for s in mine))
            mark = update.marks[sym] or 0
            over_cap = (self.last_step == "adl" and self.max_fund_notional > 0
                        and abs(qty) * mark * self.k[sym] > self.max_fund_notional)
            if ((equity[fund] < 0 or over_cap) and self.last_step == "adl"
                    and state != self.last_step_asked.get(fund)):
                self.last_step_asked[fund] = state
                return Deleverage(sym, self.adl_policy)  # at the fund's entry, the core's
            if self._taking_over(update, mine):
                continue  # a takeover in flight will move its entry: wait to see it
            lots = min(abs(qty), self.slice_lots)
            # the worst price the fund's cash can pay for, fee included (at the worst
            # price the tolerance allows), capped by the tolerance; with too little
            # cash for the fee, ``give`` < 0: only a fill better than the entry will do
            cash = self._free_cash(update, fund, sym)
            worst = entry * (1 + self.tolerance)
            fee = lots * self.k[sym] * worst * self.taker_fee_ppm[sym] / 1_000_000
            room = (max(cash, 0) - fee) / (lots * self.k[sym])
            # booking deficits, the tolerance alone bounds the price: the loss is booked
            give = entry * self.tolerance if self.books_deficits else min(
                entry * self.tolerance, room)
            self.next_oid += 1
            if qty > 0:
                price, side = max(1, math.ceil(entry - give)), SELL  # sell no lower than this
            else:
                price, side = math.floor(entry + give), BUY  # buy back no higher than this
            self.reserved[self.next_oid] = (fund, self._worst_draw(sym, qty, update.fund_cost[sym],
                                                                   lots, price))
            return Submit(fund, sym, self.next_oid, side, lots, price, tif=IOC, reduce_only=True)
        return None

    def _vault_release(self, update: RiskUpdate) -> Liquidate | None:
        """Hand the vault's largest position on to the fund when the vault's equity at
        the marks no longer carries its haircut (the core re-checks); once per state."""
        if not self.backstop or not any(update.vault_qty):
            return None
        notional = sum(abs(q) * (update.marks[s] or 0) * self.k[s]
                       for s, q in enumerate(update.vault_qty))
        if update.vault_equity * 1_000_000 >= self.vault_haircut * notional:
            return None
        sym = max(range(len(update.vault_qty)),
                  key=lambda s: abs(update.vault_qty[s]) * (update.marks[s] or 0) * self.k[s])
        state = (update.vault_equity, tuple(update.vault_qty), ())
        if state == self.last_step_asked.get(VAULT):
            return None
        self.last_step_asked[VAULT] = state
        return Liquidate(VAULT, sym, update.funds[sym])

    def _socialize_round(self, update: RiskUpdate) -> Socialize | None:
        """Collect a fund's booked deficit (its cash below zero): at once, or at the next
        multiple of ``socialize_every_ns`` (OKX's settlement).  Once per booked state: a
        deficit the payers could not cover is not asked for again until it changes."""
        now = self.net.now
        every = self.socialize_every_ns
        if every and now < self.next_round_ns:
            if not self.timer_set:  # come back at the settlement
                self.timer_set = True
                self.net.wake(self.id, self.next_round_ns)
            return None
        period = now // every if every else 0
        for sym, fund in enumerate(update.funds):
            cash = update.fund_cash[sym]
            if every:  # a settlement: each symbol's fund position booked, then a round
                if self.settled.get(sym) != period and (update.fund_qty[sym] or cash < 0):
                    self.settled[sym] = period
                    return Socialize(sym, self.last_step, settle=True)
                continue
            state = (cash, (), ())
            if cash < 0 and state != self.last_step_asked.get(fund):
                self.last_step_asked[fund] = state
                return Socialize(sym, self.last_step)
        if every:  # every symbol settled this period: the next one
            self.next_round_ns = (period + 1) * every
        return None

    def _free_cash(self, update: RiskUpdate, fund: int, sym: int) -> int:
        """A fund's cash less what its orders in flight may still spend."""
        return (update.fund_cash[sym]
                - sum(draw for f, draw in self.reserved.values() if f == fund)
                - sum(draw for f, draw in self.takeover_budgets.values() if f == fund))

    def _taking_over(self, update: RiskUpdate, syms: list[int]) -> bool:
        """Has a takeover in one of ``syms`` been sent that ``update`` does not show yet?"""
        served = update.takeovers
        return any(self.takeovers_sent[s] > (served[s] if s < len(served) else 0)
                   for s in syms)

    def _worst_draw(self, sym: int, qty: int, cost: int, lots: int, price: int) -> int:
        """Atoms a slice of ``lots`` at limit ``price`` can take from the fund's cash at
        most: its loss against the position's cost (a fill at the limit, the worst it
        can get) plus its taker fee there, as the core's clearing computes them."""
        k = self.k[sym]
        closing = -lots if qty > 0 else lots
        removed = -((cost * closing) // qty)  # the cost basis the lots take with them
        realized = -closing * price * k - removed
        fee = -(-lots * price * k * self.taker_fee_ppm[sym] // 1_000_000)
        return max(fee - realized, 0)
