"""Supervised instruction tuning of a LLaVA-NeXT model, read top to bottom like nanoGPT's train.py:
config, setup, data, model, loop, save.

The same code runs on CPU, one GPU, several GPUs and several nodes: ``accelerate launch`` (with a
file from ``training/configs/``) decides the processes and the engine (DDP, DeepSpeed ZeRO-2/3,
FSDP); this module only asks the Accelerator. Checkpoints (``output_dir/checkpoints/step-NNNNNN``)
hold the weights, optimizer, scheduler and every RNG state (``accelerator.save_state``) plus the
config and the position in the data, so a resumed run continues with the same batches and the same
learning rate as if it had not been interrupted.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from tools.errors import InputError
from training.train.config import TrainConfig
from training.train.data import InstructDataset, check_images, collate, read_records
from training.train.evaluate import EvalResult, evaluate
from training.train.memory import available_memory_gb, check_fits, estimate_memory
from training.train.model import (
    build_meta_model,
    export_model,
    read_model_config,
    select_trained,
    trained_parameter_count,
)

__all__ = ["StepLog", "TrainResult", "latest_checkpoint", "train"]


class StepLog(BaseModel):
    """One optimizer step: mean training loss (nats per answer token), learning rate, throughput counters."""

    model_config = ConfigDict(frozen=True)

    step: int
    epoch: float
    loss: float
    lr: float
    samples: int  # samples in this step, all processes
    tokens: int  # non-padding tokens (image tokens included) in this step, all processes
    step_s: float  # wall time of this step, s


class TrainResult(BaseModel):
    """What a run did: its step log, evaluations, last checkpoint and exported directory."""

    model_config = ConfigDict(frozen=True)

    steps: tuple[StepLog, ...]
    evals: tuple[EvalResult, ...]
    total_steps: int
    checkpoint: Path | None
    export_dir: Path | None
    stopped_early: bool


class _Order(torch.utils.data.Sampler):
    """A fresh seeded permutation per epoch, so a resumed run replays the same order."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete checkpoint under ``output_dir/checkpoints`` (None if there is none)."""
    done = sorted((output_dir / "checkpoints").glob("step-*/trainer_state.json"))
    return done[-1].parent if done else None


def _save_checkpoint(accelerator, config: TrainConfig, step: int, epoch: int, batches_done: int,
                     log: list[StepLog], evals: list[EvalResult]) -> Path:
    path = config.output_dir / "checkpoints" / f"step-{step:06d}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        (path / "train_config.json").write_text(config.model_dump_json(indent=2) + "\n")
        state = {"step": step, "epoch": epoch, "batches_done": batches_done,
                 "log": [s.model_dump() for s in log], "evals": [e.model_dump(mode="json") for e in evals]}
        # Written last: its presence marks the checkpoint complete (latest_checkpoint looks for it).
        (path / "trainer_state.json").write_text(json.dumps(state) + "\n")
        for old in sorted((config.output_dir / "checkpoints").glob("step-*"))[: -config.keep_checkpoints]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return path


def _check_resume(checkpoint: Path, config: TrainConfig) -> dict:
    from models.errors import CheckpointError

    try:
        saved = TrainConfig(**json.loads((checkpoint / "train_config.json").read_text()))
        state = json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"resume checkpoint {checkpoint}: unreadable ({exc})") from None
    fixed = ("model_dir", "data_path", "global_batch_size", "micro_batch_size", "learning_rate", "lr_schedule",
             "warmup_ratio", "epochs", "seed", "lora", "train_vision_tower", "train_projector", "train_llm")
    changed = [k for k in fixed if getattr(saved, k) != getattr(config, k)]
    if changed:
        raise CheckpointError(f"resume checkpoint {checkpoint}: config differs in {', '.join(changed)}; "
                              f"resume with the config saved in the checkpoint")
    return state


def train(config: TrainConfig, *, resume: Path | None = None, print_fn=print) -> TrainResult:
    """Run one training job as ``config`` says; resume from ``resume`` (a checkpoint folder) if given.

    Raises
    ------
    InputError
        Bad or empty data, missing images, a batch that does not divide, a run that cannot fit in memory.
    CheckpointError
        ``model_dir`` is not a LlavaNext directory; a resume checkpoint of another config.
    """
    # --- setup ------------------------------------------------------------------------------------
    from accelerate import Accelerator, PartialState
    from accelerate.utils import set_seed
    from transformers import (
        get_constant_schedule_with_warmup,
        get_cosine_schedule_with_warmup,
    )

    from models.convert import load_converted

    model_config = read_model_config(config.model_dir)  # wrong architecture fails before anything else
    cuda = torch.cuda.is_available()
    bf16 = config.precision == "bf16" or (config.precision == "auto" and cuda and torch.cuda.is_bf16_supported())
    accumulation = config.accumulation_steps(PartialState().num_processes)
    accelerator = Accelerator(mixed_precision="bf16" if bf16 else "no", gradient_accumulation_steps=accumulation,
                              step_scheduler_with_optimizer=False)
    if accelerator.gradient_accumulation_steps != accumulation:  # accelerate launch's config file wins
        raise InputError(f"the accelerate config sets gradient_accumulation_steps="
                         f"{accelerator.gradient_accumulation_steps}, but global_batch_size {config.global_batch_size} "
                         f"/ (micro_batch_size {config.micro_batch_size} x {accelerator.num_processes} processes) "
                         f"needs {accumulation}")
    say = print_fn if accelerator.is_main_process else (lambda *_: None)
    set_seed(config.seed)
    ds_plugin = accelerator.state.deepspeed_plugin
    zero_stage = ds_plugin.zero_stage if ds_plugin else (3 if accelerator.distributed_type.name == "FSDP" else 0)

    # --- data -------------------------------------------------------------------------------------
    records = read_records(config.data_path)
    image_dir = config.image_dir or config.data_path.parent
    check_images(records, image_dir)
    eval_records = read_records(config.eval_data_path) if config.eval_data_path else []
    eval_image_dir = config.image_dir or (config.eval_data_path.parent if config.eval_data_path else image_dir)
    check_images(eval_records, eval_image_dir)

    # --- memory check, then the model -----------------------------------------------------------------
    meta = build_meta_model(model_config)
    text_config = model_config.text_config
    estimate = estimate_memory(
        total_params=sum(p.numel() for p in meta.parameters()), trained_params=trained_parameter_count(meta, config),
        hidden=text_config.hidden_size, layers=text_config.num_hidden_layers,
        micro_batch_size=config.micro_batch_size, max_length_tokens=config.max_length_tokens,
        activation_bytes=2 if bf16 else 4, gradient_checkpointing=config.gradient_checkpointing,
        num_processes=accelerator.num_processes, zero_stage=zero_stage)
    check_fits(estimate, config.memory_limit_gb or available_memory_gb(accelerator.device.type))
    del meta
    model, processor = load_converted(config.model_dir, dtype="float32")
    model = select_trained(model, config)
    if config.gradient_checkpointing:
        # transformers 5 renamed the method; 4.x has only the old name.
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    model.train()
    pad_id = processor.tokenizer.pad_token_id or 0
    dataset = InstructDataset(records, image_dir, processor, config.max_length_tokens)
    order = _Order(len(dataset), config.seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.micro_batch_size, sampler=order,
                                         collate_fn=partial(collate, pad_token_id=pad_id),
                                         num_workers=config.num_workers)
    eval_set = InstructDataset(eval_records, eval_image_dir, processor, config.max_length_tokens)
    eval_loader = torch.utils.data.DataLoader(eval_set, batch_size=config.micro_batch_size,
                                              collate_fn=partial(collate, pad_token_id=pad_id))

    # --- optimizer and schedule -----------------------------------------------------------------------
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    batches_per_epoch = math.ceil(len(dataset) / (config.micro_batch_size * accelerator.num_processes))
    steps_per_epoch = math.ceil(batches_per_epoch / accumulation)
    total_steps = math.ceil(config.epochs * steps_per_epoch)
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    warmup = math.ceil(config.warmup_ratio * total_steps)
    if config.lr_schedule == "cosine":
        scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, total_steps)
    else:
        scheduler = get_constant_schedule_with_warmup(optimizer, warmup)
    model, optimizer, loader, eval_loader, scheduler = accelerator.prepare(
        model, optimizer, loader, eval_loader, scheduler)

    say(f"model {config.model_dir.name}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params, "
        f"{sum(p.numel() for p in params) / 1e6:.2f} M trained; precision {'bf16' if bf16 else 'fp32'}; "
        f"engine {accelerator.distributed_type.name} (ZeRO stage {zero_stage}) on {accelerator.num_processes} "
        f"process(es)")
    say(f"data: {len(dataset)} train / {len(eval_set)} held-out records; global batch {config.global_batch_size} = "
        f"{config.micro_batch_size} per process x {accelerator.num_processes} processes x {accumulation} "
        f"accumulation; {steps_per_epoch} steps/epoch, {total_steps} steps, {warmup} warm-up")
    say(f"memory estimate per device: {estimate.total_gb:.2f} GB")

    # --- resume -----------------------------------------------------------------------------------
    step, epoch, batches_done, log, evals = 0, 0, 0, [], []
    if resume is not None:
        state = _check_resume(resume, config)
        accelerator.load_state(str(resume))
        step, epoch, batches_done = state["step"], state["epoch"], state["batches_done"]
        log = [StepLog(**s) for s in state["log"]]
        evals = [EvalResult(**e) for e in state["evals"]]
        say(f"resumed from {resume}: step {step}, epoch {epoch}, {batches_done} batches into it")
    config.output_dir.mkdir(parents=True, exist_ok=True)
    if accelerator.is_main_process:
        (config.output_dir / "train_config.json").write_text(config.model_dump_json(indent=2) + "\n")

    # --- loop -------------------------------------------------------------------------------------
    started = time.perf_counter()
    checkpoint, stopped_early = None, False

    def run_eval() -> None:
        if eval_records:
            result = evaluate(accelerator, model, eval_loader, eval_set, step=step, max_items=config.eval_max_items,
                              short_answer_max_words=config.short_answer_max_words, synced_gpus=zero_stage == 3)
            evals.append(result)
            say(f"eval step {step}: held-out loss {result.loss:.4f}, exact match {result.exact_match:.3f} "
                f"on {result.n_items} short-answer items")

    while step < total_steps:
        # The prepared loader re-sets its sampler's epoch from its own counter on every pass (a
        # resumed run's counter starts at 0), so the epoch is set through the loader.
        loader.set_epoch(epoch)
        batches = accelerator.skip_first_batches(loader, batches_done) if batches_done else loader
        if hasattr(batches, "set_epoch"):
            batches.set_epoch(epoch)
        tick, losses, samples, tokens = time.perf_counter(), [], 0, 0
        for batch in batches:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()  # skipped by accelerate on accumulation micro-steps
                if accelerator.sync_gradients:
                    scheduler.step()  # an AcceleratedScheduler: a no-op under DeepSpeed, which steps it
                optimizer.zero_grad()
            batches_done += 1
            losses.append(loss.detach())
            counts = accelerator.reduce(torch.stack([torch.tensor(len(batch["input_ids"]), device=loss.device),
                                                     batch["attention_mask"].sum()]), reduction="sum")
            samples, tokens = samples + int(counts[0]), tokens + int(counts[1])
            if not accelerator.sync_gradients:
                continue
            step += 1
            mean_loss = float(accelerator.reduce(torch.stack(losses).mean(), reduction="mean"))
            now = time.perf_counter()
            log.append(StepLog(step=step, epoch=epoch + batches_done / batches_per_epoch, loss=mean_loss,
                               lr=scheduler.get_last_lr()[0], samples=samples, tokens=tokens, step_s=now - tick))
            losses, samples, tokens = [], 0, 0
            if step % config.log_every_steps == 0 or step == total_steps:
                say(f"step {step}/{total_steps} epoch {log[-1].epoch:.2f} loss {mean_loss:.4f} lr {log[-1].lr:.2e} "
                    f"{log[-1].samples / log[-1].step_s:.2f} samples/s")
            if config.eval_every_steps and step % config.eval_every_steps == 0:
                run_eval()
            out_of_time = config.max_train_time_s is not None and now - started > config.max_train_time_s
            if config.save_every_steps and step % config.save_every_steps == 0 and step < total_steps:
                checkpoint = _save_checkpoint(accelerator, config, step, epoch, batches_done, log, evals)
            if step >= total_steps or out_of_time:
                stopped_early = out_of_time and step < total_steps
                break
            tick = time.perf_counter()  # step times exclude evaluation and checkpointing
        else:
            epoch, batches_done = epoch + 1, 0
            if not config.eval_every_steps:
                run_eval()
            continue
        break

    # --- save -------------------------------------------------------------------------------------
    if not evals or evals[-1].step != step:
        run_eval()
    checkpoint = _save_checkpoint(accelerator, config, step, epoch, batches_done, log, evals)
    export_dir = None
    if config.export:
        export_dir = export_model(accelerator, model, processor, config.output_dir / "export",
                                  dtype="bfloat16" if bf16 else "float32", config_json=config.model_dump_json(indent=2))
        say(f"exported to {export_dir}")
    accelerator.end_training()
    return TrainResult(steps=tuple(log), evals=tuple(evals), total_steps=total_steps, checkpoint=checkpoint,
                       export_dir=export_dir, stopped_early=stopped_early)
