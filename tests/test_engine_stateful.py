"""Property test of the whole core: random requests, invariants after every one.

Hypothesis drives submits of every type, cancels, amends, marks, funding
settlements, leverage and margin-mode changes, deposits, withdrawals and
garbage requests from four
accounts with small wallets (so margin checks bite) into two symbols.  After
every request:

* nothing raised;
* a refused request emitted exactly one REJECTED event and changed nothing;
* open interest long == short, cash conserved to the atom, book never crossed,
  open-order sums agree with the books (``ExchangeCore.invariants``);
* every order's lots are accounted for by its events:
  accepted + amended-up == filled + cancelled + amended-down + resting.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from core_helpers import px, snapshot, spec, usd
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exsim.core.engine import ExchangeCore
from exsim.core.events import ACCEPTED, AMENDED, CANCELLED, FILL, REJECTED

ACCOUNTS = (1, 2, 3, 4)
accts = st.sampled_from(ACCOUNTS)
syms = st.sampled_from([0, 1])
garbage = st.one_of(st.none(), st.text(max_size=3), st.floats(allow_nan=True),
                    st.integers(-(1 << 70), 1 << 70), st.booleans(),
                    st.decimals(allow_nan=True, places=4), st.lists(st.integers(), max_size=2))


class CoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.core = ExchangeCore([spec(), spec("ETHUSDT", taker_fee=700, maker_fee=-100)])
        self.marks = [px(30000), px(30000)]
        for s in (0, 1):
            self.core.set_mark(s, self.marks[s])
        for i, a in enumerate(ACCOUNTS):
            self.core.deposit(a, usd(300 * (i + 1)))
        self.core.set_margin_mode(4, 0, True)
        self.next_oid = 0
        self.asked: dict[tuple[int, int], int] = defaultdict(int)
        self.done: dict[tuple[int, int], int] = defaultdict(int)
        self.core.events.clear()

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        before = snapshot(self.core)
        ok = fn(*args, **kwargs)
        if not ok:
            assert [e[0] for e in self.core.events] == [REJECTED]
            assert snapshot(self.core) == before
        for e in self.core.events:
            kind = e[0]
            if kind == ACCEPTED:
                self.asked[(e[1], e[2])] += e[6]
            elif kind == FILL:
                self.done[(e[1], e[4])] += e[3]
                self.done[(e[1], e[7])] += e[3]
            elif kind == CANCELLED:
                self.done[(e[1], e[2])] += e[4]
            elif kind == AMENDED:
                delta = e[5] - e[6]
                if delta > 0:
                    self.asked[(e[1], e[2])] += delta
                else:
                    self.done[(e[1], e[2])] -= delta
        self.core.events.clear()

    def oid(self) -> int:
        self.next_oid += 1
        return self.next_oid

    @rule(a=accts, s=syms, side=st.integers(0, 1), qty=st.integers(1, 120),
          off=st.integers(-25, 25), order_type=st.integers(0, 1), tif=st.integers(0, 3),
          ro=st.booleans(), stp=st.none() | st.integers(0, 3))
    def submit(self, a: int, s: int, side: int, qty: int, off: int, order_type: int, tif: int,
               ro: bool, stp: int | None) -> None:
        self.call(self.core.submit, a, s, self.oid(), side, qty, self.marks[s] + off,
                  order_type, tif, ro, stp)

    @rule(a=accts, s=syms, side=garbage, qty=garbage, price=garbage, tif=garbage)
    def submit_garbage(self, a: int, s: int, side: Any, qty: Any, price: Any, tif: Any) -> None:
        self.call(self.core.submit, a, s, self.oid(), side, qty, price, 0, tif)

    def live(self) -> list[tuple[int, int, int]]:
        return sorted((o[1], m.index, o[0]) for m in self.core.markets
                      for o in m.book.orders.values())

    @precondition(lambda self: self.live())
    @rule(data=st.data(), wrong_owner=st.booleans())
    def cancel(self, data: st.DataObject, wrong_owner: bool) -> None:
        a, s, oid = data.draw(st.sampled_from(self.live()))
        self.call(self.core.cancel, a % 4 + 1 if wrong_owner else a, s, oid)

    @precondition(lambda self: self.live())
    @rule(data=st.data(), off=st.integers(-25, 25), qty=st.integers(0, 120))
    def amend(self, data: st.DataObject, off: int, qty: int) -> None:
        a, s, oid = data.draw(st.sampled_from(self.live()))
        self.call(self.core.amend, a, s, oid, self.marks[s] + off, qty)

    @rule(s=syms, move=st.integers(-300, 300))
    def mark(self, s: int, move: int) -> None:
        self.marks[s] = max(1, self.marks[s] + move)
        self.call(self.core.set_mark, s, self.marks[s])

    @rule(s=syms, rate=st.integers(-400_000, 400_000) | st.sampled_from([1, -1, 10**8]))
    def funding(self, s: int, rate: int) -> None:
        self.call(self.core.settle_funding, s, rate)

    @rule(a=accts, s=syms, lev=st.integers(0, 130))
    def leverage(self, a: int, s: int, lev: int) -> None:
        self.call(self.core.set_leverage, a, s, lev)

    @rule(a=accts, s=syms, isolated=st.booleans())
    def margin_mode(self, a: int, s: int, isolated: bool) -> None:
        self.call(self.core.set_margin_mode, a, s, isolated)

    @rule(a=accts, s=syms, amount=st.integers(-500, 500))
    def isolated_margin(self, a: int, s: int, amount: int) -> None:
        self.call(self.core.adjust_isolated_margin, a, s, usd(amount))

    @rule(a=accts, amount=st.integers(-100, 500), withdraw=st.booleans())
    def cash(self, a: int, amount: int, withdraw: bool) -> None:
        fn = self.core.withdraw if withdraw else self.core.deposit
        self.call(fn, a, usd(Decimal(amount)))

    @invariant()
    def core_invariants(self) -> None:
        assert self.core.invariants() == dict.fromkeys(self.core.invariants(), True)

    @invariant()
    def every_lot_accounted(self) -> None:
        resting = {(m.index, o[0]): o[4] for m in self.core.markets
                   for o in m.book.orders.values()}
        for key, asked in self.asked.items():
            assert asked == self.done[key] + resting.get(key, 0), key


CoreMachine.TestCase.settings = settings(max_examples=120, stateful_step_count=50,
                                         deadline=None)
test_core_properties = CoreMachine.TestCase
