"""Conditioned signals: pacing spikes removed, baseline wander, mains interference and
high-frequency noise filtered; pacing stimuli stored as steps found (not removed: their trace is
longer than a spike's).

Every finite run of a lead is filtered on its own, so NaN gaps (digitized 3x4 pages) neither
spread nor leak into neighbouring samples; runs too short to filter become NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage, signal

from tools.measure.config import MeasureConfig

__all__ = ["MEASURING_FS_HZ", "SPIKE_MIN_FS_HZ", "PacedBeats", "filter_leads", "finite_runs", "locked_steps",
           "mains_frequency", "paced_beats", "pacing_steps", "remove_pacing_spikes", "run_interior", "upsample"]

# Pacemaker spikes last < 2 ms (1-3 samples at 500 Hz): a spike is what a 10-ms running median
# removes. Its height is judged against the lead's own QRS slope, not in mV, because records are
# often rescaled lead by lead (LUDB: every lead 1 mV peak to peak). A sharp R peak leaves a residual
# of about one sample's QRS slope; paced LUDB spikes leave 2 to 60 times that.
_SPIKE_MEDIAN_S = 0.010
_SPIKE_SLOPE_RATIO = 2.0
_SLOPE_BLOCK_S = 2.0
_SPIKE_ALIGN_S = 0.002  # the same spike lands on neighbouring samples in different leads
# Seen in at least 3 independent leads at once: the six limb leads derive from two electrode pairs,
# so they count as at most 2 (noise on one limb electrode shows in all six).
_SPIKE_MIN_LEADS = 3
_SPIKE_MAX_LIMB_LEADS = 2
_LIMB_LEADS = frozenset({"I", "II", "III", "aVR", "aVL", "aVF"})
_SPIKE_MIN_EVENTS = 2  # one isolated glitch is an artefact (non-paced LUDB 141 and 178 each have one)
_SPIKE_EDGE_S = 0.02  # run ends carry filter and digitizer glitches
SPIKE_MIN_FS_HZ = 250.0  # below this a pacing spike cannot be told from a sharp R peak
# A ventricular spike precedes the paced QRS onset by < 40 ms. The global onset (earliest lead) of
# the paced median beat lands 15-40 ms BEFORE the spike on LUDB 34, 74, 90 and 93, hence the wide
# negative margin. A spike earlier than that but within a PR interval of the QRS starts a paced P wave.
_VENTRICULAR_LAG_S = (-0.05, 0.06)
_ATRIAL_MAX_LAG_S = 0.35
# Some recorders store the stimulus as a one-sample step (LUDB 45: a step decaying in ~15 ms; 111: a
# 26-ms box held flat at both edges), which the running median keeps. A step is a jump of at least
# half the lead's QRS step per sample, with the trace flat (< 1/4 of the jump) over the 6 ms before
# it and not continuing the jump on the next sample (a QRS upstroke does). Recorders also leave such
# steps where they join segments (non-paced LUDB 43, 99, 109: 3-7 per record, anywhere in the cycle),
# so a step counts only when one fixed delay links it to >= 80 % of the dominant QRS complexes.
_STEP_SLOPE_RATIO = 0.5
_STEP_FLAT_RATIO = 0.25
_STEP_FLAT_S = 0.006
_STEP_LOCK_S = 0.006  # the same paced QRS, aligned by template, lands within a few samples
_STEP_LOCKED_FRACTION = 0.8
_STEP_MIN_LOCKED = 3
_STEP_BOX_S = 0.04  # a stored box's trailing edge (LUDB 111: 26 ms after its start) is not another stimulus
# A coarsely quantized trace (a CSV rounded to 0.05 mV) also jumps by one quantum after flat samples,
# at the same point of every beat (the QRS onset): a stimulus step spans many quanta.
_STEP_MIN_QUANTA = 4


def finite_runs(column: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) sample index pairs of the finite runs of a 1-D array."""
    finite = np.isfinite(column).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], finite, [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def run_interior(finite: np.ndarray, margin: int, *, trim_record_ends: bool) -> np.ndarray:
    """(n_samples, n_leads) bool: the finite samples at least ``margin`` samples from the ends of
    their finite run (NaN gaps such as a 3x4 page's 2.5-s columns; the record's own first and last
    samples count as ends only with ``trim_record_ends``)."""
    structure = np.ones((2 * margin + 1, 1), dtype=bool)
    return ndimage.binary_erosion(finite, structure=structure, border_value=0 if trim_record_ends else 1)


def _qrs_slope_mv(smooth_mv: np.ndarray, finite: np.ndarray, fs_hz: float) -> np.ndarray:
    """(n_leads,) typical steepest QRS step per sample (mV): the lead's finite steps cut into chunks of
    at least 2 s (each holds a QRS down to 30 bpm; shorter ones would measure P or T slopes in
    bradycardia), median of the chunk maxima; NaN gaps (a 3x4 page's 2.5-s columns) are skipped."""
    step = np.abs(np.diff(smooth_mv, axis=0))
    valid = finite[1:] & finite[:-1]
    block = int(_SLOPE_BLOCK_S * fs_hz)
    slope = np.full(step.shape[1], 1e-6)  # floor: a flat lead scores 0, never infinity
    for lead in range(step.shape[1]):
        steps = step[valid[:, lead], lead]
        if steps.size:
            chunks = np.array_split(steps, max(1, steps.size // block))
            slope[lead] = max(slope[lead], float(np.median([chunk.max() for chunk in chunks])))
    return slope


def _median_size(fs_hz: float) -> int:
    """Samples (odd, >= 3) of the running median that removes a spike."""
    return max(3, round(_SPIKE_MEDIAN_S * fs_hz) | 1)


def _smooth_and_slope(signal_mv: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """(smooth, slope): the running median (spikes and steps removed, NaN read as 0),
    (n_samples, n_leads) in mV, and each lead's QRS step per sample on it, (n_leads,) in mV."""
    finite = np.isfinite(signal_mv)
    smooth = ndimage.median_filter(np.where(finite, signal_mv, 0.0), size=(_median_size(fs_hz), 1), mode="nearest")
    return smooth, _qrs_slope_mv(smooth, finite, fs_hz)


def _spike_score(signal_mv: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """(score, smooth): residual of the running median over the lead's QRS slope, both
    (n_samples, n_leads); the score is 0 within ``_SPIKE_EDGE_S`` of a NaN gap or the record's ends."""
    finite = np.isfinite(signal_mv)
    smooth, slope = _smooth_and_slope(signal_mv, fs_hz)
    inner = run_interior(finite, int(_SPIKE_EDGE_S * fs_hz), trim_record_ends=True)
    score = np.abs(np.where(finite, signal_mv, 0.0) - smooth) / slope
    return np.where(inner, score, 0.0), smooth


def _multi_lead_events(found: np.ndarray, score: np.ndarray, fs_hz: float,
                       leads: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Events ``found`` within ±2 ms in >= 3 independent leads (the limb leads count as 2).

    ``found`` (bool) and ``score`` are (n_samples, n_leads). Returns the event labels
    (n_samples,) int (0 = none) and one sample per event (n_events,) int: where the summed score
    of the leads that see the event peaks.
    """
    align = 2 * max(1, round(_SPIKE_ALIGN_S * fs_hz)) + 1
    hit = ndimage.maximum_filter1d(found.astype(np.int8), align, axis=0)
    limb = np.array([name in _LIMB_LEADS for name in leads])
    n_leads = np.minimum(hit[:, limb].sum(axis=1), _SPIKE_MAX_LIMB_LEADS) + hit[:, ~limb].sum(axis=1)
    labels, n_events = ndimage.label(n_leads >= _SPIKE_MIN_LEADS)
    strength = np.where(hit > 0, score, 0.0).sum(axis=1)
    peaks = np.array(ndimage.maximum_position(strength, labels, range(1, n_events + 1)), dtype=int).reshape(-1)
    return labels, peaks


def remove_pacing_spikes(signal_mv: np.ndarray, fs_hz: float,
                         leads: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Find pacemaker spikes by their shape and replace them by the local running median.

    A spike is a deflection 1-3 samples wide (at 500 Hz) whose height exceeds twice the lead's own
    steepest QRS step per sample, in at least 3 independent leads at once (limb leads count as 2);
    a record needs 2 such events to count as paced.

    Parameters
    ----------
    signal_mv : (n_samples, n_leads) array
        Raw voltages in mV, NaN allowed.
    fs_hz : float
        Sampling rate in Hz (no detection below 250 Hz, where spikes are not resolved).
    leads : sequence of str
        Lead names of the columns (standard names; limb leads are grouped).

    Returns
    -------
    cleaned_mv : (n_samples, n_leads) array
    spike_samples : (n_spikes,) int array
        Sample index of each spike event (one per event, not per sample); empty when fewer than 2.
    """
    none = np.zeros(0, dtype=int)
    if fs_hz < SPIKE_MIN_FS_HZ or signal_mv.shape[0] <= _SLOPE_BLOCK_S * fs_hz:
        return signal_mv, none
    score, smooth = _spike_score(signal_mv, fs_hz)
    labels, spikes = _multi_lead_events(score > _SPIKE_SLOPE_RATIO, score, fs_hz, leads)
    if spikes.size < _SPIKE_MIN_EVENTS:
        return signal_mv, none
    events = ndimage.binary_dilation(labels > 0, iterations=_median_size(fs_hz))
    cleaned = np.where(events[:, None] & np.isfinite(signal_mv), smooth, signal_mv)
    return cleaned, spikes


def pacing_steps(signal_mv: np.ndarray, fs_hz: float, leads: Sequence[str]) -> np.ndarray:
    """Find one-sample steps in several independent leads at once: candidate stored pacing stimuli.

    A step is a jump between two samples of at least half the lead's steepest QRS step per
    sample and at least 4 of the lead's quantization steps (its smallest non-zero jump), with the
    trace flat (every step < 1/4 of the jump) over the 6 ms before it, and not
    continued on the next sample (a QRS upstroke is); seen within ±2 ms in >= 3 independent leads
    (limb leads count as 2), more than 20 ms from a NaN gap or the record's ends. Recorders also
    leave such steps where they join segments: pass the result to :func:`locked_steps`.

    Parameters
    ----------
    signal_mv : (n_samples, n_leads) array
        Raw voltages in mV, NaN allowed.
    fs_hz : float
        Sampling rate in Hz (no detection below 250 Hz).
    leads : sequence of str
        Lead names of the columns.

    Returns
    -------
    (n_steps,) int array
        Sample index of the first sample after each step, ascending; empty when none.
    """
    if fs_hz < SPIKE_MIN_FS_HZ or signal_mv.shape[0] <= _SLOPE_BLOCK_S * fs_hz:
        return np.zeros(0, dtype=int)
    jump = np.diff(signal_mv, axis=0)
    height = np.abs(jump)  # NaN next to a gap: every comparison below is then False
    flat = max(1, round(_STEP_FLAT_S * fs_hz))
    before = np.full(height.shape, np.inf)
    before[flat:] = sliding_window_view(height, flat, axis=0)[:-1].max(axis=-1)
    after = np.zeros(height.shape)
    after[:-1] = np.where(np.sign(jump[1:]) == np.sign(jump[:-1]), height[1:], 0.0)
    score = height / _smooth_and_slope(signal_mv, fs_hz)[1]
    quantum = np.nanmin(np.where(height > 0, height, np.inf), axis=0)  # inf for a flat lead
    inner = run_interior(np.isfinite(signal_mv), int(_SPIKE_EDGE_S * fs_hz), trim_record_ends=True)
    found = (inner[1:] & inner[:-1] & (score >= _STEP_SLOPE_RATIO) & (height >= _STEP_MIN_QUANTA * quantum)
             & (np.maximum(before, after) <= _STEP_FLAT_RATIO * height))
    return _multi_lead_events(found, np.where(found, score, 0.0), fs_hz, leads)[1] + 1


def locked_steps(step_samples: np.ndarray, r_samples: np.ndarray, fs_hz: float) -> np.ndarray:
    """Keep the steps that one fixed delay links to the QRS complexes: pacing stimuli.

    A step is kept when it lies within ±6 ms of a delay (0-350 ms before the beats' fiducials) at
    which >= 80 % of the beats (and >= 3) have a step. A paced QRS follows its stimulus at a delay
    set by the pacemaker (an atrial and a ventricular stimulus each have theirs); a segment-join
    step falls anywhere in the cycle. A kept step within 40 ms after another is dropped: it is
    the trailing edge of a stored box, not a stimulus.

    Parameters
    ----------
    step_samples : (n_steps,) int array
        From :func:`pacing_steps`.
    r_samples : (n_beats,) int array
        QRS fiducials (sample index) of the dominant beats, aligned by template (the same point
        of every QRS).
    fs_hz : float
        Sampling rate in Hz.

    Returns
    -------
    (n_locked,) int array
        The stimuli (locked steps, ascending); empty when no delay links 80 % of the beats to a step.
    """
    step_samples, r_samples = np.asarray(step_samples, dtype=int), np.asarray(r_samples, dtype=int)
    if min(step_samples.size, r_samples.size) < _STEP_MIN_LOCKED:
        return np.zeros(0, dtype=int)
    n_lags = int(_ATRIAL_MAX_LAG_S * fs_hz) + 1
    window = 2 * round(_STEP_LOCK_S * fs_hz) + 1
    lag = r_samples[:, None] - step_samples[None, :]  # (n_beats, n_steps) samples
    beat, step = np.nonzero((lag > 0) & (lag < n_lags))
    seen = np.zeros((r_samples.size, n_lags), dtype=np.int8)  # beat b has a step d samples before it
    seen[beat, lag[beat, step]] = 1
    beats_at = ndimage.maximum_filter1d(seen, window, axis=1).sum(axis=0)  # per delay: beats with a step near it
    locked = beats_at >= max(_STEP_MIN_LOCKED, _STEP_LOCKED_FRACTION * r_samples.size)
    near_locked = ndimage.maximum_filter1d(locked.astype(np.int8), window) > 0
    kept = np.unique(step_samples[step[near_locked[lag[beat, step]]]])
    return kept[np.diff(kept, prepend=-fs_hz) > _STEP_BOX_S * fs_hz]  # the first always counts


@dataclass(frozen=True)
class PacedBeats:
    """Which beats a pacing spike started.

    Attributes
    ----------
    ventricular, atrial : (n_beats,) bool arrays
        A spike 50 ms after to 60 ms before the beat's QRS onset (ventricular), or 60-350 ms before
        it (atrial: the P wave follows the spike).
    """

    ventricular: np.ndarray
    atrial: np.ndarray


def paced_beats(spike_samples: np.ndarray, qrs_on_samples: np.ndarray, fs_hz: float) -> PacedBeats:
    """Classify beats as ventricular- or atrial-paced from the spike times.

    Parameters
    ----------
    spike_samples : (n_spikes,) int array
        Spike events from :func:`remove_pacing_spikes`.
    qrs_on_samples : (n_beats,) array
        QRS onset of every beat (sample index, fractional allowed).
    fs_hz : float
        Sampling rate in Hz.
    """
    lag_s = (np.asarray(qrs_on_samples, float)[:, None] - np.asarray(spike_samples, float)[None, :]) / fs_hz
    ventricular = ((lag_s >= _VENTRICULAR_LAG_S[0]) & (lag_s <= _VENTRICULAR_LAG_S[1])).any(axis=1)
    atrial = ((lag_s > _VENTRICULAR_LAG_S[1]) & (lag_s <= _ATRIAL_MAX_LAG_S)).any(axis=1)
    return PacedBeats(ventricular=ventricular, atrial=atrial)


# Records sampled slower are measured at this rate. Boundaries found on 10-ms (100 Hz) or 4-ms
# (250 Hz) samples sit up to a sample outside the wave, and slopes taken over so few samples are
# coarse: LUDB's even half decimated to 100 Hz read QRS +18 ± 14 ms against itself at 500 Hz and
# called ivcd on 33 records instead of 17; resampled back to 500 Hz first, +3 ± 13 and 21.
MEASURING_FS_HZ = 500.0


def upsample(signal_mv: np.ndarray, fs_hz: float, target_hz: float = MEASURING_FS_HZ) -> tuple[np.ndarray, float]:
    """Every lead's finite runs resampled (polyphase, zero-phase anti-imaging) to about ``target_hz``.

    Returns the resampled (n_new, n_leads) signal in mV, NaN where the input was NaN (and after each
    run's last sample), and its exact rate (``fs_hz`` x p/q); the input unchanged when ``fs_hz`` >=
    ``target_hz``. Sample i of the input is sample i x p/q of the output (rounded for a run that
    starts off the new grid).
    """
    if fs_hz >= target_hz:
        return signal_mv, fs_hz
    ratio = Fraction(target_hz / fs_hz).limit_denominator(100)
    up, down = ratio.numerator, ratio.denominator
    n_new = -(-signal_mv.shape[0] * up // down)
    out = np.full((n_new, signal_mv.shape[1]), np.nan)
    for lead in range(signal_mv.shape[1]):
        for start, stop in finite_runs(signal_mv[:, lead]):
            # Only the span between the run's first and last samples: beyond it is extrapolation.
            run = signal.resample_poly(signal_mv[start:stop, lead], up, down, padtype="mean")
            run = run[:(stop - 1 - start) * up // down + 1]
            first = round(start * up / down)
            out[first:first + run.size, lead] = run[:n_new - first]
    return out, fs_hz * up / down


# Mains interference: a spectral line at 50 or 60 Hz standing this far above the spectrum 3-10 Hz
# either side of it. Clean records stay below it (LUDB <= 18.6, simulated without mains <= 10);
# 0.02 mV of 50 Hz on a simulated record gives 23-880. A 150-Hz low-pass keeps the line, whose
# 0.1 mV read as a 450-ms QRS before it was notched.
_MAINS_HZ = (50.0, 60.0)
_MAINS_LINE_RATIO = 20.0
_MAINS_SIDE_HZ = (3.0, 10.0)
_MAINS_Q = 30.0  # notch quality: -3 dB width f0/Q (1.7 Hz at 50 Hz)


def mains_frequency(signal_mv: np.ndarray, fs_hz: float) -> float | None:
    """50 or 60 (Hz) when any lead shows a mains line there, else None.

    A line is a Welch power at f0 (1-Hz bins) at least ``_MAINS_LINE_RATIO`` times the median
    power 3-10 Hz either side, in the lead's longest finite run (>= 1 s). Frequencies above
    0.4 ``fs_hz`` are not examined (a 100-Hz record has been filtered or aliased already).
    """
    best, best_ratio = None, _MAINS_LINE_RATIO
    for lead in range(signal_mv.shape[1]):
        runs = [(a, b) for a, b in finite_runs(signal_mv[:, lead]) if b - a >= fs_hz]
        if not runs:
            continue
        a, b = max(runs, key=lambda run: run[1] - run[0])
        freqs, power = signal.welch(signal_mv[a:b, lead] - np.median(signal_mv[a:b, lead]), fs=fs_hz,
                                    nperseg=int(fs_hz))
        for f0 in _MAINS_HZ:
            if f0 > 0.4 * fs_hz:
                continue
            i = int(np.argmin(np.abs(freqs - f0)))
            side = (np.abs(freqs - f0) >= _MAINS_SIDE_HZ[0]) & (np.abs(freqs - f0) <= _MAINS_SIDE_HZ[1])
            floor = float(np.median(power[side]))
            ratio = float(power[max(0, i - 1):i + 2].max()) / floor if floor > 0 else 0.0
            if ratio >= best_ratio:
                best, best_ratio = f0, ratio
    return best


def _notches(mains_hz: float, top_hz: float, fs_hz: float) -> np.ndarray:
    """Second-order sections notching ``mains_hz`` (always: a low-pass corner below it leaves
    much of the line) and its harmonics up to ``top_hz`` and under 0.45 ``fs_hz``."""
    harmonics = [1] + [k for k in range(2, int(top_hz // mains_hz) + 1) if k * mains_hz < 0.45 * fs_hz]
    return np.concatenate([signal.tf2sos(*signal.iirnotch(k * mains_hz, _MAINS_Q, fs=fs_hz)) for k in harmonics])


def filter_leads(signal_mv: np.ndarray, fs_hz: float, lowpass_hz: float, config: MeasureConfig,
                 mains_hz: float | None = None) -> np.ndarray:
    """Zero-phase band-pass (``config.highpass_hz`` to ``lowpass_hz``) of every lead, with notches at
    ``mains_hz`` and its harmonics below the low-pass corner when given (:func:`mains_frequency`).

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
                          signal.butter(4, lowpass, "lowpass", fs=fs_hz, output="sos")]
                         + ([] if mains_hz is None else [_notches(mains_hz, lowpass, fs_hz)]))
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
