"""Tiny LLaVA-NeXT models for tests and development, built locally from a seed (no downloads).

Three artifacts, all with random weights:

- a LLaMA-style SentencePiece tokenizer trained on a built-in corpus of ECG sentences
  (:func:`train_tiny_tokenizer`);
- a Hugging Face ``LlavaNextForConditionalGeneration`` directory with its processor and the llava_v1
  chat template, which ``from_pretrained`` and ``transformers serve --force-model DIR`` load
  (:func:`build_tiny_hf`);
- the same kind of model in the ORIGINAL LLaVA repository format, as PULSE-7B is published
  (:func:`build_tiny_original`), to exercise :mod:`models.convert`.

Shapes follow PULSE (CLIP ViT-L/14-336 tower, 2-layer MLP projector, LLaMA decoder, anyres tiling)
scaled down; :data:`TINY` is for unit tests, :data:`MEDIUM` (tens of millions of parameters) for CPU
benchmarks.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from tools.errors import InputError

__all__ = [
    "TinySizes",
    "TINY",
    "MEDIUM",
    "ECG_CORPUS",
    "SYSTEM_PROMPT",
    "IMAGE_TOKEN",
    "train_tiny_tokenizer",
    "build_tiny_clip",
    "build_tiny_original",
    "build_tiny_hf",
    "grid_pinpoints",
    "synthetic_ecg_image",
]

IMAGE_TOKEN = "<image>"
SYSTEM_PROMPT = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
# PULSE's anyres grid, in units of the tower's image size (336 px: [[336, 672], [672, 336], ...]).
_PINPOINT_UNITS = ((1, 2), (2, 1), (2, 2), (3, 1), (1, 3))
_CLIP_HEAD_DIM = 64  # CLIP ViT-L/14-336; the tensors cannot tell the head count


class TinySizes(BaseModel):
    """Architecture sizes of a tiny LLaVA-NeXT (PULSE-7B's layout, scaled down).

    The vision head count is ``vision_hidden // 64`` as in CLIP ViT-L/14-336, so
    ``vision_hidden`` must be a multiple of 64.
    """

    model_config = ConfigDict(frozen=True)

    image_size_px: int = 336  # CLIP input side, px (PULSE: 336)
    patch_px: int = 14  # CLIP patch side, px (PULSE: 14)
    vision_hidden: int = 64  # PULSE: 1024
    vision_intermediate: int = 128  # PULSE: 4096
    vision_layers: int = 2  # PULSE: 24 (features taken from the second-to-last layer)
    text_hidden: int = 64  # PULSE: 4096
    text_intermediate: int = 128  # PULSE: 11008
    text_layers: int = 2  # PULSE: 32
    text_heads: int = 2  # PULSE: 32
    vocab_size: int = 512  # SentencePiece vocabulary before <image> is added (PULSE: 32000)
    max_positions: int = 4096  # PULSE: 4096; an anyres image alone takes up to 5 x 576 tokens


TINY = TinySizes()
MEDIUM = TinySizes(
    vision_hidden=256,
    vision_intermediate=1024,
    vision_layers=4,
    text_hidden=512,
    text_intermediate=1376,
    text_layers=6,
    text_heads=8,
    vocab_size=1024,
)


def grid_pinpoints(image_size_px: int) -> list[list[int]]:
    """PULSE's anyres resolutions ``[[h, w], ...]`` in px, scaled to a tower of ``image_size_px``."""
    return [[h * image_size_px, w * image_size_px] for h, w in _PINPOINT_UNITS]


def _ecg_corpus(n_sentences: int = 600, seed: int = 0) -> tuple[str, ...]:
    """Deterministic ECG-report sentences in PULSE's styles (reports, labels, numbers, MCQ)."""
    rng = random.Random(seed)
    rhythms = ["sinus rhythm", "sinus tachycardia", "sinus bradycardia", "atrial fibrillation",
               "atrial flutter", "junctional rhythm", "paced rhythm", "sinus arrhythmia"]
    findings = ["left bundle branch block", "right bundle branch block", "first degree AV block",
                "left ventricular hypertrophy", "inferior myocardial infarction", "ST depression",
                "T wave inversion", "left axis deviation", "prolonged QT interval", "low QRS voltage",
                "premature ventricular contractions", "anterior ischemia", "normal ECG"]
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    templates = [
        lambda: f"The ECG shows {rng.choice(rhythms)} at {rng.randint(35, 190)} bpm.",
        lambda: f"PR interval {rng.randint(90, 320)} ms, QRS duration {rng.randint(60, 190)} ms, "
        f"QTc {rng.randint(340, 520)} ms.",
        lambda: f"There is {rng.choice(findings)} in leads {rng.choice(leads)}, {rng.choice(leads)} "
        f"and {rng.choice(leads)}.",
        lambda: f"No evidence of {rng.choice(findings)}.",
        lambda: f"The QRS axis is {rng.randint(-90, 180)} degrees.",
        lambda: f"Final diagnosis: {rng.choice(rhythms)}, {rng.choice(findings)}.",
        lambda: f"Which of the following is the rhythm? A. {rng.choice(rhythms)} "
        f"B. {rng.choice(rhythms)} C. {rng.choice(rhythms)} D. {rng.choice(rhythms)} Answer: "
        f"{rng.choice('ABCD')}",
        lambda: f"USER: {IMAGE_TOKEN}\nWhat is the heart rate? ASSISTANT: {rng.randint(40, 160)} bpm</s>",
        lambda: f"The QRS duration is {rng.randint(60, 190) / 1000:.3f} s and the RR interval is "
        f"{rng.randint(300, 1500)} ms.",
    ]
    sentences = [SYSTEM_PROMPT] + [rng.choice(templates)() for _ in range(n_sentences)]
    return tuple(sentences)


ECG_CORPUS = _ecg_corpus()


def train_tiny_tokenizer(out_dir: Path, *, vocab_size: int = TINY.vocab_size) -> Path:
    """Train a LLaMA-style SentencePiece BPE tokenizer on :data:`ECG_CORPUS`; write ``tokenizer.model``.

    Parameters
    ----------
    out_dir : Path
        Directory to write ``tokenizer.model`` into (created if needed).
    vocab_size : int
        Vocabulary size, including ``<unk>`` (0), ``<s>`` (1), ``</s>`` (2) and the 256 byte-fallback
        pieces, as LLaMA's tokenizer. ``<image>`` is NOT in it: the original LLaVA code splices the
        image in by splitting the prompt on the literal string, and the converted Hugging Face
        tokenizer adds it as an extra special token with id ``vocab_size``.

    Returns
    -------
    Path
        The ``tokenizer.model`` file. Training is single-threaded and deterministic.
    """
    import sentencepiece as spm

    out_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(ECG_CORPUS), model_writer=buffer, vocab_size=vocab_size,
        model_type="bpe", byte_fallback=True, split_digits=True, unk_id=0, bos_id=1, eos_id=2,
        pad_id=-1, normalization_rule_name="identity", add_dummy_prefix=True,
        remove_extra_whitespaces=False, allow_whitespace_only_pieces=True, num_threads=1,
        minloglevel=2,
    )  # fmt: skip
    path = out_dir / "tokenizer.model"
    path.write_bytes(buffer.getvalue())
    return path


def _clip_config(sizes: TinySizes):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=sizes.vision_hidden, intermediate_size=sizes.vision_intermediate,
        num_hidden_layers=sizes.vision_layers, num_attention_heads=sizes.vision_hidden // _CLIP_HEAD_DIM,
        image_size=sizes.image_size_px, patch_size=sizes.patch_px, hidden_act="quick_gelu",
        projection_dim=sizes.vision_hidden, layer_norm_eps=1e-5,
    )  # fmt: skip


def _llama_config(sizes: TinySizes):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=sizes.vocab_size, hidden_size=sizes.text_hidden,
        intermediate_size=sizes.text_intermediate, num_hidden_layers=sizes.text_layers,
        num_attention_heads=sizes.text_heads, num_key_value_heads=sizes.text_heads,
        max_position_embeddings=sizes.max_positions, rms_norm_eps=1e-5, rope_theta=10000.0,
        tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )  # fmt: skip


def _clip_image_processor(sizes: TinySizes):
    from transformers import CLIPImageProcessorPil

    side = sizes.image_size_px
    return CLIPImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side})


def _random_weights(sizes: TinySizes, seed: int) -> dict:
    """Seeded random tensors in the ORIGINAL LLaVA key layout (``model.*``, ``lm_head.*``).

    Weights have std 0.5 / sqrt(fan-in) (larger than LLaMA's 0.02) so that logits differ visibly
    between tokens and equivalence tests compare signals, not noise.
    """
    import torch
    from transformers import CLIPVisionModel, LlamaForCausalLM

    generator = torch.Generator().manual_seed(seed)

    def randomize(module: torch.nn.Module) -> dict[str, torch.Tensor]:
        state = {}
        for name, tensor in module.state_dict().items():
            fan_in = tensor.shape[-1] if tensor.ndim > 1 else 1
            noise = torch.randn(tensor.shape, generator=generator, dtype=torch.float32)
            base = 1.0 if name.endswith("norm.weight") or "layer_norm" in name or "layrnorm" in name else 0.0
            state[name] = (base + noise * (0.5 / fan_in**0.5 if tensor.ndim > 1 else 0.05)).contiguous()
        return state

    with torch.device("meta"):
        clip = CLIPVisionModel(_clip_config(sizes))
        llama = LlamaForCausalLM(_llama_config(sizes))
    weights = randomize(llama)
    # transformers 5 drops CLIPVisionModel's "vision_model." prefix from state_dict(); LLaVA saves it.
    tower = randomize(clip)
    weights.update({f"model.vision_tower.vision_tower.vision_model.{k}": v for k, v in tower.items()})
    projector = {
        "model.mm_projector.0.weight": (sizes.text_hidden, sizes.vision_hidden),
        "model.mm_projector.0.bias": (sizes.text_hidden,),
        "model.mm_projector.2.weight": (sizes.text_hidden, sizes.text_hidden),
        "model.mm_projector.2.bias": (sizes.text_hidden,),
    }
    for name, shape in projector.items():
        scale = 0.5 / shape[-1] ** 0.5 if len(shape) > 1 else 0.05
        weights[name] = torch.randn(shape, generator=generator) * scale
    # LLaVA's own initialisation of the newline embedding: N(0, 1/hidden).
    weights["model.image_newline"] = torch.randn(sizes.text_hidden, generator=generator) / sizes.text_hidden**0.5
    return weights


def _clip_config_json(sizes: TinySizes) -> dict:
    """A CLIPVisionModel config.json that transformers 4.3x (the original LLaVA's) and 5.x both read."""
    return {
        "architectures": ["CLIPVisionModel"], "model_type": "clip_vision_model",
        "hidden_size": sizes.vision_hidden, "intermediate_size": sizes.vision_intermediate,
        "num_hidden_layers": sizes.vision_layers, "num_attention_heads": sizes.vision_hidden // _CLIP_HEAD_DIM,
        "image_size": sizes.image_size_px, "patch_size": sizes.patch_px, "num_channels": 3,
        "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "projection_dim": sizes.vision_hidden,
        "attention_dropout": 0.0, "initializer_range": 0.02, "initializer_factor": 1.0,
    }  # fmt: skip


def _clip_preprocessor_json(sizes: TinySizes) -> dict:
    """CLIPImageProcessor settings of openai/clip-vit-large-patch14-336, at the tiny image size."""
    side = sizes.image_size_px
    return {
        "image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": side},
        "resample": 3, "do_center_crop": True, "crop_size": {"height": side, "width": side},
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, "do_convert_rgb": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    }  # fmt: skip


def build_tiny_clip(out_dir: Path, *, seed: int = 0, sizes: TinySizes = TINY) -> Path:
    """Write the tiny model's CLIP vision tower as a local CLIP directory (classic ``vision_model.*`` keys).

    Its weights equal the tower that :func:`build_tiny_original` saves with the same ``seed`` and
    ``sizes``; pass it as the converter's ``vision_tower_dir`` for a checkpoint saved without
    its tower, or as ``mm_vision_tower`` to the original LLaVA code.
    """
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = "model.vision_tower.vision_tower."
    tower = {k[len(prefix):]: v for k, v in _random_weights(sizes, seed).items() if k.startswith(prefix)}
    save_file(tower, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "config.json").write_text(json.dumps(_clip_config_json(sizes), indent=2) + "\n")
    (out_dir / "preprocessor_config.json").write_text(json.dumps(_clip_preprocessor_json(sizes), indent=2) + "\n")
    return out_dir


def _original_config_json(sizes: TinySizes, merge_type: str, vision_tower_name: str) -> dict:
    """config.json as the LLaVA repository writes it for llava-v1.6-vicuna (PULSE-7B's base)."""
    return {
        "architectures": ["LlavaLlamaForCausalLM"], "model_type": "llava", "attention_bias": False,
        "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
        "hidden_act": "silu", "hidden_size": sizes.text_hidden, "intermediate_size": sizes.text_intermediate,
        "initializer_range": 0.02, "max_position_embeddings": sizes.max_positions,
        "num_attention_heads": sizes.text_heads, "num_hidden_layers": sizes.text_layers,
        "num_key_value_heads": sizes.text_heads, "pretraining_tp": 1, "rms_norm_eps": 1e-5,
        "rope_scaling": None, "rope_theta": 10000.0, "tie_word_embeddings": False, "use_cache": True,
        "vocab_size": sizes.vocab_size, "torch_dtype": "float32", "transformers_version": "4.37.2",
        "image_aspect_ratio": "anyres", "image_grid_pinpoints": grid_pinpoints(sizes.image_size_px),
        "mm_hidden_size": sizes.vision_hidden, "mm_patch_merge_type": merge_type,
        "mm_projector_type": "mlp2x_gelu", "mm_use_im_patch_token": False, "mm_use_im_start_end": False,
        "mm_vision_select_feature": "patch", "mm_vision_select_layer": -2,
        "mm_vision_tower": vision_tower_name, "tokenizer_model_max_length": sizes.max_positions,
        "tokenizer_padding_side": "right", "use_mm_proj": True, "freeze_mm_mlp_adapter": False,
        "tune_mm_mlp_adapter": False, "unfreeze_mm_vision_tower": False,
    }  # fmt: skip


_ORIGINAL_TOKENIZER_CONFIG = {
    "tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False, "legacy": False,
    "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>",
    "clean_up_tokenization_spaces": False, "model_max_length": 4096, "padding_side": "right",
    "sp_model_kwargs": {},
}  # fmt: skip


def build_tiny_original(
    out_dir: Path,
    *,
    seed: int = 0,
    merge_type: Literal["spatial_unpad", "flat"] = "spatial_unpad",
    include_vision_tower: bool = True,
    sizes: TinySizes = TINY,
    vision_tower_name: str = "openai/clip-vit-large-patch14-336",
    n_shards: int = 3,
) -> Path:
    """Write a tiny checkpoint in the ORIGINAL LLaVA repository format, as PULSE-7B is published.

    Parameters
    ----------
    out_dir : Path
        Output directory (created). The original LLaVA loader builds the image processor only when
        this path contains "llava" (a known pitfall), so name it accordingly for that code.
    seed : int
        Seed of every weight; the same seed and sizes give the same tensors as :func:`build_tiny_clip`.
    merge_type : {"spatial_unpad", "flat"}
        ``mm_patch_merge_type``; ``model.image_newline`` is saved only for "spatial_unpad" (as the
        LLaVA code creates it only then).
    include_vision_tower : bool
        Save the CLIP tower under ``model.vision_tower.vision_tower.vision_model.*`` (else the
        converter needs a local CLIP directory, see :func:`build_tiny_clip`).
    sizes : TinySizes
        Architecture sizes (:data:`TINY` or :data:`MEDIUM`).
    vision_tower_name : str
        ``mm_vision_tower`` written to config.json (the original code loads the tower from it).
    n_shards : int
        Number of safetensors shards (PULSE-7B has 3), indexed by ``model.safetensors.index.json``.

    Returns
    -------
    Path
        ``out_dir``.
    """
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    weights = _random_weights(sizes, seed)
    if merge_type == "flat":
        del weights["model.image_newline"]
    if not include_vision_tower:
        weights = {k: v for k, v in weights.items() if not k.startswith("model.vision_tower.")}
    keys = sorted(weights)
    names = [f"model-{i + 1:05d}-of-{n_shards:05d}.safetensors" for i in range(n_shards)]
    weight_map = {key: names[i * n_shards // len(keys)] for i, key in enumerate(keys)}
    for name in names:
        shard = {k: weights[k] for k in keys if weight_map[k] == name}
        save_file(shard, str(out_dir / name), metadata={"format": "pt"})
    total = sum(t.numel() * t.element_size() for t in weights.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    config = _original_config_json(sizes, merge_type, vision_tower_name)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    generation = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "max_length": sizes.max_positions}
    (out_dir / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    train_tiny_tokenizer(out_dir, vocab_size=sizes.vocab_size)
    (out_dir / "tokenizer_config.json").write_text(json.dumps(_ORIGINAL_TOKENIZER_CONFIG, indent=2) + "\n")
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>"}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    return out_dir


def build_tiny_hf(
    out_dir: Path,
    *,
    seed: int = 0,
    merge_type: Literal["spatial_unpad", "flat"] = "spatial_unpad",
    sizes: TinySizes = TINY,
) -> Path:
    """Write a tiny Hugging Face LLaVA-NeXT directory (weights, config, processor, llava_v1 template).

    Built as PULSE reaches users: :func:`build_tiny_original` (same ``seed``), then
    :func:`models.convert.convert_checkpoint`, in float32. A "spatial_unpad" directory is a plain
    ``LlavaNextForConditionalGeneration`` that ``from_pretrained`` and
    ``transformers serve --force-model DIR`` load; a "flat" one needs :mod:`models.llava_flat`
    (``models.convert.load_converted``). The image processor is the PIL one, so torchvision is not
    needed.

    Returns
    -------
    Path
        ``out_dir`` (created; must not already hold a ``config.json``).
    """
    import tempfile

    from models.convert import convert_checkpoint

    with tempfile.TemporaryDirectory(prefix="tiny-llava-original-") as tmp:
        source = build_tiny_original(Path(tmp), seed=seed, merge_type=merge_type, sizes=sizes)
        convert_checkpoint(source, out_dir, dtype="float32")
    return out_dir


def synthetic_ecg_image(height_px: int, width_px: int, *, heart_rate_bpm: float = 75.0, seed: int = 0) -> np.ndarray:
    """A deterministic ECG-paper-like RGB image: pink 1 mm / 5 mm grid and one black trace.

    Not a realistic ECG (use ../shared/data or the renderer for that): an input with the colours
    and texture of one, for exercising image preprocessing and model plumbing.

    Parameters
    ----------
    height_px, width_px : int
        Image size in px; at least 40 x 40. The grid is 8 px per mm (200 px per second at 25 mm/s).
    heart_rate_bpm : float
        Spacing of the QRS-like spikes.
    seed : int
        Seed of the small baseline wander and noise.

    Returns
    -------
    ndarray of uint8, (height_px, width_px, 3)

    Raises
    ------
    InputError
        A side shorter than 40 px.
    """
    if height_px < 40 or width_px < 40:
        raise InputError(f"height_px={height_px}, width_px={width_px}: both must be at least 40")
    rng = np.random.default_rng(seed)
    px_per_mm = 8
    image = np.full((height_px, width_px, 3), 255, dtype=np.uint8)
    rows, cols = np.arange(height_px), np.arange(width_px)
    image[rows % px_per_mm == 0] = (250, 200, 200)
    image[:, cols % px_per_mm == 0] = (250, 200, 200)
    image[rows % (5 * px_per_mm) == 0] = (235, 130, 130)
    image[:, cols % (5 * px_per_mm) == 0] = (235, 130, 130)
    t_s = cols / (25 * px_per_mm)  # 25 mm/s paper speed
    phase_s = np.mod(t_s, 60.0 / heart_rate_bpm)

    def wave_mv(amplitude_mv: float, centre_s: float, width_s: float) -> np.ndarray:
        return amplitude_mv * np.exp(-(((phase_s - centre_s) / width_s) ** 2))

    # P, QRS and T as Gaussian bumps; 0.3 Hz baseline wander; 10 uV noise.
    wander_mv = 0.05 * np.sin(2 * np.pi * 0.3 * t_s + rng.uniform(0, 6))
    trace_mv = (wave_mv(0.12, 0.12, 0.03) + wave_mv(1.2, 0.30, 0.012) + wave_mv(0.25, 0.55, 0.06)
                + wander_mv + rng.normal(0.0, 0.01, width_px))  # fmt: skip
    baseline_px = height_px * 0.6
    y_px = np.clip(np.round(baseline_px - trace_mv * 10 * px_per_mm), 1, height_px - 2).astype(int)
    for offset in (-1, 0, 1):  # 3-px line; vertical segments joined between neighbouring columns
        image[np.clip(y_px + offset, 0, height_px - 1), cols] = 0
    for x in range(1, width_px):
        low, high = sorted((y_px[x - 1], y_px[x]))
        image[low : high + 1, x] = 0
    return image
