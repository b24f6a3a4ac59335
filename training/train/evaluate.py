"""Evaluation during training: held-out loss, and exact-match accuracy on short-answer items.

Short answers (at most ``short_answer_max_words`` words: a rate category, a rhythm name, a letter)
are generated greedily from the same llava_v1 prompt inference uses and compared after
normalisation (case, surrounding spaces, trailing full stop). Items are split over the processes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict

from training.train.data import InstructDataset, InstructRecord, chat_messages

__all__ = ["EvalResult", "Prediction", "evaluate", "exact_match", "held_out_loss", "normalise_answer"]


class Prediction(BaseModel):
    """One generated short answer."""

    model_config = ConfigDict(frozen=True)

    id: str
    expected: str
    predicted: str
    correct: bool


class EvalResult(BaseModel):
    """Held-out loss (mean per answer token, nats) and exact-match accuracy (NaN without short items)."""

    model_config = ConfigDict(frozen=True)

    step: int
    loss: float
    exact_match: float
    n_items: int
    predictions: tuple[Prediction, ...] = ()


def normalise_answer(text: str) -> str:
    """Lower case, single spaces, no surrounding spaces or trailing full stop."""
    return re.sub(r"\s+", " ", text).strip().rstrip(".").strip().lower()


@torch.no_grad()
def held_out_loss(accelerator: Any, model: Any, loader: Any) -> float:
    """Mean cross-entropy per answer token over ``loader`` (all processes), nats."""
    total = torch.zeros(2, device=accelerator.device)
    for batch in loader:
        n_tokens = (batch["labels"][:, 1:] != -100).sum()
        loss = model(**batch).loss
        total += torch.stack([loss.detach().float() * n_tokens, n_tokens.float()])
    total = accelerator.reduce(total, reduction="sum")
    return float(total[0] / total[1].clamp(min=1))


@torch.no_grad()
def exact_match(accelerator: Any, model: Any, dataset: InstructDataset, records: Sequence[InstructRecord],
                *, synced_gpus: bool) -> list[Prediction]:
    """Greedy answers of this process's share of ``records`` (one-turn, short answers), gathered."""
    processor = dataset.processor
    unwrapped = accelerator.unwrap_model(model)
    mine = list(records)[accelerator.process_index :: accelerator.num_processes]
    predictions = []
    for record in mine:
        expected = record.turns[0][1]
        prompt = processor.apply_chat_template(chat_messages(record.turns, 1, with_answer=False), tokenize=False,
                                               add_generation_prompt=True)
        inputs = processor(text=prompt, images=dataset.load_image(record), add_special_tokens=False,
                           return_tensors="pt").to(accelerator.device)
        budget = len(processor.tokenizer(" " + expected, add_special_tokens=False)["input_ids"]) + 4
        output = unwrapped.generate(**inputs, max_new_tokens=budget, do_sample=False, synced_gpus=synced_gpus,
                                    pad_token_id=processor.tokenizer.pad_token_id or 0)
        text = processor.tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        predictions.append(Prediction(id=record.id, expected=expected, predicted=text.strip(),
                                      correct=normalise_answer(text) == normalise_answer(expected)))
    gathered = accelerator.gather_for_metrics(predictions, use_gather_object=True)
    return sorted(gathered, key=lambda p: p.id)


def evaluate(accelerator: Any, model: Any, loader: Any, dataset: InstructDataset, *, step: int,
             max_items: int, short_answer_max_words: int, synced_gpus: bool = False) -> EvalResult:
    """Held-out loss over ``loader`` and exact match on up to ``max_items`` single-turn short-answer items."""
    was_training = model.training
    model.eval()
    loss = held_out_loss(accelerator, model, loader)
    short = [r for r in dataset.records
             if len(r.turns) == 1 and len(r.turns[0][1].split()) <= short_answer_max_words][:max_items]
    predictions = exact_match(accelerator, model, dataset, short, synced_gpus=synced_gpus) if short else []
    accuracy = sum(p.correct for p in predictions) / len(predictions) if predictions else float("nan")
    model.train(was_training)
    return EvalResult(step=step, loss=loss, exact_match=accuracy, n_items=len(predictions),
                      predictions=tuple(predictions))
