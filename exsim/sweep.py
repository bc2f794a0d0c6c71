"""Monte Carlo and parameter sweeps, each run in a child process of its own.

A config's ``[sweep]`` section says which seeds and which grid::

    [sweep]
    seeds = 20                       # run.seed, run.seed + 1, ...; or a list [3, 5, 8]
    [sweep.grid]
    "liquidation.fund_initial" = [1000.0, 10000.0, 100000.0]
    "agents[2].count" = [20, 40]

Every (grid point, seed) is a normal run with its own directory and
``summary.json``; a grid value is written into the TOML document at its dotted
path and the whole document is validated again, so a bad key or value is a
config error naming the sweep key.  Runs go to child processes, ``--workers`` at a
time (default the number of cores; :mod:`exsim.supervise`), or to Ray
(``--executor ray``, ``--ray-address``; the optional extra ``pip install -e '.[ray]'``).

A run's identity is its directory name *and* the sha256 of its resolved config and
seed (``config_sha256`` in its summary, :func:`exsim.config.config_sha256`).  On a
rerun into the same directory, a run whose ``summary.json`` is complete with the same
hash is reused; one whose config changed, or that is incomplete, failed, or has a
summary that cannot be read (a kill mid-write), is run again in a fresh directory.
A run that fails, or whose process dies, is a failed row and the sweep goes on.
SIGINT or SIGTERM stops the sweep: no queued run starts, running ones are
interrupted, and the tables are written with what finished
(:class:`SweepInterrupted`).

Results: ``results.csv``/``.parquet`` (one row per run: the grid values, the
seed, the summary's metrics) and ``aggregate.csv``/``.parquet`` (one row per
grid point: runs, P(ADL) with a 95% Wilson interval, fund drawdown
quantiles, mean liquidations and socialized loss).
"""

from __future__ import annotations

import copy
import csv
import itertools
import json
import math
import os
import re
import shutil
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.parquet as pq

from exsim.config import ConfigError, config_sha256, parse_config
from exsim.output.adequacy import results_columns
from exsim.supervise import SignalStop, run_in_children

_PATH_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


@attrs.frozen
class RunSpec:
    """One run of a sweep: where it writes, its seed, its grid values, its document."""

    name: str
    seed: int
    point: tuple[tuple[str, Any], ...]
    document: Mapping[str, Any]
    source: str
    config_sha256: str  # of the validated config and the seed: the run's identity


def set_path(doc: dict[str, Any], path: str, value: Any, source: str) -> None:
    """Write ``value`` at a dotted path (``a.b``, ``agents[2].count``) of a TOML document."""
    parts = path.split(".")
    node: Any = doc
    for i, part in enumerate(parts):
        m = _PATH_PART.match(part)
        if m is None:
            raise ConfigError(f"{source}: sweep.grid: cannot read the key path {path!r}")
        key, index = m.group(1), m.group(2)
        last = i == len(parts) - 1
        if index is None:
            if last:
                node[key] = value
                return
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{source}: sweep.grid: {path!r}: {key} is not a table")
        else:
            items = node.get(key)
            if not isinstance(items, list) or int(index) >= len(items):
                raise ConfigError(
                    f"{source}: sweep.grid: {path!r}: no {key}[{index}] in the config")
            if last:
                items[int(index)] = value
                return
            node = items[int(index)]


def plan(document: Mapping[str, Any], source: str = "<config>") -> list[RunSpec]:
    """Every (grid point, seed) of a document with a ``[sweep]`` section, validated."""
    doc = dict(document)
    sweep = doc.pop("sweep", None)
    if not isinstance(sweep, dict):
        raise ConfigError(f"{source}: sweep: a sweep needs a [sweep] section")
    unknown = set(sweep) - {"seeds", "grid"}
    if unknown:
        raise ConfigError(f"{source}: sweep: unknown keys {sorted(unknown)} (seeds, grid)")
    base_seed = parse_config(doc, source).run.seed
    seeds_value = sweep.get("seeds", 1)
    if isinstance(seeds_value, bool) or not (
            (isinstance(seeds_value, int) and seeds_value > 0)
            or (isinstance(seeds_value, list) and seeds_value
            and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds_value))):
        raise ConfigError(f"{source}: sweep.seeds: a count > 0 or a list of ints, "
                          f"got {seeds_value!r}")
    seeds = (list(range(base_seed, base_seed + seeds_value)) if isinstance(seeds_value, int)
             else list(seeds_value))
    grid = sweep.get("grid", {})
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise ConfigError(f"{source}: sweep.grid: a table of key path = [values]")
    keys = list(grid)
    specs: list[RunSpec] = []
    for values in itertools.product(*(grid[k] for k in keys)):
        point = tuple(zip(keys, values, strict=True))
        point_doc = copy.deepcopy(doc)
        for key, value in point:
            set_path(point_doc, key, value, source)
        try:
            config = parse_config(point_doc, source)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (sweep point {dict(point)})") from None
        label = "_".join(f"{k.split('.')[-1]}={v}" for k, v in point) or "base"
        for seed in seeds:
            name = f"{_safe(label)}-seed{seed}"
            if any(spec.name == name for spec in specs):
                raise ConfigError(f"{source}: sweep: the run {name!r} appears twice (repeated "
                                  "seeds or grid values)")
            specs.append(RunSpec(name, seed, point, point_doc, source,
                                 config_sha256(config, seed)))
    return specs


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", text)


def run_one(spec: RunSpec, out: str) -> dict[str, Any]:
    """Run one spec into a fresh ``out/<name>``; the summary, or ``{"error": ...}``.

    Raises only ``KeyboardInterrupt`` (the sweep stopping it, after the run wrote what it
    recorded); any other failure is the row's error.
    """
    from exsim.sim import Simulation

    run_dir = Path(out) / spec.name
    t0 = time.perf_counter()
    try:
        config = parse_config(spec.document, spec.source)
        replace_run_dir(run_dir)
        summary = Simulation(config, seed=spec.seed).run(run_dir)
    except Exception:  # a failing run is a row of the table, not the end of the sweep
        error = traceback.format_exc()
        write_error(run_dir, error)
        summary = {"complete": False, "error": error}
    summary["run_seconds"] = time.perf_counter() - t0  # the run and its output files
    return summary


def replace_run_dir(run_dir: Path) -> None:
    """Remove what an earlier run left in ``run_dir``: a run never mixes with another's files.

    The sweep owns its runs' directories, a failed run's too (which holds only
    ``error.txt``, so ``Simulation.run(overwrite=True)`` would refuse it as not a run
    directory): removing it and writing afresh is the sweep's own replacement.
    """
    if run_dir.is_dir():
        shutil.rmtree(run_dir)


def write_error(run_dir: Path, error: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "error.txt").write_text(error)


REUSED, CHANGED, TODO = "reused", "changed", "todo"


def previous(out: Path, spec: RunSpec) -> tuple[str, dict[str, Any] | None]:
    """What an earlier sweep left for ``spec``: ``(REUSED, its summary)`` for a complete
    run of the same config and seed, ``(CHANGED, None)`` for a complete run of another
    config, ``(TODO, None)`` otherwise (none, incomplete, failed, or unreadable)."""
    try:
        data = json.loads((out / spec.name / "summary.json").read_bytes())
    except (OSError, ValueError):  # missing, truncated, not JSON, not UTF-8
        return TODO, None
    if not isinstance(data, dict) or data.get("complete") is not True:
        return TODO, None
    if data.get("config_sha256") != spec.config_sha256:
        return CHANGED, None
    return REUSED, data


@attrs.frozen
class SweepResult:
    """One row per spec that has a result, in spec order, and what the resume reused."""

    rows: list[dict[str, Any]]
    reused: int  # complete runs of the same config and seed, not run again
    changed: int  # complete runs of another config, run again


class SweepInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped the sweep; ``result`` holds what finished (also on disk)."""

    def __init__(self, signal: str, result: SweepResult) -> None:
        super().__init__(signal)
        self.signal = signal
        self.result = result


def run_sweep(specs: Sequence[RunSpec], out: Path, workers: int | None = None,
              progress: Callable[[int, int, int], None] | None = None,
              executor: str = "local", ray_address: str | None = None) -> SweepResult:
    """Run every spec not already done; write the tables of what finished.

    ``executor`` is ``"local"`` (a child process per run, ``workers`` at a time) or
    ``"ray"`` (a Ray cluster at ``ray_address``, or a local Ray instance without one;
    every worker must see ``out``, e.g. on a shared file system).  Raises
    :class:`SweepInterrupted` after writing the tables when a signal stopped it.
    """
    out.mkdir(parents=True, exist_ok=True)
    summaries: dict[int, dict[str, Any]] = {}
    todo: list[int] = []
    changed = 0
    for i, spec in enumerate(specs):
        status, done = previous(out, spec)
        if done is not None:
            summaries[i] = done
        else:
            todo.append(i)
            changed += status == CHANGED
    reused = len(summaries)
    failed = 0

    def finished(i: int, summary: dict[str, Any]) -> None:
        nonlocal failed
        if summary.get("died"):
            write_error(out / specs[i].name, summary["error"])
        summaries[i] = summary
        failed += not summary.get("complete")
        if progress is not None:
            progress(len(summaries), failed, len(specs))

    if progress is not None:
        progress(len(summaries), failed, len(specs))
    stopped: str | None = None
    if executor == "ray":  # Ctrl-C as Python raises it: Ray's waits take no wake-up fd
        try:
            for i, summary in _run_on_ray(specs, todo, out, ray_address):
                finished(i, summary)
        except KeyboardInterrupt:
            stopped = "SIGINT"
        result = _write_results(specs, summaries, reused, changed, out)
    else:
        with SignalStop() as stop:  # until the tables are written: a signal only stops
            stopped = run_in_children(run_one, [(i, (specs[i], str(out))) for i in todo],
                                      workers or os.cpu_count() or 1, finished, stop,
                                      preload=["exsim.sim", "exsim.sweep"])
            result = _write_results(specs, summaries, reused, changed, out)
            stopped = stopped or stop.signal
    if stopped is not None:
        raise SweepInterrupted(stopped, result)
    return result


def _write_results(specs: Sequence[RunSpec], summaries: Mapping[int, dict[str, Any]],
                   reused: int, changed: int, out: Path) -> SweepResult:
    """The rows of every spec with a summary, in spec order, and their tables on disk."""
    result = SweepResult([_row(specs[i], summaries[i]) for i in sorted(summaries)], reused,
                         changed)
    keys = [k for k, _ in specs[0].point] if specs else []
    blank = [_row(specs[0], {})] if specs else []  # the columns, when no run finished
    _write_table(result.rows, out / "results", list(blank[0]) if blank else [])
    _write_table(aggregate(result.rows, keys), out / "aggregate",
                 list(aggregate(blank, keys)[0]) if blank else [])
    return result


def _run_on_ray(specs: Sequence[RunSpec], todo: list[int], out: Path,
                address: str | None) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray executor needs Ray: pip install -e '.[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(run_one)
        refs = {remote.remote(specs[i], str(out.resolve())): i for i in todo}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    summary = ray.get(ref)
                except Exception as exc:  # a dead worker or a lost node: the run's row
                    summary = {"complete": False, "died": True,
                               "error": f"the Ray task of this run failed: {exc!r}"}
                yield refs[ref], summary
    finally:
        if started:
            ray.shutdown()


METRICS = ("complete", "digest", "config_sha256", "sim_seconds", "wall_seconds", "run_seconds",
           "events", "trades", "liquidations", "fund_draws", "fund_drawn", "fund_contributions",
           "adl_events", "socialized_loss")


def _row(spec: RunSpec, summary: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"run": spec.name, "seed": spec.seed}
    row.update({k: v for k, v in spec.point})
    row.update({k: summary.get(k) for k in METRICS})
    fund = summary.get("insurance_fund") or {}
    row["fund_start"] = fund.get("start")
    row["fund_min"] = fund.get("min")
    row["fund_end"] = fund.get("end")
    adequacy = summary.get("adequacy") or {}
    row.update({k: adequacy.get(k) for k in results_columns()})
    invariants = summary.get("invariants") or {}
    row["invariants_ok"] = bool(invariants) and all(invariants.values())
    row["warnings"] = "; ".join(summary.get("warnings") or []) or None
    row["error"] = (summary.get("error") or "").strip().splitlines()[-1:] or None
    if isinstance(row["error"], list):
        row["error"] = row["error"][0] if row["error"] else None
    return row


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    pos = (len(values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def aggregate(rows: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """One row per grid point over its completed runs."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:  # grid values may be lists (e.g. waterfall steps): group on their JSON
        groups.setdefault(json.dumps([row.get(k) for k in keys], default=str), []).append(row)
    out = []
    for members in groups.values():
        done = [r for r in members if r["complete"]]
        adl = sum(1 for r in done if (r["adl_events"] or 0) > 0)
        low, high = wilson(adl, len(done))
        drawdowns = [r["fund_start"] - r["fund_min"] for r in done
                     if r["fund_start"] is not None and r["fund_min"] is not None]
        agg: dict[str, Any] = {k: members[0].get(k) for k in keys}
        agg.update(runs=len(members), failed=len(members) - len(done),
                   p_adl=adl / len(done) if done else None, p_adl_low=low, p_adl_high=high,
                   drawdown_p50=_quantile(drawdowns, 0.5), drawdown_p90=_quantile(drawdowns, 0.9),
                   drawdown_max=max(drawdowns) if drawdowns else None,
                   liquidations_mean=(sum(r["liquidations"] or 0 for r in done) / len(done)
                                      if done else None),
                   socialized_loss_mean=(sum(r["socialized_loss"] or 0 for r in done) / len(done)
                                         if done else None))
        for column in results_columns():  # the adequacy figures: mean, median, p90
            values = [r[column] for r in done if isinstance(r.get(column), int | float)]
            agg[f"{column}_mean"] = sum(values) / len(values) if values else None
            agg[f"{column}_p50"] = _quantile(values, 0.5)
            agg[f"{column}_p90"] = _quantile(values, 0.9)
        # a shortfall at all: how often the fund's marked equity went below zero
        short = sum(1 for r in done if (r.get("fund_peak_shortfall") or 0) > 0)
        agg["p_shortfall"] = short / len(done) if done else None
        agg["p_shortfall_low"], agg["p_shortfall_high"] = wilson(short, len(done))
        out.append(agg)
    return out


def _write_table(rows: list[dict[str, Any]], stem: Path, columns: list[str]) -> None:
    """``stem``.csv and .parquet of ``rows``: ``columns`` first, then any others they have."""
    columns = list(columns)
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    # each file whole or not at all: written beside, then renamed over the old one
    csv_file, parquet_file = stem.with_suffix(".csv"), stem.with_suffix(".parquet")
    with open(csv_file.with_suffix(".csv.tmp"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(csv_file.with_suffix(".csv.tmp"), csv_file)
    pq.write_table(pa.table({c: _column([r.get(c) for r in rows]) for c in columns}),
                   parquet_file.with_suffix(".parquet.tmp"))
    os.replace(parquet_file.with_suffix(".parquet.tmp"), parquet_file)


def _column(values: list[Any]) -> list[Any]:
    """Values Arrow can put in one column: one plain type (ints may join floats), or strings."""
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int, float} or (len(kinds) == 1 and kinds <= {bool, str}):
        return values
    return [None if v is None else str(v) for v in values]
