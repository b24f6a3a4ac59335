"""``ecg-agent bench render``: renderer throughput on one core beside matplotlib drawing the same page.

The baseline draws the default page the way ecg-image-kit does (a matplotlib figure of
11 x 8.5 in, major/minor grid lines, one ``ax.plot`` per panel and per calibration pulse, text),
rendered by Agg into an array: file writing is left out on both sides. matplotlib is installed
as a dependency of wfdb; the benchmark imports it only here.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

__all__ = ["add_parser"]

# Typical "phone photo" settings: every distortion on at a moderate strength.
_DISTORTIONS = dict(rotation_deg=3.0, perspective=0.05, crop=0.05, noise_sigma=8.0, blur_sigma_px=1.0,
                    jpeg_quality=80, temperature_k=5000.0, lighting=0.3, wrinkles=0.5, scribbles=5)
# ecg-image-kit's own figures (per page, one core), quoted in the issue for reference.
_EIK_CLEAN_S, _EIK_DISTORTED_S = 0.7, 7.8


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``bench render`` (entry point of group ``ecg_agent.bench``)."""
    parser = subparsers.add_parser(
        "render", help="pages/s of the renderer, clean and distorted, vs matplotlib (one core)",
        description="Time render() and render()+distort() on one core for the default page of a simulated "
                    "10-s 500-Hz record, beside matplotlib drawing the same page as ecg-image-kit does, "
                    "in the same run; writes bench/results/render.json.")
    parser.add_argument("--repeats", type=int, default=20, metavar="N",
                        help="timed pages per measurement of our renderer (default 20; matplotlib gets N/4, "
                             "at least 3)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Measure, print a table and write the results file."""
    from tools.benchmarking import pin_one_core, write_results
    from tools.distort import DistortionConfig, distort
    from tools.errors import InputError
    from tools.render import RenderConfig, render
    from tools.simulate import SimulationConfig, simulate

    if args.repeats < 1:
        raise InputError(f"--repeats {args.repeats}: must be at least 1")
    pin_one_core()
    recording = simulate(SimulationConfig(fs_hz=500, seed=0)).recording
    config, distortions = RenderConfig(), DistortionConfig(**_DISTORTIONS)
    seeds = iter(range(10**6))
    timings = {  # name: (wall s, CPU s) per page
        "clean": _wall_and_cpu_s(lambda: render(recording, config), args.repeats),
        "distorted": _wall_and_cpu_s(lambda: distort(render(recording, config), distortions, next(seeds)),
                                     args.repeats),
        "matplotlib": _wall_and_cpu_s(lambda: _matplotlib_page(recording), max(3, args.repeats // 4)),
    }
    figures: dict[str, Any] = {
        "record": "tools.simulate, 10 s, 500 Hz, 12 leads; default page 2200 x 1700 px",
        **{f"{name}_pages_per_s": 1 / wall for name, (wall, _) in timings.items()},
        **{f"{name}_pages_per_cpu_s": 1 / cpu for name, (_, cpu) in timings.items()},
        "speedup_clean_vs_matplotlib": timings["matplotlib"][0] / timings["clean"][0],
        "distortions": _DISTORTIONS,
        "ecg_image_kit_quoted_s_per_page": {"clean": _EIK_CLEAN_S, "distorted": _EIK_DISTORTED_S},
        "targets_pages_per_s": {"clean": 10, "distorted": 3},
    }
    print(f"{'one core':<34}{'pages/s':>10}{'ms/page':>10}{'pages/CPU-s':>13}")
    for name, label in (("clean", "ecg-agent render (clean)"), ("distorted", "ecg-agent render + distort"),
                        ("matplotlib", "matplotlib, same page (baseline)")):
        wall, cpu = timings[name]
        print(f"{label:<34}{1 / wall:>10.1f}{wall * 1000:>10.1f}{1 / cpu:>13.1f}")
    print(f"clean: {figures['speedup_clean_vs_matplotlib']:.1f}x matplotlib; targets >= 10 clean and >= 3 "
          f"distorted pages/s (ecg-image-kit: {_EIK_CLEAN_S} s and {_EIK_DISTORTED_S} s per page); "
          "pages/CPU-s is the rate on a core of our own when other jobs share the machine")
    print(f"results: {write_results('render', figures)}")
    return 0


def _wall_and_cpu_s(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock seconds per call and mean CPU seconds per call of this process."""
    from tools.benchmarking import time_per_call_s

    fn()  # warm-up: caches, imports
    start = time.process_time()
    wall = time_per_call_s(fn, repeats=repeats, warmup=0)
    return wall, (time.process_time() - start) / repeats


def _matplotlib_page(recording: Any) -> Any:
    """The default page drawn as ecg-image-kit draws it, returned as an RGBA array."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import AutoMinorLocator

    from tools.render import RenderConfig, layout_panels

    figure = Figure(figsize=(11, 8.5), dpi=200)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    width_mm, height_mm = 11 * 25.4, 8.5 * 25.4
    axes.set_xticks(np.arange(0, width_mm, 5.0))
    axes.set_yticks(np.arange(0, height_mm, 5.0))
    axes.minorticks_on()
    axes.xaxis.set_minor_locator(AutoMinorLocator(5))
    axes.grid(which="major", linestyle="-", linewidth=0.5, color=(1, 0, 0))
    axes.grid(which="minor", linestyle="-", linewidth=0.5, color=(0.996, 0.8745, 0.8588))
    axes.set_xlim(0, width_mm)
    axes.set_ylim(0, height_mm)
    for panel in layout_panels(RenderConfig()):
        start = int(round(panel.t0_s * recording.fs_hz))
        values = recording.lead(panel.lead)[start:start + int(round(panel.duration_s * recording.fs_hz))]
        axes.plot(panel.x_mm + np.arange(len(values)) / recording.fs_hz * 25, panel.baseline_mm + 10 * values,
                  linewidth=0.75, color=(0.1, 0.1, 0.1))
        if panel.pulse:
            axes.plot(panel.x_mm - 5 + np.array([0, 0.05, 0.1, 5.05, 5.1, 5.15]),
                      panel.baseline_mm + np.array([0, 0, 10, 10, 0, 0]), linewidth=1.125, color=(0.1, 0.1, 0.1))
        axes.text(panel.x_mm, panel.baseline_mm - 7, panel.label, fontsize=11)
    axes.text(50, 5, "25mm/s", fontsize=11)
    axes.text(100, 5, "10mm/mV", fontsize=11)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())
