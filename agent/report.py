"""The grounded report: what the agent produces, as a pydantic model with a published JSON schema.

Every statement says where it comes from (``measured``, ``model``, ``agreed``, ``disputed``) and
carries its evidence (leads, time window, values, criteria) and the ids of the step records that
produced it; a number with no step record behind it is left out. The measurement tool's ``--json``
object is embedded unchanged under ``measurements`` so scripts written against one work on the
other. ``docs/report.schema.json`` is generated from :class:`GroundedReport` (a test keeps it
current).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Source", "Evidence", "StepRecord", "InputDescription", "MeasuredValue", "Statement",
           "Dispute", "ModelTurn", "FollowUpAnswer", "Provenance", "GroundedReport", "OVER_READ"]

Source = Literal["measured", "model", "agreed", "disputed"]
OVER_READ = ("Computer-assisted interpretation: it must be over-read by a physician before any "
             "clinical use.")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Evidence(_Frozen):
    """Where a statement's support lies: leads, a time window (s), values with units, criteria."""

    leads: tuple[str, ...] = ()
    window_s: tuple[float, float] | None = None
    beats: tuple[int, ...] = ()
    values: dict[str, float | str | None] = Field(default_factory=dict,
                                                  description="name (unit in the name, e.g. qrs_ms) -> value")
    criteria: str | None = None


class StepRecord(_Frozen):
    """What one graph node did: the grounding trail the report cites."""

    id: str = Field(description="unique within the run, e.g. 'measure-1'")
    node: str
    status: Literal["ok", "skipped", "failed"]
    started_s: float = Field(description="seconds since the run started")
    duration_s: float
    summary: str
    error: str | None = None


class InputDescription(_Frozen):
    """What the user gave and what the agent could read of it."""

    kind: Literal["image", "record"]
    name: str
    size_bytes: int
    image_px: tuple[int, int] | None = Field(None, description="(width, height) of an image input")
    layout: str | None = None
    calibration: dict[str, Any] | None = Field(None, description="px per mm / mV / s and how they were found")
    leads: tuple[str, ...] = ()
    fs_hz: float | None = None
    duration_s: float | None = None
    quality: dict[str, Any] | None = None


class MeasuredValue(_Frozen):
    """One global measurement in the clinical layout."""

    name: str = Field(description="e.g. heart_rate_bpm, pr_ms, qtc_ms.bazett, axis_deg.qrs")
    value: float | None
    unit: str
    method: str
    leads: tuple[str, ...] = ()
    beats: int | None = None
    uncertainty: float | None = Field(None, description="± in the same unit, when known")
    not_measurable: str | None = Field(None, description="why value is null")
    step: str


class Statement(_Frozen):
    """One line of the interpretation, with its provenance and evidence."""

    text: str
    code: str | None = Field(None, description="tools.vocabulary code, when the statement is diagnostic")
    category: str
    source: Source
    confidence: Literal["high", "medium", "low"]
    evidence: Evidence = Evidence()
    steps: tuple[str, ...] = Field(description="ids of the step records behind the statement")


class Dispute(_Frozen):
    """A model claim that disagreed with a measurement, and how it was resolved."""

    claim: str
    quantity: str
    model_value: float | str | None
    measured_value: float | str | None
    tolerance: str
    requery_question: str | None = None
    requery_answer: str | None = None
    resolution: Literal["model_revised", "model_maintained", "not_requeried", "measurement_low_quality"]
    final_source: Source
    evidence: Evidence = Evidence()


class ModelTurn(_Frozen):
    """A question put to the MLLM and its raw answer."""

    purpose: str
    question: str
    answer: str | None
    model: str | None
    latency_s: float | None
    error: str | None = None
    step: str


class FollowUpAnswer(_Frozen):
    """The answer to a follow-up question on a stored interpretation."""

    thread_id: str
    question: str
    answer: str
    statements: tuple[Statement, ...] = ()
    model_answer: str | None = None


class Provenance(_Frozen):
    """Versions, configuration and timings, for reproducibility."""

    agent_version: str
    packages: dict[str, str]
    model: str | None
    tools: dict[str, bool]
    config: dict[str, Any]
    total_s: float


class GroundedReport(_Frozen):
    """The agent's report on one ECG. JSON schema: docs/report.schema.json."""

    report_version: Literal["1"] = "1"
    thread_id: str
    input: InputDescription
    refused: str | None = Field(None, description="why the input could not be interpreted at all (else null)")
    summary: str = Field(description="one paragraph a clinician reads first")
    global_measurements: tuple[MeasuredValue, ...] = ()
    lead_matrix: dict[str, dict[str, float | None]] = Field(default_factory=dict,
                                                           description="lead -> per-lead values (mV, ms)")
    statements: tuple[Statement, ...] = ()
    disputes: tuple[Dispute, ...] = ()
    model_answers: tuple[ModelTurn, ...] = ()
    measurements: dict[str, Any] | None = Field(None, description="the `ecg-agent measure --json` object, unchanged")
    digitization: dict[str, Any] | None = None
    followups: tuple[FollowUpAnswer, ...] = Field((), description="questions asked on this ECG and their answers")
    warnings: tuple[str, ...] = ()
    technical_flags: tuple[str, ...] = ()
    over_read: str = OVER_READ
    steps: tuple[StepRecord, ...] = ()
    provenance: Provenance
    figures: dict[str, str] = Field(default_factory=dict, description="name -> image data URL (overlay, median_beats) for the HTML page")


if __name__ == "__main__":  # python -m agent.report > docs/report.schema.json
    import json

    print(json.dumps(GroundedReport.model_json_schema(), indent=2))
