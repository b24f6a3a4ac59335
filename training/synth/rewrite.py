"""Optional rephrasing of free-text answers through an LLM, keeping every grounded fact.

The LLM is anything with ``async complete(prompt) -> str`` (:class:`TextLLM`); :class:`OpenAITextLLM`
talks to any OpenAI-compatible chat-completions endpoint (vllm serve, SGLang, a hosted API). Only
turns marked rewritable (open-ended answers without reasoning steps) are sent. A rewrite is kept
only if it states exactly the numbers the original stated (none lost, none invented); otherwise
the template answer stays and the rejection is counted.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from models.client import GenerationParams
from models.client_openai import OpenAIClient, OpenAIClientConfig
from models.errors import ModelError
from tools.errors import InputError

__all__ = ["TextLLM", "OpenAITextLLM", "REWRITE_PROMPT", "numbers_kept", "rewrite_records"]

# Greedy; a rephrased answer is about as long as the original.
_REWRITE_PARAMS = GenerationParams(max_new_tokens=512, temperature=0.0)

REWRITE_PROMPT = (
    "Rephrase the answer below as a cardiologist would say it to a colleague. Keep every number, unit and "
    "diagnosis exactly as written, do not add any finding or number, and reply with the rephrased answer only.\n\n"
    "Question: {question}\nAnswer: {answer}")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")  # unsigned: "60-100" is a range, not -100


class TextLLM(Protocol):
    """A text-in, text-out language model."""

    async def complete(self, prompt: str) -> str: ...


class OpenAITextLLM:
    """:class:`TextLLM` over an OpenAI-compatible server, through the project's client
    (:class:`models.client_openai.OpenAIClient`: retries, typed errors); greedy, one user message.

    Raises
    ------
    InputError
        ``base_url`` is not ``http(s)://HOST:PORT``.
    ModelUnavailableError, ModelResponseError
        From :meth:`complete`: unreachable endpoint; HTTP error, malformed or empty reply.
    """

    def __init__(self, base_url: str, *, model: str | None = None, api_key: str | None = None,
                 timeout_s: float = 60.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        try:
            config = OpenAIClientConfig(base_url=base_url, model=model, api_key=api_key, timeout_s=timeout_s)
        except ValidationError:
            raise InputError(f"--rewrite-url must look like http://HOST:PORT, got {base_url!r}") from None
        self._config, self._transport = config, transport  # transport: httpx.MockTransport in tests

    async def complete(self, prompt: str) -> str:
        try:
            async with OpenAIClient(self._config, transport=self._transport) as client:
                return (await client.complete_text(prompt, _REWRITE_PARAMS)).text
        except ModelError as exc:  # say which endpoint failed: the CLI prints this line
            raise type(exc)(f"rewrite LLM: {exc}") from None


def numbers_kept(original: str, rewritten: str) -> bool:
    """True when ``rewritten`` states the same multiset of numbers as ``original``."""
    return Counter(_NUMBER.findall(original)) == Counter(_NUMBER.findall(rewritten))


async def rewrite_records(records: list[dict[str, Any]], llm: TextLLM, *,
                          max_concurrency: int = 8) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rephrase the rewritable answers of ``records`` (LLaVA JSON dicts, see :mod:`training.synth.dataset`).

    Returns new records (the input is not modified) and counts ``sent``, ``kept``, ``rejected``.
    A rewritten turn is listed in the record's ``rewritten_turns``. Errors of ``llm`` propagate.
    """
    out = [{**record, "conversations": [dict(turn) for turn in record["conversations"]]} for record in records]
    jobs = [(r, i) for r, record in enumerate(out) for i, meta in enumerate(record["turns"]) if meta["rewritable"]]
    counts = {"sent": len(jobs), "kept": 0, "rejected": 0}
    gate = asyncio.Semaphore(max_concurrency)

    async def one(r: int, i: int) -> None:
        question = out[r]["conversations"][2 * i]["value"].replace("<image>\n", "")
        answer = out[r]["conversations"][2 * i + 1]["value"]
        async with gate:
            reply = await llm.complete(REWRITE_PROMPT.format(question=question, answer=answer))
        if numbers_kept(answer, reply):
            out[r]["conversations"][2 * i + 1]["value"] = reply.strip()
            out[r]["rewritten_turns"] = sorted({*out[r].get("rewritten_turns", []), i})
            counts["kept"] += 1
        else:
            counts["rejected"] += 1

    await asyncio.gather(*(one(r, i) for r, i in jobs))
    return out, counts
