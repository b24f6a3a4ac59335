"""``ecg-agent ablate``: an ECGBench subset under several tool configurations, side by side.

Every configuration runs the real agent (``ECGAgent.interpret``, the path users run) with its tool
switches; predictions go to one resumable JSONL file per configuration, so re-running the same
command answers only what is missing. The model server is probed once before anything runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

__all__ = ["add_parser"]

_DEFAULT_RESULTS = Path("bench/results")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``ablate`` under ``ecg-agent``."""
    parser = subparsers.add_parser(
        "ablate", help="tool ablation: an ECGBench subset under MLLM-only, tools-only, no-cross-check and full agent",
        description="Answer the items of one ECGBench subset with the agent under several tool configurations "
                    "(mllm_only, tools_only, mllm_tools_no_crosscheck, full), score each with the ECGBench "
                    "metrics (paper-compatible and corrected), and print one side-by-side table with paired "
                    "bootstrap confidence intervals, differences to 'full' and the items where configurations "
                    "disagree. Resumable: re-running answers only missing items.")
    parser.add_argument("data", type=Path, help="ECGBench folder (Hugging Face parquet layout or PULSE's "
                        "<subset>.json + images/ layout) or one subset file")
    parser.add_argument("--subset", required=True, help="ptb-xl-super, code15, cpsc, csn, g12ec, mmmu-ecg or ecgqa "
                        "(or the distribution's names); the LLM-judged subsets are not supported")
    parser.add_argument("--mllm", help="the PULSE model: http(s)://HOST:PORT (OpenAI-compatible server, e.g. "
                        "vllm serve), hf:DIR or vllm:DIR; required by every configuration but tools_only")
    parser.add_argument("--mllm-model", help="served model name to request (default: the server's only model)")
    parser.add_argument("--max-new-tokens", type=int, default=1024,
                        help="most tokens per model answer (default 1024, greedy, as PULSE was evaluated)")
    parser.add_argument("--configs", default="all", help="comma list of configurations to run, or 'all' (default): "
                        "mllm_only, tools_only, mllm_tools_no_crosscheck, full")
    parser.add_argument("-o", "--output", type=Path, help="output folder: <configuration>.jsonl predictions, "
                        "ablation.json, ablation.md (default bench/results/ablation_<subset>)")
    parser.add_argument("--limit", type=int, help="use only the first N items (count)")
    parser.add_argument("--concurrency", type=int, default=2, help="items in flight at once (count, default 2)")
    parser.add_argument("--resamples", type=int, default=1000,
                        help="bootstrap resamples (count, >= 1000, default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (default 0)")
    parser.add_argument("--letter-seed", type=int, default=42, help="seed of the paper's random letter for "
                        "unparseable multiple-choice answers (default 42, as PULSE's scorer)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from models.errors import ModelResponseError
    from tools.errors import InputError
    from training.ablation import CONFIGURATIONS, BootstrapConfig, parse_configurations, results_table, \
        score_ablation, to_markdown
    from training.ecgbench import load_items, read_predictions, subset_spec

    spec = subset_spec(args.subset)
    if spec.kind in ("report", "arena"):
        raise InputError(f"--subset {spec.name} is scored by an LLM judge, which ablate does not run; "
                         f"choose a label, multiple-choice or ECG-QA subset")
    configurations = parse_configurations(args.configs)
    for option, value, least in (("--limit", args.limit, 1), ("--concurrency", args.concurrency, 1),
                                 ("--resamples", args.resamples, 1000), ("--max-new-tokens", args.max_new_tokens, 1)):
        if value is not None and value < least:
            raise InputError(f"{option} must be >= {least}, got {value}")
    needs_model = [name for name in configurations if CONFIGURATIONS[name].mllm]
    if needs_model and not args.mllm:
        raise InputError(f"configurations {', '.join(needs_model)} ask the MLLM: pass --mllm URL "
                         f"(or --configs tools_only)")
    bootstrap = BootstrapConfig(n_resamples=args.resamples, seed=args.seed)  # checked before hours of inference
    items = load_items(args.data, spec.name)[: args.limit]
    out_dir = args.output or _DEFAULT_RESULTS / f"ablation_{spec.name}"
    summaries = asyncio.run(_answer(args, items, configurations, out_dir, bool(needs_model)))
    predictions = {name: read_predictions(out_dir / f"{name}.jsonl", spec.name) for name in configurations}
    result = score_ablation(spec.name, items, predictions, bootstrap, seed=args.letter_seed)
    console = Console()
    console.print(results_table(result))
    for note in result.notes:
        console.print(f"  {note}")
    console.print(f"  {len(result.disagreements)} items answered differently by the configurations "
                  f"(listed in {out_dir / 'ablation.md'})")
    (out_dir / "ablation.json").write_text(json.dumps(
        {**result.model_dump(mode="json"), "data": str(args.data), "mllm": args.mllm,
         "runs": {name: s.model_dump() for name, s in summaries.items()}}, indent=2) + "\n", encoding="utf-8")
    (out_dir / "ablation.md").write_text(to_markdown(result), encoding="utf-8")
    print(f"results: {out_dir / 'ablation.json'}, {out_dir / 'ablation.md'}")
    failures = {f"{name}:{item}": why for name, s in summaries.items() for item, why in s.failures.items()}
    if failures:
        first, message = next(iter(failures.items()))
        raise ModelResponseError(f"{len(failures)} item runs got no answer (first {first}: {message}); "
                                 f"re-run the same command to retry only those")
    return 0


async def _answer(args: argparse.Namespace, items: list, configurations: tuple[str, ...], out_dir: Path,
                  needs_model: bool) -> dict:
    from agent.api import ECGAgent
    from agent.config import AgentConfig
    from models.client import GenerationParams, client_from_url
    from training.ablation import run_ablation

    params = GenerationParams(max_new_tokens=args.max_new_tokens)
    client = None
    if needs_model:
        options = {"model": args.mllm_model} if args.mllm_model else {}
        client = client_from_url(args.mllm, **options)
        if client is None:
            from tools.errors import InputError
            raise InputError("--mllm none asks no model; use --configs tools_only to run without one")
    try:
        if client is not None:
            await _probe(client, items[0], args.mllm)
        agent = ECGAgent(AgentConfig(generation=params, checkpoint_path=None), mllm=client)
        summaries = await run_ablation(items, agent, configurations, out_dir, concurrency=args.concurrency)
    finally:
        if client is not None:
            await client.aclose()
    for name, summary in summaries.items():
        print(f"{name}: answered {summary.n_answered} items, {summary.n_skipped} already done, "
              f"{len(summary.failures)} failed", file=sys.stderr)
    return summaries


async def _probe(client, item, url: str) -> None:
    """One short request, so that an unreachable or broken server fails the run at once."""
    from models.client import GenerationParams
    from models.errors import ModelError
    from training.ecgbench import read_image

    try:
        await client.ask(read_image(item.image), "Is this an ECG? Answer yes or no.",
                         GenerationParams(max_new_tokens=4))
    except ModelError as exc:
        raise type(exc)(f"--mllm {url} failed a probe request before the run: {exc}") from None
