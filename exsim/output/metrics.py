"""Waterfall metrics from the event log: liquidations, fund flows, ADL, and their invariants.

The fund is reconciled from events alone: its cash moves only by seeds,
leftover margin and bad debt it pays (``FUND``), takeovers that close part of
a position it held (``LIQUIDATION``), its own fills (realized PnL minus fees),
ADL executions (its realized PnL), socialized loss collected from traders, and
funding on the positions it holds.
"""

from __future__ import annotations

from typing import Any

from exsim.core.events import ADL, FILL, FUND, FUNDING, LIQUIDATION, MARK, SOCIALIZED, Event
from exsim.core.liquidation import FUND as FUND_ID


def waterfall(log: list[tuple[int, Event]], cash_atom: float) -> dict[str, Any]:
    """Counts and amounts (quote currency) of the liquidation waterfall in a run's log.

    ``insurance_fund.start`` is the fund after the setup at t = 0 (its seed);
    ``min`` the lowest it went afterwards.
    """
    cash = 0
    start: int | None = None
    low: int | None = None
    liquidations = adl_events = vault_takeovers = 0
    draws: list[int] = []
    contributions = socialized = from_flat = 0
    for at, e in log:
        if at > 0 and start is None:
            start = low = cash
        kind = e[0]
        delta = 0
        if kind == FUND:
            delta = e[3]
            if e[2] != FUND_ID:  # a liquidated account's leftover margin, or bad debt paid
                if delta > 0:
                    contributions += delta
                else:
                    draws.append(-delta)
        elif kind == FILL:
            if e[5] == FUND_ID:
                delta += e[11] - e[9]
            if e[8] == FUND_ID:
                delta += e[12] - e[10]
            if delta < 0:
                draws.append(-delta)
            else:
                contributions += delta
        elif kind == ADL:
            adl_events += 1
            delta = e[6]
        elif kind == FUNDING and e[2] == FUND_ID:
            delta = e[3]
        elif kind == LIQUIDATION:
            liquidations += 1
            if e[7] != FUND_ID:
                vault_takeovers += 1
            else:
                delta = e[8]  # the fund closing part of a position it held
        elif kind == SOCIALIZED:
            delta = e[3]
            socialized += e[3]
            if e[4] == 0:
                from_flat += 1
        cash += delta
        if low is not None and cash < low:
            low = cash
    if start is None:
        start = low = cash
    assert low is not None
    return {
        "liquidations": liquidations,
        "fund_draws": len(draws),
        "fund_drawn": sum(draws) * cash_atom,
        "fund_contributions": contributions * cash_atom,
        "adl_events": adl_events,
        "vault_takeovers": vault_takeovers,
        "socialized_loss": socialized * cash_atom,
        "socialized_from_flat": from_flat,
        "insurance_fund": {"start": start * cash_atom, "end": cash * cash_atom,
                           "min": low * cash_atom, "end_atoms": cash},
    }


def series(log: list[tuple[int, Event]], k: list[int], cash_atom: float,
           tick: list[float], lot: list[float]) -> dict[str, list[tuple[int, int, float]]]:
    """Time series for plots, as ``(time ns, sym, value)`` rows in quote units.

    ``mark``, ``last`` (trade prices), ``fund`` (the fund's cash, sym -1), ``oi`` (open
    interest in base units), ``fund_to_oi`` (fund cash over open-interest notional at
    each mark, sym -1), ``liquidation``/``adl`` (1 per event), ``draw``/``contribution``
    (fund cash flows).
    """
    out: dict[str, list[tuple[int, int, float]]] = {
        name: [] for name in ("mark", "last", "fund", "oi", "fund_to_oi", "liquidation", "adl",
                              "draw", "contribution")}
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
        delta = 0
        if kind == MARK:
            marks[e[1]] = e[2]
            out["mark"].append((at, e[1], e[2] * tick[e[1]]))
            notional = sum(oi[s] * (marks[s] or 0) * k[s] for s in range(len(k)))
            if notional > 0:
                out["fund_to_oi"].append((at, -1, cash / notional))
        elif kind == FILL:
            sym, price, qty = e[1], e[2], e[3]
            dq = qty if e[6] == 0 else -qty
            move(e[5], sym, dq)
            move(e[8], sym, -dq)
            out["last"].append((at, sym, price * tick[sym]))
            if e[5] == FUND_ID:
                delta += e[11] - e[9]
            if e[8] == FUND_ID:
                delta += e[12] - e[10]
        elif kind == LIQUIDATION:
            move(e[2], e[1], -e[3])
            move(e[7], e[1], e[3])
            out["liquidation"].append((at, e[1], 1.0))
            if e[7] == FUND_ID:
                delta = e[8]
        elif kind == ADL:
            move(e[2], e[1], -e[3])
            move(FUND_ID, e[1], e[3])
            out["adl"].append((at, e[1], 1.0))
            delta = e[6]
        elif kind in (FUND, SOCIALIZED) or (kind == FUNDING and e[2] == FUND_ID):
            delta = e[3]
        if kind in (FILL, LIQUIDATION, ADL):
            out["oi"].append((at, e[1], oi[e[1]] * lot[e[1]]))
        if delta:
            cash += delta
            out["fund"].append((at, -1, cash * cash_atom))
            if at > 0:
                out["draw" if delta < 0 else "contribution"].append(
                    (at, -1, abs(delta) * cash_atom))
    return out
