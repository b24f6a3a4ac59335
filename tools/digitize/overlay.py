"""The traced paths drawn over the input image, so a person can check what the digitizer read."""

from __future__ import annotations

import cv2
import numpy as np

from tools.digitize.result import Digitization

__all__ = ["draw_overlay", "LEAD_COLOURS_RGB"]

LEAD_COLOURS_RGB = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
                    (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40), (128, 0, 0), (0, 0, 128))
_UNUSED_RGB = (140, 140, 140)


def draw_overlay(image_rgb: np.ndarray, digitization: Digitization) -> np.ndarray:
    """An (H, W, 3) uint8 RGB copy of ``image_rgb`` (the image ``digitization`` was read from) with
    every traced path drawn on it.

    Leads that made it into the recording are drawn in their own colour and labelled with their
    name; paths that were traced but left out (confidence below the minimum, so NaN in the
    recording, or the unused second copy of a lead) are drawn thin in grey, labelled
    ``"<name>: not used"``, so the picture never suggests a lead was read when it was not.
    """
    canvas = np.ascontiguousarray(image_rgb[..., :3]).copy()
    thickness = max(1, int(round(min(canvas.shape[:2]) / 600)))
    names = list(digitization.recording.leads)
    for key, path in digitization.traces_px.items():
        finite = np.all(np.isfinite(path[:, :2]), axis=1)
        if finite.sum() < 2:
            continue
        used = key in names and digitization.lead_confidence.get(key, 0.0) > 0
        base = key.split(" ")[0]
        colour = LEAD_COLOURS_RGB[names.index(base) % len(LEAD_COLOURS_RGB)] if used else _UNUSED_RGB
        width = thickness if used else max(1, thickness // 2)
        points = np.round(path[finite, :2] * 4).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [points], False, colour, width, lineType=cv2.LINE_AA, shift=2)
        x, y = np.round(path[finite][0, :2]).astype(int)
        cv2.putText(canvas, base if used else f"{base}: not used", (int(x), max(12, int(y) - 6 * thickness)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, colour, width, cv2.LINE_AA)
    return canvas
