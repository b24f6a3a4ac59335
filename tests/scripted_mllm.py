"""ScriptedMLLM: a TEST DOUBLE of the PULSE client (models.client.MLLMClient), for agent tests.

It stands in for the GPU-served PULSE model, which cannot run here. It answers from a script: a
function of the question (the agent's prompts) returning the answer text, or an exception to
raise. It records every question so tests can check what the agent asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from models.client import ClientBase, GenerationParams, ModelAnswer


class ScriptedMLLM(ClientBase):
    """Test double: ``script(question) -> str | Exception``; optional delay (s) per answer."""

    def __init__(self, script: Callable[[str], str | Exception], delay_s: float = 0.0) -> None:
        self.script = script
        self.delay_s = delay_s
        self.asked: list[str] = []

    @property
    def name(self) -> str:
        return "scripted-mllm (test double)"

    async def ask(self, image: bytes, question: str, params: GenerationParams | None = None) -> ModelAnswer:
        self.asked.append(question)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        answer = self.script(question)
        if isinstance(answer, BaseException):
            raise answer
        return ModelAnswer(text=answer, model=self.name, latency_s=self.delay_s)

    async def aclose(self) -> None:
        return None


def is_followup(question: str) -> bool:
    """True for the agent's targeted re-query (it quotes a measurement back to the model)."""
    return question.startswith("The measured ") and "change your answer" in question
