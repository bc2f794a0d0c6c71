"""A tradable symbol: its static specification and its live market state.

:class:`SymbolSpec` is what a config states (grid, fees, margin brackets,
market-order band); it is frozen and validated once.  :class:`Market` is the
engine's mutable per-symbol state: the spec's numbers unpacked into plain int
attributes for the hot path, the order book and the current mark price.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from exsim.core.book import OrderBook
from exsim.core.margin import Tier, make_brackets
from exsim.core.units import PPM, LinearContract, rate_ppm

# Binance BTCUSDT brackets of 2021-03-18 (../shared/reference/mechanics.md 2.1), in USDT.
BINANCE_BTCUSDT_2021: tuple[tuple[int, str, int], ...] = (
    (0, "0.004", 125),
    (50_000, "0.005", 100),
    (250_000, "0.01", 50),
    (1_000_000, "0.025", 20),
    (10_000_000, "0.05", 10),
    (20_000_000, "0.10", 5),
    (50_000_000, "0.125", 4),
    (100_000_000, "0.15", 3),
    (200_000_000, "0.25", 2),
    (300_000_000, "0.50", 1),
)


class SymbolError(ValueError):
    """A symbol specification that cannot be traded."""


def brackets_from_quote(contract: LinearContract,
                        rows: Sequence[tuple[object, object, object]]) -> tuple[Tier, ...]:
    """Brackets from ``(notional_floor_in_quote, mmr_decimal, max_leverage)`` rows.

    The leverage must be an int (not a bool, not a float such as 12.7 or 12.0): it is
    checked here, as plain Python, so that the interpreted core and the compiled one
    (whose native ``int`` would raise ``TypeError`` where ``int()`` truncates) refuse
    the same rows with the same :class:`SymbolError`.
    """
    out: list[tuple[int, int, int]] = []
    for i, (floor, mmr, lev) in enumerate(rows):
        if isinstance(lev, bool) or not isinstance(lev, int):
            raise SymbolError(f"tier {i + 1}: max leverage must be an integer, got {lev!r}")
        out.append((contract.cash_to_atoms(floor), rate_ppm(mmr, f"tier {i + 1} mmr"), lev))
    return make_brackets(out)


@attrs.frozen
class SymbolSpec:
    """Static description of a linear perpetual.

    Fees are ppm of notional (a negative maker fee is a rebate); ``market_band``
    is the price-protection band of market orders in ppm of the mark (``None``:
    no band); ``default_leverage`` applies to a position until its account sets
    another.
    """

    name: str
    contract: LinearContract
    brackets: tuple[Tier, ...]
    maker_fee: int = 200
    taker_fee: int = 500
    market_band: int | None = 50_000
    default_leverage: int = 20

    def __attrs_post_init__(self) -> None:
        if not self.name:
            raise SymbolError("symbol name must not be empty")
        if self.taker_fee < 0:
            raise SymbolError(f"{self.name}: taker fee must be >= 0")
        if self.maker_fee + self.taker_fee < 0:
            raise SymbolError(
                f"{self.name}: maker rebate larger than the taker fee would drain the fee pool"
            )
        if self.maker_fee >= PPM or self.taker_fee >= PPM:
            raise SymbolError(f"{self.name}: fees must be below 100%")
        if self.market_band is not None and not 0 < self.market_band < PPM:
            raise SymbolError(f"{self.name}: market band must be in (0, 1)")
        if not 1 <= self.default_leverage <= self.brackets[0].max_leverage:
            raise SymbolError(
                f"{self.name}: default leverage must be in [1, {self.brackets[0].max_leverage}]"
            )

    @property
    def max_leverage(self) -> int:
        return self.brackets[0].max_leverage


def example_spec(name: str = "BTCUSDT") -> SymbolSpec:
    """A BTCUSDT-like symbol: tick 0.1, lot 0.001, atom 1e-8 USDT, Binance 2021 brackets."""
    contract = LinearContract("0.1", "0.001", "0.00000001")
    return SymbolSpec(name, contract, brackets_from_quote(contract, BINANCE_BTCUSDT_2021))


class Market:
    """Live state of one symbol inside the engine (hot-path friendly plain attributes)."""

    __slots__ = (
        "band",
        "book",
        "brackets",
        "fees_exact",
        "index",
        "k",
        "maker_fee",
        "maker_per_ticklot",
        "mark",
        "name",
        "spec",
        "taker_fee",
        "taker_per_ticklot",
        "tier1_cap",
        "tier1_lev",
    )

    def __init__(self, index: int, spec: SymbolSpec) -> None:
        self.index = index
        self.spec = spec
        self.name = spec.name
        self.k = spec.contract.k
        self.brackets = spec.brackets
        # the first bracket, for the common case of a position that fits in it
        self.tier1_cap = spec.brackets[1].floor if len(spec.brackets) > 1 else 1 << 126
        self.tier1_lev = spec.brackets[0].max_leverage
        self.maker_fee = spec.maker_fee
        self.taker_fee = spec.taker_fee
        # A fee is ceil(price x qty x k x rate / PPM) atoms.  When k x rate is a whole
        # multiple of PPM for both fees (k = 10,000 at 0.05% and 0.02%: 5 and 2 atoms
        # per tick-lot), it is one exact multiplication by these.
        taker, taker_rest = divmod(self.k * spec.taker_fee, PPM)
        maker, maker_rest = divmod(self.k * spec.maker_fee, PPM)
        self.fees_exact = taker_rest == 0 and maker_rest == 0
        self.taker_per_ticklot = taker
        self.maker_per_ticklot = maker
        self.band = spec.market_band
        self.book = OrderBook()
        self.mark: int | None = None
