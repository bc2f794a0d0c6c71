"""A live exchange inside a test: the whole simulation, with time and the index in the test's hands.

:class:`SimExchange` builds the same actors as ``exsim run`` (exchange, oracle,
funding, liquidator, recorder and the config's agents) and starts them in a trio
nursery, but nothing moves until the test says so: ``await ex.advance(seconds)``
runs simulated time forward, ``await ex.wait_for(...)`` runs it until an event
shows up (or a simulated-time timeout passes).  The index is a
:class:`~exsim.testing.index.SteeredIndex` the test can step, ramp or crash; the
mark follows it through the oracle.  Everything stays deterministic: the same
test gives the same events every time.

Time is the network's virtual clock, not trio's: the exchange needs no MockClock.
A test that also wants ``trio.sleep`` or ``trio.fail_after`` to be virtual
requests pytest-trio's ``autojump_clock`` fixture.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import trio

from exsim.agent import Agent, Context
from exsim.config import AgentConfig, Config, ConfigError, load_config, parse_config
from exsim.core.events import FIELDS, Event, Kind, as_dict
from exsim.sim import AgentLoadError, Simulation, check_agent_class, load_agent_class
from exsim.testing.index import SteeredIndex, UsageError
from exsim.timeunits import NS_PER_S

_PARTY_FIELDS = ("acct", "taker_acct", "maker_acct")


class AgentCrashed(AssertionError):
    """An agent of the exchange under test raised; the message carries its traceback."""


class EventTimeout(AssertionError):
    """The awaited event did not come within the simulated-time timeout."""


@attrs.frozen
class Seen:
    """One recorded event: when the recorder got it, and its named fields.

    ``seen["qty"]`` or ``seen.fields["qty"]`` reads a field (names as in
    :data:`exsim.core.events.FIELDS`); ``seen.event`` is the raw int tuple.
    """

    at: int  # simulated ns
    kind: str
    fields: dict[str, object]
    event: Event

    def __getitem__(self, name: str) -> object:
        return self.fields[name]

    @property
    def at_s(self) -> float:
        return self.at / NS_PER_S


def _kind_number(kind: str | int) -> int:
    if isinstance(kind, str):
        try:
            return int(Kind[kind.upper()])
        except KeyError:
            raise UsageError(f"no event kind {kind!r}; kinds: "
                             f"{', '.join(k.name for k in Kind)}") from None
    return int(Kind(kind))


def _as_config(config: Config | Mapping[str, Any] | str | Path | None) -> Config:
    if config is None:
        return Config()
    if isinstance(config, Config):
        return config
    if isinstance(config, Mapping):
        return parse_config(config, source="<test config>")
    if isinstance(config, str | Path):
        return load_config(Path(config))
    raise UsageError(f"config must be a dict, a TOML path, an exsim Config or None; "
                     f"got {type(config).__name__}")


class SimExchange:
    """One simulated exchange for a test; build it, :meth:`start` it in a nursery, drive it.

    ``config``: ``None`` (defaults: one BTCUSDT-like symbol, no agents), a dict in
    the TOML layout, a TOML path, or a :class:`~exsim.config.Config`.  With
    ``steer_index`` (the default) each symbol's index starts where the scenario
    starts (its ``start_price``, or a CSV's first row) and stays there until the
    test moves it (:attr:`index`);
    ``steer_index=False`` follows the config's scenario instead.
    """

    def __init__(self, config: Config | Mapping[str, Any] | str | Path | None = None, *,
                 seed: int | None = None, steer_index: bool = True) -> None:
        cfg = _as_config(config)
        if cfg.run.clock != "virtual":
            raise UsageError("exsim.testing runs the exchange in simulated time; drop "
                             "run.clock = \"wall\" from the test's config (it is for `exsim run`)")
        self.sim = Simulation(cfg, seed=seed)
        self.core = self.sim.core
        self.net = self.sim.net
        self.contracts = self.sim.contracts
        self.indexes: list[SteeredIndex] = []
        if steer_index:
            for sym in range(len(self.sim.specs)):
                # from the scenario's own first value, which set the mark at t = 0
                steered = SteeredIndex(self.sim.paths[sym].at(0), lambda: self.net.now)
                self.sim.paths[sym] = steered  # the scripted index and funding share this list
                self.indexes.append(steered)
        self._nursery: trio.Nursery | None = None
        self._seen = 0  # recorder log entries already offered to a wait
        self._crashes_seen = 0
        self._instances: dict[int, Agent] = {ctx.account: agent
                                             for _, agent, ctx in self.sim.agents}

    # ------------------------------------------------------------------ lifecycle
    def start(self, nursery: trio.Nursery) -> None:
        """Start the actors and the config's agents as tasks of ``nursery``."""
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            raise UsageError("SimExchange.start must be called inside trio (an async test "
                             "under pytest-trio, or trio.run)") from None
        if self._nursery is not None:
            raise UsageError("this exchange is already started")
        self.sim.start(nursery, stop_on_crash=False)
        self._nursery = nursery

    def _running(self) -> trio.Nursery:
        if self._nursery is None:
            raise UsageError("the exchange is not running: use `async with "
                             "exsim.testing.open_exchange(...) as ex`, the `exsim_exchange` "
                             "fixture, or call ex.start(nursery) first")
        return self._nursery

    # ------------------------------------------------------------------ time
    @property
    def now(self) -> int:
        """Simulated time, ns."""
        return self.net.now

    @property
    def now_s(self) -> float:
        return self.net.now / NS_PER_S

    @property
    def index(self) -> SteeredIndex:
        """Symbol 0's steerable index (``indexes[sym]`` for the others)."""
        if not self.indexes:
            raise UsageError("this exchange follows its config's scenario "
                             "(steer_index=False); its index cannot be steered")
        return self.indexes[0]

    async def advance(self, seconds: float) -> None:
        """Run simulated time forward by ``seconds``."""
        self._running()
        if not seconds >= 0 or math.isinf(seconds):
            raise UsageError(f"advance needs a finite number of seconds >= 0, got {seconds!r}")
        await self.net.run(until=self.net.now + round(seconds * NS_PER_S))
        self._check_crashes()

    async def run_until(self, seconds: float) -> None:
        """Run until simulated time ``seconds`` (from the start of the run)."""
        target = round(seconds * NS_PER_S)
        if target < self.net.now:
            raise UsageError(f"simulated time is already {self.now_s} s, past {seconds} s")
        await self.advance((target - self.net.now) / NS_PER_S)

    def _check_crashes(self) -> None:
        crashes = self.sim.crashes
        if len(crashes) > self._crashes_seen and self.sim.config.run.on_agent_error == "stop":
            t, _, name, tb = min(crashes[self._crashes_seen:])
            self._crashes_seen = len(crashes)
            raise AgentCrashed(f"{name} crashed at {t / NS_PER_S:g} s:\n{tb}")

    # ------------------------------------------------------------------ events
    def events(self, kind: str | int | None = None, *,
               where: Callable[[Seen], bool] | None = None, **fields: object) -> list[Seen]:
        """Every recorded event so far matching ``kind`` and the field values given.

        ``party=acct`` matches an account on either side (``acct``, ``taker_acct``,
        ``maker_acct``); ``where`` is any further predicate.
        """
        match = self._matcher(kind, where, fields)
        return [seen for at, e in self.sim.recorder.log
                if (seen := self._seen_if(at, e, match)) is not None]

    async def wait_for(self, kind: str | int, *, timeout: float,
                       where: Callable[[Seen], bool] | None = None,
                       **fields: object) -> Seen:
        """Run time until an event matching ``kind`` and ``fields`` is recorded.

        Only events recorded after the call count.  ``timeout`` is in simulated
        seconds; past it, :class:`EventTimeout` says what was awaited.
        """
        self._running()
        match = self._matcher(kind, where, fields)
        log = self.sim.recorder.log
        self._seen = len(log)
        found: list[Seen] = []

        def arrived() -> bool:
            while self._seen < len(log):
                at, e = log[self._seen]
                self._seen += 1
                seen = self._seen_if(at, e, match)
                if seen is not None:
                    found.append(seen)
                    return True
            return False

        start = self.net.now
        await self.net.run(until=start + round(timeout * NS_PER_S), stop=arrived)
        self._check_crashes()
        if not found:
            wanted = ", ".join([str(kind), *(f"{k}={v!r}" for k, v in fields.items())])
            raise EventTimeout(f"no event ({wanted}) within {timeout:g} simulated s "
                               f"(from {start / NS_PER_S:g} s to {self.now_s:g} s)")
        return found[0]

    async def wait_fill(self, acct: int, *, timeout: float) -> Seen:
        """The next fill with ``acct`` on either side."""
        return await self.wait_for("FILL", party=acct, timeout=timeout)

    async def wait_liquidation(self, acct: int, *, timeout: float) -> Seen:
        """The next liquidation (takeover) of ``acct``."""
        return await self.wait_for("LIQUIDATION", acct=acct, timeout=timeout)

    async def wait_adl(self, acct: int, *, timeout: float) -> Seen:
        """The next auto-deleveraging of ``acct``."""
        return await self.wait_for("ADL", acct=acct, timeout=timeout)

    @staticmethod
    def _matcher(kind: str | int | None, where: Callable[[Seen], bool] | None,
                 fields: Mapping[str, object]) -> Callable[[int, Event], bool]:
        number = None if kind is None else _kind_number(kind)
        party = fields.get("party")
        plain = {k: v for k, v in fields.items() if k != "party"}
        if number is not None:
            names = FIELDS[number]
            unknown = [k for k in plain if k not in names]
            if unknown or (party is not None and not set(_PARTY_FIELDS) & set(names)):
                raise UsageError(f"{Kind(number).name} events have no field "
                                 f"{(unknown or ['party'])[0]!r}; fields: {', '.join(names)}")

        def match(at: int, e: Event) -> bool:
            if number is not None and e[0] != number:
                return False
            named: dict[str, object] = dict(zip(FIELDS[e[0]], e[1:], strict=True))
            if any(named.get(k, _MISSING) != v for k, v in plain.items()):
                return False
            if party is not None and all(named.get(f) != party for f in _PARTY_FIELDS):
                return False
            return where is None or where(Seen(at, Kind(e[0]).name, named, e))

        return match

    @staticmethod
    def _seen_if(at: int, e: Event, match: Callable[[int, Event], bool]) -> Seen | None:
        if not match(at, e):
            return None
        return Seen(at, Kind(e[0]).name, {k: v for k, v in as_dict(e).items() if k != "kind"}, e)

    # ------------------------------------------------------------------ participants
    def trader(self, *, deposit: float = 10_000.0, leverage: int = 10,
               latency_ms: float = 0.0) -> Context:
        """A funded account the test trades by hand, through the same network as agents.

        Returns its :class:`~exsim.agent.Context`: ``submit``, ``cancel``, ``amend``,
        ``set_leverage``, and mirrors (``position``, ``open_orders``, ``balance``,
        ``adl_quantile``) kept up to date as its events arrive.
        """
        self._running()
        _, _, ctx = self._add(Agent, AgentConfig(cls="<test trader>", deposit=deposit,
                                                 leverage=leverage, latency_ms=latency_ms),
                              "trader")
        return ctx

    def add_agents(self, agent: type[Agent] | str, *, count: int = 1,
                   deposit: float = 10_000.0, leverage: int = 10, latency_ms: float = 0.0,
                   params: Mapping[str, Any] | None = None) -> list[Context]:
        """Start ``count`` agents (a class, a built-in name, "module:Class" or an entry point).

        Returns their contexts (account ids, mirrors of positions and balances).
        """
        nursery = self._running()
        where = f"add_agents({agent!r})"
        cls = (load_agent_class(agent, where) if isinstance(agent, str)
               else check_agent_class(agent, where))
        try:
            cls.check_params(params or {})
        except (ValueError, TypeError) as exc:
            raise AgentLoadError(f"{where}: {exc}") from None
        name = agent if isinstance(agent, str) else f"{cls.__module__}:{cls.__qualname__}"
        spec = AgentConfig(cls=name, count=count, deposit=deposit, leverage=leverage,
                           latency_ms=latency_ms, params=dict(params or {}))
        out = []
        for _ in range(count):
            label, instance, ctx = self._add(cls, spec, where)
            self.sim.agents.append((label, instance, ctx))
            self._instances[ctx.account] = instance
            self.sim.start_agent(nursery, label, instance, ctx)
            out.append(ctx)
        return out

    def agent(self, account: int) -> Agent:
        """The strategy object running ``account`` (to assert on its own state)."""
        try:
            return self._instances[account]
        except KeyError:
            raise UsageError(f"no agent runs account {account} (traders have none)") from None

    def _add(self, cls: type[Agent], spec: AgentConfig, where: str) -> tuple[str, Agent, Context]:
        if spec.leverage < 1 or spec.deposit < 0:
            raise UsageError(f"{where}: leverage must be >= 1 and deposit >= 0")
        try:
            made = self.sim.add_agent(cls, spec, where)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        self.sim.exchange.publish()  # the deposit and leverage events, now
        return made

    # ------------------------------------------------------------------ the ledger
    def cash(self, atoms: int) -> Decimal:
        """Atoms as quote currency (exact)."""
        return atoms * self.contracts[0].cash_atom

    def lots(self, qty: Decimal | float | str, sym: int = 0) -> int:
        return self.contracts[sym].qty_to_lots(qty)

    def ticks(self, price: Decimal | float | str, sym: int = 0) -> int:
        return self.contracts[sym].price_to_ticks(price)

    def equity_atoms(self, acct: int) -> int:
        """Wallet + isolated margins + unrealized PnL at the marks, in atoms."""
        if acct not in self.core.accounts:
            raise UsageError(f"no account {acct} on this exchange")
        return self.core.account_equity(acct)

    def equity(self, acct: int) -> Decimal:
        """:meth:`equity_atoms` in quote currency."""
        return self.cash(self.equity_atoms(acct))

    def position(self, acct: int, sym: int = 0) -> int:
        """The account's position on ``sym`` in lots (signed; the exchange's truth)."""
        account = self.core.accounts.get(acct)
        if account is None:
            raise UsageError(f"no account {acct} on this exchange")
        pos = account.positions.get(sym)
        return 0 if pos is None else pos.qty

    def mark(self, sym: int = 0) -> int | None:
        """The exchange's mark price in ticks."""
        return self.core.markets[sym].mark

    @property
    def fund_balance(self) -> Decimal:
        """The insurance fund's cash (quote currency; with per-symbol funds, their total)."""
        core = self.core
        return self.cash(sum(core.accounts[f].wallet for f in core.funds))

    @property
    def fund_equity(self) -> Decimal:
        """Its cash plus the PnL of positions it took over, at the marks (per-symbol
        funds: their total)."""
        return self.cash(sum(self.core.account_equity(f) for f in self.core.funds))

    def invariants(self) -> dict[str, bool]:
        """The exchange's named checks (open interest balanced, cash conserved, ...)."""
        out = self.core.invariants()
        out["fund_never_negative"] = all(self.core.accounts[f].wallet >= 0
                                         for f in self.core.funds)
        return out

    def assert_invariants(self) -> None:
        broken = [name for name, ok in self.invariants().items() if not ok]
        if broken:
            raise AssertionError(f"exchange invariants broken at {self.now_s:g} s: "
                                 f"{', '.join(broken)}")


_MISSING = object()


@asynccontextmanager
async def open_exchange(config: Config | Mapping[str, Any] | str | Path | None = None, *,
                        seed: int | None = None,
                        steer_index: bool = True) -> AsyncIterator[SimExchange]:
    """``async with open_exchange(...) as ex``: a running :class:`SimExchange`, stopped after."""
    ex = SimExchange(config, seed=seed, steer_index=steer_index)
    async with trio.open_nursery() as nursery:
        ex.start(nursery)
        try:
            yield ex
        finally:
            nursery.cancel_scope.cancel()
