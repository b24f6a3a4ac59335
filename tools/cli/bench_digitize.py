"""``ecg-agent bench digitize DIR``: Challenge 2024 SNR of the digitizer on images with ground truth.

``ecg-agent bench digitize --render-matrix`` instead renders simulated records with our
renderer and scores every cell of the distortion matrix (each distortion alone, 100 and 150 DPI,
6x2, 12x1 and 3x4+3 layouts, 50 mm/s, 5 and 20 mm/mV, black-and-white and missing grid, and a
noisy ECG signal printed on a clean page).

Pairs every ``N-0.png|jpg|...`` (ecg-image-kit style) or ``N.png`` with the WFDB record ``N.hea``
beside it, digitizes it on one core, and prints mean SNR per lead, per distortion type (from an
optional ``N.json`` sidecar's ``distortion`` key, else the folder name), overall, the pooled
(Kaggle) SNR, failures and seconds per page. Writes bench/results/digitize_<name>.json.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pdf")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "digitize", help="score the digitizer (Challenge 2024 SNR, dB) on images with ground-truth records",
        description="Digitize every image of DIR that has a WFDB record beside it (N-0.png + N.hea, or "
                    "N.png + N.hea) and report mean SNR (dB) per lead, per distortion and overall.")
    parser.add_argument("directory", type=Path, nargs="?",
                        help="folder of images with ground-truth WFDB records (omit with --render-matrix)")
    parser.add_argument("--render-matrix", action="store_true",
                        help="score our renderer's distortion matrix instead of a folder")
    parser.add_argument("--records", type=int, default=3,
                        help="simulated records per matrix cell (with --render-matrix)")
    parser.add_argument("--name", help="results name (bench/results/digitize_<name>.json); default: folder name")
    parser.add_argument("--subset", choices=("all", "even", "odd"), default="all",
                        help="score only records whose number is even (tuning half) or odd (held-out half)")
    parser.add_argument("--limit", type=int, default=0, help="score at most this many images (0: all)")
    parser.add_argument("--fs", type=float, default=500.0, help="output sampling rate of the digitizer, Hz")
    parser.set_defaults(run=run)


def _pairs(directory: Path, subset: str) -> list[tuple[Path, Path]]:
    pairs = []
    for image in sorted(directory.iterdir()):
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        stem = re.sub(r"-\d+$", "", image.stem)
        header = directory / f"{stem}.hea"
        if not header.exists():
            continue
        number = re.findall(r"\d+", stem)
        if subset != "all" and number and (int(number[-1]) % 2 == 0) != (subset == "even"):
            continue
        pairs.append((image, header.with_suffix("")))
    return pairs


def _distortion(image: Path, directory: Path) -> str:
    sidecar = image.with_name(re.sub(r"-\d+$", "", image.stem) + ".json")
    if sidecar.exists():
        try:
            return str(json.loads(sidecar.read_text()).get("distortion", directory.name))
        except (json.JSONDecodeError, AttributeError):
            pass
    return directory.name


# Matrix cells: (name, RenderConfig overrides, DistortionConfig fields).
MATRIX: tuple[tuple[str, dict, dict], ...] = (
    ("clean", {}, {}),
    ("dpi 100", {"dpi": 100}, {}), ("dpi 150", {"dpi": 150}, {}),
    ("layout 6x2", {"layout": "6x2"}, {}), ("layout 12x1", {"layout": "12x1"}, {}),
    ("layout 3x4+3", {"layout": "3x4+3"}, {}),
    ("50 mm/s", {"paper_speed_mm_s": 50}, {}),
    ("5 mm/mV", {"gain_mm_mv": 5}, {}), ("20 mm/mV", {"gain_mm_mv": 20}, {}),
    ("grid bw", {"grid_colour": "bw"}, {}), ("grid none", {"grid_colour": "none"}, {}),
    ("rotation 3 deg", {}, {"rotation_deg": 3.0}), ("perspective 0.05", {}, {"perspective": 0.05}),
    ("crop 0.05", {}, {"crop": 0.05}), ("noise 10", {}, {"noise_sigma": 10.0}),
    ("blur 1 px", {}, {"blur_sigma_px": 1.0}), ("jpeg 60", {}, {"jpeg_quality": 60}),
    ("temperature 4000 K", {}, {"temperature_k": 4000.0}), ("lighting 0.4", {}, {"lighting": 0.4}),
    ("wrinkles 0.5", {}, {"wrinkles": 0.5}), ("scribbles 10", {}, {"scribbles": 10}),
)
# One more cell: the ECG itself is noisy (muscle noise, mains hum, baseline wander, mV), the page clean.
SIGNAL_NOISE_MV = {"emg_mv": 0.03, "mains_mv": 0.05, "baseline_wander_mv": 0.3}


def _render_matrix(args: argparse.Namespace) -> int:
    import numpy as np

    from tools.benchmarking import pin_one_core, write_results
    from tools.digitization_score import record_snr_db
    from tools.digitize import DigitizeConfig, digitize
    from tools.distort import DistortionConfig, distort
    from tools.errors import ECGError
    from tools.render import RenderConfig, render
    from tools.simulate import NoiseConfig, SimulationConfig, simulate

    pin_one_core()
    config = DigitizeConfig(fs_hz=args.fs)
    recordings = [simulate(SimulationConfig(fs_hz=args.fs, seed=100 + i)).recording for i in range(args.records)]
    noisy = [simulate(SimulationConfig(fs_hz=args.fs, seed=100 + i, noise=NoiseConfig(**SIGNAL_NOISE_MV))).recording
             for i in range(args.records)]
    cells = [(*cell, recordings) for cell in MATRIX] + [("signal noise", {}, {}, noisy)]
    table, failures, seconds = {}, [], []
    for name, render_kw, distort_kw, cell_recordings in cells:
        scores = []
        for i, recording in enumerate(cell_recordings):
            page = render(recording, RenderConfig(**render_kw))
            if distort_kw:
                page = distort(page, DistortionConfig(**distort_kw), seed=i)
            start = time.perf_counter()
            try:
                estimate = digitize(page.image, config).recording
            except ECGError as exc:
                failures.append({"cell": name, "record": i, "error": str(exc)})
                scores.append(0.0)
                continue
            seconds.append(time.perf_counter() - start)
            n = page.masked.n_samples
            signal = np.full((n, 12), np.nan)
            signal[: min(n, estimate.n_samples)] = estimate.signal_mv[:n]
            per_lead = record_snr_db(page.masked, estimate.with_signal(signal))
            scores.append(float(np.mean(list(per_lead.values()))))
        table[name] = float(np.mean(scores))
        print(f"{name:22s} {table[name]:6.2f} dB")
    worst = min(table, key=table.get)
    figures = {"records_per_cell": args.records, "snr_db": table, "worst_cell": worst,
               "failures": failures, "seconds_per_page": float(np.median(seconds)) if seconds else None,
               "target_min_db": 12.0}
    print(f"worst cell: {worst} {table[worst]:.2f} dB (target: none below 12 dB); failures {len(failures)}; "
          f"{figures['seconds_per_page'] or float('nan'):.2f} s/page (median, one core)")
    print(f"wrote {write_results('digitize_render_matrix', figures)}")
    return 0


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from tools.benchmarking import pin_one_core, write_results
    from tools.digitization_score import pooled_snr_db, record_snr_db
    from tools.digitize import DigitizeConfig, digitize
    from tools.errors import ECGError, InputError
    from tools.record_io import read_record

    if args.render_matrix:
        return _render_matrix(args)
    if args.directory is None or not args.directory.is_dir():
        raise InputError(f"directory {str(args.directory)!r} does not exist")
    pairs = _pairs(args.directory, args.subset)
    if args.limit:
        pairs = pairs[: args.limit]
    if not pairs:
        raise InputError(f"no image with a ground-truth .hea record beside it in {str(args.directory)!r}")
    pin_one_core()
    config = DigitizeConfig(fs_hz=args.fs)
    per_lead: dict[str, list[float]] = {}
    per_distortion: dict[str, list[float]] = {}
    pooled, seconds, failures, records = [], [], [], []
    for image, record_path in pairs:
        reference = read_record(record_path)
        start = time.perf_counter()
        try:
            result = digitize(image, config)
        except ECGError as exc:
            failures.append({"image": image.name, "error": str(exc)})
            scores = {lead: 0.0 for lead in reference.leads if np.isfinite(reference.lead(lead)).any()}
        else:
            seconds.append(time.perf_counter() - start)
            estimate = result.recording
            if estimate.fs_hz != reference.fs_hz:
                raise InputError(f"--fs {args.fs:g} differs from the reference rate {reference.fs_hz:g} Hz")
            scores = record_snr_db(reference, estimate)
            pooled.append(pooled_snr_db(reference, estimate))
        for lead, value in scores.items():
            per_lead.setdefault(lead, []).append(value)
            per_distortion.setdefault(_distortion(image, args.directory), []).append(value)
        records.append({"image": image.name, "mean_snr_db": float(np.mean(list(scores.values())))})
        print(f"{image.name:28s} {records[-1]['mean_snr_db']:6.2f} dB")
    overall = float(np.mean([v for values in per_lead.values() for v in values]))
    figures = {
        "directory": str(args.directory), "subset": args.subset, "n_images": len(pairs),
        "mean_snr_db": overall, "pooled_snr_db": float(np.mean(pooled)) if pooled else None,
        "per_lead_snr_db": {k: float(np.mean(v)) for k, v in per_lead.items()},
        "per_distortion_snr_db": {k: float(np.mean(v)) for k, v in per_distortion.items()},
        "failures": failures, "seconds_per_page": float(np.median(seconds)) if seconds else None,
        "baseline_challenge_2024_winner_synthetic_db": 17.0, "records": records,
    }
    print("per lead (dB): " + "  ".join(f"{k} {v:.1f}" for k, v in figures["per_lead_snr_db"].items()))
    print("per distortion (dB): " + "  ".join(f"{k} {v:.1f}" for k, v in figures["per_distortion_snr_db"].items()))
    print(f"mean SNR {overall:.2f} dB (Challenge 2024 winner on synthetic renders: 17.0 dB); pooled "
          f"{figures['pooled_snr_db'] if figures['pooled_snr_db'] is None else round(figures['pooled_snr_db'], 2)} dB; "
          f"failures {len(failures)}/{len(pairs)}; "
          f"{figures['seconds_per_page'] or float('nan'):.2f} s/page (median, one core)")
    path = write_results(f"digitize_{args.name or args.directory.name}_{args.subset}", figures)
    print(f"wrote {path}")
    return 0
