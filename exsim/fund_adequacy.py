"""``exsim adequacy CONFIG``: how big must this venue's insurance fund be?

The measure (docs/mechanics.md, "Fund adequacy"), in three steps:

1. **Stress.**  The venue of ``CONFIG`` runs over a crash family: the real crashes
   shipped in ``exsim/data`` (each a window around its deepest fall, rescaled to the
   venue's start price) and stochastic flash crashes whose depth and speed are drawn
   per seed.  Each run has an ample fund and no last step (``steps =
   ["insurance_fund"]``), so nothing covers the fund but the fund: what a run needs
   is the largest fall of the fund's equity at the marks, ``need`` (the summary's
   ``adequacy.fund_mtm_drawdown``), and ADL would have fired with a fund of ``F`` iff
   ``need > F``.
2. **Size.**  Over the runs, ``P(ADL | F)`` is estimated by the share of runs with
   ``need > F``; the fund for a target ``p`` is the smallest observed ``need`` with at
   most ``p`` of the runs above it (the empirical ``1 - p`` quantile), with a
   distribution-free 95% interval from the binomial law of order statistics (its upper
   end ``None`` when the runs are too few to bound it).  ``fund_over_oi`` is the same
   quantile of ``need / open interest at the crash start``.  ``cover1`` and ``cover2``:
   the recommended fund (for the middle target) over the largest, and the two
   largest, traders' stressed losses (a clearing house's Cover 1 / Cover 2), medians
   over the runs.
3. **Verify.**  A few runs at the recommended fund with the venue's own last step
   measure P(ADL) there, with its Wilson interval.

Runs go through the sweep's supervisor (one child process each, ``--workers`` at a
time), so they resume, fail and stop like a sweep's.
"""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from exsim.config import ConfigError, config_sha256, parse_config
from exsim.rng import derive_seed
from exsim.scenarios.candles import DATA_DIR
from exsim.sweep import RunSpec, run_sweep, wilson

CRASHES: Mapping[str, tuple[str, float]] = {
    # shipped file: (first minute replayed, seconds): a window around the deepest fall
    "btc_1m_2020-03-12_13.csv": ("2020-03-13T01:50:00Z", 2400.0),
    "btc_1m_2021-05-19.csv": ("2021-05-19T12:50:00Z", 2400.0),
    "btc_1m_2022-11-08.csv": ("2022-11-08T19:00:00Z", 2400.0),
    "btc_1m_2025-10-10.csv": ("2025-10-10T20:45:00Z", 2400.0),
}
TARGETS = (0.01, 0.05, 0.1)
AMPLE = 1e9  # the stress runs' fund (quote): never what limits the fund's actions


def _stress(base: dict[str, Any], scenario: dict[str, Any], duration: float) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    doc.pop("sweep", None)
    doc.setdefault("run", {})["duration"] = duration
    start = doc.get("scenario", {}).get("start_price", 30000.0)
    doc["scenario"] = {**scenario, "start_price": start}
    liquidation = doc.setdefault("liquidation", {})
    liquidation["steps"] = ["insurance_fund"]
    liquidation["fund_initial"] = AMPLE
    liquidation.pop("vault_capital", None)
    return doc


def family(document: Mapping[str, Any], seeds: Sequence[int], stochastic: int,
           source: str) -> list[RunSpec]:
    """The stress runs: every shipped crash for every seed, and ``stochastic`` flash
    crashes (depth 10-45%, fall 30-900 s, partial recovery) drawn from each index."""
    base = dict(document)
    out: list[RunSpec] = []

    def add(name: str, seed: int, doc: dict[str, Any], point: tuple[tuple[str, Any], ...]
            ) -> None:
        try:
            config = parse_config(doc, source)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (adequacy run {name})") from None
        out.append(RunSpec(name, seed, point, doc, source, config_sha256(config, seed)))

    for file, (start, duration) in CRASHES.items():
        for seed in seeds:
            doc = _stress(base, {"kind": "candles", "candles": str(DATA_DIR / file),
                                 "candles_start": start, "rescale": True}, duration)
            add(f"{file.removesuffix('.csv')}-seed{seed}", seed, doc, (("crash", file),))
    for i in range(stochastic):
        rng = random.Random(derive_seed(0, "adequacy", i))
        drop, fall = rng.uniform(0.10, 0.45), rng.uniform(30.0, 900.0)
        doc = _stress(base, {"kind": "flash_crash", "crash_at_s": 300.0, "drop": drop,
                             "fall_s": fall, "recovery": rng.uniform(0.0, 0.6),
                             "recover_s": 600.0}, 300.0 + fall + 600.0)
        add(f"flash-{i}", seeds[i % len(seeds)], doc, (("crash", f"flash drop={drop:.3f} "
                                                       f"fall_s={fall:.0f}"),))
    return out


def _binomial_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k + 1))


def quantile_with_ci(values: Sequence[float], q: float, level: float = 0.95
                     ) -> tuple[float | None, float | None, float | None]:
    """The empirical ``q`` quantile of ``values`` (the ``ceil(n q)``-th smallest) and a
    distribution-free ``level`` interval between two order statistics ``x_(l) <= x_(u)``
    with ``P(x_(l) <= Q_q <= x_(u)) >= level`` (``None`` where the data cannot bound it)."""
    xs = sorted(values)
    n = len(xs)
    if not n:
        return None, None, None
    point = xs[min(n - 1, max(0, math.ceil(n * q) - 1))]
    tail = (1 - level) / 2
    # x_(l) <= Q_q iff at least l of the n values are <= Q_q: Bin(n, q) >= l
    low_rank = max((r for r in range(1, n + 1) if 1 - _binomial_cdf(r - 1, n, q) >= 1 - tail),
                   default=None)
    high_rank = min((r for r in range(1, n + 1) if _binomial_cdf(r - 1, n, q) >= 1 - tail),
                    default=None)
    return (point, None if low_rank is None else xs[low_rank - 1],
            None if high_rank is None else xs[high_rank - 1])


def size(summaries: Sequence[Mapping[str, Any]], targets: Sequence[float]) -> dict[str, Any]:
    """The fund for each target P(ADL), from the stress runs' summaries (step 2)."""
    needs, ratios, cover1, cover2 = [], [], [], []
    for s in summaries:
        a = s.get("adequacy") or {}
        need = a.get("fund_mtm_drawdown")
        if need is None:
            continue
        needs.append(need)
        oi = a.get("oi_start") or 0.0
        ratios.append(need / oi if oi else math.inf)
        losses = a.get("largest_stressed_losses") or []
        cover1.append(losses[0] if losses else 0.0)
        cover2.append(sum(losses[:2]))
    out: dict[str, Any] = {"targets": {}, "runs": len(needs)}
    for p in targets:
        fund, low, high = quantile_with_ci(needs, 1 - p)
        ratio = quantile_with_ci(ratios, 1 - p)[0]
        out["targets"][str(p)] = {"fund": fund, "fund_over_oi": ratio, "ci": [low, high]}
    middle = out["targets"][str(sorted(targets)[len(targets) // 2])]["fund"] or 0.0
    med1 = quantile_with_ci(cover1, 0.5)[0] or 0.0
    med2 = quantile_with_ci(cover2, 0.5)[0] or 0.0
    out["cover1"] = middle / med1 if med1 else None
    out["cover2"] = middle / med2 if med2 else None
    out["needs"] = needs
    return out


def verify(document: Mapping[str, Any], fund: float, seeds: Sequence[int], source: str
           ) -> list[RunSpec]:
    """Step 3's runs: stochastic crashes (not those that sized it) at the recommended fund,
    with the venue's own waterfall."""
    specs = []
    for seed in seeds:
        rng = random.Random(derive_seed(seed, "adequacy", "verify"))
        fall = rng.uniform(30.0, 900.0)
        doc = copy.deepcopy(dict(document))
        doc.pop("sweep", None)
        doc.setdefault("run", {})["duration"] = 300.0 + fall + 600.0
        start = doc.get("scenario", {}).get("start_price", 30000.0)
        doc["scenario"] = {"kind": "flash_crash", "start_price": start, "crash_at_s": 300.0,
                           "drop": rng.uniform(0.10, 0.45), "fall_s": fall,
                           "recovery": rng.uniform(0.0, 0.6), "recover_s": 600.0}
        doc.setdefault("liquidation", {})["fund_initial"] = max(0.0, round(fund, 2))
        config = parse_config(doc, source)
        specs.append(RunSpec(f"verify-seed{seed}", seed, (), doc, source,
                             config_sha256(config, seed)))
    return specs


def run_adequacy(document: Mapping[str, Any], source: str, out: Path, *, seeds: Sequence[int],
                 stochastic: int, verify_seeds: Sequence[int], workers: int | None,
                 targets: Sequence[float] = TARGETS,
                 progress: Callable[[int, int, int], None] | None = None) -> dict[str, Any]:
    """All three steps; writes ``out/adequacy.json`` (and the runs under ``out``)."""
    stress = family(document, seeds, stochastic, source)
    done = run_sweep(stress, out / "stress", workers=workers, progress=progress)
    summaries = [_summary(out / "stress" / spec.name) for spec in stress]
    result = size([s for s in summaries if s is not None], targets)
    middle = str(sorted(targets)[len(targets) // 2])
    fund = result["targets"][middle]["fund"]
    result["seeds"] = list(seeds)
    result["stochastic"] = stochastic
    result["failed"] = sum(1 for r in done.rows if not r.get("complete"))
    if fund is not None and verify_seeds:
        checks = verify(document, fund, verify_seeds, source)
        run_sweep(checks, out / "verify", workers=workers, progress=progress)
        adl = [bool((s.get("adl_events") or 0) > 0) for s in (
            _summary(out / "verify" / c.name) for c in checks) if s is not None]
        low, high = wilson(sum(adl), len(adl))
        result["verified"] = {"target": float(middle), "fund": fund, "runs": len(adl),
                              "p_adl": sum(adl) / len(adl) if adl else None,
                              "ci": [low, high]}
    (out / "adequacy.json").write_text(json.dumps(result, indent=2))
    return result


def _summary(run_dir: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return data if data.get("complete") else None
