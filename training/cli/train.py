"""``ecg-agent train``: supervised instruction tuning of a LLaVA-NeXT model with PULSE's recipe.

Single process: ``ecg-agent train --config training/configs/pulse_recipe.json ...``. Several GPUs or
nodes: the same command under ``accelerate launch --config_file training/configs/deepspeed_zero2.yaml
-m agent.cli train ...`` (docs/training.md). Options given on the command line override the file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser"]

# command-line option -> TrainConfig field (options left unset keep the file's or the recipe's value)
_OVERRIDES = {
    "model_dir": "model_dir", "data": "data_path", "output_dir": "output_dir", "eval_data": "eval_data_path",
    "image_dir": "image_dir", "epochs": "epochs", "lr": "learning_rate", "global_batch": "global_batch_size",
    "micro_batch": "micro_batch_size", "max_length": "max_length_tokens", "precision": "precision",
    "max_steps": "max_steps", "max_time_s": "max_train_time_s", "memory_limit_gb": "memory_limit_gb",
    "save_every": "save_every_steps", "eval_every": "eval_every_steps", "seed": "seed",
}
_PATHS = ("model_dir", "data", "output_dir", "eval_data", "image_dir")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train`` under ``ecg-agent``."""
    parser = subparsers.add_parser(
        "train", help="fine-tune a LLaVA-NeXT model on LLaVA/ECGInstruct JSON data (PULSE's recipe)",
        description="Supervised instruction tuning: vision tower frozen, projector + LLM trained, loss on answers "
                    "only, lr 2e-5 cosine with 3 %% warm-up, 3 epochs, global batch 128, max length 4096, bf16 "
                    "on GPU, gradient checkpointing. Checkpoints resume with nothing lost; the result is exported "
                    "as a Hugging Face directory that vllm serve loads.")
    parser.add_argument("--config", type=Path, help="training config JSON (TrainConfig fields; relative paths are "
                        "relative to the file), e.g. training/configs/pulse_recipe.json")
    parser.add_argument("--model-dir", type=Path, help="Hugging Face LlavaNext directory to start from "
                        "(ecg-agent convert output)")
    parser.add_argument("--data", type=Path, help="training records, LLaVA JSON list or JSONL")
    parser.add_argument("--output-dir", type=Path, help="checkpoints, config and export go here")
    parser.add_argument("--eval-data", type=Path, help="held-out records for evaluation (same format)")
    parser.add_argument("--image-dir", type=Path, help="folder the records' image paths are relative to "
                        "(default: the JSON file's folder)")
    parser.add_argument("--epochs", type=float, help="passes over the data (count; recipe 3)")
    parser.add_argument("--lr", type=float, help="peak learning rate (recipe 2e-5)")
    parser.add_argument("--global-batch", type=int, help="samples per optimizer step over all processes (recipe 128)")
    parser.add_argument("--micro-batch", type=int, help="samples per process per forward pass (recipe 4)")
    parser.add_argument("--max-length", type=int, help="longest sequence, tokens, image tokens included (recipe 4096)")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), help="auto: bf16 on GPU, fp32 on CPU")
    parser.add_argument("--lora-rank", type=int, help="train LoRA adapters of this rank on the LLM instead of all "
                        "its weights (alpha = 2 x rank)")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (count)")
    parser.add_argument("--max-time-s", type=float, help="stop, checkpoint and export after this wall time, s")
    parser.add_argument("--memory-limit-gb", type=float, help="per-device memory to plan for, GB (default: the "
                        "GPU's, or free RAM)")
    parser.add_argument("--save-every", type=int, help="optimizer steps between checkpoints (count; 0: per epoch)")
    parser.add_argument("--eval-every", type=int, help="optimizer steps between evaluations (count; 0: per epoch)")
    parser.add_argument("--seed", type=int, help="seed of data order, dropout and LoRA init")
    parser.add_argument("--resume", nargs="?", const="latest", help="resume from a checkpoint folder, or (no "
                        "value) from the newest one under --output-dir/checkpoints")
    parser.set_defaults(run=_run)


def _config(args: argparse.Namespace):
    from tools.errors import InputError
    from training.train.config import LoraSettings, TrainConfig, load_train_config

    overrides = {field: getattr(args, option) for option, field in _OVERRIDES.items()
                 if getattr(args, option) is not None}
    for option, field in _OVERRIDES.items():
        if option in _PATHS and field in overrides:
            overrides[field] = str(Path(overrides[field]).resolve())
    if args.lora_rank is not None:
        overrides["lora"] = LoraSettings(rank=args.lora_rank, alpha=2 * args.lora_rank).model_dump()
    if args.config is not None:
        return load_train_config(args.config, **overrides)
    missing = [f"--{o.replace('_', '-')}" for o in ("model_dir", "data", "output_dir") if getattr(args, o) is None]
    if missing:
        raise InputError(f"train: {', '.join(missing)} required without --config")
    return TrainConfig(**overrides)


def _run(args: argparse.Namespace) -> int:
    import importlib.util

    from models.errors import CheckpointError
    from tools.errors import InputError
    from training.train.loop import latest_checkpoint, train

    missing = [name for name in ("accelerate", "peft") if importlib.util.find_spec(name) is None]
    if missing:
        raise InputError(f"training needs {', '.join(missing)}: pip install -e '.[train]'")

    config = _config(args)
    resume = None
    if args.resume == "latest":
        resume = latest_checkpoint(config.output_dir)
        if resume is None:
            print(f"no checkpoint under {config.output_dir / 'checkpoints'}: starting from step 0")
    elif args.resume is not None:
        resume = Path(args.resume)
        if not (resume / "trainer_state.json").is_file():
            raise CheckpointError(f"--resume {resume}: not a complete training checkpoint (no trainer_state.json)")
    result = train(config, resume=resume)
    print(f"done: {len(result.steps)} steps logged of {result.total_steps}; checkpoint {result.checkpoint}; "
          f"export {result.export_dir}")
    return 0
