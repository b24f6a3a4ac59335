"""Typed results of ``digitize``: calibration, layout, per-lead traces and the whole digitization."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from tools.recording import Recording

__all__ = ["Calibration", "LeadBox", "Layout", "Digitization"]


class Calibration(BaseModel):
    """Scales of the page.

    px_per_mm_x, px_per_mm_y : grid scale, px/mm (from the grid, else the pulse, else the page size).
    px_per_mv : vertical scale, px per mV; px_per_s : horizontal scale, px per s.
    paper_speed_mm_s, gain_mm_mv : the speed and gain these imply.
    method : how the scales were found.
    pulse_px_per_mv : the height of the calibration pulse, px per mV (None when no pulse was found).
    pulse_vs_grid : pulse height / (gain x grid scale); 1.0 means the two agree.
    xy_ratio : px_per_mm_x / px_per_mm_y (1.0 for square pixels).
    consistent : True when every available cross-check agrees within 5 %.
    """

    model_config = ConfigDict(frozen=True)

    px_per_mm_x: float
    px_per_mm_y: float
    px_per_mv: float
    px_per_s: float
    paper_speed_mm_s: float
    gain_mm_mv: float
    method: Literal["grid", "pulse", "page_size"]
    pulse_px_per_mv: float | None = None
    pulse_vs_grid: float | None = None
    xy_ratio: float
    consistent: bool


class LeadBox(BaseModel):
    """Where one lead was read: name, box (x0, y0, x1, y1) px in the deskewed page, time window
    (s), how its identity was found, whether it is a rhythm strip, and whether the recording
    holds it (a lead printed twice keeps its longer copy)."""

    model_config = ConfigDict(frozen=True)

    name: str
    box_px: tuple[int, int, int, int]
    start_s: float
    end_s: float
    identity: Literal["layout", "rhythm-correlation", "layout-default"]
    rhythm: bool = False
    in_recording: bool = True


class Layout(BaseModel):
    """The page layout: its name (3x4, 3x4+1, 3x4+3, 6x2, 12x1...), rows found and lead boxes."""

    model_config = ConfigDict(frozen=True)

    name: str
    n_rows: int
    leads: tuple[LeadBox, ...]


@dataclass(frozen=True)
class Digitization:
    """What ``digitize`` read from an image.

    recording : the 12 standard leads at ``config.fs_hz`` in mV; NaN where not printed or not
        traced with confidence. A lead printed twice (short lead and rhythm strip) holds the longer.
    calibration, layout : see their classes.
    rotation_deg : rotation removed from the page (positive: the page was turned clockwise).
    perspective_corrected : True when a keystone (grid line families converging) was rectified.
    lead_confidence : 0-1 per standard lead (0 for a lead not found).
    warnings : human-readable notes (low confidence, fallbacks, inconsistent calibration).
    traces_px : per lead, (n, 2) array of (x, y) traced pixel positions in the *input* image; a
        second copy of a lead (the short lead beside its rhythm strip) is keyed "II (short)".
    """

    recording: Recording
    calibration: Calibration
    layout: Layout
    rotation_deg: float
    perspective_corrected: bool
    lead_confidence: dict[str, float]
    warnings: list[str]
    traces_px: dict[str, np.ndarray] = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable description (everything but the signal and the traced pixels)."""
        return {
            "fs_hz": self.recording.fs_hz,
            "n_samples": self.recording.n_samples,
            "leads_found": [lead for lead, c in self.lead_confidence.items() if c > 0],
            "calibration": self.calibration.model_dump(),
            "layout": self.layout.model_dump(),
            "rotation_deg": self.rotation_deg,
            "perspective_corrected": self.perspective_corrected,
            "lead_confidence": dict(self.lead_confidence),
            "warnings": list(self.warnings),
        }
