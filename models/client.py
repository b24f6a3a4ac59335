"""One async interface for every way of asking PULSE (or any LLaVA-style MLLM) about an ECG image.

::

    MLLMClient (Protocol)           ask / ask_many / aclose / name
    ├── models.client_openai.OpenAIClient              HTTP: vllm serve, SGLang, transformers serve
    ├── models.client_transformers.TransformersClient  in-process transformers, batched
    └── models.client_vllm.VLLMClient                  in-process vLLM offline engine

A question is passed WITHOUT any conversation template: each backend applies the model's own chat
template (llava_v1 for PULSE), so the same question gives the same prompt on every backend.
Images are encoded PNG or JPEG bytes. Every failure the agent can act on is a
:class:`models.errors.ModelError`; :meth:`MLLMClient.ask_many` returns it in place of the answer so
one bad item does not lose the others.
"""

from __future__ import annotations

import asyncio
import io
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.errors import ModelError, ModelResponseError, ModelUnavailableError
from tools.errors import InputError

__all__ = ["GenerationParams", "ModelAnswer", "AskItem", "MLLMClient", "ClientBase", "BatchRunner",
           "InProcessClient", "decode_image", "image_mime_type", "check_request", "chat_messages", "require_text",
           "client_from_url"]

AskItem = tuple[bytes, str]
"""One question about one image: (encoded PNG/JPEG bytes, question without template)."""

_MAGIC: tuple[tuple[bytes, str], ...] = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


class GenerationParams(BaseModel):
    """How to decode. The defaults are those PULSE was evaluated with: greedy, at most 1024 new tokens.

    Attributes
    ----------
    max_new_tokens : int
        Upper bound on generated tokens (1..32768).
    temperature : float
        0 means greedy decoding (argmax at every step); > 0 samples.
    top_p : float
        Nucleus-sampling mass in (0, 1]; ignored when greedy.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_new_tokens: int = Field(1024, ge=1, le=32768)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)

    @property
    def greedy(self) -> bool:
        """True when decoding takes the most likely token at every step."""
        return self.temperature == 0.0


class ModelAnswer(BaseModel):
    """What a model said, and what it cost.

    Attributes
    ----------
    text : str
        The generated answer, stripped of surrounding white space; never empty.
    model : str
        The model's name as the backend reports it (served name or checkpoint directory).
    latency_s : float
        Wall-clock seconds from sending the request (or starting its batch) to the answer,
        retries included; answers of one in-process batch share the batch's time.
    prompt_tokens, completion_tokens : int or None
        Token counts when the backend reports them.
    finish_reason : str or None
        ``"stop"`` (end-of-sequence), ``"length"`` (hit ``max_new_tokens``) or the server's word.
    raw : dict
        The backend's raw response (the JSON body for HTTP), for the audit trail.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1)
    model: str
    latency_s: float = Field(ge=0.0)
    prompt_tokens: int | None = Field(None, ge=0)
    completion_tokens: int | None = Field(None, ge=0)
    finish_reason: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class MLLMClient(Protocol):
    """The interface the agent uses; every backend implements it."""

    @property
    def name(self) -> str:
        """A short name for step records: the model and where it runs."""
        ...

    async def ask(self, image: bytes, question: str, params: GenerationParams | None = None) -> ModelAnswer:
        """Answer one question about one image; raise ModelError when the model cannot answer."""
        ...

    async def ask_many(self, items: Sequence[AskItem], params: GenerationParams | None = None
                       ) -> list[ModelAnswer | ModelError]:
        """Answer many questions with bounded concurrency; failures come back in place, in order."""
        ...

    async def aclose(self) -> None:
        """Release connections, threads and model memory."""
        ...


class ClientBase(ABC):
    """Shared behaviour of the backends: ``ask_many`` on top of ``ask``, and ``async with``.

    Concurrency is bounded inside each backend's ``ask`` (a semaphore for HTTP, a batch queue
    in-process), so ``ask_many`` may start every item at once.
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """A short name for step records: the model and where it runs."""

    @abstractmethod
    async def ask(self, image: bytes, question: str, params: GenerationParams | None = None) -> ModelAnswer:
        """Answer one question about one image; raise ModelError when the model cannot answer."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections, threads and model memory."""

    async def ask_many(self, items: Sequence[AskItem], params: GenerationParams | None = None
                       ) -> list[ModelAnswer | ModelError]:
        """Answer every ``(image, question)`` item; a ModelError is returned in its item's place.

        Raises
        ------
        InputError
            If an item is not an ``(image bytes, question)`` pair or its image/question is invalid
            (checked for every item before any request is sent).
        """
        for index, item in enumerate(items):
            if not (isinstance(item, tuple) and len(item) == 2):
                raise InputError(f"items[{index}] must be an (image bytes, question) pair, got {type(item).__name__}")
            image_mime_type(item[0])
            _check_question(item[1])

        async def one(image: bytes, question: str) -> ModelAnswer | ModelError:
            try:
                return await self.ask(image, question, params)
            except ModelError as exc:
                return exc

        return list(await asyncio.gather(*(one(image, question) for image, question in items)))

    async def __aenter__(self) -> ClientBase:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def image_mime_type(image: bytes) -> str:
    """MIME type of encoded image bytes: ``"image/png"`` or ``"image/jpeg"``.

    Raises
    ------
    InputError
        If ``image`` is not bytes or is neither a PNG nor a JPEG (checked by magic number).
    """
    if not isinstance(image, (bytes, bytearray, memoryview)):
        raise InputError(f"image must be encoded PNG or JPEG bytes, got {type(image).__name__}")
    head = bytes(image[:8])
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    raise InputError(f"image must be encoded PNG or JPEG bytes; got {len(image)} bytes starting {head[:4]!r}")


def _check_question(question: str) -> None:
    if not isinstance(question, str) or not question.strip():
        raise InputError(f"question must be a non-empty string, got {question!r}")


def check_request(image: bytes, question: str) -> str:
    """Validate one request; return the image's MIME type (see :func:`image_mime_type`)."""
    _check_question(question)
    return image_mime_type(image)


def chat_messages(question: str) -> list[dict[str, Any]]:
    """The one-turn conversation of a question about one image, in Hugging Face chat format.

    The image part comes first because PULSE was trained on ``<image>\\n{question}``; the
    backend's chat template turns this into the llava_v1 prompt.
    """
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]


def require_text(text: object, source: str) -> str:
    """The stripped answer text, or ModelResponseError when it is missing or blank.

    Raises
    ------
    ModelResponseError
        If ``text`` is not a string or is empty after stripping; the message names ``source``.
    """
    if not isinstance(text, str):
        raise ModelResponseError(f"{source} returned no answer text (content is {type(text).__name__})")
    if not text.strip():
        raise ModelResponseError(f"{source} returned empty text")
    return text.strip()


@dataclass(eq=False)  # identity equality: list.remove must not compare images
class _Pending:
    request: tuple[Any, str]
    params: GenerationParams
    future: asyncio.Future


class BatchRunner:
    """Serialises concurrent asks to one in-process model into batches run in a worker thread.

    Each ask joins a pending list; whichever ask holds the lock runs the oldest pending requests
    that share its :class:`GenerationParams` (up to ``max_batch_size``) through ``run_batch`` in a
    thread, so the event loop stays free and requests that arrive meanwhile form the next batch.
    A thread lock around ``run_batch`` keeps one batch on the model at a time even if an asking
    task is cancelled mid-batch.

    Parameters
    ----------
    run_batch : callable
        ``run_batch(requests, params) -> list[ModelAnswer | ModelError]``, one result per request,
        where a request is ``(PIL image, question)``; called in a worker thread.
    max_batch_size : int
        Most requests generated together (>= 1).
    """

    def __init__(self, run_batch: Callable[[list[tuple[Any, str]], GenerationParams], list[ModelAnswer | ModelError]],
                 max_batch_size: int) -> None:
        if max_batch_size < 1:
            raise InputError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self._run_batch = run_batch
        self._max_batch_size = max_batch_size
        self._thread_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._pending: list[_Pending] = []
        self._closed = False

    async def submit(self, request: tuple[Any, str], params: GenerationParams) -> ModelAnswer:
        """Queue one request, take part in running batches until it is answered; return its answer.

        Raises
        ------
        ModelError
            The request's own failure (e.g. empty text), or ModelUnavailableError once closed.
        """
        if self._closed:
            raise ModelUnavailableError("the in-process model client is closed")
        self._bind_loop()
        entry = _Pending(request, params, asyncio.get_running_loop().create_future())
        self._pending.append(entry)
        try:
            await asyncio.sleep(0)  # let sibling asks of the same gather() join the pending list first
            async with self._lock:
                while not entry.future.done():
                    await self._run_one_batch(entry, params)
        finally:  # a cancelled ask leaves the queue
            if entry in self._pending:
                self._pending.remove(entry)
        return entry.future.result()

    def _bind_loop(self) -> None:
        # asyncio locks belong to one event loop; a client reused under a new loop starts afresh.
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._lock, self._pending = loop, asyncio.Lock(), []

    async def _run_one_batch(self, own: _Pending, params: GenerationParams) -> None:
        batch = [entry for entry in self._pending if entry.params == params][: self._max_batch_size]
        for entry in batch:
            self._pending.remove(entry)
        try:
            results: list[Any] = await asyncio.to_thread(self._locked_run, [e.request for e in batch], params)
        except Exception as exc:  # a bug in run_batch: every request of the batch sees it
            results = [exc] * len(batch)
        except BaseException:  # the leading ask was cancelled: the others must not wait forever
            for entry in batch:
                if entry is own:
                    entry.future.cancel()
                elif not entry.future.done():
                    entry.future.set_exception(ModelUnavailableError("generation was cancelled"))
            raise
        for entry, result in zip(batch, results, strict=True):
            if entry.future.done():
                continue
            if isinstance(result, Exception):
                entry.future.set_exception(result)
            else:
                entry.future.set_result(result)

    def _locked_run(self, requests: list[tuple[Any, str]], params: GenerationParams) -> list[ModelAnswer | ModelError]:
        with self._thread_lock:
            return self._run_batch(requests, params)

    def close(self) -> None:
        """Refuse new requests; pending ones fail with ModelUnavailableError."""
        self._closed = True
        for entry in self._pending:
            if not entry.future.done():
                entry.future.set_exception(ModelUnavailableError("the in-process model client was closed"))
        self._pending = []


def decode_image(image: bytes) -> Any:
    """Encoded PNG/JPEG bytes -> an RGB PIL image.

    Raises
    ------
    InputError
        If the bytes are not a PNG/JPEG or cannot be decoded.
    """
    from PIL import Image, UnidentifiedImageError

    image_mime_type(image)
    try:
        with Image.open(io.BytesIO(bytes(image))) as opened:
            return opened.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InputError(f"image could not be decoded ({len(image)} bytes): {exc}") from None


class InProcessClient(ClientBase):
    """A backend that runs the model in this process through a :class:`BatchRunner` (``self._runner``)."""

    _runner: BatchRunner

    async def ask(self, image: bytes, question: str, params: GenerationParams | None = None) -> ModelAnswer:
        """Answer one question about one image (encoded PNG/JPEG bytes), batched with concurrent asks.

        Raises
        ------
        InputError
            If the image cannot be decoded or the question is blank.
        ModelResponseError
            If the model generated only white space.
        ModelUnavailableError
            Out of device memory, or the client was closed.
        """
        check_request(image, question)
        return await self._runner.submit((decode_image(image), question), params or GenerationParams())


def client_from_url(url_or_name: str, **options: Any) -> MLLMClient | None:
    """Build the client a URL or name designates.

    ``"http://..."`` / ``"https://..."`` -> :class:`~models.client_openai.OpenAIClient` (a server
    speaking the OpenAI API: vllm serve, SGLang, transformers serve); ``"hf:DIR"`` ->
    :class:`~models.client_transformers.TransformersClient`; ``"vllm:DIR"`` ->
    :class:`~models.client_vllm.VLLMClient`; ``"none"`` -> None (tools only).

    Parameters
    ----------
    url_or_name : str
        The designation, as above.
    **options
        Fields of the backend's config (``OpenAIClientConfig``, ``TransformersClientConfig``,
        ``VLLMClientConfig``), e.g. ``model=``, ``timeout_s=``, ``device=``, ``max_batch_size=``.

    Raises
    ------
    InputError
        Unknown scheme, a missing model directory, or an option the backend does not take.
    ModelError
        The backend cannot start (e.g. ``vllm`` not installed, checkpoint unreadable).
    """
    spec = str(url_or_name).strip()
    scheme, _, rest = spec.partition(":")
    try:
        if spec.lower() == "none":
            if options:
                raise InputError(f"options {sorted(options)} make no sense with model 'none'")
            return None
        if scheme in ("http", "https"):
            from models.client_openai import OpenAIClient, OpenAIClientConfig
            return OpenAIClient(OpenAIClientConfig(base_url=spec, **options))
        if scheme in ("hf", "vllm"):
            model_dir = Path(rest).expanduser()
            if not rest or not model_dir.is_dir():
                raise InputError(f"model directory {rest!r} in {spec!r} does not exist")
            if scheme == "hf":
                from models.client_transformers import (
                    TransformersClient,
                    TransformersClientConfig,
                )
                return TransformersClient(TransformersClientConfig(model_dir=model_dir, **options))
            from models.client_vllm import VLLMClient, VLLMClientConfig
            return VLLMClient(VLLMClientConfig(model_dir=model_dir, **options))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "options"
        raise InputError(f"model client option {where}: {first['msg']} (got {first.get('input')!r})") from None
    raise InputError(f"model {spec!r} not understood; expected http(s)://HOST:PORT, hf:DIR, vllm:DIR or none")
