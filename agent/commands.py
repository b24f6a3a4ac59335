"""The agent's sub-commands. Until the agent lands, ``demo`` simulates and renders an ECG."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_demo"]


def _run_demo(args: argparse.Namespace) -> int:
    from tools.page_io import write_page
    from tools.render import RenderConfig, render
    from tools.simulate import SimulationConfig, simulate

    simulation = simulate(SimulationConfig(fs_hz=500, seed=7, heart_rate_bpm=72, pr_ms=240, qrs_ms=140, rbbb=True))
    page = render(simulation.recording, RenderConfig())
    written = write_page(page, args.out / "demo_ecg")
    print(f"simulated ECG (truth: {', '.join(simulation.truth.labels)}) rendered to {written[0]}")
    return 0


def add_demo(subparsers: argparse._SubParsersAction) -> None:
    """``ecg-agent demo``."""
    parser = subparsers.add_parser("demo", help="simulate an ECG with a known abnormality and render it",
                                   description="Simulate a 12-lead ECG (first-degree AV block, RBBB) and render it "
                                               "as an ecg-image-kit-style page with its ground truth.")
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: out/demo)")
    parser.set_defaults(run=_run_demo)
