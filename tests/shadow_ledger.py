"""An independent model of the exchange's money, rebuilt from the core's events alone.

:class:`Shadow` replays every event an :class:`~exsim.core.engine.ExchangeCore` emits
into its own wallets, positions (quantity, cost basis, isolated margin), resting
orders, fee pool and deposits, written from the rules in docs/mechanics.md rather than
from the core's code (only the maintenance-margin table lookup is shared).  While it
replays it checks each event against what the rules say it must be:

* a fill's fees and realized PnL, a takeover's price (the account's equity shared over
  its notional, docs/mechanics.md section 4: positive, within the maintenance band of
  the mark, or within the deficit band) and that the account was liquidatable, an ADL's
  price (the fund's entry rounded in its favour, never a loss for the fund), each
  funding payment (a house account pays only out of its cash), each share of socialized
  loss (never more than the whole account can pay), a bad-debt payment (only to a flat
  account, never more than its deficit or the fund's cash);
* nobody pays by a symbol it holds no position in: funding, fees, ADL, socialized
  loss, takeovers;
* an account taken over with equity left never ends below zero for it.

:meth:`Shadow.finish` ends one request: its own conservation (cash to the atom) and the
core's state against its own, account by account.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

from exsim.core import events as ev
from exsim.core.engine import ExchangeCore
from exsim.core.funding import RATE_SCALE
from exsim.core.liquidation import ALL_TO_FUND, VAULT
from exsim.core.margin import maintenance_margin
from exsim.core.orders import BUY, FLAG_REDUCE_ONLY, CancelReason
from exsim.core.units import PPM

REDUCE_ONLY = int(FLAG_REDUCE_ONLY)
LIQUIDATION_CANCEL = int(CancelReason.LIQUIDATION)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def fee(notional: int, rate: int) -> int:
    """Charges rounded up, rebates down (docs/mechanics.md section 2)."""
    return ceil_div(notional * rate, PPM) if rate >= 0 else -(notional * -rate // PPM)


class Pos:
    __slots__ = ("cost", "isolated", "leverage", "margin", "qty")

    def __init__(self, leverage: int) -> None:
        self.qty = self.cost = self.margin = 0
        self.leverage = leverage
        self.isolated = False


class Shadow:
    """See the module docstring.  ``core`` is only read in :meth:`finish`."""

    def __init__(self, core: ExchangeCore) -> None:
        self.core = core
        self.specs = [m.spec for m in core.markets]
        self.k = [m.k for m in core.markets]
        self.fund_ids = list(core.fund_ids)
        self.fee_policy = core.liquidation_rules.fee_policy
        self.wallet: dict[int, int] = {}
        self.pos: dict[tuple[int, int], Pos] = {}
        self.orders: dict[tuple[int, int], list[int]] = {}  # (sym, oid): acct side price leaves ro
        self.marks: list[int | None] = [m.mark for m in core.markets]
        self.fee_pool = core.ledger.fee_pool
        self.deposits = core.ledger.deposits
        self.policy = ""  # the last step the driver asked for (its events do not say)
        self.seen: Counter[str] = Counter()  # what the replay met, for drivers to count
        self._start()

    # ------------------------------------------------------------------ model
    def position(self, acct: int, sym: int, leverage: int | None = None) -> Pos:
        p = self.pos.get((acct, sym))
        if p is None:
            p = self.pos[(acct, sym)] = Pos(
                self.specs[sym].default_leverage if leverage is None else leverage)
        return p

    def held(self, acct: int, sym: int) -> int:
        p = self.pos.get((acct, sym))
        return 0 if p is None else p.qty

    def upnl(self, acct: int, sym: int) -> int:
        p = self.pos.get((acct, sym))
        mark = self.marks[sym]
        if p is None or not p.qty or mark is None:
            return 0
        return p.qty * mark * self.k[sym] - p.cost

    def backing(self, acct: int, sym: int) -> tuple[int, int]:
        """(equity, notional) behind ``acct``'s position in ``sym``: the isolated
        position's own, or the whole account's cross positions'."""
        p = self.position(acct, sym)
        if p.isolated:
            mark = self.marks[sym] or 0
            return p.margin + self.upnl(acct, sym), abs(p.qty) * mark * self.k[sym]
        equity, notional = self.wallet.get(acct, 0), 0
        for (a, s), q in self.pos.items():
            mark = self.marks[s]
            if a == acct and not q.isolated and q.qty and mark is not None:
                equity += self.upnl(a, s)
                notional += abs(q.qty) * mark * self.k[s]
        return equity, notional

    def maintenance(self, acct: int, sym: int) -> int:
        """The maintenance margin behind ``acct``'s position in ``sym`` (cross: all of them)."""
        p = self.position(acct, sym)
        total = 0
        for (a, s), q in self.pos.items():
            if a == acct and q.qty and q.isolated == p.isolated and (not p.isolated or s == sym):
                mark = self.marks[s] or 0
                total += maintenance_margin(self.specs[s].brackets, abs(q.qty) * mark * self.k[s])
        return total

    def open_sums(self, acct: int, sym: int) -> tuple[int, int]:
        """Sum of price x leaves of the resting buys and sells (not reduce-only)."""
        buys = sells = 0
        for (s, _), (a, side, price, leaves, ro) in self.orders.items():
            if a == acct and s == sym and not ro:
                if side == BUY:
                    buys += price * leaves
                else:
                    sells += price * leaves
        return buys, sells

    def withdrawable(self, acct: int) -> int:
        """Wallet less every position's initial margin (open orders too) and cross losses:
        unrealized profit never counts (docs/mechanics.md section 3)."""
        free = self.wallet.get(acct, 0)
        for (a, s), p in self.pos.items():
            mark = self.marks[s]
            if a != acct or mark is None:
                continue
            buys, sells = self.open_sums(a, s)
            qm = p.qty * mark
            exposure = max(abs(qm + buys), abs(qm - sells)) * self.k[s]
            im = ceil_div(exposure, p.leverage)
            if p.isolated:
                free -= max(im - p.margin, 0)
            else:
                free -= im - min(self.upnl(a, s), 0)
        return free

    def fund_equity(self, sym: int) -> int:
        fund = self.fund_ids[sym]
        return self.wallet.get(fund, 0) + sum(
            self.upnl(fund, s) for (a, s) in self.pos if a == fund)

    def trade(self, acct: int, sym: int, dq: int, price: int) -> int:
        """Apply ``dq`` lots at ``price`` to a position; its realized PnL, rounded down."""
        p = self.position(acct, sym)
        k = self.k[sym]
        q = p.qty
        if q == 0 or (q > 0) == (dq > 0):  # open or add: cost grows by the lots' value
            self._open(acct, p, dq, dq * price * k)
            return 0
        closing = dq if abs(dq) <= abs(q) else -q
        new_q = q + closing
        removed = p.cost if new_q == 0 else ceil_div(p.cost * abs(closing), abs(q))
        realized = -closing * price * k - removed
        p.qty, p.cost = new_q, p.cost - removed
        if p.isolated:  # into the margin; the closed share of it back to the wallet
            margin = p.margin + realized
            release = margin if new_q == 0 else (
                margin * abs(closing) // abs(q) if margin > 0 else 0)
            p.margin = margin - release
            self.wallet[acct] = self.wallet.get(acct, 0) + release
        else:
            self.wallet[acct] = self.wallet.get(acct, 0) + realized
        if dq != closing:  # a flip: the rest opens at this price
            p.cost = 0
            self._open(acct, p, dq - closing, (dq - closing) * price * k)
        return realized

    def _open(self, acct: int, p: Pos, dq: int, value: int) -> None:
        p.qty += dq
        p.cost += value
        if p.isolated:
            im = ceil_div(abs(value), p.leverage)
            self.wallet[acct] = self.wallet.get(acct, 0) - im
            p.margin += im

    def pay(self, acct: int, amount: int) -> None:
        self.wallet[acct] = self.wallet.get(acct, 0) + amount

    # ------------------------------------------------------------------ replay
    def _start(self) -> None:
        self.funding: dict[int, int] | None = None  # a settlement's payments still due
        self.adl_price: int | None = None
        self.adl_round_left = 0  # lots the open ADL round may still close
        self.prev: tuple[int, ...] | None = None
        self.liquidated: tuple[int, int, int] | None = None  # acct, sym, equity before
        self.takeover_cancels: list[tuple[int, int]] = []  # (acct, sym) of its cancels

    def replay(self, events: Sequence[tuple[int, ...]]) -> None:
        for e in events:
            self.apply(e)
            self.prev = e

    def apply(self, e: tuple[int, ...]) -> None:
        kind = e[0]
        if kind == ev.DEPOSIT:
            acct, amount = e[1], e[2]
            if amount < 0:
                assert -amount <= self.withdrawable(acct), ("withdrew profit", e)
                if any(p.qty for (a, _), p in self.pos.items() if a == acct):
                    self.seen["withdrawal beside open positions"] += 1
            self.pay(acct, amount)
            self.deposits += amount
        elif kind == ev.MARK:
            self.marks[e[1]] = e[2]
        elif kind == ev.LEVERAGE:
            p = self.position(e[2], e[1])
            p.leverage, p.isolated = e[3], bool(e[4])
        elif kind == ev.ISOLATED_MARGIN:
            self.pay(e[2], -e[3])
            self.position(e[2], e[1]).margin += e[3]
        elif kind == ev.ACCEPTED:
            _, sym, oid, acct, side, price, qty, _type, _tif, flags = e
            self.position(acct, sym)
            self.orders[(sym, oid)] = [acct, side, price, qty, flags & REDUCE_ONLY]
        elif kind == ev.CANCELLED:
            self._reduce_order(e[1], e[2], e[4])
            if e[5] == LIQUIDATION_CANCEL:
                self.takeover_cancels.append((e[3], e[1]))
        elif kind == ev.AMENDED:
            order = self.orders[(e[1], e[2])]
            order[2], order[3] = e[4], e[5]
        elif kind == ev.FILL:
            self._fill(e)
        elif kind == ev.FUNDING_RATE:
            self._settlement(e)
        elif kind == ev.FUNDING:
            self._funding(e)
        elif kind == ev.LIQUIDATION:
            self._takeover(e)
        elif kind in (ev.FUND, ev.VAULT_TRANSFER):
            self._house_cash(e)
        elif kind == ev.ADL_ROUND:
            self._adl_round(e)
        elif kind == ev.ADL:
            self._adl(e)
        elif kind == ev.SOCIALIZED:
            self._socialized(e)
        else:
            assert kind in (ev.REJECTED, ev.ACCOUNT), e

    def _reduce_order(self, sym: int, oid: int, lots: int) -> None:
        order = self.orders.get((sym, oid))
        if order is None:  # an IOC the book never held: its fills and cancel close it
            return
        order[3] -= lots
        assert order[3] >= 0
        if order[3] == 0:
            del self.orders[(sym, oid)]

    def _fill(self, e: tuple[int, ...]) -> None:
        _, sym, price, qty, toid, taker, side, moid, maker, tfee, mfee, treal, mreal = e
        spec = self.specs[sym]
        notional = price * qty * self.k[sym]
        assert (tfee, mfee) == (fee(notional, spec.taker_fee), fee(notional, spec.maker_fee)), e
        dq = qty if side == BUY else -qty
        self.pay(taker, -tfee)
        assert self.trade(taker, sym, dq, price) == treal, ("taker's realized PnL", e)
        self.pay(maker, -mfee)
        assert self.trade(maker, sym, -dq, price) == mreal, ("maker's realized PnL", e)
        self.fee_pool += tfee + mfee
        self._reduce_order(sym, toid, qty)
        self._reduce_order(sym, moid, qty)

    def _settlement(self, e: tuple[int, ...]) -> None:
        """Every position in the symbol pays or receives |Q| x M x rate, rounded against
        it; a house account pays only what its cash holds."""
        _, sym, rate, mark, rounding = e
        assert mark == self.marks[sym]
        due: dict[int, int] = {}
        for (acct, s), p in self.pos.items():
            if s == sym and p.qty:
                amount = -p.qty * mark * self.k[sym] * rate // RATE_SCALE
                cash = p.margin if p.isolated else self.wallet.get(acct, 0)
                if acct < 0 and amount < 0:
                    self.seen["house account owes funding"] += 1
                    if -amount > cash:
                        self.seen["house account cannot pay all its funding"] += 1
                    amount = -min(-amount, max(cash, 0))
                due[acct] = amount
        assert rounding == -sum(due.values()), e
        self.fee_pool += rounding
        self.funding = due

    def _funding(self, e: tuple[int, ...]) -> None:
        _, sym, acct, amount = e
        assert self.funding is not None and self.funding.pop(acct) == amount, (
            "a funding payment the rules do not make", e)
        p = self.position(acct, sym)
        if p.isolated:
            p.margin += amount
        else:
            self.pay(acct, amount)
        if acct < 0:
            assert (p.margin if p.isolated else self.wallet[acct]) >= 0 or amount >= 0, e

    def takeover_price(self, acct: int, sym: int) -> Fraction:
        """The bankruptcy price: ``r = E / W`` of what backs the position, the same
        relative distance from each mark; a deficit no further than a factor of two from
        the position's mark and entry."""
        p = self.position(acct, sym)
        mark = self.marks[sym]
        assert mark is not None
        equity, notional = self.backing(acct, sym)
        r = Fraction(equity, notional)
        price = mark * (1 - r) if p.qty > 0 else mark * (1 + r)
        if equity < 0:
            entry = Fraction(p.cost, p.qty * self.k[sym])
            price = (min(price, 2 * max(Fraction(mark), entry)) if p.qty > 0
                     else max(price, min(Fraction(mark), entry) / 2))
        return price

    def _takeover(self, e: tuple[int, ...]) -> None:
        _, sym, acct, part, price, mark, realized, to, taker_realized = e
        p = self.position(acct, sym)
        whole = abs(p.qty)
        assert acct >= 0 and p.qty and 0 < abs(part) <= whole and (part > 0) == (p.qty > 0), e
        assert mark == self.marks[sym]
        equity = self.backing(acct, sym)[0]
        assert equity < self.maintenance(acct, sym), ("taken over, not liquidatable", e)
        exact = self.takeover_price(acct, sym)
        bp = ceil_div(exact.numerator, exact.denominator) if p.qty > 0 else (
            exact.numerator // exact.denominator)
        assert bp > 0, ("a takeover at no positive price", e)
        if equity >= 0:  # within the maintenance band of the mark
            mmr = max(t.mmr for t in self.specs[sym].brackets)
            assert abs(exact - mark) <= Fraction(mark * mmr, PPM) + 1, e
        else:  # a deficit: within a factor of two of the mark and the entry
            entry = Fraction(p.cost, p.qty * self.k[sym])
            assert min(mark, entry) / 2 <= exact <= 2 * max(mark, entry), e
        cross = sum(1 for (a, _), q in self.pos.items() if a == acct and q.qty and not q.isolated)
        self.seen["takeover of an isolated position" if p.isolated
                  else f"takeover, account with {min(cross, 2)} cross positions"] += 1
        self.seen["takeover in deficit" if equity < 0 else "takeover with equity left"] += 1
        left = [key for key, o in self.orders.items()
                if o[0] == acct and (not p.isolated or key[0] == sym)]
        assert not left, ("orders left resting through a takeover", left, e)
        if not p.isolated and any(a == acct and self.position(a, s).isolated
                                  for a, s in self.takeover_cancels):
            self.seen["cross takeover cancelled resting isolated orders"] += 1
        bankrupt = mark <= bp if p.qty > 0 else mark >= bp
        if bankrupt:
            assert abs(part) == whole, ("a bankrupt position goes whole", e)
        assert price == (bp if bankrupt or self.fee_policy == ALL_TO_FUND else mark), e
        wallet_before, margin_before = self.wallet.get(acct, 0), p.margin
        assert self.trade(acct, sym, -part, price) == realized, e
        if p.isolated:  # the part takes its share of the margin; its excess to the wallet
            share = margin_before if abs(part) == whole else ceil_div(
                margin_before * abs(part), whole)
            p.margin = margin_before - share
            self.wallet[acct] = wallet_before + share + realized
        taker = self.position(to, sym, leverage=1)
        assert to in (self.fund_ids[sym], VAULT) and not taker.isolated
        assert self.trade(to, sym, part, price) == taker_realized, e
        self.liquidated = (acct, sym, equity)

    def _house_cash(self, e: tuple[int, ...]) -> None:
        kind, sym, acct, amount = e
        if acct < 0:  # a seed: the exchange's own deposit into a fund or the vault
            assert amount > 0
            self.pay(acct, amount)
            self.deposits += amount
            return
        house = VAULT if kind == ev.VAULT_TRANSFER else self.fund_ids[sym]
        if amount > 0:  # a liquidation fee: right after the takeover of that position
            prev = self.prev
            assert prev is not None and prev[0] == ev.LIQUIDATION, ("a fee for nothing", e)
            assert (prev[1], prev[2], prev[7]) == (sym, acct, house), e
        else:  # bad debt: to a flat account, at most its deficit and the fund's cash
            assert kind == ev.FUND and not any(
                p.qty for (a, _), p in self.pos.items() if a == acct), ("debt while held", e)
        self.pay(acct, -amount)
        self.pay(house, amount)
        if amount < 0:
            assert self.wallet[house] >= 0 and self.wallet[acct] + sum(
                p.margin for (a, _), p in self.pos.items() if a == acct) <= 0, e

    def _adl_round(self, e: tuple[int, ...]) -> None:
        """An ADL round opens: the fund short at the mark by the equity it says (these
        runs use the default trigger, ``mtm``, and no position cap), the lots it must
        close within its position; the ADL events that follow close no more."""
        _, sym, fund, equity, lots = e
        fp = self.position(fund, sym)
        assert fund == self.fund_ids[sym] and equity == self.fund_equity(sym) < 0, e
        assert 0 < lots <= abs(fp.qty), e
        self.adl_round_left = lots

    def _adl(self, e: tuple[int, ...]) -> None:
        _, sym, acct, qty, price, realized, fund_realized = e
        fund = self.fund_ids[sym]
        fp = self.position(fund, sym)
        if self.adl_price is None:  # one price for the whole request: the fund's entry
            assert fp.qty and self.fund_equity(sym) < 0, ("ADL of a fund not short", e)
            entry = Fraction(fp.cost, fp.qty * self.k[sym])
            self.adl_price = (ceil_div(entry.numerator, entry.denominator) if fp.qty > 0
                              else entry.numerator // entry.denominator)
        assert price == self.adl_price, ("ADL off the fund's entry", e)
        self.adl_round_left -= abs(qty)
        assert self.adl_round_left >= 0, ("ADL beyond what its round said it needs", e)
        self.seen["ADL"] += 1
        held = self.held(acct, sym)
        assert acct >= 0 and held and (qty > 0) == (held > 0) and abs(qty) <= abs(held), e
        assert (fp.qty > 0) != (held > 0), ("ADL against the fund's own side", e)
        assert self.trade(acct, sym, -qty, price) == realized, e
        assert self.trade(fund, sym, qty, price) == fund_realized >= 0, e

    def _socialized(self, e: tuple[int, ...]) -> None:
        _, sym, acct, amount, qty = e
        p = self.position(acct, sym)
        assert acct >= 0 and p.qty and p.qty == qty and amount > 0, ("a flat payer", e)
        assert self.fund_equity(sym) < 0 or (
            self.prev is not None and self.prev[0] == ev.SOCIALIZED), e
        equity, _ = self.backing(acct, sym)
        assert amount <= equity, ("a share beyond what the account can pay", e)
        held = sum(1 for (a, _), q in self.pos.items() if a == acct and q.qty)
        self.seen[f"{self.policy}, payer with {min(held, 2)} positions"] += 1
        if self.policy == "clawback":
            assert amount <= self.upnl(acct, sym), e
            p.cost += amount
        elif p.isolated:
            p.margin -= amount
        else:
            self.pay(acct, -amount)
        self.pay(self.fund_ids[sym], amount)

    # ------------------------------------------------------------------ checks
    def finish(self) -> None:
        """End one request: settle its checks, then hold the core to the model."""
        assert not self.funding, ("funding due but not paid", self.funding)
        if self.liquidated is not None:
            acct, sym, before = self.liquidated
            held = any(p.qty for (a, _), p in self.pos.items() if a == acct)
            if before >= 0 and held:  # it had equity left: never below zero for the part
                assert self.backing(acct, sym)[0] >= 0, ("below zero after", acct)
            if not any(p.qty for (a, _), p in self.pos.items() if a == acct):
                debt = self.wallet.get(acct, 0) + sum(
                    p.margin for (a, _), p in self.pos.items() if a == acct)
                assert debt >= 0 or self.wallet.get(self.fund_ids[sym], 0) == 0, acct
        self._start()
        total = self.fee_pool + sum(self.wallet.values()) + sum(
            p.margin - p.cost for p in self.pos.values())
        assert total == self.deposits, ("the model lost or made atoms", total - self.deposits)
        core = self.core
        assert (core.ledger.fee_pool, core.ledger.deposits) == (self.fee_pool, self.deposits)
        for acct in set(core.accounts) | set(self.wallet):
            assert core.accounts[acct].wallet == self.wallet.get(acct, 0), acct
        for acct in core.accounts.values():
            for sym, p in acct.positions.items():
                mine = self.pos.get((acct.id, sym))
                state = (p.qty, p.cost, p.margin, p.buy_open, p.sell_open)
                if mine is None:
                    assert state == (0, 0, 0, 0, 0), (acct.id, sym)
                    continue
                assert state == (mine.qty, mine.cost, mine.margin,
                                 *self.open_sums(acct.id, sym)), (acct.id, sym)
                assert (p.leverage, p.isolated) == (mine.leverage, mine.isolated), acct.id
        for (acct, sym), mine in self.pos.items():
            assert mine.qty == 0 or sym in core.accounts[acct].positions
