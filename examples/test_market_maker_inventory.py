"""A market maker's inventory limit holds while a seller keeps hitting its bids.

The built-in market maker stops bidding once it holds ``max_inventory_lots``;
a bid already resting (and the one replacing it while the cancel travels) can
still fill, so the bound is the limit plus two quotes.
"""

import pytest

from exsim.core.orders import MARKET, SELL

LIMIT, QUOTE = 100, 20


@pytest.mark.exsim(config={"exchange": {"latency": {"kind": "constant", "ms": 5}}})
async def test_inventory_stays_within_the_limit(exsim_exchange):
    ex = exsim_exchange
    [mm] = ex.add_agents("market_maker", deposit=100_000,
                         params={"max_inventory_lots": LIMIT, "quote_lots": QUOTE})
    seller = ex.trader(deposit=1_000_000)
    ex.index.ramp(27_000, over=300)               # a slow slide: the seller keeps selling
    worst = 0
    for _ in range(150):
        seller.submit(SELL, 50, order_type=MARKET)
        await ex.advance(2)
        worst = max(worst, ex.position(mm.account))
    assert LIMIT <= worst <= LIMIT + 2 * QUOTE     # it reached its limit and stopped there
    assert mm.position[0] == ex.position(mm.account)  # its own view matches the exchange
    ex.assert_invariants()
