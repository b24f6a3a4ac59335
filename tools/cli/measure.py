"""``ecg-agent measure RECORD [--json]``: global intervals, axes, rhythm and statements of a record."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``measure`` (entry point of group ``ecg_agent.commands``)."""
    parser = subparsers.add_parser(
        "measure", help="measure intervals, axes, rhythm and statements of a recording",
        description="Measure a recording the way a clinical program does (median beat, global onsets and "
                    "offsets over the leads, then rules) and print a clinical-layout table, or the JSON "
                    "contract of docs/measurement.schema.json with --json.")
    parser.add_argument("record", metavar="RECORD",
                        help="recording file: WFDB .hea/.dat, PhysioNet 2021 .mat+.hea, .csv or .npz")
    parser.add_argument("--json", action="store_true", help="print the JSON result instead of the table")
    parser.add_argument("--fs-hz", type=float, default=None, metavar="HZ",
                        help="sampling rate in Hz, only for a CSV file without a time_s column")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read, measure, print."""
    from tools.measure import MeasureConfig, measure
    from tools.record_io import read_record

    result = measure(read_record(args.record, fs_hz=args.fs_hz), MeasureConfig())
    if args.json:
        print(json.dumps(result.to_json_dict(), indent=2))
    else:
        _print_table(result.to_json_dict(), args.record)
    return 0


def _fmt(value: Any, digits: int = 0) -> str:
    return "n/m" if value is None else f"{value:.{digits}f}"


def _print_table(result: dict[str, Any], name: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    g = result["global"]
    head = Table(title=f"{name}: {result['fs_hz']:g} Hz, {result['duration_s']:.1f} s, "
                       f"{len(result['leads_present'])} leads", show_header=True)
    for col in ("Rate", "RR", "P", "PR", "QRS", "QT", "QTc B/F/Fr/H", "Axes P/QRS/T"):
        head.add_column(col)
    qtc = g["qtc_ms"]
    axes = g["axis_deg"]
    head.add_row(f"{_fmt(g['heart_rate_bpm'])} bpm", f"{_fmt(g['rr_ms'])} ms", f"{_fmt(g['p_duration_ms'])} ms",
                 f"{_fmt(g['pr_ms'])} ms", f"{_fmt(g['qrs_ms'])} ms", f"{_fmt(g['qt_ms'])} ms",
                 "/".join(_fmt(qtc[k]) for k in ("bazett", "fridericia", "framingham", "hodges")) + " ms",
                 "/".join(_fmt(axes[k]) for k in ("p", "qrs", "t")) + " deg")
    console.print(head)
    rhythm = result["rhythm"]
    console.print(f"Rhythm: [bold]{rhythm['label'] or 'undetermined'}[/bold]"
                  f"{'  AV: ' + rhythm['av_block'] if rhythm['av_block'] else ''}  "
                  f"beats {rhythm['n_beats']}, PAC {rhythm['pac_count']}, PVC {rhythm['pvc_count']}")
    for statement in result["statements"]:
        console.print(f"  • {statement['text']}  [dim]({statement['criteria']})[/dim]")
    matrix = Table(title="Per-lead (mV; QRS ms)")
    for col in ("Lead", "P", "Q", "R", "S", "T", "ST J", "ST J+60", "QRS"):
        matrix.add_column(col, justify="right")
    for row in result["leads"]:
        matrix.add_row(row["lead"] + ("" if row["usable"] else " ✗"),
                       *(_fmt(row[k], 2) for k in ("p_mv", "q_mv", "r_mv", "s_mv", "t_mv", "st_j_mv", "st_j60_mv")),
                       _fmt(row["qrs_ms"]))
    console.print(matrix)
    quality = result["quality"]
    if quality["flags"]:
        console.print(f"Quality flags: {', '.join(quality['flags'])}")
    for path, reason in result["not_measurable"].items():
        console.print(f"  [dim]{path}: not measurable: {reason}[/dim]")
    console.print("[dim]Computer measurements: to be over-read by a physician.[/dim]")
