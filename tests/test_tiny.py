"""Tests of models.tiny: locally trained tokenizer, tiny original-format and HF LLaVA-NeXT checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from models.convert import LlavaSizes, key_table
from models.tiny import (
    MEDIUM,
    SYSTEM_PROMPT,
    TINY,
    build_tiny_clip,
    build_tiny_hf,
    build_tiny_original,
    grid_pinpoints,
    synthetic_ecg_image,
    train_tiny_tokenizer,
)
from tools.errors import InputError


def _tensors(directory: Path) -> dict[str, torch.Tensor]:
    out = {}
    for file in sorted(directory.glob("*.safetensors")):
        with safe_open(file, framework="pt") as handle:
            out.update({key: handle.get_tensor(key) for key in handle.keys()})
    return out


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory) -> Path:
    return build_tiny_hf(tmp_path_factory.mktemp("tiny") / "hf", seed=0)


@pytest.fixture(scope="module")
def hf_model(hf_dir):
    from transformers import AutoProcessor, LlavaNextForConditionalGeneration

    model, info = LlavaNextForConditionalGeneration.from_pretrained(hf_dir, output_loading_info=True)
    return model.eval(), AutoProcessor.from_pretrained(hf_dir), info


def test_tokenizer_is_llama_style_and_deterministic(tmp_path):
    import sentencepiece as spm

    first = train_tiny_tokenizer(tmp_path / "a")
    second = train_tiny_tokenizer(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    sp = spm.SentencePieceProcessor(model_file=str(first))
    assert sp.vocab_size() == TINY.vocab_size
    assert [sp.id_to_piece(i) for i in range(3)] == ["<unk>", "<s>", "</s>"]
    assert sp.piece_to_id("<image>") == sp.unk_id()  # spliced in by LLaVA, never a SentencePiece piece
    # Byte fallback: a character absent from the corpus round-trips instead of becoming <unk>.
    text = "QTc 452 ms, µV ±"
    ids = sp.encode(text)
    assert sp.unk_id() not in ids and sp.decode(ids) == text


@pytest.mark.parametrize("merge_type", ["spatial_unpad", "flat"])
def test_original_checkpoint_layout(tmp_path, merge_type):
    src = build_tiny_original(tmp_path / "llava-tiny", seed=3, merge_type=merge_type)
    config = json.loads((src / "config.json").read_text())
    assert config["architectures"] == ["LlavaLlamaForCausalLM"] and config["model_type"] == "llava"
    assert config["mm_patch_merge_type"] == merge_type and config["mm_projector_type"] == "mlp2x_gelu"
    assert config["image_grid_pinpoints"] == [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
    index = json.loads((src / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) == 3
    tensors = _tensors(src)
    assert set(tensors) == set(index["weight_map"])
    assert ("model.image_newline" in tensors) == (merge_type == "spatial_unpad")
    assert tensors["model.mm_projector.0.weight"].shape == (TINY.text_hidden, TINY.vision_hidden)
    assert tensors["model.vision_tower.vision_tower.vision_model.embeddings.position_embedding.weight"].shape == (
        (336 // 14) ** 2 + 1,
        TINY.vision_hidden,
    )
    assert (src / "tokenizer.model").is_file() and (src / "tokenizer_config.json").is_file()


def test_seed_decides_every_weight(tmp_path):
    a = _tensors(build_tiny_original(tmp_path / "a", seed=1))
    b = _tensors(build_tiny_original(tmp_path / "b", seed=1))
    c = _tensors(build_tiny_original(tmp_path / "c", seed=2))
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not any(torch.equal(a[k], c[k]) for k in a if a[k].numel() > 1)


def test_checkpoint_without_tower_plus_clip_dir_is_the_same_model(tmp_path):
    full = _tensors(build_tiny_original(tmp_path / "full", seed=4))
    bare = _tensors(build_tiny_original(tmp_path / "bare", seed=4, include_vision_tower=False))
    clip = _tensors(build_tiny_clip(tmp_path / "clip", seed=4))
    assert not any(k.startswith("model.vision_tower.") for k in bare)
    rebuilt = bare | {f"model.vision_tower.vision_tower.{k}": v for k, v in clip.items()}
    assert rebuilt.keys() == full.keys() and all(torch.equal(rebuilt[k], full[k]) for k in full)
    assert json.loads((tmp_path / "clip" / "config.json").read_text())["model_type"] == "clip_vision_model"


def test_hf_directory_loads_completely(hf_model):
    model, processor, info = hf_model
    assert info["missing_keys"] == set() or not info["missing_keys"]
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    assert type(processor.image_processor).__name__ == "LlavaNextImageProcessorPil"  # no torchvision needed
    assert processor.image_processor.image_grid_pinpoints == [
        [672, 336], [336, 672], [672, 672], [336, 1008], [1008, 336]
    ]  # fmt: skip
    assert model.config.image_token_id == TINY.vocab_size
    assert processor.tokenizer.convert_tokens_to_ids("<image>") == TINY.vocab_size


def test_chat_template_is_llava_v1(hf_model):
    _, processor, _ = hf_model
    messages = [{"role": "user", "content": [{"type": "text", "text": "What is the rhythm?"}, {"type": "image"}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    # The spaces after <s> and <image> make the ids equal LLaVA's chunk-wise tokenization (test_convert).
    assert prompt == f"<s> {SYSTEM_PROMPT} USER: <image> \nWhat is the rhythm? ASSISTANT:"
    turns = messages + [{"role": "assistant", "content": "Sinus rhythm."}, {"role": "user", "content": "Rate?"}]
    prompt = processor.apply_chat_template(turns, add_generation_prompt=True)
    assert prompt.endswith("ASSISTANT: Sinus rhythm.</s>USER: Rate? ASSISTANT:")


@pytest.mark.slow
def test_generate_on_an_anyres_image(hf_model):
    model, processor, _ = hf_model
    image = Image.fromarray((np.random.default_rng(0).random((300, 700, 3)) * 255).astype("uint8"))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Rate?"}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(images=image, text=prompt, return_tensors="pt")
    # 300 x 700 px (h x w) selects the 336 x 1008 grid (it keeps most resolution): base view + 3 tiles.
    assert inputs["pixel_values"].shape[1:] == (4, 3, 336, 336)
    outputs = [model.generate(**inputs, max_new_tokens=4, do_sample=False) for _ in range(2)]
    assert outputs[0].shape == (1, inputs["input_ids"].shape[1] + 4)
    assert torch.equal(outputs[0], outputs[1])


def test_medium_has_tens_of_millions_of_parameters():
    def n_parameters(sizes) -> int:
        llava = LlavaSizes(
            vocab_size=sizes.vocab_size, text_hidden=sizes.text_hidden, text_intermediate=sizes.text_intermediate,
            text_layers=sizes.text_layers, text_heads=sizes.text_heads, text_kv_heads=sizes.text_heads,
            vision_hidden=sizes.vision_hidden, vision_intermediate=sizes.vision_intermediate,
            vision_layers=sizes.vision_layers, vision_heads=sizes.vision_hidden // 64,
            image_size_px=sizes.image_size_px, patch_px=sizes.patch_px,
        )  # fmt: skip
        return sum(int(np.prod(shape)) for _, shape in key_table(llava, "spatial_unpad").values())

    assert 10e6 < n_parameters(MEDIUM) < 100e6
    assert n_parameters(TINY) < 1e6


def test_grid_pinpoints_scale_with_the_tower():
    assert grid_pinpoints(336)[0] == [336, 672]
    assert grid_pinpoints(112) == [[112, 224], [224, 112], [224, 224], [336, 112], [112, 336]]


def test_synthetic_ecg_image():
    image = synthetic_ecg_image(250, 600, heart_rate_bpm=60.0)
    assert image.shape == (250, 600, 3) and image.dtype == np.uint8
    assert np.array_equal(image, synthetic_ecg_image(250, 600, heart_rate_bpm=60.0))
    # At 60 bpm and 200 px/s, QRS peaks (1.2 mV = 96 px above the baseline at row 150) sit at
    # 0.3 s + k s: columns 60, 260, 460. Columns whose trace rises above row 70 form three runs there.
    trace_top_px = np.argmax(np.all(image == 0, axis=2), axis=0)
    tall = np.flatnonzero(trace_top_px < 250 * 0.6 - 80)
    runs = np.split(tall, np.flatnonzero(np.diff(tall) > 1) + 1)
    assert [round(float(np.mean(run)) / 200 - 0.3, 1) for run in runs] == [0.0, 1.0, 2.0]
    with pytest.raises(InputError, match="height_px=10"):
        synthetic_ecg_image(10, 600)
