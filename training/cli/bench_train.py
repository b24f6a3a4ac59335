"""``ecg-agent bench train``: proof that the trainer learns (``--learn``) and its throughput (``--throughput``).

``--learn`` trains a small LLaVA-NeXT from random weights on simulated, rendered pages for the rate
category (bradycardia / normal / tachycardia) with PULSE's recipe shape (vision tower frozen,
projector and LLM trained; the random tower is a fixed feature extractor whose patch features
already separate the classes linearly; training it too, ``--train-vision-tower``, stayed at chance
within the budget here), a 112-px tower with 28-px patches and one anyres tile so a CPU can afford
the image tokens, then answers held-out items by greedy generation and tests the accuracy against
chance (1/3, one-sided exact binomial test). Writes bench/results/train_learn.json and
docs/images/train_learn.png.

``--throughput`` runs our trainer and a plain transformers ``Trainer`` on the same small model and
data in the same process and reports samples/s and tokens/s of each and their ratio
(bench/results/train_throughput.json).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "build_bench_model"]

_RESULTS = Path("bench/results")
_PLOT = Path("docs/images/train_learn.png")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train`` under ``ecg-agent bench``."""
    parser = subparsers.add_parser(
        "train", help="prove the trainer learns on CPU (--learn) and measure its throughput (--throughput)",
        description="--learn: train a small LLaVA-NeXT from scratch on rendered synthetic pages (rate category) "
                    "and test held-out accuracy against chance. --throughput: samples/s and tokens/s of our "
                    "trainer beside a plain transformers Trainer on the same model and data.")
    parser.add_argument("--learn", action="store_true", help="run the learning proof")
    parser.add_argument("--throughput", action="store_true", help="run the throughput comparison")
    parser.add_argument("--train-records", type=int, default=2400, help="training records for --learn (count)")
    parser.add_argument("--eval-records", type=int, default=300, help="held-out records for --learn (count, >= 200 "
                        "for the test)")
    parser.add_argument("--budget-s", type=float, default=1080.0, help="wall-time budget of the --learn training "
                        "loop, s (data generation and final evaluation come on top; default 1080, so the whole "
                        "run stays under 30 min)")
    parser.add_argument("--epochs", type=float, default=10.0, help="epochs of --learn if the budget allows (count)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of --learn (from scratch, so far "
                        "above the fine-tuning recipe's 2e-5)")
    parser.add_argument("--global-batch", type=int, default=16, help="samples per optimizer step of --learn "
                        "(count, a multiple of 16)")
    parser.add_argument("--throughput-steps", type=int, default=8, help="optimizer steps timed per trainer (count)")
    parser.add_argument("--train-vision-tower", action="store_true", help="also train the random vision tower in "
                        "--learn (default: frozen, PULSE's recipe; a random CLIP's patch features already separate "
                        "the rate classes linearly)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of --throughput (count; "
                        "best and median reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (count; default 1: on a shared "
                        "machine two threads waiting on each other were 10-20x slower than one)")
    parser.add_argument("--work-dir", type=Path, help="keep data and checkpoints here (default: a temporary folder)")
    parser.add_argument("--results-dir", type=Path, default=_RESULTS, help="where the JSON results go")
    parser.add_argument("--plot", type=Path, default=_PLOT, help="loss-curve PNG of --learn")
    parser.set_defaults(run=_run)


def build_bench_model(out_dir: Path, *, seed: int = 0) -> Path:
    """A 1.25 M-parameter LLaVA-NeXT for CPU training: 112-px CLIP tower with 28-px patches (16 tokens per
    view), one anyres tile ([[112, 112]] pinpoints: base view + 1 tile), 4-layer 128-wide LLaMA."""
    from models.tiny import TinySizes, build_tiny_hf

    sizes = TinySizes(image_size_px=112, patch_px=28, vision_hidden=64, vision_intermediate=256, vision_layers=3,
                      text_hidden=128, text_intermediate=344, text_layers=4, text_heads=4)
    build_tiny_hf(out_dir, seed=seed, sizes=sizes)
    for name, key in (("config.json", None), ("processor_config.json", "image_processor")):
        path = out_dir / name
        data = json.loads(path.read_text())
        (data[key] if key else data)["image_grid_pinpoints"] = [[112, 112]]
        path.write_text(json.dumps(data, indent=2) + "\n")
    return out_dir


def _learn(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from scipy.stats import binomtest

    from training.train.config import TrainConfig
    from training.train.loop import train
    from training.train.toy import RATE_CLASSES, write_rate_dataset

    if args.eval_records < 200:
        from tools.errors import InputError
        raise InputError(f"--eval-records={args.eval_records}: the test needs at least 200 held-out items")
    started = time.perf_counter()
    model_dir = build_bench_model(work / "model")
    train_json = write_rate_dataset(work / "data", args.train_records, seed=1, name="train")
    eval_json = write_rate_dataset(work / "data", args.eval_records, seed=2, name="heldout")
    data_s = time.perf_counter() - started
    config = TrainConfig(
        model_dir=model_dir, data_path=train_json, eval_data_path=eval_json, output_dir=work / "run",
        train_vision_tower=args.train_vision_tower, learning_rate=args.lr, epochs=args.epochs,
        global_batch_size=args.global_batch, micro_batch_size=16, gradient_checkpointing=False, log_every_steps=10,
        save_every_steps=0, eval_max_items=args.eval_records, short_answer_max_words=1,
        max_train_time_s=args.budget_s, export=False)
    result = train(config)
    final = result.evals[-1]
    correct = sum(p.correct for p in final.predictions)
    chance = 1 / len(RATE_CLASSES)
    test = binomtest(correct, final.n_items, chance, alternative="greater")
    return {
        "task": "rate category (bradycardia 40-50 / normal 65-90 / tachycardia 120-150 bpm), one-word answer",
        "model": "LLaVA-NeXT from random weights (1.25 M params): CLIP 112 px with 28-px patches (16 tokens per "
                 "view), 3 layers x 64; LLaMA 4 layers x 128; pinpoints [[112, 112]] (base view + 1 tile)",
        "vision_tower": "trained" if args.train_vision_tower else "frozen (random)",
        "learning_rate": args.lr, "global_batch": args.global_batch,
        "train_records": args.train_records, "heldout_records": args.eval_records,
        "data_generation_s": round(data_s, 1), "train_s": round(sum(s.step_s for s in result.steps), 1),
        "steps": len(result.steps), "total_steps_planned": result.total_steps,
        "stopped_by_budget": result.stopped_early,
        "loss_curve": [{"step": s.step, "epoch": round(s.epoch, 3), "loss": round(s.loss, 4)} for s in result.steps],
        "evals": [{"step": e.step, "heldout_loss": round(e.loss, 4), "exact_match": e.exact_match}
                  for e in result.evals],
        "heldout_correct": correct, "heldout_items": final.n_items, "heldout_accuracy": correct / final.n_items,
        "chance": chance, "test": "one-sided exact binomial test of held-out correct answers vs chance",
        "binomial_p_value": test.pvalue,
        "accuracy_ci95": list(test.proportion_ci(0.95)),
        "per_class_accuracy": {c: _class_accuracy(final.predictions, c) for c in RATE_CLASSES},
    }


def _class_accuracy(predictions, answer: str) -> float:
    chosen = [p.correct for p in predictions if p.expected == answer]
    return sum(chosen) / len(chosen) if chosen else float("nan")


def _throughput(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Our trainer and transformers' Trainer, same model, data, batch (8 x 2 accumulation), fp32, frozen
    tower, alternated for ``--rounds`` rounds because a shared machine's load drifts: the best round of each
    (least disturbed) and the median of the per-round ratios are reported."""
    import statistics

    from training.train.config import TrainConfig
    from training.train.loop import train
    from training.train.toy import write_rate_dataset

    model_dir = build_bench_model(work / "model")
    data = write_rate_dataset(work / "data", 16 * args.throughput_steps, seed=3, name="train")
    config = TrainConfig(model_dir=model_dir, data_path=data, output_dir=work / "ours", global_batch_size=16,
                         micro_batch_size=8, max_steps=args.throughput_steps, gradient_checkpointing=False,
                         save_every_steps=0, log_every_steps=args.throughput_steps, export=False)
    rounds = []
    for _ in range(args.rounds):
        ours = train(config)
        ours_s = sum(s.step_s for s in ours.steps)
        reference = _reference_trainer(config, work / "hf")
        rounds.append({"ours": {"seconds": round(ours_s, 2),
                                "samples_per_s": round(sum(s.samples for s in ours.steps) / ours_s, 2),
                                "tokens_per_s": round(sum(s.tokens for s in ours.steps) / ours_s, 1)},
                       "transformers_trainer": reference})
    best = {who: max((r[who] for r in rounds), key=lambda figures: figures["samples_per_s"])
            for who in ("ours", "transformers_trainer")}
    ratios = [r["ours"]["samples_per_s"] / r["transformers_trainer"]["samples_per_s"] for r in rounds]
    return {
        "model": "bench LLaVA-NeXT (1.25 M params; tower frozen, projector + LLM trained), fp32, CPU",
        "steps_per_run": args.throughput_steps, "global_batch": 16, "micro_batch": 8, "threads": args.threads,
        "rounds": rounds, "best_of_rounds": best,
        "ratio_best_samples_per_s": round(best["ours"]["samples_per_s"]
                                          / best["transformers_trainer"]["samples_per_s"], 3),
        "ratio_median_of_rounds": round(statistics.median(ratios), 3),
    }


def _reference_trainer(config, out_dir: Path) -> dict[str, float]:
    """transformers' ``Trainer`` on ``config``'s model and data (same collator), timed from train begin to end."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from models.convert import load_converted
    from training.train.data import InstructDataset, collate, read_records
    from training.train.model import select_trained

    model, processor = load_converted(config.model_dir, dtype="float32")
    model = select_trained(model, config).train()
    counted = {"samples": 0, "tokens": 0}

    def counting_collate(items):
        batch = collate(items, processor.tokenizer.pad_token_id or 0)
        counted["samples"] += len(items)
        counted["tokens"] += int(batch["attention_mask"].sum())
        return batch

    class Clock(TrainerCallback):
        def on_train_begin(self, *_, **__):
            self.start = time.perf_counter()

        def on_train_end(self, *_, **__):
            self.seconds = time.perf_counter() - self.start

    clock = Clock()
    hf_args = TrainingArguments(
        output_dir=str(out_dir), per_device_train_batch_size=config.micro_batch_size,
        gradient_accumulation_steps=config.global_batch_size // config.micro_batch_size,
        learning_rate=config.learning_rate, lr_scheduler_type="cosine", warmup_steps=config.warmup_ratio,
        max_steps=config.max_steps, save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True,
        remove_unused_columns=False, logging_strategy="no", seed=0, dataloader_num_workers=0)
    dataset = InstructDataset(read_records(config.data_path), config.data_path.parent, processor,
                              config.max_length_tokens)
    Trainer(model=model, args=hf_args, train_dataset=dataset, data_collator=counting_collate,
            callbacks=[clock]).train()
    return {"seconds": round(clock.seconds, 2), "samples_per_s": round(counted["samples"] / clock.seconds, 2),
            "tokens_per_s": round(counted["tokens"] / clock.seconds, 1)}


def _plot(figures: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve, evals = figures["loss_curve"], figures["evals"]
    fig, ax = plt.subplots(figsize=(6.5, 3.8), dpi=120)
    ax.semilogy([c["step"] for c in curve], [c["loss"] for c in curve], lw=0.8, label="training loss (answer tokens)")
    ax.semilogy([e["step"] for e in evals], [e["heldout_loss"] for e in evals], "o-", label="held-out loss")
    ax.set_xlabel(f"optimizer step ({figures['global_batch']} samples)")
    ax.set_ylabel("cross-entropy, nats/token (log)")
    accuracy = ax.twinx()
    accuracy.plot([e["step"] for e in evals], [e["exact_match"] for e in evals], "s--", color="tab:green",
                  label="held-out accuracy")
    accuracy.axhline(figures["chance"], color="grey", lw=0.8, ls=":")
    accuracy.set_ylim(0, 1.05)
    accuracy.set_ylabel("held-out exact match (chance dotted)")
    ax.set_title(f"held-out accuracy {figures['heldout_accuracy']:.2f} on {figures['heldout_items']} items "
                 f"(chance 0.33), p = {figures['binomial_p_value']:.1e}", fontsize=9)
    lines = ax.get_legend_handles_labels()[0] + accuracy.get_legend_handles_labels()[0]
    ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="center right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _run(args: argparse.Namespace) -> int:
    from tools.benchmarking import write_results
    from tools.errors import InputError

    if not (args.learn or args.throughput):
        raise InputError("bench train: choose --learn and/or --throughput")
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = args.work_dir or Path(tmp)
        if args.learn:
            figures = _learn(args, work / "learn")
            _plot(figures, args.plot)
            path = write_results("train_learn", figures, args.results_dir)
            print(f"held-out accuracy {figures['heldout_accuracy']:.3f} ({figures['heldout_correct']}/"
                  f"{figures['heldout_items']}) vs chance {figures['chance']:.3f}: one-sided binomial p = "
                  f"{figures['binomial_p_value']:.2e}; {figures['steps']} steps in {figures['train_s']} s -> {path}")
        if args.throughput:
            figures = _throughput(args, work / "throughput")
            path = write_results("train_throughput", figures, args.results_dir)
            print(json.dumps(figures, indent=2))
            print(f"-> {path}")
    return 0
