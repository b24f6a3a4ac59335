"""Assembly: traced pixel paths to mV on a regular time base, one window per lead.

Each row's time origin is where its signal starts (just after the calibration pulse, else the
first ink); column k of a row with c columns covers [k D / c, (k + 1) D / c) s of that time
(D the row's printed duration, snapped to whole 0.5-s column lengths), so a 3x4 page's column
k starts at 2.5 k s. Gaps in the trace wider than ``MAX_GAP_S`` stay NaN instead of being bridged.
"""

from __future__ import annotations

import numpy as np

from tools.digitize.result import Calibration
from tools.digitize.tracing import RowTrace, off_trace

__all__ = ["row_signal_mv", "column_seconds", "MAX_GAP_S", "NOISE_FULL", "SMOOTH_S"]

MAX_GAP_S = 0.04
# On a noisy page (paper_noise) the signal is blended with its running mean over SMOOTH_S, by
# noise / NOISE_FULL (at most 1): each column's sub-pixel value carries the paper's pixel noise
# (eik's noisy JPEGs: +0.5 dB with the mean over 3 samples at 500 Hz; on clean renders, where
# the paper has no noise, the same mean would cost 0.2 dB).
NOISE_FULL = 0.03
SMOOTH_S = 0.006  # at most; the mean runs over the odd number of samples within it


def row_signal_mv(trace: RowTrace, start_x_px: float, zero_y_px: float, calibration: Calibration,
                  n_samples: int, fs_hz: float, paper_noise: float) -> np.ndarray:
    """(n_samples,) the row's trace in mV at t = n / fs_hz s after ``start_x_px``; NaN off the trace
    (no ink, or inside the trace's ``off_trace_x_px`` intervals, where the path read other ink).

    Parameters
    ----------
    trace : the traced row (deskewed px).
    start_x_px : column of t = 0, px.
    zero_y_px : row of 0 mV, px (the pulse foot, else the row's median level).
    paper_noise : the page's pixel noise (``ink.paper_noise``, darkness units); above 0 the
        signal is partly replaced by its running mean (see ``NOISE_FULL``), except at the
        samples around the trace's one-sample spikes (``trace.spike_x_px``).
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
    # Where the path left its trace for other ink (a neighbour's wave, a label), nothing was read.
    signal[off_trace(trace, start_x_px + t * calibration.px_per_s)] = np.nan
    # An odd number of samples: an even running mean would delay the signal by half a sample.
    width = 2 * int(SMOOTH_S * fs_hz / 2) + 1
    # A spike one sample wide is real signal, not paper noise: the mean over 3 samples would
    # spread it to a third of its height on either side (LUDB's pacing spikes, eik augmented 34).
    spike_s = (trace.spike_x_px - start_x_px) / calibration.px_per_s
    near_spike = np.abs(t[:, None] - spike_s[None, :]).min(axis=1, initial=np.inf) < (width // 2 + 1) / fs_hz
    return _denoise(signal, min(1.0, paper_noise / NOISE_FULL), width, near_spike)


def _denoise(signal: np.ndarray, weight: float, width: int, keep: np.ndarray) -> np.ndarray:
    """``signal`` (n,) blended with its running mean over ``width`` samples (NaN-aware, NaN kept)
    by ``weight`` (0: unchanged, 1: the mean), except where ``keep`` (n,) is True."""
    if weight <= 0.0 or width < 2:
        return signal
    finite = np.isfinite(signal)
    kernel = np.ones(width)
    total = np.convolve(np.where(finite, signal, 0.0), kernel, mode="same")
    count = np.convolve(finite.astype(float), kernel, mode="same")
    mean = total / np.maximum(count, 1.0)
    return np.where(finite, np.where(keep, signal, (1.0 - weight) * signal + weight * mean), np.nan)


def column_seconds(duration_s: float, n_columns: int) -> float:
    """Printed length of one column, s: the row's duration split evenly, snapped to 0.5 s when close."""
    raw = duration_s / n_columns
    snapped = max(0.5, round(raw * 2) / 2)
    return snapped if abs(raw - snapped) <= 0.08 * snapped else raw
