"""Pictures for the report, drawn with OpenCV: the traced signal over the source image, and the
median beats with fiducial marks.

Figures are returned as data URLs (JPEG for the photo-like overlay, PNG for line art) ready to embed
in the self-contained HTML report; nothing is written to disk here.
"""

from __future__ import annotations

import base64

import cv2
import numpy as np

from tools.digitize import Digitization
from tools.digitize.overlay import draw_overlay
from tools.measure import Measurement
from tools.recording import LEADS

__all__ = ["encode_png", "overlay_data_url", "median_beats_data_url"]

_PANEL_W, _PANEL_H = 300, 220          # px per lead panel
_MV_PX = 60.0                          # drawing scale, px per mV
_MAX_OVERLAY_W = 1600                  # px; larger pages are shrunk for the report
_MARKS = {"p_on": (0, 140, 255), "p_off": (0, 140, 255), "qrs_on": (0, 0, 220), "qrs_off": (0, 0, 220),
          "t_off": (0, 150, 0)}        # BGR: P orange, QRS red, T green


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB or (H, W) grey image."""
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb)
    if not ok:
        raise ValueError("OpenCV could not encode the image as PNG")
    return buffer.tobytes()


def _data_url(image_bgr: np.ndarray, fmt: str) -> str:
    params = [cv2.IMWRITE_JPEG_QUALITY, 85] if fmt == "jpeg" else []
    ok, buffer = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", image_bgr, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode the figure as {fmt}")
    return f"data:image/{fmt};base64," + base64.b64encode(buffer.tobytes()).decode("ascii")


def overlay_data_url(page_rgb: np.ndarray, digitization: Digitization) -> str:
    """The input page (H, W, 3 RGB) with the traced leads drawn over it (tools.digitize.overlay), so
    a person can see what was read; JPEG data URL, pages wider than 1600 px shrunk."""
    page = cv2.cvtColor(draw_overlay(page_rgb, digitization), cv2.COLOR_RGB2BGR)
    if page.shape[1] > _MAX_OVERLAY_W:
        scale = _MAX_OVERLAY_W / page.shape[1]
        page = cv2.resize(page, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return _data_url(page, "jpeg")


def _panel(beat_mv: np.ndarray, fs_hz: float, window_s: tuple[float, float], marks: dict[str, float | None],
           title: str) -> np.ndarray:
    panel = np.full((_PANEL_H, _PANEL_W, 3), 255, np.uint8)
    t = window_s[0] + np.arange(beat_mv.size) / fs_hz
    x = (t - window_s[0]) / (window_s[1] - window_s[0]) * _PANEL_W
    base_row = _PANEL_H * 0.6
    for mv in np.arange(-1.5, 2.0, 0.5):  # 0.5 mV grid
        row = int(round(base_row - mv * _MV_PX))
        if 0 <= row < _PANEL_H:
            cv2.line(panel, (0, row), (_PANEL_W, row), (225, 225, 245), 1)
    for name, time_s in marks.items():
        if time_s is not None and name in _MARKS:
            col = int(round((time_s - window_s[0]) / (window_s[1] - window_s[0]) * _PANEL_W))
            cv2.line(panel, (col, 18), (col, _PANEL_H - 1), _MARKS[name], 1)
    finite = np.isfinite(beat_mv)
    if finite.sum() > 1:
        points = np.stack([x[finite], base_row - beat_mv[finite] * _MV_PX], axis=1)
        cv2.polylines(panel, [np.round(points * 4).astype(np.int32)], False, (0, 0, 0), 1, cv2.LINE_AA, shift=2)
    cv2.putText(panel, title, (6, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(panel, (0, 0), (_PANEL_W - 1, _PANEL_H - 1), (180, 180, 180), 1)
    return panel


def median_beats_data_url(measurement: Measurement) -> str:
    """A 3 x 4 sheet of the median beat of every lead with the global fiducials marked
    (P on/off orange, QRS on/off red, T end green). Leads without a median beat are blank."""
    medians = measurement.median_beats_mv
    window = measurement.fiducials.median_window_s
    marks = {k: v for k, v in measurement.fiducials.median_s.items()}
    panels = []
    for lead in (LEADS[i] for i in (0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11)):
        if medians is not None and lead in measurement.leads_present:
            beat = medians[:, measurement.leads_present.index(lead)]
        else:
            beat = np.full(2, np.nan)
        panels.append(_panel(beat, measurement.median_beats_fs_hz, window, marks, lead))
    rows = [np.hstack(panels[i:i + 4]) for i in range(0, 12, 4)]
    return _data_url(np.vstack(rows), "png")
