"""Waterfall metrics from the event log: liquidations, fund flows, ADL, and their invariants.

The fund is reconciled from events alone: its cash moves only by seeds,
leftover margin and bad debt it pays (``FUND``), takeovers that close part of
a position it held (``LIQUIDATION``), its own fills (realized PnL minus fees),
ADL executions (its realized PnL), socialized loss collected from traders, and
funding on the positions it holds.
"""

from __future__ import annotations

from typing import Any

from exsim.core.events import ADL, FILL, FUND, FUNDING, LIQUIDATION, SOCIALIZED, Event
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
