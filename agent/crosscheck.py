"""Claim-by-claim cross-check of the MLLM's statements against the measurement tool.

Pure functions: parsed claims (models.claims.Claim) and the measurement tool's JSON object in,
one :class:`Check` per claim out, each ``agreed``, ``disputed`` or ``unverifiable``.

Tolerances are clinical (see :class:`Tolerances`): rate within 10 % or 5 bpm, intervals within the
IEC 60601-2-25 mean-difference limits (P, PR, QRS ±10 ms; QT, QTc ±25 ms), axes within 15°.
Diagnostic and rhythm labels go through an explicit equivalence table and the measurement
criteria behind them: a label the measurement states is present; a label whose criteria were
measurable but not met is absent; a label whose criteria could not be measured is unverifiable.
A measurement the tool itself flagged as low quality never silently overrules the model: the
check says so (``low_quality``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.report import Evidence
from tools.measure import MeasureConfig
from tools.vocabulary import LABELS

__all__ = ["Tolerances", "Check", "check_claims", "measured_codes", "measured_number", "evidence_from", "low_quality",
           "why_not_measured"]

Verdict = Literal["agreed", "disputed", "unverifiable"]

SINUS = frozenset({"sinus_rhythm", "sinus_bradycardia", "sinus_tachycardia", "sinus_arrhythmia"})
AXIS_CODES = frozenset({"normal_axis", "left_axis_deviation", "right_axis_deviation", "extreme_axis_deviation"})
# Where each number a model may state lives in the measurement JSON (dotted path) and its unit.
QUANTITY_PATHS: dict[str, tuple[str, str]] = {
    "heart_rate_bpm": ("global.heart_rate_bpm", "bpm"),
    "atrial_rate_bpm": ("global.atrial_rate_bpm", "bpm"),
    "pr_ms": ("global.pr_ms", "ms"),
    "qrs_ms": ("global.qrs_ms", "ms"),
    "qt_ms": ("global.qt_ms", "ms"),
    "qtc_ms": ("global.qtc_ms.bazett", "ms"),
    "p_duration_ms": ("global.p_duration_ms", "ms"),
    "qrs_axis_deg": ("global.axis_deg.qrs", "deg"),
    "p_axis_deg": ("global.axis_deg.p", "deg"),
    "t_axis_deg": ("global.axis_deg.t", "deg"),
}
# AF needs an irregular ventricular rhythm: the measurement tool's own criterion (its default).
_AF_MIN_RR_IRREGULARITY = MeasureConfig.model_fields["af_rr_irregularity"].default
# What must have been measurable for the ABSENCE of a label to mean something.
_REQUIRES: dict[str, str] = {
    "av_block_1": "global.pr_ms", "rbbb": "global.qrs_ms", "lbbb": "global.qrs_ms",
    "ivcd": "global.qrs_ms", "lafb": "global.axis_deg.qrs", "long_qt": "global.qtc_ms.bazett",
    "short_qt": "global.qtc_ms.bazett", "av_block_2_wenckebach": "rhythm.label",
    "av_block_2_mobitz2": "rhythm.label", "pac": "rhythm.label", "pvc": "rhythm.label",
    "lvh": "leads", "low_voltage": "leads", "st_elevation_inferior": "leads",
    "st_elevation_anterior": "leads", "st_elevation_lateral": "leads", "st_depression": "leads",
    "t_inversion": "leads",
}
# Technical flags of the measurement tool that make its numbers too weak to overrule the model.
LOW_QUALITY_FLAGS = frozenset({"high_noise", "few_beats", "flat_line", "limb_lead_reversal", "low_coverage"})
# Raw labels the claim parser emits without a code that the measurement can still decide.
LABEL_GROUPS: dict[str, tuple[str, ...]] = {
    "ST elevation": ("st_elevation_inferior", "st_elevation_anterior", "st_elevation_lateral"),
    "bundle branch block": ("rbbb", "lbbb"),
}
_ABNORMAL_IGNORED = SINUS | {"normal_axis", "normal_ecg"}
_ATRIAL_RHYTHMS = SINUS | {"atrial_fibrillation", "atrial_flutter"}


class Tolerances(BaseModel):
    """How far a model's number may be from the measurement and still agree."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate_bpm: float = Field(5.0, gt=0, description="absolute rate tolerance (bpm)")
    rate_fraction: float = Field(0.10, gt=0, description="relative rate tolerance; the larger one applies")
    p_duration_ms: float = Field(10.0, gt=0, description="IEC 60601-2-25 P duration mean limit")
    pr_ms: float = Field(10.0, gt=0, description="IEC 60601-2-25 PR mean limit")
    qrs_ms: float = Field(10.0, gt=0, description="IEC 60601-2-25 QRS mean limit")
    qt_ms: float = Field(25.0, gt=0, description="IEC 60601-2-25 QT mean limit (also used for QTc)")
    axis_deg: float = Field(15.0, gt=0, description="frontal axis tolerance (degrees)")

    def allowed(self, quantity: str, measured: float) -> float:
        """The tolerance (same unit as ``quantity``) around a measured value."""
        if quantity.endswith("_bpm"):
            return max(self.rate_bpm, self.rate_fraction * abs(measured))
        if quantity.endswith("_deg"):
            return self.axis_deg
        if quantity in ("qt_ms", "qtc_ms"):
            return self.qt_ms
        return float(getattr(self, quantity))


class Check(BaseModel):
    """The verdict on one claim."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    claim_text: str
    kind: str
    key: str = Field(description="the quantity (e.g. qrs_ms) or label code the claim is about")
    model_value: float | str | None
    negated: bool = False
    hedged: bool = False
    verdict: Verdict
    measured_value: float | str | None = None
    tolerance: str = ""
    reason: str
    low_quality: bool = False
    evidence: Evidence = Evidence()


def _get(measurements: dict[str, Any], path: str) -> Any:
    node: Any = measurements
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def why_not_measured(measurements: dict[str, Any], path: str) -> str | None:
    """The measurement's reason for the null at dotted ``path`` (a key of ``not_measurable``), or None."""
    return (measurements.get("not_measurable") or {}).get(path)


def measured_number(measurements: dict[str, Any], quantity: str) -> float | None:
    """The measured value of ``quantity`` (a key of QUANTITY_PATHS), or None if not measurable."""
    value = _get(measurements, QUANTITY_PATHS[quantity][0])
    return float(value) if isinstance(value, (int, float)) else None


def measured_codes(measurements: dict[str, Any]) -> set[str]:
    """Every label code the measurement asserts: rhythm label, AV block, ectopy and statements."""
    codes = {s.get("code") for s in measurements.get("statements") or [] if isinstance(s, dict)}
    rhythm = measurements.get("rhythm") or {}
    codes |= {rhythm.get("label"), rhythm.get("av_block"), rhythm.get("underlying")}
    codes |= {code for code, key in (("pac", "pac_count"), ("pvc", "pvc_count")) if (rhythm.get(key) or 0) > 0}
    return {c for c in codes if c in LABELS}


def _statement_evidence(measurements: dict[str, Any], code: str) -> Evidence:
    for statement in measurements.get("statements") or []:
        if isinstance(statement, dict) and statement.get("code") == code:
            return evidence_from(statement.get("evidence"), statement.get("criteria"))
    return Evidence()


def evidence_from(raw: dict[str, Any] | None, criteria: str | None = None) -> Evidence:
    """Our Evidence from the measurement JSON's evidence object (leads, beat_indices, times_s, values)."""
    raw = raw or {}
    times = [t for t in raw.get("times_s") or [] if isinstance(t, (int, float))]
    values = {k: v for k, v in (raw.get("values") or {}).items() if isinstance(v, (int, float, str)) or v is None}
    return Evidence(leads=tuple(raw.get("leads") or ()), window_s=(min(times), max(times)) if times else None,
                    beats=tuple(int(b) for b in raw.get("beat_indices") or ()), values=values,
                    criteria=criteria or raw.get("threshold") or None)


def low_quality(measurements: dict[str, Any] | None) -> bool:
    """True when the measurement flagged its own signal as too poor to overrule anyone."""
    flags = set(_get(measurements or {}, "quality.flags") or ())
    return bool(flags & LOW_QUALITY_FLAGS)


def _check_number(claim: Any, measurements: dict[str, Any], tol: Tolerances) -> Check:
    quantity = claim.quantity
    base = dict(claim_text=claim.text, kind=claim.kind, key=quantity, model_value=claim.value,
                negated=claim.negated, hedged=claim.hedged)
    if quantity not in QUANTITY_PATHS:
        return Check(**base, verdict="unverifiable", reason=f"{quantity} is not measured by the tool")
    measured = measured_number(measurements, quantity)
    path, unit = QUANTITY_PATHS[quantity]
    if measured is None:
        why = why_not_measured(measurements, path) or "not measurable on this signal"
        return Check(**base, verdict="unverifiable", reason=f"{quantity}: {why}")
    allowed = tol.allowed(quantity, measured)
    low = getattr(claim, "low", None)
    high = getattr(claim, "high", None)
    low, high = (low, high) if low is not None and high is not None else (claim.value, claim.value)
    if quantity.endswith("_deg"):  # angles wrap around
        gap = min(abs(((measured - v + 180) % 360) - 180) for v in (low, high))
        inside = low <= measured <= high
    else:
        gap, inside = min(abs(measured - low), abs(measured - high)), low <= measured <= high
    agreed = inside or gap <= allowed
    return Check(**base, verdict="agreed" if agreed else "disputed", measured_value=round(measured, 1),
                 tolerance=f"±{allowed:g} {unit}", low_quality=low_quality(measurements),
                 reason=f"model {claim.value:g} {unit} vs measured {measured:.0f} {unit} (tolerance ±{allowed:g} {unit})",
                 evidence=Evidence(values={quantity: round(measured, 1)}, criteria=f"|model − measured| ≤ {allowed:g} {unit}"))


def _presence(code: str, measurements: dict[str, Any]) -> tuple[bool | None, str]:
    """Whether the measurement shows ``code``: True, False, or None (cannot tell), with why."""
    codes = measured_codes(measurements)
    label = _get(measurements, "rhythm.label")
    if code == "sinus_rhythm" and label in SINUS:  # sinus origin, whatever the rate
        return True, f"measured rhythm {label}"
    if code in codes:
        return True, "stated by the measurement rules"
    if why := why_not_measured(measurements, f"statements.{code}"):
        return None, why
    if code == "normal_ecg":
        abnormal = sorted(codes - _ABNORMAL_IGNORED)
        return (not abnormal, "abnormal findings: " + ", ".join(abnormal) if abnormal else "no abnormal finding measured")
    if code in AXIS_CODES:
        axis = measured_number(measurements, "qrs_axis_deg")
        return (None, "QRS axis not measurable") if axis is None else (False, f"measured QRS axis {axis:.0f}°")
    if LABELS[code].category == "rhythm":
        if label is None:
            if code == "atrial_fibrillation" and (not_af := _not_af(measurements)):
                return False, not_af
            why = why_not_measured(measurements, "rhythm.label")
            return None, f"rhythm not classified: {why}" if why else "rhythm not classified"
        underlying = _get(measurements, "rhythm.underlying")
        if label == "paced_rhythm" and code in _ATRIAL_RHYTHMS:  # the pacemaker sets the rate, not the atria
            return (False, f"measured paced rhythm over {underlying}") if underlying else \
                (None, "paced rhythm: the atrial rhythm beneath the pacing is not determined")
        return False, f"measured rhythm {label}"
    need = _REQUIRES.get(code)
    if need is None or not _get(measurements, need):
        return None, f"the measurement cannot assess {LABELS[code].name}"
    return False, f"criteria for {LABELS[code].name} measured and not met"


def _not_af(measurements: dict[str, Any]) -> str | None:
    """Why a rhythm the measurement left open is still not AF (regular, or regularly irregular), or None."""
    irregularity = _get(measurements, "rhythm.rr_irregularity")
    if isinstance(irregularity, (int, float)) and irregularity <= _AF_MIN_RR_IRREGULARITY:
        return (f"rhythm not classified, but regular (RR irregularity {irregularity:.3f} <= "
                f"{_AF_MIN_RR_IRREGULARITY:g}): atrial fibrillation needs an irregular rhythm")
    if pattern := _get(measurements, "rhythm.rr_pattern_beats"):
        return (f"rhythm not classified, but regularly irregular (the RRs repeat every {pattern} beats, grouped "
                f"beating): atrial fibrillation is irregularly irregular")
    return None


def _check_label(claim: Any, measurements: dict[str, Any]) -> Check:
    code = claim.code
    base = dict(claim_text=claim.text, kind=claim.kind, key=code, model_value=code,
                negated=claim.negated, hedged=claim.hedged)
    if code not in LABELS:
        return Check(**base, verdict="unverifiable", reason=f"label {code!r} has no measurement criteria")
    present, why = _presence(code, measurements)
    if present is None:
        return Check(**base, verdict="unverifiable", reason=why)
    claimed = not claim.negated
    verdict: Verdict = "agreed" if claimed == present else "disputed"
    return Check(**base, verdict=verdict, measured_value=code if present else f"not {code}",
                 reason=why, low_quality=low_quality(measurements),
                 evidence=_statement_evidence(measurements, code))


def _check_group(claim: Any, measurements: dict[str, Any]) -> Check:
    """A territory-free label (e.g. "ST elevation"): present if any member is, absent if all are."""
    members = LABEL_GROUPS[claim.label]
    found = sorted(measured_codes(measurements) & set(members))
    base = dict(claim_text=claim.text, kind=claim.kind, key=claim.label, model_value=claim.label,
                negated=claim.negated, hedged=claim.hedged)
    why_not = why_not_measured(measurements, f"statements.{members[0]}")
    if not found and (why_not or not _get(measurements, _REQUIRES[members[0]])):
        return Check(**base, verdict="unverifiable", reason=why_not or f"the measurement cannot assess {claim.label}")
    present = bool(found)
    why = f"measured: {', '.join(found)}" if found else f"no {claim.label} by the measurement criteria"
    return Check(**base, verdict="agreed" if present != claim.negated else "disputed",
                 measured_value=", ".join(found) or f"no {claim.label}", reason=why,
                 low_quality=low_quality(measurements),
                 evidence=_statement_evidence(measurements, found[0]) if found else Evidence())


def check_claims(claims: Sequence[Any], measurements: dict[str, Any] | None, tol: Tolerances) -> list[Check]:
    """One Check per claim (models.claims.Claim-like: kind, code, quantity, value, negated, hedged, text).

    With no measurement every claim is ``unverifiable``; the claim is never presented as measured.
    """
    checks = []
    for claim in claims:
        if measurements is None:
            checks.append(Check(claim_text=claim.text, kind=claim.kind, key=claim.quantity or claim.code or claim.kind,
                                model_value=claim.value if claim.quantity else claim.code, negated=claim.negated,
                                hedged=claim.hedged, verdict="unverifiable", reason="no measurement available"))
        elif claim.quantity is not None and claim.value is not None:
            checks.append(_check_number(claim, measurements, tol))
        elif claim.code is not None:
            checks.append(_check_label(claim, measurements))
        elif getattr(claim, "label", None) in LABEL_GROUPS:
            checks.append(_check_group(claim, measurements))
        else:
            label = getattr(claim, "label", None)
            checks.append(Check(claim_text=claim.text, kind=claim.kind, key=label or claim.kind, model_value=label,
                                negated=claim.negated, hedged=claim.hedged, verdict="unverifiable",
                                reason=f"{label!r} has no measurement criteria" if label else "claim has no content"))
    return checks
