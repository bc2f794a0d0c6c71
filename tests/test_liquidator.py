"""The liquidator actor on its own: what it asks for when its view of the fund is stale.

Its requests take ``latency`` to arrive and it may send one every ``interval``; with the
latency beyond the interval several are in flight at once, all decided on the same risk
update.  Work-out slices reserve their worst case from the fund's cash until their own
events are back, and none is priced while a takeover that will move the fund's entry is
in flight (``tests/test_waterfall_properties.py`` runs whole crashes like that).
"""

from __future__ import annotations

from core_helpers import C, lots, px, usd

from exsim.actors.latency import Constant
from exsim.actors.liquidator import Liquidator
from exsim.actors.messages import Events, Liquidate, RiskUpdate, Submit
from exsim.actors.network import Network
from exsim.core.events import ACCEPTED, CANCELLED, FILL
from exsim.core.liquidation import FUND
from exsim.core.orders import IOC, SELL

COST = C.notional(px(28500), lots(1))  # the fund is long 1 BTC from 28,500


def liquidator() -> Liquidator:
    """A liquidator whose requests go to an exchange (actor 0) that drops them."""
    net = Network(1, Constant(1))
    net.attach(0, lambda batch: None)
    return Liquidator(net, 4, 0, 1, k=[C.k], interval_ns=1, slice_lots=lots("0.5"),
                      first="takeover",
                      tolerance=0.02, adl_policy="bitmex", last_step="none",
                      taker_fee_ppm=[500])


def update(takeovers: int = 0, qty: int = lots(1), cost: int = COST) -> RiskUpdate:
    return RiskUpdate(0, [px(28500)], [], [FUND], [qty], [cost], [usd(100)],
                      takeovers=[takeovers])


def test_slices_in_flight_never_together_spend_more_than_the_funds_cash() -> None:
    """100 of cash, tolerance 2%, slices of 0.5 BTC, fee 0.05%.  The first may sell down to
    28,500 - (100 - 0.5 x 29,070 x 0.0005) / 0.5 = 28,314.535 (28,314.6 on the tick): at
    worst it loses 92.70 and pays 7.07865, 99.77865 of the 100.  The second, asked on the
    same update, finds 0.22135 left: it may only sell where that pays its fee,
    28,500 + (7.2675 - 0.22135) / 0.5 = 28,514.09 (28,514.1), at worst 0.078525.  Each
    used to be priced against the whole 100.  The first is served with a fill: its reserve
    goes at the next update, whose cash shows the fill; the second without: at once."""
    liq = liquidator()
    liq.latest = update()
    first, second = liq._next_request(), liq._next_request()
    assert isinstance(first, Submit) and isinstance(second, Submit)
    assert (first.side, first.qty, first.tif, first.reduce_only) == (SELL, lots("0.5"), IOC, True)
    assert (first.price, second.price) == (px("28314.6"), px("28514.1"))
    worst = {oid: draw for oid, (_, draw) in liq.reserved.items()}
    assert worst == {1: usd("99.77865"), 2: usd("0.078525")}
    assert sum(worst.values()) <= usd(100)
    # the first is served: its events arrive, then the update that shows its fill
    half = lots("0.25")
    liq.on_batch([Events(1, [
        (ACCEPTED, 0, 1, FUND, SELL, first.price, first.qty, 0, 1, 6),
        (FILL, 0, px(28400), half, 1, FUND, SELL, 99, 5, 0, 0, -usd(25), 0),
        (CANCELLED, 0, 1, FUND, first.qty - half, 1)])])
    assert {1, 2} <= set(liq.reserved)  # not before the update that shows its cash
    liq.on_batch([update(qty=lots(1) - half, cost=COST - C.notional(px(28500), half))])
    assert 1 not in liq.reserved and 2 in liq.reserved
    liq.on_batch([Events(2, [(ACCEPTED, 0, 2, FUND, SELL, second.price, second.qty, 0, 1, 6),
                             (CANCELLED, 0, 2, FUND, second.qty, 1)])])
    assert 2 not in liq.reserved


def test_no_slice_is_priced_while_a_takeover_is_in_flight() -> None:
    """A takeover sent but not yet shown in ``RiskUpdate.takeovers`` will move the fund's
    entry before a slice sent after it is served (requests are served in order): the
    liquidator waits for the update that shows it."""
    liq = liquidator()
    liq.latest = update()
    liq.queued[0].append(7)
    liq.pending.add((7, 0))
    assert liq._next_request() == Liquidate(7, 0, FUND)
    assert liq._next_request() is None  # the fund's position is about to change
    liq.latest = update(takeovers=1, qty=lots(2), cost=COST + C.notional(px(28000), lots(1)))
    order = liq._next_request()
    assert isinstance(order, Submit) and order.qty == lots("0.5")
