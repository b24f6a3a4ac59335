"""Global intervals, rate-corrected QT and frontal axes from the median-beat fiducials."""

from __future__ import annotations

import numpy as np

from tools.measure.result import QTc

__all__ = ["qtc_ms", "frontal_axis_deg", "net_areas", "LIMB_ANGLES_DEG"]

# Hexaxial reference angles of the limb leads (I at 0 deg, aVF at +90 deg).
LIMB_ANGLES_DEG: dict[str, float] = {"I": 0.0, "II": 60.0, "III": 120.0, "aVR": -150.0, "aVL": -30.0, "aVF": 90.0}
_MIN_NET_MV_S = 1e-4  # a net area this small in every lead gives no direction (0.1 mV x 1 ms)


def qtc_ms(qt_ms: float | None, rr_ms: float | None) -> QTc:
    """QTc by Bazett, Fridericia, Framingham and Hodges (all ms); None when QT or RR is missing."""
    if qt_ms is None or rr_ms is None or rr_ms <= 0:
        return QTc(bazett=None, fridericia=None, framingham=None, hodges=None)
    rr_s = rr_ms / 1000.0
    return QTc(bazett=qt_ms / np.sqrt(rr_s), fridericia=qt_ms / rr_s ** (1 / 3),
               framingham=qt_ms + 154.0 * (1 - rr_s), hodges=qt_ms + 1.75 * (60.0 / rr_s - 60.0))


def net_areas(beat_mv: np.ndarray, leads: tuple[str, ...], baseline_mv: np.ndarray, fiducial_index: int,
              fs_hz: float, start_s: float | None, end_s: float | None) -> dict[str, float]:
    """Net area (mV·s) of each lead's median beat between two times relative to the fiducial.

    Leads with a NaN in the span or no baseline are left out; an empty dict when a bound is None.
    """
    if start_s is None or end_s is None or end_s <= start_s:
        return {}
    lo, hi = int(round(fiducial_index + start_s * fs_hz)), int(round(fiducial_index + end_s * fs_hz)) + 1
    lo, hi = max(lo, 0), min(hi, beat_mv.shape[0])
    out = {}
    for k, name in enumerate(leads):
        seg = beat_mv[lo:hi, k] - baseline_mv[k]
        if seg.size and np.isfinite(seg).all():
            out[name] = float(seg.sum() / fs_hz)
    return out


def frontal_axis_deg(areas: dict[str, float]) -> float | None:
    """Least-squares frontal axis (deg, (-180, 180]) from the net areas of any limb leads.

    Each limb lead k sees the projection A·cos(θ_k − axis); two non-collinear leads suffice.
    None when fewer than two limb leads are present or every area is negligible.
    """
    names = [name for name in areas if name in LIMB_ANGLES_DEG]
    if len(names) < 2:
        return None
    values = np.array([areas[name] for name in names])
    if np.abs(values).max() < _MIN_NET_MV_S:
        return None
    theta = np.deg2rad([LIMB_ANGLES_DEG[name] for name in names])
    design = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    if np.linalg.matrix_rank(design) < 2:
        return None
    (cx, cy), *_ = np.linalg.lstsq(design, values, rcond=None)
    angle = float(np.rad2deg(np.arctan2(cy, cx)))
    return 180.0 if angle == -180.0 else angle
