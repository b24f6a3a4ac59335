"""Ask a model served over the OpenAI chat-completions API (vllm serve, SGLang, transformers serve).

The image travels as a base64 data URL in a one-turn user message (image part first, then the
question); the server applies the model's chat template. Requests that fail for transient reasons
(connection refused or reset, timeout, HTTP 429 or 5xx) are retried with exponential backoff;
HTTP 4xx other than 429 is the caller's mistake and is not retried.

Errors: ModelUnavailableError when the server cannot be reached after the allowed retries;
ModelResponseError when it answers with an HTTP error status, malformed JSON or empty text.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from models.client import ClientBase, GenerationParams, ModelAnswer, check_request, require_text
from models.errors import ModelResponseError, ModelUnavailableError
from tools.errors import InputError

__all__ = ["OpenAIClientConfig", "OpenAIClient"]

_RETRY_STATUS = frozenset({429}) | frozenset(range(500, 600))
_ERROR_EXCERPT_CHARS = 200


class OpenAIClientConfig(BaseModel):
    """Where the server is and how patiently to talk to it.

    Attributes
    ----------
    base_url : str
        ``http(s)://host:port`` of the server; a trailing ``/v1`` is accepted and dropped.
    model : str or None
        The served model's name; None asks ``GET /v1/models`` once and uses the only model listed,
        or lets the server choose when it lists none or cannot list (``transformers serve DIR``).
    api_key : SecretStr or None
        Sent as ``Authorization: Bearer ...`` (``vllm serve --api-key``); never printed.
    timeout_s : float
        Seconds to wait for one answer. 600 s leaves room for 1024 tokens on a slow server.
    connect_timeout_s : float
        Seconds to wait for the TCP connection; short, so a server that is down is noticed fast.
    max_retries : int
        Extra attempts after a transient failure (0 = try once). Each may wait ``timeout_s``.
    backoff_s : float
        Pause before the first retry; doubled before each further retry.
    max_concurrency : int
        Requests in flight at once from this client (the server batches them).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    model: str | None = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(600.0, gt=0.0)
    connect_timeout_s: float = Field(10.0, gt=0.0)
    max_retries: int = Field(2, ge=0, le=10)
    backoff_s: float = Field(0.5, ge=0.0, le=60.0)
    max_concurrency: int = Field(8, ge=1, le=1024)

    @field_validator("base_url")
    @classmethod
    def _normalise_base_url(cls, value: str) -> str:
        url = httpx.URL(value.strip())
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must look like http://HOST:PORT, got {value!r}")
        text = str(url).rstrip("/")
        return text[: -len("/v1")] if text.endswith("/v1") else text


class OpenAIClient(ClientBase):
    """An :class:`~models.client.MLLMClient` over HTTP; see the module docstring for behaviour.

    Create it inside the event loop that will use it, and close it with ``await aclose()`` (or
    ``async with``).
    """

    def __init__(self, config: OpenAIClientConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        """``transport`` replaces the network (e.g. ``httpx.MockTransport`` in tests)."""
        self.config = config
        headers = {"Authorization": f"Bearer {config.api_key.get_secret_value()}"} if config.api_key else {}
        self._http = httpx.AsyncClient(
            base_url=config.base_url, headers=headers, transport=transport,
            timeout=httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s),
            limits=httpx.Limits(max_connections=config.max_concurrency))
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self._model_lock = asyncio.Lock()
        self._model: str | None = config.model
        self._model_known = config.model is not None

    @property
    def name(self) -> str:
        """``MODEL@BASE_URL`` once the model is known, else the base URL."""
        return f"{self._model}@{self.config.base_url}" if self._model else self.config.base_url

    async def ask(self, image: bytes, question: str, params: GenerationParams | None = None) -> ModelAnswer:
        """Answer one question about one image (encoded PNG/JPEG bytes).

        Raises
        ------
        InputError
            If the image is not PNG/JPEG bytes or the question is blank.
        ModelUnavailableError
            Connection refused/reset or timed out on every allowed attempt.
        ModelResponseError
            HTTP error status (after retries for 429/5xx), malformed JSON, or empty text.
        """
        mime = check_request(image, question)
        params = params or GenerationParams()
        async with self._semaphore:
            start_s = time.perf_counter()
            model = await self._served_model()
            body = _chat_body(model, mime, image, question, params)
            response = await self._request("POST", "/v1/chat/completions", body)
            payload = self._json_or_error(response, "POST /v1/chat/completions")
            return self._answer(payload, time.perf_counter() - start_s)

    async def complete_text(self, prompt: str, params: GenerationParams | None = None, *,
                            json_object: bool = False) -> ModelAnswer:
        """Answer a text-only prompt (an LLM judge, a rephrasing pass) with the same retries and errors.

        ``json_object=True`` asks the server for a JSON object reply (``response_format``).

        Raises
        ------
        InputError
            If the prompt is blank.
        ModelUnavailableError, ModelResponseError
            As for :meth:`ask`.
        """
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError(f"prompt must be a non-empty string, got {prompt!r}")
        params = params or GenerationParams()
        async with self._semaphore:
            start_s = time.perf_counter()
            body = _body(await self._served_model(), prompt, params)
            if json_object:
                body["response_format"] = {"type": "json_object"}
            response = await self._request("POST", "/v1/chat/completions", body)
            payload = self._json_or_error(response, "POST /v1/chat/completions")
            return self._answer(payload, time.perf_counter() - start_s)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _served_model(self) -> str | None:
        async with self._model_lock:
            if not self._model_known:
                self._model = await self._discover_model()
                self._model_known = True
        return self._model

    async def _discover_model(self) -> str | None:
        response = await self._request("GET", "/v1/models")
        if response.status_code >= 400:
            # Listing is best-effort: `transformers serve` answers 500 here when the Hugging Face
            # cache is absent, yet serves its pinned model; a server that needs a name says so later.
            return None
        payload = self._json_or_error(response, "GET /v1/models")
        data = payload.get("data")
        ids = [entry["id"] for entry in data if isinstance(entry, dict) and isinstance(entry.get("id"), str)] \
            if isinstance(data, list) else []
        if len(ids) > 1:
            raise ModelResponseError(f"server {self.config.base_url} lists {len(ids)} models "
                                     f"({', '.join(ids[:5])}); choose one with model=NAME")
        return ids[0] if ids else None

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """Send with retries; return the last response (maybe an error status) or raise Unavailable."""
        where = f"{method} {self.config.base_url}{path}"
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                await asyncio.sleep(self.config.backoff_s * 2 ** (attempt - 1))
            try:
                response = await self._http.request(method, path, json=body)
            except httpx.TimeoutException as exc:
                failure = f"timed out ({type(exc).__name__}, timeout {self.config.timeout_s:g} s)"
                continue
            except httpx.TransportError as exc:
                failure = f"connection failed ({type(exc).__name__}: {exc})"
                continue
            if response.status_code not in _RETRY_STATUS or attempt == self.config.max_retries:
                return response
        raise ModelUnavailableError(f"{where} {failure} after {self.config.max_retries + 1} attempt(s)")

    def _json_or_error(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code >= 400:
            raise ModelResponseError(f"{what} at {self.config.base_url}: HTTP {response.status_code} "
                                     f"{response.reason_phrase}: {_excerpt(response.text)}")
        try:
            payload = response.json()
        except ValueError:
            raise ModelResponseError(f"{what} at {self.config.base_url}: malformed JSON "
                                     f"(HTTP {response.status_code}): {_excerpt(response.text)}") from None
        if not isinstance(payload, dict):
            raise ModelResponseError(f"{what} at {self.config.base_url}: expected a JSON object, "
                                     f"got {type(payload).__name__}")
        return payload

    def _answer(self, payload: dict[str, Any], latency_s: float) -> ModelAnswer:
        source = f"server {self.config.base_url}"
        choices = payload.get("choices")
        if not (isinstance(choices, list) and choices and isinstance(choices[0], dict)):
            raise ModelResponseError(f"{source} returned no choices: {_excerpt(str(payload))}")
        message = choices[0].get("message")
        text = require_text(message.get("content") if isinstance(message, dict) else None, source)
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
        model = payload.get("model") if isinstance(payload.get("model"), str) else None
        finish_reason = choices[0].get("finish_reason")
        return ModelAnswer(
            text=text, model=model or self._model or self.config.base_url, latency_s=latency_s,
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            finish_reason=finish_reason if isinstance(finish_reason, str) else None, raw=payload)


def _chat_body(model: str | None, mime: str, image: bytes, question: str,
               params: GenerationParams) -> dict[str, Any]:
    data_url = f"data:{mime};base64,{base64.b64encode(bytes(image)).decode('ascii')}"
    content = [{"type": "image_url", "image_url": {"url": data_url}}, {"type": "text", "text": question}]
    return _body(model, content, params)


def _body(model: str | None, content: Any, params: GenerationParams) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": content}],
        "max_tokens": params.max_new_tokens,
        "temperature": params.temperature,
        "stream": False,
    }
    if model is not None:
        body["model"] = model
    if not params.greedy:
        body["top_p"] = params.top_p
    return body


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _ERROR_EXCERPT_CHARS else flat[:_ERROR_EXCERPT_CHARS] + "..."
