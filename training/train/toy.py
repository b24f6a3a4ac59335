"""A small task an image shows plainly, in ECGInstruct's LLaVA JSON format: the rate category.

Used by the trainer's tests and ``ecg-agent bench train``: simulated 12-lead recordings (sinus
bradycardia 40-50 bpm, sinus rhythm 65-90 bpm, sinus tachycardia 120-150 bpm, so the classes are
separated by beat density a low-resolution view still shows) rendered as standard 3x4+1 pages and
asked one closed question with a one-word answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["RATE_CLASSES", "RATE_QUESTION", "write_rate_dataset"]

# answer -> (simulator rhythm, heart-rate range in bpm)
RATE_CLASSES: dict[str, tuple[str, tuple[float, float]]] = {
    "bradycardia": ("sinus_bradycardia", (40.0, 50.0)),
    "normal": ("sinus_rhythm", (65.0, 90.0)),
    "tachycardia": ("sinus_tachycardia", (120.0, 150.0)),
}
RATE_QUESTION = "Is the heart rate bradycardia, normal or tachycardia? Answer with one word."


def write_rate_dataset(out_dir: Path, n_records: int, *, seed: int, image_px: tuple[int, int] = (112, 112),
                       name: str = "data") -> Path:
    """Write ``out_dir/<name>.json`` and its images (balanced classes, deterministic by ``seed``).

    Parameters
    ----------
    out_dir : Path
        Folder for the JSON file and ``images/``.
    n_records : int
        Number of records; class ``i % 3`` for record ``i``.
    seed : int
        Seeds the rates and the simulator (record ``i`` uses ``seed * 1_000_003 + i``).
    image_px : (width, height) in px
        Size the 50-dpi page (550 x 425 px) is resized to; rendered with 4-pt lines so beats
        survive the reduction.

    Returns
    -------
    Path
        The JSON file.
    """
    from tools.render import RenderConfig, render
    from tools.simulate import SimulationConfig, simulate

    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = list(RATE_CLASSES)
    records = []
    for i in range(n_records):
        answer = names[i % len(names)]
        rhythm, (low, high) = RATE_CLASSES[answer]
        record_seed = seed * 1_000_003 + i
        simulation = simulate(SimulationConfig(fs_hz=500, seed=record_seed, rhythm=rhythm,
                                               heart_rate_bpm=float(rng.uniform(low, high))))
        page = render(simulation.recording, RenderConfig(dpi=50, line_width_pt=4.0))
        image_name = f"images/{name}_{i:05d}.png"
        Image.fromarray(page.image).resize(image_px, Image.BICUBIC).save(out_dir / image_name)
        records.append({"id": f"{name}-{i:05d}", "image": image_name, "conversations": [
            {"from": "human", "value": f"<image>\n{RATE_QUESTION}"}, {"from": "gpt", "value": answer}]})
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    return path
