"""Fund adequacy figures of one run, and the waterfall's invariants on the house accounts.

What a risk team asks of a run (issue 12; docs/mechanics.md, "Fund adequacy"):

* ``fund_to_oi``: the funds at the start over the traders' open interest at the crash
  start (quote over quote);
* ``fund_mtm_drawdown``: the largest fall of a fund's equity at the marks from its
  start; ``fund_peak_shortfall``: how far below zero a fund's marked equity went (0:
  never);
* ``draws_per_liquidation``: fills and bad debts that cost a fund, per liquidation
  ("a fund drawn too often means broken risk controls");
* ``adl_count``, ``adl_notional``: ADL executions and their notional at the ADL price;
  ``winners_haircut``: what the deleveraged lost against the mark by closing at the
  ADL price; ``minimal_haircut``: the shortfalls the ADL rounds opened with, the least
  the winners had to give (``winners_haircut`` / ``minimal_haircut`` is ADL's
  overshoot); ``haircut_gini``: how concentrated the haircut was over the winners;
* ``socialized``: collected by socialized loss; ``fund_pnl``: the funds' marked equity
  at the end less at the start; ``oi_start`` and ``largest_stressed_losses`` (the two
  largest, over symbols), for the adequacy measure's coverage ratios.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from exsim.core.liquidation import VAULT
from exsim.output.house import HouseReport, gini


def adequacy(report: HouseReport, fund_start: Mapping[int, int], flows: Mapping[str, Any],
             oi_start: float, cash_atom: float, stressed: Sequence[float] = ()
             ) -> dict[str, Any]:
    """The ``adequacy`` section of a summary; ``fund_start``: each fund's cash after the
    setup (atoms), ``oi_start``: the traders' open interest at the crash start (quote)."""
    funds = [f for f in report.accounts if f != VAULT and f in fund_start]
    start = sum(fund_start[f] for f in funds)
    drawdown = max((fund_start[f] - min(fund_start[f], report.accounts[f].lowest or 0))
                   for f in funds) if funds else 0
    shortfall = max((max(0, -(report.accounts[f].lowest or 0)) for f in funds), default=0)
    liquidations = flows.get("liquidations", 0)
    return {
        "fund_to_oi": start * cash_atom / oi_start if oi_start else None,
        "fund_mtm_drawdown": drawdown * cash_atom,
        "fund_peak_shortfall": shortfall * cash_atom,
        "draws_per_liquidation": (flows.get("fund_draws", 0) / liquidations
                                  if liquidations else 0.0),
        "adl_count": flows.get("adl_events", 0),
        "adl_notional": report.adl_notional * cash_atom,
        "winners_haircut": sum(report.haircuts.values()) * cash_atom,
        "minimal_haircut": sum(report.shortfalls) * cash_atom,
        "haircut_gini": gini(list(report.haircuts.values())),
        "socialized": flows.get("socialized_loss", 0.0),
        "fund_pnl": sum(report.accounts[f].end - fund_start[f] for f in funds) * cash_atom,
        "oi_start": oi_start,
        "largest_stressed_losses": list(stressed),
    }


def house_invariants(report: HouseReport, wallets: Mapping[int, int], has_last_step: bool,
                     grace_ns: int) -> dict[str, bool]:
    """The waterfall's promises about the exchange's own accounts, from the replay.

    * ``vault_never_negative``: the vault's equity at the marks at the end of every
      instant (only with a vault);
    * ``no_hidden_insolvency``: no fund below zero at the marks for longer than
      ``grace_ns`` (the liquidator's time to run its last step) when the waterfall has a
      last step, and the vault never; without one, a fund may stay short, and the
      summary says by how much (``adequacy.fund_peak_shortfall``);
    * ``adl_only_when_fund_short``: every ADL execution belongs to a round that opened
      with the fund short (or beyond its position cap);
    * ``house_reconciles``: every house account's cash, replayed from the log, is its
      wallet in the core.
    """
    out: dict[str, bool] = {}
    vault = report.accounts.get(VAULT)
    if VAULT in wallets and vault is not None:
        out["vault_never_negative"] = (vault.lowest or 0) >= 0
    out["no_hidden_insolvency"] = (vault is None or (vault.lowest or 0) >= 0) and (
        not has_last_step or all(f.longest_below_zero <= grace_ns
                                 for acct, f in report.accounts.items() if acct != VAULT))
    out["adl_only_when_fund_short"] = not report.unexplained_adl
    out["house_reconciles"] = all(report.wallets.get(acct, 0) == wallet
                                  for acct, wallet in wallets.items())
    return out


def results_columns() -> Sequence[str]:
    """The adequacy figures, as the sweep's ``results.csv`` and ``aggregate.csv`` name them."""
    return ("fund_to_oi", "fund_mtm_drawdown", "fund_peak_shortfall", "draws_per_liquidation",
            "adl_notional", "adl_count", "winners_haircut", "minimal_haircut", "haircut_gini",
            "socialized", "fund_pnl", "oi_start")
