"""The measurement result: the public ``--json`` contract of ``ecg-agent measure``.

Every number is in the unit its name ends with, or null with a reason in ``not_measurable``;
times are in s from the first sample unless a field says it is relative to the QRS fiducial.
The JSON schema is committed as docs/measurement.schema.json (``Measurement.json_schema()``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

__all__ = ["Evidence", "Statement", "QTc", "Axes", "GlobalMeasurements", "Rhythm", "LeadMeasurement",
           "LeadQuality", "Quality", "BeatFiducials", "Fiducials", "Measurement"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")
SCHEMA_VERSION = "1.2"  # 1.2: leads[].st_j_mv; 1.1: rhythm.pvc_beats, pvc_count counts premature complexes of other shape only


class Evidence(BaseModel):
    """What a statement or label rests on."""

    model_config = _FROZEN
    leads: list[str] = Field(default_factory=list, description="leads the criterion was read in")
    beat_indices: list[int] = Field(default_factory=list, description="indices into fiducials.beats")
    times_s: list[float] = Field(default_factory=list, description="times of the evidence, s from the start")
    values: dict[str, float | None] = Field(default_factory=dict,
                                            description="measured values, each key ending in its unit (_ms, _mv, _deg, _bpm)")
    threshold: str = Field("", description="the threshold crossed, e.g. 'qrs_ms >= 120'")


class Statement(BaseModel):
    """One rule-based interpretive statement."""

    model_config = _FROZEN
    code: str = Field(description="a code of tools.vocabulary.LABELS")
    text: str = Field(description="the statement in words")
    criteria: str = Field(description="the rule that fired")
    evidence: Evidence


class QTc(BaseModel):
    """QT corrected for rate, ms, by four named formulas."""

    model_config = _FROZEN
    bazett: float | None = Field(description="QT / sqrt(RR in s)")
    fridericia: float | None = Field(description="QT / (RR in s)^(1/3)")
    framingham: float | None = Field(description="QT + 154 (1 - RR in s)")
    hodges: float | None = Field(description="QT + 1.75 (HR in bpm - 60)")


class Axes(BaseModel):
    """Frontal-plane axes in degrees (-180, 180], from the net areas of the limb leads."""

    model_config = _FROZEN
    p: float | None
    qrs: float | None
    t: float | None


class GlobalMeasurements(BaseModel):
    """Global measurements of the median beat and the rhythm (clinical layout)."""

    model_config = _FROZEN
    heart_rate_bpm: float | None = Field(description="ventricular rate, 60 / mean RR")
    atrial_rate_bpm: float | None = Field(description="rate of the P waves (equal to the ventricular rate at 1:1 conduction)")
    rr_ms: float | None = Field(description="mean RR interval")
    rr_sd_ms: float | None = Field(description="SD of the RR intervals between dominant beats")
    rr_min_ms: float | None
    rr_max_ms: float | None
    p_duration_ms: float | None
    pr_ms: float | None = Field(description="global P onset to global QRS onset")
    qrs_ms: float | None = Field(description="global QRS onset to global QRS offset")
    qt_ms: float | None = Field(description="global QRS onset to global T end")
    qtc_ms: QTc
    axis_deg: Axes


class Rhythm(BaseModel):
    """Rhythm label, AV conduction and ectopy."""

    model_config = _FROZEN
    label: str | None = Field(description="one code of tools.vocabulary.RHYTHMS, null when undetermined")
    av_block: Literal["av_block_1", "av_block_2_wenckebach", "av_block_2_mobitz2", "av_block_3"] | None = None
    av_block_evidence: Evidence | None = Field(None, description="what the AV block rests on: the beats around its "
                                                                 "pauses, PR / atrial rate and the rule that found it")
    pac_count: int = Field(description="premature atrial complexes (the beats in pac_beats)")
    pac_beats: list[int] = Field(default_factory=list,
                                 description="indices into fiducials.beats of the premature atrial complexes: early beats "
                                             "of dominant QRS shape, abruptly early, with an ectopic or very early P wave")
    pvc_count: int = Field(description="premature ventricular complexes (the beats in pvc_beats)")
    pvc_beats: list[int] = Field(default_factory=list,
                                 description="indices into fiducials.beats of the premature ventricular complexes: early "
                                             "beats whose QRS is unlike the dominant one (kind V; in AF or flutter with a "
                                             "QRS correlation below pvc_af_max_correlation); on-time beats of kind V are "
                                             "not counted")
    n_beats: int
    underlying: Literal["atrial_fibrillation", "atrial_flutter"] | None = Field(
        None, description="ventricular-paced rhythm only: the atrial rhythm beneath the pacing when the atrial waves "
                          "show it (null: not paced, or not shown)")
    rr_irregularity: float | None = Field(description="median |successive RR difference| / median RR (dimensionless)")
    rr_pattern_beats: int | None = Field(None, description="the RR sequence repeats itself every this many beats "
                                                           "(2-5): an irregular rhythm that is regularly irregular "
                                                           "(grouped beating); null otherwise")
    p_consistency: float | None = Field(description="mean correlation of each beat's P wave with the median P (-1..1)")
    evidence: Evidence


class LeadMeasurement(BaseModel):
    """One row of the per-lead matrix, read on the lead's median beat (amplitudes from the PR baseline)."""

    model_config = _FROZEN
    lead: str
    usable: bool
    p_mv: float | None = Field(description="P amplitude (signed, largest deflection)")
    q_mv: float | None = Field(description="Q depth (<= 0; 0 when there is no Q)")
    r_mv: float | None = Field(description="R height (>= 0)")
    s_mv: float | None = Field(description="S depth (<= 0; a QS complex counts as S)")
    t_mv: float | None = Field(description="T amplitude (signed)")
    st_j_mv: float | None = Field(None, description="ST level at the global QRS offset (the J point)")
    st_j60_mv: float | None = Field(description="ST level 60 ms after the global QRS offset (J point)")
    qrs_ms: float | None = Field(description="QRS duration in this lead")
    terminal_wave_mv: float | None = Field(None, description="signed amplitude of the last major QRS deflection "
                                                             "(>= 30 % of the lead's largest): the R' of an rsR', "
                                                             "the S of an rS or QS")


class LeadQuality(BaseModel):
    model_config = _FROZEN
    lead: str
    usable: bool
    coverage: float = Field(description="fraction of samples that are finite (0..1)")
    noise_mv: float | None = Field(description="RMS difference between the dominant beats and the median beat "
                                               "within 0.15 s of the QRS (median over beats)")
    reason: str | None = Field(description="why the lead is not usable")


class Quality(BaseModel):
    model_config = _FROZEN
    leads: list[LeadQuality]
    limb_lead_reversal_suspected: bool
    pacing_spike_times_s: list[float]
    limb_lead_gains: dict[str, float] | None = Field(
        None, description="gain of each limb lead relative to II when they break Einthoven's law by per-lead gains "
                          "(the axis is computed with them divided out); null when consistent")
    mains_hz: float | None = Field(None, description="frequency of the mains interference (50 or 60 Hz) notched out "
                                                     "with its harmonics before measuring; null when none was found")
    flags: list[str] = Field(description="technical flags: flat_line, high_noise, few_beats, pacing, limb_lead_reversal, "
                                         "limb_lead_gain_mismatch, normalized_per_lead, signal_gap (a gap in every "
                                         "lead between two beats: rates use the other intervals), mains_interference "
                                         "(see mains_hz), noise_lowpass (noisy leads' median beats low-passed at 40 Hz "
                                         "to time the waves: boundaries a few ms wider), qrs_in_few_leads (beats found on "
                                         "the few leads where the QRS stands out: rate and rhythm only), ...")


class BeatFiducials(BaseModel):
    """Fiducials of one detected beat, s from the start (the median-beat offsets placed on the beat)."""

    model_config = _FROZEN
    index: int
    kind: Literal["N", "A", "V", "?"] = Field(description="N dominant, A premature dominant, V other morphology, ? unclassified")
    r_s: float
    p_on_s: float | None
    p_off_s: float | None
    qrs_on_s: float
    qrs_off_s: float
    t_off_s: float | None
    pr_ms: float | None = Field(description="this beat's own PR (P located by template matching), null without a P "
                                            "or when its onset could not be timed (P waves on the T waves before them)")


class Fiducials(BaseModel):
    """Where every global number comes from."""

    model_config = _FROZEN
    median_s: dict[str, float | None] = Field(description="global p_on, p_off, qrs_on, qrs_off, t_peak, t_off on the median beat, s relative to the QRS fiducial")
    median_window_s: tuple[float, float] = Field(description="the median beat spans these times relative to the fiducial")
    beats: list[BeatFiducials]


class Measurement(BaseModel):
    """Everything :func:`tools.measure.measure` found in one recording."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    schema_version: str = SCHEMA_VERSION
    fs_hz: float
    duration_s: float
    leads_present: list[str]
    global_: GlobalMeasurements = Field(alias="global")
    rhythm: Rhythm
    statements: list[Statement]
    leads: list[LeadMeasurement]
    quality: Quality
    fiducials: Fiducials
    not_measurable: dict[str, str] = Field(description="for every null above, keyed by its dotted path, the reason")
    _median_mv: np.ndarray | None = PrivateAttr(default=None)
    _median_fs_hz: float | None = PrivateAttr(default=None)

    @property
    def median_beats_mv(self) -> np.ndarray | None:
        """(n_window, n_leads) median beats in mV, columns in ``leads_present`` order (Python only)."""
        return self._median_mv

    @property
    def median_beats_fs_hz(self) -> float:
        """Sampling rate of ``median_beats_mv`` in Hz: records under 500 Hz are measured resampled to 500."""
        return self._median_fs_hz or self.fs_hz

    def to_json_dict(self) -> dict[str, Any]:
        """The public ``--json`` form (``global`` spelled without the underscore)."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON schema of :meth:`to_json_dict` (docs/measurement.schema.json)."""
        return cls.model_json_schema(by_alias=True, mode="serialization")
