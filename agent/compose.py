"""Compose the grounded report from a finished run's state.

Rules: a measured number or finding is stated with the step that measured it; a model claim the
measurement confirms is ``agreed``; one it contradicts is ``disputed`` and shown beside the
measured evidence (the measurement is never silently overridden, nor silently overrides a
low-quality measurement); a claim nothing could check is ``model`` with low confidence, never
presented as measured. A number with no step record behind it is left out.
"""

from __future__ import annotations

import functools
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from agent.context import AgentContext
from agent.crosscheck import Check, evidence_from, low_quality, why_not_measured
from agent.report import (
    Dispute,
    GroundedReport,
    InputDescription,
    MeasuredValue,
    Provenance,
    Statement,
)
from agent.state import AgentState
from tools.vocabulary import LABELS

__all__ = ["compose_report", "GLOBAL_ROWS"]

# name, path in the measurement JSON, unit, method
GLOBAL_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("heart_rate_bpm", "heart_rate_bpm", "bpm", "60 / mean RR of all beats"),
    ("atrial_rate_bpm", "atrial_rate_bpm", "bpm", "60 / mean PP"),
    ("rr_ms", "rr_ms", "ms", "mean RR"),
    ("p_duration_ms", "p_duration_ms", "ms", "global P onset to P offset on median beats"),
    ("pr_ms", "pr_ms", "ms", "global P onset to QRS onset on median beats"),
    ("qrs_ms", "qrs_ms", "ms", "global QRS onset to offset on median beats"),
    ("qt_ms", "qt_ms", "ms", "global QRS onset to T offset on median beats"),
    ("qtc_ms.bazett", "qtc_ms.bazett", "ms", "Bazett QT/sqrt(RR)"),
    ("qtc_ms.fridericia", "qtc_ms.fridericia", "ms", "Fridericia QT/RR^(1/3)"),
    ("qtc_ms.framingham", "qtc_ms.framingham", "ms", "Framingham QT + 154 (1 - RR)"),
    ("qtc_ms.hodges", "qtc_ms.hodges", "ms", "Hodges QT + 1.75 (HR - 60)"),
    ("axis_deg.p", "axis_deg.p", "deg", "frontal P axis from limb-lead P areas"),
    ("axis_deg.qrs", "axis_deg.qrs", "deg", "frontal QRS axis from limb-lead QRS areas"),
    ("axis_deg.t", "axis_deg.t", "deg", "frontal T axis from limb-lead T areas"),
)


def _get(data: dict[str, Any] | None, path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _step_id(state: AgentState, node: str) -> str | None:
    ids = [step.id for step in state.steps if step.node == node and step.status == "ok"]
    return ids[-1] if ids else None


def _input(state: AgentState) -> InputDescription:
    digit = state.digitization or {}
    meas = state.measurements or {}
    return InputDescription(
        kind=state.kind or "record", name=state.name or "(none)", size_bytes=len(state.data or b""),
        image_px=state.image_px if state.kind == "image" else None,
        layout=_get(digit, "layout.name"), calibration=digit.get("calibration"),
        leads=tuple(meas.get("leads_present") or digit.get("leads_found") or ()),
        fs_hz=meas.get("fs_hz"), duration_s=meas.get("duration_s"),
        quality=meas.get("quality"))


def _globals(state: AgentState, step: str | None) -> tuple[MeasuredValue, ...]:
    meas = state.measurements
    if meas is None or step is None:
        return ()
    rows = []
    for name, path, unit, method in GLOBAL_ROWS:
        value = _get(meas.get("global"), path)
        if isinstance(value, (int, float)) or value is None:
            why = why_not_measured(meas, f"global.{path}") if value is None else None
            rows.append(MeasuredValue(name=name, value=None if value is None else round(float(value), 1), unit=unit,
                                      method=method, leads=tuple(meas.get("leads_present") or ()),
                                      beats=_get(meas, "rhythm.n_beats"),
                                      not_measurable=(why or "not measurable") if value is None else None, step=step))
    return tuple(rows)


def _lead_matrix(meas: dict[str, Any] | None) -> dict[str, dict[str, float | None]]:
    leads = (meas or {}).get("leads") or {}
    if isinstance(leads, list):
        leads = {row.get("lead"): row for row in leads if isinstance(row, dict)}
    return {lead: {k: v for k, v in row.items() if (isinstance(v, (int, float)) and not isinstance(v, bool))
                   or v is None} for lead, row in leads.items() if isinstance(row, dict)}


def _measured_statements(state: AgentState, step: str, checks: dict[str, Check], confidence: str) -> list[Statement]:
    meas = state.measurements or {}
    out = []
    rhythm = meas.get("rhythm") or {}
    label = rhythm.get("label")
    entries = [{"code": label, "text": LABELS[label].name if label in LABELS else None,
                "criteria": None, "evidence": rhythm.get("evidence")}]
    if (underlying := rhythm.get("underlying")) in LABELS:  # the atrial rhythm beneath a paced one
        entries.append({"code": underlying, "text": f"{LABELS[underlying].name} beneath the paced rhythm",
                        "criteria": None, "evidence": rhythm.get("evidence")})
    entries += [s for s in meas.get("statements") or [] if isinstance(s, dict) and s.get("code") not in (label, underlying)]
    for entry in entries:
        code = entry.get("code")
        if not code:
            continue
        check = checks.get(code)
        source = "measured"
        if check is not None:
            source = "agreed" if check.verdict == "agreed" and not check.negated else \
                "disputed" if check.verdict == "disputed" else "measured"
        evidence = evidence_from(entry.get("evidence"), entry.get("criteria"))
        out.append(Statement(text=str(entry.get("text") or LABELS[code].name if code in LABELS else code),
                             code=code, category=LABELS[code].category if code in LABELS else "other",
                             source=source, confidence="high" if source == "agreed" else confidence,  # type: ignore[arg-type]
                             evidence=evidence, steps=tuple(s for s in (step, _step_id(state, "crosscheck")) if s)))
    return out


def _claim_statements(state: AgentState, stated_codes: set[str]) -> list[Statement]:
    model_step = _step_id(state, "ask_model")
    check_step = _step_id(state, "crosscheck")
    out = []
    checks = state.checks or [None] * len(state.claims)
    for claim, check in zip(state.claims, checks, strict=False):
        if check is not None and check.key in stated_codes:
            continue  # already shown as a measured statement with its source
        if check is None or check.verdict == "unverifiable":
            why = check.reason if check is not None else "not cross-checked"
            text = f"Model (unverified: {why}): {claim.get('text')}"
            out.append(Statement(text=text, code=claim.get("code"), category=claim.get("kind", "model"),
                                 source="model", confidence="low", steps=(model_step,) if model_step else ()))
        elif check.negated and check.verdict == "agreed":
            continue  # "no atrial fibrillation" that the measurement confirms adds nothing
        else:
            source = check.verdict if check.verdict == "disputed" else "agreed"
            text = f"{claim.get('text')} — {check.reason}"
            out.append(Statement(text=text, code=claim.get("code"), category=claim.get("kind", "model"),
                                 source=source, confidence="high" if source == "agreed" else "medium",  # type: ignore[arg-type]
                                 evidence=check.evidence,
                                 steps=tuple(s for s in (model_step, check_step, _step_id(state, "measure")) if s)))
    return out


def _disputes(state: AgentState) -> tuple[Dispute, ...]:
    asked = {d.claim for d in state.disputes}
    rest = [Dispute(claim=c.claim_text, quantity=c.key, model_value=c.model_value, measured_value=c.measured_value,
                    tolerance=c.tolerance, resolution="measurement_low_quality" if c.low_quality else "not_requeried",
                    final_source="disputed", evidence=c.evidence)
            for c in state.checks if c.verdict == "disputed" and c.claim_text not in asked]
    return tuple(state.disputes) + tuple(rest)


def _summary(state: AgentState, statements: list[Statement], disputes: tuple[Dispute, ...]) -> str:
    if state.refused:
        return f"The input could not be interpreted: {state.refused}"
    parts = []
    meas = state.measurements
    if meas:
        rate = _get(meas, "global.heart_rate_bpm")
        label = _get(meas, "rhythm.label")
        why = why_not_measured(meas, "rhythm.label")
        name = LABELS[label].name if label in LABELS else "rhythm not classified" + (f" ({why})" if why else "")
        if (underlying := _get(meas, "rhythm.underlying")) in LABELS:
            name += f" (underlying {LABELS[underlying].name})"
        parts.append(f"{name[0].upper()}{name[1:]}" + (f" at {rate:.0f} bpm" if isinstance(rate, (int, float)) else "") + ".")
        findings = [s.text for s in statements if s.source in ("measured", "agreed") and s.code
                    and s.category not in ("rhythm", "axis") and s.code != "normal_ecg"]
        if findings:
            parts.append("Findings: " + "; ".join(findings) + ".")
        elif why := why_not_measured(meas, "global.qrs_ms"):
            parts.append(f"Intervals not measured ({why}).")
        else:
            parts.append("No abnormal measured finding.")
    else:
        parts.append("No measurement was possible; any statement below comes from the model alone.")
    if disputes:
        parts.append(f"{len(disputes)} model claim(s) disagreed with the measurements (see disputes).")
    if not any(turn.answer for turn in state.model_turns):
        parts.append("No MLLM answer was used.")
    return " ".join(parts)


@functools.cache
def _packages() -> dict[str, str]:
    out = {}
    for name in ("ecg-agent", "neurokit2", "langgraph", "transformers", "numpy", "opencv-python-headless"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def compose_report(state: AgentState, context: AgentContext) -> GroundedReport:
    """The GroundedReport of a finished run (pure apart from reading package versions)."""
    cfg = context.config
    tools = state.tools or cfg.tools
    measure_step = _step_id(state, "measure")
    confidence = "low" if low_quality(state.measurements) else "medium" if state.kind == "image" else "high"
    label_checks = {c.key: c for c in state.checks if c.kind in ("rhythm", "diagnosis", "axis") and c.key in LABELS}
    measured = _measured_statements(state, measure_step, label_checks, confidence) if measure_step else []
    statements = measured + _claim_statements(state, {s.code for s in measured if s.code})
    disputes = _disputes(state)
    flags = tuple(_get(state.measurements, "quality.flags") or ())
    return GroundedReport(
        thread_id=state.thread_id or "", input=_input(state), refused=state.refused,
        summary=_summary(state, statements, disputes), global_measurements=_globals(state, measure_step),
        lead_matrix=_lead_matrix(state.measurements), statements=tuple(statements), disputes=disputes,
        model_answers=tuple(state.model_turns), measurements=state.measurements, digitization=state.digitization,
        warnings=tuple(dict.fromkeys(state.warnings)), technical_flags=flags, steps=tuple(state.steps),
        figures=dict(state.figures),
        provenance=Provenance(agent_version=_packages()["ecg-agent"], packages=_packages(),
                              model=context.mllm.name if context.mllm is not None else None,
                              tools=tools.model_dump(), config=cfg.model_dump(mode="json", exclude={"checkpoint_path"}),
                              total_s=round(time.time() - (state.started_at or time.time()), 3)),
    )
