"""The users' test kit (exsim.testing): the harness, the steered index and the pytest plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

import exsim
from exsim.core.orders import BUY, MARKET, SELL
from exsim.sim import AgentLoadError
from exsim.testing import (
    AgentCrashed,
    EventTimeout,
    SimExchange,
    SteeredIndex,
    UsageError,
    open_exchange,
)

pytest_plugins = ["pytester"]
S = 1_000_000_000


# ----------------------------------------------------------------------------- the index
def test_steered_index_reshapes_only_the_future() -> None:
    clock = [0]
    idx = SteeredIndex(100.0, lambda: clock[0])
    clock[0] = 10 * S
    idx.ramp(120.0, over=20)                  # 100 at 10 s -> 120 at 30 s
    assert idx.at(20 * S) == 110.0
    clock[0] = 20 * S
    idx.crash(drop=0.5, over=10, recover=0.5, recover_over=10)  # 110 -> 55 -> 82.5
    assert idx.at(15 * S) == 105.0            # the past is untouched
    assert idx.at(25 * S) == 82.5             # halfway down
    assert idx.at(30 * S) == 55.0
    assert idx.at(40 * S) == 82.5
    assert idx.at(99 * S) == 82.5             # flat after the last point
    clock[0] = 35 * S
    idx.step(200.0)
    assert idx.at(35 * S) == 68.75 and idx.at(35 * S + 1) == 200.0
    assert idx.at(40 * S) == 200.0            # the planned recovery was replaced


def test_steered_index_refuses_nonsense() -> None:
    idx = SteeredIndex(100.0, lambda: 0)
    with pytest.raises(UsageError, match="above 0"):
        idx.step(0.0)
    with pytest.raises(UsageError, match="below 1"):
        idx.crash(drop=1.0, over=5)
    with pytest.raises(UsageError, match="increasing"):
        idx.path([(5, 90.0), (5, 80.0)])
    with pytest.raises(UsageError, match="recover_over"):
        idx.crash(drop=0.1, over=5, recover=0.5)


# ----------------------------------------------------------------------------- the harness
async def test_trader_fills_equity_and_fund_are_exact() -> None:
    async with open_exchange({"oracle": {"clamp": 0.0}}) as ex:
        maker, taker = ex.trader(deposit=10_000), ex.trader(deposit=10_000)
        assert ex.equity(maker.account) == 10_000
        maker.submit(SELL, ex.lots("0.5"), ex.ticks("30000"))
        await ex.advance(1)
        taker.submit(BUY, ex.lots("0.5"), order_type=MARKET)
        fill = await ex.wait_fill(taker.account, timeout=5)
        assert (fill["qty"], fill["price"]) == (500, 300_000)
        assert fill.kind == "FILL" and fill.at_s < 1.1
        # fees: maker 0.02% and taker 0.05% of 15,000 USDT
        assert ex.equity(maker.account) == 10_000 - 3
        assert ex.equity(taker.account) == 10_000 - 7.5
        await ex.advance(1)                   # the mirrors catch up with the network
        assert taker.position[0] == 500 and maker.position[0] == -500
        ex.index.step(31_000)
        await ex.wait_for("MARK", sym=0, where=lambda s: s["price"] == 310_000, timeout=5)
        assert ex.equity(taker.account) == 10_000 - 7.5 + 500
        assert ex.fund_balance == 0
        ex.assert_invariants()


async def test_wait_for_times_out_in_simulated_time_and_says_what_it_waited_for() -> None:
    async with open_exchange() as ex:
        t = ex.trader()
        with pytest.raises(EventTimeout, match=r"LIQUIDATION, acct=100\) within 30 simulated s"):
            await ex.wait_liquidation(t.account, timeout=30)
        assert ex.now_s == 30.0


async def test_wait_for_counts_only_new_events() -> None:
    async with open_exchange() as ex:
        await ex.advance(3)
        assert ex.events("MARK")              # marks so far
        mark = await ex.wait_for("MARK", timeout=5)
        assert mark.at > 3 * S


async def test_misuse_gets_errors_that_say_what_to_do() -> None:
    ex = SimExchange()
    with pytest.raises(UsageError, match="open_exchange"):
        await ex.advance(1)
    async with open_exchange() as ex:
        with pytest.raises(UsageError, match="no field 'account'; fields: sym, acct"):
            await ex.wait_for("LIQUIDATION", account=5, timeout=1)
        with pytest.raises(UsageError, match="no event kind 'LIQUIDATED'"):
            ex.events("LIQUIDATED")
        with pytest.raises(UsageError, match="finite"):
            await ex.advance(float("nan"))
        with pytest.raises(UsageError, match="no account 12345"):
            ex.equity(12345)

        class Sync(exsim.Agent):
            def run(self, ctx):  # type: ignore[override]
                pass

        class NoCtx(exsim.Agent):
            async def run(self):  # type: ignore[override]
                pass

        with pytest.raises(AgentLoadError, match="not a plain def"):
            ex.add_agents(Sync)
        with pytest.raises(AgentLoadError, match=r"run\(self\) must take exactly one"):
            ex.add_agents(NoCtx)
        with pytest.raises(AgentLoadError, match=r"not a subclass of exsim\.Agent"):
            ex.add_agents(dict)  # type: ignore[arg-type]


def test_outside_trio_and_wall_clock_are_refused() -> None:
    with pytest.raises(UsageError, match="inside trio"):
        SimExchange().start(None)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="simulated time"):
        SimExchange({"run": {"clock": "wall"}})


class Faulty(exsim.Agent):
    async def run(self, ctx: exsim.Context) -> None:
        await ctx.sleep(5)
        raise RuntimeError("strategy bug")


async def test_an_agent_crash_fails_the_test_with_its_traceback() -> None:
    async with open_exchange() as ex:
        ex.add_agents(Faulty)
        await ex.advance(4)
        with pytest.raises(AgentCrashed, match=r"(?s)crashed at 5 s.*RuntimeError: strategy bug"):
            await ex.advance(2)
    async with open_exchange({"run": {"on_agent_error": "isolate"}}) as ex:
        ex.add_agents(Faulty)
        await ex.advance(10)                  # isolated: the run goes on
        assert ex.now_s == 10 and len(ex.sim.crashes) == 1


async def test_same_seed_same_events() -> None:
    logs = []
    for _ in range(2):
        async with open_exchange(seed=5) as ex:
            ex.add_agents("market_maker", count=2, deposit=1_000_000)
            ex.add_agents("noise", count=5)
            ex.index.crash(drop=0.1, over=30)
            await ex.advance(60)
            logs.append(list(ex.sim.recorder.log))
    assert logs[0] == logs[1] and len(logs[0]) > 100


# ----------------------------------------------------------------------------- the plugin
def test_plugin_fixtures_marker_factory_and_misuse(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="""
        import pytest

        @pytest.mark.exsim(config={"scenario": {"start_price": 50000.0}}, seed=7)
        async def test_marker(exsim_exchange):
            assert exsim_exchange.sim.seed == 7
            assert exsim_exchange.index.price == 50000.0
            await exsim_exchange.advance(2)
            assert exsim_exchange.mark() == 500000

        async def test_factory(exsim_factory):
            a, b = exsim_factory(seed=1), exsim_factory({"run": {"seed": 2}})
            await a.advance(1)
            assert (a.sim.seed, b.sim.seed) == (1, 2)

        def test_sync(exsim_exchange):
            pass
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")  # no trio_mode: the plugin marks them
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*test_sync uses the exsim_exchange fixture, which runs inside "
                                 "trio: write the test as `async def test_sync(...)`*"])


class Counter(exsim.Agent):
    async def run(self, ctx: exsim.Context) -> None:
        self.ticks = 0
        while True:
            await ctx.sleep(1.0)
            self.ticks += 1


async def test_the_agent_behind_an_account_can_be_inspected() -> None:
    async with open_exchange({"agents": [{"class": "noise"}]}) as ex:
        [ctx] = ex.add_agents(Counter)
        await ex.advance(10.5)
        bot = ex.agent(ctx.account)
        assert isinstance(bot, Counter) and bot.ticks == 10
        assert type(ex.agent(100)).__name__ == "NoiseTrader"   # the config's agents too
        with pytest.raises(UsageError, match="traders have none"):
            ex.agent(ex.trader().account)


async def test_where_sees_the_event_time_and_the_index_starts_where_the_scenario_does(
        tmp_path: Path) -> None:
    csv = tmp_path / "path.csv"
    csv.write_text("timestamp,price\n0,25000\n600,26000\n")
    async with open_exchange({"scenario": {"kind": "csv", "csv": str(csv)},
                              "oracle": {"clamp": 0.0}}) as ex:
        assert ex.index.price == 25_000.0 and ex.mark() == 250_000  # no jump at the first tick
        await ex.advance(3)
        assert ex.mark() == 250_000
        maker, taker = ex.trader(), ex.trader()
        maker.submit(SELL, 10, 250_000)
        await ex.advance(1)
        taker.submit(BUY, 10, order_type=MARKET)
        await ex.advance(1)
        fills = ex.events("FILL", where=lambda s: s.at > 4 * S)
        assert len(fills) == 1 and fills[0].at > 4 * S
