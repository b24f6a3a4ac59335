"""Atrial activity: each beat's P wave, and the atrial waves that are not P waves.

The P-wave template (median beat from global P onset to offset, every lead with a P) is slid
over a window before each dominant QRS; the best lag gives that beat's own PR interval and the
correlation tells whether an organised P wave is there at all (low in atrial fibrillation).

``atrial_waves`` gathers what the rhythm rules need beyond that: the spectrum of the
QRS-T-cancelled residual (flutter waves not locked to the QRS), its autocorrelation (P waves
dissociated from the QRS), the median beat's TQ segment repeating at a period every RR is a
multiple of (flutter waves locked to the QRS), how alike the pre-QRS waves of the rhythm
strip are (the same P wave before every beat, or not), and the size and 4-9 Hz share of V1's
residual (fibrillatory waves, the only sign of AF when a pacemaker makes the RR regular).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage, signal

from tools.measure.beats import Beats, beat_windows, rhythm_strips
from tools.measure.config import MeasureConfig
from tools.measure.delineation import P_GAP_BEFORE_QRS_S, Delineation, p_wave_onset
from tools.measure.median_beat import MedianBeats

__all__ = ["AtrialActivity", "AtrialWaves", "DissociatedP", "LockedWaves", "atrial_waves", "dissociated_p",
           "fibrillatory_waves", "locate_p_waves", "locked_waves", "p_consistency"]

_SEARCH_S = 0.12  # a P wave may sit this far from its median position (PR drift, Wenckebach)
# Consistency is judged near the median position only: over a wide search any smooth segment
# (a T-wave tail, f waves) correlates well with a smooth template somewhere.
_CONSISTENCY_S = 0.02
_REBUILD_MATCH = 0.4  # beats whose P wave matched at least this well make a rebuilt template
_REBUILDS = 2
_MIN_TEMPLATE_BEATS = 2  # a rebuilt template keeps only the leads this many matched beats show
_ONSET_MARGIN_S = 0.06  # trace kept around a new template's P wave to find its onset
_MIN_P_SPAN_S = 0.04  # ... which, ending where the P search does before the QRS, must hold this much of the template
_FLAT_BEFORE_P_S = 0.02  # an onset is a P wave's when the trace is flat this long before it ...
_FLAT_FRACTION = 0.25  # ... (its range, summed over the leads, < this fraction of the wave's after it)


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
    match : (n_beats,) array
        The correlation at the best lag within ±120 ms (where ``pr_s`` was read): high also when
        the P wave moves from beat to beat (Wenckebach), but a smooth T-wave tail or f wave
        scores well somewhere too, so it only qualifies ``pr_s``.
    onset : "median", "beats" or None
        Whose P onset ``pr_s`` is timed from: the median beat's (as reliable as that onset is),
        the beats' own P waves averaged at their lags (a rebuilt template), or none: a rebuilt
        template's onset could not be placed (its P wave on the T wave before it) and ``pr_s``
        is read from the median P onset, off by one unknown constant, so only its beat-to-beat
        differences are meaningful.
    """

    pr_s: np.ndarray
    correlation: np.ndarray
    match: np.ndarray
    onset: Literal["median", "beats"] | None = "median"

    @property
    def consistency(self) -> float | None:
        """Mean P correlation over the beats where one was computed (None if none)."""
        finite = self.correlation[np.isfinite(self.correlation)]
        return float(finite.mean()) if finite.size else None


def locate_p_waves(filtered_mv: np.ndarray, beats: Beats, median: MedianBeats,
                   delineation: Delineation, near_only: bool = False,
                   rebuild: MeasureConfig | None = None, positions: np.ndarray | None = None) -> AtrialActivity:
    """Match the median P wave before every dominant beat.

    When the beats' P waves sit at different lags (their PR varies, as in Wenckebach block), the
    median beat's P wave is a blend of them (a 3:2 block's two PRs, 75 ms apart, smear it into one
    broad wave that matches every beat at one lag). With ``rebuild`` given and the consistency
    below its ``af_p_consistency``, the template is therefore rebuilt from the beats' own P
    waves, each taken at the lag it matched, and matched again, twice (Woody's adaptive filter,
    Electroenceph. Clin. Neurophysiol. 1967): ``pr_s`` and ``match`` then come from the rebuilt
    template, ``correlation`` (and so ``consistency``) always from the median beat's. The rebuilt
    template's P wave need not start where the median's did (the blend's onset is the earliest
    P wave's): its onset is delineated on the beats' P waves averaged at their lags, and every
    PR is read from it (:func:`_aligned_onset`; where that fails, ``onset`` is None).

    Parameters
    ----------
    filtered_mv : (n_samples, n_leads) array
        Band-passed voltages, mV.
    beats, median, delineation
        Outputs of the previous stages.
    near_only : bool
        Score only the lags within ±20 ms of the median position, which is all ``consistency``
        reads (``pr_s`` and ``match`` then describe that range only; nothing is rebuilt).
    rebuild : MeasureConfig or None
        Its ``af_p_consistency`` is the consistency (-1..1) below which the template is rebuilt,
        its P-wave settings delineate the rebuilt template; None: never rebuild.
    positions : (n_beats,) int array or None
        Each beat's place in a repeating group of beats (0: the beat after the group's pause), for
        a rhythm that repeats itself: the rebuilt template is then the P wave of the beats at place
        0 (after the pause it stands clear of the T wave before it), and every place reads one lag
        from the mean of its beats' correlation curves (grouped beating repeats its PRs too).

    Returns
    -------
    AtrialActivity
        All NaN when the median beat has no P wave.
    """
    none = AtrialActivity(*(np.full(len(beats.r_samples), np.nan) for _ in range(3)))
    g, fs, fid = delineation.global_s, median.fs_hz, median.fiducial_index
    if g["p_on"] is None or g["p_off"] is None or g["qrs_on"] is None:
        return none
    lo, hi = fid + int(round(g["p_on"] * fs)), fid + int(round(g["p_off"] * fs)) + 1
    with_p = np.isfinite(delineation.lead_s["p_on"]) | np.isfinite(delineation.lead_s["p_off"])
    template = median.signal_mv[lo:hi][:, with_p]
    if template.size == 0 or not np.isfinite(template).all():
        return none
    shift, near = int(_SEARCH_S * fs), int(_CONSISTENCY_S * fs)
    windows = beat_windows(filtered_mv, beats.r_samples, fid - lo + shift, hi - 1 - fid + shift)[:, :, with_p]
    lags = range(shift - near, shift + near + 1) if near_only else range(2 * shift + 1)
    scores = _lag_scores(windows, template, beats.dominant, lags)
    corr = _best(scores[:, shift - near:shift + near + 1])[1]
    best, match = _best(scores)
    found = AtrialActivity(g["qrs_on"] - g["p_on"] - (best - shift) / fs, corr, match)
    if near_only or rebuild is None or found.consistency is None or found.consistency >= rebuild.af_p_consistency:
        return found
    if positions is not None and (grouped := _grouped_lags(windows, shift, hi - lo, beats.dominant, positions, lags)):
        best, match = grouped
    else:
        for _ in range(_REBUILDS):
            matched = np.flatnonzero(match >= _REBUILD_MATCH)
            if matched.size < 3:
                break
            aligned = np.stack([windows[i][int(best[i]):int(best[i]) + hi - lo] for i in matched])
            # A page's column shows its leads in 2-3 beats: a lead one matched beat shows is that beat's P wave.
            shown = np.isfinite(aligned).all(axis=1).sum(axis=0) >= _MIN_TEMPLATE_BEATS
            if not shown.any():
                break
            template = np.full(aligned.shape[1:], np.nan)
            template[:, shown] = np.nanmedian(aligned[:, :, shown], axis=0)
            best, match = _best(_lag_scores(windows, template, beats.dominant, lags))
    # The new template's P wave need not start where the median's did: place its onset.
    qrs_at = fid + int(round(g["qrs_on"] * fs)) - (lo - shift)  # QRS onset, samples into a window
    onset = _aligned_onset(windows, best, match, hi - lo, qrs_at, fs, rebuild)
    timed = bool(np.isfinite(onset))
    return AtrialActivity(g["qrs_on"] - g["p_on"] - (best - shift + (onset if timed else 0.0)) / fs, corr, match,
                          "beats" if timed else None)


def _aligned_onset(windows: np.ndarray, best: np.ndarray, match: np.ndarray, width: int, qrs_at: int, fs: float,
                   config: MeasureConfig) -> float:
    """P onset (samples from the template's first sample, may be negative) of the beats' P waves
    averaged at their lags ``best`` (beats matched >= ``_REBUILD_MATCH``), with ``_ONSET_MARGIN_S``
    of trace before and up to that much after the template, short of ``P_GAP_BEFORE_QRS_S``
    before the QRS of the beat with the shortest PR, over the leads seen throughout. NaN when fewer
    than three beats fit, less than ``_MIN_P_SPAN_S`` of trace is left after the template's start,
    no P wave is delineated in their average, or the trace before its onset is not flat (the P
    waves on the T waves before them: the onset found is then the T wave's slope)."""
    before = int(_ONSET_MARGIN_S * fs)
    used = np.flatnonzero((match >= _REBUILD_MATCH) & np.isfinite(best))
    used = used[best[used] >= before]
    if used.size < 3:
        return np.nan
    end = min(qrs_at - P_GAP_BEFORE_QRS_S * fs, windows.shape[1])  # the trace may run to here
    span = int(min(width + _ONSET_MARGIN_S * fs, end - best[used].max()))
    if span < _MIN_P_SPAN_S * fs:
        return np.nan
    aligned = np.stack([windows[i][int(best[i]) - before:int(best[i]) + span] for i in used])
    seen = np.isfinite(aligned).any(axis=0).all(axis=0)  # a page's column shows some leads only
    if not seen.any():
        return np.nan
    average = np.nanmedian(aligned[:, :, seen], axis=0)
    onset = p_wave_onset(average, (before, before + min(width, span)), fs, config)
    flat = int(_FLAT_BEFORE_P_S * fs)
    if onset is None or onset < flat:
        return np.nan
    k = int(round(onset))
    drift, wave = (float(np.ptp(part, axis=0).sum()) for part in (average[k - flat:k + 1], average[k:]))
    return onset - before if drift <= _FLAT_FRACTION * wave else np.nan


def _grouped_lags(windows: np.ndarray, shift: int, width: int, dominant: np.ndarray, positions: np.ndarray,
                  lags: range) -> tuple[np.ndarray, np.ndarray] | None:
    """Per beat, the lag (samples) and score of its place in the group (see :func:`locate_p_waves`);
    None with fewer than two beats at place 0 showing every lead."""
    first = np.flatnonzero(dominant & (positions == 0))
    template = windows[first, shift:shift + width]
    template = template[np.isfinite(template).all(axis=(1, 2))]
    if template.shape[0] < 2:
        return None
    scores = _lag_scores(windows, np.median(template, axis=0), dominant, lags)
    best, match = np.full(len(positions), np.nan), np.full(len(positions), np.nan)
    for place in np.unique(positions):
        members = dominant & (positions == place) & np.isfinite(scores).any(axis=1)
        if members.any():
            curve = np.nanmean(scores[members], axis=0)
            best[members], match[members] = float(np.nanargmax(curve)), float(np.nanmax(curve))
    return best, match


def _lag_scores(windows: np.ndarray, template: np.ndarray, dominant: np.ndarray, lags: range) -> np.ndarray:
    """(n_beats, n_lags_total) correlation of each dominant beat's window with ``template`` at
    ``lags`` (samples into the window), over the leads finite in that window and in the template
    (a rebuilt one leaves out leads few beats show); NaN elsewhere."""
    width = template.shape[0]
    template = template - template.mean(axis=0)
    scores = np.full((windows.shape[0], windows.shape[1] - width + 1), np.nan)
    in_template = np.isfinite(template).all(axis=0)
    for i in np.flatnonzero(dominant):
        leads = np.isfinite(windows[i]).all(axis=0) & in_template
        if leads.any():
            for k in lags:
                scores[i, k] = _corr(windows[i][k:k + width, leads], template[:, leads])
    return scores


def _best(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per beat, the lag (samples, float; NaN without a score) of the best score, and that score."""
    best, value = np.full(scores.shape[0], np.nan), np.full(scores.shape[0], np.nan)
    for i in np.flatnonzero(np.isfinite(scores).any(axis=1)):
        best[i] = float(np.nanargmax(scores[i]))
        value[i] = scores[i, int(best[i])]
    return best, value


def p_consistency(filtered_mv: np.ndarray, beats: Beats, median: MedianBeats,
                  delineation: Delineation) -> float | None:
    """:attr:`AtrialActivity.consistency` of ``filtered_mv``, scoring only the ±20 ms of lags it is
    judged on (a sixth of those :func:`locate_p_waves` tries)."""
    return locate_p_waves(filtered_mv, beats, median, delineation, near_only=True).consistency


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
# Fibrillatory waves: 4-9 Hz (240-540/min) and irregular, largest in V1. Their share is taken of the
# 1-12 Hz residual power, where P waves left by an imperfect cancellation or dissociated from the
# QRS (1-3 Hz) would also show; their size as the RMS of the 3-12 Hz band.
_F_WAVE_LEAD = "V1"
_F_WAVE_BAND_HZ = (4.0, 9.0)
_F_WAVE_TOTAL_HZ = (1.0, 12.0)
_F_WAVE_RMS_BAND_HZ = (3.0, 12.0)
_F_WAVE_SEGMENT_S = 4.0


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
    locked : LockedWaves
        Atrial waves locked to the QRS (flutter), seen in the median beat's TQ segment.
    strip_consistency : float or None
        Mean correlation of each beat's pre-QRS window (QRS onset - 300 ms, or the previous T
        end of a median RR if later, to QRS onset - 40 ms) with their median, over I, II, III,
        aVF and V1 where recorded throughout (a page's rhythm strip), on the beats whose window
        starts after the previous T end: the same P wave before every beat, whatever the P
        delineation (which on a 3x4 page may rest on 2.5-s leads only). None: fewer than 3
        such beats.
    strip_beats : int
        Beats behind ``strip_consistency``.
    """

    rate_bpm: float | None
    concentration: float
    amplitude_mv: float
    lead: str | None
    dissociated: DissociatedP
    locked: LockedWaves
    strip_consistency: float | None = None
    strip_beats: int = 0


def atrial_waves(filtered_mv: np.ndarray, beats: Beats, median: MedianBeats, leads: tuple[str, ...],
                 delineation: Delineation) -> AtrialWaves:
    """Dominant frequency of the QRS-T-cancelled residual in II, III, aVF and V1 (the best of them).

    The median beat is subtracted at every dominant beat; ectopic beats and uncovered samples are
    masked out. The lead whose spectral peak is most concentrated is reported, with
    ``dissociated_p`` over all leads, ``locked_waves`` on the median beat and the consistency
    of the pre-QRS waves on the rhythm strip.
    """
    fs, fid = median.fs_hz, median.fiducial_index
    dissociated = dissociated_p(filtered_mv, beats, median)
    locked = locked_waves(median, delineation, beats, leads)
    strip = _strip_consistency(filtered_mv, beats, delineation, leads, fs)
    rate, concentration, amplitude, best_lead = None, 0.0, 0.0, None
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
        share = float(spectrum[near].sum() / spectrum[band].sum())
        if share > concentration:
            rate, concentration, amplitude, best_lead = float(peak * 60.0), share, float(np.sqrt(np.mean(x**2))), name
    return AtrialWaves(rate, concentration, amplitude, best_lead, dissociated, locked, *strip)


def fibrillatory_waves(filtered_mv: np.ndarray, beats: Beats, median: MedianBeats,
                       leads: tuple[str, ...]) -> tuple[float | None, float | None]:
    """Size and share of the fibrillatory waves in V1's QRS-T-cancelled residual: (RMS of its
    3-12 Hz band in mV, share of its 1-12 Hz power in 4-9 Hz); (None, None) without V1 or 2 s
    of residual. Read only under ventricular pacing, where the RR cannot show AF."""
    if _F_WAVE_LEAD not in leads:
        return None, None
    k, fs = leads.index(_F_WAVE_LEAD), median.fs_hz
    residual = _cancel_qrst(filtered_mv[:, k], beats, median.signal_mv[:, k], median.fiducial_index)
    residual = residual[np.isfinite(residual)]
    if residual.size < 2.0 * fs:
        return None, None
    residual = residual - residual.mean()
    freqs, power = signal.welch(residual, fs, nperseg=min(residual.size, int(_F_WAVE_SEGMENT_S * fs)))
    total = power[(freqs >= _F_WAVE_TOTAL_HZ[0]) & (freqs <= _F_WAVE_TOTAL_HZ[1])].sum()
    if total <= 0:
        return None, None
    share = float(power[(freqs >= _F_WAVE_BAND_HZ[0]) & (freqs <= _F_WAVE_BAND_HZ[1])].sum() / total)
    band = signal.butter(3, _F_WAVE_RMS_BAND_HZ, "bandpass", fs=fs, output="sos")
    return float(np.sqrt(np.mean(signal.sosfiltfilt(band, residual) ** 2))), share


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


_STRIP_WINDOW_S = (0.30, 0.04)  # before the QRS onset: where a P wave sits (PR 120-300 ms)
_STRIP_MIN_WINDOW_S = 0.08      # shorter (TQ fused at fast rates): no P wave can be told apart
_STRIP_LEADS = ("I", "II", "III", "aVF", "V1")  # where P waves are largest


def _strip_consistency(filtered_mv: np.ndarray, beats: Beats, delineation: Delineation, leads: tuple[str, ...],
                       fs: float) -> tuple[float | None, int]:
    g = delineation.global_s
    whole = rhythm_strips(filtered_mv) & np.isin(leads, _STRIP_LEADS)
    rr_s = beats.median_rr_s(fs)
    if g["qrs_on"] is None or g["t_off"] is None or not whole.any() or len(beats.r_samples) < 3 or rr_s is None:
        return None, 0
    # At fast rates the window is shortened to start at the previous T end of a median RR.
    before_s = min(_STRIP_WINDOW_S[0], rr_s + g["qrs_on"] - g["t_off"])
    if before_s - _STRIP_WINDOW_S[1] < _STRIP_MIN_WINDOW_S:
        return None, 0
    start, end = int(round((g["qrs_on"] - before_s) * fs)), int(round((g["qrs_on"] - _STRIP_WINDOW_S[1]) * fs))
    windows = beat_windows(filtered_mv[:, whole], beats.r_samples, -start, end)
    # The first beat, and a beat after a gap, have no previous T wave in the record.
    rr_before_s = np.nan_to_num(np.concatenate(([np.nan], beats.rr_s(fs))), nan=10.0)
    clear = rr_before_s + g["qrs_on"] - before_s >= g["t_off"]  # the window follows the T end
    windows = windows[beats.dominant & clear & np.isfinite(windows).all(axis=(1, 2))]
    if windows.shape[0] < 3:
        return None, int(windows.shape[0])
    template = np.median(windows, axis=0)
    scores = [_corr(w, template - template.mean(axis=0)) for w in windows]
    return float(np.nanmean(scores)), int(windows.shape[0])


# Dissociated P waves (third-degree AV block) are not time-locked to the QRS, so the median beat
# does not cancel them: they leave a periodic residual at the atrial rate (50-180/min searched).
_DISSOCIATED_RATE_BPM = (50.0, 180.0)
_DISSOCIATED_DETREND_S = 0.2
_DISSOCIATED_EDGE_S = 0.3


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
    rr_s = beats.median_rr_s(fs)
    if len(beats.r_samples) < 3 or rr_s is None:
        return DissociatedP(None, 0.0, 0.0)
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
        # The templates' ends leave steps and the band-pass leaves drifts at the record's ends;
        # a 200-ms running median removes both and keeps P waves (~100 ms).
        x = np.where(finite, x - ndimage.median_filter(x, int(_DISSOCIATED_DETREND_S * fs)), 0.0)
        x[:int(_DISSOCIATED_EDGE_S * fs)] = 0.0
        x[x.size - int(_DISSOCIATED_EDGE_S * fs):] = 0.0
        acf += np.array([np.dot(x[:x.size - lag], x[lag:]) for lag in range(hi + 1)])
        energy, n_finite = energy + float(np.dot(x, x)), n_finite + int(finite.sum())
    if energy <= 0:
        return DissociatedP(None, 0.0, 0.0)
    best = lo + int(np.argmax(acf[lo:hi + 1]))
    if best in (lo, hi):  # no peak inside the range: the residual is not periodic there
        return DissociatedP(None, 0.0, float(np.sqrt(energy / n_finite)))
    return DissociatedP(60.0 * fs / best, float(acf[best] / acf[0]), float(np.sqrt(energy / n_finite)))


# Flutter waves are strictly periodic and each QRS follows one at a fixed conduction delay, so every
# RR is a whole number of F-wave periods (k:1, or 2:1/3:1/4:1 in turn) and every F wave falls at
# the same place in every cycle: the median beat keeps them and the cancelled residual loses them.
# Between T end and the next QRS onset they repeat at their period; sinus rhythm has one P wave
# there on an isoelectric baseline.
_LOCKED_PERIOD_S = (0.15, 0.30)   # F-wave period searched (200-400/min)
_LOCKED_RR_TOLERANCE_S = 0.03     # every RR is a whole number of F-wave periods, give or take this
_LOCKED_GUARD_S = 0.01            # kept clear of the T end and the QRS onset
_LOCKED_MIN_OVERLAP_S = 0.03      # the segment must outlast one period by this much
_LOCKED_SMOOTH_S = 0.01           # digitized traces step by one pixel (12.7 uV at 200 DPI)
_CYCLE_AFTER_QRS_S = 0.04         # the whole-cycle segment starts this far past the QRS offset


@dataclass(frozen=True)
class LockedWaves:
    """Atrial waves locked to the QRS, from the median beat's TQ segment in II, III, aVF and V1.

    Attributes
    ----------
    rate_bpm : float or None
        60 / the period (s) at which the TQ segment best repeats itself, among the periods of
        which every RR is a multiple (RR/k at a regular rate; None: no such period, a segment
        shorter than one period plus 30 ms, or no T end).
    similarity : float
        ``1 - sum((x(t) - x(t - L))^2) / sum((x(t) - m)^2 + (x(t - L) - m)^2)`` at that period L over
        the TQ segment pooled over the leads (1: identical repeats; about 0 for an isolated P wave
        on a flat baseline; a linear drift scores below 0).
    amplitude_mv : float
        Median over the leads of the TQ segment's peak-to-peak amplitude, mV.
    conclusive : bool
        Every candidate period in 0.15-0.30 s was tested (the segment outlasts the longest by
        30 ms): only then does a low similarity rule locked flutter waves out.
    cycle_rate_bpm, cycle_similarity : float or None
        The same test on the slope (10-ms smoothed derivative) of the whole segment from QRS
        offset + 40 ms to the next QRS onset - 10 ms: F waves run on through the ST segment and
        the T wave, whose slow slope barely repeats, so this segment is long enough where the TQ
        segment is not (3:1 flutter at 90-110/min). None: no period testable.
    """

    rate_bpm: float | None
    similarity: float
    amplitude_mv: float
    conclusive: bool = False
    cycle_rate_bpm: float | None = None
    cycle_similarity: float | None = None


def locked_waves(median: MedianBeats, delineation: Delineation, beats: Beats, leads: tuple[str, ...]) -> LockedWaves:
    """How well the median beat's TQ segment repeats itself at a period of which every RR is a
    multiple (flutter waves locked to the QRS: k:1 or variable conduction).

    The TQ segment runs from the global T end to the next QRS onset, taken before the QRS
    (from T end - RR) or after the T wave (to QRS onset + RR), whichever the median-beat window
    holds longer.
    """
    g, fs = delineation.global_s, median.fs_hz
    cols = [leads.index(name) for name in _FLUTTER_LEADS if name in leads]
    rr_s = beats.median_rr_s(fs)
    if g["qrs_on"] is None or g["t_off"] is None or len(beats.r_samples) < 3 or not cols or rr_s is None:
        return LockedWaves(None, 0.0, 0.0)
    n, fid = median.signal_mv.shape[0], median.fiducial_index

    def index(t_s: float) -> int:
        return fid + int(round(t_s * fs))
    pre = (max(0, index(g["t_off"] - rr_s + _LOCKED_GUARD_S)), index(g["qrs_on"] - _LOCKED_GUARD_S))
    post = (index(g["t_off"] + _LOCKED_GUARD_S), min(n, index(g["qrs_on"] + rr_s - _LOCKED_GUARD_S)))
    a, b = max(pre, post, key=lambda span: span[1] - span[0])
    smooth = max(1, int(round(_LOCKED_SMOOTH_S * fs)))
    segment = _finite_columns(median.signal_mv[a:max(a, b)][:, cols])
    if segment.size == 0:
        return LockedWaves(None, 0.0, 0.0)
    segment = ndimage.uniform_filter1d(segment, smooth, axis=0)
    amplitude = float(np.median(np.ptp(segment, axis=0)))
    periods = _locked_periods(beats, fs)
    period, similarity, tested = _best_repeat(segment, periods, fs)
    c0 = index(g["qrs_off"] + _CYCLE_AFTER_QRS_S) if g["qrs_off"] is not None else n
    cycle = _finite_columns(median.signal_mv[c0:min(n, index(g["qrs_on"] + rr_s - _LOCKED_GUARD_S))][:, cols])
    slope = ndimage.uniform_filter1d(np.gradient(cycle, axis=0), smooth, axis=0) if cycle.shape[0] > 1 else cycle
    cycle_period, cycle_similarity, _ = _best_repeat(slope, periods, fs)
    return LockedWaves(None if period is None else 60.0 / period, similarity, amplitude,
                       conclusive=periods.size > 0 and tested == periods.size,
                       cycle_rate_bpm=None if cycle_period is None else 60.0 / cycle_period,
                       cycle_similarity=cycle_similarity if cycle_period is not None else None)


def _finite_columns(segment: np.ndarray) -> np.ndarray:
    return segment[:, np.isfinite(segment).all(axis=0)]


def _best_repeat(segment: np.ndarray, periods: np.ndarray, fs: float) -> tuple[float | None, float, int]:
    """(period in s, similarity, periods tested) of the candidate period at which ``segment``
    (n, leads) best repeats itself (similarity as in :class:`LockedWaves`); (None, 0, k) when no
    period fits in it with ``_LOCKED_MIN_OVERLAP_S`` to spare."""
    best, best_similarity, tested = None, 0.0, 0
    for period in periods:
        lag = int(round(period * fs))
        if segment.size == 0 or segment.shape[0] - lag < _LOCKED_MIN_OVERLAP_S * fs:
            continue
        x, y = segment[lag:], segment[:-lag]
        m = 0.5 * (x.mean(axis=0) + y.mean(axis=0))
        spread = float(((x - m) ** 2).sum() + ((y - m) ** 2).sum())
        similarity = 1.0 - float(((x - y) ** 2).sum()) / spread if spread > 0 else 0.0
        tested += 1
        if best is None or similarity > best_similarity:
            best, best_similarity = float(period), similarity
    return best, best_similarity, tested


def _locked_periods(beats: Beats, fs: float) -> np.ndarray:
    """F-wave periods (s) in 0.15-0.30 s of which every RR between dominant beats is a multiple
    k >= 2 within ±30 ms: RR/k at a regular rate; with variable conduction (2:1, 3:1, 4:1 in
    turn) the one period all RRs share. An irregular rhythm that shares none is not flutter."""
    dominant = beats.dominant
    rr_s = beats.rr_s(fs)[dominant[1:] & dominant[:-1]]
    rr_s = rr_s[np.isfinite(rr_s)]
    if rr_s.size == 0:
        return np.zeros(0)
    grid = np.arange(int(np.ceil(_LOCKED_PERIOD_S[0] * fs)), int(_LOCKED_PERIOD_S[1] * fs) + 1) / fs
    k = np.round(rr_s[None, :] / grid[:, None])
    fits = (k >= 2) & (np.abs(rr_s[None, :] - k * grid[:, None]) <= _LOCKED_RR_TOLERANCE_S)
    return grid[fits.all(axis=1)]
