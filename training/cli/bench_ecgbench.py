"""``ecg-agent bench ecgbench``: run an MLLM on an ECGBench subset and score it both ways.

Prints the subset's metrics paper-compatible and corrected side by side, with PULSE-7B's and
GPT-4o's published numbers as reference rows, and writes bench/results/ecgbench_<subset>.json.
Predictions go to a resumable JSONL file: re-running the same command answers only what is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]

_DEFAULT_RESULTS = Path("bench/results")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``ecgbench`` under ``ecg-agent bench``."""
    parser = subparsers.add_parser(
        "ecgbench", help="run and score an ECGBench subset (paper-compatible and corrected metrics)",
        description="Answer the items of one ECGBench subset with an MLLM (resumable), then print its metrics "
                    "as the paper computed them and corrected, beside PULSE-7B's and GPT-4o's published "
                    "numbers. Without --mllm, scores an existing prediction file (ours or PULSE's).")
    parser.add_argument("data", type=Path, help="ECGBench folder (Hugging Face parquet layout or PULSE's "
                        "<subset>.json + images/ layout) or one subset file")
    parser.add_argument("--subset", required=True, help="ptb-xl-super, ptb-xl-report, code15, ecgqa, cpsc, csn, "
                        "g12ec, mmmu-ecg, arena (or the distribution's names: ptb-test, code15-test, ...)")
    parser.add_argument("--mllm", help="model to ask: http://HOST:PORT (OpenAI-compatible server, e.g. "
                        "vllm serve), hf:DIR or vllm:DIR; omit to score -o as it is")
    parser.add_argument("--mllm-model", help="served model name to request (default: the server's only model)")
    parser.add_argument("--max-new-tokens", type=int, default=1024,
                        help="most tokens per answer (default 1024, as PULSE was evaluated; greedy decoding)")
    parser.add_argument("--judge", help="OpenAI-compatible judge endpoint http://HOST:PORT (needed for "
                        "ptb-xl-report and arena)")
    parser.add_argument("--judge-model", help="judge model name, pinned and part of the cache key "
                        "(e.g. gpt-4o-2024-08-06); required with --judge")
    parser.add_argument("--judge-key-env", default="OPENAI_API_KEY",
                        help="environment variable holding the judge's API key (default OPENAI_API_KEY; unset = none)")
    parser.add_argument("--rubric-file", type=Path, help="text file replacing the built-in judge rubric")
    parser.add_argument("-o", "--output", type=Path, help="prediction JSONL file (default "
                        "bench/results/ecgbench_<subset>_predictions.jsonl; judge cache goes beside it), or, "
                        "to score PULSE's outputs, its <SAVE_DIR>/<model> folder holding <subset>/step-final.jsonl")
    parser.add_argument("--limit", type=int, help="use only the first N items (count)")
    parser.add_argument("--concurrency", type=int, default=4, help="items in flight at once (count, default 4)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the paper's random letter for unparseable "
                        "multiple-choice answers (default 42, as PULSE's scorer)")
    parser.add_argument("--results-dir", type=Path, default=_DEFAULT_RESULTS,
                        help="where ecgbench_<subset>.json is written (default bench/results)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from models.errors import ModelResponseError
    from tools.benchmarking import write_results
    from tools.errors import InputError
    from training.ecgbench import load_items, read_predictions, score_subset, subset_spec
    from training.ecgbench.predictions import find_prediction_file

    spec = subset_spec(args.subset)
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be >= 1, got {args.limit}")
    if args.concurrency < 1:
        raise InputError(f"--concurrency must be >= 1, got {args.concurrency}")
    if spec.kind in ("report", "arena") and not (args.judge and args.judge_model):
        # Said before any item is answered, not after hours of inference.
        raise InputError(f"subset {spec.name} is scored by an LLM judge: pass --judge URL and --judge-model NAME")
    items = load_items(args.data, spec.name)[: args.limit]
    output = args.output or args.results_dir / f"ecgbench_{spec.name}_predictions.jsonl"
    if output.is_dir():
        if args.mllm:
            raise InputError(f"-o {output} is a folder; with --mllm give the prediction file to write")
        output = find_prediction_file(output, spec.config)
    summary = asyncio.run(_answer(args, items, output)) if args.mllm else None
    if summary is None and not output.exists():
        raise InputError(f"no predictions at {output}: pass --mllm URL to produce them, or -o FILE")
    predictions = read_predictions(output, spec.name)
    judged = asyncio.run(_judge(args, spec.name, items, predictions, output)) if spec.kind in ("report", "arena") \
        else None
    scores = score_subset(spec.name, items, predictions, judged=judged, seed=args.seed)
    _print_table(scores)
    figures: dict[str, Any] = {
        "subset": spec.name, "data": str(args.data), "predictions": str(output), "n_items": scores.n_items,
        "n_scored": scores.n_scored, "paper_compatible": scores.paper, "corrected": scores.corrected,
        "notes": scores.notes, "reference": _references(spec.name), "seed": args.seed,
        "mllm": args.mllm, "judge": args.judge, "judge_model": args.judge_model,
        "run": summary.model_dump() if summary else None}
    path = write_results(f"ecgbench_{spec.name}", figures, args.results_dir)
    print(f"results: {path}")
    if summary and summary.failures:
        first_id, message = next(iter(summary.failures.items()))
        raise ModelResponseError(f"{len(summary.failures)} items got no answer (first {first_id!r}: {message}); "
                                 f"re-run the same command to retry only those")
    return 0


async def _answer(args: argparse.Namespace, items: list, output: Path):
    from models.client import GenerationParams, client_from_url
    from training.ecgbench import MLLMRunner, run_bench

    options = {"model": args.mllm_model} if args.mllm_model else {}
    client = client_from_url(args.mllm, **options)
    if client is None:
        from tools.errors import InputError
        raise InputError("--mllm none asks no model; omit --mllm to score an existing prediction file")
    try:
        runner = MLLMRunner(client, GenerationParams(max_new_tokens=args.max_new_tokens))
        summary = await run_bench(items, runner, output, concurrency=args.concurrency)
    finally:
        await client.aclose()
    print(f"answered {summary.n_answered} items, {summary.n_skipped} already in {output}, "
          f"{len(summary.failures)} failed", file=sys.stderr)
    return summary


async def _judge(args: argparse.Namespace, subset: str, items: list, predictions: dict, output: Path):
    from training.ecgbench import JudgeConfig, judge_predictions

    key = os.environ.get(args.judge_key_env) if args.judge_key_env else None
    config = JudgeConfig(base_url=args.judge, model=args.judge_model, api_key=key, rubric_file=args.rubric_file,
                         max_concurrency=args.concurrency)
    return await judge_predictions(subset, items, predictions, config, output.with_suffix(".judge.jsonl"))


def _references(subset: str) -> dict[str, dict[str, float]]:
    from training.ecgbench import REFERENCE_RESULTS

    return {model: rows[subset] for model, rows in REFERENCE_RESULTS.items() if subset in rows}


def _print_table(scores) -> None:
    from rich.console import Console
    from rich.table import Table

    metrics = list(dict.fromkeys([*scores.paper, *scores.corrected]))
    metrics = [m for m in metrics if m != "auc_classes"]
    table = Table(title=f"ECGBench {scores.subset}: {scores.n_scored} of {scores.n_items} items scored (percent)")
    table.add_column("row")
    for metric in metrics:
        table.add_column(metric, justify="right")

    def cells(values: dict[str, float]) -> list[str]:
        return [f"{values[m]:.1f}" if m in values else "" for m in metrics]

    table.add_row("this run, paper-compatible", *cells(scores.paper))
    table.add_row("this run, corrected", *cells(scores.corrected))
    for model, values in _references(scores.subset).items():
        table.add_row(f"{model} (published)", *cells(values))
    console = Console()
    console.print(table)
    for note in scores.notes:
        console.print(f"  {note}")
