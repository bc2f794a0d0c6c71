"""The exchange's own accounts through a run: the funds' and the vault's marked equity.

A fund's cash alone can look healthy while the positions it took over are worth far
less: a risk team needs its equity at the marks.  :func:`house_accounts` replays every
house account (the insurance funds and the backstop vault, negative ids) from the log
alone, with the core's own clearing (:func:`~exsim.core.clearing.apply_trade`) for their
positions, and reports per account its marked equity at the end of every instant: the
lowest, the last, and the longest time it spent below zero; and every ADL round checked
against the fund's equity just before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from exsim.core.accounts import Account, Position
from exsim.core.clearing import apply_trade
from exsim.core.events import (
    ADL,
    ADL_ROUND,
    FILL,
    FUND,
    FUNDING,
    LIQUIDATION,
    MARK,
    SETTLEMENT,
    SOCIALIZED,
    VAULT_TRANSFER,
    Event,
)
from exsim.core.liquidation import VAULT


@attrs.define
class HouseFigures:
    """One house account over the run (atoms; times in ns)."""

    lowest: int | None = None
    end: int = 0
    longest_below_zero: int = 0
    below_since: int | None = None


@attrs.define
class HouseReport:
    accounts: dict[int, HouseFigures]
    wallets: dict[int, int]  # replayed cash at the end, to reconcile with the core
    unexplained_adl: list[tuple[int, Event]]  # ADL not opened by a round of a short fund
    haircuts: dict[int, int]  # per deleveraged account: what closing at the ADL price
    #   rather than the mark cost it (atoms)
    shortfalls: list[int]  # per ADL round: the fund's deficit it opened with (atoms, >= 0)
    adl_notional: int  # sum of |lots| x price x k over ADL events (atoms)


def house_accounts(log: Iterable[tuple[int, Event]], k: Sequence[int],
                   funds: Sequence[int], cap: bool = False) -> HouseReport:
    """See the module docstring.  ``funds``: the fund behind each symbol; ``cap``: a
    position cap is configured (an ADL round may then open with the fund solvent)."""
    house = {f: Account(f) for f in (*dict.fromkeys(funds), VAULT)}
    marks: list[int | None] = [None] * len(k)
    figures = {a: HouseFigures() for a in house}
    unexplained: list[tuple[int, Event]] = []
    round_open: set[tuple[int, int]] = set()  # (instant, sym) with a valid ADL round
    haircuts: dict[int, int] = {}
    shortfalls: list[int] = []
    adl_notional = 0
    started = False
    prev_at = 0

    def pos(acct: int, sym: int) -> Position:
        p = house[acct].positions.get(sym)
        if p is None:
            p = house[acct].positions[sym] = Position(sym, 1)
        return p

    def equity(acct: int) -> int:
        a = house[acct]
        total = a.wallet
        for p in a.positions.values():
            mark = marks[p.sym]
            if p.qty and mark is not None:
                total += p.upnl(mark, k[p.sym])
        return total

    def settle(at: int) -> None:  # the end of the instant before ``at``
        for acct, f in figures.items():
            value = equity(acct)
            f.lowest = value if f.lowest is None else min(f.lowest, value)
            if value < 0 and f.below_since is None:
                f.below_since = prev_at
            elif value >= 0 and f.below_since is not None:
                f.longest_below_zero = max(f.longest_below_zero, at - f.below_since)
                f.below_since = None

    for at, e in log:
        if at != prev_at:
            if started:
                settle(at)
            prev_at = at
        started = started or at > 0
        kind = e[0]
        if kind == MARK and e[1] < len(k):
            marks[e[1]] = e[2]
        elif kind == FILL and e[1] < len(k):
            for acct, fee, side in ((e[5], e[9], 1), (e[8], e[10], -1)):
                if acct in house:
                    dq = e[3] if (e[6] == 0) == (side == 1) else -e[3]
                    apply_trade(house[acct], pos(acct, e[1]), dq, e[2], k[e[1]])
                    house[acct].wallet -= fee
        elif kind == LIQUIDATION and e[7] in house:
            if e[2] in house:  # the vault handing a position on to the fund
                apply_trade(house[e[2]], pos(e[2], e[1]), -e[3], e[4], k[e[1]])
            apply_trade(house[e[7]], pos(e[7], e[1]), e[3], e[4], k[e[1]])
        elif kind in (FUND, VAULT_TRANSFER):
            taker = e[2] if e[2] in house else (VAULT if kind == VAULT_TRANSFER
                                                else funds[e[1]] if e[1] >= 0 else funds[0])
            house[taker].wallet += e[3]
        elif kind == FUNDING and e[2] in house:
            house[e[2]].wallet += e[3]
        elif kind == SOCIALIZED:
            house[funds[e[1]]].wallet += e[3]
        elif kind == SETTLEMENT and e[2] in house:
            house[e[2]].wallet += e[3]
            pos(e[2], e[1]).cost += e[3]
        elif kind == ADL_ROUND:
            shortfalls.append(max(0, -e[3]))
            if e[3] < 0 or cap:
                # independently: the fund's equity at the marks just before it (the
                # ``mtm`` trigger's figure; a ``realised`` one values it lower or higher)
                round_open.add((at, e[1]))
        elif kind == ADL:
            if (at, e[1]) not in round_open:
                unexplained.append((at, e))
            mark, kk = marks[e[1]] or 0, k[e[1]]
            adl_notional += abs(e[3]) * e[4] * kk
            worse = (mark - e[4]) if e[3] > 0 else (e[4] - mark)  # a long sells at e[4]
            if worse > 0:
                haircuts[e[2]] = haircuts.get(e[2], 0) + abs(e[3]) * worse * kk
            apply_trade(house[funds[e[1]]], pos(funds[e[1]], e[1]), e[3], e[4], k[e[1]])
    settle(prev_at + 1)
    for acct, f in figures.items():
        f.end = equity(acct)
        if f.below_since is not None:
            f.longest_below_zero = max(f.longest_below_zero, prev_at - f.below_since)
    return HouseReport(figures, {a: acct.wallet for a, acct in house.items()}, unexplained,
                       haircuts, shortfalls, adl_notional)


def house_summary(report: HouseReport, cash_atom: float, present: Iterable[int]
                  ) -> dict[str, Any]:
    """The report's figures in quote currency, per account id (as strings, for JSON), for
    the house accounts ``present`` in the run."""
    present = frozenset(present)
    return {str(acct): {"equity_min": (f.lowest or 0) * cash_atom,
                        "equity_end": f.end * cash_atom,
                        "longest_below_zero_s": f.longest_below_zero / 1e9}
            for acct, f in report.accounts.items() if acct in present}


def gini(values: Sequence[int]) -> float | None:
    """Gini coefficient of non-negative amounts (0: equal shares; near 1: one pays all)."""
    xs = sorted(v for v in values if v > 0)
    n = len(xs)
    if not n:
        return None
    weighted = sum((2 * i - n + 1) * x for i, x in enumerate(xs))
    return weighted / (n * sum(xs))
