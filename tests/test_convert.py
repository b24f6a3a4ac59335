"""Tests of models.convert (original LLaVA -> HF LLaVA-NeXT), models.llava_flat and models.vllm_plugin.

The equivalence test rebuilds the tiny original checkpoint from its seed, converts it and compares
the converted model's logits with those the ORIGINAL LLaVA code produced on the same image and
prompt (tests/data/convert_reference/, recorded once with llava-torch: docs/converter-equivalence.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from models.convert import LlavaSizes, convert_checkpoint, key_table, load_converted
from models.errors import CheckpointError
from models.llava_flat import anyres_view_count, flat_feature_count, pack_flat
from models.tiny import TINY, build_tiny_clip, build_tiny_original, synthetic_ecg_image

REFERENCE_DIR = Path(__file__).parent / "data" / "convert_reference"
ORIGINAL_IMAGE_TOKEN = -200  # llava.constants.IMAGE_TOKEN_INDEX


def _tensors(directory: Path) -> dict[str, torch.Tensor]:
    out = {}
    for file in sorted(directory.glob("*.safetensors")):
        with safe_open(file, framework="pt") as handle:
            out.update({key: handle.get_tensor(key) for key in handle.keys()})
    return out


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((REFERENCE_DIR / "reference.json").read_text())


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("originals")
    return {merge: build_tiny_original(root / f"llava-{merge}", seed=0, merge_type=merge)
            for merge in ("spatial_unpad", "flat")}  # fmt: skip


@pytest.mark.parametrize("merge_type", ["spatial_unpad", "flat"])
def test_converted_logits_equal_the_original_llava_code(tmp_path, originals, reference, merge_type):
    saved = np.load(REFERENCE_DIR / reference["files"][merge_type])
    report = convert_checkpoint(originals[merge_type], tmp_path / "hf")
    assert report.merge_type == merge_type
    model, processor = load_converted(tmp_path / "hf")
    spec = reference["image"]
    image = Image.fromarray(synthetic_ecg_image(spec["height_px"], spec["width_px"], seed=spec["seed"]))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": reference["question"]}]}]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                           return_dict=True, return_tensors="pt", images=[image])  # fmt: skip
    ids = inputs["input_ids"][0].numpy()
    image_id = model.config.image_token_id
    # Same token ids as LLaVA's tokenizer_image_token + llava_v1, once the <image> run is collapsed.
    is_image = ids == image_id
    collapsed = ids[~is_image | ~np.concatenate([[False], is_image[:-1]])]
    np.testing.assert_array_equal(np.where(collapsed == image_id, ORIGINAL_IMAGE_TOKEN, collapsed), saved["input_ids"])
    assert is_image.sum() == int(saved["n_image_tokens"])
    pixels = inputs["pixel_values"].numpy()
    assert pixels.shape == tuple(saved["pixel_shape"])
    np.testing.assert_allclose(pixels.ravel()[:: reference["pixel_stride"]], saved["pixel_sample"], atol=1e-6)
    with torch.no_grad():
        logits = model(**inputs).logits[0, :, : TINY.vocab_size].numpy()
    # float32 on CPU: the recorded run differed by at most 1.1e-6 (logits of magnitude up to 2).
    np.testing.assert_allclose(logits[saved["positions"]], saved["logits"], rtol=0, atol=1e-4)
    assert np.array_equal(logits[saved["positions"]].argmax(-1), saved["logits"].argmax(-1))


def test_flat_and_spatial_unpad_pack_the_same_views_differently(originals, reference):
    height_px, width_px = reference["image"]["height_px"], reference["image"]["width_px"]
    flat = np.load(REFERENCE_DIR / reference["files"]["flat"])
    unpad = np.load(REFERENCE_DIR / reference["files"]["spatial_unpad"])
    pinpoints = [[h, w] for w, h in json.loads((originals["flat"] / "config.json").read_text())["image_grid_pinpoints"]]
    assert anyres_view_count((height_px, width_px), pinpoints, 336) == 3  # base + 1 x 2 tiles
    assert flat_feature_count((height_px, width_px), pinpoints, 336, 14) == int(flat["n_image_tokens"]) == 3 * 576
    assert int(unpad["n_image_tokens"]) < int(flat["n_image_tokens"])  # padding rows cropped, newlines added


def test_pack_flat_is_base_view_then_tiles_in_order():
    views = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)  # 2 images x 3 views
    packed, lengths = pack_flat([views[0], views[1][:2]])
    assert lengths.tolist() == [12, 8]
    assert torch.equal(packed[0], torch.cat([views[0][0], views[0][1], views[0][2]]))
    assert torch.equal(packed[1], torch.cat([views[1][0], views[1][1]]))


def test_vllm_plugin_imports_without_vllm():
    import models.vllm_plugin as plugin

    try:
        import vllm  # noqa: F401
    except ImportError:
        assert plugin.VLLM_AVAILABLE is False
        assert plugin.register() is None
    else:
        assert plugin.VLLM_AVAILABLE is True


def test_output_records_the_variant_and_loads_completely(tmp_path, originals):
    from transformers import AutoModelForImageTextToText

    report = convert_checkpoint(originals["flat"], tmp_path / "flat")
    config = json.loads((tmp_path / "flat" / "config.json").read_text())
    assert config["model_type"] == "llava_next_flat"
    assert config["architectures"] == ["LlavaNextFlatForConditionalGeneration"]
    assert config["ecg_agent_conversion"]["merge_type"] == "flat"
    assert config["image_token_index"] == TINY.vocab_size == report.image_token_index
    _, info = AutoModelForImageTextToText.from_pretrained(tmp_path / "flat", output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    out = _tensors(tmp_path / "flat")
    src = _tensors(originals["flat"])
    assert "image_newline" not in out
    up_proj = "model.layers.1.mlp.up_proj.weight"
    assert torch.equal(out[f"language_model.{up_proj}"], src[up_proj])
    assert torch.equal(out["multi_modal_projector.linear_2.bias"], src["model.mm_projector.2.bias"])
    embed = out["language_model.model.embed_tokens.weight"]
    assert embed.shape == (TINY.vocab_size + 1, TINY.text_hidden)
    assert torch.allclose(embed[-1], src["model.embed_tokens.weight"].mean(0))


def test_tower_from_a_local_clip_directory_gives_the_same_output(tmp_path):
    bare = build_tiny_original(tmp_path / "bare", seed=5, include_vision_tower=False)
    with pytest.raises(CheckpointError, match="vision tower weights are absent.*--vision-tower"):
        convert_checkpoint(bare, tmp_path / "out-none")
    clip = build_tiny_clip(tmp_path / "clip", seed=5)
    report = convert_checkpoint(bare, tmp_path / "out-clip", vision_tower_dir=clip)
    assert report.vision_tower_source == str(clip)
    full = build_tiny_original(tmp_path / "full", seed=5)
    with pytest.raises(CheckpointError, match="already holds the vision tower"):
        convert_checkpoint(full, tmp_path / "out-both", vision_tower_dir=clip)
    convert_checkpoint(full, tmp_path / "out-full")
    a, b = _tensors(tmp_path / "out-clip"), _tensors(tmp_path / "out-full")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_half_precision_output(tmp_path, originals):
    report = convert_checkpoint(originals["spatial_unpad"], tmp_path / "bf16", dtype="bfloat16")
    assert report.dtype == "bfloat16"
    assert {t.dtype for t in _tensors(tmp_path / "bf16").values()} == {torch.bfloat16}


def test_7b_key_table_matches_published_parameter_counts():
    pulse = LlavaSizes(
        vocab_size=32000, text_hidden=4096, text_intermediate=11008, text_layers=32, text_heads=32,
        text_kv_heads=32, vision_hidden=1024, vision_intermediate=4096, vision_layers=24, vision_heads=16,
        image_size_px=336, patch_px=14,
    )  # fmt: skip
    table = key_table(pulse, "spatial_unpad")
    count = {name: int(np.prod(shape)) for name, (_, shape) in table.items()}
    llama = sum(n for k, n in count.items() if k.startswith(("model.layers.", "model.embed", "model.norm", "lm_head")))
    clip = sum(n for k, n in count.items() if k.startswith("vision_model."))
    assert llama == 6_738_415_616  # LLaMA-7B / Vicuna-7B
    assert clip == 303_507_456  # CLIP ViT-L/14-336 vision tower
    assert len(table) == 3 + 32 * 9 + 4 + 1 + 7 + 24 * 16
    assert len(key_table(pulse, "flat")) == len(table) - 1  # no image_newline


# ---- bad input: one-line CheckpointError naming what is wrong ----


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_config(directory: Path, **changes) -> None:
    path = directory / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def test_not_a_llava_checkpoint(tmp_path, originals):
    with pytest.raises(CheckpointError, match="not a LLaVA checkpoint.*no config.json"):
        convert_checkpoint(tmp_path, tmp_path / "out")
    with pytest.raises(CheckpointError, match="not a converted checkpoint.*no config.json"):
        load_converted(tmp_path)
    # An already converted directory is not a source either.
    convert_checkpoint(originals["flat"], tmp_path / "converted")
    with pytest.raises(CheckpointError, match=r"architecture mismatch.*LlavaNextFlatForConditionalGeneration"):
        convert_checkpoint(tmp_path / "converted", tmp_path / "again")
    bad = _copy(originals["flat"], tmp_path / "llama")
    _edit_config(bad, architectures=["LlamaForCausalLM"])
    with pytest.raises(CheckpointError, match=r"architecture mismatch.*\['LlamaForCausalLM'\].*LlavaLlamaForCausalLM"):
        convert_checkpoint(bad, tmp_path / "out")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("mm_projector_type", "linear", "unsupported mm_projector_type='linear'"),
        ("image_aspect_ratio", "pad", "unsupported image_aspect_ratio='pad'"),
        ("mm_patch_merge_type", "spatial", "unsupported mm_patch_merge_type='spatial'"),
        ("hidden_size", 128, "text hidden size: tensors give 64 but config hidden_size=128"),
        ("num_hidden_layers", 3, "text layers: tensors give 2 but config num_hidden_layers=3"),
        ("mm_hidden_size", 1024, "vision hidden size: tensors give 64 but config mm_hidden_size=1024"),
    ],
)
def test_config_disagreeing_with_tensors_or_unsupported(tmp_path, originals, key, value, message):
    bad = _copy(originals["flat"], tmp_path / "bad")
    _edit_config(bad, **{key: value})
    with pytest.raises(CheckpointError, match=message):
        convert_checkpoint(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_shard(tmp_path, originals):
    bad = _copy(originals["spatial_unpad"], tmp_path / "bad")
    (bad / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"missing shard model-00002-of-00003.safetensors .*\(1 of 3 missing\)"):
        convert_checkpoint(bad, tmp_path / "out")


def _rewrite_shard_with(directory: Path, key: str, tensor: torch.Tensor | None) -> None:
    """Replace (or, with None, delete) one tensor in the shard that holds it."""
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    shard = directory / index["weight_map"][key]
    tensors = load_file(shard)
    if tensor is None:
        del tensors[key]
    else:
        tensors[key] = tensor
    save_file(tensors, str(shard), metadata={"format": "pt"})


def test_shape_mismatch_names_both_keys_and_shapes(tmp_path, originals):
    bad = _copy(originals["spatial_unpad"], tmp_path / "bad")
    _rewrite_shard_with(bad, "model.layers.1.mlp.up_proj.weight", torch.zeros(100, 64))
    with pytest.raises(
        CheckpointError,
        match=r"shape mismatch: model\.layers\.1\.mlp\.up_proj\.weight is \[100, 64\] but "
        r"language_model\.model\.layers\.1\.mlp\.up_proj\.weight needs \[128, 64\]",
    ):
        convert_checkpoint(bad, tmp_path / "out")


def test_missing_and_unexpected_tensors(tmp_path, originals):
    bad = _copy(originals["spatial_unpad"], tmp_path / "missing")
    _rewrite_shard_with(bad, "model.image_newline", None)
    index = json.loads((bad / "model.safetensors.index.json").read_text())
    del index["weight_map"]["model.image_newline"]
    (bad / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=r"has \d+ tensors, the key table \d+: missing \['model.image_newline'\]"):
        convert_checkpoint(bad, tmp_path / "out")
    # A flat config with a newline tensor: the tensor belongs to another variant.
    extra = _copy(originals["spatial_unpad"], tmp_path / "extra")
    _edit_config(extra, mm_patch_merge_type="flat")
    with pytest.raises(CheckpointError, match=r"unexpected \['model.image_newline'\]"):
        convert_checkpoint(extra, tmp_path / "out")


def test_index_listing_a_tensor_absent_from_its_shard(tmp_path, originals):
    bad = _copy(originals["flat"], tmp_path / "bad")
    _rewrite_shard_with(bad, "model.norm.weight", None)
    with pytest.raises(CheckpointError, match="'model.norm.weight' is listed in .* but absent from its shard"):
        convert_checkpoint(bad, tmp_path / "out")


def test_output_directory_already_converted(tmp_path, originals):
    convert_checkpoint(originals["flat"], tmp_path / "out")
    with pytest.raises(CheckpointError, match="already holds a config.json"):
        convert_checkpoint(originals["flat"], tmp_path / "out")


def test_cli_converts_and_reports_bad_input(tmp_path, originals, capsys):
    from models.cli.convert import add_parser
    from tools.errors import InputError

    parser = argparse.ArgumentParser(prog="ecg-agent")
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["convert", str(originals["flat"]), str(tmp_path / "out"), "--dtype", "float16"])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "mm_patch_merge_type=flat -> llava_next_flat" in out and "(float16)" in out
    args = parser.parse_args(["convert", str(tmp_path / "nowhere"), str(tmp_path / "out2")])
    with pytest.raises(InputError, match="src=.*nowhere: not a directory"):
        args.run(args)


def test_multi_turn_prompt_tokenizes_as_the_original_code(tmp_path, originals, reference):
    from transformers import AutoTokenizer

    convert_checkpoint(originals["flat"], tmp_path / "hf")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    turns = reference["multi_turn"]["turns"]
    question = turns[0][1].removeprefix("<image>\n")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
                {"role": "assistant", "content": turns[1][1]}, {"role": "user", "content": turns[2][1]}]  # fmt: skip
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(prompt, add_special_tokens=False).input_ids
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    assert [ORIGINAL_IMAGE_TOKEN if i == image_id else i for i in ids] == reference["multi_turn"]["input_ids"]


def test_vllm_plugin_against_a_fake_vllm(monkeypatch, originals, tmp_path):
    """The plugin's wiring, with vLLM's documented classes replaced by minimal stand-ins."""
    import importlib
    import sys
    import types

    from transformers import AutoConfig

    import models.vllm_plugin

    class FakeLlavaNext(torch.nn.Module):
        def __init__(self, *, vllm_config, prefix=""):
            super().__init__()
            self.config = vllm_config
            self.image_newline = torch.nn.Parameter(torch.zeros(4))

        def _process_image_pixels(self, image_input):
            return image_input["data"]  # per image: (views, tokens, hidden), possibly batch-padded

    class FakeInfo:
        def __init__(self, config):
            self.config = config

        def get_hf_config(self):
            return self.config

    registered: dict = {}
    fake_registry = types.SimpleNamespace(
        register_processor=lambda *args, **kwargs: (lambda cls: registered.setdefault("processor", (cls, kwargs)) and cls)
    )  # fmt: skip
    fake_models = types.SimpleNamespace(
        get_supported_archs=lambda: [], register_model=lambda name, cls: registered.setdefault(name, cls)
    )  # fmt: skip
    modules = {
        "vllm": types.SimpleNamespace(ModelRegistry=fake_models),
        "vllm.model_executor.models.llava": types.SimpleNamespace(LlavaDummyInputsBuilder=object),
        "vllm.model_executor.models.llava_next": types.SimpleNamespace(
            LlavaNextForConditionalGeneration=FakeLlavaNext, LlavaNextMultiModalProcessor=object,
            LlavaNextProcessingInfo=FakeInfo,
        ),  # fmt: skip
        "vllm.multimodal": types.SimpleNamespace(MULTIMODAL_REGISTRY=fake_registry),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    try:
        plugin = importlib.reload(models.vllm_plugin)
        assert plugin.VLLM_AVAILABLE
        plugin.register()
        model_class = registered["LlavaNextFlatForConditionalGeneration"]
        convert_checkpoint(originals["flat"], tmp_path / "hf")
        config = AutoConfig.from_pretrained(tmp_path / "hf")
        info = registered["processor"][1]["info"](config)
        assert info.get_num_image_tokens(image_width=600, image_height=250) == 3 * 576
        model = model_class(vllm_config=config)
        assert not hasattr(model, "image_newline")
        # Two images padded to 4 views; each really has 3 (a 1 x 2 or 2 x 1 grid plus the base view).
        features = torch.randn(2, 4, 576, 8)
        sizes = torch.tensor([[250, 600], [300, 300]])
        packed = model._process_image_input({"type": "pixel_values", "data": features, "image_sizes": sizes})
        assert torch.equal(packed[0], features[0, :3].flatten(0, 1))
        assert torch.equal(packed[1], features[1, :3].flatten(0, 1))
    finally:
        monkeypatch.undo()
        importlib.reload(models.vllm_plugin)
