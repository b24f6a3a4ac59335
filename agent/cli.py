"""``ecg-agent``: one console command whose sub-commands come from every package.

Each package declares its sub-commands as entry points (groups ``ecg_agent.commands`` and
``ecg_agent.bench`` in pyproject.toml); an entry point is a function ``add_parser(subparsers)``
that adds one argparse sub-parser with ``set_defaults(run=callable)``. The dispatcher therefore
imports no package by name (agent/ never imports training/), and heavy imports happen inside
each ``run``.

Exit codes: 0 success; 2 bad input or usage (one line on stderr, no traceback); 1 an internal
error (a bug: run with ``--debug`` for the traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from tools.errors import ECGError

__all__ = ["build_parser", "main"]


def _add_group(subparsers: argparse._SubParsersAction, group: str) -> None:
    for entry in sorted(entry_points(group=group), key=lambda e: e.name):
        entry.load()(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """The full ``ecg-agent`` parser, assembled from the installed entry points."""
    parser = argparse.ArgumentParser(
        prog="ecg-agent",
        description="Grounded ECG-image interpretation: simulate, render, digitize, measure, "
                    "interpret with PULSE and cross-check every claim.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of internal errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_group(commands, "ecg_agent.commands")
    bench = commands.add_parser("bench", help="measure speed and accuracy; results go to bench/results/",
                                description="Benchmarks: each prints its figures beside a baseline "
                                            "measured in the same run and writes a JSON results file "
                                            "that describes the machine.")
    _add_group(bench.add_subparsers(dest="bench", metavar="BENCHMARK", required=True), "ecg_agent.bench")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``ecg-agent`` and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ECGError as exc:
        print(f"ecg-agent: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # missing file, permission, disk full: the user's to fix
        print(f"ecg-agent: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ecg-agent: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours: say so plainly
        if args.debug:
            raise
        print(f"ecg-agent: internal error: {type(exc).__name__}: {exc} (re-run with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
