"""A user's bot through a flash crash, in about ten lines."""

from my_bots import DipBuyer


async def test_dip_buyer_survives_a_25_percent_crash(exsim_exchange):
    ex = exsim_exchange
    ex.add_agents("market_maker", count=3, deposit=1_000_000)
    [bot] = ex.add_agents(DipBuyer, deposit=5_000, leverage=5)
    await ex.advance(60)
    ex.index.crash(drop=0.25, over=120, recover=0.6, recover_over=300)
    await ex.advance(600)
    assert ex.events("FILL", party=bot.account)          # it bought the dip ...
    assert not ex.events("LIQUIDATION", acct=bot.account)  # ... and was never liquidated
    assert ex.equity(bot.account) > 0
    ex.assert_invariants()
