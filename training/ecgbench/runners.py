"""Answer ECGBench items and write the answers to a resumable JSONL file.

A *runner* is anything with a ``name`` and ``async answer(item) -> Prediction``
(:class:`Runner`). :class:`MLLMRunner` asks a raw :class:`~models.client.MLLMClient`; the full agent
gets its own runner beside it. :func:`run_bench` skips ids already in the output file, runs the
rest with bounded concurrency and appends each prediction (flushed) the moment it exists.

Failures: a :class:`~models.errors.ModelUnavailableError` (server down) stops the run at once;
any other ModelError, or an unreadable image, is recorded against its item (nothing is written, so
a re-run retries it) and the run goes on; anything else is a bug and propagates, with every
prediction finished so far already on disk.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from models.client import GenerationParams, MLLMClient
from models.errors import ModelError, ModelUnavailableError
from tools.errors import InputError
from training.ecgbench.items import BenchItem, Prediction
from training.ecgbench.loader import read_image
from training.ecgbench.predictions import append_prediction, open_for_append, read_predictions

__all__ = ["Runner", "MLLMRunner", "RunSummary", "run_bench", "arena_question"]


@runtime_checkable
class Runner(Protocol):
    """Something that answers one benchmark item."""

    @property
    def name(self) -> str:
        """Who answers, for the ``model_id`` field."""
        ...

    async def answer(self, item: BenchItem) -> Prediction:
        """Answer ``item``; raise ModelError when the model cannot."""
        ...


def arena_question(previous: Sequence[tuple[str, str]], question: str) -> str:
    """A follow-up question carrying the earlier turns as plain text.

    The MLLM client takes one question per image, so ECG Arena's second turn is asked with the
    first question and the model's own first answer quoted before it.
    """
    if not previous:
        return question
    history = "\n\n".join(f"Earlier question: {q}\nYour answer: {a}" for q, a in previous)
    return f"{history}\n\nFollow-up question: {question}"


class MLLMRunner:
    """Ask a raw MLLM each item's question(s) about its image, with the given decoding parameters."""

    def __init__(self, client: MLLMClient, params: GenerationParams | None = None) -> None:
        self.client = client
        self.params = params or GenerationParams()

    @property
    def name(self) -> str:
        """The client's name."""
        return self.client.name

    async def answer(self, item: BenchItem) -> Prediction:
        """Ask every turn of ``item`` in order; the prediction holds each turn's answer.

        Raises
        ------
        ModelError
            From the client (server down, garbage, empty text).
        InputError
            If the item's image cannot be read.
        """
        image = read_image(item.image)
        start_s = time.perf_counter()
        history: list[tuple[str, str]] = []
        model = self.name
        for turn in item.turns:
            reply = await self.client.ask(image, arena_question(history, turn.question), self.params)
            history.append((turn.question, reply.text))
            model = reply.model or model
        answers = tuple(answer for _, answer in history)
        return Prediction(id=item.id, subset=item.subset, prompt=item.question, text=answers[-1],
                          turn_answers=answers, model=model, latency_s=time.perf_counter() - start_s)


class RunSummary(BaseModel):
    """What a run did: items in total, already done before, answered now, and failures by id."""

    model_config = ConfigDict(frozen=True)

    n_items: int
    n_skipped: int
    n_answered: int
    failures: dict[str, str]


async def run_bench(items: Sequence[BenchItem], runner: Runner, out_path: str | Path, *,
                    concurrency: int = 4) -> RunSummary:
    """Answer every item not yet in ``out_path``, appending each prediction as it completes.

    Parameters
    ----------
    items : sequence of BenchItem
        The items to answer (all of one subset).
    runner : Runner
        Who answers.
    out_path : str or Path
        The JSONL prediction file; created if absent, never rewritten.
    concurrency : int
        Items in flight at once (>= 1).

    Raises
    ------
    InputError
        If ``concurrency`` < 1 or ``items`` is empty.
    ModelUnavailableError
        When the model cannot be reached (the run stops; finished items are kept).
    """
    if concurrency < 1:
        raise InputError(f"concurrency must be >= 1, got {concurrency}")
    if not items:
        raise InputError("no items to run")
    done = read_predictions(out_path, items[0].subset)
    todo = [item for item in items if item.id not in done]
    failures: dict[str, str] = {}
    queue: asyncio.Queue[BenchItem] = asyncio.Queue()
    for item in todo:
        queue.put_nowait(item)
    with open_for_append(out_path) as handle:
        async def worker() -> None:
            while not queue.empty():
                item = queue.get_nowait()
                try:
                    prediction = await runner.answer(item)
                except ModelUnavailableError:
                    raise
                except (ModelError, InputError) as exc:
                    failures[item.id] = f"{type(exc).__name__}: {exc}"
                    continue
                append_prediction(handle, prediction)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(concurrency, len(todo))):
                    group.create_task(worker())
        except BaseExceptionGroup as grouped:
            # Callers (and the CLI's error handling) expect the first failure itself.
            raise grouped.exceptions[0] from None
    return RunSummary(n_items=len(items), n_skipped=len(items) - len(todo),
                      n_answered=len(todo) - len(failures), failures=failures)
