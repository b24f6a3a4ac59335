"""The run context: the configuration and the clients a run uses, injected (never global)."""

from __future__ import annotations

from dataclasses import dataclass

from agent.config import AgentConfig
from models.client import MLLMClient

__all__ = ["AgentContext"]


@dataclass(frozen=True)
class AgentContext:
    """Passed to every node through LangGraph's runtime context.

    Attributes
    ----------
    config : AgentConfig
        Stage configurations, tolerances, limits and timeouts.
    mllm : MLLMClient or None
        The PULSE client (vLLM / OpenAI-compatible HTTP, in-process transformers, or a test
        double); None means no model is configured and the report says so.
    """

    config: AgentConfig
    mllm: MLLMClient | None = None
