"""Global fiducial points on the median beats: P, QRS and T onsets and offsets.

Every lead's median beat is delineated on its own; the global point follows the AHA/ACC/HRS
definition (earliest onset, latest offset over the leads) after rejecting lead values far from
the leads' median: the QRS onset/offset are the earliest/latest remaining lead values, P and T
the ``lead_rank_onset``/``lead_rank_offset``-th (the extreme when fewer than three leads show
the wave), where a lead whose median beat holds few beats (a short lead of a 3x4 page) counts
as a fraction of a lead. In atrial flutter the QRS onset/offset come from the largest group of
leads that agree within 4 ms. Every boundary is the knee where a wave meets the baseline, found by the trapezium-area
method (Vázquez-Seisdedos et al. 2011), which is far less sensitive to noise than a tangent or
a slope threshold; a QRS onset is sought again before a q wave that stopped the first search, a
QRS offset past the slow return of an S wave that stopped it, short of a sloping ST segment, and
back at the J point where a deviated ST segment is still settling.
``p_timing_doubt`` says when a P wave, though found, cannot be timed (P duration and PR withheld).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from tools.measure.config import MeasureConfig
from tools.measure.median_beat import FULL_MEDIAN_BEATS, MedianBeats
from tools.measure.nanstats import nanmean

__all__ = ["P_GAP_BEFORE_QRS_S", "Delineation", "delineate", "p_timing_doubt", "p_wave_onset"]

_QRS_CORE_S = (-0.06, 0.06)     # the steepest point of the QRS lies here around the fiducial
_CORE_FRACTION = 0.15           # the QRS core: summed slope above this fraction of its peak
_CORE_SMOOTH_S = 0.04           # bridges the notches of a wide QRS
_QRS_LIMIT_S = (-0.20, 0.25)    # onsets/offsets are never searched beyond this
_QRS_MIN_SLOPE_FRACTION = 0.1   # leads with a max QRS slope below this fraction of the largest are ignored
_T_START_AFTER_QRS_S = 0.06
# The T end is sought up to 150 ms past the steepest point of the T downslope (whose descent lasts
# ~40-100 ms): at 200 ms the trapezium's far point could lie on a slow drift into the next P wave
# and pull the knee onto it (PTB s0010: inverted inferior T waves running into upright P waves,
# QT 568 -> 461 ms; LUDB even QT -10.1 +- 16.7 -> -11.0 +- 16.3 ms, P and PR unchanged).
_T_KNEE_SPAN_S = 0.15
_T_STEEPEST_WITHIN_S = 0.12     # the steepest T downslope follows the T peak within this
_T_PEAK_NEAR_S = 0.08           # a lead's T peak lies within this of the multi-lead T peak
_T_PEAK_MAX_S = 0.45            # after QRS onset; a T peak later than this would mean QT > 600 ms
_P_KNEE_SPAN_S = 0.10
# A notched (bifid) P wave: a first hump rising >= half the P amplitude above the level where the
# onset search from the second stopped, within 60 % of the knee span (60 ms) before it, is part of
# the P wave (LUDB even 78: P -12 -> -4 ms; no other even record or simulated record changed; at
# 30 % two even records improved and one, 138, read a T-P merge as a hump: +16 ms).
_P_HUMP_FRACTION = 0.5
_P_NOTCH_SPAN_FRACTION = 0.6
P_GAP_BEFORE_QRS_S = 0.02
# Lead P offsets spread more than onsets: the left atrium, last to depolarise, ends the P wave in
# I, aVL and aVR up to 40 ms after the inferior leads (LUDB 106), which the plain consensus rejected.
_P_OFFSET_TOLERANCE_FACTOR = 1.5
# Atrial depolarisation takes 60-120 ms in adults (> 50 ms in children): a "P wave" under half of
# that is a notch or an artefact before the QRS (LUDB 43: a 10-ms spike before every QRS read as a 34-ms P).
_MIN_P_DURATION_S = 0.04
# An ST segment sloping at this fraction of the lead's QRS maximum slope or more (wide paced QRS,
# whose maximum slope is low) is steeper than the flat-slope limit itself: the offset is then where
# the slope falls to the ST segment's own slope plus that limit, measured over this window after the knee.
_SLOPING_ST_FRACTION = 0.03
_ST_WINDOW_S = (0.01, 0.05)
# A QRS offset left this fraction of the QRS peak-to-peak away from the onset level, with the trace
# coming back by this fraction within this time, is an S trough or R' peak, not the QRS end: the end
# is sought again from the steepest point of the return (within this), and no later than where the
# trace is back within this fraction of the onset level.
_TERMINAL_DEVIATION_FRACTION = 0.1
_TERMINAL_RETURN_FRACTION = 0.05
_TERMINAL_RETURN_S = 0.02
_TERMINAL_SEARCH_S = 0.04
_TERMINAL_LEVEL_FRACTION = 0.1
# An ST segment deviated at the J point by >= 60 % of the level it settles on, >= 0.05 mV (the
# smallest ST deviation guidelines count), and still moving away from the baseline: the knee lands
# where it settles, 8-12 ms past the J point (simulated inferior STEMI, whose injury current ramps
# on until 15 ms after the J point: global offset +14.5 -> +3 ms). A trace still far from its ST
# level at the bend is a QRS still returning (LUDB even: with no such limits the J point moved 24
# lead offsets 9 ms before the cardiologists'; with them, 3 leads by 7 ms, no global offset).
_ST_DEVIATION_MV = 0.05
_ST_AT_J_FRACTION = 0.6
_J_BEND_GAP_S = 0.004           # the J point is sought at least this far before the knee
_ST_RETREAT_FRACTION = 0.01     # a settling ST never moves back by more than this fraction of the QRS peak-to-peak
_J_SHOWN_LEADS = 2              # leads that must show the J point before it ends the QRS in the others
_FLAT_SLOPE_FRACTION = 0.05     # slope below this fraction of the QRS upstroke: the PR segment
_FLAT_MARGIN_S = 0.02
_REVERSAL_FRACTION = 0.1        # a slope reversal beyond noise: the next wave has begun
_SMOOTH_S = 0.016               # smoothing of the slope used to find turning points
_BEND_INWARD_S = 0.010          # on a low-passed lead the QRS corner lies up to this far inside the knee ...
_BEND_OUTWARD_S = 0.002         # ... or this far outside it
_MAJOR_WAVE_FRACTION = 0.3      # P/T ends are read only in leads showing at least this fraction of the largest wave ...
_P_REFERENCE_RANK = 3           # ... for P waves, of the third largest (one or two inflated leads silence no other)
_BASELINE_S = (-0.03, -0.01)    # PR-segment window before QRS onset: the isoelectric level
_Q_WAVE_SLOPE_FRACTION = 0.2    # a reversal this steep (of the lead's QRS maximum) before the onset is a q wave, not a P wave
_Q_WAVE_SEARCH_S = 0.03         # ... sought this far before the onset first found
_MIN_LEADS_TO_RANK = 3          # dropping an outlying lead (rank 2) needs at least this many leads showing the wave
_CORROBORATING_LEADS = 2        # in flutter, the QRS onset/offset is set by the largest group of more than this many leads ...
_CORROBORATION_S = 0.004        # ... that agree within this (the true point is shared by most leads to ~2 samples)

FIDUCIALS = ("p_on", "p_off", "qrs_on", "qrs_off", "t_peak", "t_off")


@dataclass(frozen=True)
class Delineation:
    """Fiducials of the median beat, in s relative to the QRS fiducial.

    Attributes
    ----------
    global_s : dict
        ``p_on``, ``p_off``, ``qrs_on``, ``qrs_off``, ``t_peak``, ``t_off``: float or None.
    lead_s : dict
        The same keys, each an (n_leads,) array of per-lead points (NaN where not found).
    baseline_mv : (n_leads,) array
        Isoelectric level of each lead's median beat (PR segment), mV.
    reasons : dict
        Why a global point is None, keyed like ``global_s``.
    p_doubt : str or None
        Why the global P onset and offset, though found, do not time the P wave (see
        :func:`p_timing_doubt`); None when nothing speaks against them.
    p_on_t_end : bool
        The P onset lies at the start of its search window, which the T end (one RR earlier) set:
        the next P wave begins before the T end found, which may be that P wave's.
    """

    global_s: dict[str, float | None]
    lead_s: dict[str, np.ndarray]
    baseline_mv: np.ndarray
    reasons: dict[str, str] = field(default_factory=dict)
    p_doubt: str | None = None
    p_on_t_end: bool = False

    def with_points(self, reason: str | None = None, **points: float | None) -> Delineation:
        """This delineation with the global ``points`` (s) replaced; ``reason`` is recorded for each
        one set to None (no reason: the caller's own, e.g. no P waves in AF)."""
        why = {} if reason is None else {name: reason for name, value in points.items() if value is None}
        return replace(self, global_s={**self.global_s, **points}, reasons={**self.reasons, **why})


def _crossing(values: np.ndarray, start: int, stop: int, level: float) -> float | None:
    """Fractional index where ``values`` first drops below ``level`` walking from start to stop."""
    step = 1 if stop > start else -1
    for i in range(start, stop, step):
        if values[i] < level:
            prev = values[i - step]
            frac = (prev - level) / (prev - values[i]) if prev != values[i] else 0.0
            return i - step + step * frac
    return None


def _qrs_core(beat: np.ndarray, fid: int, fs_hz: float) -> slice:
    """Samples of the QRS complex proper: the contiguous span around the fiducial where the
    summed slope of all leads stays above ``_CORE_FRACTION`` of its peak (no P or T wave is
    that steep), limited to ``_QRS_LIMIT_S``; wide complexes get a wide core."""
    slope = np.nansum(np.abs(np.gradient(beat, axis=0)), axis=1)
    env = ndimage.uniform_filter1d(slope, max(1, int(_CORE_SMOOTH_S * fs_hz)))
    lo, hi = max(0, fid + int(_QRS_LIMIT_S[0] * fs_hz)), min(len(env) - 1, fid + int(_QRS_LIMIT_S[1] * fs_hz))
    centre = fid + int(_QRS_CORE_S[0] * fs_hz) + int(np.argmax(env[fid + int(_QRS_CORE_S[0] * fs_hz):fid + int(_QRS_CORE_S[1] * fs_hz) + 1]))
    level = _CORE_FRACTION * env[centre]
    start, stop = centre, centre
    while start > lo and env[start - 1] >= level:
        start -= 1
    while stop < hi and env[stop + 1] >= level:
        stop += 1
    return slice(start, stop + 1)


def _qrs_lead(y: np.ndarray, core: slice, fid: int, fs_hz: float, config: MeasureConfig,
              lowpassed: bool = False) -> tuple[float, float, float, float]:
    """(onset index, offset index, max slope, knee index) of one lead's QRS; NaN when not found.

    The steep part is where the lead's slope inside the QRS ``core`` exceeds
    ``qrs_steep_fraction`` of its maximum; from its first and last samples the trapezium knee is
    sought over ``qrs_onset_span_s`` back and ``qrs_offset_span_s`` forward. The onset is sought
    again before a q wave (:func:`_before_q_wave`), the offset past a slow return from an S trough
    or R' peak (:func:`_after_terminal_return`) and short of a sloping ST segment (:func:`_qrs_end`),
    and it is moved back to the J point when the ST segment is still settling on a deviated level
    (:func:`_at_j_point`); the knee is the offset before that move. On a ``lowpassed`` lead the
    onset and the offset are then moved to where the trace bends (:func:`_bend`).
    """
    lo, hi = max(1, fid + int(_QRS_LIMIT_S[0] * fs_hz)), min(len(y) - 2, fid + int(_QRS_LIMIT_S[1] * fs_hz))
    if not np.isfinite(y[lo:hi + 1]).all():
        return np.nan, np.nan, np.nan, np.nan
    slope = np.abs(np.gradient(y)) * fs_hz
    seg = slope[core]
    peak = float(seg.max())
    steep = np.flatnonzero(seg >= config.qrs_steep_fraction * peak) + core.start
    first, last = int(steep[0]), int(steep[-1])
    smooth = int(_SMOOTH_S * fs_hz)
    onset = _knee(y, first, max(lo, first - int(config.qrs_onset_span_s * fs_hz)), smooth, int(_FLAT_MARGIN_S * fs_hz))
    onset = _before_q_wave(y, onset, first, lo, peak, fs_hz, config)
    offset = _after_terminal_return(y, slope, onset, _qrs_end(y, slope, last, hi, peak, fs_hz, config), hi, peak,
                                    fs_hz, config)
    end = _at_j_point(y, slope, onset, last, offset, hi, fs_hz)
    if lowpassed:
        onset, end = _bend(y, onset, first, lo, hi, fs_hz), _bend(y, end, last, lo, hi, fs_hz)
    return onset, end, peak, offset


def _bend(y: np.ndarray, point: float, inner: int, lo: int, hi: int, fs_hz: float) -> float:
    """Where a low-passed trace bends into (or out of) the QRS near the knee ``point``: the peak of
    its curvature towards the wave (``inner``: a sample in the steep part), sought from
    ``_BEND_OUTWARD_S`` outside ``point`` to ``_BEND_INWARD_S`` inside, within [lo, hi].

    A low-pass rounds the QRS corners symmetrically, and the trapezium knee of a rounded corner lands
    outside it: with every lead of the clean simulated records low-passed at 40 Hz the QRS read
    +15.7 ms against +6.1 unfiltered. The curvature peak stays on the corner (+9.2 ms).
    """
    if not np.isfinite(point):
        return point
    k = int(round(point))
    toward = np.sign(y[inner] - y[k])
    if toward == 0:
        return point
    outward, inward = int(_BEND_OUTWARD_S * fs_hz), int(_BEND_INWARD_S * fs_hz)
    if inner > k:  # an onset: the bend lies towards the later samples
        a, b = max(lo, k - outward), min(inner, k + inward)
    else:
        a, b = max(inner, k - inward), min(hi, k + outward)
    if b - a < 2:
        return point
    first, last = max(lo, a - 2), min(hi, b + 2)
    curvature = np.gradient(np.gradient(y[first:last + 1]))[a - first:b - first + 1] * toward
    return float(a + int(np.argmax(curvature)))


def _qrs_end(y: np.ndarray, slope: np.ndarray, start: int, hi: int, peak: float, fs_hz: float,
             config: MeasureConfig) -> float:
    """Offset index of a QRS whose steep part (or terminal return) ends at ``start``: the trapezium
    knee over ``qrs_offset_span_s``, no later than where ``slope`` (|dy/dt|, max ``peak`` in the
    QRS) falls to ``qrs_offset_slope_fraction`` of ``peak`` above a sloping ST segment's own slope."""
    # Notched QRS complexes (bundle-branch blocks) reverse their slope before they end.
    offset = _knee(y, start, min(hi, start + int(config.qrs_offset_span_s * fs_hz)), int(_SMOOTH_S * fs_hz),
                   stop_at_reversal=False)
    # Where the ST segment runs straight into a T upstroke (fast rates) the knee slides into the
    # T wave; the point where the slope has fallen to a small fraction of the QRS slope does not.
    st = _st_slope(slope, offset, hi, peak, fs_hz)
    flat = _crossing(slope, start, hi, st + config.qrs_offset_slope_fraction * peak)
    return offset if flat is None else min(offset, flat)


def _after_terminal_return(y: np.ndarray, slope: np.ndarray, onset: float, offset: float, hi: int, peak: float,
                           fs_hz: float, config: MeasureConfig) -> float:
    """The QRS offset moved past a slow terminal return to the baseline, or ``offset`` unchanged.

    The slope vanishes at every extremum, so an S trough or a terminal R' peak followed by a slow
    return (wide or slurred S waves) stops the offset search there, far from the baseline. When
    the trace at ``offset`` lies more than ``_TERMINAL_DEVIATION_FRACTION`` of the QRS
    peak-to-peak away from its level at ``onset`` and comes back by more than
    ``_TERMINAL_RETURN_FRACTION`` of it within ``_TERMINAL_RETURN_S``, the end is sought again
    from the steepest point of that return, and no later than where the trace is back within
    ``_TERMINAL_LEVEL_FRACTION`` of the onset level (an ST segment rising into the T wave goes on).
    """
    i_on, i_off, ret = int(round(onset)), int(round(offset)), int(_TERMINAL_RETURN_S * fs_hz)
    if i_off + ret > hi or i_off <= i_on:
        return offset
    ptp, dev = float(np.ptp(y[i_on:i_off + 1])), float(y[i_off] - y[i_on])
    if ptp <= 0 or abs(dev) <= _TERMINAL_DEVIATION_FRACTION * ptp \
            or -np.sign(dev) * (y[i_off + ret] - y[i_off]) <= _TERMINAL_RETURN_FRACTION * ptp:
        return offset
    window = slice(i_off, min(hi, i_off + int(_TERMINAL_SEARCH_S * fs_hz)) + 1)
    steepest = i_off + int(np.argmax(-np.sign(dev) * np.gradient(y)[window]))
    end = _qrs_end(y, slope, steepest, hi, peak, fs_hz, config)
    back = np.flatnonzero(np.sign(dev) * (y[i_off:int(end) + 1] - y[i_on]) <= _TERMINAL_LEVEL_FRACTION * ptp)
    if back.size:
        end = min(end, float(i_off + back[0]))
    return max(offset, end)


def _at_j_point(y: np.ndarray, slope: np.ndarray, onset: float, last: int, offset: float, hi: int,
                fs_hz: float) -> float:
    """The QRS offset moved back to the J point of a deviated ST segment, or ``offset`` unchanged.

    An ST segment deviated at the J point may keep moving away from the baseline, more slowly, as
    it settles on its level; the knee ``offset`` then marks where it settles, not where the QRS
    ends. The J point is where the steep QRS gives way to that slower movement: the sharpest bend
    of the slope ``slope`` (|dy/dt|; largest second difference) between the steepest point of the
    terminal QRS deflection (the slope peak at or before ``last``, the last steep sample) and
    ``_J_BEND_GAP_S`` before the knee (the knee is a bend too). It is taken when the trace from
    there to the knee is an ST segment settling (:func:`_st_settling`) whose deviation (from the
    level at ``onset``) the J point already shows for ``_ST_AT_J_FRACTION`` or more.
    """
    i_on, i_off = int(round(onset)), int(round(offset))
    top = last
    while top > i_on + 1 and slope[top - 1] >= slope[top]:
        top -= 1
    bends = np.arange(top + 1, i_off - int(_J_BEND_GAP_S * fs_hz))
    if bends.size == 0:
        return offset
    j = int(bends[np.argmax(slope[bends + 1] - 2.0 * slope[bends] + slope[bends - 1])])
    st_mv, j_mv = abs(y[i_off] - y[i_on]), np.sign(y[i_off] - y[i_on]) * (y[j] - y[i_on])
    if j_mv >= _ST_AT_J_FRACTION * st_mv and _st_settling(y, onset, j, offset, hi, fs_hz):
        return float(j)
    return offset


def _st_settling(y: np.ndarray, onset: float, j: int, offset: float, hi: int, fs_hz: float) -> bool:
    """Whether the trace from index ``j`` to the knee ``offset`` is an ST segment settling on a
    deviated level: from the far side of the level at ``onset`` it moves away from it (coming back
    by ``_ST_RETREAT_FRACTION`` of the QRS peak-to-peak at most), ends at least ``_ST_DEVIATION_MV``
    from it and holds for ``_TERMINAL_RETURN_S`` after the knee (a trace that comes back is a
    terminal QRS wave: :func:`_after_terminal_return`)."""
    i_on, i_off = int(round(onset)), int(round(offset))
    ret = i_off + int(_TERMINAL_RETURN_S * fs_hz)
    if not i_on < j < i_off or ret > hi:
        return False
    level, direction, ptp = y[i_on], np.sign(y[i_off] - y[i_on]), float(np.ptp(y[i_on:i_off + 1]))
    away = direction * y[j:i_off + 1]
    return bool(abs(y[i_off] - level) >= _ST_DEVIATION_MV and direction * (y[j] - level) > 0
                and (np.maximum.accumulate(away) - away).max() <= _ST_RETREAT_FRACTION * ptp
                and direction * (y[ret] - y[i_off]) >= -_TERMINAL_RETURN_FRACTION * ptp)


def _shared_j_point(beat: np.ndarray, qrs: np.ndarray, fid: int, fs_hz: float) -> np.ndarray:
    """(n_leads,) QRS offsets, with the J point that several leads show under a settling ST
    deviation applied to the leads where the QRS blends into that settling.

    An injury current is one dipole: its ST deviation settles at once in every lead. Where the
    end of the QRS and the settling run at similar slopes no bend marks the J point, and the knee
    lands where the ST settles (simulated STEMI, lead I or aVL: 12 ms late, setting the global
    offset). When at least ``_J_SHOWN_LEADS`` leads show their J point (:func:`_at_j_point`), the
    latest of them ends the QRS in every other lead whose trace from there to its knee is an ST
    segment settling (:func:`_st_settling`).

    Parameters
    ----------
    beat : (n_window, n_leads) array
        Median beats, mV.
    qrs : (n_leads, 4) array
        :func:`_qrs_lead` per lead: onset, offset, max slope, knee (sample indices; NaN when not found).
    fid : int
        Index of the QRS fiducial.
    fs_hz : float
    """
    onset, offset, knee = qrs[:, 0], qrs[:, 1], qrs[:, 3]
    shown = np.isfinite(offset) & (offset < knee)
    if shown.sum() < _J_SHOWN_LEADS:
        return offset
    j = float(offset[shown].max())
    hi = min(len(beat) - 2, fid + int(_QRS_LIMIT_S[1] * fs_hz))
    out = offset.copy()
    for k in np.flatnonzero(np.isfinite(offset) & ~shown & (offset > j)):
        if _st_settling(beat[:, k], onset[k], int(np.ceil(j)), offset[k], hi, fs_hz):
            out[k] = j
    return out


def _st_slope(slope: np.ndarray, offset: float, hi: int, peak: float, fs_hz: float) -> float:
    """|slope| of a sloping ST segment after the QRS offset knee ``offset`` (median over
    ``_ST_WINDOW_S``), in the units of ``slope``; 0 for a level ST segment (below
    ``_SLOPING_ST_FRACTION`` of the QRS maximum ``peak``) or when the window passes ``hi``.

    A knee sought over a segment that keeps sloping lands in it: the upsloping or downsloping ST
    of a wide paced QRS pulled the offset 15-25 ms late (LUDB 74, 90).
    """
    start, stop = int(offset) + int(_ST_WINDOW_S[0] * fs_hz), min(hi, int(offset) + int(_ST_WINDOW_S[1] * fs_hz))
    if start >= stop:
        return 0.0
    st = float(np.median(slope[start:stop + 1]))
    return st if st >= _SLOPING_ST_FRACTION * peak else 0.0


def _before_q_wave(y: np.ndarray, onset: float, first: int, lo: int, peak: float, fs_hz: float,
                   config: MeasureConfig) -> float:
    """The QRS onset moved back before a small q wave, or ``onset`` unchanged.

    A q wave whose slope stays below ``qrs_steep_fraction`` of the lead's maximum runs against the
    steep upstroke that follows it, so the knee search from that upstroke stops at the q trough.
    When the trace falls (or rises) against the upstroke within ``_Q_WAVE_SEARCH_S`` before the
    onset at least ``_Q_WAVE_SLOPE_FRACTION`` of the maximum slope (P waves are 5-10x flatter),
    the knee is sought again from that steepest point of the q wave.
    """
    start = max(lo, int(onset) - int(_Q_WAVE_SEARCH_S * fs_hz))
    if int(onset) <= start:
        return onset
    # The slope that leads into the onset, not the one leaving it (at 100 Hz one sample is 10 ms).
    against = -np.gradient(y)[start:int(onset)] * fs_hz * np.sign(y[first + 1] - y[first - 1])
    j = int(np.argmax(against))
    if against[j] < _Q_WAVE_SLOPE_FRACTION * peak:
        return onset
    tm = start + j
    return _knee(y, tm, max(lo, tm - int(config.qrs_onset_span_s * fs_hz)), int(_SMOOTH_S * fs_hz),
                 int(_FLAT_MARGIN_S * fs_hz))


def _knee(y: np.ndarray, tm: int, tr: int, smooth: int, flat_margin: int | None = None,
          stop_at_reversal: bool = True) -> float:
    """Trapezium-area knee between the steepest point ``tm`` and a point ``tr`` past the wave's end.

    With ``stop_at_reversal`` the search stops where the signal turns back (its smoothed slope
    reverses by more than ``_REVERSAL_FRACTION`` of the slope at ``tm``): that is the next wave,
    which would otherwise pull the knee into it. With ``flat_margin`` (samples) it also stops
    that far past the point where the slope first flattens.
    """
    if abs(tr - tm) < 2:
        return float(tm)
    step = 1 if tr > tm else -1
    # Turning points are judged on a smoothed slope so that noise does not stop the search.
    smoothed = ndimage.uniform_filter1d(y[min(tm, tr):max(tm, tr) + 1], max(1, smooth), mode="nearest")
    slope = np.gradient(smoothed)
    if step < 0:
        slope = slope[::-1]
    reference = slope[0]
    if reference != 0 and stop_at_reversal:
        reversed_at = np.flatnonzero(slope * np.sign(reference) < -_REVERSAL_FRACTION * abs(reference))
        if reversed_at.size:
            tr = tm + step * int(reversed_at[0])
        if flat_margin is not None:
            # Before a QRS the baseline is flat: the knee lies within a margin of where the slope
            # first falls to ~0, not at the start of a P wave further back.
            flat = np.flatnonzero(np.abs(slope) < _FLAT_SLOPE_FRACTION * abs(reference))
            if flat.size and flat[0] + flat_margin < abs(tr - tm):
                tr = tm + step * int(flat[0] + flat_margin)
    idx = np.arange(min(tm, tr), max(tm, tr) + 1)
    area = (y[tm] - y[idx]) * (np.abs(tr - idx) + abs(tr - tm))
    sign = 1.0 if (y[tm] - y[tr]) >= 0 else -1.0
    return float(idx[int(np.argmax(sign * area))])


def _wave_lead(y: np.ndarray, base: float, lo: int, hi: int, span: int, min_mv: float,
               want_onset: bool, smooth: int, peak_window: tuple[int, int] | None = None,
               steepest_within: int | None = None) -> tuple[float, float, float, float]:
    """(onset, peak, offset, amplitude_mv) of the largest deflection of ``y`` in [lo, hi).

    Indices are NaN (amplitude 0) when the deflection is below ``min_mv`` or sits on the window
    edge. For a P wave (``want_onset``) the deflection is measured from the straight line
    joining the window ends, so a sloping TP segment is not taken for a wave. ``peak_window``
    restricts where the peak may lie (the ends are still sought up to ``lo``/``hi``).
    """
    missing = (np.nan, np.nan, np.nan, 0.0)
    steepest_within = span if steepest_within is None else steepest_within
    if hi - lo < 5 or not np.isfinite(y[lo:hi]).all():
        return missing
    reference = np.linspace(y[lo], y[hi - 1], hi - lo) if want_onset else np.full(hi - lo, base)
    dev = y[lo:hi] - reference
    a, b = (0, hi - lo) if peak_window is None else (peak_window[0] - lo, peak_window[1] - lo)
    i = a + int(np.argmax(np.abs(dev[a:b])))
    peak, amplitude = lo + i, float(abs(dev[i]))
    if amplitude < min_mv or peak in (lo, hi - 1):
        return missing
    slope = np.gradient(y) * np.sign(dev[i])
    onset = np.nan
    if want_onset and peak - lo >= 2:
        onset = _onset_before(y, slope, lo, peak, span, smooth, steepest_within)
        hump = _first_hump(dev * np.sign(dev[i]), lo, onset, amplitude, span)
        if hump is not None:
            onset = _onset_before(y, slope, lo, hump, span, smooth, steepest_within)
    offset = np.nan
    if hi - peak >= 2:
        # The steepest descent follows the peak within one span (beyond it lies the next wave).
        tm = peak + int(np.argmin(slope[peak:min(hi, peak + steepest_within)]))
        offset = _knee(y, tm, min(hi - 1, tm + span), smooth)
    return onset, float(peak), offset, amplitude


def _onset_before(y: np.ndarray, slope: np.ndarray, lo: int, peak: int, span: int, smooth: int,
                  steepest_within: int) -> float:
    """Knee before the steepest rise (``slope``, signed towards the wave) within ``steepest_within``
    samples before ``peak``, sought over ``span`` samples back, not before ``lo``."""
    start = max(lo, peak - steepest_within)
    tm = start + int(np.argmax(slope[start:peak]))
    return _knee(y, tm, max(lo, tm - span), smooth)


def _first_hump(dev: np.ndarray, lo: int, onset: float, amplitude: float, span: int) -> int | None:
    """Index of an earlier hump of a notched (bifid) P wave, or None.

    ``dev`` is the deviation from the window's baseline line, signed towards the wave (indices
    from ``lo``). The onset search from the taller second hump stops at the notch between the two;
    when within ``_P_NOTCH_SPAN_FRACTION`` of ``span`` before ``onset`` the trace rises again by
    at least ``_P_HUMP_FRACTION`` of the wave's ``amplitude`` (mV) above its level at the onset,
    that hump belongs to the P wave and the onset lies before it.
    """
    if not np.isfinite(onset):
        return None
    i_on = int(onset) - lo
    start = max(0, i_on - int(_P_NOTCH_SPAN_FRACTION * span))
    if i_on - start < 3:
        return None
    j = start + int(np.argmax(dev[start:i_on]))
    return lo + j if dev[j] - dev[i_on] >= _P_HUMP_FRACTION * amplitude and j > start else None


def _drop_weak(points: dict[str, np.ndarray], names: tuple[str, ...], amplitude: np.ndarray,
               reference_rank: int = 1) -> None:
    """Forget the points of leads whose wave is under ``_MAJOR_WAVE_FRACTION`` of the
    ``reference_rank``-th largest (mV; 0 where a lead shows none): flat waves have no reliable end
    and, in numbers, outvote the leads that show the wave clearly."""
    ranked = np.sort(amplitude)[::-1]
    reference = ranked[min(reference_rank, ranked.size) - 1]
    if reference > 0:
        weak = amplitude < _MAJOR_WAVE_FRACTION * reference
        for name in names:
            points[name][weak] = np.nan


def _ranked(values: np.ndarray, rank: int, latest: bool, tolerance: float, weights: np.ndarray) -> float | None:
    """The ``rank``-th earliest (or latest) of the lead values within ``tolerance`` of their median,
    counting each lead with its ``weights`` entry (in (0, 1]) rather than as one.

    Leads far from the consensus are a wrong wave picked in that lead (a previous T wave taken
    for a P wave, a U wave for a T wave), not an earlier onset that the other leads missed.
    With fewer than ``_MIN_LEADS_TO_RANK`` leads (counted whole) the extreme is taken (``rank`` 1).
    """
    finite = np.isfinite(values) & (weights > 0)
    if not finite.any():
        return None
    v, w = values[finite], weights[finite]
    near = np.abs(v - np.median(v)) <= tolerance
    if not near.any():  # two leads that disagree: no consensus, take their middle
        return float(np.median(v))
    order = np.argsort(v[near])[::-1] if latest else np.argsort(v[near])
    if near.sum() < _MIN_LEADS_TO_RANK:  # too few leads to tell an outlier: rank 2 of 2 is the least extreme
        rank = 1
    reached = np.flatnonzero(np.cumsum(w[near][order]) >= rank - 1e-9)
    return float(v[near][order][reached[0] if reached.size else -1])


def _corroborated(values: np.ndarray, latest: bool, tolerance: float) -> float | None:
    """The earliest (or latest) lead value of the largest group of leads that agree within
    ``tolerance`` (samples); None when no group has more than ``_CORROBORATING_LEADS`` leads.

    Flutter waves leave no isoelectric baseline around the QRS and, locked to the QRS at a fixed
    conduction ratio, survive the median beat: in some leads the knee lands on a flutter wave,
    whereas the true onset (offset) of ventricular activity is one instant that most leads share.
    An F wave is one atrial event too, seen at once by the leads facing it (3-4 leads agreed on
    one 40 ms before the QRS of a simulated record), so the largest group wins, not the first.
    (Not used in fibrillation: its f waves are not locked to the QRS and largely cancel in the
    median, and on LUDB's AF records the real leads' onsets differ by more than 4 ms, so this
    rule shortened their QRS by 15-55 ms. The simulator, whose dipole starts at one instant in
    every lead, cannot show that: flutter has the same exposure, checked on one real record.)
    """
    v = values[np.isfinite(values)]
    if v.size == 0:
        return None
    support = (np.abs(v[:, None] - v[None, :]) <= tolerance).sum(axis=1)
    if support.max() <= _CORROBORATING_LEADS:
        return None
    centres = v[support == support.max()]
    centre = centres.max() if latest else centres.min()
    group = v[np.abs(v - centre) <= tolerance]
    return float(group.max() if latest else group.min())


def _lead_weights(n_beats: np.ndarray) -> np.ndarray:
    """(n_leads,) weight of each lead in the ranked global points: 1 from ``FULL_MEDIAN_BEATS`` beats on.

    The median of two or three beats (a short lead of a 3x4 page) keeps most of one beat's noise,
    so its onsets scatter: it must be corroborated by another lead before it sets the earliest
    onset or latest offset, else the extreme over 12 leads is the extreme of their noise.
    """
    return np.minimum(1.0, np.asarray(n_beats, dtype=float) / FULL_MEDIAN_BEATS)


def delineate(median: MedianBeats, rr_s: float | None, config: MeasureConfig,
              flutter_waves: bool = False, lowpassed: np.ndarray | None = None) -> Delineation:
    """Per-lead and global fiducials of the median beats.

    Parameters
    ----------
    median : MedianBeats
        Median beats (n_window, n_leads), mV.
    rr_s : float or None
        Median RR interval in s; bounds the T-wave search (None: 1 s is assumed).
    config : MeasureConfig
    flutter_waves : bool
        The rhythm is atrial flutter (no isoelectric baseline): the global QRS onset and offset
        are the earliest/latest lead values of the largest group of at least three leads that
        agree within 4 ms (the plain ranking when there is none).
    lowpassed : (n_leads,) bool array or None
        Leads whose median beat was low-passed against noise
        (:func:`tools.measure.median_beat.smooth_noisy_leads`): their QRS ends are read where the
        trace bends, not at the trapezium knee, which the low-pass moves outwards.

    Returns
    -------
    Delineation
        Global points are None (with a reason) when no lead supports them.
    """
    fs, fid, beat = median.fs_hz, median.fiducial_index, median.signal_mv
    n_leads = beat.shape[1]
    lead = {name: np.full(n_leads, np.nan) for name in FIDUCIALS}
    core = _qrs_core(beat, fid, fs)
    lowpassed = np.zeros(n_leads, dtype=bool) if lowpassed is None else lowpassed
    qrs = np.array([_qrs_lead(beat[:, k], core, fid, fs, config, bool(lowpassed[k])) for k in range(n_leads)])
    qrs[:, 1] = _shared_j_point(beat, qrs, fid, fs)
    strong = qrs[:, 2] >= _QRS_MIN_SLOPE_FRACTION * np.nanmax(qrs[:, 2]) if np.isfinite(qrs[:, 2]).any() else np.zeros(n_leads, bool)
    lead["qrs_on"][strong], lead["qrs_off"][strong] = qrs[strong, 0], qrs[strong, 1]
    glob: dict[str, float | None] = dict.fromkeys(FIDUCIALS)
    tol = config.lead_consensus_s * fs
    reasons: dict[str, str] = {}
    weights = _lead_weights(median.n_beats)
    glob["qrs_on"] = _ranked(lead["qrs_on"], config.qrs_rank_onset, False, tol, weights)
    glob["qrs_off"] = _ranked(lead["qrs_off"], config.qrs_rank_offset, True, config.qrs_offset_consensus_s * fs,
                              weights)
    if flutter_waves:
        for name, latest in (("qrs_on", False), ("qrs_off", True)):
            confirmed = _corroborated(lead[name], latest, _CORROBORATION_S * fs)
            glob[name] = glob[name] if confirmed is None else confirmed
    if glob["qrs_on"] is None or glob["qrs_off"] is None:
        reasons = {name: "no lead has a delineable QRS complex" for name in FIDUCIALS}
        return Delineation(_to_s(glob, fid, fs), _to_s_arrays(lead, fid, fs), np.full(n_leads, np.nan), reasons)
    on, off = glob["qrs_on"], glob["qrs_off"]
    b0, b1 = int(round(on + _BASELINE_S[0] * fs)), int(round(on + _BASELINE_S[1] * fs)) + 1
    # leads masked as unusable are all NaN
    baseline = nanmean(beat[max(0, b0):max(1, b1)], axis=0) if b1 > 0 else np.full(n_leads, np.nan)
    rr = rr_s if rr_s is not None and np.isfinite(rr_s) else 1.0
    t_lo = int(round(off + _T_START_AFTER_QRS_S * fs))
    t_hi = min(len(beat), int(round(on + min(0.65, max(0.30, rr - 0.10)) * fs)))
    t_peak_limit = int(round(on + _T_PEAK_MAX_S * fs))
    glob["t_off"] = _t_waves(beat, baseline, t_lo, t_hi, t_peak_limit, lead, tol, weights, fs, config)
    # The P wave lies after the previous beat's T wave (T end one RR earlier).
    p_lo, p_hi = max(0, int(round(on - config.max_pr_s * fs))), int(round(on - P_GAP_BEFORE_QRS_S * fs))
    after_t = -1 if glob["t_off"] is None else int(round(glob["t_off"] - rr * fs + P_GAP_BEFORE_QRS_S * fs))
    p_lo = max(p_lo, after_t)
    glob["p_on"], glob["p_off"] = _p_waves(beat, baseline, p_lo, p_hi, lead, tol, weights, fs, config)
    p_doubt = None
    p_on_t_end = glob["p_on"] is not None and glob["p_on"] <= p_lo and p_lo == after_t
    if glob["p_on"] is not None and glob["p_on"] <= p_lo:
        # The search starts at the previous T end: an onset there is the window's edge, and the P
        # wave began on the T wave (fast rates, long PR), where its onset cannot be seen.
        p_doubt = (f"the P wave starts on the previous T wave (onset at the search window's start, "
                   f"{(on - p_lo) / fs * 1000:.0f} ms before QRS onset): its onset is not visible")
    # At fast rates the next beat's P wave falls inside the T search window: search again before it.
    if glob["p_on"] is not None and glob["p_on"] + rr * fs < t_hi:
        glob["t_off"] = _t_waves(beat, baseline, t_lo, int(glob["p_on"] + rr * fs), t_peak_limit, lead, tol, weights,
                                 fs, config)
    glob["t_peak"] = float(np.nanmedian(lead["t_peak"])) if np.isfinite(lead["t_peak"]).any() else None
    for name, why in (("t_off", "no lead shows a T wave above min_wave_mv"),
                      ("t_peak", "no lead shows a T wave above min_wave_mv"),
                      ("p_on", "no lead shows a P wave above min_wave_mv"),
                      ("p_off", "no lead shows a P wave above min_wave_mv")):
        if glob[name] is None:
            reasons[name] = why
    return Delineation(_to_s(glob, fid, fs), _to_s_arrays(lead, fid, fs), baseline, reasons, p_doubt, p_on_t_end)


def _p_waves(beat: np.ndarray, baseline: np.ndarray, lo: int, hi: int, lead: dict[str, np.ndarray],
             tol: float, weights: np.ndarray, fs: float, config: MeasureConfig,
             peak_window: tuple[int, int] | None = None) -> tuple[float | None, float | None]:
    """Delineate every lead's P wave in [lo, hi), its peak within ``peak_window`` if given (filling
    ``lead``); the global P onset and offset."""
    amplitude = np.zeros(len(baseline))
    lead["p_on"][:], lead["p_off"][:] = np.nan, np.nan
    for k in np.flatnonzero(np.isfinite(baseline)):
        lead["p_on"][k], _, lead["p_off"][k], amplitude[k] = _wave_lead(
            beat[:, k], baseline[k], lo, hi, int(_P_KNEE_SPAN_S * fs), config.min_wave_mv, True, int(_SMOOTH_S * fs),
            peak_window)
    # Ranked against the third largest P wave: in a record rescaled lead by lead (a lead of small
    # QRS blown up to the others' size) one lead's P can dwarf all others', and ranked against it
    # the P wave was timed from that lead alone (per-lead normalised simulated records: P duration
    # -4.0 +/- 12.6 ms against +1.5 +/- 5.0; unscaled records and LUDB unchanged within 1 ms).
    _drop_weak(lead, ("p_on", "p_off"), amplitude, _P_REFERENCE_RANK)
    return (_ranked(lead["p_on"], config.lead_rank_onset, False, tol, weights),
            _ranked(lead["p_off"], config.lead_rank_offset, True, _P_OFFSET_TOLERANCE_FACTOR * tol, weights))


def p_wave_onset(segment_mv: np.ndarray, peak_window: tuple[int, int], fs_hz: float,
                 config: MeasureConfig) -> float | None:
    """Global P onset (samples into ``segment_mv``) of a (n, n_leads) segment that holds a P wave
    peaking within ``peak_window`` (samples) with trace on both sides (a P wave averaged over beats
    aligned on it), delineated as the median beat's is; None when no lead shows it above
    ``min_wave_mv``."""
    lead = {"p_on": np.full(segment_mv.shape[1], np.nan), "p_off": np.full(segment_mv.shape[1], np.nan)}
    finite = np.isfinite(segment_mv).all(axis=0)
    baseline = np.where(finite, segment_mv[0], np.nan)
    return _p_waves(segment_mv, baseline, 0, len(segment_mv), lead, config.lead_consensus_s * fs_hz,
                    np.ones(segment_mv.shape[1]), fs_hz, config, peak_window)[0]


def p_timing_doubt(delineation: Delineation, p_consistency: float | None, config: MeasureConfig) -> str | None:
    """Why the delineated global P onset and offset must not be reported; None when they may.

    Every median beat has a largest deflection before its QRS; it times a P wave only when the
    signal supports one. It does not when the P wave is seen in fewer than
    ``config.min_p_lead_fraction`` of the usable leads (at least one): the global points then rest
    on one or two leads whose "P" may be noise. Nor when the P waves do not repeat from beat to
    beat at one PR (``p_consistency``, the mean per-beat correlation with the median P from
    :func:`tools.measure.atrial.locate_p_waves`, below ``config.p_timing_consistency``): noise as
    large as the P wave, or a PR that varies (Wenckebach), smears the median P wave, and no single
    P duration or PR describes the record. Nor when :func:`delineate` found the P wave starting on
    the previous T wave (``delineation.p_doubt``), nor when it lasts under 40 ms (no atrium
    depolarises that fast: a notch or an artefact), nor when the leads disagree on its onset (the
    interquartile range of at least three per-lead onsets above ``config.max_p_onset_spread_ms``;
    LUDB's even records ≤ 40 ms, simulated ≤ 23 ms with electrode noise; PTB s0010, whose T waves
    drift into the P waves in half its leads, 54 ms).

    Parameters
    ----------
    delineation : Delineation
        Output of :func:`delineate`.
    p_consistency : float or None
        Mean per-beat P correlation (-1..1); None when none was computed.
    config : MeasureConfig

    Returns
    -------
    str or None
        The reason, naming the value and the threshold it failed.
    """
    if delineation.global_s["p_on"] is None or delineation.global_s["p_off"] is None:
        return None
    if delineation.p_doubt:
        return delineation.p_doubt
    duration_s = delineation.global_s["p_off"] - delineation.global_s["p_on"]
    if duration_s < _MIN_P_DURATION_S:
        return (f"the P wave found lasts {duration_s * 1000:.0f} ms, under the {_MIN_P_DURATION_S * 1000:.0f} ms "
                "any atrial depolarisation takes: a notch or an artefact, not a P wave")
    onsets_ms = delineation.lead_s["p_on"][np.isfinite(delineation.lead_s["p_on"])] * 1000
    spread_ms = float(np.subtract(*np.percentile(onsets_ms, [75, 25]))) if onsets_ms.size >= 3 else 0.0
    if spread_ms > config.max_p_onset_spread_ms:
        return (f"the leads disagree on where the P wave starts (interquartile range of the per-lead P onsets "
                f"{spread_ms:.0f} ms > max_p_onset_spread_ms {config.max_p_onset_spread_ms:g}): no single onset "
                "times the P wave")
    with_p = int((np.isfinite(delineation.lead_s["p_on"]) | np.isfinite(delineation.lead_s["p_off"])).sum())
    usable = int(np.isfinite(delineation.baseline_mv).sum())
    needed = max(1, int(np.ceil(config.min_p_lead_fraction * usable)))
    if with_p < needed:
        return (f"P wave seen in {with_p} of {usable} usable leads (min_p_lead_fraction "
                f"{config.min_p_lead_fraction:g} needs {needed}): too few to time it")
    if p_consistency is not None and p_consistency < config.p_timing_consistency:
        return (f"P waves differ from beat to beat (p_consistency {p_consistency:.2f} < p_timing_consistency "
                f"{config.p_timing_consistency:g}): noise or a varying PR, no single P duration or PR")
    return None


def _t_waves(beat: np.ndarray, baseline: np.ndarray, lo: int, hi: int, peak_limit: int,
             lead: dict[str, np.ndarray], tol: float, weights: np.ndarray, fs: float,
             config: MeasureConfig) -> float | None:
    """Delineate every lead's T wave in [lo, hi) (filling ``lead``); the global T end (index) or None."""
    amplitude = np.zeros(len(baseline))
    lead["t_peak"][:], lead["t_off"][:] = np.nan, np.nan
    usable = np.flatnonzero(np.isfinite(baseline))
    if hi - lo < 5 or usable.size == 0 or not np.isfinite(beat[lo:hi, usable]).all():
        return None
    # The T wave is where the leads together deviate most; each lead's T peak is sought near
    # it, so a next P wave larger than a flat T in some lead is not taken for that lead's T.
    rms = np.sqrt(np.mean((beat[lo:hi, usable] - baseline[usable]) ** 2, axis=1))
    # A T peak lies within _T_PEAK_MAX_S of the QRS onset (the window may go on to a next P wave).
    centre = lo + int(np.argmax(rms[:max(1, peak_limit - lo)]))
    near = (max(lo, centre - int(_T_PEAK_NEAR_S * fs)), min(hi, centre + int(_T_PEAK_NEAR_S * fs) + 1))
    for k in usable:
        _, lead["t_peak"][k], lead["t_off"][k], amplitude[k] = _wave_lead(
            beat[:, k], baseline[k], lo, hi, int(_T_KNEE_SPAN_S * fs), config.min_wave_mv, False, int(_SMOOTH_S * fs),
            near, int(_T_STEEPEST_WITHIN_S * fs))
    _drop_weak(lead, ("t_peak", "t_off"), amplitude)
    return _ranked(lead["t_off"], config.lead_rank_offset, True, 1.5 * tol, weights)


def _to_s(points: dict[str, float | None], fid: int, fs: float) -> dict[str, float | None]:
    return {k: None if v is None else (v - fid) / fs for k, v in points.items()}


def _to_s_arrays(points: dict[str, np.ndarray], fid: int, fs: float) -> dict[str, np.ndarray]:
    return {k: (v - fid) / fs for k, v in points.items()}
