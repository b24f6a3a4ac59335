"""The graph's state: a narrow input schema and the typed state the nodes read and update.

Everything in the state is serialisable (bytes, pydantic models, JSON-like dicts), so the SQLite
checkpointer can keep a thread and a clinician can ask follow-ups on the same ECG later. Lists
that several nodes append to (steps, warnings, model turns) have an ``operator.add`` reducer.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.config import ToolSwitches
from agent.crosscheck import Check
from agent.report import Dispute, GroundedReport, ModelTurn, StepRecord

__all__ = ["AgentInput", "AgentState"]


class AgentInput(BaseModel):
    """What a run is given: a new ECG (kind, name, bytes) and/or a question.

    A record arrives as NPZ bytes (``tools.record_io.recording_to_bytes``); an image as the file's
    own bytes. A follow-up on an existing thread gives only ``question``.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["image", "record"] | None = None
    name: str | None = None
    data: bytes | None = None
    question: str | None = None
    tools: ToolSwitches | None = None
    thread_id: str | None = Field(None, description="the checkpointer thread (set by the API)")
    started_at: float | None = Field(None, description="epoch seconds the run started (set by the API)")


class AgentState(AgentInput):
    """The full state of one thread."""

    image: bytes | None = Field(None, description="the PNG/JPEG the MLLM sees (the input, or a rendering of a record)")
    image_px: tuple[int, int] | None = None
    recording: bytes | None = Field(None, description="NPZ bytes of the signal measured (input or digitized)")
    digitization: dict[str, Any] | None = None
    measurements: dict[str, Any] | None = None
    figures: Annotated[dict[str, str], operator.or_] = Field(default_factory=dict)
    refused: str | None = Field(None, description="why the input cannot be interpreted at all")
    model_turns: Annotated[list[ModelTurn], operator.add] = Field(default_factory=list)
    claims: list[dict[str, Any]] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    disputes: list[Dispute] = Field(default_factory=list)
    steps: Annotated[list[StepRecord], operator.add] = Field(default_factory=list)
    warnings: Annotated[list[str], operator.add] = Field(default_factory=list)
    report: GroundedReport | None = None
