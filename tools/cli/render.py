"""``ecg-agent render``: draw a record as an ECG paper page, optionally distorted, with its truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.errors import InputError

__all__ = ["add_parser"]

_IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``render`` (entry point of group ``ecg_agent.commands``)."""
    parser = subparsers.add_parser(
        "render", help="render a record as an ECG paper page (ecg-image-kit geometry) with ground truth",
        description="Render RECORD as an ECG page. Writes OUT.png|jpg, OUT.json.gz (ground truth in "
                    "ecg-image-kit's annotation format: lead boxes, start/end samples, plotted pixels, "
                    "px per mm) and OUT.hea/.dat (the record with every sample that was not plotted set "
                    "to NaN). Defaults reproduce ecg-image-kit's default page: 11 x 8.5 in at 200 DPI, "
                    "25 mm/s, 10 mm/mV, 3x4 + lead II rhythm strip.")
    parser.add_argument("record", metavar="RECORD",
                        help="record file: WFDB .hea/.dat (or the bare record name), PhysioNet 2021 .mat, "
                             ".csv or .npz")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.png",
                        help="output image path, .png or .jpg; the truth and the masked record go beside it")
    page = parser.add_argument_group("page")
    page.add_argument("--layout", default="3x4+1",
                      help="3x4+1 (3x4 + lead II strip), 3x4+3 (strips V1, II, V5), 6x2 or 12x1 (default 3x4+1)")
    page.add_argument("--lead-order", default="standard",
                      help="standard, or cabrera (aVL, I, -aVR, II, aVF, III) (default standard)")
    page.add_argument("--speed", type=int, default=25, metavar="MM_S",
                      help="paper speed in mm/s: 25 or 50 (default 25)")
    page.add_argument("--gain", type=int, default=10, metavar="MM_MV",
                      help="gain in mm/mV: 5, 10 or 20 (default 10)")
    page.add_argument("--dpi", type=int, default=200, metavar="N",
                      help="resolution in dots per inch, 50-300; the page is 11 x 8.5 in (default 200)")
    page.add_argument("--grid", default="red", metavar="COLOUR",
                      help="grid colour: red, pink, blue, green, brown, bw (grey grid, black trace) or none "
                           "(default red)")
    page.add_argument("--header", nargs="+", action="extend", default=[], metavar="TEXT",
                      help="header text lines printed at the top left (one argument per line)")
    page.add_argument("--start", type=float, default=0.0, metavar="S",
                      help="time of the record in s at the page's left edge (default 0)")
    page.add_argument("--no-text", action="store_true",
                      help="do not print the speed and gain text (e.g. '25mm/s 10mm/mV')")
    noise = parser.add_argument_group("distortions (all off by default)")
    noise.add_argument("--rotate", type=float, metavar="DEG",
                       help="rotate the page by DEG degrees counter-clockwise (-45..45)")
    noise.add_argument("--perspective", type=float, metavar="X",
                       help="phone-photo keystone: corners move inward by up to X of the page size (0..0.3)")
    noise.add_argument("--crop", type=float, metavar="FRAC",
                       help="cut FRAC of the width and of the height from random edges (0..0.5)")
    noise.add_argument("--noise", type=float, metavar="SIGMA",
                       help="Gaussian noise standard deviation in grey levels of 0-255 (0..100)")
    noise.add_argument("--blur", type=float, metavar="SIGMA",
                       help="Gaussian blur standard deviation in px (0..10)")
    noise.add_argument("--jpeg", type=int, metavar="Q", help="re-encode as JPEG at quality Q (1..100)")
    noise.add_argument("--temperature", type=float, metavar="K",
                       help="colour temperature of the light in kelvin (1500..15000; 6500 is neutral)")
    noise.add_argument("--lighting", type=float, metavar="X",
                       help="uneven lighting: gradient and vignette darkening by up to X (0..1)")
    noise.add_argument("--wrinkles", type=float, metavar="X",
                       help="paper wrinkles and 1-4 creases, strength X (0..1)")
    noise.add_argument("--scribbles", type=int, metavar="N", help="N handwriting-like pen scribbles (0..50)")
    noise.add_argument("--seed", type=int, default=0, metavar="N",
                       help="seed of the random parts of the distortions (default 0)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Render, distort if asked, write the three outputs and print their paths."""
    from tools.distort import DistortionConfig, distort
    from tools.page_io import write_page
    from tools.record_io import read_record
    from tools.render import RenderConfig, render

    output = Path(args.output)
    image_format = _IMAGE_SUFFIXES.get(output.suffix.lower())
    if image_format is None:
        raise InputError(f"--output {args.output!r} must end in .png or .jpg")
    config = RenderConfig(layout=args.layout, lead_order=args.lead_order, paper_speed_mm_s=args.speed,
                          gain_mm_mv=args.gain, dpi=args.dpi, grid_colour=args.grid,
                          header_lines=tuple(args.header), print_speed_gain_text=not args.no_text,
                          start_s=args.start)
    distortions = DistortionConfig(
        rotation_deg=args.rotate, perspective=args.perspective, crop=args.crop, noise_sigma=args.noise,
        blur_sigma_px=args.blur, jpeg_quality=args.jpeg, temperature_k=args.temperature,
        lighting=args.lighting, wrinkles=args.wrinkles, scribbles=args.scribbles)
    page = render(read_record(args.record), config)
    if distortions.model_dump(exclude_none=True):
        page = distort(page, distortions, args.seed)
    for path in write_page(page, output.with_suffix(""), image_format=image_format):
        print(path)
    return 0
