"""Command line: ``exsim run | sweep | report | validate | demo``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exsim import __version__

if TYPE_CHECKING:  # imported lazily at run time: `exsim --help` stays fast
    from exsim.sim import Simulation


def _cmd_demo(args: argparse.Namespace) -> int:
    from exsim.demo import format_summary, run_demo

    if args.steps <= 0 or args.accounts < 2:
        print("exsim demo: --steps must be > 0 and --accounts >= 2", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    summary = run_demo(seed=args.seed, steps=args.steps, accounts=args.accounts)
    summary["wall_seconds"] = round(time.perf_counter() - t0, 3)
    if args.json:
        print(json.dumps(summary))
    else:
        print(format_summary(summary))
    return 0 if all(summary["invariants"].values()) else 1


def _progress_printer(duration_ns: int) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A progress line on stderr: simulated time, events, events per wall second."""
    t0 = time.perf_counter()
    tty = sys.stderr.isatty()
    last = [0.0, -1]

    def show(now_ns: int, events: int) -> None:
        wall = time.perf_counter() - t0
        pct = int(100 * now_ns / duration_ns)
        if not tty and pct < last[1] + 10 and now_ns < duration_ns:
            return
        if tty and wall - last[0] < 0.2 and now_ns < duration_ns:
            return
        last[0], last[1] = wall, pct
        bar = "#" * (pct // 5) + "." * (20 - pct // 5)
        line = (f"[{bar}] {pct:3d}%  sim {now_ns / 1e9:9.1f}s  events {events:9d}  "
                f"{events / max(wall, 1e-9):9.0f} ev/s  wall {wall:6.1f}s")
        print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr,
              flush=True)

    def done() -> None:
        if tty:
            print(file=sys.stderr)

    return show, done


def _simulation(args: argparse.Namespace, command: str,
                seed: int | None = None) -> Simulation | None:
    """The config's simulation, agent classes resolved; ``None`` after printing why not."""
    from exsim.config import ConfigError, load_config
    from exsim.sim import AgentLoadError, Simulation

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"exsim {command}: {exc}", file=sys.stderr)
        return None
    try:
        return Simulation(config, seed=seed)
    except ConfigError as exc:  # checks that need the seed (the index path): no file name yet
        print(f"exsim {command}: {args.config or 'built-in quickstart'}: {exc}",
              file=sys.stderr)
    except AgentLoadError as exc:
        print(f"exsim {command}: {args.config or 'built-in quickstart'}: {exc}",
              file=sys.stderr)
    return None


def _cmd_run(args: argparse.Namespace) -> int:
    from exsim.interrupts import Terminated, reason_of
    from exsim.output.rundir import RunDirError

    sim = _simulation(args, "run", args.seed)
    if sim is None:
        return 2
    config = sim.config
    out = Path(args.out) if args.out else (
        Path(config.output.dir) / f"{config.output.name}-seed{sim.seed}")
    # exsim's own default place holds the latest run of that config and seed: running it
    # again replaces it (so the README's command can be repeated); a directory the user
    # named is never replaced without --overwrite
    overwrite = args.overwrite or not args.out
    if overwrite and (out / "summary.json").is_file():
        print(f"exsim run: replacing the earlier run in {out}", file=sys.stderr)
    show, done = _progress_printer(sim.duration_ns)
    try:
        summary = sim.run(out, progress=None if args.quiet else show, overwrite=overwrite)
    except RunDirError as exc:
        done()
        print(f"exsim run: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated) as exc:
        done()
        print(f"exsim run: {reason_of(exc)}; {_on_disk(out)}", file=sys.stderr)
        return 130 if isinstance(exc, KeyboardInterrupt) else 143  # 128 + the signal
    except Exception as exc:  # a bug in exsim: the run dir still has the log
        done()
        print(f"exsim run: failed: {exc!r}; {_on_disk(out)}", file=sys.stderr)
        return 1
    done()
    if not args.no_report:
        from exsim.output.report import write_report

        try:
            write_report(out)
        except KeyboardInterrupt:
            print(f"exsim run: interrupted while drawing the report; {_on_disk(out)}; "
                  f"`exsim report {out}` draws it", file=sys.stderr)
            return 130
    print(_summary_table(summary, out))
    if not summary["complete"]:
        print(f"exsim run: INCOMPLETE: {summary['reason']} (at {summary['sim_seconds']:g} of "
              f"{config.run.duration:g} simulated s)\n{summary.get('error', '')}",
              file=sys.stderr)
        return 1
    return 0 if all(summary["invariants"].values()) else 1


def _on_disk(out: Path) -> str:
    """What the run directory holds now, in words (from its summary.json)."""
    from exsim.output.rundir import EVENTS, read_summary

    summary = read_summary(out)
    if summary is None:
        return f"nothing was written to {out}"
    if summary.get("complete"):
        return f"the run in {out} is complete"
    where = (f" at {summary['sim_seconds']:g} simulated s" if "sim_seconds" in summary
             else "")
    rebuild = (f"; `exsim report {out}` rebuilds its tables from {EVENTS}"
               if (out / EVENTS).exists() else "")
    return (f"the run in {out} is INCOMPLETE ({summary.get('reason')}){where}: what was "
            f"recorded is there{rebuild}")


def _summary_table(summary: dict[str, Any], out: Path) -> str:
    left = summary.get("unprocessed_requests") or {}
    rows = [("output", str(out)),
            ("complete", summary["complete"] if summary["complete"]
             else f"False: {summary['reason']}"),
            ("seed", summary["seed"]), ("simulated", f"{summary['sim_seconds']:.1f} s"),
            ("wall", f"{summary['wall_seconds']:.1f} s"), ("core", summary.get("core")),
            ("events", summary["events"]),
            ("trades", summary["trades"]), ("agents", summary["agents"]),
            ("max exchange queue", summary["max_exchange_queue"]),
            ("unprocessed requests", ", ".join(f"{n} {kind}" for kind, n in left.items()
                                               if n and kind != "total") or "none"),
            ("digest", summary["digest"])]
    rows += [(f"invariant {k}", "ok" if v else "FAILED")
             for k, v in summary["invariants"].items()]
    rows += [("warning", text) for text in summary.get("warnings", [])]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:{width}s}  {v}" for k, v in rows)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from exsim.config import ConfigError, load_document
    from exsim.sweep import SweepInterrupted, plan, run_sweep

    try:
        document, source = load_document(args.config)
        specs = plan(document, source)
    except ConfigError as exc:
        print(f"exsim sweep: {exc}", file=sys.stderr)
        return 2
    name = document.get("output", {}).get("name", "sweep")
    out = Path(args.out) if args.out else Path(
        document.get("output", {}).get("dir", "runs")) / f"{name}-sweep"
    t0 = time.perf_counter()

    def show(done: int, failed: int, total: int) -> None:
        wall = time.perf_counter() - t0
        left = (wall / done * (total - done)) if done else float("nan")
        print(f"runs {done}/{total} done, {failed} failed, about {left:.0f} s left",
              file=sys.stderr, flush=True)

    try:
        result = run_sweep(specs, out, workers=args.workers, progress=show,
                           executor=args.executor, ray_address=args.ray_address)
    except SweepInterrupted as stop:
        # stopping already: a repeated Ctrl-C is no news, neither now nor while Python
        # shuts down (where it would end the process by SIGINT): ignored from here on
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        print(f"exsim sweep: stopped by {stop.signal}: {len(stop.result.rows)} of {len(specs)} "
              f"runs finished, in {out / 'results.csv'}; the same command resumes the rest",
              file=sys.stderr)
        return 128 + int(getattr(signal, stop.signal, signal.SIGINT))
    except KeyboardInterrupt:  # a Ctrl-C just as the sweep put Python's handler back
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print(f"exsim sweep: interrupted; what finished is in {out}, and the same command "
              "resumes the rest", file=sys.stderr)
        return 130
    except ConfigError as exc:
        print(f"exsim sweep: {exc}", file=sys.stderr)
        return 2
    rows = result.rows
    if result.changed:
        print(f"exsim sweep: reran {result.changed} runs whose config changed since they were "
              f"run into {out}", file=sys.stderr)
    failed = sum(1 for r in rows if not r["complete"])
    from exsim.output.report import write_report

    page = write_report(out)
    reused = f", {result.reused} of them reused" if result.reused else ""
    print(f"{len(rows)} runs ({failed} failed){reused} in {time.perf_counter() - t0:.1f} s: "
          f"{out / 'results.csv'}, {out / 'aggregate.csv'}, {page}")
    return 0 if failed == 0 else 1


def _cmd_adequacy(args: argparse.Namespace) -> int:
    from exsim.config import ConfigError, load_document
    from exsim.fund_adequacy import TARGETS, run_adequacy
    from exsim.output.report import write_report
    from exsim.sweep import SweepInterrupted

    try:
        targets = tuple(float(t) for t in args.targets.split(",")) if args.targets else TARGETS
    except ValueError:
        print(f"exsim adequacy: --targets: a comma-separated list of probabilities, got "
              f"{args.targets!r}", file=sys.stderr)
        return 2
    if not all(0 < t < 1 for t in targets):
        print(f"exsim adequacy: --targets: each must be in (0, 1), got {args.targets!r}",
              file=sys.stderr)
        return 2
    if args.seeds <= 0 or args.stochastic < 0 or args.verify < 0:
        print("exsim adequacy: --seeds must be > 0, --stochastic and --verify >= 0",
              file=sys.stderr)
        return 2
    try:
        document, source = load_document(args.config)
        base = int(document.get("run", {}).get("seed", 1))
        name = document.get("output", {}).get("name", "venue")
        out = Path(args.out) if args.out else Path(
            document.get("output", {}).get("dir", "runs")) / f"{name}-adequacy"
        t0 = time.perf_counter()

        def show(done: int, failed: int, total: int) -> None:
            print(f"runs {done}/{total} done, {failed} failed, wall "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

        result = run_adequacy(document, source, out,
                              seeds=list(range(base, base + args.seeds)),
                              stochastic=args.stochastic,
                              verify_seeds=list(range(10_000, 10_000 + args.verify)),
                              workers=args.workers, targets=targets, progress=show)
    except ConfigError as exc:
        print(f"exsim adequacy: {exc}", file=sys.stderr)
        return 2
    except SweepInterrupted as stop:
        print(f"exsim adequacy: stopped by {stop.signal}; the same command resumes",
              file=sys.stderr)
        return 130
    write_report(out)
    rows = [(f"P(ADL) <= {p}", "not bounded by these runs" if t["fund"] is None else
             f"fund {t['fund']:,.0f} ({t['fund_over_oi']:.4%} of OI), 95% interval "
             f"{t['ci'][0] if t['ci'][0] is None else round(t['ci'][0])} to "
             f"{t['ci'][1] if t['ci'][1] is None else round(t['ci'][1])}")
            for p, t in result["targets"].items()]
    rows += [("cover 1 / cover 2", f"{result['cover1']} / {result['cover2']}"),
             ("stress runs", f"{result['runs']} ({result['failed']} failed)")]
    if "verified" in result:
        v = result["verified"]
        rows.append((f"verified at P(ADL) <= {v['target']}",
                     f"P(ADL) = {v['p_adl']} over {v['runs']} runs, 95% interval {v['ci']}"))
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:{width}s}  {v}" for k, v in rows))
    print(f"{out / 'adequacy.json'}, {out / 'report.html'}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from exsim.output.report import ReportError, write_report

    try:
        page = write_report(args.directory)
    except (ReportError, OSError) as exc:
        print(f"exsim report: {exc}", file=sys.stderr)
        return 2
    print(page)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    sim = _simulation(args, "validate")  # resolves agent classes, funds accounts, runs nothing
    if sim is None:
        return 2
    config = sim.config
    print(f"{args.config or 'built-in quickstart'}: ok ({len(config.agents)} agent groups, "
          f"{config.run.duration:g} simulated seconds)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exsim", description="Exchange simulator for crypto perpetual futures.")
    parser.add_argument("--version", action="version", version=f"exsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a simulation (no CONFIG: the built-in quickstart)")
    run.add_argument("config", nargs="?", help="TOML config file")
    run.add_argument("--seed", type=int, help="override [run] seed")
    run.add_argument("--out", help="output directory (default: [output] dir/name-seedN)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--no-report", action="store_true", help="no plots and report.html")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the --out directory if it already holds a run (the "
                     "default refuses; the default output directory is always replaced)")
    run.set_defaults(func=_cmd_run)
    sweep = sub.add_parser("sweep", help="run every seed and grid point of a [sweep] config")
    sweep.add_argument("config", help="TOML config file with a [sweep] section")
    sweep.add_argument("--workers", type=int, default=None,
                       help="processes (default: the number of cores)")
    sweep.add_argument("--out", help="output directory (default: [output] dir/name-sweep)")
    sweep.add_argument("--executor", choices=["local", "ray"], default="local",
                       help="local process pool (default) or a Ray cluster")
    sweep.add_argument("--ray-address", help="Ray cluster address (default: a local instance)")
    sweep.set_defaults(func=_cmd_sweep)
    adequacy = sub.add_parser(
        "adequacy", help="how big must this venue's insurance fund be? (docs/mechanics.md 8)")
    adequacy.add_argument("config", help="TOML config of the venue")
    adequacy.add_argument("--seeds", type=int, default=2,
                          help="seeds of each shipped real crash (default 2)")
    adequacy.add_argument("--stochastic", type=int, default=16,
                          help="stochastic flash crashes (default 16)")
    adequacy.add_argument("--verify", type=int, default=6,
                          help="verifying runs at the recommended fund (default 6)")
    adequacy.add_argument("--targets", help="P(ADL) targets (default 0.01,0.05,0.1)")
    adequacy.add_argument("--workers", type=int, default=None,
                          help="processes (default: the number of cores)")
    adequacy.add_argument("--out", help="output directory (default: [output] dir/name-adequacy)")
    adequacy.set_defaults(func=_cmd_adequacy)
    report = sub.add_parser("report", help="plots and report.html for a run or sweep directory")
    report.add_argument("directory")
    report.set_defaults(func=_cmd_report)
    validate = sub.add_parser("validate", help="check a config without running it")
    validate.add_argument("config", nargs="?", help="TOML config file")
    validate.set_defaults(func=_cmd_validate)
    demo = sub.add_parser(
        "demo", help="replay a seeded order flow through the exchange core and summarise it")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--steps", type=int, default=20_000, help="requests to replay")
    demo.add_argument("--accounts", type=int, default=50)
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.set_defaults(func=_cmd_demo)
    return parser


def cwd_last_on_path() -> None:
    """Let a config's ``"module:Class"`` name a module in the working directory, looked
    up after the installed packages: a ``pyarrow.py`` (or any file named like a
    dependency) lying in the directory must not be imported in its place.  ``python -m
    exsim`` puts the directory first, so it is moved; the ``exsim`` script does not
    have it, so it is appended.  (Modules already imported when this runs, exsim's own
    and trio under ``python -m``, came from where Python put them; ``python -P -m
    exsim`` leaves the directory out from the start.)"""
    cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", cwd)] + [cwd]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cwd_last_on_path()
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
