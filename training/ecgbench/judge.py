"""LLM-as-judge scoring of PTB-XL Report and ECG Arena through any OpenAI-compatible endpoint.

The rubrics are those published with ECGBench (paper Figs. A9-A10), restated in
``rubric_report.txt`` (Diagnosis, Waveform, Rhythm) and ``rubric_arena.txt`` (Accuracy,
Completeness, Instruction Adherence), each 0-10; an item's score is their mean times 10. The prompt
layout ("[The Start of Ground Truth Report] ... [The End of Generated Report]") is PULSE's; a
``rubric_file`` replaces the rubric text (e.g. with the paper's exact wording).

Unlike the published scripts, the judge model must be named (and the server's own answer of which
model it ran is recorded), every reply is validated (each aspect present, a number in 0-10) BEFORE
it is cached, and a failure is an error, never a silently missing or partial score. The cache is a
JSONL file keyed by item id + judge model + rubric hash, so changing either re-judges.

Errors: ModelUnavailableError (endpoint unreachable after retries), ModelResponseError (HTTP error
status, malformed JSON, a reply without the rubric's scores).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from models.client import GenerationParams
from models.client_openai import OpenAIClient, OpenAIClientConfig
from models.errors import ModelResponseError
from tools.errors import InputError
from training.ecgbench.items import BenchItem, Prediction
from training.ecgbench.subsets import subset_spec

__all__ = ["JudgeConfig", "ASPECTS", "rubric_text", "rubric_hash", "judge_prompt", "parse_judgement",
           "JudgeCache", "judge_predictions"]

ASPECTS: dict[str, tuple[str, ...]] = {
    "report": ("Diagnosis", "Waveform", "Rhythm"),
    "arena": ("Accuracy", "Completeness", "Instruction Adherence"),
}
# The paper's judge answered "Form" for Waveform (its rubric asks for "diagnosis, form and rhythm").
_ALIASES = {"form": "Waveform", "instruction_adherence": "Instruction Adherence",
            "instructionadherence": "Instruction Adherence"}
# Greedy, and long enough for a rubric's JSON with short justifications.
_JUDGE_PARAMS = GenerationParams(max_new_tokens=1024, temperature=0.0)


class JudgeConfig(BaseModel):
    """Which judge, and how patiently to ask it.

    Attributes
    ----------
    base_url : str
        ``http(s)://host:port`` of an OpenAI-compatible server (a trailing ``/v1`` is dropped).
    model : str
        The judge model's name, sent with every request and part of the cache key (pin it:
        the paper's "gpt-4o" was not).
    api_key : SecretStr or None
        Sent as ``Authorization: Bearer ...``; never printed.
    timeout_s : float
        Seconds to wait for one judgement.
    max_retries : int
        Extra attempts after a connection failure, timeout, HTTP 429 or 5xx.
    backoff_s : float
        Pause before the first retry, doubled each time.
    max_concurrency : int
        Judgements in flight at once.
    rubric_file : Path or None
        A text file replacing the built-in rubric of the subset being judged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    model: str = Field(min_length=1)
    api_key: SecretStr | None = None
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    backoff_s: float = Field(1.0, ge=0)
    max_concurrency: int = Field(4, ge=1, le=256)
    rubric_file: Path | None = None


def rubric_text(kind: str, rubric_file: Path | None = None) -> str:
    """The rubric for ``kind`` ("report" or "arena"), from ``rubric_file`` when given."""
    if kind not in ASPECTS:
        raise InputError(f"no judge rubric for kind {kind!r}; expected report or arena")
    path = rubric_file or Path(__file__).with_name(f"rubric_{kind}.txt")
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise InputError(f"rubric file {path} is empty")
    return text


def rubric_hash(text: str) -> str:
    """A short stable digest of a rubric's text (16 hex digits)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def judge_prompt(item: BenchItem, prediction: Prediction, rubric: str) -> str:
    """The judge's one user message, laid out as PULSE's scripts lay it out."""
    if len(item.turns) == 1:
        return (f"{rubric} \n [The Start of Ground Truth Report]\n {item.answer}\n [The End of Ground Truth Report]"
                f"\n [The Start of Generated Report]\n {prediction.text}\n [The End of Generated Report]")
    answers = list(prediction.turn_answers) + [""] * (len(item.turns) - len(prediction.turn_answers))
    truth = "\n\n".join(f"**Question:**\n{t.question}\n\n**Ground Truth Answer:** {t.answer}" for t in item.turns)
    model = "\n\n".join(f"**Question:**\n{t.question}\n\n**Model's Response:** {a}"
                        for t, a in zip(item.turns, answers[: len(item.turns)], strict=True))
    return (f"{rubric} \n [The Start of Ground Truth Answer]\n {truth}\n [The End of Ground Truth Answer]\n\n"
            f" [The Start of Model's Response]\n {model}\n [The End of Model's Response]")


def parse_judgement(text: str, kind: str) -> dict[str, float]:
    """The rubric's aspect scores (0-10) from a judge's reply.

    Accepts ``{"Aspect": {"Score": n, ...}}`` or ``{"Aspect": n}``, keys in any case, "Form" for
    Waveform, prose around the JSON object.

    Raises
    ------
    ModelResponseError
        No JSON object, an aspect missing, or a score that is not a number in [0, 10].
    """
    start, end = text.find("{"), text.rfind("}")
    try:
        payload = json.loads(text[start:end + 1]) if 0 <= start < end else None
    except json.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        raise ModelResponseError(f"judge reply holds no JSON object: {_excerpt(text)}")
    by_key = {_canonical(key): value for key, value in payload.items()}
    scores: dict[str, float] = {}
    for aspect in ASPECTS[kind]:
        value = by_key.get(aspect)
        if isinstance(value, dict):
            value = next((v for k, v in value.items() if k.lower() == "score"), None)
        try:
            score = float(value)
        except (TypeError, ValueError):
            raise ModelResponseError(f"judge reply has no numeric score for {aspect!r}: {_excerpt(text)}") from None
        if not 0.0 <= score <= 10.0:
            raise ModelResponseError(f"judge score for {aspect!r} is {score:g}, outside 0-10")
        scores[aspect] = score
    return scores


def _canonical(key: str) -> str:
    flat = re.sub(r"[\s_-]+", "_", key.strip()).lower()
    for aspect in (a for aspects in ASPECTS.values() for a in aspects):
        if flat == re.sub(r"[\s_-]+", "_", aspect).lower():
            return aspect
    return _ALIASES.get(flat.replace("_", ""), _ALIASES.get(flat, key))


def _excerpt(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


class JudgeCache:
    """Validated judgements on disk (JSONL), keyed by item id + judge model + rubric hash."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._entries: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # an interrupted write: judged again
                if isinstance(row, dict) and isinstance(row.get("key"), str):
                    self._entries[row["key"]] = row

    @staticmethod
    def key(item_id: str, judge_model: str, rubric_digest: str) -> str:
        """The cache key of one judgement."""
        return f"{item_id}|{judge_model}|{rubric_digest}"

    def get(self, key: str) -> dict[str, float] | None:
        """The cached aspect scores under ``key``, or None."""
        entry = self._entries.get(key)
        return dict(entry["scores"]) if entry else None

    def put(self, key: str, scores: Mapping[str, float], reply: str, served_model: str) -> None:
        """Store one validated judgement (appended and flushed at once)."""
        row = {"key": key, "scores": dict(scores), "served_model": served_model, "reply": reply}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._entries[key] = row


async def judge_predictions(subset: str, items: Sequence[BenchItem], predictions: Mapping[str, Prediction],
                            config: JudgeConfig, cache_path: str | Path) -> dict[str, dict[str, float]]:
    """Judge every predicted item of a report/arena subset; return aspect scores by item id.

    Cached judgements are reused; new ones are validated, then cached one by one, so a failure
    part-way keeps every judgement made before it.

    Raises
    ------
    InputError
        If ``subset`` is not judged (only ptb-xl-report and arena are).
    ModelUnavailableError, ModelResponseError
        The judge could not be reached or answered unusably (the message names the item).
    """
    kind = subset_spec(subset).kind
    rubric = rubric_text(kind, config.rubric_file)
    digest = rubric_hash(rubric)
    cache = JudgeCache(cache_path)
    todo = [item for item in items if item.id in predictions]
    results = {item.id: cached for item in todo
               if (cached := cache.get(JudgeCache.key(item.id, config.model, digest))) is not None}
    semaphore = asyncio.Semaphore(config.max_concurrency)
    async with _client(config) as client:
        async def one(item: BenchItem) -> None:
            async with semaphore:
                answer = await client.complete_text(judge_prompt(item, predictions[item.id], rubric), _JUDGE_PARAMS,
                                                    json_object=True)
            reply, served = answer.text, answer.model
            try:
                scores = parse_judgement(reply, kind)
            except ModelResponseError as exc:
                raise ModelResponseError(f"judge {config.model} on item {item.id!r}: {exc}") from None
            cache.put(JudgeCache.key(item.id, config.model, digest), scores, reply, served)
            results[item.id] = scores

        try:
            async with asyncio.TaskGroup() as group:
                for item in todo:
                    if item.id not in results:
                        group.create_task(one(item))
        except BaseExceptionGroup as grouped:
            raise grouped.exceptions[0] from None
    return results


def _client(config: JudgeConfig) -> OpenAIClient:
    """The project's OpenAI-compatible client (retries, typed errors) configured for the judge."""
    try:
        return OpenAIClient(OpenAIClientConfig(
            base_url=config.base_url, model=config.model, api_key=config.api_key, timeout_s=config.timeout_s,
            max_retries=config.max_retries, backoff_s=config.backoff_s, max_concurrency=config.max_concurrency))
    except ValidationError:
        raise InputError(f"judge URL must look like http://HOST:PORT, got {config.base_url!r}") from None

