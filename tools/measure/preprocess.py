"""Conditioned signals: pacing spikes removed, baseline wander and high-frequency noise filtered.

Every finite run of a lead is filtered on its own, so NaN gaps (digitized 3x4 pages) neither
spread nor leak into neighbouring samples; runs too short to filter become NaN.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from tools.measure.config import MeasureConfig

__all__ = ["finite_runs", "filter_leads", "remove_pacing_spikes"]

# Pacemaker spikes last < 2 ms: a spike is what a ~8-ms running median removes, larger than
# any QRS curvature can produce (0.5 mV), seen in at least two leads at once.
_SPIKE_MEDIAN_S = 0.008
_SPIKE_MV = 0.5
_SPIKE_MIN_LEADS = 2
_SPIKE_MIN_FS_HZ = 250.0  # below this a pacing spike cannot be told from a sharp R peak


def finite_runs(column: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) sample index pairs of the finite runs of a 1-D array."""
    finite = np.isfinite(column).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], finite, [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def remove_pacing_spikes(signal_mv: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Replace pacemaker spikes by the local running median.

    Parameters
    ----------
    signal_mv : (n_samples, n_leads) array
        Raw voltages in mV, NaN allowed.
    fs_hz : float
        Sampling rate in Hz (no detection below 250 Hz, where spikes are not resolved).

    Returns
    -------
    cleaned_mv : (n_samples, n_leads) array
    spike_samples : (n_spikes,) int array
        Sample index of each spike event (one per event, not per sample).
    """
    if fs_hz < _SPIKE_MIN_FS_HZ:
        return signal_mv, np.zeros(0, dtype=int)
    size = max(3, int(round(_SPIKE_MEDIAN_S * fs_hz)) | 1)
    filled = np.where(np.isfinite(signal_mv), signal_mv, 0.0)
    smooth = ndimage.median_filter(filled, size=(size, 1), mode="nearest")
    residual = np.abs(np.where(np.isfinite(signal_mv), filled - smooth, 0.0))
    hit = residual > _SPIKE_MV
    events = hit.sum(axis=1) >= _SPIKE_MIN_LEADS
    if not events.any():
        return signal_mv, np.zeros(0, dtype=int)
    events = ndimage.binary_dilation(events, iterations=size)
    cleaned = np.where(events[:, None] & np.isfinite(signal_mv), smooth, signal_mv)
    labels, n_events = ndimage.label(events)
    centres = ndimage.center_of_mass(events, labels, range(1, n_events + 1))
    return cleaned, np.array([int(round(c[0])) for c in centres], dtype=int)


def filter_leads(signal_mv: np.ndarray, fs_hz: float, lowpass_hz: float, config: MeasureConfig) -> np.ndarray:
    """Zero-phase band-pass (``config.highpass_hz`` to ``lowpass_hz``) of every lead.

    Parameters
    ----------
    signal_mv : (n_samples, n_leads) array
        Voltages in mV; NaN marks unrecorded samples.
    fs_hz : float
        Sampling rate in Hz.
    lowpass_hz : float
        Low-pass corner in Hz, capped at 0.45 x fs_hz.

    Returns
    -------
    (n_samples, n_leads) array in mV; NaN where the input was NaN or its finite run was too
    short (< 0.5 s) to filter.
    """
    lowpass = min(lowpass_hz, 0.45 * fs_hz)
    sos = np.concatenate([signal.butter(2, config.highpass_hz, "highpass", fs=fs_hz, output="sos"),
                          signal.butter(4, lowpass, "lowpass", fs=fs_hz, output="sos")])
    min_run = max(int(0.5 * fs_hz), 3 * (2 * len(sos) + 1) + 1)
    out = np.full(signal_mv.shape, np.nan)
    whole = np.isfinite(signal_mv).all(axis=0)
    if whole.any() and signal_mv.shape[0] >= min_run:  # gap-free leads in one vectorised call
        block = signal_mv[:, whole]
        out[:, whole] = signal.sosfiltfilt(sos, block - np.median(block, axis=0), axis=0)
    for lead in np.flatnonzero(~whole):
        for start, stop in finite_runs(signal_mv[:, lead]):
            if stop - start >= min_run:
                run = signal_mv[start:stop, lead]
                out[start:stop, lead] = signal.sosfiltfilt(sos, run - np.median(run))
    return out
