"""The LangGraph graph: ingest -> (digitize -> measure || ask the model) -> cross-check ->
bounded re-query -> report; a follow-up question on a stored thread goes straight to the answer.

::

    START ─┬─(thread already reported: a follow-up question)──────────────────> followup ─> END
           └─> ingest ─┬─(refused)────────────────────────────────────────────────> report
                       ├─(image)──> digitize ─> measure ─┐
                       ├─(record)────────────> measure ──┼─> crosscheck ─┬─(disputes)─> requery ─> report
                       └────────────────────> ask_model ─┘               └──────────────────────> report
           report ─┬─(a question came with the ECG)─> followup ─> END
                   └─> END

Retries: only the model nodes retry, and only on what a retry can fix (an unreachable model, a
node timeout); the HTTP client already retries connection errors and 5xx itself. The tools are
deterministic, so a retry would give the same answer: they get a timeout and no retry. Whatever
still fails goes to :func:`agent.nodes.recover`, which records it and carries on, or re-raises
a bug.
"""

from __future__ import annotations

from typing import Literal

from langgraph.errors import NodeTimeoutError
from langgraph.graph import END, START, StateGraph
from langgraph.types import Checkpointer, RetryPolicy

from agent import nodes
from agent.config import AgentConfig
from agent.context import AgentContext
from agent.state import AgentInput, AgentState
from models.errors import ModelUnavailableError

__all__ = ["build_graph"]


def route_start(state: AgentState) -> Literal["followup", "ingest"]:
    """A run on a thread that already has a report is a follow-up question; anything else is new."""
    return "followup" if state.report is not None else "ingest"


def route_input(state: AgentState) -> list[str]:
    """Refused input goes to the report; images are digitized, records measured directly; the
    model branch always runs beside (it skips itself when switched off or absent)."""
    if state.refused:
        return ["report"]
    return ["digitize" if state.kind == "image" else "measure", "ask_model"]


def route_disputes(state: AgentState) -> Literal["requery", "report"]:
    """Re-ask the model about disputed claims, once, if there are any and a model answered."""
    has_dispute = any(check.verdict == "disputed" for check in state.checks)
    model_answered = any(turn.answer for turn in state.model_turns)
    return "requery" if has_dispute and model_answered else "report"


def route_question(state: AgentState) -> Literal["followup", "__end__"]:
    """A question asked with the ECG is answered right after the report."""
    return "followup" if state.question else END


def _retry_model(exc: Exception) -> bool:
    return isinstance(exc, (ModelUnavailableError, NodeTimeoutError))


def build_graph(config: AgentConfig, checkpointer: Checkpointer = None):
    """Compile the agent graph for ``config`` (timeouts and retries come from it).

    Clients are not part of the graph: pass them per run as ``context=AgentContext(...)``.
    """
    model_retry = RetryPolicy(max_attempts=config.model_attempts, initial_interval=1.0, retry_on=_retry_model)
    graph = StateGraph(AgentState, input_schema=AgentInput, context_schema=AgentContext)
    graph.add_node("ingest", nodes.ingest, error_handler=nodes.recover, timeout=config.digitize_timeout_s)
    graph.add_node("digitize", nodes.digitize_node, error_handler=nodes.recover, timeout=config.digitize_timeout_s)
    graph.add_node("measure", nodes.measure_node, error_handler=nodes.recover, timeout=config.measure_timeout_s)
    graph.add_node("ask_model", nodes.ask_model, error_handler=nodes.recover, timeout=config.model_timeout_s,
                   retry_policy=model_retry)
    graph.add_node("crosscheck", nodes.crosscheck_node, error_handler=nodes.recover)
    graph.add_node("requery", nodes.requery, error_handler=nodes.recover, timeout=config.model_timeout_s,
                   retry_policy=model_retry)
    graph.add_node("report", nodes.report_node)
    graph.add_node("followup", nodes.followup_node, timeout=config.model_timeout_s)

    graph.add_conditional_edges(START, route_start, ["followup", "ingest"])
    graph.add_conditional_edges("ingest", route_input, ["digitize", "measure", "ask_model", "report"])
    graph.add_edge("digitize", "measure")
    graph.add_edge(["measure", "ask_model"], "crosscheck")
    graph.add_conditional_edges("crosscheck", route_disputes, ["requery", "report"])
    graph.add_edge("requery", "report")
    graph.add_conditional_edges("report", route_question, ["followup", END])
    graph.add_edge("followup", END)
    return graph.compile(checkpointer=checkpointer, name="ecg-agent")
