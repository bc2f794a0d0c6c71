"""Simulation: build the actors from a config, run them in one nursery, write the run directory.

Actor ids: the exchange is 0, the oracle 1, funding 3, the liquidator 4 (2 was
the recorder's, which is now a sink the exchange calls, see
:mod:`exsim.actors.recorder`); agents are 100, 101, ... in config order, and
each agent's account id equals its actor id.
Everything random is drawn from streams derived from the run seed
(:mod:`exsim.rng`), and all time goes through the network, so the same config
and seed give the same event log; ``summary.json`` carries its sha256 as
``digest``.

A run that crashes (an agent raises, with ``on_agent_error = "stop"``) or is
interrupted (SIGINT or SIGTERM: :mod:`exsim.interrupts`) still writes everything
recorded so far, with ``complete: false`` and the reason.  Its directory says
``complete: false`` from its first second, so a run killed outright (SIGKILL) is
marked too, and its event log is readable up to its last flush
(:mod:`exsim.output.rundir`, :mod:`exsim.output.recover`).
"""

from __future__ import annotations

import gc
import importlib
import inspect
import re
import time
import traceback
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager, suppress
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from exsim.actors.exchange import ExchangeActor
from exsim.actors.feed import MarketFeed
from exsim.actors.funding import FundingActor
from exsim.actors.latency import Constant, LatencyModel, LogNormal, Uniform
from exsim.actors.liquidator import Liquidator
from exsim.actors.network import Network
from exsim.actors.oracle import Oracle
from exsim.actors.recorder import Recorder
from exsim.agent import SUSPENDED, Agent, Context
from exsim.agents import BUILTIN
from exsim.config import AgentConfig, Config, LatencyConfig, config_sha256
from exsim.core import MODE as CORE_MODE
from exsim.core.accounts import Account
from exsim.core.engine import ExchangeCore
from exsim.core.liquidation import SHARED, VAULT
from exsim.interrupts import StopOnSignal, Terminated, raise_for, reason_of
from exsim.output.adequacy import adequacy, house_invariants
from exsim.output.house import house_accounts, house_summary
from exsim.output.market import market_summary
from exsim.output.metrics import overcharged_rounds, payments_by_flat, series, waterfall
from exsim.output.rundir import EVENTS, RUNNING, RunDir, open_run_dir
from exsim.output.tables import SeriesWriter, write_tables
from exsim.output.warnings import run_warnings
from exsim.rng import derive_seed, stream
from exsim.scenarios.paths import check_path, make_path
from exsim.spot_venues import build_spot_venues, index_source
from exsim.timeunits import NS_PER_S, ns
from exsim.venues import venues_of
from exsim.watchdog import Watchdog, WatchdogExpired

EXCHANGE, ORACLE, FUNDING, LIQUIDATOR, FIRST_AGENT = 0, 1, 3, 4, 100
STP_MODES = {"none": 0, "cancel_taker": 1, "cancel_maker": 2, "cancel_both": 3}


def _snake(name: str) -> str:
    """``SetLeverage`` -> ``set_leverage``: a request type's name as a summary key."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class AgentLoadError(ValueError):
    """An agent class that cannot be found, imported or built."""


@attrs.define
class Failure:
    reason: str
    detail: str = ""


def latency_model(cfg: LatencyConfig) -> LatencyModel:
    ms = 1_000_000
    if cfg.kind == "constant":
        return Constant(max(1, round(cfg.ms * ms)))
    if cfg.kind == "uniform":
        return Uniform(max(1, round(cfg.ms * ms)), max(1, round(cfg.high_ms * ms)))
    return LogNormal(max(1, round(cfg.ms * ms)), cfg.sigma, max(1, round(cfg.floor_ms * ms)))


def load_agent_class(spec: str, where: str) -> type[Agent]:
    """A built-in name, ``"package.module:Class"``, or an ``exsim.agents`` entry point."""
    if spec in BUILTIN:
        return BUILTIN[spec]
    try:
        if ":" in spec:
            module, _, name = spec.partition(":")
            obj = getattr(importlib.import_module(module), name)
        else:
            found = [ep for ep in entry_points(group="exsim.agents") if ep.name == spec]
            if not found:
                known = sorted({*BUILTIN, *(ep.name for ep in entry_points(group="exsim.agents"))})
                raise AgentLoadError(
                    f"{where}: no agent named '{spec}' (built-in or entry point in group "
                    f"'exsim.agents'; known: {', '.join(known)}); use 'package.module:Class' "
                    "for a class path")
            obj = found[0].load()
    except AgentLoadError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name is None or not spec.partition(":")[0].startswith(exc.name):
            raise AgentLoadError(f"{where}: cannot load agent class '{spec}':\n"
                                 f"{traceback.format_exc()}") from None
        raise AgentLoadError(
            f"{where}: cannot load agent class '{spec}': no module named '{exc.name}'. exsim "
            "imports it like Python does: from the current directory, PYTHONPATH or installed "
            "packages (pip install your package, or run exsim from the directory that holds "
            "the module)") from None
    except Exception:
        raise AgentLoadError(f"{where}: cannot load agent class '{spec}':\n"
                             f"{traceback.format_exc()}") from None
    return check_agent_class(obj, where, spec)


def check_agent_class(obj: object, where: str, spec: str | None = None) -> type[Agent]:
    """``obj`` is an :class:`Agent` subclass with ``async def run(self, ctx)``; else say how."""
    name = spec if spec is not None else getattr(obj, "__qualname__", repr(obj))
    if not (isinstance(obj, type) and issubclass(obj, Agent)):
        raise AgentLoadError(f"{where}: '{name}' is not a subclass of exsim.Agent: "
                             "write `class MyBot(exsim.Agent)` with `async def run(self, ctx)`")
    if not inspect.iscoroutinefunction(obj.run):
        raise AgentLoadError(f"{where}: '{name}'.run must be `async def run(self, ctx)`, "
                             "not a plain def")
    try:
        inspect.signature(obj.run).bind(None, None)
    except TypeError:
        raise AgentLoadError(
            f"{where}: '{name}'.run{inspect.signature(obj.run)} must take exactly one "
            "argument besides self: `async def run(self, ctx)`") from None
    return obj


def _contains(exc: BaseException, kind: type[BaseException]) -> bool:
    """``exc`` is, or is an exception group holding, a ``kind`` (trio groups task errors)."""
    if isinstance(exc, kind):
        return True
    return isinstance(exc, BaseExceptionGroup) and exc.subgroup(kind) is not None


def _agent_error(exc: BaseException) -> bool:
    """An agent's own failure (any exception, ``SystemExit`` or another ``BaseException``),
    as opposed to trio cancelling it or Ctrl-C (``KeyboardInterrupt``, which trio raises
    in whatever code runs, an agent's included), which end the run as they would any code."""
    return not any(_contains(exc, kind) for kind in (trio.Cancelled, KeyboardInterrupt,
                                                     Terminated, WatchdogExpired))


def _cancel_status() -> object:
    """The running trio task's cancel state (which cancel scopes enclose it), compared by
    identity around a stepped agent's step; ``None`` outside trio.  Private to trio, so
    read defensively: without it, the check is simply off."""
    try:
        return getattr(trio.lowlevel.current_task(), "_cancel_status", None)
    except RuntimeError:
        return None


@contextmanager
def _fewer_gc_passes() -> Iterator[None]:
    """Collect cycles after 100,000 net allocations instead of CPython's 700.

    A run allocates millions of short-lived, acyclic objects (events, messages,
    heap items) and keeps a growing log; the default threshold spent 15-20% of a
    1,000-agent run's CPU time in the cyclic collector (process time of 1,200
    simulated s: 15.7-17.4 s -> 13.8 s; with the collector off, 12.9-14.4 s).
    Cycles are still collected; the old thresholds come back after the run.
    """
    old = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)


class Simulation:
    """One run of one config and seed."""

    series: dict[str, list[tuple[int, int, float]]]  # the plot series, of a run in memory
    unprocessed: dict[str, int] | None = None  # requests left when the run ended, by kind

    def __init__(self, config: Config, *, seed: int | None = None) -> None:
        self.config = config
        self.seed = config.run.seed if seed is None else seed
        self.duration_ns = ns(config.run.duration)
        self.failure: Failure | None = None
        self._watchdog_reason: str | None = None  # why the watchdog stopped the run, if it did
        self.crashes: list[tuple[int, int, str, str]] = []  # (time ns, agent id, name, traceback)
        self.specs = [s.spec() for s in config.symbols]
        ex = config.exchange
        self.core = ExchangeCore(self.specs, stp=STP_MODES[ex.stp],
                                 liquidation=config.liquidation.rules(self.specs[0].contract),
                                 fund_scope=config.liquidation.fund_scope)
        self.net = Network(self.seed, latency_model(ex.latency),
                           virtual=config.run.clock == "virtual")
        self.venues = venues_of(config)  # perpetuals, then spot venues: one index each
        self.feed = MarketFeed(len(self.venues.names), max(1, ns(ex.feed_latency_ms / 1000)),
                               lookback_ns=ns(config.oracle.index_latency_ms / 1000))
        self.recorder = Recorder()
        self.exchange = ExchangeActor(self.core, self.net, EXCHANGE,
                                      service_ns=ns(ex.service_us / 1_000_000),
                                      recorder=self.recorder, feed=self.feed,
                                      feed_interval_ns=max(1, ns(ex.feed_interval_ms / 1000)),
                                      account_snapshot_ns=ns(config.output.account_snapshot_s),
                                      liquidator=LIQUIDATOR if config.liquidation.enabled
                                      else None, adl_seed=derive_seed(self.seed, "adl"),
                                      adl_policy=config.liquidation.adl_policy)
        # every venue's grid: a spot venue trades on its perpetual's
        contracts = [self.specs[self.venues.perp_of[v]].contract
                     for v in range(len(self.venues.names))]
        self.spot = build_spot_venues(config, self.venues, self.net, self.recorder, self.feed,
                                      contracts)
        self.venue_actor = [EXCHANGE] * self.venues.perps + [a.id for _, a in self.spot]
        paths = [make_path(config.scenario, config.run.duration,
                           derive_seed(self.seed, "symbol", i))
                 for i in range(len(self.specs))]
        for path, spec in zip(paths, self.specs, strict=True):  # ConfigError if off the grid
            check_path(path, config.scenario, spec.contract, spec.name)
        self.paths = paths  # each symbol's fundamental value (and, scripted, its index)
        self.index = index_source(config, self.venues, self.feed, paths, contracts)
        self.oracle = Oracle(self.net, ORACLE, EXCHANGE, self.feed, self.index, contracts,
                             interval_ns=max(1, ns(config.oracle.interval_ms / 1000)),
                             halflife_ns=max(1, ns(config.oracle.basis_halflife_s)),
                             clamp=config.oracle.clamp, method=config.oracle.method,
                             funding_interval_ns=ns(config.funding.interval_s))
        lc = config.liquidation
        self.liquidator: Liquidator | None = None
        if lc.enabled:
            self.liquidator = Liquidator(
                self.net, LIQUIDATOR, EXCHANGE, len(self.specs),
                k=[spec.contract.k for spec in self.specs],
                interval_ns=ns(lc.interval_ms / 1000), slice_lots=lc.slice_lots,
                tolerance=lc.tolerance, adl_policy=lc.adl_policy,
                last_step=lc.steps[-1] if lc.steps[-1] != "insurance_fund" else "none",
                backstop="backstop" in lc.steps,
                taker_fee_ppm=[spec.taker_fee for spec in self.specs], first=lc.first,
                max_fund_notional=self.core.liquidation_rules.max_fund_notional,
                socialize_every_ns=ns(lc.socialize_every_s),
                vault_haircut=self.core.liquidation_rules.vault_haircut)
            self.net.per_sender[LIQUIDATOR] = Constant(ns(lc.latency_ms / 1000))
            for fund in self.core.funds:
                self.exchange.route(fund, LIQUIDATOR)
        if lc.fund_initial > 0:
            seed = self.specs[0].contract.cash_to_atoms(lc.fund_initial)
            if lc.fund_scope == SHARED:
                self.core.seed_fund(seed)
            else:  # fund_initial each
                for sym in range(len(self.specs)):
                    self.core.seed_fund(seed, sym)
        if lc.vault_capital > 0:
            self.core.seed_vault(self.specs[0].contract.cash_to_atoms(lc.vault_capital))
        fc = config.funding
        self.funding = FundingActor(self.net, FUNDING, EXCHANGE, self.feed, self.index, contracts,
                                    interval_ns=ns(fc.interval_s), sample_ns=ns(fc.sample_s),
                                    interest=fc.interest, clamp=fc.clamp, cap=fc.cap,
                                    impact_notional=fc.impact_notional)
        for sym in range(len(self.specs)):  # marks exist before anyone trades
            mark, index = self.oracle.mark_ticks(sym)
            self.core.set_mark(sym, mark, max(0, round(index / float(
                self.specs[sym].contract.tick_size))))
        self.contracts = contracts
        self.agents: list[tuple[str, Agent, Context]] = []
        self.next_id = FIRST_AGENT
        self._stop: trio.CancelScope | None = None  # cancelled when an agent crashes ("stop")
        self._build_agents(config.agents, contracts)
        self._flush_setup()

    def fundamental(self, sym: int, at: int) -> float:
        """The fundamental value of venue ``sym``'s asset at ``at`` ns: its perpetual's path."""
        return self.paths[self.venues.perp_of[sym]].at(at)

    def _build_agents(self, agents: tuple[AgentConfig, ...], contracts: list[Any]) -> None:
        for i, a in enumerate(agents):
            where = f"agents[{i}] (class {a.cls!r})"
            cls = load_agent_class(a.cls, where)
            try:
                cls.check_params(a.params)
            except (ValueError, TypeError) as exc:
                raise AgentLoadError(f"{where}: {exc}") from None
            for _ in range(a.count):
                self.agents.append(self.add_agent(cls, a, where))

    def add_agent(self, cls: type[Agent], a: AgentConfig,
                  where: str) -> tuple[str, Agent, Context]:
        """One agent of ``cls`` on the next actor id: account, deposit, leverage, inbox.

        The deposit and leverage events go into the core's event list; the caller
        publishes them (at setup, :meth:`_flush_setup`).
        """
        agent_id = self.next_id
        self.next_id += 1
        try:
            agent = cls()
        except Exception:
            raise AgentLoadError(f"{where}: constructing the agent failed:\n"
                                 f"{traceback.format_exc()}") from None
        names = self.venues.names
        if (a.venue and a.venue not in names) or (a.hedge_venue and a.hedge_venue not in names):
            raise AgentLoadError(f"{where}: no venue named {a.venue or a.hedge_venue!r} "
                                 f"(one of {', '.join(names)})")
        home = names.index(a.venue) if a.venue else 0
        hedge = names.index(a.hedge_venue) if a.hedge_venue else None
        grid = self.contracts[home]
        first = self.venues.perps
        if self.venues.is_spot(home):  # its cash and coin at its venue; its perp account empty
            core, venue = self.spot[home - first]
            core.deposit(agent_id, grid.cash_to_atoms(a.deposit), grid.qty_to_lots(a.coin))
            venue.route(agent_id, agent_id)
        elif a.deposit > 0:
            self.core.deposit(agent_id, grid.cash_to_atoms(a.deposit))
        self.core.accounts.setdefault(agent_id, Account(agent_id))
        if hedge is not None:
            core, venue = self.spot[hedge - first]
            core.deposit(agent_id, grid.cash_to_atoms(a.hedge_cash),
                         grid.qty_to_lots(a.hedge_coin))
            venue.route(agent_id, agent_id)
        for sym, spec in enumerate(self.specs):
            if not self.core.set_leverage(agent_id, sym, a.leverage):
                raise AgentLoadError(
                    f"{where}: leverage {a.leverage} is not allowed on {spec.name} "
                    f"(max {spec.max_leverage})")
        if a.latency_ms > 0:
            self.net.per_sender[agent_id] = Constant(ns(a.latency_ms / 1000))
        self.exchange.route(agent_id, agent_id)
        ctx = Context(agent_id=agent_id, account=agent_id, net=self.net,
                      exchange=self.venue_actor, feed=self.feed, contracts=self.contracts,
                      rng=stream(self.seed, "agent", agent_id), params=a.params,
                      stepped=not cls.trio_task, home=home, hedge=hedge,
                      fundamental=self.fundamental)
        return f"{where} #{agent_id}", agent, ctx

    def _flush_setup(self) -> None:
        """The setup's events (marks, deposits, leverage) open the log at t = 0.

        They go out like any other: each account's to its agent, all to the recorder.
        """
        self.exchange.publish()
        for _, venue in self.spot:
            venue.publish()

    # ------------------------------------------------------------------ running
    def _crashed(self, name: str, ctx: Context, tb: str) -> None:
        # recorded, not acted on in arrival order: two agents failing at the same
        # instant are reported by (time, agent id), whatever order trio ran them in
        self.crashes.append((self.net.now, ctx.agent_id, name, tb))
        if self.config.run.on_agent_error == "stop" and self._stop is not None:
            self._stop.cancel()
            self.net.settle()  # a stepped agent's crash: stop at this instant, like a task's

    async def _agent_task(self, name: str, agent: Agent, ctx: Context) -> None:
        try:
            await agent.run(ctx)
        except BaseException as exc:
            if not _agent_error(exc):
                raise
            self._crashed(name, ctx, traceback.format_exc())

    def start_agent(self, nursery: trio.Nursery, name: str, agent: Agent, ctx: Context) -> None:
        """Start one agent now: a trio task, or (``trio_task = False``) its first step."""
        if ctx.stepped:
            def first_step() -> None:
                coro = agent.run(ctx)
                ctx.resume = lambda: self._step_agent(name, ctx, coro)
                self._step_agent(name, ctx, coro)

            # when time next runs, at now, as a new trio task would start
            self.net.call_at_start(first_step)
        else:
            nursery.start_soon(self._agent_task, name, agent, ctx)

    def _step_agent(self, name: str, ctx: Context, coro: Coroutine[Any, Any, None]) -> None:
        """Run a stepped agent until its next ``ctx.sleep`` (or its end)."""
        scopes = _cancel_status()
        try:
            yielded = coro.send(None)
        except StopIteration:
            ctx.resume = None
            return
        except BaseException as exc:
            if not _agent_error(exc):
                raise
            ctx.resume = None
            self._crashed(name, ctx, traceback.format_exc())
            return
        if yielded is SUSPENDED and _cancel_status() is scopes:
            return
        # it awaited trio, or left a trio cancel scope or nursery open across ctx.sleep
        # (it would stay open on the network's task): unwind it, report it
        ctx.resume = None
        what = (f"awaited {yielded!r}" if yielded is not SUSPENDED
                else "kept a trio cancel scope or nursery open across ctx.sleep")
        try:
            coro.close()
        except Exception as exc:  # reported below, whatever it was
            what += f" (and closing it raised {exc!r})"
        self._crashed(name, ctx, (
            f"{name} {what}, but its class sets `trio_task = False`, which allows awaiting "
            "only ctx.sleep and no trio cancel scopes or nurseries: set "
            "`trio_task = True` to use trio.\n"))

    def start(self, nursery: trio.Nursery, *, stop_on_crash: bool = True) -> None:
        """Start every actor and agent in ``nursery``; time moves with :meth:`Network.run`.

        An agent that crashes under ``on_agent_error = "stop"`` cancels ``nursery``
        (unless ``stop_on_crash`` is false: the test kit reports crashes itself).
        """
        self._stop = nursery.cancel_scope if stop_on_crash else None
        self.oracle.start()
        self.funding.start()
        for name, agent, ctx in self.agents:
            self.start_agent(nursery, name, agent, ctx)

    async def main(self, progress: Callable[[int], None] | None = None) -> None:
        async with trio.open_nursery() as nursery:
            self.start(nursery)
            chunk = max(1, self.duration_ns // 100)
            t = 0
            while t < self.duration_ns:
                t = min(self.duration_ns, t + chunk)
                await self.net.run(until=t)
                if progress is not None:
                    progress(t)
            nursery.cancel_scope.cancel()

    def run(self, out_dir: Path | None = None,
            progress: Callable[[int, int], None] | None = None, *,
            overwrite: bool = False) -> dict[str, Any]:
        """Run to the end (or the first failure) and write ``out_dir``; returns the summary.

        With ``out_dir``, the run directory is made first (:func:`open_run_dir`: one that
        already holds files is refused with :class:`RunDirError`, unless ``overwrite``
        replaces it whole), marked incomplete until the end, and the event log streams to
        it (bounded memory; ``recorder.log`` is then unavailable).  Without one, the log
        stays in memory (``recorder.log``) and nothing is written.  The first SIGINT or
        SIGTERM stops the run between two instants; it is written, marked incomplete,
        and ``KeyboardInterrupt`` or :class:`~exsim.interrupts.Terminated` is raised.
        """
        wall0 = time.perf_counter()
        run_dir: RunDir | None = None
        raised: BaseException | None = None
        with StopOnSignal() as signals:
            if out_dir is not None:
                run_dir = open_run_dir(Path(out_dir), attrs.asdict(self.config),
                                       self._marker(RUNNING), overwrite=overwrite)
                try:
                    self.recorder.spill_to(run_dir.path / EVENTS, self._log_meta())
                except BaseException:
                    run_dir.close()
                    raise
            try:
                self._run_trio(progress, signals)
                if self.crashes and self.config.run.on_agent_error == "stop":
                    _, _, name, tb = min(self.crashes)
                    self.failure = Failure(f"agent crashed: {name}", tb)
                elif signals.stopped and signals.reason is not None:
                    self.failure = Failure(signals.reason)
                elif self._watchdog_reason is not None:
                    self.failure = Failure(self._watchdog_reason)
            except BaseException as exc:
                raised = exc
                stopped = reason_of(exc)
                if stopped is not None:
                    self.failure = Failure(stopped)
                elif _contains(exc, WatchdogExpired):  # the run ends here, marked: not an error
                    raised = None
                    self.failure = Failure(self._watchdog_reason or "watchdog",
                                           traceback.format_exc())
                elif self.failure is None:
                    self.failure = Failure("simulation error", traceback.format_exc())
            try:
                self.unprocessed = self._take_unprocessed()
                self.recorder.close()
                summary = self.summary(time.perf_counter() - wall0, run_dir)
                if run_dir is not None:
                    self.write(run_dir, summary)
            except BaseException as exc:
                if run_dir is not None:  # the log is kept: `exsim report DIR` rebuilds the rest
                    why = reason_of(exc) or f"failed ({exc!r})"
                    with suppress(Exception):
                        run_dir.write_summary(self._marker(
                            f"{why} while writing the results; `exsim report {run_dir.path}` "
                            f"rebuilds the tables from {EVENTS}"))
                raise
            finally:
                if run_dir is not None:
                    run_dir.close()
        if raised is not None:
            if _contains(raised, KeyboardInterrupt):
                raise KeyboardInterrupt from None
            if _contains(raised, Terminated):
                raise Terminated from None
            raise raised  # what broke the run, now that what it recorded is written
        if signals.signum is not None:  # the run, or its writing, was asked to stop
            raise_for(signals.signum)
        return summary

    def _run_trio(self, progress: Callable[[int, int], None] | None,
                  signals: StopOnSignal) -> None:
        """The simulation under trio, stoppable by ``signals``; the log on disk every 1%."""

        def report(t: int) -> None:
            self.recorder.flush()  # a killed run loses at most the last 1% (or SPILL_EVERY)
            if progress is not None:
                progress(t, self.recorder.count)

        rc = self.config.run
        names = {id(agent): name for name, agent, _ in self.agents}
        dog = Watchdog(rc.max_wall_seconds,
                       rc.max_stall_seconds if rc.clock == "virtual" else 0.0,
                       lambda: self.net.now, lambda obj: names.get(id(obj)))

        async def body() -> None:
            with trio.CancelScope() as scope:
                signals.arm(scope.cancel)
                dog.arm(scope.cancel)
                try:
                    await self.main(report)
                finally:
                    signals.disarm()
                    dog.disarm()

        clock = (trio.testing.MockClock(autojump_threshold=0)
                 if rc.clock == "virtual" else None)
        try:
            with _fewer_gc_passes(), dog:
                trio.run(body, clock=clock)
        finally:
            self._watchdog_reason = dog.reason

    def _marker(self, reason: str) -> dict[str, Any]:
        """The summary of a run not (or not yet) written to its end."""
        return {"complete": False, "reason": reason, "seed": self.seed,
                "core": CORE_MODE, "agents": len(self.agents)}

    def _log_meta(self) -> dict[str, Any]:
        """What reading the event log into tables and plots needs without this object."""
        return {"seed": self.seed, "symbols": [s.name for s in self.specs],
                "venues": list(self.venues.names),
                "spot_tick": [float(c.tick_size) for c in self.contracts[self.venues.perps:]],
                "k": [s.contract.k for s in self.specs],
                "cash_atom": float(self.specs[0].contract.cash_atom),
                "tick": [float(s.contract.tick_size) for s in self.specs],
                "lot": [float(s.contract.lot_size) for s in self.specs],
                "funds": list(self.core.fund_ids), "duration_s": self.config.run.duration}

    def _take_unprocessed(self) -> dict[str, int]:
        """The requests the run ended before the exchange processed: queued at it, or
        still in flight to it (taken off the network: the run is over), by kind."""
        counts = {_snake(kind.__name__): 0 for kind in self.exchange.request_kinds}
        for venue in (self.exchange, *(actor for _, actor in self.spot)):
            for msg in venue.take_unprocessed():
                counts[_snake(type(msg).__name__)] += 1
        return {"total": sum(counts.values()), **counts}

    def submits_sent(self) -> int:
        """Orders sent to the exchange: each agent's (an order id is the agent's count of
        its submits), the liquidator's work-out orders (likewise) and the liquidation
        orders the core places after a takeover."""
        sent = sum(ctx.submitted() for _, _, ctx in self.agents)
        sent += self.core.liquidation_orders  # the liquidation orders the core sends itself
        return sent + (self.liquidator.next_oid if self.liquidator is not None else 0)

    # ------------------------------------------------------------------ results
    def summary(self, wall_seconds: float, run_dir: RunDir | None = None) -> dict[str, Any]:
        """The run's figures and invariants, from the core's state and the log (streamed);
        with ``run_dir``, the plot series stream into its ``series.parquet`` meanwhile."""
        core = self.core
        if self.unprocessed is None:
            self.unprocessed = self._take_unprocessed()
        resting = {(m.index, o[0]): o[4] for m in core.markets for o in m.book.orders.values()}
        resting.update({(s.sym, o[0]): o[4] for s, _ in self.spot
                        for o in s.book.orders.values()})
        invariants = core.invariants()
        for spot, _ in self.spot:  # each spot venue's cash and coin, conserved
            for name, ok in spot.invariants().items():
                invariants[name] = invariants.get(name, True) and ok
        invariants["orders_accounted"] = self.recorder.orders_accounted(
            resting, submits_sent=self.submits_sent(),
            submits_unprocessed=self.unprocessed["submit"])
        atom = float(self.specs[0].contract.cash_atom)
        flows = waterfall(self.recorder.events(), atom, core.fund_ids)
        flows["fund_to_oi"] = self._series(atom, run_dir)
        # per fund: each one's cash from events, its lowest point, against its wallet
        funds = flows.pop("funds")
        flows["insurance_fund"].pop("end_atoms")
        if core.liquidation_rules.book_deficits:
            # a socializing waterfall books deficits below zero until a round collects
            # them: what it must never do is collect more than what was booked
            invariants["socialized_only_booked_deficits"] = not overcharged_rounds(
                self.recorder.events(), core.fund_ids)
        else:
            invariants["fund_never_negative"] = all(f["min"] >= 0 for f in funds.values())
        invariants["fund_reconciles"] = all(
            f.pop("end_atoms") == core.accounts[fund].wallet for fund, f in funds.items())
        if core.fund_scope != SHARED:
            flows["insurance_fund"]["by_symbol"] = {
                spec.name: funds[fund] for spec, fund in zip(self.specs, core.fund_ids,
                                                             strict=True)}
        # from the log: no account paid (funding, a fee, ADL, socialized loss, a takeover)
        # by a symbol it held no position in just before
        invariants["flat_accounts_never_pay"] = not payments_by_flat(self.recorder.events(),
                                                                     core.fund_ids)
        if VAULT in core.accounts:
            flows["vault"] = {"takeovers": flows.pop("vault_takeovers"),
                              "equity_end": core.account_equity(VAULT)
                              * float(self.specs[0].contract.cash_atom)}
        else:
            flows.pop("vault_takeovers")
        # traders with no position left hold no debt (the fund covered it, as far as it could)
        invariants["flat_traders_not_below_zero"] = all(
            acct.wallet + sum(p.margin for p in acct.positions.values()) >= 0
            for acct in core.accounts.values()
            if acct.id >= 0 and not any(p.qty for p in acct.positions.values()))
        # the funds' and the vault's cash at the end (a fund's lowest point is
        # fund_never_negative, from the events; a socializing fund's booked deficit may
        # wait for its round)
        invariants["house_cash_not_below_zero"] = all(
            acct.wallet >= 0 for acct in core.accounts.values() if acct.id < 0 and (
                acct.id == VAULT or not core.liquidation_rules.book_deficits))
        # the house accounts' marked equity, replayed: the vault, hidden insolvency, ADL
        rules, lc = core.liquidation_rules, self.config.liquidation
        house = house_accounts(self.recorder.events(), [s.contract.k for s in self.specs],
                               core.fund_ids, cap=rules.max_fund_notional > 0)
        grace = ns(10.0 + lc.socialize_every_s)  # the liquidator's time for its last step
        invariants.update(house_invariants(
            house, {a.id: a.wallet for a in core.accounts.values() if a.id < 0},
            lc.steps[-1] != "insurance_fund", grace))
        market = self._market()
        adequacy_figures = adequacy(
            house, {f: round(v["start"] / atom) for f, v in funds.items()}, flows,
            sum(m["oi_notional_start"] for m in market.values()), atom,
            sorted((x for m in market.values() for x in m["largest_stressed_losses"]),
                   reverse=True)[:2])
        sim_seconds = self.net.now / NS_PER_S
        out: dict[str, Any] = {
            "complete": self.failure is None,
            "reason": None if self.failure is None else self.failure.reason,
            "digest": self.recorder.digest,
            "seed": self.seed,
            "config_sha256": config_sha256(self.config, self.seed),
            "sim_seconds": sim_seconds,
            "wall_seconds": round(wall_seconds, 3),
            "core": CORE_MODE,  # "compiled", or "pure (why)": exsim.core.MODE
            "events": self.recorder.count,
            "trades": self.recorder.trades,
            "agents": len(self.agents),
            "agent_accounts": self.agent_accounts(),
            "max_exchange_queue": self.exchange.max_queue,
            "market": market,
            "adequacy": adequacy_figures,
            "house": house_summary(house, atom, [a for a in core.accounts if a < 0]),
            "unprocessed_requests": self.unprocessed,
            **flows,
            "isolated_agents": [] if self.config.run.on_agent_error == "stop" else [
                {"agent": name, "at_seconds": t / NS_PER_S, "error": tb}
                for t, _, name, tb in sorted(self.crashes)],
            "dropped_messages": self.exchange.dropped,
            "invariants": invariants,
            "warnings": run_warnings([s.name for s in self.specs], [m.mark for m in core.markets],
                                     orders_accepted=self.recorder.orders_accepted),
        }
        if self.failure is not None and self.failure.detail:
            out["error"] = self.failure.detail
        return out

    def agent_accounts(self) -> list[dict[str, Any]]:
        """Each ``[[agents]]`` entry's class and its account ids (first and count)."""
        out: list[dict[str, Any]] = []
        first = FIRST_AGENT
        for a in self.config.agents:
            out.append({"class": a.cls, "first_account": first, "count": a.count})
            first += a.count
        return out

    def _entry_of_account(self) -> dict[int, int]:
        """Each agent's account id -> the index of its ``[[agents]]`` entry."""
        out: dict[int, int] = {}
        acct = FIRST_AGENT
        for i, a in enumerate(self.config.agents):
            for _ in range(a.count):
                out[acct] = i
                acct += 1
        return out

    def _market(self) -> dict[str, Any]:
        """The summary's ``market`` section (:mod:`exsim.output.market`), per perpetual."""
        levered = [a for a in self.config.agents if a.cls == "leveraged"]
        configured = max([int(a.params.get("leverage_max", 20)) for a in levered]
                         or [a.leverage for a in self.config.agents] or [1])
        accounts = [acct for acct, i in self._entry_of_account().items()
                    if self.config.agents[i].cls == "leveraged"] if levered else None
        out = market_summary(
            self.recorder.events(), names=[s.name for s in self.specs],
            k=[s.contract.k for s in self.specs],
            tick=[float(s.contract.tick_size) for s in self.specs],
            cash_atom=float(self.specs[0].contract.cash_atom), fundamental=self.paths,
            end_ns=self.net.now, house=[*self.core.funds, VAULT], configured_max=configured,
            leveraged=accounts)
        for entry in out.values():
            entry["max_exchange_queue"] = self.exchange.max_queue
        return out

    def _series(self, atom: float, run_dir: RunDir | None) -> dict[str, float | None]:
        """The plot series (``self.series`` in memory, or streamed into ``series.parquet``);
        returns the fund-to-open-interest ratio's lowest and last value."""
        args = ([s.contract.k for s in self.specs], atom,
                [float(s.contract.tick_size) for s in self.specs],
                [float(s.contract.lot_size) for s in self.specs], self.core.fund_ids)
        spot_tick = [float(c.tick_size) for c in self.contracts[self.venues.perps:]]
        if run_dir is None:
            self.series = series(self.recorder.events(), *args, spot_tick=spot_tick)
            ratios = [v for _, _, v in self.series["fund_to_oi"]]
            low, end = (min(ratios), ratios[-1]) if ratios else (None, None)
        else:
            writer = SeriesWriter(run_dir.path, self.paths)
            series(self.recorder.events(), *args, sink=writer.add, spot_tick=spot_tick)
            writer.close()
            low, end = writer.fund_to_oi or (None, None)
        return {"min": low, "end": end}

    def write(self, run_dir: RunDir, summary: dict[str, Any]) -> None:
        """The tables from the log (streamed), then ``summary.json``, last; the log file goes."""
        summary["tables"] = write_tables(self.recorder.events(), run_dir.path,
                                         self.recorder.wide())
        run_dir.write_summary(summary)
        self.recorder.discard()
