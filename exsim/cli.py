"""Command line: ``exsim demo`` (more subcommands arrive with the actor runtime)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from exsim import __version__


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exsim", description="Exchange simulator for crypto perpetual futures.")
    parser.add_argument("--version", action="version", version=f"exsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="replay a seeded order flow through the exchange core and summarise it")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--steps", type=int, default=20_000, help="requests to replay")
    demo.add_argument("--accounts", type=int, default=50)
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
