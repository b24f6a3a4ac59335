"""Typed ECGBench items and predictions.

An :class:`BenchItem` is one benchmark question with its ground truth; its image stays where it is
(a file, or a row of a parquet file) until :func:`training.ecgbench.loader.read_image` fetches it,
so a 3-GB subset is never held in memory. A :class:`Prediction` is what a runner answered; it is
stored one JSON object per line in the same shape PULSE's inference scripts write
(``question_id``, ``prompt``, ``text``, ``answer_id``, ``model_id``, ``metadata``), so PULSE's own
scorer can read our files and we can read theirs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ImageRef", "Turn", "BenchItem", "Prediction"]


class ImageRef(BaseModel):
    """Where an item's encoded image is: inline ``data``, a ``file``, or row ``row`` of ``parquet``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: bytes | None = Field(None, repr=False)
    file: Path | None = None
    parquet: Path | None = None
    row: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> ImageRef:
        sources = [self.data is not None, self.file is not None, self.parquet is not None]
        if sum(sources) != 1 or (self.parquet is not None) != (self.row is not None):
            raise ValueError("an image reference needs exactly one of data, file, or parquet + row")
        return self


class Turn(BaseModel):
    """One question of a conversation and its reference answer (ECG Arena has two per item)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str = Field(min_length=1)
    answer: str


class BenchItem(BaseModel):
    """One ECGBench question about one ECG image.

    Attributes
    ----------
    id : str
        The row's ``id`` (unique within a subset).
    subset : str
        Our subset name (see :data:`training.ecgbench.subsets.SUBSETS`).
    image_path : str
        The row's ``image_path`` (relative, e.g. ``ptb-xl/01234_hr-0.png``).
    image : ImageRef
        Where the encoded PNG/JPEG bytes are.
    turns : tuple of Turn
        The conversation without the ``<image>`` marker: one turn for every subset but Arena.
    answer_list : tuple of str or None
        ECG-QA's reference answers (the distribution stores a list of strings); None elsewhere.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    subset: str
    image_path: str
    image: ImageRef
    turns: tuple[Turn, ...] = Field(min_length=1)
    answer_list: tuple[str, ...] | None = None

    @property
    def question(self) -> str:
        """The first (for most subsets the only) question."""
        return self.turns[0].question

    @property
    def answer(self) -> str:
        """The reference answer of the first turn, as the row spells it."""
        return self.turns[0].answer


class Prediction(BaseModel):
    """What a runner answered to one item.

    Attributes
    ----------
    id : str
        The item's id (``question_id`` in the JSONL file).
    subset : str
        Our subset name.
    prompt : str
        The (first) question as asked, without ``<image>``: PULSE's ECG-QA scorer reads the
        answer options from it.
    text : str
        The (last) answer text.
    turn_answers : tuple of str
        Every turn's answer for multi-turn items (Arena); ``(text,)`` otherwise.
    model : str
        Who answered (``model_id``).
    scores : dict or None
        Per-label probabilities in [0, 1] when the runner has them (multi-label subsets); the
        corrected AUC is computed from these.
    latency_s : float or None
        Wall-clock seconds to answer.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    subset: str
    prompt: str
    text: str
    turn_answers: tuple[str, ...] = ()
    model: str = ""
    scores: dict[str, float] | None = None
    latency_s: float | None = Field(None, ge=0.0)

    @model_validator(mode="before")
    @classmethod
    def _default_turns(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("turn_answers") and isinstance(data.get("text"), str):
            return {**data, "turn_answers": (data["text"],)}
        return data

    def to_row(self) -> dict[str, Any]:
        """The JSONL row: PULSE's answer-file fields plus ours under ``metadata``."""
        row: dict[str, Any] = {
            "question_id": self.id, "prompt": self.prompt, "text": self.text,
            "answer_id": f"{self.subset}:{self.id}", "model_id": self.model,
            "metadata": {"subset": self.subset, "scores": self.scores, "latency_s": self.latency_s},
        }
        if len(self.turn_answers) > 1:
            row["predict_convs"] = [{"answer": answer} for answer in self.turn_answers]
        return row
