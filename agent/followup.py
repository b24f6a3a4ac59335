"""Answer a clinician's follow-up question on a stored interpretation.

The answer is built from the stored report: the statements and global measurements whose topic
the question names, each with its evidence and source. When a model is configured, it is asked
too, and its claims are cross-checked like the first time; its answer is shown as the model's.
"""

from __future__ import annotations

import re

from agent.context import AgentContext
from agent.crosscheck import check_claims
from agent.report import FollowUpAnswer, GroundedReport, MeasuredValue, Statement
from agent.report_views import evidence_text
from agent.state import AgentState
from models.claims import parse_claims
from models.errors import ModelError

__all__ = ["answer_followup", "TOPICS"]

# topic -> (words that name it, statement categories/codes, global measurement names)
TOPICS: dict[str, tuple[str, set[str], set[str]]] = {
    "qt": (r"\bqtc?\b|repolari", {"long_qt", "short_qt", "repolarization"}, {"qt_ms", "qtc_ms.bazett",
           "qtc_ms.fridericia", "qtc_ms.framingham", "qtc_ms.hodges", "heart_rate_bpm"}),
    "st": (r"\bst\b|ischemi|ischaemi|infarct|injury|elevation|depression", {"ischemia"}, set()),
    "rhythm": (r"rhythm|rate|fibrillation|flutter|brady|tachy|sinus|\baf\b|irregular|beat",
               {"rhythm", "ectopy"}, {"heart_rate_bpm", "atrial_rate_bpm", "rr_ms"}),
    "axis": (r"axis|deviation", {"axis", "lafb"}, {"axis_deg.p", "axis_deg.qrs", "axis_deg.t"}),
    "conduction": (r"\bpr\b|av block|heart block|bundle|bbb|qrs|conduction|wenckebach|mobitz|fascic",
                   {"conduction"}, {"pr_ms", "qrs_ms", "p_duration_ms"}),
    "hypertrophy": (r"lvh|hypertroph|voltage|sokolow|cornell", {"hypertrophy", "voltage"}, set()),
}


def _matches(statement: Statement, categories: set[str]) -> bool:
    return statement.category in categories or (statement.code or "") in categories


def _line(statement: Statement) -> str:
    return f"{statement.text} [{statement.source}] — {evidence_text(statement)}"


def _value_line(row: MeasuredValue) -> str:
    if row.value is None:
        return f"{row.name}: not measurable ({row.not_measurable})"
    return f"{row.name} = {row.value:g} {row.unit} ({row.method})"


def grounded_answer(report: GroundedReport, question: str) -> tuple[str, tuple[Statement, ...]]:
    """The part of the report that answers ``question``, as text and the statements it cites."""
    text = question.lower()
    topics = [name for name, (pattern, _, _) in TOPICS.items() if re.search(pattern, text)]
    if re.search(r"disput|disagree|model|pulse", text) and report.disputes:
        lines = [f"Dispute: {d.claim} — model {d.model_value}, measured {d.measured_value} "
                 f"(tolerance {d.tolerance}); resolution: {d.resolution}" for d in report.disputes]
        return "\n".join(lines), ()
    if not topics:
        return report.summary, tuple(s for s in report.statements if s.source != "model")
    categories = set().union(*(TOPICS[t][1] for t in topics))
    names = set().union(*(TOPICS[t][2] for t in topics))
    cited = tuple(s for s in report.statements if _matches(s, categories))
    lines = [_line(s) for s in cited] + [_value_line(r) for r in report.global_measurements if r.name in names]
    if not lines:
        return f"The report has no finding on {', '.join(topics)}. {report.summary}", ()
    return "\n".join(lines), cited


async def answer_followup(state: AgentState, context: AgentContext) -> FollowUpAnswer:
    """Answer ``state.question`` from ``state.report`` and, if configured, the model."""
    report, question = state.report, state.question or ""
    answer, cited = grounded_answer(report, question)
    model_text = None
    tools = state.tools or context.config.tools
    if context.mllm is not None and tools.mllm and state.image is not None:
        try:
            reply = await context.mllm.ask(state.image, question, context.config.generation)
        except ModelError as exc:
            answer += f"\n(The model could not be asked: {exc})"
        else:
            model_text = reply.text
            checks = check_claims(parse_claims(reply.text), state.measurements, context.config.tolerances)
            verdicts = "; ".join(f"{c.claim_text!r}: {c.verdict} ({c.reason})" for c in checks)
            answer += f"\nModel: {reply.text}" + (f"\nCross-check of the model's answer: {verdicts}" if verdicts else "")
    return FollowUpAnswer(thread_id=state.thread_id or "", question=question, answer=answer,
                          statements=cited, model_answer=model_text)
