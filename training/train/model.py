"""The model side of training: architecture check, what is trained (freeze / LoRA), export.

Only Hugging Face LlavaNext directories are trained (``llava_next``, or ``llava_next_flat`` for
PULSE's flat packing, :mod:`models.llava_flat`); a checkpoint in the original LLaVA format must be
converted first (``ecg-agent convert``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.errors import CheckpointError
from training.train.config import TrainConfig

__all__ = [
    "TRAINABLE_MODEL_TYPES",
    "build_meta_model",
    "export_model",
    "read_model_config",
    "select_trained",
    "trained_parameter_count",
]

TRAINABLE_MODEL_TYPES = ("llava_next", "llava_next_flat")


def read_model_config(model_dir: Path) -> Any:
    """The transformers config of ``model_dir``; CheckpointError unless it is a LlavaNext directory."""
    from transformers import AutoConfig

    import models.llava_flat  # noqa: F401  (registers llava_next_flat with AutoConfig)

    path = Path(model_dir) / "config.json"
    try:
        model_type = json.loads(path.read_text(encoding="utf-8")).get("model_type")
    except OSError:
        raise CheckpointError(f"model_dir {model_dir}: no readable config.json (expected a Hugging Face "
                              f"LlavaNext directory)") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"model_dir {model_dir}: corrupt config.json ({exc.msg})") from None
    if model_type not in TRAINABLE_MODEL_TYPES:
        hint = " (original LLaVA format: run `ecg-agent convert` first)" if model_type == "llava" else ""
        raise CheckpointError(f"model_dir {model_dir}: model_type {model_type!r} is not trainable here; "
                              f"allowed: {', '.join(TRAINABLE_MODEL_TYPES)}{hint}")
    return AutoConfig.from_pretrained(model_dir)


def build_meta_model(model_config: Any) -> Any:
    """The model with no storage (meta device): parameter counts without loading any weight."""
    import torch
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        return AutoModelForImageTextToText.from_config(model_config)


def _part(name: str) -> str:
    if ".vision_tower." in f".{name}":
        return "vision_tower"
    if "multi_modal_projector" in name or "image_newline" in name:
        return "projector"
    return "llm"


def select_trained(model: Any, config: TrainConfig) -> Any:
    """Freeze what PULSE's recipe (or ``config``) leaves fixed; wrap the LLM with LoRA if asked.

    Returns the model to train (a peft model with LoRA). With LoRA the LLM's own weights stay frozen
    and the projector is trained in full when ``train_projector``, as LLaVA's LoRA recipe.
    """
    trained = {"vision_tower": config.train_vision_tower, "projector": config.train_projector,
               "llm": config.train_llm and config.lora is None}
    for name, param in model.named_parameters():
        param.requires_grad_(trained[_part(name)])
    if config.lora is None:
        return model
    from peft import LoraConfig, get_peft_model

    targets = "|".join(config.lora.target_modules)
    lora = LoraConfig(r=config.lora.rank, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                      target_modules=rf".*language_model.*\.({targets})", bias="none",
                      modules_to_save=["multi_modal_projector"] if config.train_projector else None)
    return get_peft_model(model, lora)


def trained_parameter_count(model: Any, config: TrainConfig) -> int:
    """Parameters that will receive gradients (LoRA adapters estimated from the target shapes)."""
    import torch

    parts = {"vision_tower": config.train_vision_tower, "projector": config.train_projector,
             "llm": config.train_llm and config.lora is None}
    count = sum(p.numel() for n, p in model.named_parameters() if parts[_part(n)])
    if config.lora is not None:
        count += sum(config.lora.rank * (m.in_features + m.out_features) for n, m in model.named_modules()
                     if isinstance(m, torch.nn.Linear) and _part(n) == "llm"
                     and n.rsplit(".", 1)[-1] in config.lora.target_modules)
    return count


def export_model(accelerator: Any, model: Any, processor: Any, out_dir: Path, *, dtype: str, config_json: str) -> Path:
    """Write a Hugging Face directory that ``load_converted`` and ``vllm serve`` load (LoRA merged).

    Weights are gathered from every process (ZeRO-3/FSDP shards included) and written by the main
    process in ``dtype``; the processor (tokenizer, image processor, llava_v1 template) and the
    training config (``training_config.json``) go beside them.
    """
    import torch

    unwrapped = accelerator.unwrap_model(model)
    if hasattr(unwrapped, "merge_and_unload"):
        unwrapped = unwrapped.merge_and_unload()
        state = unwrapped.state_dict()
    else:
        state = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        target = getattr(torch, dtype)
        state = {k: v.to(target) if v.is_floating_point() else v for k, v in state.items()}
        unwrapped.config.dtype = dtype
        unwrapped.save_pretrained(out_dir, state_dict=state, safe_serialization=True)
        processor.save_pretrained(out_dir)
        (Path(out_dir) / "training_config.json").write_text(config_json + "\n", encoding="utf-8")
    accelerator.wait_for_everyone()
    return Path(out_dir)
