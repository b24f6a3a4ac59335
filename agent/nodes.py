"""The graph's nodes. Each reads the state, does one job, and appends a step record.

A failure the run can act on (bad input, an image with no ECG, a record that supports no
measurement, an unreachable model) becomes a typed observation: a ``failed`` step record and a
warning, and the run goes on with what it has. Anything else is a bug and stops the run.
CPU-bound tools run in a worker thread so node timeouts fire and the MLLM branch proceeds in
parallel.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langgraph.errors import NodeError, NodeTimeoutError
from langgraph.runtime import Runtime
from langgraph.types import Command

from agent import figures
from agent.compose import compose_report
from agent.context import AgentContext
from agent.crosscheck import Check, check_claims
from agent.followup import answer_followup
from agent.report import Dispute, ModelTurn, StepRecord
from agent.state import AgentState
from models import prompts
from models.claims import Claim, parse_claims
from models.client import ModelAnswer
from models.errors import ModelError
from tools.digitize import digitize
from tools.digitize.page_image import load_page_image
from tools.errors import ECGError
from tools.measure import measure
from tools.record_io import recording_from_bytes, recording_to_bytes
from tools.recording import LEADS
from tools.render import render
from tools.vocabulary import LABELS

__all__ = ["ingest", "digitize_node", "measure_node", "ask_model", "crosscheck_node", "requery",
           "report_node", "followup_node", "recover"]

Update = dict[str, Any]


def _step(state: AgentState, node: str, status: str, started: float, summary: str,
          error: str | None = None) -> StepRecord:
    count = sum(1 for step in state.steps if step.node == node)
    origin = state.started_at or started
    return StepRecord(id=f"{node}-{count + 1}", node=node, status=status,  # type: ignore[arg-type]
                      started_s=round(started - origin, 4), duration_s=round(time.time() - started, 4),
                      summary=summary, error=error)


def _tools(state: AgentState, runtime: Runtime[AgentContext]):
    return state.tools or runtime.context.config.tools


# ---- ingest --------------------------------------------------------------------------------
async def ingest(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Validate the input; prepare the image the MLLM sees (a record is rendered as a page)."""
    started = time.time()
    cfg = runtime.context.config
    try:
        if state.data is None or state.kind is None:
            raise ECGError("no ECG was given (an image or a record is required)")
        if len(state.data) > cfg.max_input_bytes:
            raise ECGError(f"input is {len(state.data)} bytes; the limit is {cfg.max_input_bytes} bytes")
        if state.kind == "image":
            update = await asyncio.to_thread(_ingest_image, state.data, cfg)
        else:
            for_model = _tools(state, runtime).mllm and runtime.context.mllm is not None
            update = await asyncio.to_thread(_ingest_record, state.data, cfg, for_model)
    except ECGError as exc:
        return {"refused": str(exc), "warnings": [f"input refused: {exc}"],
                "steps": [_step(state, "ingest", "failed", started, "input refused", str(exc))]}
    summary = f"{state.kind} '{state.name}' accepted ({len(state.data)} bytes)"
    return {**update, "steps": [_step(state, "ingest", "ok", started, summary)]}


def _ingest_image(data: bytes, cfg) -> Update:
    pixels = load_page_image(data, cfg.digitize)  # validates format, size, truncation
    height, width = pixels.shape[:2]
    is_model_ready = data[:8].startswith(b"\x89PNG") or data[:3] == b"\xff\xd8\xff"
    image = data if is_model_ready else figures.encode_png(pixels)
    return {"image": image, "image_px": (width, height)}


def _ingest_record(data: bytes, cfg, for_model: bool) -> Update:
    recording = recording_from_bytes(data)  # validates; a bad record refuses the input
    update: Update = {"recording": data}
    if for_model:  # PULSE reads images: show it the record the way a printer would
        try:
            page = render(recording, cfg.render)
        except ECGError as exc:
            return {**update, "warnings": [f"the record cannot be drawn for the model ({exc}): tools only"]}
        update.update(image=figures.encode_png(page.image), image_px=(page.image.shape[1], page.image.shape[0]))
    return update


# ---- tools -----------------------------------------------------------------------------------
async def digitize_node(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Trace the image back into a calibrated 12-lead signal."""
    started = time.time()
    if not _tools(state, runtime).digitizer:
        return {"warnings": ["digitizer switched off: nothing is measured from the image"],
                "steps": [_step(state, "digitize", "skipped", started, "digitizer switched off")]}
    try:
        result, overlay = await asyncio.to_thread(_digitize_with_overlay, state.data, runtime.context.config.digitize)
    except ECGError as exc:
        return {"warnings": [f"digitization failed: {exc}"],
                "steps": [_step(state, "digitize", "failed", started, "no signal traced", str(exc))]}
    summary = result.summary()
    traced = [lead for lead, conf in summary.get("lead_confidence", {}).items() if conf and conf > 0]
    text = f"traced {len(traced)} leads, layout {summary.get('layout', {}).get('name', '?')}"
    return {"recording": recording_to_bytes(result.recording), "digitization": summary,
            "figures": {"overlay": overlay}, "warnings": [f"digitizer: {w}" for w in result.warnings],
            "steps": [_step(state, "digitize", "ok", started, text)]}


def _digitize_with_overlay(data: bytes, config) -> tuple[Any, str]:
    pixels = load_page_image(data, config)  # decoded once for both
    result = digitize(pixels, config)
    return result, figures.overlay_data_url(pixels, result)


async def measure_node(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Measure global intervals, axes, rhythm and statements on the signal."""
    started = time.time()
    if not _tools(state, runtime).measurement:
        return {"steps": [_step(state, "measure", "skipped", started, "measurement switched off")]}
    if state.recording is None:
        return {"steps": [_step(state, "measure", "skipped", started, "no signal to measure")]}
    try:
        recording = recording_from_bytes(state.recording)
        result = await asyncio.to_thread(measure, recording, runtime.context.config.measure)
    except ECGError as exc:
        return {"warnings": [f"measurement failed: {exc}"],
                "steps": [_step(state, "measure", "failed", started, "nothing measurable", str(exc))]}
    data = result.to_json_dict()
    medians = await asyncio.to_thread(figures.median_beats_data_url, result)
    rhythm = (data.get("rhythm") or {}).get("label")
    rate = (data.get("global") or {}).get("heart_rate_bpm")
    text = f"rhythm {rhythm}, rate {rate if rate is None else round(rate)} bpm, {len(data.get('statements') or [])} statements"
    return {"measurements": data, "figures": {"median_beats": medians},
            "steps": [_step(state, "measure", "ok", started, text)]}


# ---- the model -------------------------------------------------------------------------------
def _turns(state: AgentState, step_id: str, purposes: list[str], questions: list[str],
           answers: list[ModelAnswer | ModelError]) -> list[ModelTurn]:
    turns = []
    for purpose, question, answer in zip(purposes, questions, answers, strict=True):
        if isinstance(answer, ModelError):
            turns.append(ModelTurn(purpose=purpose, question=question, answer=None, model=None,
                                   latency_s=None, error=str(answer), step=step_id))
        else:
            turns.append(ModelTurn(purpose=purpose, question=question, answer=answer.text, model=answer.model,
                                   latency_s=answer.latency_s, step=step_id))
    return turns


async def ask_model(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Ask PULSE the configured questions about the image and parse its claims."""
    started = time.time()
    client, cfg = runtime.context.mllm, runtime.context.config
    if not _tools(state, runtime).mllm or client is None:
        why = "MLLM switched off" if client is not None else "no MLLM configured"
        return {"warnings": [f"{why}: the report rests on the tools alone"],
                "steps": [_step(state, "ask_model", "skipped", started, why)]}
    if state.image is None:
        return {"steps": [_step(state, "ask_model", "skipped", started, "no image for the model")]}
    questions = [prompts.question(name) for name in cfg.questions]
    answers = await client.ask_many([(state.image, q) for q in questions], cfg.generation)
    step = _step(state, "ask_model", "ok", started, "")
    turns = _turns(state, step.id, list(cfg.questions), questions, answers)
    claims = _unique_claims(turn.answer for turn in turns if turn.answer)
    failed = [turn for turn in turns if turn.error]
    status = "failed" if len(failed) == len(turns) else "ok"
    summary = f"{len(turns) - len(failed)}/{len(turns)} answers from {client.name}, {len(claims)} claims"
    warnings = [f"MLLM unreachable or failing ({failed[0].error}): the report rests on the tools alone"] \
        if status == "failed" else []
    step = step.model_copy(update=dict(status=status, summary=summary, duration_s=round(time.time() - started, 4),
                                       error=failed[0].error if failed else None))
    return {"model_turns": turns, "claims": [c.model_dump(mode="json") for c in claims],
            "warnings": warnings, "steps": [step]}


def _unique_claims(texts) -> list[Claim]:
    seen: dict[tuple, Claim] = {}
    for text in texts:
        for claim in parse_claims(text):
            key = (claim.kind, claim.code, claim.quantity, claim.negated)
            seen.setdefault(key, claim)  # the first statement of a fact wins (the report comes first)
    return list(seen.values())


# ---- cross-check and re-query ----------------------------------------------------------------
async def crosscheck_node(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Compare each model claim with the measurements."""
    started = time.time()
    if not state.claims:
        return {"steps": [_step(state, "crosscheck", "skipped", started, "no model claims to check")]}
    if not _tools(state, runtime).crosscheck:
        return {"steps": [_step(state, "crosscheck", "skipped", started, "cross-check switched off: claims unverified")]}
    claims = [Claim.model_validate(c) for c in state.claims]
    checks = check_claims(claims, state.measurements, runtime.context.config.tolerances)
    counts = {v: sum(c.verdict == v for c in checks) for v in ("agreed", "disputed", "unverifiable")}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items())
    return {"checks": checks, "steps": [_step(state, "crosscheck", "ok", started, summary)]}


async def requery(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Show the model the measured evidence for each disputed claim and ask once more."""
    started = time.time()
    cfg, client = runtime.context.config, runtime.context.mllm
    disputed = [(i, c) for i, c in enumerate(state.checks) if c.verdict == "disputed"][: cfg.max_requeries]
    questions = [_followup_for(check, state.measurements or {}) for _, check in disputed]
    answers = await client.ask_many([(state.image, q) for q in questions], cfg.generation)
    step = _step(state, "requery", "ok", started, "")
    turns = _turns(state, step.id, [f"requery {c.key}" for _, c in disputed], questions, answers)
    checks, disputes = list(state.checks), []
    for (index, check), turn in zip(disputed, turns, strict=True):
        revised = _revisit(check, turn.answer, state, cfg)
        checks[index] = revised
        disputes.append(_dispute(check, revised, turn))
    summary = f"{len(disputed)} disputes re-asked, {sum(d.resolution == 'model_revised' for d in disputes)} revised"
    step = step.model_copy(update=dict(summary=summary, duration_s=round(time.time() - started, 4)))
    return {"checks": checks, "disputes": disputes, "model_turns": turns, "steps": [step]}


_QUANTITY_NAMES = {"heart_rate_bpm": "heart rate", "atrial_rate_bpm": "atrial rate", "pr_ms": "PR interval",
                   "qrs_ms": "QRS duration", "qt_ms": "QT interval", "qtc_ms": "QTc (Bazett)",
                   "p_duration_ms": "P-wave duration", "qrs_axis_deg": "QRS axis", "p_axis_deg": "P axis",
                   "t_axis_deg": "T axis"}


def _followup_for(check: Check, measurements: dict[str, Any]) -> str:
    """The targeted question that shows the model the measured evidence behind a dispute."""
    if check.key in _QUANTITY_NAMES:
        topic = _QUANTITY_NAMES[check.key]
        unit = check.key.rsplit("_", 1)[1].replace("deg", "degrees")
        fact = f"{topic} is {check.measured_value:.0f} {unit}"
    else:
        topic = LABELS[check.key].name if check.key in LABELS else check.key
        shown = check.measured_value == check.key
        fact = f"findings {'show' if shown else 'do not show'} {topic} ({check.reason})"
    leads = list(check.evidence.leads) or list(measurements.get("leads_present") or LEADS)
    evidence = check.evidence.criteria or ", ".join(f"{k} = {v}" for k, v in check.evidence.values.items()) \
        or "global measurement on the median beat of all leads"
    return prompts.followup_question(measurement=fact, leads=[lead for lead in leads if lead in LEADS],
                                     evidence=evidence, topic=topic)


def _revisit(check: Check, answer: str | None, state: AgentState, cfg) -> Check:
    """The check after the model's second answer: agreed if it now matches the measurement."""
    if not answer:
        return check
    again = [c for c in parse_claims(answer) if (c.quantity or c.code) == check.key]
    if not again:
        return check
    rechecked = check_claims(again[:1], state.measurements, cfg.tolerances)[0]
    return rechecked if rechecked.verdict == "agreed" else check


def _dispute(before: Check, after: Check, turn: ModelTurn) -> Dispute:
    if before.low_quality:
        resolution, final = "measurement_low_quality", "disputed"
    elif turn.answer is None:
        resolution, final = "not_requeried", "disputed"
    elif after.verdict == "agreed":
        resolution, final = "model_revised", "agreed"
    else:
        resolution, final = "model_maintained", "disputed"
    return Dispute(claim=before.claim_text, quantity=before.key, model_value=before.model_value,
                   measured_value=before.measured_value, tolerance=before.tolerance,
                   requery_question=turn.question, requery_answer=turn.answer or turn.error,
                   resolution=resolution, final_source=final, evidence=before.evidence)


# ---- report and follow-ups -------------------------------------------------------------------
async def report_node(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Write the grounded report from everything the run recorded."""
    started = time.time()
    step = _step(state, "report", "ok", started, "report written")
    report = compose_report(state.model_copy(update={"steps": [*state.steps, step]}), runtime.context)
    return {"report": report, "steps": [step]}


async def followup_node(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    """Answer a follow-up question from the stored report (and the model, when there is one)."""
    started = time.time()
    answer = await answer_followup(state, runtime.context)
    step = _step(state, "followup", "ok", started, f"answered: {state.question!r}")
    report = state.report.model_copy(update={"followups": (*state.report.followups, answer),
                                             "steps": (*state.report.steps, step)})
    return {"report": report, "steps": [step]}


# ---- observations for failures the run can act on --------------------------------------------
NEXT_AFTER_FAILURE = {"ingest": "report", "digitize": "measure", "measure": "crosscheck",
                      "ask_model": "crosscheck", "crosscheck": "report", "requery": "report"}


async def recover(state: AgentState, error: NodeError) -> Command:
    """Error handler: a timeout or model failure becomes a failed step and the run goes on.

    Anything that is not an ECGError or a node timeout is our bug: it is raised and stops the run.
    """
    exc = error.error
    if not isinstance(exc, (ECGError, NodeTimeoutError)):
        raise exc
    started = time.time()
    reason = f"{type(exc).__name__}: {exc}"
    update: Update = {"warnings": [f"{error.node} failed ({reason}); the run went on without it"],
                      "steps": [_step(state, error.node, "failed", started, "gave up", reason)]}
    if error.node == "ingest":
        update["refused"] = reason
    return Command(update=update, goto=NEXT_AFTER_FAILURE[error.node])
