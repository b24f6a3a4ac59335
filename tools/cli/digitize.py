"""``ecg-agent digitize IMAGE -o OUT``: paper ECG image to a 12-lead record plus a JSON sidecar.

The record's format follows OUT's suffix (none: WFDB ``OUT.hea/.dat``; ``.npz``; ``.csv``); the
sidecar ``<OUT stem>.digitization.json`` holds calibration, layout, rotation, per-lead confidence,
warnings and the resolved config. ``--overlay FILE.png`` draws the traced leads over the image.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LEAD_COLOURS_BGR = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
                    (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40), (128, 0, 0), (0, 0, 128))


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


def draw_overlay(image_rgb, traces_px: dict, names: list[str]):
    """(H, W, 3) uint8 copy of the image with each traced path drawn in its lead's colour.

    ``traces_px`` maps a lead name (or "II (short)" for a lead's second copy) to (n, 2) x, y
    pixels; ``names`` orders the leads for the colours.
    """
    import cv2
    import numpy as np

    canvas = image_rgb.copy()
    thickness = max(1, int(round(min(canvas.shape[:2]) / 600)))
    for key, path in traces_px.items():
        if len(path) < 2:
            continue
        base = key.split(" ")[0]
        i = names.index(base) if base in names else 0
        points = np.round(path[:, :2]).astype(np.int32).reshape(-1, 1, 2)
        colour = LEAD_COLOURS_BGR[i % len(LEAD_COLOURS_BGR)][::-1]
        cv2.polylines(canvas, [points], False, colour, thickness, lineType=cv2.LINE_AA)
        x, y = points[0, 0]
        cv2.putText(canvas, base, (int(x), max(12, int(y) - 6 * thickness)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * thickness, colour, thickness, cv2.LINE_AA)
    return canvas


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from tools.digitize import DigitizeConfig, digitize
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
        Image.fromarray(draw_overlay(rgb, result.traces_px, list(result.recording.leads))).save(args.overlay)
    print(f"{result.layout.name} page, {sum(c > 0 for c in result.lead_confidence.values())} leads, "
          f"{result.calibration.px_per_mv:.1f} px/mV ({result.calibration.method}); wrote "
          + ", ".join(str(p) for p in [*written, sidecar, *([args.overlay] if args.overlay else [])]))
    for warning in result.warnings:
        print(f"warning: {warning}")
    return 0
