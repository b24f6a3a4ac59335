"""Beats: multi-lead QRS detection, alignment and dominant-beat classification.

Each lead's QRS energy (squared slope over an 80-ms window) is scaled by its own typical QRS
level, then averaged over whichever leads are finite at each instant, so a digitized 3x4 page
(each short lead finite for 2.5 s) gives one continuous detection signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from tools.measure.config import MeasureConfig
from tools.measure.nanstats import nanmean, nanmedian
from tools.measure.preprocess import finite_runs, run_interior

__all__ = ["Beats", "detect_beats", "beat_windows", "rhythm_strips"]

_ENERGY_WINDOW_S = 0.08
_ALIGN_HALF_S = 0.10      # QRS half-window used to align and correlate beats
_ALIGN_SHIFT_S = 0.03     # largest alignment correction
_SLOWEST_BPM = 40.0
_MIN_QRS_CONTRAST = 8.0   # typical QRS energy / median energy; ECGs give > 20, white noise ~3
_CONTRAST_LEADS = 3       # leads that must pass that test on their own when the combined energy does not
_NOISE_FLOOR = 0.02       # combined energy below this fraction of a QRS is baseline
_WHOLE_COVERAGE = 0.9     # a lead finite over this fraction of the record spans every beat (a rhythm strip)
_RUN_EDGE_S = 0.04        # energy this close to the end of a lead's finite run is not used for detection
_BLIND_GAP_S = 0.05       # a gap this long in every lead can hide a QRS complex
# Pan & Tompkins (1985): a peak this soon after a QRS may be its T wave, and is taken for one when its
# steepest slope is under this fraction of the QRS's (summed over the leads seen at both, in mV/s).
_T_WAVE_WINDOW_S = 0.36
_T_WAVE_SLOPE_RATIO = 0.5
_T_WAVE_SLOPE_HALF_S = 0.05  # each peak's steepest slope is sought this far either side of it


@dataclass(frozen=True)
class Beats:
    """Detected beats.

    Attributes
    ----------
    r_samples : (n_beats,) int array
        Aligned QRS fiducial (sample index), the same point of every dominant QRS.
    kinds : tuple of str
        Per beat: ``"N"`` dominant, ``"A"`` dominant morphology but premature, ``"V"`` other
        morphology (ventricular or aberrant), ``"?"`` not classifiable (edge, gap).
    correlation : (n_beats,) float array
        QRS correlation with the dominant template (NaN when not computable).
    energy : (n_samples,) float array
        The combined detection signal (dimensionless, ~1 at a typical QRS).
    rr_observed : (n_beats - 1,) bool array or None
        Whether the signal covers each interval between consecutive beats: an interval holding a
        gap of at least ``_BLIND_GAP_S`` in every lead may hide beats, so it is no RR interval.
        None: every interval is observed.
    premature : (n_beats,) bool array or None
        Whatever its shape, the beat came early: the RR before it is under ``premature_fraction``
        of the local median RR (False for the first beat and without two observed RRs). None:
        none is premature.
    detecting_leads : (n_leads,) bool array or None
        The leads that found the beats when the combined energy of all of them showed no QRS
        above the noise (see :func:`detect_beats`); None: all leads did.
    """

    r_samples: np.ndarray
    kinds: tuple[str, ...]
    correlation: np.ndarray
    energy: np.ndarray
    rr_observed: np.ndarray | None = None
    premature: np.ndarray | None = None
    detecting_leads: np.ndarray | None = None

    @property
    def dominant(self) -> np.ndarray:
        """(n_beats,) bool: beats whose QRS has the dominant morphology (N or A)."""
        return np.array([kind in "NA" for kind in self.kinds], dtype=bool)

    def times_s(self, fs_hz: float) -> list[float]:
        """Each beat's fiducial time in s from the first sample."""
        return [float(r / fs_hz) for r in self.r_samples]

    def rr_s(self, fs_hz: float) -> np.ndarray:
        """(n_beats - 1,) intervals between consecutive beats in s; NaN where not observed."""
        rr = np.diff(self.r_samples) / fs_hz
        return rr if self.rr_observed is None else np.where(self.rr_observed, rr, np.nan)

    def median_rr_s(self, fs_hz: float) -> float | None:
        """Median of the observed intervals in s; None when there is none."""
        rr = np.diff(self.r_samples)  # in samples, then s: the rounding every caller had before
        if self.rr_observed is not None:
            rr = rr[self.rr_observed]
        return float(np.median(rr)) / fs_hz if rr.size else None


def _combined_energy(filtered_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """(n_samples,) mean over the leads finite at each instant of :func:`_lead_energies`."""
    return _mean_energy(*_lead_energies(filtered_mv, fs_hz))


def _mean_energy(scaled: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """(n_samples,) mean of the leads' scaled energies over those finite (and scalable) at each instant."""
    counts = (finite & (scaled.max(axis=0) > 0)).sum(axis=1)
    return np.where(counts > 0, np.where(finite, scaled, 0.0).sum(axis=1) / np.maximum(counts, 1), 0.0)


def _lead_energies(filtered_mv: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Each lead's squared slope over ``_ENERGY_WINDOW_S``, scaled by its own 99th percentile
    (0 for a lead too short or flat to scale), and where it counts (its finite runs' interiors)."""
    slope = np.gradient(np.where(np.isfinite(filtered_mv), filtered_mv, 0.0), axis=0) * fs_hz
    finite = np.isfinite(filtered_mv)
    width = max(3, int(round(_ENERGY_WINDOW_S * fs_hz)))
    energy = ndimage.uniform_filter1d(np.where(finite, slope**2, 0.0), width, axis=0, mode="constant")
    # The ends of a lead's finite runs (a 3x4 page's 2.5-s windows) carry filter and tracing edge
    # effects; there the leads drop out one by one and the average would rest on one lead's edge.
    finite = run_interior(finite, int(round(_RUN_EDGE_S * fs_hz)), trim_record_ends=False)
    scaled = np.zeros_like(energy)
    for lead in range(energy.shape[1]):
        values = energy[finite[:, lead], lead]
        if values.size > fs_hz and np.percentile(values, 99) > 0:
            scaled[:, lead] = energy[:, lead] / np.percentile(values, 99)
    return scaled, finite


def _qrs_peaks(energy: np.ndarray, fs_hz: float, config: MeasureConfig) -> np.ndarray:
    """Peaks of ``energy`` above ``qrs_threshold_fraction`` of the typical QRS (the median of the k
    largest, k = the beats of a 40-bpm rhythm, so one or two artefacts do not raise it); none when
    the typical QRS is under ``_MIN_QRS_CONTRAST`` x the median energy (noise)."""
    distance = max(1, int(60.0 / config.max_heart_rate_bpm * fs_hz))
    peaks, props = signal.find_peaks(energy, distance=distance, height=_NOISE_FLOOR)
    if not peaks.size or not (energy > 0).any():
        return peaks[:0]
    heights = props["peak_heights"]
    typical = np.median(np.sort(heights)[-max(2, int(len(energy) / fs_hz * _SLOWEST_BPM / 60.0)):])
    if typical < _MIN_QRS_CONTRAST * np.median(energy[energy > 0]):
        return peaks[:0]
    return peaks[heights >= config.qrs_threshold_fraction * typical]


def _contrasted_leads(scaled: np.ndarray, finite: np.ndarray, fs_hz: float, config: MeasureConfig) -> np.ndarray:
    """(n_leads,) bool: the leads whose own energy (:func:`_lead_energies`) passes :func:`_qrs_peaks`'
    noise test."""
    return np.array([_qrs_peaks(np.where(finite[:, k], scaled[:, k], 0.0), fs_hz, config).size > 0
                     for k in range(scaled.shape[1])])


def _without_t_waves(filtered_mv: np.ndarray, peaks: np.ndarray, fs_hz: float) -> np.ndarray:
    """``peaks`` less the T waves among them (``_T_WAVE_WINDOW_S``, ``_T_WAVE_SLOPE_RATIO``).

    The detection energy is normalised lead by lead, so in a lead whose QRS is nearly isoelectric
    the T wave, steeper than that QRS, weighs like a QRS complex; a 3x4 page averages four leads at
    a time, and two such leads in a column make its T waves beats (a simulated right-axis record:
    153 bpm on its page for 85). Slopes in mV/s are not normalised: summed over the leads, a QRS
    is far steeper than its T wave.
    """
    slope = np.abs(np.gradient(filtered_mv, axis=0)) * fs_hz
    slope = np.where(np.isfinite(slope), slope, -np.inf)
    half, window = int(_T_WAVE_SLOPE_HALF_S * fs_hz), _T_WAVE_WINDOW_S * fs_hz
    kept = [int(peaks[0])]
    for p in peaks[1:]:
        before = slope[max(0, kept[-1] - half):kept[-1] + half + 1].max(axis=0)
        here = slope[max(0, p - half):p + half + 1].max(axis=0)
        both = np.isfinite(before) & np.isfinite(here)
        if p - kept[-1] < window and both.any() and here[both].sum() < _T_WAVE_SLOPE_RATIO * before[both].sum():
            continue
        kept.append(int(p))
    return np.array(kept)


def rhythm_strips(filtered_mv: np.ndarray) -> np.ndarray:
    """(n_leads,) bool: the leads recorded throughout (finite over 90 % of the record), such as a
    page's rhythm strip; on a 3x4 page the other leads cover 2.5 s each."""
    return np.isfinite(filtered_mv).mean(axis=0) >= _WHOLE_COVERAGE


def beat_windows(filtered_mv: np.ndarray, centres: np.ndarray, before: int, after: int) -> np.ndarray:
    """(n_beats, before+after+1, n_leads) windows around each centre sample, NaN outside the record."""
    n = filtered_mv.shape[0]
    idx = centres[:, None] + np.arange(-before, after + 1)[None, :]
    out = filtered_mv[np.clip(idx, 0, n - 1)]
    out[(idx < 0) | (idx >= n)] = np.nan
    return out


def _align(energy: np.ndarray, peaks: np.ndarray, fs_hz: float) -> np.ndarray:
    half, shift = int(_ALIGN_HALF_S * fs_hz), max(1, int(_ALIGN_SHIFT_S * fs_hz))
    segs = beat_windows(energy[:, None], peaks, half + shift, half + shift)[:, :, 0]
    template = nanmedian(segs[:, shift:shift + 2 * half + 1], axis=0)  # edge beats leave all-NaN columns
    template = np.nan_to_num(template - nanmean(template))
    best = np.zeros(len(peaks), dtype=int)
    for i, seg in enumerate(np.nan_to_num(segs)):
        scores = [float(np.dot(seg[k:k + 2 * half + 1], template)) for k in range(2 * shift + 1)]
        best[i] = int(np.argmax(scores)) - shift
    return peaks + best


def _alignment_energy(filtered_mv: np.ndarray, energy: np.ndarray, fs_hz: float) -> np.ndarray:
    """The energy that places every beat's fiducial: that of the leads recorded throughout when only
    some are (a 3x4+1 page: the rhythm strip), else the combined ``energy``.

    On a 3x4 page each column averages different leads, whose QRS energy peaks at different times
    (in LBBB V1-V3 peak ~50 ms before the limb leads), so the combined energy would put the
    fiducial at a different point of the QRS in each column and misalign the leads' median beats.
    """
    whole = rhythm_strips(filtered_mv)
    if whole.all() or not whole.any():
        return energy
    return _combined_energy(filtered_mv[:, whole], fs_hz)


def _correlations(segs: np.ndarray) -> np.ndarray:
    """(n_beats, n_beats) QRS correlation over the leads finite in both beats."""
    n = segs.shape[0]
    corr = np.full((n, n), np.nan)
    finite = np.isfinite(segs).all(axis=1)  # (n_beats, n_leads)
    for i in range(n):
        for j in range(i, n):
            both = finite[i] & finite[j]
            if both.any():
                a, b = segs[i][:, both].ravel(), segs[j][:, both].ravel()
                a, b = a - a.mean(), b - b.mean()
                denom = np.sqrt(np.dot(a, a) * np.dot(b, b))
                corr[i, j] = corr[j, i] = np.dot(a, b) / denom if denom > 0 else np.nan
    return corr


def _observed_intervals(filtered_mv: np.ndarray, r_samples: np.ndarray, fs_hz: float) -> np.ndarray:
    """(n_beats - 1,) bool: no gap of ``_BLIND_GAP_S`` or more in every lead lies between the beats."""
    covered = finite_runs(np.where(np.isfinite(filtered_mv).any(axis=1), 0.0, np.nan))
    observed = np.ones(max(len(r_samples) - 1, 0), dtype=bool)
    for (_, start), (stop, _) in zip(covered[:-1], covered[1:]):  # the gaps between covered runs
        if stop - start >= _BLIND_GAP_S * fs_hz:
            observed &= ~((r_samples[:-1] < stop) & (r_samples[1:] > start))
    return observed


def _classify(filtered_mv: np.ndarray, r_samples: np.ndarray, rr_s: np.ndarray, fs_hz: float,
              config: MeasureConfig) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Kinds, QRS correlations with the template and prematurity (see :class:`Beats`); ``rr_s``
    (NaN: not observed) tells premature beats."""
    half = int(_ALIGN_HALF_S * fs_hz)
    segs = beat_windows(filtered_mv, r_samples, half, half)
    corr = _correlations(segs)
    similar = np.nan_to_num(corr, nan=0.0) >= config.dominant_correlation
    centre = int(np.argmax(similar.sum(axis=1)))
    to_template = corr[centre]
    premature = np.zeros(len(r_samples), dtype=bool)
    if np.isfinite(rr_s).sum() >= 2:
        for i in range(1, len(r_samples)):
            premature[i] = rr_s[i - 1] < config.premature_fraction * nanmedian(rr_s[max(0, i - 5):i + 4])
    kinds = []
    for c, early in zip(to_template, premature):
        if not np.isfinite(c):
            kinds.append("?")
        elif c < config.dominant_correlation:
            kinds.append("V")
        else:
            kinds.append("A" if early else "N")
    return tuple(kinds), to_template, premature


def detect_beats(filtered_mv: np.ndarray, fs_hz: float, config: MeasureConfig) -> Beats:
    """Detect, align and classify QRS complexes on all leads at once.

    When the combined energy shows no QRS above the noise, the leads whose own energy does (at
    least three, not all) detect alone (``Beats.detecting_leads``); if one of the beats they find
    is then of another shape (kind "V", as likely a T wave), no beat is returned.

    Parameters
    ----------
    filtered_mv : (n_samples, n_leads) array
        Band-passed voltages in mV (:func:`~tools.measure.preprocess.filter_leads`), NaN allowed.
    fs_hz : float
        Sampling rate in Hz.

    Returns
    -------
    Beats
        Possibly empty (flat line, pure NaN): callers flag fewer than 3 beats.
    """
    scaled, finite = _lead_energies(filtered_mv, fs_hz)
    energy = _mean_energy(scaled, finite)
    peaks, detecting = _qrs_peaks(energy, fs_hz, config), None
    if peaks.size == 0:
        # Leads nearly perpendicular to the QRS (low voltage, some LBBB) show mostly T waves: averaged
        # in, they can bury QRS complexes that other leads show clearly. Those leads alone then detect.
        contrasted = _contrasted_leads(scaled, finite, fs_hz, config)
        if contrasted.sum() >= min(_CONTRAST_LEADS, filtered_mv.shape[1]) and not contrasted.all():
            energy = _mean_energy(scaled[:, contrasted], finite[:, contrasted])
            peaks, detecting = _qrs_peaks(energy, fs_hz, config), contrasted
    if peaks.size == 0:
        return Beats(np.zeros(0, dtype=int), (), np.zeros(0), energy)
    peaks = _without_t_waves(filtered_mv, peaks, fs_hz)
    reference = _alignment_energy(filtered_mv, energy, fs_hz)
    if reference is not energy:  # move each peak to the reference's own peak nearby
        half = int(_ALIGN_HALF_S * fs_hz)
        peaks = np.array([max(0, p - half) + int(np.argmax(reference[max(0, p - half):p + half + 1])) for p in peaks])
    r_samples = _align(reference, peaks, fs_hz)
    observed = _observed_intervals(filtered_mv, r_samples, fs_hz)
    kinds, corr, premature = _classify(filtered_mv, r_samples, np.where(observed, np.diff(r_samples) / fs_hz, np.nan),
                                       fs_hz, config)
    if detecting is not None and "V" in kinds:  # on a few leads, a beat unlike the rest is as likely a T wave
        return Beats(np.zeros(0, dtype=int), (), np.zeros(0), energy)
    return Beats(r_samples, kinds, corr, energy, observed, premature, detecting)
