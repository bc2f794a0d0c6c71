"""When the insurance fund is empty, ADL closes the most leveraged winner first.

Two longs hold the same 1 BTC; one is backed by 700 USDT (50x allowed), the
other by 7,000 USDT (5x).  A short at 20x goes bankrupt in a 12% pump, the
empty fund takes its position over and finds no liquidity in the book, so the
fund's loss falls to ADL: the 50x long is closed, the 5x long is not.
"""

from exsim.core.orders import BUY, LIMIT, MARKET, SELL


async def test_50x_long_is_deleveraged_before_5x(exsim_exchange):
    ex = exsim_exchange
    hi = ex.trader(deposit=700, leverage=50)
    lo = ex.trader(deposit=7_000, leverage=5)
    victim = ex.trader(deposit=2_000, leverage=20)
    whale = ex.trader(deposit=100_000, leverage=5)
    one_btc, price = ex.lots("1"), ex.ticks("30000")
    victim.submit(SELL, one_btc, price, order_type=LIMIT)
    whale.submit(SELL, one_btc, price, order_type=LIMIT)
    await ex.advance(1)
    hi.submit(BUY, one_btc, order_type=MARKET)
    lo.submit(BUY, one_btc, order_type=MARKET)
    await ex.advance(1)
    assert hi.position[0] == lo.position[0] == one_btc

    ex.index.step(30000 * 1.12)                      # the pump
    adl = await ex.wait_adl(hi.account, timeout=60)  # simulated seconds

    assert adl["qty"] == one_btc                     # closed in full, at a profit
    assert adl["realized"] > 0
    assert ex.events("ADL", acct=lo.account) == []   # the 5x long keeps its position
    assert ex.position(lo.account) == one_btc
    assert ex.events("LIQUIDATION", acct=victim.account)
    assert ex.fund_balance >= 0
    ex.assert_invariants()
