"""The agent's configuration: which tools run, their stage configs, tolerances, limits and timeouts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from agent.crosscheck import Tolerances
from models.client import GenerationParams
from tools.config import FrozenConfig
from tools.digitize import DigitizeConfig
from tools.measure import MeasureConfig
from tools.render import RenderConfig

__all__ = ["ToolSwitches", "AgentConfig"]


class ToolSwitches(FrozenConfig):
    """Which tools a run may use. Researchers ablate with these; users run with all on."""

    mllm: bool = Field(True, description="ask the PULSE MLLM (needs a client)")
    digitizer: bool = Field(True, description="trace image inputs back into signals")
    measurement: bool = Field(True, description="measure intervals, axes, rhythm, statements")
    crosscheck: bool = Field(True, description="check each model claim against the measurements")

    @classmethod
    def parse(cls, spec: str) -> ToolSwitches:
        """From a CLI spec: ``"all"``, ``"none"`` or a comma list such as ``"digitizer,measurement"``."""
        names = set(cls.model_fields)
        if spec.strip() == "all":
            return cls()
        chosen = {part.strip() for part in spec.split(",") if part.strip() and part.strip() != "none"}
        unknown = chosen - names
        if unknown:
            from tools.errors import InputError
            raise InputError(f"unknown tool(s) {sorted(unknown)}; choose from {sorted(names)}, 'all' or 'none'")
        return cls(**{name: name in chosen for name in names})


class AgentConfig(FrozenConfig):
    """Everything a run of the agent depends on, passed explicitly (nothing is read from globals)."""

    tools: ToolSwitches = ToolSwitches()
    digitize: DigitizeConfig = DigitizeConfig()
    measure: MeasureConfig = MeasureConfig()
    render: RenderConfig = Field(RenderConfig(), description="how a record input is drawn for the MLLM")
    tolerances: Tolerances = Tolerances()
    generation: GenerationParams = GenerationParams()
    questions: tuple[str, ...] = Field(("report", "measurements"),
                                       description="names of models.prompts questions asked of every ECG")
    max_requeries: int = Field(4, ge=0, le=20, description="disputed claims re-asked to the model, at most")
    digitize_timeout_s: float = Field(60.0, gt=0, description="wall-clock limit of the digitizer node (s)")
    measure_timeout_s: float = Field(60.0, gt=0, description="wall-clock limit of the measurement node (s)")
    model_timeout_s: float = Field(900.0, gt=0, description="wall-clock limit of one MLLM node attempt (s)")
    model_attempts: int = Field(2, ge=1, le=5, description="attempts of an MLLM node on timeout or unreachable server")
    max_input_bytes: int = Field(50 * 2**20, gt=0, description="largest accepted input file (bytes)")
    checkpoint_path: Path | None = Field(Path(".ecg-agent/threads.sqlite"),
                                         description="SQLite file keeping threads for follow-ups; None = in memory")
