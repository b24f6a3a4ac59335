"""``ecg-agent synth``: synthesize ECGInstruct-style instruction data (page images + LLaVA JSON)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``synth`` under ``ecg-agent``."""
    parser = subparsers.add_parser(
        "synth", help="synthesize ECGInstruct-style training data (images + LLaVA JSON)",
        description="Render ECG pages (standard and augmented) from labelled recordings and write grounded "
                    "question-answer conversations in ECGInstruct's LLaVA JSON format, with a dataset card. "
                    "Same seed, same bytes, whatever --workers.")
    parser.add_argument("--source", required=True, metavar="SOURCE",
                        help="simulator, ludb[:DIR] (default ../shared/data/ludb), wfdb:DIR (labels.csv with "
                             "columns record,labels or '# labels: code;code' header lines) or ptbxl:DIR "
                             "(ptbxl_database.csv, scp_statements.csv, records500/)")
    parser.add_argument("-n", "--n-samples", type=int, required=True, metavar="N",
                        help="conversations to write (count)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                        help="output folder (must not already hold a data.json)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="processes rendering pages (count, default 1; "
                        "the output does not depend on it)")
    parser.add_argument("--augment-fraction", type=float, default=0.5,
                        help="probability that a page is augmented, 0..1 (default 0.5, as PULSE's about 1:1)")
    parser.add_argument("--families", nargs="+", default=None, metavar="FAMILY",
                        help="task families: basic rhythm morphology report (default all)")
    parser.add_argument("--samples-per-image", type=int, default=4,
                        help="conversations per page image (count, 1..16, default 4)")
    parser.add_argument("--reasoning-fraction", type=float, default=0.3,
                        help="probability of a step-by-step answer where the task allows one, 0..1 (default 0.3)")
    parser.add_argument("--multi-turn-fraction", type=float, default=0.15,
                        help="probability of a 2-3 turn conversation, 0..1 (default 0.15)")
    parser.add_argument("--dpi", type=int, default=100,
                        help="page resolution in dots per inch, 50..300 (default 100; ecg-image-kit uses 200)")
    parser.add_argument("--image-format", choices=("jpg", "png"), default="jpg",
                        help="image file format (default jpg: faster and smaller)")
    parser.add_argument("--fs", type=float, default=500.0, metavar="HZ",
                        help="sampling rate of simulated records in Hz (default 500, as LUDB and PTB-XL)")
    parser.add_argument("--rewrite-url", metavar="URL",
                        help="OpenAI-compatible endpoint http://HOST:PORT that rephrases free-text answers "
                             "(numbers are checked; changed ones are rejected)")
    parser.add_argument("--rewrite-model", help="model name to request from --rewrite-url (default: the server's)")
    parser.add_argument("--rewrite-key-env", default="OPENAI_API_KEY",
                        help="environment variable holding the rewrite endpoint's API key (default OPENAI_API_KEY)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from training.synth.dataset import SynthConfig
    from training.synth.rewrite import OpenAITextLLM
    from training.synth.tasks import FAMILIES
    from training.synth.writer import build_dataset

    config = SynthConfig(n_samples=args.n_samples, seed=args.seed, workers=args.workers,
                         augment_fraction=args.augment_fraction, families=tuple(args.families or FAMILIES),
                         samples_per_image=args.samples_per_image, reasoning_fraction=args.reasoning_fraction,
                         multi_turn_fraction=args.multi_turn_fraction, dpi=args.dpi, image_format=args.image_format)
    llm = None
    if args.rewrite_url:
        llm = OpenAITextLLM(args.rewrite_url, model=args.rewrite_model, api_key=os.environ.get(args.rewrite_key_env))
        asyncio.run(llm.complete("Reply with OK."))  # an unreachable endpoint fails now, not after rendering
    card = build_dataset(config, args.source, args.output, simulator_fs_hz=args.fs, llm=llm)
    print(f"wrote {card['n_samples']} conversations on {card['n_images']} images "
          f"({card['n_augmented_images']} augmented) to {args.output}")
    print("per family: " + ", ".join(f"{k} {v}" for k, v in card["by_family"].items()))
    print("per form:   " + ", ".join(f"{k} {v}" for k, v in card["by_form"].items()))
    if card["skipped_unlabelled_records"] or card["unanswerable_samples"]:
        print(f"left out: {card['skipped_unlabelled_records']} unlabelled records, "
              f"{card['unanswerable_samples']} ungroundable conversations")
    return 0
