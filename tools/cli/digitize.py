"""``ecg-agent digitize IMAGE -o OUT``: paper ECG image to a 12-lead record plus a JSON sidecar.

The record's format follows OUT's suffix (none: WFDB ``OUT.hea/.dat``; ``.npz``; ``.csv``); the
sidecar ``<OUT stem>.digitization.json`` holds calibration, layout, rotation, per-lead confidence,
warnings and the resolved config. ``--overlay FILE.png`` draws the traced leads over the image.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "digitize", help="trace a paper ECG image into a calibrated 12-lead record",
        description="Read an ECG image (PNG, JPEG, BMP, TIFF or the first page of a PDF) into a 12-lead "
                    "record in mV: WFDB by default, .npz or .csv by the output suffix, with a JSON sidecar "
                    "describing calibration, layout, confidence and warnings.")
    parser.add_argument("image", type=Path, help="the ECG image file")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="output record: OUT (WFDB OUT.hea/.dat), OUT.npz or OUT.csv")
    parser.add_argument("--fs", type=float, default=500.0, help="output sampling rate, Hz (default 500)")
    parser.add_argument("--overlay", type=Path, help="also write a PNG with the traced leads drawn over the image")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from tools.digitize import DigitizeConfig, digitize
    from tools.digitize.overlay import draw_overlay
    from tools.digitize.page_image import load_page_image
    from tools.errors import InputError
    from tools.record_io import write_record

    if not args.image.is_file():
        raise InputError(f"image file {str(args.image)!r} does not exist")
    config = DigitizeConfig(fs_hz=args.fs)
    result = digitize(args.image, config)
    written = write_record(result.recording, args.output)
    stem = args.output.with_suffix("") if args.output.suffix.lower() in (".npz", ".csv") else args.output
    sidecar = Path(f"{stem}.digitization.json")
    summary = {"image": str(args.image), **result.summary(), "config": config.model_dump()}
    sidecar.write_text(json.dumps(summary, indent=2) + "\n")
    if args.overlay:
        rgb = load_page_image(args.image, config)
        Image.fromarray(draw_overlay(rgb, result)).save(args.overlay)
    print(f"{result.layout.name} page, {sum(c > 0 for c in result.lead_confidence.values())} leads, "
          f"{result.calibration.px_per_mv:.1f} px/mV ({result.calibration.method}); wrote "
          + ", ".join(str(p) for p in [*written, sidecar, *([args.overlay] if args.overlay else [])]))
    for warning in result.warnings:
        print(f"warning: {warning}")
    return 0
