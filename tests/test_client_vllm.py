"""VLLMClient: its config and its refusal without vllm run everywhere; the engine tests need vllm."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from models.client import GenerationParams, MLLMClient, ModelAnswer
from models.client_vllm import VLLMClient, VLLMClientConfig, vllm_available
from models.errors import ModelUnavailableError

needs_vllm = pytest.mark.skipif(not vllm_available(), reason="vllm is not installed (it needs a CUDA machine)")


def _png(seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_config_defaults_follow_pulse(tmp_path):
    config = VLLMClientConfig(model_dir=tmp_path)
    assert (config.max_model_len, config.dtype) == (4096, "auto")


@pytest.mark.parametrize("field", [{"max_model_len": 10}, {"gpu_memory_utilization": 1.5}, {"unknown": 1}])
def test_config_rejects_bad_values(tmp_path, field):
    with pytest.raises(ValidationError):
        VLLMClientConfig(model_dir=tmp_path, **field)


@pytest.mark.skipif(vllm_available(), reason="checks the behaviour where vllm is absent")
def test_without_vllm_the_client_says_so(tmp_path):
    with pytest.raises(ModelUnavailableError, match="needs the vllm package"):
        VLLMClient(VLLMClientConfig(model_dir=tmp_path))


@pytest.fixture(scope="module")
def tiny_vllm(tmp_path_factory):
    from models.tiny import build_tiny_hf

    client = VLLMClient(VLLMClientConfig(model_dir=build_tiny_hf(tmp_path_factory.mktemp("tiny")),
                                         dtype="float32", gpu_memory_utilization=0.3))
    yield client
    client._runner.close()


@needs_vllm
@pytest.mark.slow
async def test_vllm_answers_greedily_and_batches(tiny_vllm):
    assert isinstance(tiny_vllm, MLLMClient)
    params = GenerationParams(max_new_tokens=8)
    items = [(_png(seed), question) for seed, question in enumerate(["Rate?", "Rhythm?", "Axis?"])]
    answers = await tiny_vllm.ask_many(items, params)
    again = [await tiny_vllm.ask(image, question, params) for image, question in items]
    for answer, single in zip(answers, again, strict=True):
        assert isinstance(answer, ModelAnswer) and answer.text == single.text
        assert 1 <= answer.completion_tokens <= 8 and answer.finish_reason in ("stop", "length")
    assert len({answer.latency_s for answer in answers}) == 1  # one generate call for the batch


@needs_vllm
@pytest.mark.slow
async def test_vllm_prompt_matches_transformers(tiny_vllm):
    from models.client_transformers import TransformersClient, TransformersClientConfig

    image, params = _png(5), GenerationParams(max_new_tokens=6)
    async with TransformersClient(TransformersClientConfig(model_dir=tiny_vllm.config.model_dir,
                                                           dtype="float32")) as local:
        expected = await local.ask(image, "Is this sinus rhythm?", params)
    answer = await tiny_vllm.ask(image, "Is this sinus rhythm?", params)
    assert answer.prompt_tokens == expected.prompt_tokens
