"""Rhythm: rate and RR statistics, the rhythm label, AV conduction and ectopy counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.measure.atrial import AtrialActivity, AtrialWaves
from tools.measure.beats import Beats
from tools.measure.config import MeasureConfig
from tools.measure.result import Evidence, Rhythm

__all__ = ["RateStats", "rate_stats", "classify_rhythm"]

_SINUS_ARRHYTHMIA_RANGE_S = 0.12   # max - min RR between dominant beats (classic 120-ms criterion)
_PAUSE_FACTOR = 1.6                # an RR this many times the median is a dropped beat
_PR_DRIFT_S = 0.04                 # Wenckebach: PR before the pause exceeds PR after it by this
_PR_DISSOCIATION_SD_S = 0.08       # PR this variable at a regular rate: P and QRS are dissociated
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


@dataclass(frozen=True)
class RateStats:
    """RR statistics in ms (None when fewer than two beats)."""

    rr_ms: float | None
    rr_sd_ms: float | None
    rr_min_ms: float | None
    rr_max_ms: float | None
    heart_rate_bpm: float | None
    irregularity: float | None


def rate_stats(beats: Beats, fs_hz: float) -> RateStats:
    """Rate and RR variability; the SD uses only intervals between two dominant beats."""
    if len(beats.r_samples) < 2:
        return RateStats(None, None, None, None, None, None)
    rr = np.diff(beats.r_samples) / fs_hz * 1000.0
    dominant = beats.dominant
    nn = rr[dominant[1:] & dominant[:-1]]
    irregularity = float(np.median(np.abs(np.diff(rr))) / np.median(rr)) if rr.size >= 2 else None
    return RateStats(float(rr.mean()), float(nn.std()) if nn.size >= 2 else None, float(rr.min()),
                     float(rr.max()), 60000.0 / float(rr.mean()), irregularity)


def _av_conduction(beats: Beats, atrial: AtrialActivity, fs_hz: float, pr_ms: float | None,
                   config: MeasureConfig) -> tuple[str | None, list[int]]:
    """AV-block code and the beats that show it (None: no block seen)."""
    rr = np.diff(beats.r_samples) / fs_hz
    pr = atrial.pr_s
    if rr.size >= 3:
        pauses = np.flatnonzero(rr > _PAUSE_FACTOR * np.median(rr))
        for gap in pauses:
            before, after = pr[gap], pr[gap + 1] if gap + 1 < pr.size else np.nan
            if np.isfinite(before) and np.isfinite(after):
                if before - after > _PR_DRIFT_S:
                    return "av_block_2_wenckebach", [int(gap), int(gap + 1)]
                return "av_block_2_mobitz2", [int(gap), int(gap + 1)]
    if pr_ms is not None and pr_ms > config.av_block_1_pr_ms:
        return "av_block_1", []
    return None, []


def classify_rhythm(beats: Beats, atrial: AtrialActivity, waves: AtrialWaves, rates: RateStats,
                    pr_ms: float | None, fs_hz: float, config: MeasureConfig) -> tuple[Rhythm, str | None]:
    """The rhythm label (a code of tools.vocabulary.RHYTHMS) with its evidence.

    Without organised P waves, a narrow spectral peak of the QRS-T-cancelled residual in the
    flutter band (``waves``) makes the rhythm atrial flutter rather than fibrillation (irregular)
    or undetermined (regular). A slow regular escape rhythm under periodic atrial activity that
    the median beat did not cancel (``waves.dissociated``: not time-locked to the QRS, unlike the
    P waves of sinus rhythm or 2:1 block) is third-degree AV block. Returns the Rhythm and, when
    the label is None, the reason.
    """
    kinds = beats.kinds
    n = len(kinds)
    cons = atrial.consistency
    p_present = cons is not None and cons >= config.p_wave_consistency
    p_organised = cons is not None and cons >= config.af_p_consistency
    irregular = rates.irregularity is not None and rates.irregularity > config.af_rr_irregularity
    values = {"heart_rate_bpm": rates.heart_rate_bpm, "rr_irregularity": rates.irregularity,
              "p_consistency": cons, "pr_ms": pr_ms, "atrial_wave_rate_bpm": waves.rate_bpm,
              "atrial_wave_concentration": waves.concentration, "atrial_wave_mv": waves.amplitude_mv}
    hr = rates.heart_rate_bpm or np.nan
    ratio = (waves.rate_bpm or 0.0) / hr
    big = waves.amplitude_mv >= 2 * config.flutter_min_mv
    flutter = waves.rate_bpm is not None and waves.amplitude_mv >= config.flutter_min_mv and (
        waves.concentration >= config.flutter_concentration
        or (big and not p_present and not irregular and waves.concentration >= _FLUTTER_CONCENTRATION_NO_P))
    diss = waves.dissociated
    dissociated = (diss.rate_bpm is not None and diss.strength >= _DISSOCIATED_MIN_STRENGTH and not irregular
                   and hr < _ESCAPE_MAX_BPM and diss.rate_bpm >= _ATRIAL_OVER_VENTRICULAR * hr)
    values.update(dissociated_atrial_rate_bpm=diss.rate_bpm, dissociated_atrial_strength=diss.strength)
    flutter_rule = (f"no organised P wave; atrial waves at {waves.rate_bpm or 0:.0f}/min in {waves.lead} with "
                    f"spectral concentration >= {config.flutter_concentration}")
    label, reason, threshold = None, None, ""
    av_block, av_beats = (None, [])
    pr_sd = float(np.nanstd(atrial.pr_s)) if np.isfinite(atrial.pr_s).sum() >= 3 else None
    if n < 3 or rates.heart_rate_bpm is None:
        reason = f"{n} beat(s) detected: at least 3 are needed to name a rhythm"
    elif flutter and (not p_organised or (big and ratio >= _FLUTTER_MIN_RATIO_WITH_P)):
        # Flutter waves locked to the QRS pass for P waves; large ones are not P waves.
        label, threshold = "atrial_flutter", flutter_rule
    elif dissociated:
        label, av_block = "av_block_3", "av_block_3"
        threshold = (f"regular escape rhythm < {_ESCAPE_MAX_BPM:g} bpm with uncancelled periodic atrial activity "
                     f"(autocorrelation >= {_DISSOCIATED_MIN_STRENGTH}) at >= {_ATRIAL_OVER_VENTRICULAR}x its rate")
    elif not p_organised and irregular:
        label = "atrial_fibrillation"
        threshold = (f"rr_irregularity > {config.af_rr_irregularity} and p_consistency < {config.af_p_consistency}")
    elif not p_present:
        reason = "no organised P wave at a regular rate (junctional, atrial or flutter rhythm not distinguished)"
    elif pr_sd is not None and pr_sd > _PR_DISSOCIATION_SD_S and not irregular:
        label, av_block = "av_block_3", "av_block_3"
        threshold = f"per-beat PR SD > {_PR_DISSOCIATION_SD_S * 1000:g} ms at a regular rate"
        values["pr_sd_ms"] = pr_sd * 1000
    else:
        label, threshold = _sinus(beats, rates, fs_hz, config)
        av_block, av_beats = _av_conduction(beats, atrial, fs_hz, pr_ms, config)
    af = label == "atrial_fibrillation"
    return Rhythm(
        label=label, av_block=av_block, pac_count=0 if af else kinds.count("A"), pvc_count=kinds.count("V"),
        n_beats=n, rr_irregularity=rates.irregularity, p_consistency=cons,
        evidence=Evidence(beat_indices=av_beats or list(range(n)),
                          times_s=[float(r / fs_hz) for r in beats.r_samples], values=values, threshold=threshold),
    ), reason


def _sinus(beats: Beats, rates: RateStats, fs_hz: float, config: MeasureConfig) -> tuple[str, str]:
    hr = rates.heart_rate_bpm
    if hr < config.bradycardia_bpm:
        return "sinus_bradycardia", f"heart_rate_bpm < {config.bradycardia_bpm:g} with P waves"
    if hr > config.tachycardia_bpm:
        return "sinus_tachycardia", f"heart_rate_bpm > {config.tachycardia_bpm:g} with P waves"
    dominant = np.array([k == "N" for k in beats.kinds])
    rr = np.diff(beats.r_samples) / fs_hz
    nn = rr[dominant[1:] & dominant[:-1]]
    if nn.size >= 2 and nn.max() - nn.min() > _SINUS_ARRHYTHMIA_RANGE_S:
        return "sinus_arrhythmia", f"RR range > {_SINUS_ARRHYTHMIA_RANGE_S * 1000:g} ms with P waves"
    return "sinus_rhythm", f"{config.bradycardia_bpm:g} <= heart_rate_bpm <= {config.tachycardia_bpm:g} with P waves"
