"""Who is liquidatable, and an index that finds them in O(log n + k) at a new mark.

A position is liquidatable when the margin behind it is below its maintenance
margin at the mark (never at the last trade): for an isolated position its own
margin plus its unrealized PnL, for cross positions the wallet plus all cross
unrealized PnL against all cross maintenance margin.

:class:`LiquidationIndex` keeps, per symbol, longs and shorts sorted by their
liquidation price, so that a mark update asks for exactly the positions it
crossed.  For a cross account with several symbols, a position's liquidation
price assumes the other marks stay where they were; the liquidator re-checks
every candidate with :func:`is_liquidatable` and refreshes entries whenever a
position or a mark changes, so a stale entry can only delay, never invent, a
liquidation.

How much one liquidation step takes, and who keeps the margin of the part it
takes, are :class:`LiquidationRules` (see :meth:`exsim.core.engine.ExchangeCore.liquidate`
for how a step moves the cash): :func:`step_lots` sizes a step, :func:`liquidation_fee`
splits the liquidated part's remaining margin between the taker-over and the trader.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from sortedcontainers import SortedList

from exsim.core.accounts import Account, Position
from exsim.core.margin import Tier, maintenance_margin
from exsim.core.symbols import Market
from exsim.core.units import PPM, ceil_div

FUND = -1
"""Account id of the insurance fund: its wallet is the fund's cash, its positions
are those it took over from liquidated accounts."""

VAULT = -2
"""Account id of the backstop vault (Hyperliquid's liquidator vault, FTX's backstop
providers): when the waterfall has a ``backstop`` step it takes positions over
before the insurance fund, and holds them on its own capital."""

SHARED, PER_SYMBOL = "shared", "per_symbol"
FUND_SCOPES = (SHARED, PER_SYMBOL)
"""Which insurance fund covers a symbol: one fund for every symbol (``shared``, Binance's
common fund, dYdX v4's cross perps), or one fund per symbol (``per_symbol``: Binance's
BTCUSDT and ETHUSDT in 2019, Bybit's isolated pools, dYdX's isolated perps; mechanics.md
4.3)."""


def fund_account(sym: int, scope: str = SHARED) -> int:
    """The account id of the insurance fund that covers symbol ``sym`` (an index).

    Every fund is an ordinary account with a negative id, like the vault: its wallet
    is its cash, its positions those it took over, so conservation and the events
    need no special case.  Shared: :data:`FUND` (-1) for every symbol.  Per symbol:
    :data:`FUND` stays symbol 0's fund and the others count down below the vault,
    ``VAULT - sym`` (-3 for symbol 1, -4 for symbol 2, ...).  Negative ids are the
    exchange's own accounts (funds and vault): a trader's id is never negative
    (:meth:`~exsim.core.engine.ExchangeCore.deposit` refuses one).
    """
    if scope not in FUND_SCOPES:
        raise ValueError(f"fund scope must be one of {FUND_SCOPES}, got {scope!r}")
    return FUND if scope == SHARED or sym == 0 else VAULT - sym


LIQUIDATION_ORDER = 1 << 62
"""Bit set in the order id of a liquidation order the core sends to the book (the
taker-over's reduce-only IOC right after a takeover): its fills are the part of a
liquidation that the market absorbed.  Agents' order ids stay below it (``id << 32 | n``)."""


def liquidation_order_limit(held: int, cost: int, lots: int, at: int, k: int,
                            taker_fee: int, tolerance: int, budget: int) -> int:
    """The limit of a liquidation order closing ``lots`` of a position of ``held`` lots
    (signed) and cost basis ``cost`` (atoms), taken over at ``at`` (ticks).

    At most ``tolerance`` (ppm of ``at``) worse than ``at``, and no worse than where
    the fill's loss against the position's cost basis plus its taker fee (``taker_fee``
    ppm) could exceed ``budget`` atoms, as clearing computes them
    (:func:`~exsim.core.clearing.apply_trade`): so the fund's cash pays the
    difference, never more than it has.  With no budget for the fee it asks for a
    better price than ``at`` (as the liquidator's work-out slices do).  Exact integers.

    For a sale at ``L``: the loss is ``removed - lots L k``, the fee at most
    ``lots L k f + 1`` (f = fee / PPM, rounded up; exactly 0 without a fee), so
    ``L >= (removed + 1 - budget) / (lots k (1 - f))`` keeps their sum within the
    budget; a buy-back mirrors it.
    """
    closing = -lots if held > 0 else lots
    removed = -((cost * closing) // held)  # the cost basis the lots take with them
    unit = lots * k
    rounding = 1 if taker_fee else 0  # a fee is rounded up by less than one atom
    if held > 0:  # sell: no lower than this
        by_budget = ceil_div((removed + rounding - budget) * PPM, unit * (PPM - taker_fee))
        return max(1, at - at * tolerance // PPM, by_budget)
    by_budget = (budget - rounding - removed) * PPM // (unit * (PPM + taker_fee))  # buy
    return max(1, min(at + at * tolerance // PPM, by_budget))


FULL, TIERS, FRACTION = "full", "tiers", "fraction"
MODES = (FULL, TIERS, FRACTION)
"""How much of a position one liquidation step takes: all of it (Binance, BitMEX), down
to the next lower maintenance bracket (Bybit's risk-limit step-down, mechanics.md 3.4), or
at most a fraction of it (dYdX v4, 7.1)."""

ALL_TO_FUND, CAPPED, NO_FEE = "all_to_fund", "capped", "none"
FEE_POLICIES = (ALL_TO_FUND, CAPPED, NO_FEE)
"""Who keeps the liquidated part's remaining margin (its equity at the mark): the
taker-over, all of it (Binance, BitMEX); the taker-over up to ``fee_cap`` of the
liquidated notional and the trader the rest (dYdX v4); the trader (Hyperliquid's book
liquidations, mechanics.md 3.8)."""


@attrs.frozen
class LiquidationRules:
    """How one liquidation step is sized and who keeps the liquidated part's margin.

    All integers: ``max_fraction`` and ``fee_cap`` in ppm, ``min_step`` and
    ``max_step`` in atoms of notional at the mark (``max_step`` 0: no cap).  The
    sizes apply to ``mode == "fraction"``, ``fee_cap`` to ``fee_policy ==
    "capped"``.  The defaults are the full takeover with everything to the fund.
    """

    mode: str = FULL
    max_fraction: int = PPM
    min_step: int = 0
    max_step: int = 0
    fee_policy: str = ALL_TO_FUND
    fee_cap: int = 0
    # the last step (exsim.core.deleverage): when ADL may run, how much it closes, and
    # Binance's cap on the fund's position (atoms of notional at the mark; 0: none)
    adl_trigger: str = "mtm"
    adl_sizing: str = "fund_first"
    max_fund_notional: int = 0
    # the backstop vault takes over only what leaves its equity at the mark at least
    # this share (ppm) of its positions' notional; the rest goes to the fund
    vault_haircut: int = 0
    # a socializing last step (clawback, oi_funding): the fund books realised losses
    # beyond its cash (bad debt paid in full, liquidation orders priced by the budget the
    # liquidator gives), and a round collects that booked deficit, never an unrealized one
    book_deficits: bool = False

    def __attrs_post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"liquidation mode must be one of {MODES}, got {self.mode!r}")
        if self.fee_policy not in FEE_POLICIES:
            raise ValueError(f"fee policy must be one of {FEE_POLICIES}, got {self.fee_policy!r}")
        if not 0 < self.max_fraction <= PPM:
            raise ValueError(f"max_fraction must be in (0, {PPM}] ppm, got {self.max_fraction}")
        if self.min_step < 0 or self.max_step < 0:
            raise ValueError("step notionals must be >= 0")
        if self.max_step and self.min_step > self.max_step:
            raise ValueError("min_step must not exceed max_step")
        if not 0 <= self.fee_cap <= PPM:
            raise ValueError(f"fee_cap must be in [0, {PPM}] ppm, got {self.fee_cap}")
        if self.adl_trigger not in ("mtm", "realised"):
            raise ValueError(f"adl trigger must be 'mtm' or 'realised', got {self.adl_trigger!r}")
        if self.adl_sizing not in ("fund_first", "all", "pro_rata"):
            raise ValueError("adl sizing must be 'fund_first', 'all' or 'pro_rata', got "
                             f"{self.adl_sizing!r}")
        if self.max_fund_notional < 0 or not 0 <= self.vault_haircut < PPM:
            raise ValueError("max_fund_notional must be >= 0, vault_haircut in [0, 1)")


def step_lots(rules: LiquidationRules, lots: int, mark: int, k: int,
              brackets: Sequence[Tier]) -> int:
    """How many of a position's ``lots`` (unsigned) one liquidation step takes at ``mark``.

    * ``full``: all of them.
    * ``tiers``: the fewest that bring the notional at the mark below the floor of
      its maintenance bracket, i.e. into the next lower one (Bybit's "notional above
      that lower tier's limit"); in the first bracket, all of them.
    * ``fraction``: ``max_fraction`` of the lots, rounded down, at most ``max_step``
      of notional; but at least ``min_step`` of notional (rounded up to a lot) and
      one lot, so that a small position goes at once and every step makes progress
      (dYdX's portion per block, block limit and minimum notional).

    Never more than ``lots``; at least 1 for a non-empty position.
    """
    if lots <= 0:
        return 0
    unit = mark * k  # atoms of notional per lot at the mark
    if rules.mode == FULL or unit <= 0:
        return lots
    if rules.mode == TIERS:
        notional = lots * unit
        floor = 0
        for t in brackets:  # the floor of the bracket the notional is in
            if t.floor > notional:
                break
            floor = t.floor
        if floor == 0:
            return lots
        keep = (floor - 1) // unit  # the most lots whose notional is below that floor
        return lots - keep
    take = lots * rules.max_fraction // PPM
    if rules.max_step:
        take = min(take, rules.max_step // unit)
    take = max(take, ceil_div(rules.min_step, unit), 1)
    return min(take, lots)


def liquidation_fee(rules: LiquidationRules, excess: int, notional: int) -> int:
    """Atoms of a liquidated part's remaining margin that go to the taker-over.

    ``excess`` is that margin (the part's equity at the mark, atoms), ``notional``
    the part's notional at the mark.  ``all_to_fund``: all of it; ``capped``: at
    most ``fee_cap`` of the notional (rounded up, like every fee), dYdX's
    ``min(leftover, cap x |fill quote|)``; ``none``: nothing.  Never negative:
    a part closed beyond its bankruptcy price has no margin left, and its loss
    is the taker-over's through the price it took the part at.
    """
    if excess <= 0 or rules.fee_policy == NO_FEE:
        return 0
    if rules.fee_policy == CAPPED:
        return min(excess, ceil_div(notional * rules.fee_cap, PPM))
    return excess


def is_liquidatable(acct: Account, pos: Position, markets: Sequence[Market]) -> bool:
    """Is the margin behind ``pos`` below its maintenance margin at the marks?"""
    if not pos.qty:
        return False
    m = markets[pos.sym]
    if m.mark is None:
        return False
    if pos.isolated:
        equity = pos.margin + pos.upnl(m.mark, m.k)
        return equity < maintenance_margin(m.brackets, abs(pos.qty) * m.mark * m.k)
    equity = acct.wallet
    required = 0
    for p in acct.positions.values():
        if p.isolated or not p.qty:
            continue
        pm = markets[p.sym]
        if pm.mark is None:
            continue
        equity += p.upnl(pm.mark, pm.k)
        required += maintenance_margin(pm.brackets, abs(p.qty) * pm.mark * pm.k)
    return equity < required


class LiquidationIndex:
    """Positions of one symbol sorted by liquidation price (ticks), per side."""

    def __init__(self) -> None:
        self._longs: SortedList = SortedList()  # (liq price, acct): hit when mark <= price
        self._shorts: SortedList = SortedList()  # hit when mark >= price
        self._where: dict[int, tuple[bool, int]] = {}  # acct -> (is_long, liq price)

    def __len__(self) -> int:
        return len(self._where)

    def update(self, acct: int, qty: int, liq_price: int | None) -> None:
        """Record an account's position (``qty`` signed lots) and its liquidation price."""
        self.remove(acct)
        if qty and liq_price is not None:
            side = self._longs if qty > 0 else self._shorts
            side.add((liq_price, acct))
            self._where[acct] = (qty > 0, liq_price)

    def remove(self, acct: int) -> None:
        where = self._where.pop(acct, None)
        if where is not None:
            (self._longs if where[0] else self._shorts).remove((where[1], acct))

    def crossed(self, mark: int) -> list[int]:
        """Accounts whose liquidation price the mark has reached, in price order."""
        longs = [a for _, a in self._longs.irange((mark, -(1 << 62)), None)]
        shorts = [a for _, a in self._shorts.irange(None, (mark, 1 << 62))]
        return longs + shorts
