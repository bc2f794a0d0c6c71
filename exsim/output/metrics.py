"""Waterfall metrics from the event log: liquidations, fund flows, ADL, and their invariants.

:func:`payments_by_flat` replays positions from the log and finds any account that paid
by a symbol it held nothing in (the ``flat_accounts_never_pay`` invariant).

The fund is reconciled from events alone: its cash moves only by seeds,
leftover margin and bad debt it pays (``FUND``), takeovers that close part of
a position it held (``LIQUIDATION``), its own fills (realized PnL minus fees),
ADL executions (its realized PnL), socialized loss collected from traders, and
funding on the positions it holds.

With per-symbol funds (``funds``: the fund account behind each symbol, as
:attr:`exsim.core.engine.ExchangeCore.fund_ids`), each fund is reconciled on its
own: an event moves the fund named in it (a fill, takeover or funding payment of
a fund account, a seed) or else the fund of its symbol (a fee, bad debt, an ADL
execution, socialized loss).  The totals are the sum over the funds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from exsim.core.events import (
    ADL,
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
from exsim.core.liquidation import FUND as FUND_ID


def _fund_moves(e: Event, fund_of: Sequence[int] | None, house: frozenset[int]
                ) -> tuple[int, int]:
    """``(fund account, cash delta)`` of one event (delta 0: the funds do not move)."""
    kind = e[0]
    if kind == FUND:
        fund = e[2] if e[2] in house else (FUND_ID if fund_of is None else fund_of[e[1]])
        return fund, e[3]
    if kind == FILL:
        delta = 0
        fund = FUND_ID
        if e[5] in house:
            fund = e[5]
            delta += e[11] - e[9]
        if e[8] in house:
            fund = e[8]
            delta += e[12] - e[10]
        return fund, delta
    if kind in (ADL, SOCIALIZED):
        return (FUND_ID if fund_of is None else fund_of[e[1]]), (e[6] if kind == ADL else e[3])
    if kind == FUNDING and e[2] in house:
        return e[2], e[3]
    if kind == SETTLEMENT and e[2] in house:
        return e[2], e[3]  # the fund's loss (or gain) booked at a settlement
    if kind == LIQUIDATION and e[7] in house:
        return e[7], e[8]  # the fund closing part of a position it held
    return FUND_ID, 0


def waterfall(log: Iterable[tuple[int, Event]], cash_atom: float,
              funds: Sequence[int] | None = None) -> dict[str, Any]:
    """Counts and amounts (quote currency) of the liquidation waterfall in a run's log.

    ``insurance_fund.start`` is the funds' total after the setup at t = 0 (their
    seeds); ``min`` the lowest the total was at the end of an instant afterwards (an
    atomic request that books a deficit and collects it, a settlement and its round, is
    not a dip).  ``funds`` maps each
    fund account to the same figures for that fund alone (``end_atoms``: its cash
    in atoms, to reconcile with its wallet).
    """
    house = frozenset(funds) if funds is not None else frozenset((FUND_ID,))
    cash = {f: 0 for f in (dict.fromkeys(funds) if funds is not None else (FUND_ID,))}
    total = 0
    start: dict[int, int] | None = None
    low: dict[int, int] = {}
    total_start = total_low = 0
    liquidations = adl_events = vault_takeovers = 0
    draws: list[int] = []
    contributions = socialized = 0
    prev_at = 0

    def settle_lows() -> None:  # the funds at the end of the instant just over
        nonlocal total_low
        for f, c in cash.items():
            if c < low[f]:
                low[f] = c
        total_low = min(total_low, total)

    for at, e in log:
        if at > 0 and start is None:
            start, low = dict(cash), dict(cash)
            total_start = total_low = total
        elif at != prev_at and start is not None:
            settle_lows()
        prev_at = at
        kind = e[0]
        fund, delta = _fund_moves(e, funds, house)
        if kind == FUND:
            if e[2] not in house:  # a liquidated account's leftover margin, or bad debt paid
                if delta > 0:
                    contributions += delta
                else:
                    draws.append(-delta)
        elif kind == FILL:
            if delta < 0:
                draws.append(-delta)
            else:
                contributions += delta
        elif kind == ADL:
            adl_events += 1
        elif kind == LIQUIDATION:
            liquidations += 1
            if e[7] not in house:
                vault_takeovers += 1
        elif kind == SOCIALIZED:
            socialized += e[3]
        if delta:
            cash[fund] += delta
            total += delta
    if start is None:
        start, low = dict(cash), dict(cash)
        total_start = total_low = total
    settle_lows()
    return {
        "liquidations": liquidations,
        "fund_draws": len(draws),
        "fund_drawn": sum(draws) * cash_atom,
        "fund_contributions": contributions * cash_atom,
        "adl_events": adl_events,
        "vault_takeovers": vault_takeovers,
        "socialized_loss": socialized * cash_atom,
        "insurance_fund": {"start": total_start * cash_atom, "end": total * cash_atom,
                           "min": total_low * cash_atom, "end_atoms": total},
        "funds": {f: {"start": start[f] * cash_atom, "end": cash[f] * cash_atom,
                      "min": low[f] * cash_atom, "end_atoms": cash[f]} for f in cash},
    }


def overcharged_rounds(log: Iterable[tuple[int, Event]], funds: Sequence[int] | None = None
                       ) -> list[tuple[int, int]]:
    """Socialized-loss rounds that collected more than the fund's booked deficit.

    A round is the SOCIALIZED events of one fund at one instant; it may collect at most
    what the fund's cash was below zero when it began (each share is rounded up: one
    atom per payer more at most).  The fund's cash is replayed from the log alone
    (:func:`_fund_moves`).  Returns ``(time ns, atoms over)`` per offending round."""
    house = frozenset(funds) if funds is not None else frozenset((FUND_ID,))
    cash: dict[int, int] = {}
    rounds: dict[tuple[int, int], list[int]] = {}  # (at, fund) -> [deficit, taken, payers]
    for at, e in log:
        fund, delta = _fund_moves(e, funds, house)
        if e[0] == SOCIALIZED:
            key = (at, fund)
            if key not in rounds:
                rounds[key] = [max(0, -cash.get(fund, 0)), 0, 0]
            rounds[key][1] += e[3]
            rounds[key][2] += 1
        if delta:
            cash[fund] = cash.get(fund, 0) + delta
    return [(at, taken - deficit) for (at, _), (deficit, taken, payers) in rounds.items()
            if taken > deficit + payers]


def payments_by_flat(log: Iterable[tuple[int, Event]], funds: Sequence[int] | None = None
                     ) -> list[tuple[int, Event]]:
    """Events in which an account pays by a symbol it held no position in just before.

    Positions are replayed from the log itself (fills, takeovers, ADL), not taken from
    the core.  A payment is a funding payment (< 0), a takeover of the account's
    position (LIQUIDATION), an ADL close, a share of socialized loss, or a liquidation
    fee (a trader's FUND or VAULT_TRANSFER > 0), which must come right after the
    takeover of that account's position in that symbol: the position it is paid for is
    the one held before the takeover.  ``funds`` names the fund behind each symbol (the
    ADL counterparty), as in :func:`waterfall`.  Empty when nobody flat ever paid.
    """
    held: dict[tuple[int, int], int] = {}
    out: list[tuple[int, Event]] = []
    fee_for: tuple[int, int] | None = None  # (acct, sym) of the takeover just before
    for at, e in log:
        kind = e[0]
        takeover = fee_for
        fee_for = None
        if kind == FILL:
            sym, dq = e[1], (e[3] if e[6] == 0 else -e[3])
            held[(e[5], sym)] = held.get((e[5], sym), 0) + dq
            held[(e[8], sym)] = held.get((e[8], sym), 0) - dq
        elif kind in (LIQUIDATION, ADL):
            key = (e[2], e[1])
            if held.get(key, 0):
                if kind == LIQUIDATION:
                    fee_for = key
            else:
                out.append((at, e))
            taker = e[7] if kind == LIQUIDATION else (
                FUND_ID if funds is None else funds[e[1]])
            held[key] = held.get(key, 0) - e[3]
            held[(taker, e[1])] = held.get((taker, e[1]), 0) + e[3]
        elif kind in (FUNDING, SOCIALIZED):
            paid = e[3] < 0 if kind == FUNDING else e[3] > 0
            if paid and not held.get((e[2], e[1]), 0):
                out.append((at, e))
        elif (kind in (FUND, VAULT_TRANSFER) and e[2] >= 0 and e[3] > 0
              and takeover != (e[2], e[1])):  # a trader's fee, but not for a takeover
            out.append((at, e))
    return out


class _Points(list[tuple[int, int, float]]):
    """A series that hands each point to a sink instead of keeping it."""

    def __init__(self, name: str, sink: Callable[[str, int, int, float], None]) -> None:
        super().__init__()
        self.name, self.sink = name, sink

    def append(self, point: tuple[int, int, float]) -> None:
        self.sink(self.name, *point)


def series(log: Iterable[tuple[int, Event]], k: list[int], cash_atom: float,
           tick: list[float], lot: list[float], funds: Sequence[int] | None = None,
           sink: Callable[[str, int, int, float], None] | None = None,
           spot_tick: Sequence[float] = ()) -> dict[str, list[tuple[int, int, float]]]:
    """Time series for plots, as ``(time ns, sym, value)`` rows in quote units.

    ``mark``, ``index`` (the index each mark was made from), ``last`` (trade prices;
    ``spot_last`` for the spot venues, symbols after the perpetuals, whose tick sizes are
    ``spot_tick``), ``fund`` (the funds' total cash, sym -1), ``oi``
    (open interest in base units), ``fund_to_oi`` (that cash over open-interest notional
    at each mark, sym -1), ``liquidation``/``adl`` (1 per event), ``draw``/``contribution``
    (fund cash flows); with per-symbol funds (``funds`` as in :func:`waterfall`, more
    than one), also ``symbol_fund``: each symbol's fund's cash, under its symbol.
    With ``sink``, each point goes to ``sink(name, time, sym, value)`` as it is found and
    the lists stay empty: a long run's plots in bounded memory.
    """
    names = ["mark", "index", "last", "spot_last", "fund", "oi", "fund_to_oi", "liquidation",
             "adl", "draw", "contribution"]
    per_symbol = funds is not None and len(set(funds)) > 1
    if per_symbol:
        names.append("symbol_fund")
    out: dict[str, list[tuple[int, int, float]]] = {
        name: [] if sink is None else _Points(name, sink) for name in names}
    house = frozenset(funds) if funds is not None else frozenset((FUND_ID,))
    fund_cash: dict[int, int] = {}
    positions: dict[tuple[int, int], int] = {}
    oi = [0] * len(k)
    marks: list[int | None] = [None] * len(k)
    cash = 0

    def move(acct: int, sym: int, dq: int) -> None:
        old = positions.get((acct, sym), 0)
        new = old + dq
        positions[(acct, sym)] = new
        oi[sym] += max(new, 0) - max(old, 0)

    for at, e in log:
        kind = e[0]
        if kind == MARK:
            marks[e[1]] = e[2]
            out["mark"].append((at, e[1], e[2] * tick[e[1]]))
            if e[3]:
                out["index"].append((at, e[1], e[3] * tick[e[1]]))
            notional = sum(oi[s] * (marks[s] or 0) * k[s] for s in range(len(k)))
            if notional > 0:
                out["fund_to_oi"].append((at, -1, cash / notional))
        elif kind == FILL:
            sym, price, qty = e[1], e[2], e[3]
            if sym >= len(k):  # a spot venue: its price, no open interest
                out["spot_last"].append((at, sym, price * spot_tick[sym - len(k)]))
                continue
            dq = qty if e[6] == 0 else -qty
            move(e[5], sym, dq)
            move(e[8], sym, -dq)
            out["last"].append((at, sym, price * tick[sym]))
        elif kind == LIQUIDATION:
            move(e[2], e[1], -e[3])
            move(e[7], e[1], e[3])
            out["liquidation"].append((at, e[1], 1.0))
        elif kind == ADL:
            move(e[2], e[1], -e[3])
            move(FUND_ID if funds is None else funds[e[1]], e[1], e[3])
            out["adl"].append((at, e[1], 1.0))
        if kind in (FILL, LIQUIDATION, ADL):
            out["oi"].append((at, e[1], oi[e[1]] * lot[e[1]]))
        fund, delta = _fund_moves(e, funds, house)
        if delta:
            cash += delta
            out["fund"].append((at, -1, cash * cash_atom))
            if at > 0:
                out["draw" if delta < 0 else "contribution"].append(
                    (at, -1, abs(delta) * cash_atom))
            if per_symbol:
                assert funds is not None
                fund_cash[fund] = fund_cash.get(fund, 0) + delta
                for sym in (s for s, f in enumerate(funds) if f == fund):
                    out["symbol_fund"].append((at, sym, fund_cash[fund] * cash_atom))
    return out
