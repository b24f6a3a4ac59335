"""OpenAIClient against real servers on loopback.

Two servers: a real ``transformers serve`` process serving the tiny LLaVA-NeXT (the happy path, as
CI runs it), and a test double (a FastAPI app under uvicorn) whose URL prefix picks a failure:
HTTP 500, 503-then-OK, 400, garbage, empty text, a reply slower than the timeout.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections import Counter

import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from PIL import Image

from models.client import GenerationParams, ModelAnswer
from models.client_openai import OpenAIClient, OpenAIClientConfig
from models.errors import ModelError, ModelResponseError, ModelUnavailableError
from tests.loopback import free_port, serve_app
from tools.errors import InputError


def _png(width_px: int = 64, height_px: int = 48, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height_px, width_px, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Test double: a real HTTP server on loopback whose first path segment chooses its behaviour.

def _double_app(calls: Counter, requests: list[dict], in_flight: list[int]):
    """Test double of an OpenAI-compatible server (not a model): behaviour chosen by URL prefix."""
    app = FastAPI()

    def completion(text: str | None, model: str = "double-model") -> dict:
        return {"id": "x", "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}}

    @app.get("/{mode}/v1/models")
    async def models(mode: str):
        calls[f"{mode}/models"] += 1
        if mode == "multi":
            return {"object": "list", "data": [{"id": "a"}, {"id": "b"}]}
        if mode == "nolist":
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        if mode == "brokenlist":
            return PlainTextResponse("Internal Server Error", status_code=500)
        return {"object": "list", "data": [{"id": "double-model", "object": "model"}]}

    @app.post("/{mode}/v1/chat/completions")
    async def chat(mode: str, request: Request):
        calls[mode] += 1
        body = await request.json()
        requests.append(body)
        if mode == "status500":
            return PlainTextResponse("internal error", status_code=500)
        if mode == "flaky" and calls[mode] == 1:
            return PlainTextResponse("warming up", status_code=503)
        if mode == "status400":
            return JSONResponse({"detail": "bad request"}, status_code=400)
        if mode == "garbage":
            return PlainTextResponse("<html>not json</html>", status_code=200)
        if mode == "empty":
            return completion("   ")
        if mode == "nochoices":
            return {"id": "x", "choices": []}
        if mode == "slow":
            await asyncio.sleep(2.0)
        if mode == "concurrency":
            in_flight.append(in_flight[-1] + 1 if in_flight else 1)
            await asyncio.sleep(0.1)
            in_flight.append(in_flight[-1] - 1)
        return completion(f"answer to: {body['messages'][0]['content'][1]['text']}")

    return app


@pytest.fixture(scope="module")
def double():
    """Start the test double on a free loopback port; yield (base URL, calls, requests, in_flight)."""
    calls: Counter = Counter()
    requests: list[dict] = []
    in_flight: list[int] = []
    with serve_app(_double_app(calls, requests, in_flight), what="test double server") as base:
        yield base, calls, requests, in_flight


def _client(base: str, mode: str, **options) -> OpenAIClient:
    options.setdefault("backoff_s", 0.01)
    return OpenAIClient(OpenAIClientConfig(base_url=f"{base}/{mode}", **options))


async def test_request_carries_image_data_url_and_pulse_generation_params(double):
    base, calls, requests, _ = double
    image = _png()
    async with _client(base, "ok") as client:
        answer = await client.ask(image, "What is the rhythm?")
    body = requests[-1]
    image_part, text_part = body["messages"][0]["content"]
    assert image_part["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(image).decode()
    assert text_part == {"type": "text", "text": "What is the rhythm?"}
    assert (body["max_tokens"], body["temperature"], body["stream"]) == (1024, 0.0, False)
    assert "top_p" not in body
    assert body["model"] == "double-model"  # discovered from GET /v1/models
    assert answer.text == "answer to: What is the rhythm?"
    assert (answer.model, answer.prompt_tokens, answer.completion_tokens, answer.finish_reason) == \
        ("double-model", 11, 3, "stop")
    assert client.name == f"double-model@{base}/ok"


async def test_sampling_params_and_explicit_model_are_sent(double):
    base, calls, requests, _ = double
    before = calls["ok/models"]
    params = GenerationParams(max_new_tokens=7, temperature=0.5, top_p=0.9)
    async with _client(base, "ok", model="given") as client:
        await client.ask(_png(), "Rate?", params)
    assert (requests[-1]["model"], requests[-1]["max_tokens"], requests[-1]["top_p"]) == ("given", 7, 0.9)
    assert calls["ok/models"] == before  # no discovery when the model is given


async def test_model_discovery_without_a_list_omits_model_and_with_many_refuses(double):
    base, calls, requests, _ = double
    for mode in ("nolist", "brokenlist"):
        async with _client(base, mode) as client:
            await client.ask(_png(), "Q?")
            await client.ask(_png(), "Q?")
        assert "model" not in requests[-1]
    assert calls["brokenlist/models"] == 3  # 500 retried twice, then given up once for the client
    async with _client(base, "multi") as client:
        with pytest.raises(ModelResponseError, match="lists 2 models"):
            await client.ask(_png(), "Q?")


async def test_http_500_is_retried_then_reported(double):
    base, calls, _, _ = double
    async with _client(base, "status500", max_retries=2) as client:
        with pytest.raises(ModelResponseError, match="HTTP 500"):
            await client.ask(_png(), "Q?")
    assert calls["status500"] == 3


async def test_transient_503_recovers_on_retry(double):
    base, calls, _, _ = double
    async with _client(base, "flaky", max_retries=1) as client:
        answer = await client.ask(_png(), "Q?")
    assert calls["flaky"] == 2 and answer.text == "answer to: Q?"


async def test_http_400_is_not_retried(double):
    base, calls, _, _ = double
    async with _client(base, "status400", max_retries=3) as client:
        with pytest.raises(ModelResponseError, match="HTTP 400"):
            await client.ask(_png(), "Q?")
    assert calls["status400"] == 1


@pytest.mark.parametrize(("mode", "message"), [("garbage", "malformed JSON"), ("empty", "empty text"),
                                               ("nochoices", "no choices")])
async def test_garbage_answers_are_response_errors(double, mode, message):
    base, calls, _, _ = double
    async with _client(base, mode, max_retries=2) as client:
        with pytest.raises(ModelResponseError, match=message):
            await client.ask(_png(), "Q?")
    assert calls[mode] >= 1


async def test_timeout_is_retried_then_unavailable(double):
    # The slow server answers correctly after 2 s: only a timeout that fired can raise here, so
    # no wall-clock bound is needed (a 1.5 s bound was a speed assertion a loaded machine can break).
    base, calls, _, _ = double
    async with _client(base, "slow", timeout_s=0.2, max_retries=1) as client:
        with pytest.raises(ModelUnavailableError, match="timed out.*2 attempt"):
            await client.ask(_png(), "Q?")
    assert calls["slow"] == 2


async def test_server_down_is_unavailable_quickly():
    client = OpenAIClient(OpenAIClientConfig(base_url=f"http://127.0.0.1:{free_port()}", model="m",
                                             max_retries=2, backoff_s=0.01))
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="connection failed.*3 attempt"):
        await client.ask(_png(), "Q?")
    await client.aclose()
    assert time.perf_counter() - start < 5.0


async def test_ask_many_bounds_concurrency_and_keeps_order(double):
    base, _, _, in_flight = double
    in_flight.clear()
    async with _client(base, "concurrency", max_concurrency=2) as client:
        answers = await client.ask_many([(_png(seed=i), f"question {i}") for i in range(6)])
    assert [a.text for a in answers] == [f"answer to: question {i}" for i in range(6)]
    assert max(in_flight) == 2


async def test_ask_many_returns_errors_in_place(double):
    base, _, _, _ = double
    async with _client(base, "empty", max_retries=0) as client:
        results = await client.ask_many([(_png(), "a"), (_png(), "b")])
    assert all(isinstance(result, ModelResponseError) for result in results)


@pytest.mark.parametrize(("image", "question"), [(b"GIF89a....", "Q?"), (b"", "Q?"), ("not bytes", "Q?"),
                                                 (_png(), "   ")])
async def test_bad_input_is_rejected_before_any_request(image, question):
    client = OpenAIClient(OpenAIClientConfig(base_url=f"http://127.0.0.1:{free_port()}", model="m"))
    with pytest.raises(InputError):
        await client.ask(image, question)
    await client.aclose()


@pytest.mark.parametrize(("url", "expected"), [("http://h:8000/v1/", "http://h:8000"),
                                               ("https://h/prefix", "https://h/prefix")])
def test_base_url_is_normalised(url, expected):
    assert OpenAIClientConfig(base_url=url).base_url == expected


@pytest.mark.parametrize("url", ["ftp://h:1", "h:8000", "http://"])
def test_base_url_must_be_http(url):
    with pytest.raises(ValueError, match="base_url"):
        OpenAIClientConfig(base_url=url)


def test_api_key_is_sent_but_never_printed():
    config = OpenAIClientConfig(base_url="http://h:1", api_key="sekret")
    assert "sekret" not in repr(config) and "sekret" not in str(config.model_dump())


# ---------------------------------------------------------------------------------------------
# The real thing: `transformers serve` on loopback serving the tiny LLaVA-NeXT.

@pytest.mark.slow
async def test_transformers_serve_answers_like_in_process_greedy_generation(served_tiny):
    base, model_dir = served_tiny
    params = GenerationParams(max_new_tokens=12)
    image = _png(320, 240, seed=3)
    async with OpenAIClient(OpenAIClientConfig(base_url=base, timeout_s=120)) as client:
        answers = await client.ask_many([(image, "What is the heart rate?"), (image, "Is this sinus rhythm?")],
                                        params)
    for answer in answers:
        assert isinstance(answer, ModelAnswer), answer
        assert answer.completion_tokens is not None and 1 <= answer.completion_tokens <= 12
        assert answer.finish_reason in ("stop", "length")
        assert answer.prompt_tokens is not None and answer.prompt_tokens > 20  # image tokens + template
    # The server applies the same chat template and greedy decoding as our in-process backend.
    from models.client_transformers import TransformersClient, TransformersClientConfig
    async with TransformersClient(TransformersClientConfig(model_dir=model_dir, device="cpu")) as local:
        expected = await local.ask(image, "What is the heart rate?", params)
    assert answers[0].text == expected.text
    assert answers[0].prompt_tokens == expected.prompt_tokens


@pytest.mark.slow
async def test_transformers_serve_rejects_a_wrong_model_name_with_a_response_error(served_tiny):
    base, _ = served_tiny
    async with OpenAIClient(OpenAIClientConfig(base_url=base, model="not-this-one", max_retries=0)) as client:
        with pytest.raises(ModelError, match="HTTP 400"):
            await client.ask(_png(), "Q?", GenerationParams(max_new_tokens=2))
