"""The mypyc-compiled core against the .py one, and the guard that picks between them.

When the install compiled the core (setup.py; ``exsim.core.COMPILED``), a second,
interpreted copy of the compiled modules is imported beside it, and the same random
sessions (every request, bad input of every type, marks that crash, liquidations,
ADL, socialized loss) go to a core of each: every return value, every event (as its
``repr``, so an ``int`` cannot turn into a ``bool``) and the full state must be
identical after every request.  A whole simulation then runs in two processes, one
with ``EXSIM_PURE=1``, and must give the same digest and summary.  Those tests skip
when the core is not compiled; the guard's own tests run either way.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, NamedTuple

import attrs
import pytest
from core_helpers import snapshot
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from test_engine_stateful import ACCOUNTS, accts, garbage, syms
from test_waterfall_properties import venue

import exsim.core
from exsim.core import BUILD_RECORD, SourceFinder, plan
from exsim.core.symbols import BINANCE_BTCUSDT_2021

CORE_DIR = Path(exsim.core.__file__).parent
REPO = Path(__file__).resolve().parent.parent
needs_compiled = pytest.mark.skipif(
    not exsim.core.COMPILED,
    reason=f"the core is not compiled ({exsim.core.MODE}): nothing to compare the .py files "
           "with (`pip install -e .` with a C compiler builds it; EXSIM_PURE unset runs it)")


def compiled_module_names() -> list[str]:
    return sorted(json.loads((CORE_DIR / BUILD_RECORD).read_text())["modules"])


def interpreted_copy() -> dict[str, ModuleType]:
    """A second copy of the compiled modules, imported from their .py files.

    They are imported under their own names with ``sys.modules`` emptied of them for
    the moment, then ``sys.modules`` and the package's attributes are put back: the
    rest of the process keeps the compiled modules, and the copy refers only to its
    own (the modules that are never compiled, like ``book``, are shared).
    """
    names = compiled_module_names()
    saved = {n: sys.modules.pop(n) for n in names if n in sys.modules}
    attrs = {n: getattr(exsim.core, n.rpartition(".")[2]) for n in saved}
    finder = SourceFinder(frozenset(names))
    sys.meta_path.insert(0, finder)
    try:
        copy = {n: importlib.import_module(n) for n in names}
    finally:
        sys.meta_path.remove(finder)
        for n in names:
            sys.modules.pop(n, None)
        sys.modules.update(saved)
        for n, module in attrs.items():
            setattr(exsim.core, n.rpartition(".")[2], module)
    return copy


@pytest.fixture(scope="module")
def pure() -> dict[str, ModuleType]:
    return interpreted_copy()


def test_compiled_flag_says_what_runs() -> None:
    """COMPILED is true exactly when every module the build compiled is an extension."""
    importlib.import_module("exsim.core.engine")
    record = CORE_DIR / BUILD_RECORD
    names = compiled_module_names() if record.exists() else ["exsim.core.engine"]
    kinds = {n: not importlib.import_module(n).__file__.endswith(".py")  # type: ignore[union-attr]
             for n in names}
    assert set(kinds.values()) == {exsim.core.COMPILED}, (exsim.core.MODE, kinds)


@needs_compiled
def test_the_copy_is_interpreted_and_the_rest_compiled(pure: dict[str, ModuleType]) -> None:
    import exsim.core.engine as engine

    assert all(m.__file__.endswith(".py") for m in pure.values())  # type: ignore[union-attr]
    assert not engine.__file__.endswith(".py")  # type: ignore[union-attr]
    assert sys.modules["exsim.core.engine"] is engine
    assert pure["exsim.core.engine"].ExchangeCore is not engine.ExchangeCore
    assert pure["exsim.core.engine"].Account is pure["exsim.core.accounts"].Account
    for name, fields in SLOTS.items():
        assert tuple(sorted(getattr(pure["exsim.core.accounts"], name).__slots__)) == fields


# ----------------------------------------------------------------------------- sessions
maybe_garbage = st.one_of(st.integers(-2, 3), garbage)
POLICIES = st.sampled_from(["bitmex", "binance", "hyperliquid", "dydx", "clawback",
                            "oi_funding", "nope"])


def build_core(modules: dict[str, ModuleType], liquidation_mode: str, fee_policy: str,
               fund_scope: str) -> Any:
    """A two-symbol core made entirely of ``modules`` (compiled or interpreted)."""
    from exsim.core.units import LinearContract

    symbols = modules["exsim.core.symbols"]
    liquidation = modules["exsim.core.liquidation"]
    contract = LinearContract("0.1", "0.001", "0.00000001")
    brackets = symbols.brackets_from_quote(contract, BINANCE_BTCUSDT_2021)
    specs = [symbols.SymbolSpec("BTCUSDT", contract, brackets, default_leverage=20),
             symbols.SymbolSpec("ETHUSDT", contract, brackets, maker_fee=-100,
                                taker_fee=700, default_leverage=50)]
    rules = liquidation.LiquidationRules(mode=liquidation_mode, max_fraction=300_000,
                                         min_step=10**12, fee_policy=fee_policy,
                                         fee_cap=10_000)
    return modules["exsim.core.engine"].ExchangeCore(specs, stp=1, liquidation=rules,
                                                     fund_scope=fund_scope)


def compiled_modules() -> dict[str, ModuleType]:
    return {n: importlib.import_module(n) for n in compiled_module_names()}


class Seeded(NamedTuple):
    seed: int


SLOTS = {"Position": ("buy_open", "cost", "isolated", "leverage", "margin", "qty", "ro",
                      "sell_open", "sym"),
         "Account": ("id", "positions", "wallet")}
"""The fields of the core's slots classes (compiled classes have no ``__slots__``)."""


def plain(x: Any) -> Any:
    """``x`` as comparable data: containers and the core's objects field by field, every
    other value as its ``repr`` (so ``1``, ``True`` and ``Reject.BAD_QTY`` differ)."""
    if isinstance(x, list | tuple):
        return type(x).__name__, [plain(v) for v in x]
    if isinstance(x, dict):
        return "dict", [(plain(k), plain(v)) for k, v in x.items()]
    if attrs.has(type(x)):
        return type(x).__name__, [plain(getattr(x, a.name)) for a in attrs.fields(type(x))]
    if type(x).__name__ in SLOTS:
        return type(x).__name__, [plain(getattr(x, name)) for name in SLOTS[type(x).__name__]]
    return repr(x)


class CompiledVersusInterpreted(RuleBasedStateMachine):
    """The same requests to a compiled core and an interpreted one, compared after each."""

    pure_modules: ClassVar[dict[str, ModuleType]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.cores: tuple[Any, Any] | None = None
        self.marks = [300_000, 20_000]
        self.next_oid = 0
        self.kinds: dict[int, int] = {}  # events seen, by kind

    def both(self, method: str, *args: Any) -> None:
        """Ask both cores; a :class:`Seeded` argument is a fresh ``Random`` for each."""
        assert self.cores is not None
        results = []
        for core in self.cores:
            given = [random.Random(a.seed) if isinstance(a, Seeded) else a for a in args]
            try:
                results.append(("returned", plain(getattr(core, method)(*given))))
            except Exception as e:  # both must raise the same, if anything
                results.append(("raised", type(e).__name__))
        assert results[0] == results[1], (method, args, results)
        compiled, interpreted = self.cores
        assert repr(compiled.events) == repr(interpreted.events), (method, args)
        for e in compiled.events:
            self.kinds[e[0]] = self.kinds.get(e[0], 0) + 1
        compiled.events.clear()
        interpreted.events.clear()

    @initialize(mode=st.sampled_from(["full", "tiers", "fraction"]),
          fee_policy=st.sampled_from(["all_to_fund", "capped", "none"]),
          fund_scope=st.sampled_from(["shared", "per_symbol"]),
          wallets=st.tuples(*[st.integers(100, 5000)] * len(ACCOUNTS)))
    def setup(self, mode: str, fee_policy: str, fund_scope: str,
              wallets: tuple[int, ...]) -> None:
        self.cores = (build_core(compiled_modules(), mode, fee_policy, fund_scope),
                      build_core(self.pure_modules, mode, fee_policy, fund_scope))
        for s in (0, 1):
            self.both("set_mark", s, self.marks[s])
        for a, w in zip(ACCOUNTS, wallets, strict=True):
            self.both("deposit", a, w * 10**8)
        self.both("seed_fund", 50 * 10**8, None if fund_scope == "shared" else 0)
        self.both("set_margin_mode", 4, 0, True)

    def oid(self) -> int:
        self.next_oid += 1
        return self.next_oid

    def live(self) -> list[tuple[int, int, int]]:
        assert self.cores is not None
        return sorted((o[1], m.index, o[0]) for m in self.cores[0].markets
                      for o in m.book.orders.values())

    @rule(a=accts, s=syms, side=st.integers(0, 1), qty=st.integers(1, 400),
          off=st.integers(-40, 40), order_type=st.integers(0, 1), tif=st.integers(0, 3),
          ro=st.booleans(), stp=st.none() | st.integers(0, 3), as_name=st.booleans())
    def submit(self, a: int, s: int, side: int, qty: int, off: int, order_type: int, tif: int,
               ro: bool, stp: int | None, as_name: bool) -> None:
        sym: int | str = ("BTCUSDT", "ETHUSDT")[s] if as_name else s
        self.both("submit", a, sym, self.oid(), side, qty, self.marks[s] + off * 5,
                  order_type, tif, ro, stp)

    @rule(a=accts, s=syms, side=st.integers(0, 1), qty=st.integers(1, 400),
          off=st.integers(-40, 40))
    def submit_common(self, a: int, s: int, side: int, qty: int, off: int) -> None:
        """The fast path's request: positional ints, a GTC limit or a market order."""
        if off % 3:
            self.both("submit", a, s, self.oid(), side, qty, self.marks[s] + off * 5)
        else:
            self.both("submit", a, s, self.oid(), side, qty, None, 1)

    @rule(a=maybe_garbage, s=maybe_garbage, oid=maybe_garbage, side=maybe_garbage,
          qty=garbage, price=garbage, order_type=maybe_garbage, tif=maybe_garbage,
          ro=garbage, stp=garbage)
    def submit_garbage(self, a: Any, s: Any, oid: Any, side: Any, qty: Any, price: Any,
                       order_type: Any, tif: Any, ro: Any, stp: Any) -> None:
        self.both("submit", a, s, oid, side, qty, price, order_type, tif, ro, stp)

    @precondition(lambda self: self.live())
    @rule(data=st.data(), wrong_owner=st.booleans(), amend=st.booleans(),
          off=st.integers(-40, 40), qty=st.integers(0, 3000))
    def cancel_or_amend(self, data: st.DataObject, wrong_owner: bool, amend: bool, off: int,
                        qty: int) -> None:
        a, s, oid = data.draw(st.sampled_from(self.live()))
        a = a % 4 + 1 if wrong_owner else a
        if amend:
            self.both("amend", a, s, oid, self.marks[s] + off * 5, qty)
        else:
            self.both("cancel", a, s, oid)

    @rule(a=maybe_garbage, s=maybe_garbage, oid=maybe_garbage, price=garbage, qty=garbage,
          amend=st.booleans())
    def cancel_or_amend_garbage(self, a: Any, s: Any, oid: Any, price: Any, qty: Any,
                                amend: bool) -> None:
        if amend:
            self.both("amend", a, s, oid, price, qty)
        else:
            self.both("cancel", a, s, oid)

    @rule(s=syms, move=st.integers(-300, 300) | st.integers(-60_000, 60_000))
    def mark(self, s: int, move: int) -> None:
        self.marks[s] = max(10, self.marks[s] + move)
        self.both("set_mark", s, self.marks[s])

    @rule(s=syms, rate=st.integers(-400_000, 400_000))
    def funding(self, s: int, rate: int) -> None:
        self.both("settle_funding", s, rate)

    @rule(a=accts, s=syms, lev=st.integers(0, 130), isolated=st.booleans(),
          amount=st.integers(-500, 500), which=st.integers(0, 2))
    def settings(self, a: int, s: int, lev: int, isolated: bool, amount: int,
                 which: int) -> None:
        if which == 0:
            self.both("set_leverage", a, s, lev)
        elif which == 1:
            self.both("set_margin_mode", a, s, isolated)
        else:
            self.both("adjust_isolated_margin", a, s, amount * 10**8)

    @rule(a=maybe_garbage, amount=st.integers(-100, 500) | garbage, withdraw=st.booleans())
    def cash(self, a: Any, amount: Any, withdraw: bool) -> None:
        if isinstance(amount, int) and not isinstance(amount, bool) and abs(amount) <= 500:
            amount *= 10**8
        self.both("withdraw" if withdraw else "deposit", a, amount)

    @rule(a=accts | maybe_garbage, s=syms | maybe_garbage,
          to=st.sampled_from([None, -1, -2, -3, 5]) | garbage)
    def liquidate(self, a: Any, s: Any, to: Any) -> None:
        self.both("liquidate", a, s, to)

    @rule(s=syms | maybe_garbage, policy=POLICIES | garbage,
          price=st.integers(-2000, 2000) | garbage, seed=st.none() | st.integers(0, 3),
          socialize=st.booleans())
    def last_step(self, s: Any, policy: Any, price: Any, seed: int | None,
                  socialize: bool) -> None:
        if socialize:
            self.both("socialize", s, policy)
        else:
            if isinstance(price, int) and not isinstance(price, bool) and abs(price) <= 2000:
                price += self.marks[0]
            self.both("adl", s, policy, price, None if seed is None else Seeded(seed))

    @rule(amount=maybe_garbage, s=st.none() | syms | maybe_garbage, vault=st.booleans())
    def seed(self, amount: Any, s: Any, vault: bool) -> None:
        if isinstance(amount, int) and not isinstance(amount, bool) and 0 < amount < 4:
            amount *= 10**9
        if vault:
            self.both("seed_vault", amount)
        else:
            self.both("seed_fund", amount, s)

    @rule(policy=st.sampled_from(["bitmex", "binance", "hyperliquid", "dydx"]))
    def snapshots(self, policy: str) -> None:
        self.both("snapshot_accounts", policy)
        for s in (0, 1):
            self.both("adl_quantiles", s, policy)
            self.both("adl_candidates", s, 1)
            self.both("fund_equity", s)
        for a in ACCOUNTS:
            for s in (0, 1):
                self.both("position_of", a, s)

    @invariant()
    def same_state(self) -> None:
        if self.cores is None:
            return
        compiled, interpreted = self.cores
        assert repr(snapshot(compiled)) == repr(snapshot(interpreted))
        assert compiled.invariants() == interpreted.invariants()
        assert all(compiled.invariants().values())
        for acct in compiled.accounts:
            assert compiled.account_equity(acct) == interpreted.account_equity(acct)


@needs_compiled
def test_compiled_and_interpreted_cores_agree(pure: dict[str, ModuleType]) -> None:
    CompiledVersusInterpreted.pure_modules = pure
    machine = CompiledVersusInterpreted.TestCase
    machine.settings = settings(max_examples=80, stateful_step_count=60, deadline=None)
    machine().runTest()


class Session(CompiledVersusInterpreted):
    """A long seeded session: makers, leveraged takers, a crash, the whole waterfall.

    Hypothesis's short random walks rarely get a position liquidated, the fund short and
    ADL run; this drives both cores through that on purpose and counts that it did.
    """

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.rng = random.Random(seed)

    def both(self, method: str, *args: Any) -> None:
        super().both(method, *args)
        self.same_state()

    def run(self, steps: int) -> None:
        rng = self.rng
        self.setup(rng.choice(["full", "tiers", "fraction"]),
                   rng.choice(["all_to_fund", "capped", "none"]),
                   rng.choice(["shared", "per_symbol"]), (100_000, 100_000, 800, 1500))
        assert self.cores is not None
        for a in (3, 4):
            for s in (0, 1):
                self.both("set_leverage", a, s, rng.choice([10, 20, 50]))
        crash_at = rng.randrange(steps // 4, steps // 2)
        for step in range(steps):
            s = rng.randrange(2)
            mark = self.marks[s]
            r = rng.random()
            if crash_at <= step < crash_at + 20:  # 20 marks down ~1.5% each, both symbols
                self.mark(s, -mark * 15 // 1000)
                self.mark(1 - s, -self.marks[1 - s] * 15 // 1000)
            elif r < 0.35:  # makers quote both sides
                side = rng.randrange(2)
                off = rng.randint(1, 30) * (1 if side else -1)
                self.both("submit", rng.choice([1, 2]), s, self.oid(), side,
                          rng.randint(1, 300), mark + off * 5)
            elif r < 0.55:  # leveraged takers
                self.both("submit", rng.choice([3, 4]), s, self.oid(), rng.randrange(2),
                          rng.randint(1, 400), None, 1)
            elif r < 0.62:
                live = self.live()
                if live:
                    a, sym, oid = rng.choice(live)
                    self.both("cancel", a, sym, oid)
            elif r < 0.70:
                self.mark(s, rng.randint(-mark // 200, mark // 200))
            elif r < 0.85:  # the liquidator, and the last steps when the fund is short
                for a in (3, 4):
                    self.both("liquidate", a, s, rng.choice([None, None, -2]))
                policy = rng.choice(["bitmex", "binance", "hyperliquid", "dydx"])
                # None: at the fund's entry (the core finds it); a price is refused
                self.both("adl", s, policy, rng.choice([None, None, mark]), Seeded(step))
                if rng.random() < 0.3:
                    self.both("socialize", s, rng.choice(["clawback", "oi_funding"]))
            elif r < 0.90:  # the fund works its position out
                fund = self.cores[0].fund_ids[s]
                pos = self.cores[0].position_of(fund, s)
                if pos is not None and pos.qty:
                    self.both("submit", fund, s, self.oid(), int(pos.qty > 0),
                              min(abs(pos.qty), 300), None, 1, 0, True)
            elif r < 0.93:
                self.both("settle_funding", s, rng.randint(-50_000, 50_000))
            elif r < 0.96:
                self.both("snapshot_accounts", "bitmex")
            else:
                self.both("submit", rng.choice([None, "3", 3.0, 3]), s, self.oid(),
                          rng.choice([0, 1, "buy", None]), rng.choice([1, 0, 1.5, "1"]),
                          rng.choice([None, mark, "x"]))


@needs_compiled
def test_long_sessions_through_the_waterfall_agree(pure: dict[str, ModuleType]) -> None:
    CompiledVersusInterpreted.pure_modules = pure
    seen: dict[int, int] = {}
    for seed in range(30):
        session = Session(seed)
        session.run(600)
        for kind, n in session.kinds.items():
            seen[kind] = seen.get(kind, 0) + n
    from exsim.core.events import Kind

    seen_names = {Kind(k).name for k in seen}
    assert {"FILL", "LIQUIDATION", "ADL", "FUND", "FUNDING", "REJECTED"} <= seen_names, seen


def test_bad_input_is_a_reject_whatever_runs() -> None:
    """The compiled requests take any value, as the .py ones do (no TypeError)."""
    from exsim.core.engine import ExchangeCore
    from exsim.core.symbols import example_spec

    core = ExchangeCore([example_spec()])
    odd: list[Any] = [None, "1", 1.5, True, Decimal("1"), [1], object()]
    calls = [(core.submit, 6), (core.cancel, 3), (core.amend, 5), (core.deposit, 2),
             (core.withdraw, 2), (core.set_mark, 2), (core.set_leverage, 3),
             (core.set_margin_mode, 3), (core.adjust_isolated_margin, 3),
             (core.settle_funding, 2), (core.liquidate, 3), (core.adl, 3),
             (core.socialize, 2), (core.seed_fund, 2), (core.seed_vault, 1),
             (core.position_of, 2)]
    for call, arity in calls:
        for value in odd:
            for i in range(arity):
                args: list[Any] = [1] * arity
                args[i] = value
                call(*args)  # returns False or None, never raises


@needs_compiled
def test_both_cores_refuse_the_same_bracket_rows_alike(pure: dict[str, ModuleType]) -> None:
    """A leverage of 12.7 made the compiled core raise TypeError and the interpreted one
    truncate it to 12; both now raise the same SymbolError (issue 16)."""
    from exsim.core.units import LinearContract

    contract = LinearContract("0.1", "0.001", "0.00000001")
    compiled = importlib.import_module("exsim.core.symbols")
    outcomes: dict[str, list[str]] = {}
    for label, module in (("compiled", compiled), ("pure", pure["exsim.core.symbols"])):
        outcomes[label] = []
        for bad in (12.7, 12.0, True, "12", None, 0, 200):
            try:
                module.brackets_from_quote(contract, [(0, "0.004", 125), (50_000, "0.005", bad)])
            except ValueError as exc:  # SymbolError or MarginConfigError
                outcomes[label].append(f"{type(exc).__name__}: {exc}")
    assert outcomes["compiled"] == outcomes["pure"]
    assert len(outcomes["pure"]) == 7 and outcomes["pure"][0] == (
        "SymbolError: tier 2: max leverage must be an integer, got 12.7")


# ----------------------------------------------------------------------------- whole runs
RUN = textwrap.dedent("""
    import json, sys
    import exsim.core
    from exsim.config import parse_config
    from exsim.sim import Simulation
    config = json.loads(sys.argv[1])
    summary = Simulation(parse_config(config)).run()
    print(json.dumps({"compiled": exsim.core.COMPILED, "summary": summary}, default=str))
""")


def run_sim(config: dict[str, Any], **env: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", RUN, json.dumps(config)], cwd=REPO,
                         env={**os.environ, **env}, capture_output=True, text=True,
                         check=True, timeout=300)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@needs_compiled
def test_a_crash_run_is_the_same_compiled_and_interpreted() -> None:
    # test_waterfall_properties.py's first example: takeovers, vault and ADL
    config = venue(drop=-0.6, fall_s=5.0, recovery=0.5, fund=0.0, policy="bitmex",
                   steps=("backstop", "insurance_fund", "adl"), seed=229)
    compiled = run_sim(config, EXSIM_PURE="0")
    interpreted = run_sim(config, EXSIM_PURE="1")
    assert compiled["compiled"] and not interpreted["compiled"]
    for result in (compiled, interpreted):  # what differs by design: the wall clock
        for key in [k for k in result["summary"] if "wall" in k or k == "core"]:
            del result["summary"][key]
    assert compiled["summary"] == interpreted["summary"]
    assert compiled["summary"]["liquidations"] > 0 and compiled["summary"]["adl_events"] > 0


# ----------------------------------------------------------------------------- the guard
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


@pytest.fixture
def fake_build(tmp_path: Path) -> Iterator[Path]:
    """A package dir with two 'compiled' modules (empty extension files) and their record."""
    import hashlib

    for name in ("a", "b", "plain"):
        (tmp_path / f"{name}.py").write_text(f"X = {name!r}\n")
    for name in ("a", "b"):
        (tmp_path / f"{name}{SUFFIX}").write_bytes(b"")
    digests = {f"{n}.py": hashlib.sha256((tmp_path / f"{n}.py").read_bytes()).hexdigest()
               for n in ("a", "b", "plain")}
    (tmp_path / BUILD_RECORD).write_text(json.dumps(
        {"modules": ["exsim.core.a", "exsim.core.b"], "sources": digests, "group": "g"}))
    yield tmp_path


def test_guard_runs_a_fresh_build(fake_build: Path) -> None:
    p = plan(str(fake_build), {}, find_lib=False)
    assert p.compiled and p.mode == "compiled" and not p.from_source and p.warning is None


def test_guard_without_a_build_runs_the_sources(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("")
    p = plan(str(tmp_path), {}, find_lib=False)
    assert not p.compiled and not p.from_source and p.warning is None


def test_guard_exsim_pure_loads_every_compiled_module_from_source(fake_build: Path) -> None:
    p = plan(str(fake_build), {"EXSIM_PURE": "1"}, find_lib=False)
    assert not p.compiled and p.warning is None
    assert p.from_source == {"exsim.core.a", "exsim.core.b"}
    assert plan(str(fake_build), {"EXSIM_PURE": "0"}, find_lib=False).compiled


@pytest.mark.parametrize("edit", ["a.py", "plain.py"])
def test_guard_a_changed_source_loads_all_from_source_and_warns(fake_build: Path,
                                                                 edit: str) -> None:
    """Also a module that is not compiled: compiled code copies its constants."""
    with open(fake_build / edit, "a") as f:
        f.write("# edited\n")
    p = plan(str(fake_build), {}, find_lib=False)
    assert not p.compiled and p.from_source == {"exsim.core.a", "exsim.core.b"}
    assert p.warning is not None and edit in p.warning and "pip install -e ." in p.warning


@pytest.mark.parametrize("damage", ["no record", "missing extension", "extra extension",
                                    "bad record"])
def test_guard_a_damaged_build_runs_the_sources(fake_build: Path, damage: str) -> None:
    if damage == "no record":
        (fake_build / BUILD_RECORD).unlink()
    elif damage == "missing extension":
        (fake_build / f"b{SUFFIX}").unlink()
    elif damage == "extra extension":
        (fake_build / f"plain{SUFFIX}").write_bytes(b"")
    else:
        (fake_build / BUILD_RECORD).write_text("{not json")
    p = plan(str(fake_build), {}, find_lib=False)
    assert not p.compiled and p.warning is not None
    assert {"exsim.core.a"} <= p.from_source


def test_guard_needs_the_shared_library(fake_build: Path) -> None:
    p = plan(str(fake_build), {})  # group "g": no g__mypyc anywhere
    assert not p.compiled and p.warning is not None and "g__mypyc" in p.warning


IMPORT = ("import exsim.core as c, exsim.core.engine as e, exsim.core.accounts as a; "
          "print(c.COMPILED, c.MODE, e.__file__.endswith('.py'), a.__file__.endswith('.py'))")


@needs_compiled
@pytest.mark.parametrize("edit", [None, "engine.py", "orders.py"])
def test_an_edited_copy_of_the_package_runs_its_sources(tmp_path: Path,
                                                        edit: str | None) -> None:
    """An editable install whose sources changed after the build: one warning, then .py."""
    shutil.copytree(CORE_DIR.parent, tmp_path / "exsim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    group = json.loads((CORE_DIR / BUILD_RECORD).read_text())["group"]
    lib = importlib.util.find_spec(f"{group}__mypyc")  # the compiled modules' library
    assert lib is not None and lib.origin is not None
    shutil.copy(lib.origin, tmp_path)
    if edit is not None:
        with open(tmp_path / "exsim" / "core" / edit, "a") as f:
            f.write("# edited after the build\n")
    out = subprocess.run([sys.executable, "-c", IMPORT], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={**os.environ, "EXSIM_PURE": ""})
    if edit is None:
        assert out.stdout.split() == ["True", "compiled", "False", "False"]
        assert "RuntimeWarning" not in out.stderr
    else:
        assert out.stdout.split() == ["False", "pure", "(stale", "build)", "True", "True"]
        assert out.stderr.count("RuntimeWarning") == 1
        assert f"{edit} changed since the core was compiled" in out.stderr
        assert "pip install -e ." in out.stderr


@needs_compiled
def test_the_compiled_core_loads_from_any_working_directory(tmp_path: Path) -> None:
    """The build's shared library sits at the root of the source tree, where an editable
    install that found the build up to date does not map it: run from elsewhere (as
    `exsim` is, after the README's two commands one after the other) the core must
    still load compiled, not fall back to pure with a warning (issue 17)."""
    out = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c",
         "import exsim.core as c; print(c.MODE)"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EXSIM_PURE")})
    assert out.stdout.strip() == "compiled", out.stderr
