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
interrupted still writes everything recorded so far, with ``complete: false``
and the reason.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import json
import time
import traceback
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
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
from exsim.config import AgentConfig, Config, LatencyConfig
from exsim.core import MODE as CORE_MODE
from exsim.core.accounts import Account
from exsim.core.engine import ExchangeCore
from exsim.core.liquidation import SHARED, VAULT
from exsim.output.metrics import payments_by_flat, series, waterfall
from exsim.output.tables import write_series, write_tables
from exsim.rng import derive_seed, stream
from exsim.scenarios.paths import make_path
from exsim.timeunits import NS_PER_S, ns

EXCHANGE, ORACLE, FUNDING, LIQUIDATOR, FIRST_AGENT = 0, 1, 3, 4, 100
STP_MODES = {"none": 0, "cancel_taker": 1, "cancel_maker": 2, "cancel_both": 3}


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

    def __init__(self, config: Config, *, seed: int | None = None) -> None:
        self.config = config
        self.seed = config.run.seed if seed is None else seed
        self.duration_ns = ns(config.run.duration)
        self.failure: Failure | None = None
        self.crashes: list[tuple[int, int, str, str]] = []  # (time ns, agent id, name, traceback)
        self.specs = [s.spec() for s in config.symbols]
        ex = config.exchange
        self.core = ExchangeCore(self.specs, stp=STP_MODES[ex.stp],
                                 liquidation=config.liquidation.rules(self.specs[0].contract),
                                 fund_scope=config.liquidation.fund_scope)
        self.net = Network(self.seed, latency_model(ex.latency),
                           virtual=config.run.clock == "virtual")
        self.feed = MarketFeed(len(self.specs), max(1, ns(ex.feed_latency_ms / 1000)))
        self.recorder = Recorder()
        self.exchange = ExchangeActor(self.core, self.net, EXCHANGE,
                                      service_ns=ns(ex.service_us / 1_000_000),
                                      recorder=self.recorder, feed=self.feed,
                                      feed_interval_ns=max(1, ns(ex.feed_interval_ms / 1000)),
                                      account_snapshot_ns=ns(config.output.account_snapshot_s),
                                      liquidator=LIQUIDATOR if config.liquidation.enabled
                                      else None, adl_seed=derive_seed(self.seed, "adl"),
                                      adl_policy=config.liquidation.adl_policy)
        contracts = [s.contract for s in self.specs]
        paths = [make_path(config.scenario, config.run.duration,
                           derive_seed(self.seed, "symbol", i))
                 for i in range(len(self.specs))]
        self.oracle = Oracle(self.net, ORACLE, EXCHANGE, self.feed, paths, contracts,
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
                taker_fee_ppm=[spec.taker_fee for spec in self.specs])
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
        self.funding = FundingActor(self.net, FUNDING, EXCHANGE, self.feed, paths, contracts,
                                    interval_ns=ns(fc.interval_s), sample_ns=ns(fc.sample_s),
                                    interest=fc.interest, clamp=fc.clamp, cap=fc.cap,
                                    impact_notional=fc.impact_notional)
        for sym in range(len(self.specs)):  # marks exist before anyone trades
            self.core.set_mark(sym, self.oracle.mark_ticks(sym)[0])
        self.contracts = contracts
        self.agents: list[tuple[str, Agent, Context]] = []
        self.next_id = FIRST_AGENT
        self._stop: trio.CancelScope | None = None  # cancelled when an agent crashes ("stop")
        self._build_agents(config.agents, contracts)
        self._flush_setup()

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
        if a.deposit > 0:
            self.core.deposit(agent_id, self.specs[0].contract.cash_to_atoms(a.deposit))
        else:  # an account with nothing in it, so that it exists
            self.core.accounts.setdefault(agent_id, Account(agent_id))
        for sym, spec in enumerate(self.specs):
            if not self.core.set_leverage(agent_id, sym, a.leverage):
                raise AgentLoadError(
                    f"{where}: leverage {a.leverage} is not allowed on {spec.name} "
                    f"(max {spec.max_leverage})")
        if a.latency_ms > 0:
            self.net.per_sender[agent_id] = Constant(ns(a.latency_ms / 1000))
        self.exchange.route(agent_id, agent_id)
        ctx = Context(agent_id=agent_id, account=agent_id, net=self.net,
                      exchange=EXCHANGE, feed=self.feed, contracts=self.contracts,
                      rng=stream(self.seed, "agent", agent_id), params=a.params,
                      stepped=not cls.trio_task)
        return f"{where} #{agent_id}", agent, ctx

    def _flush_setup(self) -> None:
        """The setup's events (marks, deposits, leverage) open the log at t = 0.

        They go out like any other: each account's to its agent, all to the recorder.
        """
        self.exchange.publish()

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
        except Exception:
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
        except Exception:
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
            progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Run to the end (or the first failure) and write ``out_dir``; returns the summary."""
        wall0 = time.perf_counter()

        def report(t: int) -> None:
            if progress is not None:
                progress(t, len(self.recorder.log))

        clock = (trio.testing.MockClock(autojump_threshold=0)
                 if self.config.run.clock == "virtual" else None)
        try:
            with _fewer_gc_passes():
                trio.run(self.main, report, clock=clock)
            if self.crashes and self.config.run.on_agent_error == "stop":
                _, _, name, tb = min(self.crashes)
                self.failure = Failure(f"agent crashed: {name}", tb)
        except BaseException as exc:
            if _contains(exc, KeyboardInterrupt):
                self.failure = Failure("interrupted (Ctrl-C)")
                raise KeyboardInterrupt from None
            if self.failure is None:
                self.failure = Failure("simulation error", traceback.format_exc())
            raise
        finally:
            summary = self.summary(time.perf_counter() - wall0)
            if out_dir is not None:
                self.write(out_dir, summary)
        return summary

    # ------------------------------------------------------------------ results
    def summary(self, wall_seconds: float) -> dict[str, Any]:
        core = self.core
        resting = {(m.index, o[0]): o[4] for m in core.markets for o in m.book.orders.values()}
        invariants = core.invariants()
        invariants["orders_accounted"] = self.recorder.orders_accounted(resting)
        atom = float(self.specs[0].contract.cash_atom)
        flows = waterfall(self.recorder.log, atom, core.fund_ids)
        self.series = series(self.recorder.log, [s.contract.k for s in self.specs], atom,
                             [float(s.contract.tick_size) for s in self.specs],
                             [float(s.contract.lot_size) for s in self.specs], core.fund_ids)
        ratios = [v for _, _, v in self.series["fund_to_oi"]]
        flows["fund_to_oi"] = {"min": min(ratios) if ratios else None,
                               "end": ratios[-1] if ratios else None}
        # per fund: each one's cash from events, its lowest point, against its wallet
        funds = flows.pop("funds")
        flows["insurance_fund"].pop("end_atoms")
        invariants["fund_never_negative"] = all(f["min"] >= 0 for f in funds.values())
        invariants["fund_reconciles"] = all(
            f.pop("end_atoms") == core.accounts[fund].wallet for fund, f in funds.items())
        if core.fund_scope != SHARED:
            flows["insurance_fund"]["by_symbol"] = {
                spec.name: funds[fund] for spec, fund in zip(self.specs, core.fund_ids,
                                                             strict=True)}
        # from the log: no account paid (funding, a fee, ADL, socialized loss, a takeover)
        # by a symbol it held no position in just before
        invariants["flat_accounts_never_pay"] = not payments_by_flat(self.recorder.log,
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
        # fund_never_negative, from the events)
        invariants["house_cash_not_below_zero"] = all(
            acct.wallet >= 0 for acct in core.accounts.values() if acct.id < 0)
        sim_seconds = self.net.now / NS_PER_S
        out: dict[str, Any] = {
            "complete": self.failure is None,
            "reason": None if self.failure is None else self.failure.reason,
            "digest": self.recorder.digest,
            "seed": self.seed,
            "sim_seconds": sim_seconds,
            "wall_seconds": round(wall_seconds, 3),
            "core": CORE_MODE,  # "compiled", or "pure (why)": exsim.core.MODE
            "events": len(self.recorder.log),
            "trades": self.recorder.trades,
            "agents": len(self.agents),
            "agent_accounts": self.agent_accounts(),
            "max_exchange_queue": self.exchange.max_queue,
            **flows,
            "isolated_agents": [] if self.config.run.on_agent_error == "stop" else [
                {"agent": name, "at_seconds": t / NS_PER_S, "error": tb}
                for t, _, name, tb in sorted(self.crashes)],
            "dropped_messages": self.exchange.dropped,
            "invariants": invariants,
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

    def write(self, out: Path, summary: dict[str, Any]) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(attrs.asdict(self.config), indent=2,
                                                     default=str))
        summary["tables"] = write_tables(self.recorder.log, out)
        write_series(self.series, self.oracle.paths, out)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
