"""Convert an original-LLaVA checkpoint (PULSE-7B's published format) to a Hugging Face LLaVA-NeXT directory.

Input: a directory as the LLaVA repository saves it — ``config.json`` (architecture
``LlavaLlamaForCausalLM``, ``mm_projector_type`` mlp2x_gelu, ``image_aspect_ratio`` anyres,
``image_grid_pinpoints``, ``mm_patch_merge_type``), safetensors shards (``model.*``, ``lm_head.*``,
projector under ``model.mm_projector.{0,2}.*``, CLIP tower under
``model.vision_tower.vision_tower.vision_model.*`` when it was saved, ``model.image_newline`` when
spatial_unpad) and a SentencePiece ``tokenizer.model``.

Output: a directory that ``transformers`` and ``vllm serve`` load, in the classic llava-hf weight
layout (``language_model.model.*``, ``language_model.lm_head.weight``, ``vision_tower.vision_model.*``,
``multi_modal_projector.linear_{1,2}.*``, ``image_newline``), with a processor (anyres pinpoints from
the source, ``<image>`` added to the tokenizer, llava_v1 chat template) and, in ``config.json``,
``ecg_agent_conversion``: where it came from and which packing it needs.

Every size is read from the tensors and checked against the config, so the tiny test checkpoints
and the 7B one take the same path; what the tensors cannot tell (the CLIP head count) follows CLIP
ViT-L/14-336 (head dimension 64) unless a local CLIP directory provides its config.
``mm_patch_merge_type`` "spatial_unpad" becomes ``llava_next``; "flat" (PULSE's) becomes
``llava_next_flat`` (:mod:`models.llava_flat`).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from models.errors import CheckpointError

__all__ = [
    "MergeType",
    "LlavaSizes",
    "ConversionReport",
    "CHAT_TEMPLATE_PATH",
    "read_source_config",
    "derive_sizes",
    "key_table",
    "convert_checkpoint",
    "load_converted",
]

MergeType = Literal["spatial_unpad", "flat"]
CHAT_TEMPLATE_PATH = Path(__file__).with_name("chat_template.jinja")
IMAGE_TOKEN = "<image>"
SOURCE_ARCHITECTURE = "LlavaLlamaForCausalLM"
_CLIP_HEAD_DIM = 64  # CLIP ViT-L/14-336: the tensors cannot tell the head count
_SHARD_BYTES = 5 * 1024**3  # PULSE-7B in fp16 -> 3 shards, as published
_LLAMA_LAYER_KEYS = (
    "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
    "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
    "input_layernorm.weight", "post_attention_layernorm.weight",
)  # fmt: skip
_CLIP_LAYER_KEYS = tuple(
    f"{module}.{param}"
    for module in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                   "layer_norm1", "mlp.fc1", "mlp.fc2", "layer_norm2")
    for param in ("weight", "bias")
)  # fmt: skip
_CLIP_OUTER_KEYS = (
    "embeddings.class_embedding", "embeddings.patch_embedding.weight",
    "embeddings.position_embedding.weight", "pre_layrnorm.weight", "pre_layrnorm.bias",
    "post_layernorm.weight", "post_layernorm.bias",
)  # fmt: skip
_SRC_TOWER = "model.vision_tower.vision_tower.vision_model."
# Buffers some LLaVA/transformers versions saved; recomputed at load time, so never converted.
_IGNORED = re.compile(r"(\.rotary_emb\.inv_freq|embeddings\.position_ids)$")


class LlavaSizes(BaseModel):
    """Architecture sizes read from a checkpoint's tensors (and, where tensors cannot tell, its config)."""

    model_config = ConfigDict(frozen=True)

    vocab_size: int  # without <image>
    text_hidden: int
    text_intermediate: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    vision_hidden: int
    vision_intermediate: int
    vision_layers: int
    vision_heads: int
    image_size_px: int
    patch_px: int


class ConversionReport(BaseModel):
    """What :func:`convert_checkpoint` did; also written to the output ``config.json``."""

    model_config = ConfigDict(frozen=True)

    source: str
    merge_type: MergeType
    model_type: Literal["llava_next", "llava_next_flat"]
    architecture: str
    vision_tower_source: str  # "checkpoint" or the local CLIP directory
    n_tensors: int
    dtype: str
    image_token_index: int
    image_grid_pinpoints_hw: list[list[int]]
    sizes: LlavaSizes


def read_source_config(src: Path) -> dict[str, Any]:
    """Read and check an original-LLaVA ``config.json``.

    Raises
    ------
    CheckpointError
        No config, not ``LlavaLlamaForCausalLM``, or an option this converter does not support
        (projector other than mlp2x_gelu, aspect ratio other than anyres, merge type other than
        spatial_unpad/flat, vision feature other than patch).
    """
    path = src / "config.json"
    if not path.is_file():
        raise CheckpointError(f"not a LLaVA checkpoint: {src} has no config.json")
    config = json.loads(path.read_text())
    architectures = config.get("architectures") or []
    if architectures != [SOURCE_ARCHITECTURE]:
        raise CheckpointError(
            f"architecture mismatch: {src} declares architectures={architectures}, expected [{SOURCE_ARCHITECTURE!r}]"
        )
    expected = {
        "mm_projector_type": ("mlp2x_gelu",),
        "image_aspect_ratio": ("anyres",),
        "mm_patch_merge_type": ("spatial_unpad", "flat"),
        "mm_vision_select_feature": ("patch",),
    }
    # The original code's defaults when a key is absent (llava/model/llava_arch.py).
    defaults = {"mm_patch_merge_type": "flat", "mm_vision_select_feature": "patch", "image_aspect_ratio": "square"}
    for key, allowed in expected.items():
        value = config.get(key, defaults.get(key))
        if value not in allowed:
            raise CheckpointError(f"unsupported {key}={value!r} in {path}: expected one of {list(allowed)}")
    return {**{k: v for k, v in defaults.items() if k not in config}, **config}


def _source_pinpoints_hw(config: dict[str, Any]) -> list[list[int]]:
    """Anyres resolutions as [height, width]: the original code reads each pair as (width, height)."""
    raw = config.get("image_grid_pinpoints")
    pinpoints = ast.literal_eval(raw) if isinstance(raw, str) else raw
    if not pinpoints or any(len(p) != 2 for p in pinpoints):
        raise CheckpointError(f"image_grid_pinpoints={raw!r} is not a list of [width, height] pairs")
    return [[int(h), int(w)] for w, h in pinpoints]


class _TensorHeaders:
    """Names, shapes and files of the tensors in safetensors files, read from headers only."""

    def __init__(self, files: list[Path], rename=lambda key: key):
        from safetensors import safe_open

        self.entries: dict[str, tuple[Path, str, tuple[int, ...]]] = {}
        for file in files:
            with safe_open(file, framework="pt") as handle:
                for stored in handle.keys():
                    key = rename(stored)
                    if key is not None:
                        self.entries[key] = (file, stored, tuple(handle.get_slice(stored).get_shape()))

    def shape(self, key: str) -> tuple[int, ...]:
        if key not in self.entries:
            raise CheckpointError(f"missing tensor {key!r} in {self.describe()}")
        return self.entries[key][2]

    def describe(self) -> str:
        files = sorted({str(path.parent) for path, _, _ in self.entries.values()})
        return ", ".join(files) or "(no tensors)"

    def load(self, key: str):
        from safetensors import safe_open

        path, stored, _ = self.entries[key]
        with safe_open(path, framework="pt") as handle:
            return handle.get_tensor(stored)


def _safetensors_files(directory: Path) -> list[Path]:
    """The weight files of a checkpoint directory, every shard named by its index checked present."""
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        missing = [name for name in names if not (directory / name).is_file()]
        if missing:
            raise CheckpointError(
                f"missing shard {missing[0]} listed in {index} ({len(missing)} of {len(names)} missing)"
            )
        return [directory / name for name in names]
    single = directory / "model.safetensors"
    if single.is_file():
        return [single]
    raise CheckpointError(f"no safetensors weights in {directory} (model.safetensors or model.safetensors.index.json)")


def _check_index_complete(directory: Path, headers: _TensorHeaders) -> None:
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        listed = set(json.loads(index.read_text())["weight_map"])
        absent = sorted(listed - {stored for _, stored, _ in headers.entries.values()})
        if absent:
            raise CheckpointError(f"tensor {absent[0]!r} is listed in {index} but absent from its shard")


def _layer_count(headers: _TensorHeaders, pattern: str) -> int:
    indices = {int(m.group(1)) for key in headers.entries if (m := re.match(pattern, key))}
    if indices != set(range(len(indices))):
        raise CheckpointError(f"layer indices {sorted(indices)} matching {pattern!r} are not 0..n-1")
    return len(indices)


def _clip_rename(key: str) -> str | None:
    """Canonical CLIP tower key (``vision_model.*``) of a key in a local CLIP directory, or None."""
    if key.startswith("vision_model."):
        return key
    if key.startswith(("embeddings.", "encoder.", "pre_layrnorm.", "post_layernorm.")):
        return f"vision_model.{key}"  # a CLIPVisionModel saved by transformers 5 drops the prefix
    return None  # text tower, projections, logit scale of a full CLIPModel


def _check_equal(what: str, from_tensors: int, config: dict[str, Any], key: str) -> None:
    if key in config and config[key] != from_tensors:
        raise CheckpointError(f"{what}: tensors give {from_tensors} but config {key}={config[key]}")


def derive_sizes(
    text: _TensorHeaders, tower: _TensorHeaders, config: dict[str, Any], clip_config: dict[str, Any]
) -> LlavaSizes:
    """Read every architecture size from tensor shapes; check each against the config that states it.

    ``tower`` holds canonical ``vision_model.*`` keys. The text head count comes from the config
    (``num_attention_heads``); the vision head count from ``clip_config`` when given, otherwise
    CLIP ViT-L/14-336's head dimension of 64.

    Raises
    ------
    CheckpointError
        A tensor is missing, or a size from the tensors disagrees with the config.
    """
    vocab_size, text_hidden = text.shape("model.embed_tokens.weight")
    text_layers = _layer_count(text, r"model\.layers\.(\d+)\.")
    heads = int(config.get("num_attention_heads", 0))
    if heads <= 0 or text_hidden % heads:
        raise CheckpointError(f"num_attention_heads={heads} in config does not divide hidden size {text_hidden}")
    kv_dim = text.shape("model.layers.0.self_attn.k_proj.weight")[0]
    if kv_dim % (text_hidden // heads):
        raise CheckpointError(f"k_proj rows {kv_dim} are not a multiple of the head dimension {text_hidden // heads}")
    patch = tower.shape("vision_model.embeddings.patch_embedding.weight")
    n_positions, vision_hidden = tower.shape("vision_model.embeddings.position_embedding.weight")
    grid = round((n_positions - 1) ** 0.5)
    if grid * grid != n_positions - 1 or len(patch) != 4 or patch[2] != patch[3]:
        raise CheckpointError(f"CLIP position embedding {n_positions} / patch embedding {patch} are not a square ViT")
    vision_heads = int(clip_config.get("num_attention_heads", vision_hidden // _CLIP_HEAD_DIM))
    sizes = LlavaSizes(
        vocab_size=vocab_size, text_hidden=text_hidden,
        text_intermediate=text.shape("model.layers.0.mlp.gate_proj.weight")[0], text_layers=text_layers,
        text_heads=heads, text_kv_heads=kv_dim // (text_hidden // heads), vision_hidden=vision_hidden,
        vision_intermediate=tower.shape("vision_model.encoder.layers.0.mlp.fc1.weight")[0],
        vision_layers=_layer_count(tower, r"vision_model\.encoder\.layers\.(\d+)\."),
        vision_heads=vision_heads, image_size_px=grid * patch[2], patch_px=patch[2],
    )  # fmt: skip
    for what, value, key in [
        ("vocabulary", sizes.vocab_size, "vocab_size"),
        ("text hidden size", text_hidden, "hidden_size"),
        ("text MLP size", sizes.text_intermediate, "intermediate_size"),
        ("text layers", text_layers, "num_hidden_layers"),
        ("text KV heads", sizes.text_kv_heads, "num_key_value_heads"),
        ("vision hidden size", vision_hidden, "mm_hidden_size"),
    ]:
        _check_equal(what, value, config, key)
    for what, value, key in [
        ("vision hidden size", vision_hidden, "hidden_size"),
        ("vision MLP size", sizes.vision_intermediate, "intermediate_size"),
        ("vision layers", sizes.vision_layers, "num_hidden_layers"),
        ("CLIP image size", sizes.image_size_px, "image_size"),
        ("CLIP patch size", sizes.patch_px, "patch_size"),
    ]:
        _check_equal(what, value, clip_config, key)
    if vision_hidden % vision_heads:
        raise CheckpointError(f"vision head count {vision_heads} does not divide vision hidden size {vision_hidden}")
    return sizes


def key_table(sizes: LlavaSizes, merge_type: MergeType) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Every source tensor: ``source key -> (output key, expected source shape)``.

    Source keys of the language model and projector are the original LLaVA ones; the vision tower
    appears under canonical ``vision_model.*`` keys (wherever its weights came from). The output
    layout is the classic llava-hf one, which transformers and vLLM both load. The embedding and
    LM-head rows grow by one for ``<image>`` on the way out (not reflected in the shapes here).
    """
    t_h, v_h = sizes.text_hidden, sizes.vision_hidden
    kv = sizes.text_kv_heads * (t_h // sizes.text_heads)
    llama_shapes = dict(zip(_LLAMA_LAYER_KEYS, [
        (t_h, t_h), (kv, t_h), (kv, t_h), (t_h, t_h), (sizes.text_intermediate, t_h),
        (sizes.text_intermediate, t_h), (t_h, sizes.text_intermediate), (t_h,), (t_h,),
    ]))  # fmt: skip
    table = {
        "model.embed_tokens.weight": ("language_model.model.embed_tokens.weight", (sizes.vocab_size, t_h)),
        "model.norm.weight": ("language_model.model.norm.weight", (t_h,)),
        "lm_head.weight": ("language_model.lm_head.weight", (sizes.vocab_size, t_h)),
        "model.mm_projector.0.weight": ("multi_modal_projector.linear_1.weight", (t_h, v_h)),
        "model.mm_projector.0.bias": ("multi_modal_projector.linear_1.bias", (t_h,)),
        "model.mm_projector.2.weight": ("multi_modal_projector.linear_2.weight", (t_h, t_h)),
        "model.mm_projector.2.bias": ("multi_modal_projector.linear_2.bias", (t_h,)),
    }
    if merge_type == "spatial_unpad":
        table["model.image_newline"] = ("image_newline", (t_h,))
    for i in range(sizes.text_layers):
        for name, shape in llama_shapes.items():
            table[f"model.layers.{i}.{name}"] = (f"language_model.model.layers.{i}.{name}", shape)
    v_i, side = sizes.vision_intermediate, sizes.image_size_px // sizes.patch_px
    clip_layer_shapes = dict(zip(_CLIP_LAYER_KEYS, [
        (v_h, v_h), (v_h,), (v_h, v_h), (v_h,), (v_h, v_h), (v_h,), (v_h, v_h), (v_h,),
        (v_h,), (v_h,), (v_i, v_h), (v_i,), (v_h, v_i), (v_h,), (v_h,), (v_h,),
    ]))  # fmt: skip
    clip_shapes = dict(zip(_CLIP_OUTER_KEYS, [
        (v_h,), (v_h, 3, sizes.patch_px, sizes.patch_px), (side * side + 1, v_h), (v_h,), (v_h,), (v_h,), (v_h,),
    ]))  # fmt: skip
    for i in range(sizes.vision_layers):
        clip_shapes.update({f"encoder.layers.{i}.{name}": shape for name, shape in clip_layer_shapes.items()})
    for name, shape in clip_shapes.items():
        table[f"vision_model.{name}"] = (f"vision_tower.vision_model.{name}", shape)
    return table


def _check_against_table(
    table: dict[str, tuple[str, tuple[int, ...]]], text: _TensorHeaders, tower: _TensorHeaders
) -> None:
    """Equal key sets and counts, and every shape, between the checkpoint and the key table."""
    present = {key: entry[2] for key, entry in text.entries.items() if not _IGNORED.search(key)}
    present |= {key: entry[2] for key, entry in tower.entries.items() if not _IGNORED.search(key)}
    missing, unexpected = sorted(set(table) - set(present)), sorted(set(present) - set(table))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(
            f"checkpoint has {len(present)} tensors, the key table {len(table)}: {detail}"
            f" ({len(missing)} missing, {len(unexpected)} unexpected)"
        )
    for key, (out_key, shape) in table.items():
        if present[key] != shape:
            raise CheckpointError(f"shape mismatch: {key} is {list(present[key])} but {out_key} needs {list(shape)}")


def _source_headers(src: Path, vision_tower_dir: Path | None) -> tuple[_TensorHeaders, _TensorHeaders, str]:
    """Headers of the language model + projector, and of the CLIP tower (checkpoint or local CLIP dir)."""
    files = _safetensors_files(src)
    everything = _TensorHeaders(files)
    _check_index_complete(src, everything)
    text = _TensorHeaders(files, lambda key: None if key.startswith("model.vision_tower.") else key)
    tower = _TensorHeaders(
        files, lambda key: f"vision_model.{key[len(_SRC_TOWER):]}" if key.startswith(_SRC_TOWER) else None
    )
    stray = sorted(k for k in everything.entries
                   if k.startswith("model.vision_tower.") and not k.startswith(_SRC_TOWER))  # fmt: skip
    if stray:
        raise CheckpointError(f"unexpected vision tower tensor {stray[0]!r}: expected keys under {_SRC_TOWER}")
    if tower.entries and vision_tower_dir is not None:
        # The tower in the checkpoint is the one it was trained with; refuse rather than pick silently.
        raise CheckpointError(
            f"{src} already holds the vision tower ({_SRC_TOWER}*): "
            "a local CLIP directory is only for checkpoints saved without it"
        )
    if tower.entries:
        return text, tower, "checkpoint"
    if vision_tower_dir is None:
        raise CheckpointError(
            f"the vision tower weights are absent from {src}: pass a local CLIP ViT directory (--vision-tower DIR)"
        )
    tower = _TensorHeaders(_safetensors_files(vision_tower_dir), _clip_rename)
    if not tower.entries:
        raise CheckpointError(f"no CLIP vision tensors (vision_model.*) in {vision_tower_dir}")
    return text, tower, str(vision_tower_dir)


def _clip_files_config(vision_tower_dir: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(vision config, image-processor config) of a local CLIP directory; empty dicts when absent."""
    if vision_tower_dir is None:
        return {}, {}
    config_path, processor_path = vision_tower_dir / "config.json", vision_tower_dir / "preprocessor_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    config = config.get("vision_config", config)  # a full CLIPModel nests it
    processor = json.loads(processor_path.read_text()) if processor_path.is_file() else {}
    return config, processor


def _output_shards(table: dict[str, tuple[str, tuple[int, ...]]], bytes_per_value: int) -> list[list[str]]:
    """Source keys grouped into output shards of at most ``_SHARD_BYTES`` each, in table order."""
    shards: list[list[str]] = [[]]
    filled = 0
    for key, (_, shape) in table.items():
        n_values = 1
        for dim in shape:
            n_values *= dim
        size = n_values * bytes_per_value
        if shards[-1] and filled + size > _SHARD_BYTES:
            shards.append([])
            filled = 0
        shards[-1].append(key)
        filled += size
    return shards


def _converted_tensor(key: str, text: _TensorHeaders, tower: _TensorHeaders, dtype):
    """One output tensor; embeddings and LM head get an ``<image>`` row (mean of the others, as llava-hf)."""
    tensor = (tower if key.startswith("vision_model.") else text).load(key).to(dtype)
    if key in ("model.embed_tokens.weight", "lm_head.weight"):
        import torch

        # Mean in float32 so a half-precision checkpoint does not lose the extra row to rounding.
        tensor = torch.cat([tensor, tensor.float().mean(dim=0, keepdim=True).to(dtype)])
    return tensor.contiguous()


def _write_weights(
    dst: Path, table: dict[str, tuple[str, tuple[int, ...]]], text: _TensorHeaders, tower: _TensorHeaders, dtype
) -> int:
    """Write the output shards and their index, one shard in memory at a time; return the tensor count."""
    from safetensors.torch import save_file

    shards = _output_shards(table, dtype.itemsize)
    weight_map, total_bytes = {}, 0
    for number, keys in enumerate(shards, start=1):
        name = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        tensors = {table[key][0]: _converted_tensor(key, text, tower, dtype) for key in keys}
        save_file(tensors, str(dst / name), metadata={"format": "pt"})
        weight_map.update({out_key: name for out_key in tensors})
        total_bytes += sum(t.numel() * t.element_size() for t in tensors.values())
    index = {"metadata": {"total_size": total_bytes}, "weight_map": dict(sorted(weight_map.items()))}
    (dst / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return len(weight_map)


def _hf_config(
    sizes: LlavaSizes, config: dict[str, Any], clip_config: dict[str, Any], pinpoints_hw: list[list[int]],
    report: ConversionReport,
):  # fmt: skip
    """The output ``LlavaNextConfig`` (or flat variant): sizes from tensors, the rest from the source config."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaNextConfig

    text_options = {k: config[k] for k in ("max_position_embeddings", "rms_norm_eps", "rope_theta",
                                           "rope_scaling", "hidden_act", "bos_token_id", "eos_token_id",
                                           "pad_token_id") if config.get(k) is not None}  # fmt: skip
    text_config = LlamaConfig(
        vocab_size=sizes.vocab_size + 1, hidden_size=sizes.text_hidden,
        intermediate_size=sizes.text_intermediate, num_hidden_layers=sizes.text_layers,
        num_attention_heads=sizes.text_heads, num_key_value_heads=sizes.text_kv_heads,
        tie_word_embeddings=False, **text_options,
    )  # fmt: skip
    vision_config = CLIPVisionConfig(
        hidden_size=sizes.vision_hidden, intermediate_size=sizes.vision_intermediate,
        num_hidden_layers=sizes.vision_layers, num_attention_heads=sizes.vision_heads,
        image_size=sizes.image_size_px, patch_size=sizes.patch_px,
        hidden_act=clip_config.get("hidden_act", "quick_gelu"), layer_norm_eps=clip_config.get("layer_norm_eps", 1e-5),
        projection_dim=clip_config.get("projection_dim", 768),
    )  # fmt: skip
    config_class = LlavaNextConfig
    if report.merge_type == "flat":
        from models.llava_flat import LlavaNextFlatConfig as config_class
    return config_class(
        vision_config=vision_config, text_config=text_config, image_token_index=sizes.vocab_size,
        projector_hidden_act="gelu", vision_feature_layer=int(config.get("mm_vision_select_layer", -2)),
        vision_feature_select_strategy="default",  # mm_vision_select_feature "patch": CLS dropped
        image_grid_pinpoints=pinpoints_hw, tie_word_embeddings=False, multimodal_projector_bias=True,
        image_seq_length=(sizes.image_size_px // sizes.patch_px) ** 2, dtype=report.dtype,
        architectures=[report.architecture], ecg_agent_conversion=report.model_dump(mode="json"),
    )  # fmt: skip


def _write_processor(
    src: Path, dst: Path, sizes: LlavaSizes, pinpoints_hw: list[list[int]], clip_processor: dict[str, Any],
    merge_type: MergeType,
) -> None:  # fmt: skip
    """Tokenizer with ``<image>`` (id = source vocabulary size), PIL image processor, llava_v1 template."""
    from tokenizers import AddedToken
    from transformers import LlamaTokenizer, LlavaNextProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    if not (src / "tokenizer.model").is_file():
        raise CheckpointError(f"no SentencePiece tokenizer.model in {src}")
    tokenizer = LlamaTokenizer.from_pretrained(src)
    if len(tokenizer) != sizes.vocab_size:
        raise CheckpointError(
            f"tokenizer has {len(tokenizer)} tokens but model.embed_tokens.weight has {sizes.vocab_size} rows"
        )
    tokenizer.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True)
    template = CHAT_TEMPLATE_PATH.read_text()
    tokenizer.chat_template = template
    side = sizes.image_size_px
    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": side}, crop_size={"height": side, "width": side}, image_grid_pinpoints=pinpoints_hw,
        **{k: clip_processor[k] for k in ("image_mean", "image_std") if k in clip_processor},
    )  # fmt: skip
    processor_class = LlavaNextProcessor
    if merge_type == "flat":
        from models.llava_flat import LlavaNextFlatProcessor as processor_class
    processor = processor_class(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=sizes.patch_px,
        vision_feature_select_strategy="default", num_additional_image_tokens=1, chat_template=template,
    )  # fmt: skip
    processor.save_pretrained(dst)
    tokenizer.save_pretrained(dst)  # vLLM and transformers serve also look for the template here


def convert_checkpoint(
    src: Path, dst: Path, *, vision_tower_dir: Path | None = None,
    dtype: Literal["float32", "float16", "bfloat16"] | None = None,
) -> ConversionReport:  # fmt: skip
    """Convert an original-LLaVA checkpoint directory to a Hugging Face LLaVA-NeXT directory.

    Parameters
    ----------
    src : Path
        Original-format checkpoint (``config.json``, safetensors shards, ``tokenizer.model``).
    dst : Path
        Output directory; created; must not contain a ``config.json`` already.
    vision_tower_dir : Path, optional
        Local CLIP directory, required when ``src`` holds no ``model.vision_tower.*`` tensors (the
        original code then loads ``mm_vision_tower`` from the hub, which this converter never does).
    dtype : {"float32", "float16", "bfloat16"}, optional
        Output dtype; default: that of ``model.embed_tokens.weight`` in ``src``.

    Returns
    -------
    ConversionReport
        Also stored under ``ecg_agent_conversion`` in ``dst/config.json``.

    Raises
    ------
    CheckpointError
        Not a LLaVA checkpoint, missing shard or tensor, a size disagreeing with the config,
        a shape disagreeing with the key table, an unsupported option, or ``dst`` already converted.
    """
    import torch

    config = read_source_config(src)
    pinpoints_hw = _source_pinpoints_hw(config)
    text, tower, tower_source = _source_headers(src, vision_tower_dir)
    clip_config, clip_processor = _clip_files_config(vision_tower_dir if tower_source != "checkpoint" else None)
    sizes = derive_sizes(text, tower, config, clip_config)
    merge_type: MergeType = config["mm_patch_merge_type"]
    table = key_table(sizes, merge_type)
    _check_against_table(table, text, tower)
    torch_dtype = getattr(torch, dtype) if dtype else text.load("model.norm.weight").dtype
    if (dst / "config.json").exists():
        raise CheckpointError(f"output directory {dst} already holds a config.json: choose an empty directory")
    dst.mkdir(parents=True, exist_ok=True)
    flat = merge_type == "flat"
    report = ConversionReport(
        source=str(src), merge_type=merge_type, model_type="llava_next_flat" if flat else "llava_next",
        architecture="LlavaNextFlatForConditionalGeneration" if flat else "LlavaNextForConditionalGeneration",
        vision_tower_source=tower_source, n_tensors=len(table), dtype=str(torch_dtype).removeprefix("torch."),
        image_token_index=sizes.vocab_size, image_grid_pinpoints_hw=pinpoints_hw, sizes=sizes,
    )  # fmt: skip
    _write_weights(dst, table, text, tower, torch_dtype)
    _hf_config(sizes, config, clip_config, pinpoints_hw, report).save_pretrained(dst)
    _write_processor(src, dst, sizes, pinpoints_hw, clip_processor, merge_type)
    _generation_config(config).save_pretrained(dst)
    return report


def _generation_config(config: dict[str, Any]):
    """Greedy decoding, at most 1024 new tokens: how PULSE was evaluated."""
    from transformers import GenerationConfig

    return GenerationConfig(
        do_sample=False, max_new_tokens=1024, bos_token_id=config.get("bos_token_id", 1),
        eos_token_id=config.get("eos_token_id", 2), pad_token_id=config.get("pad_token_id", 0),
    )  # fmt: skip


def load_converted(directory: Path, *, dtype: str | None = None, device: str = "cpu") -> tuple[Any, Any]:
    """Load a converted directory as ``(model, processor)``, flat-merge checkpoints included.

    Importing :mod:`models.llava_flat` registers ``llava_next_flat`` with the Auto classes, so the
    right class is built from ``config.json`` alone. ``dtype`` is a torch dtype name (default: as saved).
    """
    import models.llava_flat  # noqa: F401  (registers llava_next_flat)
    from transformers import AutoModelForImageTextToText, AutoProcessor

    if not (directory / "config.json").is_file():
        raise CheckpointError(f"not a converted checkpoint: {directory} has no config.json")
    model = AutoModelForImageTextToText.from_pretrained(directory, dtype=dtype or "auto").to(device)
    processor = AutoProcessor.from_pretrained(directory)
    return model.eval(), processor
