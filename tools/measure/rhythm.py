"""Rhythm: rate and RR statistics, the rhythm label, AV conduction and ectopy counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.measure.atrial import AtrialActivity, AtrialWaves
from tools.measure.beats import Beats
from tools.measure.config import MeasureConfig
from tools.measure.nanstats import nanmedian
from tools.measure.result import Evidence, Rhythm

__all__ = ["RateStats", "classify_rhythm", "group_positions", "rate_stats"]

_SINUS_ARRHYTHMIA_RANGE_S = 0.12   # max - min RR between dominant beats (classic 120-ms criterion)
_MINORITY = 0.25                   # beats of another morphology below this fraction are set aside...
_MIN_KEPT_RR = 4                   # ...when this many RRs remain for the irregularity
_PAUSE_FACTOR = 1.6                # an RR this many times the median is a dropped beat
_DOUBLED_RR = 0.2                  # ... and so is one within this of twice the shortest quarter's RR
_PR_DRIFT_S = 0.04                 # Wenckebach: PR before the pause exceeds PR after it by this
_PR_DISSOCIATION_SD_S = 0.08       # PR this variable at a regular rate: P and QRS are dissociated
# Wenckebach groups: a pause is an RR > 1.5x the 25th-percentile RR; inside a group the PR grows by
# >= 10 ms per beat on average and never falls by more than 10 ms (the last increment of a group is
# the smallest, 16-18 ms on simulated 5:4 blocks, and per-beat PRs scatter by about 10 ms); every
# beat's P wave matches the median P (>= 0.4) somewhere within ±120 ms.
_GROUP_PAUSE_FACTOR = 1.5
_PR_STEP_S = 0.01
_PR_JITTER_S = 0.01
_P_MATCH = 0.4
_MIN_GROUP_STEPS = 3               # PR increments seen inside groups before the pattern counts
# Pre-QRS waves on the rhythm strip (>= 6 beats): the same wave before every beat (>= 0.9) vetoes
# AF; dissimilar ones (< 0.5) mark AF even when the P template matched (a 3x4 page's template may
# rest on 2-3 beats of f waves). Measured: LUDB AF <= 0.68, LUDB sinus >= 0.68 (irregular sinus
# >= 0.82); simulated pages: AF <= 0.48, every other rhythm >= 0.8.
_STRIP_P_CONSISTENCY = 0.9
_STRIP_NO_P_CONSISTENCY = 0.5
_STRIP_MIN_BEATS = 6
# Third-degree block: a slow regular escape rhythm with uncancelled periodic atrial activity
# clearly faster than it (time-locked P waves, conducted or 2:1 blocked, are cancelled instead).
_ESCAPE_MAX_BPM = 60.0
_DISSOCIATED_MIN_STRENGTH = 0.15
_ATRIAL_OVER_VENTRICULAR = 1.3
# Sinus P waves with a QRS-T residual at twice the ventricular rate mimic 2:1 flutter; with
# organised P waves, flutter needs F waves at >= 2.5x the ventricular rate.
_FLUTTER_MIN_RATIO_WITH_P = 2.5
# Without any organised P wave at a regular rate, a large residual (>= 2x flutter_min_mv) with a
# less concentrated peak is still flutter (variable F-wave shape on 2:1 / 4:1 conduction).
_FLUTTER_CONCENTRATION_NO_P = 0.45
# Atrial waves at twice a regular ventricular rate, seen only in the QRS-T-cancelled residual (no
# locked F wave in the median beat's TQ segment, no organised P wave), are as often a sinus or atrial
# tachycardia whose P waves sit on the T waves as 2:1 flutter: on simulated records (seeds 0-419,
# clean and noisy) that evidence named flutter on 10 flutter records and on 10 sinus tachycardias.
# It leaves the rhythm undetermined, with both named, instead of a coin toss.
_TWO_TO_ONE_TOLERANCE = 0.06       # |atrial / ventricular rate - 2| at or below this
# Flutter waves locked to the QRS repeat in the median beat's TQ segment at their period:
# >= 0.75 on simulated flutter pages where the TQ is long enough, <= 0.35 on every LUDB sinus
# record and <= 0.31 on simulated sinus pages.
_LOCKED_SIMILARITY = 0.6
_LOCKED_MIN_MV = 0.05              # TQ peak-to-peak: smaller repeats are within a page's trace noise
# Where the TQ segment is too short to test every period, the slope of the whole segment from the ST
# segment to the next QRS repeating at a period RR/k: 3:1 and variable flutter read as sinus >= 0.48,
# simulated sinus rhythm and tachycardia <= 0.28 (seeds 500-539, clean and noisy); the bench's 420
# non-flutter simulated records <= 0.31, LUDB <= 0.20; simulated inferior ST elevation up to 0.42.
_CYCLE_SIMILARITY = 0.45
# Grouped beating (a Wenckebach block, atrial bigeminy) is irregular but repeats itself: every RR
# comes back k beats later. Max |RR_i - RR_i+k| / median RR over >= 4 pairs at the first lag k in
# 2-5 below 0.12: simulated Wenckebach blocks <= 0.082 and sinus arrhythmia <= 0.086, simulated and
# LUDB AF >= 0.236 (seeds 0-839, clean and noisy; every LUDB record).
_PATTERN_LAGS = range(2, 6)
_PATTERN_MIN_PAIRS = 4
_PATTERN_TOLERANCE = 0.12


@dataclass(frozen=True)
class RateStats:
    """RR statistics in ms (None when fewer than two beats)."""

    rr_ms: float | None
    rr_sd_ms: float | None
    rr_min_ms: float | None
    rr_max_ms: float | None
    heart_rate_bpm: float | None
    irregularity: float | None
    pattern_beats: int | None = None
    pattern_deviation: float | None = None


def rate_stats(beats: Beats, fs_hz: float) -> RateStats:
    """Rate and RR variability over the observed intervals (``Beats.rr_s``: none across a gap in
    every lead, which may hide beats); the SD uses only intervals between two dominant beats, the
    irregularity (median |ΔRR| / median RR) and the repeating pattern set aside those touching a
    minority of other beats. All None when no interval is observed."""
    rr = beats.rr_s(fs_hz) * 1000.0
    observed = np.isfinite(rr)
    if not observed.any():
        return RateStats(None, None, None, None, None, None)
    dominant = beats.dominant
    nn = rr[dominant[1:] & dominant[:-1] & observed]
    seen = rr[observed]
    kept = _rhythm_rr(rr, beats.kinds)
    run = kept[np.isfinite(kept)]  # successive differences bridge a set-aside RR
    irregularity = float(np.median(np.abs(np.diff(run))) / np.median(run)) if run.size >= 2 else None
    return RateStats(float(seen.mean()), float(nn.std()) if nn.size >= 2 else None, float(seen.min()),
                     float(seen.max()), 60000.0 / float(seen.mean()), irregularity, *_repeating_pattern(kept))


def group_positions(beats: Beats, rates: RateStats, fs_hz: float) -> np.ndarray | None:
    """Each beat's place in the group of a rhythm that repeats itself every ``rates.pattern_beats``
    beats (0: the beat after the group's longest RR, its pause); None when it does not repeat."""
    k = rates.pattern_beats
    if k is None:
        return None
    rr = beats.rr_s(fs_hz)
    pause = int(np.nanargmax([nanmedian(rr[p::k]) for p in range(k)]))
    return (np.arange(len(beats.r_samples)) - (pause + 1)) % k


def _rhythm_rr(rr_ms: np.ndarray, kinds: tuple[str, ...]) -> np.ndarray:
    """The RRs (ms) the rhythm's regularity is judged on, NaN elsewhere: the observed ones, setting
    aside those that touch a beat of another morphology when those are a minority (one PVC or one
    spurious detection in a slow regular rhythm, 5 beats at 33 bpm, would otherwise make it
    irregular). Kept in sequence, so a lag k still means k beats later."""
    other = np.array([kind == "V" for kind in kinds], bool)
    observed = np.isfinite(rr_ms)
    kept = observed & ~(other[1:] | other[:-1])
    use = kept if other.mean() < _MINORITY and kept.sum() >= _MIN_KEPT_RR else observed
    return np.where(use, rr_ms, np.nan)


def _repeating_pattern(rr_ms: np.ndarray) -> tuple[int | None, float | None]:
    """The first lag k in 2-5 beats at which every RR comes back (max |RR_i - RR_i+k| / median RR <=
    0.12 over >= 4 pairs; NaN RRs skipped) and that deviation; (None, None) when none does."""
    for k in _PATTERN_LAGS:
        diff = np.abs(rr_ms[k:] - rr_ms[:-k])
        diff = diff[np.isfinite(diff)]
        if diff.size >= _PATTERN_MIN_PAIRS and (deviation := float(diff.max() / np.nanmedian(rr_ms))) <= _PATTERN_TOLERANCE:
            return k, deviation
    return None, None


def _shortest_quarter_rr_s(beats: Beats, fs_hz: float) -> float:
    """25th percentile of the RRs between two dominant beats (s; inf with fewer than three): the
    P-P interval of a second-degree block, where half the RRs of a 3:2 block hold two of them
    (interpolated PVCs halve the RRs around them, so RRs next to other beats are left out: LUDB 105)."""
    rr = beats.rr_s(fs_hz)
    nn = _between_dominant(beats, rr)
    return float(np.percentile(rr[nn], 25)) if nn.sum() >= 3 else np.inf


def _between_dominant(beats: Beats, rr_s: np.ndarray) -> np.ndarray:
    """(n_beats - 1,) bool: the observed RRs (``rr_s``) between two beats of dominant shape."""
    return beats.dominant[1:] & beats.dominant[:-1] & np.isfinite(rr_s)


def _premature_atrial(beats: Beats, atrial: AtrialActivity, fs_hz: float, block_cycle_s: float | None,
                      config: MeasureConfig) -> list[int]:
    """Indices of the premature atrial complexes among the beats of dominant shape that came early
    (kind "A": RR < ``premature_fraction`` x the local median RR).

    Such a beat also comes early against the RR before it (after it, for the second beat: the
    pause that follows), and either its P wave is unlike the sinus P (correlation with the median
    P < ``pac_sinus_p_correlation``) or it is very early (RR < ``pac_very_premature_fraction`` x
    that RR). In second-degree AV block (``block_cycle_s``, the P-P interval in s) grouped beating
    shortens RRs by itself: there its P wave must come early, P-P < ``premature_fraction`` x that
    interval, and a beat whose P waves were not matched (or a block without that interval: too few
    RRs) is not counted.
    """
    rr, pr, out = beats.rr_s(fs_hz), atrial.pr_s, []
    for i in (i for i, kind in enumerate(beats.kinds) if kind == "A" and i >= 1):
        if block_cycle_s is not None:
            matched = atrial.match[i] >= _P_MATCH and atrial.match[i - 1] >= _P_MATCH and np.isfinite(block_cycle_s)
            if matched and rr[i - 1] - (pr[i] - pr[i - 1]) < config.premature_fraction * block_cycle_s:
                out.append(i)
            continue
        other = rr[i - 2] if i >= 2 else rr[i] if i < rr.size else np.nan
        ectopic_p = atrial.correlation[i] < config.pac_sinus_p_correlation
        if rr[i - 1] < config.premature_fraction * other and (
                ectopic_p or rr[i - 1] < config.pac_very_premature_fraction * other):
            out.append(i)
    return out


def _premature_ventricular(beats: Beats, af: bool, config: MeasureConfig) -> list[int]:
    """Indices of the premature ventricular complexes: beats of other shape (kind "V") that came
    early (:attr:`Beats.premature`). A beat of other shape on time is noise, a lead losing
    contact, fusion or an escape beat, not a PVC. In AF or flutter (``af``) early beats are the
    rule and aberrantly conducted ones common, so the QRS must also be clearly another one
    (correlation < ``pvc_af_max_correlation``)."""
    if beats.premature is None:
        return []
    return [i for i, kind in enumerate(beats.kinds) if kind == "V" and beats.premature[i]
            and not (af and beats.correlation[i] >= config.pvc_af_max_correlation)]


_PAUSE_RULE = (f"a dropped beat (RR > {_PAUSE_FACTOR:g} x median, or an RR between dominant beats within "
               f"{_DOUBLED_RR * 100:g} % of twice their 25th percentile)")


def _av_conduction(beats: Beats, atrial: AtrialActivity, fs_hz: float, pr_ms: float | None,
                   config: MeasureConfig) -> tuple[str | None, list[int], str]:
    """AV-block code, the beats that show it and the rule that found it (None, [], "": no block
    seen; no pause across a gap)."""
    rr = beats.rr_s(fs_hz)
    pr = atrial.pr_s
    if np.isfinite(rr).sum() >= 3:
        # A dropped P wave doubles the RR; in a 3:2 block half the RRs are doubled, so the median
        # RR lies between the two and a doubled RR is told by the shortest quarter of the RRs.
        nn = _between_dominant(beats, rr)
        short = _shortest_quarter_rr_s(beats, fs_hz)
        doubled = nn & (np.abs(rr / short - 2.0) <= _DOUBLED_RR)
        pauses = np.flatnonzero((rr > _PAUSE_FACTOR * nanmedian(rr)) | doubled)
        for gap in pauses:
            before, after = pr[gap], pr[gap + 1] if gap + 1 < pr.size else np.nan
            if np.isfinite(before) and np.isfinite(after):
                if before - after > _PR_DRIFT_S:
                    return ("av_block_2_wenckebach", [int(gap), int(gap + 1)],
                            f"{_PAUSE_RULE} with the PR before it > the PR after it + {_PR_DRIFT_S * 1000:g} ms")
                return ("av_block_2_mobitz2", [int(gap), int(gap + 1)],
                        f"{_PAUSE_RULE} with the PR before it <= the PR after it + {_PR_DRIFT_S * 1000:g} ms")
    if pr_ms is not None and pr_ms > config.av_block_1_pr_ms:
        return "av_block_1", [], f"pr_ms > {config.av_block_1_pr_ms:g}"
    return None, [], ""


def classify_rhythm(beats: Beats, atrial: AtrialActivity, waves: AtrialWaves, rates: RateStats,
                    pr_ms: float | None, fs_hz: float, config: MeasureConfig) -> tuple[Rhythm, str | None]:
    """The rhythm label (a code of tools.vocabulary.RHYTHMS) with its evidence.

    Flutter: F waves are locked to the QRS (every RR a whole number of F-wave periods), so the
    median beat keeps them and its TQ segment repeats itself at their period (``waves.locked``);
    failing that (no such period, or a TQ too short to test) a narrow spectral peak of the
    QRS-T-cancelled residual in the flutter band (``waves``); when that residual alone shows atrial
    waves at twice a regular rate, 2:1 flutter cannot be told from P waves hidden in the T waves and
    the rhythm is left undetermined (the F-wave rate kept in the evidence). Grouped beating whose P waves
    lengthen their PR beat by beat until one is dropped is Wenckebach, not AF. A slow regular
    escape rhythm under periodic atrial activity that the median beat did not cancel
    (``waves.dissociated``) is third-degree AV block. AF needs an irregular rhythm without the
    same P wave before every beat (per-beat P correlation, and the rhythm strip's pre-QRS waves)
    that does not repeat itself: grouped beating (``rates.pattern_beats``) whose P waves could not be
    followed leaves the rhythm undetermined.
    Returns the Rhythm and, when the label is None, the reason.
    """
    n, cons = len(beats.kinds), atrial.consistency
    p_present = cons is not None and cons >= config.p_wave_consistency
    p_organised = cons is not None and cons >= config.af_p_consistency
    irregular = rates.irregularity is not None and rates.irregularity > config.af_rr_irregularity
    hr = rates.heart_rate_bpm or np.nan
    values = {"heart_rate_bpm": rates.heart_rate_bpm, "rr_irregularity": rates.irregularity,
              "p_consistency": cons, "pr_ms": pr_ms}
    flutter_seen, flutter_rate, flutter_rule = _flutter(waves, hr, irregular, p_present, p_organised, config, values)
    two_to_one = flutter_seen == "residual" and not irregular and abs(flutter_rate / hr - 2.0) <= _TWO_TO_ONE_TOLERANCE
    flutter = flutter_seen is not None and not two_to_one
    diss = waves.dissociated
    dissociated = (diss.rate_bpm is not None and diss.strength >= _DISSOCIATED_MIN_STRENGTH and not irregular
                   and hr < _ESCAPE_MAX_BPM and diss.rate_bpm >= _ATRIAL_OVER_VENTRICULAR * hr)
    values.update(dissociated_atrial_rate_bpm=diss.rate_bpm, dissociated_atrial_strength=diss.strength,
                  strip_p_consistency=waves.strip_consistency, strip_p_beats=waves.strip_beats)
    wenckebach = _wenckebach_groups(beats, atrial, fs_hz)
    # The P delineation of a 3x4 page may rest on 2.5-s leads only; the rhythm strip then shows
    # whether every beat has the same atrial wave before it (sinus arrhythmia) or not (AF).
    strip = waves.strip_consistency if waves.strip_beats >= _STRIP_MIN_BEATS else None
    strip_p = strip is not None and strip >= _STRIP_P_CONSISTENCY
    strip_no_p = strip is not None and strip < _STRIP_NO_P_CONSISTENCY
    label, reason, threshold = None, None, ""
    af_pattern = irregular and (not p_organised or strip_no_p) and not strip_p
    grouped = af_pattern and rates.pattern_beats is not None
    av_block, av_beats, av_rule = None, [], ""
    pr_sd = float(np.nanstd(atrial.pr_s)) if np.isfinite(atrial.pr_s).sum() >= 3 else None
    if n < 3 or rates.heart_rate_bpm is None:
        reason = f"{n} beat(s) detected: at least 3 are needed to name a rhythm"
    elif two_to_one:
        reason = (f"regular rhythm at {hr:.0f} bpm without an organised P wave, atrial waves at {flutter_rate:.0f}/min "
                  f"(twice the rate) in the QRS-T-cancelled residual only: 2:1 atrial flutter and a sinus or atrial "
                  f"tachycardia with its P waves on the T waves not distinguished")
        values["flutter_wave_rate_bpm"] = flutter_rate
    elif flutter:
        label, threshold = "atrial_flutter", flutter_rule
        values["flutter_wave_rate_bpm"] = flutter_rate
    elif wenckebach is not None:
        atrial_bpm, av_beats = wenckebach
        label, threshold = _sinus_by_rate(atrial_bpm, config)
        av_block = "av_block_2_wenckebach"
        av_rule = (f"grouped beating: in every group PR lengthens by >= {_PR_STEP_S * 1000:g} ms per beat and "
                   f"shortens by > {_PR_DRIFT_S * 1000:g} ms after each pause (P wave match >= {_P_MATCH})")
        values["atrial_rate_bpm"] = atrial_bpm
    elif dissociated:
        label, av_block = "av_block_3", "av_block_3"
        threshold = (f"regular escape rhythm < {_ESCAPE_MAX_BPM:g} bpm with uncancelled periodic atrial activity "
                     f"(autocorrelation >= {_DISSOCIATED_MIN_STRENGTH}) at >= {_ATRIAL_OVER_VENTRICULAR}x its rate")
    elif grouped:
        values.update(rr_pattern_beats=rates.pattern_beats, rr_pattern_deviation=rates.pattern_deviation)
        reason = (f"irregular rhythm that repeats itself every {rates.pattern_beats} beats (every RR equals the one "
                  f"{rates.pattern_beats} beats later within {_PATTERN_TOLERANCE * 100:g} % of the median RR): grouped "
                  f"beating, as in second-degree AV block or atrial bigeminy, not atrial fibrillation; the P waves "
                  f"were not followed well enough from beat to beat to tell which")
    elif af_pattern:
        label = "atrial_fibrillation"
        threshold = (f"rr_irregularity > {config.af_rr_irregularity} and (p_consistency < {config.af_p_consistency} "
                     f"or strip_p_consistency < {_STRIP_NO_P_CONSISTENCY}) and not strip_p_consistency >= "
                     f"{_STRIP_P_CONSISTENCY} (rhythm strip, >= {_STRIP_MIN_BEATS} beats)")
    elif not p_present and not strip_p:
        reason = "no organised P wave at a regular rate (junctional, atrial or flutter rhythm not distinguished)"
    elif pr_sd is not None and pr_sd > _PR_DISSOCIATION_SD_S and not irregular:
        label, av_block = "av_block_3", "av_block_3"
        threshold = f"per-beat PR SD > {_PR_DISSOCIATION_SD_S * 1000:g} ms at a regular rate"
        values["pr_sd_ms"] = pr_sd * 1000
    else:
        label, threshold = _sinus(beats, rates, fs_hz, config, values)
        av_block, av_beats, av_rule = _av_conduction(beats, atrial, fs_hz, pr_ms, config)
    if av_block == "av_block_3":
        av_rule = threshold  # the rhythm label itself
    af = label in ("atrial_fibrillation", "atrial_flutter")
    block_cycle_s = None
    if av_block in ("av_block_2_wenckebach", "av_block_2_mobitz2"):
        block_cycle_s = 60.0 / values["atrial_rate_bpm"] if "atrial_rate_bpm" in values else _shortest_quarter_rr_s(beats, fs_hz)
    # Grouped beating shortens RRs by itself; with its P waves not followed no beat is told premature.
    pacs = [] if af or (grouped and label is None) else _premature_atrial(beats, atrial, fs_hz, block_cycle_s, config)
    pvcs = _premature_ventricular(beats, af, config)
    times = beats.times_s(fs_hz)
    av_values = {k: values[k] for k in ("pr_ms", "atrial_rate_bpm", "pr_sd_ms") if k in values}
    return Rhythm(
        label=label, av_block=av_block, pac_count=len(pacs), pac_beats=pacs, pvc_count=len(pvcs), pvc_beats=pvcs,
        n_beats=n, rr_irregularity=rates.irregularity, rr_pattern_beats=rates.pattern_beats if irregular else None,
        p_consistency=cons,
        evidence=Evidence(beat_indices=av_beats or list(range(n)), times_s=times, values=values, threshold=threshold),
        av_block_evidence=None if av_block is None else Evidence(
            beat_indices=av_beats, times_s=[times[i] for i in av_beats], values=av_values, threshold=av_rule),
    ), reason


def _flutter(waves: AtrialWaves, hr: float, irregular: bool, p_present: bool, p_organised: bool,
             config: MeasureConfig, values: dict) -> tuple[str | None, float | None, str]:
    """Where flutter waves were seen (``"locked"``: the median beat's TQ segment, ``"cycle"``: its
    slope from ST to the next QRS, ``"residual"``: the QRS-T-cancelled residual's spectrum; None:
    nowhere), their rate (/min) and the rule; fills ``values``."""
    locked = waves.locked
    values.update(atrial_wave_rate_bpm=waves.rate_bpm, atrial_wave_concentration=waves.concentration,
                  atrial_wave_mv=waves.amplitude_mv, locked_wave_rate_bpm=locked.rate_bpm,
                  locked_wave_similarity=locked.similarity, locked_wave_mv=locked.amplitude_mv,
                  locked_slope_rate_bpm=locked.cycle_rate_bpm, locked_slope_similarity=locked.cycle_similarity)
    if (locked.rate_bpm is not None and locked.similarity >= _LOCKED_SIMILARITY
            and locked.amplitude_mv >= _LOCKED_MIN_MV):
        return "locked", locked.rate_bpm, (
            f"every RR a multiple of {60 / locked.rate_bpm * 1000:.0f} ms and the TQ segment repeating at that "
            f"period ({locked.rate_bpm:.0f}/min) with similarity >= {_LOCKED_SIMILARITY} and >= {_LOCKED_MIN_MV} mV "
            f"in II, III, aVF, V1: flutter waves locked to the QRS")
    if not locked.conclusive and locked.cycle_similarity is not None and locked.cycle_similarity >= _CYCLE_SIMILARITY:
        return "cycle", locked.cycle_rate_bpm, (
            f"every RR a multiple of {60 / locked.cycle_rate_bpm * 1000:.0f} ms and the slope from the ST segment to "
            f"the next QRS repeating at that period ({locked.cycle_rate_bpm:.0f}/min) with similarity >= "
            f"{_CYCLE_SIMILARITY} in II, III, aVF, V1 (TQ segment too short to test): flutter waves locked to the QRS")
    if waves.rate_bpm is None or waves.amplitude_mv < config.flutter_min_mv or (locked.conclusive and not irregular):
        return None, None, ""
    big = waves.amplitude_mv >= 2 * config.flutter_min_mv
    peaked = waves.concentration >= config.flutter_concentration or (
        big and not p_present and not irregular and waves.concentration >= _FLUTTER_CONCENTRATION_NO_P)
    # Flutter waves locked to the QRS pass for P waves; large ones at >= 2.5x the rate are not P waves.
    if peaked and (not p_organised or (big and waves.rate_bpm / hr >= _FLUTTER_MIN_RATIO_WITH_P)):
        return "residual", waves.rate_bpm, (f"no organised P wave; atrial waves at {waves.rate_bpm:.0f}/min in {waves.lead} "
                                            f"with spectral concentration >= {config.flutter_concentration}")
    return None, None, ""


def _wenckebach_groups(beats: Beats, atrial: AtrialActivity, fs_hz: float) -> tuple[float, list[int]] | None:
    """Mobitz I: the atrial rate (bpm) and the beats around each pause, or None.

    Pauses are RRs > 1.5x the shortest quarter of the RRs (3:2 block makes half the RRs long).
    Every dominant beat needs its P wave (best match >= 0.4 within ±120 ms); within each group
    between pauses the PR lengthens (>= 10 ms per beat on average, no step back beyond 10 ms;
    >= 3 increments seen), and after each pause it is shorter by > 40 ms.
    """
    # Beats before the first / after the last dominant beat with a matched P are cut by the
    # record's ends (no P wave in the record, an incomplete QRS): skipped.
    matched = np.flatnonzero(beats.dominant & (atrial.match >= _P_MATCH))
    if matched.size < 5:
        return None
    first, last = matched[0], matched[-1] + 1
    pr, rr = atrial.pr_s[first:last], beats.rr_s(fs_hz)[first:last - 1]
    if not (beats.dominant[first:last] & (atrial.match[first:last] >= _P_MATCH)).all() or not np.isfinite(rr).all():
        return None
    steps = np.diff(pr)
    pauses = rr > _GROUP_PAUSE_FACTOR * np.percentile(rr, 25)
    group = np.cumsum(pauses)  # the PR steps of one group share a number
    rise = [steps[~pauses & (group == k)].mean() for k in np.unique(group[~pauses])]
    if not pauses.any() or (~pauses).sum() < _MIN_GROUP_STEPS or not (steps[~pauses] >= -_PR_JITTER_S).all() \
            or min(rise) < _PR_STEP_S or not (steps[pauses] < -_PR_DRIFT_S).all():
        return None
    # From the first to the last conducted P wave: every RR holds one P-P interval, a pause two.
    p_span_s = float(rr.sum() - (pr[-1] - pr[0]))
    beat_ids = sorted({int(first + i) for gap in np.flatnonzero(pauses) for i in (gap, gap + 1)})
    return 60.0 * (rr.size + int(pauses.sum())) / p_span_s, beat_ids


def _sinus_by_rate(rate_bpm: float, config: MeasureConfig) -> tuple[str, str]:
    if rate_bpm < config.bradycardia_bpm:
        return "sinus_bradycardia", f"sinus rate < {config.bradycardia_bpm:g} bpm with P waves"
    if rate_bpm > config.tachycardia_bpm:
        return "sinus_tachycardia", f"sinus rate > {config.tachycardia_bpm:g} bpm with P waves"
    return "sinus_rhythm", f"{config.bradycardia_bpm:g} <= sinus rate <= {config.tachycardia_bpm:g} bpm with P waves"


def _sinus(beats: Beats, rates: RateStats, fs_hz: float, config: MeasureConfig,
           values: dict) -> tuple[str, str]:
    """Sinus label and rule by rate, then by the range of the RRs between dominant beats (in
    ``values`` as ``nn_range_ms``, so a label near its threshold shows how near)."""
    hr = rates.heart_rate_bpm
    if hr < config.bradycardia_bpm or hr > config.tachycardia_bpm:
        return _sinus_by_rate(hr, config)
    dominant = np.array([k == "N" for k in beats.kinds])
    rr = beats.rr_s(fs_hz)
    nn = rr[dominant[1:] & dominant[:-1] & np.isfinite(rr)]
    if nn.size >= 2:
        values["nn_range_ms"] = float(nn.max() - nn.min()) * 1000.0
    if nn.size >= 2 and nn.max() - nn.min() > _SINUS_ARRHYTHMIA_RANGE_S:
        return "sinus_arrhythmia", f"RR range > {_SINUS_ARRHYTHMIA_RANGE_S * 1000:g} ms with P waves"
    return "sinus_rhythm", f"{config.bradycardia_bpm:g} <= heart_rate_bpm <= {config.tachycardia_bpm:g} with P waves"
