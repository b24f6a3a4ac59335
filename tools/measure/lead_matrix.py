"""The per-lead measurement matrix: P, Q, R, S, T amplitudes, ST at J and J+60 ms, QRS duration, terminal QRS wave."""

from __future__ import annotations

import numpy as np

from tools.measure.delineation import Delineation
from tools.measure.median_beat import MedianBeats
from tools.measure.result import LeadMeasurement

__all__ = ["lead_matrix"]

_J_PLUS_S = 0.06
_MIN_R_MV = 0.05  # an R smaller than this is no R: the complex is QS
_MAJOR_FRACTION = 0.3  # a QRS deflection at least this fraction of the lead's largest is a wave (R', S), not a notch


def _span(beat: np.ndarray, fid: int, fs: float, start_s: float | None, end_s: float | None) -> np.ndarray | None:
    if start_s is None or end_s is None:
        return None
    lo, hi = max(0, fid + int(round(start_s * fs))), min(len(beat), fid + int(round(end_s * fs)) + 1)
    seg = beat[lo:hi]
    return seg if seg.size and np.isfinite(seg).all() else None


def _point(beat: np.ndarray, fid: int, fs: float, time_s: float | None) -> float | None:
    """The baseline-corrected level (mV) at ``time_s`` from the fiducial; None when unknown or not finite."""
    seg = _span(beat, fid, fs, time_s, time_s)
    return None if seg is None else float(seg[0])


def _qrs_amplitudes(seg: np.ndarray) -> tuple[float, float, float]:
    """(q_mv, r_mv, s_mv) of a baseline-corrected QRS."""
    r_idx = int(np.argmax(seg))
    r = float(max(seg[r_idx], 0.0))
    if r < _MIN_R_MV:
        return 0.0, 0.0, float(min(seg.min(), 0.0))
    q = float(min(seg[:r_idx + 1].min(), 0.0))
    s = float(min(seg[r_idx:].min(), 0.0))
    return q, r, s


def _terminal_wave(seg: np.ndarray) -> float | None:
    """Signed amplitude (mV) of the last turning point of a baseline-corrected QRS whose size is at
    least ``_MAJOR_FRACTION`` of its largest deflection; None when the QRS has no turning point."""
    size = float(np.abs(seg).max())
    d = np.diff(seg)
    turns = np.flatnonzero((d[:-1] * d[1:] <= 0) & (np.abs(seg[1:-1]) >= _MAJOR_FRACTION * size)) + 1
    return float(seg[turns[-1]]) if turns.size and size > 0 else None


def _signed_peak(seg: np.ndarray | None) -> float | None:
    return None if seg is None else float(seg[int(np.argmax(np.abs(seg)))])


def lead_matrix(median: MedianBeats, leads: tuple[str, ...], delineation: Delineation,
                usable: np.ndarray, t_window_end_s: float | None = None) -> list[LeadMeasurement]:
    """One LeadMeasurement per lead, read on the median beat with the global fiducials.

    Amplitudes are in mV from the lead's PR-segment baseline; a lead that is not usable, or a
    wave whose fiducials are missing, gives None. ``t_window_end_s`` (s from the fiducial) ends the
    T-amplitude window when the global T end is withheld although a T wave precedes that point.
    """
    g, fs, fid = delineation.global_s, median.fs_hz, median.fiducial_index
    rows = []
    for k, name in enumerate(leads):
        base = delineation.baseline_mv[k]
        if not usable[k] or not np.isfinite(base):
            rows.append(LeadMeasurement(lead=name, usable=False, p_mv=None, q_mv=None, r_mv=None, s_mv=None,
                                        t_mv=None, st_j_mv=None, st_j60_mv=None, qrs_ms=None,
                                        terminal_wave_mv=None))
            continue
        beat = median.signal_mv[:, k] - base
        qrs = _span(beat, fid, fs, g["qrs_on"], g["qrs_off"])
        q, r, s = _qrs_amplitudes(qrs) if qrs is not None else (None, None, None)
        j, j60 = (_point(beat, fid, fs, None if g["qrs_off"] is None else g["qrs_off"] + after_s)
                  for after_s in (0.0, _J_PLUS_S))
        t_start = None if g["qrs_off"] is None else g["qrs_off"] + _J_PLUS_S
        t_end = g["t_off"] if g["t_off"] is not None else t_window_end_s
        on, off = delineation.lead_s["qrs_on"][k], delineation.lead_s["qrs_off"][k]
        rows.append(LeadMeasurement(
            lead=name, usable=True, p_mv=_signed_peak(_span(beat, fid, fs, g["p_on"], g["p_off"])),
            q_mv=q, r_mv=r, s_mv=s, t_mv=_signed_peak(_span(beat, fid, fs, t_start, t_end)),
            st_j_mv=j, st_j60_mv=j60,
            qrs_ms=float((off - on) * 1000) if np.isfinite(on) and np.isfinite(off) else None,
            terminal_wave_mv=_terminal_wave(qrs) if qrs is not None else None))
    return rows
