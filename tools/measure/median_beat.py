"""Median beats: one representative beat per lead from the dominant beats."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.measure.beats import Beats, beat_windows
from tools.measure.config import MeasureConfig
from tools.measure.nanstats import nanmedian

__all__ = ["MedianBeats", "median_beats"]


@dataclass(frozen=True)
class MedianBeats:
    """The median beat of every lead.

    Attributes
    ----------
    signal_mv : (n_window, n_leads) array
        Median of the dominant beats, mV; NaN where no beat covered the sample in that lead.
    fiducial_index : int
        Index of the aligned QRS fiducial inside the window (``median_pre_s * fs_hz``).
    fs_hz : float
        Sampling rate in Hz.
    n_beats : (n_leads,) int array
        Number of beats that contributed to each lead (at the fiducial).
    """

    signal_mv: np.ndarray
    fiducial_index: int
    fs_hz: float
    n_beats: np.ndarray

    def time_s(self) -> np.ndarray:
        """(n_window,) time of every sample relative to the QRS fiducial, s."""
        return (np.arange(self.signal_mv.shape[0]) - self.fiducial_index) / self.fs_hz


def median_beats(filtered_mv: np.ndarray, beats: Beats, fs_hz: float, config: MeasureConfig) -> MedianBeats:
    """Sample-wise median over the dominant beats, lead by lead.

    Each beat is centred on its aligned fiducial; samples a beat does not cover (record edges,
    NaN gaps) are left out of that sample's median, so partial beats still contribute.

    Parameters
    ----------
    filtered_mv : (n_samples, n_leads) array
        Band-passed voltages, mV.
    beats : Beats
        Detected beats; only dominant ones (``beats.dominant``) are used.
    fs_hz : float
        Sampling rate in Hz.
    """
    before, after = int(round(config.median_pre_s * fs_hz)), int(round(config.median_post_s * fs_hz))
    centres = beats.r_samples[beats.dominant]
    if centres.size == 0:
        empty = np.full((before + after + 1, filtered_mv.shape[1]), np.nan)
        return MedianBeats(empty, before, fs_hz, np.zeros(filtered_mv.shape[1], dtype=int))
    windows = beat_windows(filtered_mv, centres, before, after)
    med = nanmedian(windows, axis=0)  # all-NaN columns are expected: uncovered samples
    return MedianBeats(med, before, fs_hz, np.isfinite(windows[:, before, :]).sum(axis=0))
