"""Atrial activity per beat: each beat's P wave located by matching the median P wave.

The P-wave template (median beat from global P onset to offset, every lead with a P) is slid
over a window before each dominant QRS; the best lag gives that beat's own PR interval and the
correlation tells whether an organised P wave is there at all (low in atrial fibrillation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.measure.beats import Beats, beat_windows
from tools.measure.delineation import Delineation
from tools.measure.median_beat import MedianBeats

__all__ = ["AtrialActivity", "AtrialWaves", "DissociatedP", "locate_p_waves", "atrial_waves", "dissociated_p"]

_SEARCH_S = 0.12  # a P wave may sit this far from its median position (PR drift, Wenckebach)
# Consistency is judged near the median position only: over a wide search any smooth segment
# (a T-wave tail, f waves) correlates well with a smooth template somewhere.
_CONSISTENCY_S = 0.02


@dataclass(frozen=True)
class AtrialActivity:
    """Per-beat P waves.

    Attributes
    ----------
    pr_s : (n_beats,) array
        Each beat's PR interval (s), NaN where no P was matched or the beat is not dominant.
    correlation : (n_beats,) array
        Best correlation with the template within ±20 ms of the median P position (NaN when
        not computed): high when every beat has the same P wave at the same PR.
    """

    pr_s: np.ndarray
    correlation: np.ndarray

    @property
    def consistency(self) -> float | None:
        """Mean P correlation over the beats where one was computed (None if none)."""
        finite = self.correlation[np.isfinite(self.correlation)]
        return float(finite.mean()) if finite.size else None


def locate_p_waves(filtered_mv: np.ndarray, beats: Beats, median: MedianBeats,
                   delineation: Delineation) -> AtrialActivity:
    """Match the median P wave before every dominant beat.

    Parameters
    ----------
    filtered_mv : (n_samples, n_leads) array
        Band-passed voltages, mV.
    beats, median, delineation
        Outputs of the previous stages.

    Returns
    -------
    AtrialActivity
        All NaN when the median beat has no P wave.
    """
    n = len(beats.r_samples)
    pr, corr = np.full(n, np.nan), np.full(n, np.nan)
    g, fs, fid = delineation.global_s, median.fs_hz, median.fiducial_index
    if g["p_on"] is None or g["p_off"] is None or g["qrs_on"] is None:
        return AtrialActivity(pr, corr)
    lo, hi = fid + int(round(g["p_on"] * fs)), fid + int(round(g["p_off"] * fs)) + 1
    with_p = np.isfinite(delineation.lead_s["p_on"]) | np.isfinite(delineation.lead_s["p_off"])
    template = median.signal_mv[lo:hi][:, with_p]
    if template.size == 0 or not np.isfinite(template).all():
        return AtrialActivity(pr, corr)
    template = template - template.mean(axis=0)
    shift = int(_SEARCH_S * fs)
    before, after = fid - lo + shift, hi - 1 - fid + shift
    windows = beat_windows(filtered_mv, beats.r_samples, before, after)[:, :, with_p]
    width = hi - lo
    for i in np.flatnonzero(beats.dominant):
        leads = np.isfinite(windows[i]).all(axis=0)
        if not leads.any():
            continue
        beat = windows[i][:, leads]
        scores = np.array([_corr(beat[k:k + width], template[:, leads]) for k in range(2 * shift + 1)])
        if np.isfinite(scores).any():
            best = int(np.nanargmax(scores))
            near = scores[shift - int(_CONSISTENCY_S * fs):shift + int(_CONSISTENCY_S * fs) + 1]
            corr[i] = np.nanmax(near) if np.isfinite(near).any() else np.nan
            pr[i] = g["qrs_on"] - g["p_on"] - (best - shift) / fs
    return AtrialActivity(pr, corr)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = (a - a.mean(axis=0)).ravel()
    b = b.ravel()
    denom = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / denom) if denom > 0 else np.nan


# Flutter waves (240-350/min typical, 200-400 accepted) are what is left in the inferior leads
# and V1 once every QRS-T has been cancelled; a narrow spectral peak in 3.3-5.9 Hz with enough
# amplitude marks them (AF leaves a broad 4-9 Hz band, sinus rhythm almost nothing).
_FLUTTER_LEADS = ("II", "III", "aVF", "V1")
_FLUTTER_BAND_HZ = (3.3, 5.9)
_ANALYSIS_BAND_HZ = (2.0, 12.0)
_PEAK_HALF_WIDTH_HZ = 0.3


@dataclass(frozen=True)
class AtrialWaves:
    """The dominant atrial activity left after QRS-T cancellation.

    Attributes
    ----------
    rate_bpm : float or None
        60 x the frequency of the residual's spectral peak in the flutter band 3.3-5.9 Hz
        (None: no lead could be analysed).
    concentration : float
        Fraction of the 2-12 Hz residual power within ±0.3 Hz of that frequency and its 2nd
        and 3rd harmonics (0..1).
    amplitude_mv : float
        RMS of the residual in the analysed lead, mV.
    lead : str or None
    dissociated : DissociatedP
        Slower periodic atrial activity not locked to the QRS (third-degree AV block).
    """

    rate_bpm: float | None
    concentration: float
    amplitude_mv: float
    lead: str | None
    dissociated: DissociatedP


def atrial_waves(filtered_mv: np.ndarray, beats: Beats, median: MedianBeats, leads: tuple[str, ...]) -> AtrialWaves:
    """Dominant frequency of the QRS-T-cancelled residual in II, III, aVF and V1 (the best of them).

    The median beat is subtracted at every dominant beat; ectopic beats and uncovered samples are
    masked out. The lead whose spectral peak is most concentrated is reported, with
    ``dissociated_p`` over all leads.
    """
    fs, fid = median.fs_hz, median.fiducial_index
    dissociated = dissociated_p(filtered_mv, beats, median)
    best = AtrialWaves(None, 0.0, 0.0, None, dissociated)
    for name in _FLUTTER_LEADS:
        if name not in leads:
            continue
        k = leads.index(name)
        residual = _cancel_qrst(filtered_mv[:, k], beats, median.signal_mv[:, k], fid)
        finite = np.isfinite(residual)
        if finite.sum() < 2.0 * fs:
            continue
        x = residual[finite] - residual[finite].mean()
        spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
        freqs = np.fft.rfftfreq(x.size, 1.0 / fs)
        band = (freqs >= _ANALYSIS_BAND_HZ[0]) & (freqs <= _ANALYSIS_BAND_HZ[1])
        if not band.any() or spectrum[band].sum() <= 0:
            continue
        flutter = (freqs >= _FLUTTER_BAND_HZ[0]) & (freqs <= _FLUTTER_BAND_HZ[1])
        peak = freqs[flutter][int(np.argmax(spectrum[flutter]))]
        # Flutter waves are saw-toothed: their harmonics belong to them too.
        near = band & (np.min(np.abs(freqs[:, None] - peak * np.arange(1, 4)[None, :]), axis=1) <= _PEAK_HALF_WIDTH_HZ)
        concentration = float(spectrum[near].sum() / spectrum[band].sum())
        if concentration > best.concentration:
            best = AtrialWaves(float(peak * 60.0), concentration, float(np.sqrt(np.mean(x**2))), name, dissociated)
    return best


def _cancel_qrst(column: np.ndarray, beats: Beats, template: np.ndarray, fid: int) -> np.ndarray:
    """One lead minus the median beat at every dominant beat; NaN around non-dominant beats."""
    out = np.array(column, dtype=float)
    n, width = len(out), len(template)
    for r, dominant in zip(beats.r_samples, beats.dominant):
        lo, hi = r - fid, r - fid + width
        a, b = max(lo, 0), min(hi, n)
        if a >= b:
            continue
        if dominant and np.isfinite(template[a - lo:b - lo]).all():
            out[a:b] -= template[a - lo:b - lo]
        else:
            out[a:b] = np.nan
    return out


# Dissociated P waves (third-degree AV block) are not time-locked to the QRS, so the median beat
# does not cancel them: they leave a periodic residual at the atrial rate (50-180/min searched).
_DISSOCIATED_RATE_BPM = (50.0, 180.0)


@dataclass(frozen=True)
class DissociatedP:
    """Periodic atrial activity left after QRS-T cancellation in every lead.

    Attributes
    ----------
    rate_bpm : float or None
        60 / the lag (s) of the residual's autocorrelation peak strictly inside 50-180/min (None:
        not analysable, or the largest autocorrelation lies at an end of the range).
    strength : float
        That peak's autocorrelation, normalised by the lag-0 value (-1..1; 0 when not analysable).
    amplitude_mv : float
        RMS of the residual over the leads, mV.
    """

    rate_bpm: float | None
    strength: float
    amplitude_mv: float


def dissociated_p(filtered_mv: np.ndarray, beats: Beats, median: MedianBeats) -> DissociatedP:
    """Rate and regularity of the atrial activity the median beat leaves behind, pooled over leads.

    Lags at or beyond 85 % of the median RR are not searched, so a residual that repeats with
    every QRS (imperfect cancellation) cannot pass for atrial activity.
    """
    fs, fid = median.fs_hz, median.fiducial_index
    if len(beats.r_samples) < 3:
        return DissociatedP(None, 0.0, 0.0)
    rr_s = float(np.median(np.diff(beats.r_samples))) / fs
    lo = int(60.0 / _DISSOCIATED_RATE_BPM[1] * fs)
    hi = min(int(60.0 / _DISSOCIATED_RATE_BPM[0] * fs), int(0.85 * rr_s * fs))
    if hi <= lo:
        return DissociatedP(None, 0.0, 0.0)
    acf, energy, n_finite = np.zeros(hi + 1), 0.0, 0
    for k in range(filtered_mv.shape[1]):
        residual = _cancel_qrst(filtered_mv[:, k], beats, median.signal_mv[:, k], fid)
        finite = np.isfinite(residual)
        # A 2.5-s column of a printed page holds one or two beats: too short to show a rhythm.
        if finite.sum() < 0.5 * residual.size or finite.sum() < 2.0 * fs:
            continue
        x = np.where(finite, residual - np.nanmean(residual), 0.0)
        acf += np.array([np.dot(x[:x.size - lag], x[lag:]) for lag in range(hi + 1)])
        energy, n_finite = energy + float(np.dot(x, x)), n_finite + int(finite.sum())
    if energy <= 0:
        return DissociatedP(None, 0.0, 0.0)
    best = lo + int(np.argmax(acf[lo:hi + 1]))
    if best in (lo, hi):  # no peak inside the range: the residual is not periodic there
        return DissociatedP(None, 0.0, float(np.sqrt(energy / n_finite)))
    return DissociatedP(60.0 * fs / best, float(acf[best] / acf[0]), float(np.sqrt(energy / n_finite)))
