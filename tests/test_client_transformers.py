"""TransformersClient on the tiny LLaVA-NeXT (random weights, local tokenizer), on the CPU."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from models.client import GenerationParams, MLLMClient, ModelAnswer, chat_messages
from models.client_transformers import TransformersClient, TransformersClientConfig, resolve_device_dtype
from models.errors import CheckpointError, ModelUnavailableError
from tools.errors import InputError


def _png(width_px: int, height_px: int, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height_px, width_px, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client(tiny_hf_dir):
    torch.manual_seed(0)
    return TransformersClient(TransformersClientConfig(model_dir=tiny_hf_dir, device="cpu", max_batch_size=4))


# Different sizes and questions give prompts of different lengths, so batches need left padding.
ITEMS = [(_png(320, 240, 1), "What is the rhythm?"),
         (_png(200, 500, 2), "What is the heart rate in beats per minute?"),
         (_png(640, 300, 3), "Axis?")]
SHORT = GenerationParams(max_new_tokens=6)


async def test_answer_is_greedy_deterministic_and_accounted(client):
    assert isinstance(client, MLLMClient)
    first = await client.ask(*ITEMS[0], SHORT)
    second = await client.ask(*ITEMS[0], SHORT)
    assert isinstance(first, ModelAnswer) and first.text == second.text
    assert 1 <= first.completion_tokens <= 6
    assert first.finish_reason == ("length" if first.completion_tokens == 6 else "stop")
    assert first.model == str(client.config.model_dir) and first.latency_s > 0


async def test_prompt_is_the_chat_template_with_one_bos(client):
    image = Image.open(io.BytesIO(ITEMS[0][0])).convert("RGB")
    reference = client.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": ITEMS[0][1]}]}],
        add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    ours = client.prepare([(image, ITEMS[0][1])])
    assert ours["input_ids"].tolist() == reference["input_ids"].tolist()
    bos = client.processor.tokenizer.bos_token_id
    assert ours["input_ids"][0].tolist().count(bos) == 1
    answer = await client.ask(*ITEMS[0], SHORT)
    assert answer.prompt_tokens == reference["input_ids"].shape[1]


async def test_left_padded_batch_gives_the_single_answers(client):
    singles = [await client.ask(image, question, SHORT) for image, question in ITEMS]
    batched = await client.ask_many(ITEMS, SHORT)
    assert [a.text for a in batched] == [a.text for a in singles]
    assert [a.prompt_tokens for a in batched] == [a.prompt_tokens for a in singles]
    assert len({a.prompt_tokens for a in batched}) == 3  # the padding was really exercised
    assert len({a.latency_s for a in batched}) == 1  # one generate call served all three


async def test_static_and_dynamic_kv_caches_give_the_same_answers(client, tiny_hf_dir):
    static = await client.ask_many(ITEMS, SHORT)
    async with TransformersClient(TransformersClientConfig(model_dir=tiny_hf_dir, device="cpu",
                                                           kv_cache="dynamic")) as dynamic_client:
        dynamic = await dynamic_client.ask_many(ITEMS, SHORT)
    assert [a.text for a in static] == [a.text for a in dynamic]


async def test_batches_are_capped_and_split_by_params(client):
    answers = await client.ask_many(ITEMS * 2, SHORT)  # 6 items, max_batch_size 4 -> two batches
    assert len({a.latency_s for a in answers}) == 2
    other = GenerationParams(max_new_tokens=2)
    mixed = await asyncio.gather(client.ask(*ITEMS[0], SHORT), client.ask(*ITEMS[1], other))
    assert mixed[1].completion_tokens <= 2 and mixed[0].latency_s != mixed[1].latency_s


async def test_cancelled_ask_does_not_strand_the_others(client):
    leader = asyncio.create_task(client.ask(*ITEMS[0], GenerationParams(max_new_tokens=24)))
    follower = asyncio.create_task(client.ask(*ITEMS[1], SHORT))  # other params: waits for the next batch
    await asyncio.sleep(0.05)
    leader.cancel()
    answer = await asyncio.wait_for(follower, timeout=60)
    assert isinstance(answer, ModelAnswer) and leader.cancelled()
    assert (await client.ask(*ITEMS[2], SHORT)).text  # the client still works afterwards


async def test_sampling_runs_without_warnings(client):
    answer = await client.ask(*ITEMS[1], GenerationParams(max_new_tokens=4, temperature=0.8, top_p=0.9))
    assert 1 <= answer.completion_tokens <= 4


async def test_event_loop_keeps_running_during_generation(client):
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    await client.ask(*ITEMS[2], GenerationParams(max_new_tokens=8))
    task.cancel()
    assert ticks > 0


async def test_bad_images_and_questions_are_input_errors(client):
    with pytest.raises(InputError, match="could not be decoded"):
        await client.ask(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "Q?")
    with pytest.raises(InputError, match="PNG or JPEG"):
        await client.ask(b"BM" + b"\x00" * 32, "Q?")
    with pytest.raises(InputError, match="question"):
        await client.ask(ITEMS[0][0], "")


async def test_closed_client_is_unavailable(tiny_hf_dir):
    local = TransformersClient(TransformersClientConfig(model_dir=tiny_hf_dir, device="cpu"))
    await local.aclose()
    with pytest.raises(ModelUnavailableError, match="closed"):
        await local.ask(*ITEMS[0], SHORT)


def test_directory_without_a_model_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match=str(tmp_path)):
        TransformersClient(TransformersClientConfig(model_dir=tmp_path, device="cpu"))


async def test_flat_merge_checkpoint_answers_in_process(tmp_path):
    from models.tiny import build_tiny_hf

    flat_dir = build_tiny_hf(tmp_path / "flat", seed=0, merge_type="flat")
    async with TransformersClient(TransformersClientConfig(model_dir=flat_dir, device="cpu")) as flat:
        answers = await flat.ask_many(ITEMS[:2], SHORT)
        assert type(flat.model).__name__ == "LlavaNextFlatForConditionalGeneration"
    # Flat packing (base view + whole tiles, no unpadding, no newline rows) gives other prompt lengths.
    assert all(isinstance(a, ModelAnswer) and 1 <= a.completion_tokens <= 6 for a in answers)


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "gpu"])
def test_config_refuses_unknown_devices(tmp_path, device):
    with pytest.raises(ValidationError):
        TransformersClientConfig(model_dir=tmp_path, device=device)


def test_auto_dtype_is_float32_on_cpu_and_bfloat16_on_cuda():
    assert resolve_device_dtype("cpu", "auto") == ("cpu", torch.float32)
    assert resolve_device_dtype("cpu", "bfloat16") == ("cpu", torch.bfloat16)
    if torch.cuda.is_available():
        assert resolve_device_dtype("cuda", "auto") == ("cuda", torch.bfloat16)
    else:
        with pytest.raises(ModelUnavailableError, match="CUDA is not available"):
            resolve_device_dtype("cuda", "auto")


def test_chat_messages_put_the_image_first():
    assert chat_messages("Q?")[0]["content"][0] == {"type": "image"}
