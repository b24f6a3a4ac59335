"""Helpers shared by every ``ecg-agent bench`` command: one-core pinning, timing, results files.

Benchmarks print their figures beside a baseline measured in the same run and write a JSON file
that describes the machine, so numbers from different machines are never confused.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["pin_one_core", "machine_info", "rate_right", "time_per_call_s", "write_results"]

DEFAULT_RESULTS_DIR = Path("bench/results")


def pin_one_core() -> None:
    """Restrict this process (and BLAS/OpenCV/torch thread pools) to a single CPU core."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    try:
        import cv2
        cv2.setNumThreads(1)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(packages: tuple[str, ...] = ("numpy", "opencv-python-headless", "neurokit2", "torch")) -> dict[str, Any]:
    """A description of this machine and the package versions that matter for the figures."""
    versions: dict[str, str] = {}
    for name in packages:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "absent"
    try:
        cores_used = len(os.sched_getaffinity(0))
    except AttributeError:
        cores_used = os.cpu_count() or 0
    return {
        "cpu": _cpu_model(), "cores_total": os.cpu_count(), "cores_used": cores_used,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        if hasattr(os, "sysconf") else None,
        "platform": platform.platform(), "python": platform.python_version(), "packages": versions,
    }


def time_per_call_s(fn: Callable[[], object], *, repeats: int, warmup: int = 1) -> float:
    """Median wall-clock seconds per call of ``fn`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[len(samples) // 2]


def write_results(name: str, figures: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write ``figures`` with the machine description to ``<out_dir>/<name>.json``; return the path."""
    out_dir = Path(out_dir or DEFAULT_RESULTS_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    payload = {"benchmark": name, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": machine_info(), "figures": figures}
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    return path


def rate_right(measured_bpm: float | None, truth_bpm: float | None) -> bool:
    """Whether a heart rate is right: within 10 % or 5 bpm of the truth (both None: right, as an
    abstention where there is no rate)."""
    if measured_bpm is None or truth_bpm is None:
        return measured_bpm is None and truth_bpm is None
    return abs(measured_bpm - truth_bpm) <= max(5.0, 0.10 * truth_bpm)
