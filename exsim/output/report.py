"""``exsim report DIR``: PNG plots and a one-page ``report.html`` for a run or a sweep.

A run directory (it has ``series.parquet``) gets: ``prices.png`` (index, mark
and last trade), ``fund.png`` (insurance fund cash, draws and contributions
marked), ``liquidations.png`` (cumulative liquidations and ADL executions),
``open_interest.png`` (open interest and the fund-to-OI ratio).  A sweep
directory (it has ``aggregate.parquet``) gets ``p_adl.png`` (P(ADL) against the
first swept key, with its 95% interval) and ``drawdown.png`` (fund drawdown
median and 90th percentile).  ``report.html`` embeds every image (and links
the files) under the summary table.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import matplotlib

matplotlib.use("Agg")  # files only, no screen

import matplotlib.pyplot as plt
import pyarrow as pa
import pyarrow.parquet as pq

from exsim.output.eventlog import LogError
from exsim.output.recover import recover
from exsim.output.rundir import EVENTS, RunDirError, replace_atomically


class ReportError(ValueError):
    """The directory is neither a run nor a sweep."""


def write_report(directory: str | Path) -> Path:
    """Write the plots and ``report.html`` into ``directory``; returns the HTML's path.

    A run directory that still holds its event log (``events.bin``: the run was killed,
    or stopped while writing its results) first gets its tables, series and summary
    rebuilt from it (:func:`exsim.output.recover.recover`; still marked incomplete).
    """
    d = Path(directory)
    if (d / EVENTS).exists():
        try:
            recover(d)
        except (RunDirError, LogError) as exc:
            raise ReportError(str(exc)) from None
    if (d / "series.parquet").exists():
        summary = _read(d / "summary.json", lambda p: json.loads(p.read_text()))
        if not isinstance(summary, dict):
            raise ReportError(f"{d / 'summary.json'}: not a run summary (a JSON object)")
        images = _run_plots(d)
        title = f"exsim run: {d.name}"
        table = _summary_rows(summary)
    elif (d / "adequacy.json").exists():
        result = _read(d / "adequacy.json", lambda p: json.loads(p.read_text()))
        if not isinstance(result, dict) or "targets" not in result:
            raise ReportError(f"{d / 'adequacy.json'}: not an adequacy result")
        images = [_adequacy_plot(d, result)]
        title = f"exsim adequacy: {d.name}"
        table = [(f"P(ADL) <= {p}", f"fund {t['fund']}, fund/OI {t['fund_over_oi']}, "
                  f"95% interval {t['ci']}") for p, t in result["targets"].items()]
        table += [(k, str(result.get(k))) for k in ("cover1", "cover2", "runs", "verified")]
    elif (d / "aggregate.parquet").exists():
        images = _sweep_plots(d)
        title = f"exsim sweep: {d.name}"
        table = [(str(i), json.dumps(row, default=str))
                 for i, row in enumerate(_table(d / "aggregate.parquet", AGGREGATE).to_pylist())]
    else:
        raise ReportError(f"{d}: not a run directory (no series.parquet), a sweep directory "
                          "(no aggregate.parquet) nor an adequacy one (no adequacy.json)")
    page = d / "report.html"
    text = _html(title, table, images, d)
    replace_atomically(page, lambda tmp: tmp.write_text(text))
    return page


T = TypeVar("T")
SERIES = ("name", "time_ns", "sym", "value")
AGGREGATE = ("runs", "failed", "p_adl", "p_adl_low", "p_adl_high", "drawdown_p50",
             "drawdown_p90", "drawdown_max", "liquidations_mean", "socialized_loss_mean")


def _read(path: Path, read: Callable[[Path], T]) -> T:
    """``read(path)``; a file that is missing, truncated or not what it says is a
    :class:`ReportError` naming it (a killed run may leave any of these)."""
    try:
        return read(path)
    except (OSError, ValueError, pa.ArrowException) as exc:  # JSON and Arrow errors included
        raise ReportError(f"{path}: cannot read it ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None


def _table(path: Path, columns: tuple[str, ...]) -> pa.Table:
    """A Parquet file, refused unless it has ``columns``."""
    table = _read(path, pq.read_table)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ReportError(f"{path}: no column {', '.join(missing)}: not written by exsim, or "
                          "by another version")
    return table


def _series(d: Path) -> dict[str, tuple[list[float], list[float]]]:
    data = _table(d / "series.parquet", SERIES).to_pydict()
    out: dict[str, tuple[list[float], list[float]]] = {}
    for name, t, sym, value in zip(data["name"], data["time_ns"], data["sym"], data["value"],
                                   strict=True):
        if sym > 0 and name != "spot_last":
            continue  # the first symbol (and the account-wide series, sym -1; spot venues)
        xs, ys = out.setdefault(name, ([], []))
        xs.append(t / 1e9)
        ys.append(value)
    return out


def _adequacy_plot(d: Path, result: dict[str, Any]) -> str:
    """P(ADL) against the fund: the share of stress runs whose need exceeds it."""
    needs = sorted(float(x) for x in result.get("needs", []))
    fig, ax = plt.subplots(figsize=(9, 3.5))
    if needs:
        n = len(needs)
        ax.step(needs, [(n - i - 1) / n for i in range(n)], where="post",
                label="P(ADL) at this fund (share of runs needing more)")
        for p, t in result["targets"].items():
            if t["fund"] is not None:
                ax.axvline(t["fund"], linestyle=":", color="tab:red")
                ax.text(t["fund"], float(p), f" {p}", color="tab:red")
    ax.set(xlabel="insurance fund (quote currency)", ylabel="P(ADL)",
           title="How big must the fund be")
    ax.legend()
    return _save(fig, d / "adequacy.png")


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    replace_atomically(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)
    return path.name


def _run_plots(d: Path) -> list[str]:
    s = _series(d)
    empty: tuple[list[float], list[float]] = ([], [])
    names = []
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for name, style, label in (("fundamental", ":", "fundamental"), ("index", "-", "index"),
                               ("mark", "-", "mark"), ("last", ".", "last trade"),
                               ("spot_last", ",", "spot trades")):
        xs, ys = s.get(name, empty)
        if xs:
            ax.plot(xs, ys, style, label=label, markersize=1.5, linewidth=1)
    liquidated = s.get("liquidation", empty)[0]
    if liquidated:
        marks = s.get("mark", empty)
        ax.scatter(liquidated, [_at(*marks, t) for t in liquidated], s=10, marker="v",
                   color="tab:red", label="liquidation", zorder=3)
    ax.set(xlabel="simulated seconds", ylabel="price",
           title="Fundamental, index, mark and last trade")
    ax.legend()
    names.append(_save(fig, d / "prices.png"))

    fig, ax = plt.subplots(figsize=(9, 3.5))
    xs, ys = s.get("fund", empty)
    ax.step(xs, ys, where="post", label="insurance fund")
    for name, colour in (("draw", "tab:red"), ("contribution", "tab:green")):
        times = s.get(name, empty)[0]
        if times:
            ax.scatter(times, [_at(xs, ys, t) for t in times], s=8, color=colour, label=name)
    ax.set(xlabel="simulated seconds", ylabel="quote", title="Insurance fund")
    ax.legend()
    names.append(_save(fig, d / "fund.png"))

    fig, ax = plt.subplots(figsize=(9, 3.5))
    for name in ("liquidation", "adl"):
        times = s.get(name, empty)[0]
        ax.step([0.0, *times], list(range(len(times) + 1)), where="post", label=name)
    ax.set(xlabel="simulated seconds", ylabel="count", title="Liquidations and ADL")
    ax.legend()
    names.append(_save(fig, d / "liquidations.png"))

    fig, ax = plt.subplots(figsize=(9, 3.5))
    xs, ys = s.get("oi", empty)
    ax.step(xs, ys, where="post", label="open interest", color="tab:blue")
    ax.set(xlabel="simulated seconds", ylabel="base units", title="Open interest and fund/OI")
    ratio = ax.twinx()
    rx, ry = s.get("fund_to_oi", empty)
    ratio.plot(rx, ry, color="tab:orange", linewidth=1, label="fund / OI notional")
    ratio.set_ylabel("fund / OI")
    names.append(_save(fig, d / "open_interest.png"))
    return names


def _at(xs: list[float], ys: list[float], t: float) -> float:
    """The step series' value at time ``t``."""
    value = ys[0] if ys else 0.0
    for x, y in zip(xs, ys, strict=True):
        if x > t:
            break
        value = y
    return value


def _sweep_plots(d: Path) -> list[str]:
    rows = _table(d / "aggregate.parquet", AGGREGATE).to_pylist()
    fixed = set(AGGREGATE)
    keys = [k for k in rows[0] if k not in fixed] if rows else []
    key = keys[0] if keys else None
    labels = [str(r.get(key)) if key else "all" for r in rows]
    numeric = key is not None and all(isinstance(r.get(key), int | float) for r in rows)
    xs: list[Any] = [r[key] for r in rows] if numeric and key else list(range(len(rows)))
    order = sorted(range(len(rows)), key=lambda i: xs[i])
    xs = [xs[i] for i in order]
    rows = [rows[i] for i in order]
    labels = [labels[i] for i in order]
    names = []
    fig, ax = plt.subplots(figsize=(7, 3.5))
    p = [r["p_adl"] if r["p_adl"] is not None else float("nan") for r in rows]
    ax.plot(xs, p, "o-", label="P(ADL)")
    ax.fill_between(xs, [r["p_adl_low"] for r in rows], [r["p_adl_high"] for r in rows],
                    alpha=0.25, label="95% interval")
    if numeric and min(xs) > 0 and max(xs) / min(xs) >= 10:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(xs, labels, rotation=20)
    ax.set(xlabel=key or "", ylabel="P(ADL)", ylim=(-0.05, 1.05), title="P(ADL) per run")
    ax.legend()
    names.append(_save(fig, d / "p_adl.png"))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for q in ("drawdown_p50", "drawdown_p90"):
        ax.plot(xs, [r[q] if r[q] is not None else float("nan") for r in rows], "o-", label=q)
    if numeric and min(xs) > 0 and max(xs) / min(xs) >= 10:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(xs, labels, rotation=20)
    ax.set(xlabel=key or "", ylabel="quote", title="Insurance-fund drawdown")
    ax.legend()
    names.append(_save(fig, d / "drawdown.png"))
    return names


def _summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in summary.items():
        if key in ("error", "tables"):
            continue
        if isinstance(value, dict):
            rows.extend((f"{key}.{k}", str(v)) for k, v in value.items())
        else:
            rows.append((key, str(value)))
    return rows


def _html(title: str, table: list[tuple[str, str]], images: list[str], d: Path) -> str:
    body = [f"<h1>{html.escape(title)}</h1>", "<table>"]
    body += [f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in table]
    body.append("</table>")
    for name in images:
        data = base64.b64encode((d / name).read_bytes()).decode()
        body.append(f'<figure><img alt="{name}" src="data:image/png;base64,{data}">'
                    f'<figcaption><a href="{name}">{name}</a></figcaption></figure>')
    style = ("body{font-family:sans-serif;max-width:960px;margin:auto}"
             "th{text-align:left;padding-right:1em}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>")
