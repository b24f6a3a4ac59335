"""The one frozen configuration of the measurement tool, every threshold with its unit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tools.config import FrozenConfig

__all__ = ["MeasureConfig", "QtcFormula"]

QtcFormula = Literal["bazett", "fridericia", "framingham", "hodges"]


class MeasureConfig(FrozenConfig):
    """Thresholds and windows of :func:`tools.measure.measure`.

    Every field carries its unit in its name. The defaults were tuned on the even-numbered LUDB
    records only (the odd ones are kept for testing); see docs/measurement.md.
    """

    # ---- filtering -----------------------------------------------------------------------
    highpass_hz: float = Field(0.5, gt=0, le=2.0, description="baseline-wander high-pass corner (Hz)")
    detection_lowpass_hz: float = Field(40.0, ge=15.0, le=150.0,
                                        description="low-pass corner for beat detection and classification (Hz)")
    measurement_lowpass_hz: float = Field(150.0, ge=15.0, le=250.0,
                                          description="low-pass corner of the signal the median beats are built from "
                                                      "(Hz; 150 Hz is the AHA diagnostic bandwidth; capped at 0.45 x fs)")
    # ---- beats ---------------------------------------------------------------------------
    max_heart_rate_bpm: float = Field(220.0, gt=60, le=300, description="fastest rate detected (bpm)")
    qrs_threshold_fraction: float = Field(0.3, gt=0, lt=1,
                                          description="beat detection threshold, fraction of the typical QRS energy")
    dominant_correlation: float = Field(0.9, gt=0, lt=1,
                                        description="QRS correlation with the template above which a beat is 'dominant'")
    premature_fraction: float = Field(0.85, gt=0.5, lt=1,
                                      description="an RR shorter than this fraction of the local median RR is premature")
    pac_sinus_p_correlation: float = Field(0.9, ge=-1, le=1,
                                           description="a premature beat whose P wave correlates below this with the "
                                                       "median P has an ectopic P wave (PAC; sinus arrhythmia's beats: "
                                                       ">= 0.99 on simulated records, simulated PACs <= 0.73)")
    pac_very_premature_fraction: float = Field(0.65, gt=0.3, lt=1,
                                               description="a premature beat with an RR below this fraction of the RR "
                                                           "before it is a PAC whatever its P wave (an SA-nodal "
                                                           "extrasystole has the sinus P: LUDB 7 at 0.59; sinus "
                                                           "arrhythmia >= 0.68 on simulated records)")
    pvc_af_max_correlation: float = Field(0.5, gt=-1, lt=1,
                                          description="in AF or flutter, where no RR is premature by rule and aberrant "
                                                      "(Ashman) beats are common, a beat of other shape is a PVC only "
                                                      "when its QRS correlates below this with the dominant one (LUDB's "
                                                      "PVCs in AF <= 0.22; aberrant beats in AF 0.64-0.73)")
    # ---- median beat ---------------------------------------------------------------------
    median_pre_s: float = Field(0.5, gt=0.2, le=1.0, description="median-beat window before the R fiducial (s)")
    median_post_s: float = Field(0.8, gt=0.4, le=1.2, description="median-beat window after the R fiducial (s)")
    # ---- delineation ---------------------------------------------------------------------
    qrs_steep_fraction: float = Field(0.3, gt=0, lt=1,
                                      description="the QRS core is where a lead's slope exceeds this fraction of its maximum")
    qrs_onset_span_s: float = Field(0.05, gt=0.01, le=0.15,
                                    description="QRS onset knee searched this far before the QRS core (s)")
    qrs_offset_span_s: float = Field(0.08, gt=0.01, le=0.2,
                                     description="QRS offset knee searched this far after the QRS core (s)")
    qrs_offset_slope_fraction: float = Field(0.02, gt=0, lt=1,
                                             description="QRS offset no later than where the slope falls below this fraction of the QRS "
                                                         "maximum (above a sloping ST segment's own slope)")
    min_wave_mv: float = Field(0.04, ge=0, description="smallest P or T amplitude a lead must show to be delineated (mV)")
    qrs_rank_onset: int = Field(1, ge=1, le=6, description="global QRS onset = this earliest lead onset (1 = earliest)")
    qrs_rank_offset: int = Field(1, ge=1, le=6, description="global QRS offset = this latest lead offset (1 = latest)")
    qrs_offset_consensus_s: float = Field(0.08, gt=0, le=0.2,
                                          description="lead QRS offsets farther than this from their median are rejected "
                                                      "(s; wider than for other points: in RBBB only V1 shows the late R')")
    lead_rank_onset: int = Field(2, ge=1, le=6,
                                 description="global P onset = this earliest per-lead onset (1 = earliest; 2 drops one "
                                             "outlying lead, e.g. a tiny P whose knee drifts into the baseline)")
    lead_rank_offset: int = Field(2, ge=1, le=6,
                                  description="global offset = this latest per-lead offset (1 = latest)")
    lead_consensus_s: float = Field(0.04, gt=0, le=0.2,
                                    description="lead onsets/offsets farther than this from their median are rejected (s; 1.5x for T end)")
    max_pr_s: float = Field(0.40, gt=0.1, le=0.6, description="longest P-onset-to-QRS-onset interval searched (s)")
    # ---- statements ----------------------------------------------------------------------
    qtc_formula: QtcFormula = Field("bazett", description="QTc formula used by the long/short QT rules")
    long_qtc_ms: float = Field(460.0, description="QTc above this is long (ms)")
    short_qtc_ms: float = Field(350.0, description="QTc below this is short (ms)")
    bradycardia_bpm: float = Field(60.0, description="sinus rate below this is bradycardia (bpm)")
    tachycardia_bpm: float = Field(100.0, description="sinus rate above this is tachycardia (bpm)")
    av_block_1_pr_ms: float = Field(200.0, description="PR above this is first-degree AV block (ms)")
    complete_bbb_qrs_ms: float = Field(120.0, description="QRS at or above this allows a complete bundle branch block (ms)")
    st_elevation_mv: float = Field(0.1, description="ST elevation at the J point threshold, limb and V1, V4-V6 leads (mV)")
    st_elevation_v2v3_mv: float = Field(0.2, description="ST elevation threshold in V2-V3 (mV)")
    st_depression_mv: float = Field(0.05, description="ST depression threshold, at the J point and at J+60 ms (mV)")
    low_voltage_limb_mv: float = Field(0.5, description="low voltage: every limb-lead QRS peak-to-peak below this (mV)")
    low_voltage_precordial_mv: float = Field(1.0, description="low voltage: every precordial QRS peak-to-peak below this (mV)")
    sokolow_lyon_mv: float = Field(3.5, description="LVH: S(V1) + max R(V5, V6) at or above this (mV)")
    cornell_male_mv: float = Field(2.8, description="LVH: R(aVL) + S(V3) at or above this (mV; 2.0 for women)")
    cornell_female_mv: float = Field(2.0, description="Cornell threshold for women (mV)")
    af_rr_irregularity: float = Field(0.06, gt=0,
                                      description="AF: median absolute successive RR difference / median RR above this")
    af_p_consistency: float = Field(0.88, ge=-1, le=1,
                                    description="AF: an irregular rhythm whose mean per-beat P correlation with the median P "
                                                "is below this (sinus arrhythmia keeps its P waves: >= 0.9 on LUDB)")
    flutter_concentration: float = Field(0.6, gt=0, le=1,
                                         description="flutter: fraction of the 2-12 Hz QRS-T-cancelled residual power "
                                                     "within 0.3 Hz of its peak in 3.3-5.9 Hz and harmonics, at or above this")
    flutter_min_mv: float = Field(0.04, ge=0, description="flutter: residual RMS at or above this (mV); twice this "
                                                          "overrides apparent P waves (2:1 flutter waves mimic them)")
    af_wave_min_mv: float = Field(0.025, ge=0,
                                  description="AF beneath a ventricular-paced (regular) rhythm: V1's QRS-T-cancelled "
                                              "residual, 3-12 Hz RMS at or above this (mV) ...")
    af_wave_band_fraction: float = Field(0.65, gt=0, le=1,
                                         description="... with at least this share of its 1-12 Hz power in 4-9 Hz "
                                                     "(fibrillatory waves; sinus P waves dissociated from paced beats: "
                                                     "<= 0.56, non-AF LUDB records: <= 0.61)")
    p_wave_consistency: float = Field(0.5, ge=-1, le=1,
                                      description="below this mean per-beat P correlation there is no organised P wave")
    p_timing_consistency: float = Field(0.8, ge=-1, le=1,
                                        description="below this mean per-beat P correlation the P waves do not repeat "
                                                    "at one PR (noise, variable PR): P duration and PR not measurable")
    min_p_lead_fraction: float = Field(0.25, ge=0, le=1,
                                       description="P duration and PR need a P wave in at least this fraction of the "
                                                   "usable leads (at least one lead)")
    max_p_onset_spread_ms: float = Field(50.0, gt=0,
                                         description="above this interquartile range of the per-lead P onsets (ms) "
                                                     "the leads disagree on where the P wave starts: P duration and PR "
                                                     "not measurable")

    @model_validator(mode="after")
    def _check(self) -> MeasureConfig:
        if self.short_qtc_ms >= self.long_qtc_ms:
            raise ValueError(f"short_qtc_ms={self.short_qtc_ms} must be below long_qtc_ms={self.long_qtc_ms}")
        if self.bradycardia_bpm >= self.tachycardia_bpm:
            raise ValueError(f"bradycardia_bpm={self.bradycardia_bpm} must be below tachycardia_bpm={self.tachycardia_bpm}")
        return self
