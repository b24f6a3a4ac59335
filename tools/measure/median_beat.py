"""Median beats: one representative beat per lead from the dominant beats."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from tools.measure.beats import Beats, beat_windows
from tools.measure.config import MeasureConfig
from tools.measure.nanstats import nanmedian
from tools.measure.preprocess import finite_runs

__all__ = ["FULL_MEDIAN_BEATS", "MedianBeats", "median_beats", "smooth_noisy_leads"]

FULL_MEDIAN_BEATS = 6  # a median of fewer beats (a short lead of a 3x4 page) keeps much of one beat's noise
# Muscle noise left in a median beat moves the slope-based wave boundaries outwards: simulated EMG of
# 20 µV read QRS +21 ± 13 ms, 40 µV +75 ± 92 (clean: +6 ± 3). Above 40 Hz a median beat holds noise
# only (P, T and ST are slower), so a lead whose robust SD there exceeds 0.75 % of its QRS peak-to-peak
# (clean simulations <= 0.2 %, EMG 10 µV ~0.4 %, 20 µV ~0.8 %; LUDB median 0.2 %, 90th centile 0.6 %)
# is low-passed at 40 Hz for delineation. Measured: docs/measurement.md, "Noise".
_NOISE_BAND_HZ = 40.0
_MAX_NOISE_TO_QRS = 0.0075
_QRS_HALF_S = 0.08  # the QRS lies within this of the fiducial; the noise is read outside it


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
    NaN gaps) are left out of that sample's median, so partial beats still contribute. In leads
    with fewer than ``FULL_MEDIAN_BEATS`` beats each beat's level is first aligned to the
    median's, so that a partial beat does not put a step into it.

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
    # Each beat sits at its own level (on a 3x4 page each column's 2.5-s segment is filtered on
    # its own). Where a partial beat joins a median of two or three beats, the median steps by
    # that beat's offset (15 µV on a digitized page), and the P-onset knee, sought across the long
    # flat TP-P run of a first-degree AV block, landed on the step 40 ms early. In such leads each
    # beat's median offset from the first median is removed and the median taken again. (Offsets
    # taken before the QRS only followed the F waves of a flutter page: its QT read 156 ms long.
    # From FULL_MEDIAN_BEATS beats on, one beat moves the median little; aligning there too
    # worsened the LUDB PR and QT of the tuning half.)
    n_beats = np.isfinite(windows[:, before, :]).sum(axis=0)
    few = n_beats < FULL_MEDIAN_BEATS
    offsets = nanmedian(windows[:, :, few] - med[None, :, few], axis=1)
    med[:, few] = nanmedian(windows[:, :, few] - offsets[:, None, :], axis=0)
    return MedianBeats(med, before, fs_hz, n_beats)


def smooth_noisy_leads(median: MedianBeats) -> tuple[MedianBeats, np.ndarray]:
    """The median beats with each noisy lead low-passed at 40 Hz, and which leads were (bool, per lead).

    A lead is noisy when the robust SD (1.4826 x MAD) of its content above 40 Hz, outside the QRS
    (fiducial ± 80 ms), exceeds ``_MAX_NOISE_TO_QRS`` of its QRS peak-to-peak. Only the finite run
    holding the fiducial is filtered (zero-phase); leads without one are left as they are. The
    filter widens wave boundaries by a few ms, which is meant for timing only: amplitudes are read
    on the unfiltered median.
    """
    fs, fid, beat = median.fs_hz, median.fiducial_index, median.signal_mv
    if _NOISE_BAND_HZ >= 0.45 * fs:  # too slow a rate to tell noise from signal
        return median, np.zeros(beat.shape[1], dtype=bool)
    high = signal.butter(4, _NOISE_BAND_HZ, "highpass", fs=fs, output="sos")
    low = signal.butter(4, _NOISE_BAND_HZ, "lowpass", fs=fs, output="sos")
    half = int(_QRS_HALF_S * fs)
    out, smoothed = beat.copy(), np.zeros(beat.shape[1], dtype=bool)
    for lead in range(beat.shape[1]):
        run = [(a, b) for a, b in finite_runs(beat[:, lead]) if a <= fid - half and b >= fid + half]
        if not run or run[0][1] - run[0][0] <= 3 * (2 * len(high) + 1):
            continue
        a, b = run[0]
        y = beat[a:b, lead]
        outside = np.ones(b - a, dtype=bool)
        outside[fid - half - a:fid + half - a] = False
        noise = signal.sosfiltfilt(high, y)[outside]
        sd = 1.4826 * float(np.median(np.abs(noise - np.median(noise)))) if noise.size else 0.0
        if sd > _MAX_NOISE_TO_QRS * float(np.ptp(y[fid - half - a:fid + half - a])):
            out[a:b, lead], smoothed[lead] = signal.sosfiltfilt(low, y), True
    return MedianBeats(out, fid, fs, median.n_beats), smoothed
