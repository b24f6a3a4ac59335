"""Assembly: traced pixel paths to mV on a regular time base, one window per lead.

Each row's time origin is where its signal starts (just after the calibration pulse, else the
first ink); column k of a row with c columns covers [k D / c, (k + 1) D / c) s of that time
(D the row's printed duration, snapped to whole 0.5-s column lengths), so a 3x4 page's column
k starts at 2.5 k s. Gaps in the trace wider than ``MAX_GAP_S`` stay NaN instead of being bridged.
"""

from __future__ import annotations

import numpy as np

from tools.digitize.result import Calibration
from tools.digitize.tracing import RowTrace

__all__ = ["row_signal_mv", "column_seconds", "MAX_GAP_S"]

MAX_GAP_S = 0.04


def row_signal_mv(trace: RowTrace, start_x_px: float, zero_y_px: float, calibration: Calibration,
                  n_samples: int, fs_hz: float) -> np.ndarray:
    """(n_samples,) the row's trace in mV at t = n / fs_hz s after ``start_x_px``; NaN off the trace.

    Parameters
    ----------
    trace : the traced row (deskewed px).
    start_x_px : column of t = 0, px.
    zero_y_px : row of 0 mV, px (the pulse foot, else the row's median level).
    """
    keep = trace.path_x_px >= start_x_px - 0.5
    x, y = trace.path_x_px[keep], trace.path_y_px[keep]
    signal = np.full(n_samples, np.nan)
    if x.size < 2:
        return signal
    t_trace = (x - start_x_px) / calibration.px_per_s
    t = np.arange(n_samples) / fs_hz
    values = (zero_y_px - y) / calibration.px_per_mv
    inside = (t >= max(0.0, t_trace[0])) & (t <= t_trace[-1])
    signal[inside] = np.interp(t[inside], t_trace, values)
    # Blank the samples that fall in a gap of the trace (no ink for more than MAX_GAP_S).
    idx = np.clip(np.searchsorted(t_trace, t[inside]), 1, t_trace.size - 1)
    gap = (t_trace[idx] - t_trace[idx - 1]) > MAX_GAP_S
    signal[np.flatnonzero(inside)[gap]] = np.nan
    return signal


def column_seconds(duration_s: float, n_columns: int) -> float:
    """Printed length of one column, s: the row's duration split evenly, snapped to 0.5 s when close."""
    raw = duration_s / n_columns
    snapped = max(0.5, round(raw * 2) / 2)
    return snapped if abs(raw - snapped) <= 0.08 * snapped else raw
