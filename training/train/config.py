"""The trainer's configuration: PULSE's recipe as the defaults, every default commented with its unit.

PULSE-7B (domain.md §4) fine-tuned llava-v1.6-vicuna-7b for 3 epochs on ECGInstruct (1.16 M samples)
with the vision tower frozen, projector and LLM trained, loss on the answers only, lr 2e-5 cosine
with 3 % warm-up, global batch 128, max length 4096, bf16, gradient checkpointing, DeepSpeed ZeRO-2
on 32 H100 (micro-batch 4 x 32 GPUs = 128, no accumulation). :class:`TrainConfig` holds exactly
that; the distributed engine (DeepSpeed, FSDP, number of processes) comes from ``accelerate launch``
and the YAML files in ``training/configs/``, not from here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from tools.config import FrozenConfig
from tools.errors import InputError

__all__ = ["LoraSettings", "TrainConfig", "load_train_config"]


class LoraSettings(FrozenConfig):
    """LoRA on the LLM's linear layers (LLaVA's ``--lora_enable`` recipe); the projector stays fully trained."""

    rank: int = Field(128, ge=1, le=1024)  # LLaVA-1.5's LoRA recipe: r=128
    alpha: int = Field(256, ge=1)  # LLaVA: alpha = 2 r
    dropout: float = Field(0.05, ge=0.0, lt=1.0)  # LLaVA: 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class TrainConfig(FrozenConfig):
    """One training run. Paths are resolved by the CLI; everything else defaults to PULSE's recipe.

    ``global_batch_size`` must be a multiple of ``micro_batch_size`` x the number of processes;
    the quotient is the gradient-accumulation count (PULSE: 128 / (4 x 32) = 1).
    """

    # --- data and model -------------------------------------------------------------------------
    model_dir: Path  # a Hugging Face LlavaNext directory (models.convert output, or models.tiny)
    data_path: Path  # LLaVA/ECGInstruct JSON (list of records) or JSONL
    image_dir: Path | None = None  # where records' "image" paths are relative to; None: the JSON's folder
    eval_data_path: Path | None = None  # held-out records in the same format; None: no evaluation
    output_dir: Path  # checkpoints, logs, the resolved config and the exported model go here
    # --- what is trained --------------------------------------------------------------------------
    train_vision_tower: bool = False  # PULSE: CLIP frozen (True only for from-scratch toy models)
    train_projector: bool = True  # PULSE: the 2-layer MLP projector is trained
    train_llm: bool = True  # PULSE: full fine-tune of Vicuna-7B
    lora: LoraSettings | None = None  # None: full fine-tune (PULSE); set for LoRA on the LLM
    # --- optimisation -----------------------------------------------------------------------------
    epochs: float = Field(3.0, gt=0.0)  # PULSE: 3 passes over ECGInstruct
    learning_rate: float = Field(2e-5, gt=0.0, le=1.0)  # PULSE: 2e-5 peak (AdamW)
    lr_schedule: Literal["cosine", "constant"] = "cosine"  # PULSE: cosine decay to 0 after warm-up
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0)  # PULSE: 3 % of the optimizer steps
    weight_decay: float = Field(0.0, ge=0.0)  # LLaVA: 0
    max_grad_norm: float = Field(1.0, gt=0.0)  # HF Trainer's default, which LLaVA inherits
    global_batch_size: int = Field(128, ge=1)  # samples per optimizer step, all processes (PULSE: 128)
    micro_batch_size: int = Field(4, ge=1)  # samples per process per forward pass (PULSE: 4 per H100)
    max_length_tokens: int = Field(4096, ge=16)  # PULSE: 4096 tokens, image tokens included
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on a bf16-capable GPU, fp32 on CPU
    gradient_checkpointing: bool = True  # PULSE: on (trades ~30 % compute for activation memory)
    seed: int = Field(0, ge=0)  # shuffling, dropout and LoRA init
    # --- bookkeeping ------------------------------------------------------------------------------
    log_every_steps: int = Field(10, ge=1)  # optimizer steps between printed log lines
    eval_every_steps: int = Field(0, ge=0)  # optimizer steps between evaluations; 0: at the end of each epoch
    save_every_steps: int = Field(500, ge=0)  # optimizer steps between checkpoints; 0: end of each epoch only
    keep_checkpoints: int = Field(2, ge=1)  # newest checkpoints kept on disk (a 7B one is ~85 GB with Adam)
    eval_max_items: int = Field(512, ge=1)  # held-out items scored by generation (exact match)
    short_answer_max_words: int = Field(4, ge=1)  # answers this short are scored by exact match
    max_steps: int | None = Field(None, ge=1)  # stop after this many optimizer steps (smoke runs)
    max_train_time_s: float | None = Field(None, gt=0.0)  # stop (checkpoint, export) after this wall time, s
    memory_limit_gb: float | None = Field(None, gt=0.0)  # per-device memory; None: the GPU's, or free RAM on CPU
    num_workers: int = Field(0, ge=0)  # DataLoader worker processes (image decoding); 0: in the main process
    export: bool = True  # write a Hugging Face directory (vllm serve / load_converted) at the end

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if not (self.train_vision_tower or self.train_projector or self.train_llm or self.lora):
            raise InputError("TrainConfig: nothing to train (train_vision_tower, train_projector and train_llm "
                             "are all false and lora is unset)")
        if self.global_batch_size % self.micro_batch_size:
            raise InputError(f"TrainConfig global_batch_size={self.global_batch_size}: must be a multiple of "
                             f"micro_batch_size={self.micro_batch_size}")
        return self

    def accumulation_steps(self, num_processes: int) -> int:
        """Micro-batches per optimizer step on each process; InputError if the batch does not divide."""
        per_step = self.micro_batch_size * num_processes
        if self.global_batch_size % per_step:
            raise InputError(f"global_batch_size={self.global_batch_size} is not a multiple of micro_batch_size "
                             f"({self.micro_batch_size}) x processes ({num_processes}) = {per_step}")
        return self.global_batch_size // per_step


def load_train_config(path: Path, **overrides: object) -> TrainConfig:
    """Read a training config JSON file (as written next to every checkpoint), with ``overrides`` applied.

    Relative paths in the file are resolved against the file's folder.

    Raises
    ------
    InputError
        Missing or unreadable file, corrupt JSON, or an invalid value (named with the field).
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"training config {path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"training config {path}: corrupt JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise InputError(f"training config {path}: expected a JSON object, got {type(raw).__name__}")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("model_dir", "data_path", "image_dir", "eval_data_path", "output_dir"):
        if raw.get(key) is not None and not Path(raw[key]).is_absolute():
            raw[key] = str((Path(path).parent / raw[key]).resolve())
    return TrainConfig(**raw)
