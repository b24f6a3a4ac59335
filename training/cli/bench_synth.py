"""``ecg-agent bench synth``: instruction-data synthesis throughput on one core, rendering included.

Figures (all in the same run, one pinned core, one process): conversations/s of ``ecg-agent synth``
from the simulator at the default settings (100 DPI JPEG, 4 conversations per image), at
ecg-image-kit's resolution (200 DPI PNG, one conversation per image), and from LUDB when it is
present; beside the baseline of simulating + rendering + encoding the same pages alone (pages/s),
which shows what the question drawing, grounding and measurement cost on top. Target: >= 20
conversations/s (issue 7).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]

_TARGET_PER_S = 20.0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``bench synth`` (entry point of group ``ecg_agent.bench``)."""
    parser = subparsers.add_parser(
        "synth", help="conversations/s of ecg-agent synth on one core (rendering included) vs rendering alone",
        description="Time ecg-agent synth on one pinned core (simulator at 100 and 200 DPI, LUDB if present) "
                    "beside simulating + rendering + encoding the same pages alone; writes bench/results/synth.json.")
    parser.add_argument("-n", "--n-samples", type=int, default=200, metavar="N",
                        help="conversations per timed run (count, default 200)")
    parser.add_argument("--ludb", type=Path, default=Path("../shared/data/ludb"), metavar="DIR",
                        help="LUDB folder (default ../shared/data/ludb; skipped if absent)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="results folder (default bench/results)")
    parser.set_defaults(run=_run)


def _timed_synth(source: str, n: int, **settings: Any) -> dict[str, Any]:
    from training.synth.dataset import SynthConfig
    from training.synth.writer import build_dataset

    config = SynthConfig(n_samples=n, seed=0, **settings)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        card = build_dataset(config, source, Path(tmp), simulator_fs_hz=500.0)
        elapsed_s = time.perf_counter() - start
    return {"source": source, **settings, "n_samples": card["n_samples"], "n_images": card["n_images"],
            "seconds": round(elapsed_s, 2), "samples_per_s": round(card["n_samples"] / elapsed_s, 1),
            "images_per_s": round(card["n_images"] / elapsed_s, 2)}


def _timed_render_only(n_pages: int, dpi: int) -> dict[str, Any]:
    """Baseline: simulate, render (half augmented) and encode the same pages, no questions."""
    import numpy as np

    from training.synth.pages import draw_page
    from training.synth.sources import SimulatorSource

    source = SimulatorSource(n_pages, 0, fs_hz=500.0)
    start = time.perf_counter()
    for page in range(n_pages):
        rng = np.random.default_rng([0, page, 1])
        draw_page(source.record(page).recording, rng, augmented=bool(rng.uniform() < 0.5), dpi=dpi,
                  image_format="jpg")
    elapsed_s = time.perf_counter() - start
    return {"n_images": n_pages, "dpi": dpi, "seconds": round(elapsed_s, 2),
            "images_per_s": round(n_pages / elapsed_s, 2)}


def _run(args: argparse.Namespace) -> int:
    from tools.benchmarking import pin_one_core, write_results
    from tools.errors import InputError

    if args.n_samples < 8:
        raise InputError(f"--n-samples must be >= 8, got {args.n_samples}")
    pin_one_core()
    _timed_synth("simulator", 8)  # warm-up: imports, fonts, grid cache
    # The baseline runs right before the main run, so that both see the same load on a shared machine.
    baseline = _timed_render_only(args.n_samples // 4, dpi=100)
    runs = {"simulator_100dpi_jpg_4_per_image": _timed_synth("simulator", args.n_samples),
            "simulator_200dpi_png_1_per_image": _timed_synth("simulator", max(8, args.n_samples // 8), dpi=200,
                                                             image_format="png", samples_per_image=1)}
    if (args.ludb / "ludb.csv").is_file():
        runs["ludb_100dpi_jpg_4_per_image"] = _timed_synth(f"ludb:{args.ludb}", args.n_samples // 2)
    main = runs["simulator_100dpi_jpg_4_per_image"]
    print(f"{'run':40s} {'samples/s':>10s} {'images/s':>9s} {'seconds':>8s}")
    for name, run in runs.items():
        print(f"{name:40s} {run['samples_per_s']:10.1f} {run['images_per_s']:9.2f} {run['seconds']:8.2f}")
    print(f"{'baseline: simulate+render+encode only':40s} {'':>10s} {baseline['images_per_s']:9.2f} "
          f"{baseline['seconds']:8.2f}")
    verdict = "meets" if main["samples_per_s"] >= _TARGET_PER_S else "misses"
    print(f"default settings: {main['samples_per_s']:.1f} samples/s on one core ({verdict} the >= "
          f"{_TARGET_PER_S:.0f}/s target); pages alone {baseline['images_per_s']:.2f}/s, within synth "
          f"{main['images_per_s']:.2f}/s")
    path = write_results("synth", {"runs": runs, "baseline_render_only": baseline,
                                   "target_samples_per_s": _TARGET_PER_S, "one_core": True}, args.out)
    print(f"wrote {path}")
    return 0
