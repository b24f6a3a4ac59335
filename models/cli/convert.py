"""``ecg-agent convert SRC DST``: original-LLaVA checkpoint (PULSE-7B) -> Hugging Face LLaVA-NeXT directory."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``convert`` sub-command."""
    parser = subparsers.add_parser(
        "convert",
        help="convert a PULSE / original-LLaVA checkpoint to a Hugging Face LLaVA-NeXT directory",
        description="Convert a checkpoint in the original LLaVA repository format (as PULSE-7B is "
        "published) to a Hugging Face LLaVA-NeXT directory that transformers loads and vllm serves. "
        "Fully offline. Every size is read from the tensors and checked against the config. "
        "A checkpoint trained with mm_patch_merge_type=flat (PULSE's) becomes the llava_next_flat "
        "variant (see docs/serving.md).",
    )
    parser.add_argument("src", type=Path, help="source directory: config.json, safetensors shards, tokenizer.model")
    parser.add_argument("dst", type=Path, help="output directory (created; must not hold a config.json)")
    parser.add_argument(
        "--vision-tower", type=Path, default=None, metavar="DIR",
        help="local CLIP ViT directory (config.json + safetensors), required when SRC holds no "
        "model.vision_tower.* tensors; for PULSE: a local copy of openai/clip-vit-large-patch14-336",
    )  # fmt: skip
    parser.add_argument(
        "--dtype", choices=["float32", "float16", "bfloat16"], default=None,
        help="dtype of the written weights (default: that of the source checkpoint; PULSE: float16)",
    )  # fmt: skip
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from models.convert import convert_checkpoint
    from tools.errors import InputError

    if not args.src.is_dir():
        raise InputError(f"src={args.src}: not a directory")
    if args.vision_tower is not None and not args.vision_tower.is_dir():
        raise InputError(f"--vision-tower={args.vision_tower}: not a directory")
    report = convert_checkpoint(args.src, args.dst, vision_tower_dir=args.vision_tower, dtype=args.dtype)
    sizes = report.sizes
    print(f"converted {report.n_tensors} tensors ({report.dtype}) from {args.src} to {args.dst}")
    print(f"  language model: {sizes.text_layers} layers, hidden {sizes.text_hidden}, {sizes.text_heads} heads, "
          f"vocabulary {sizes.vocab_size} + <image> (id {report.image_token_index})")  # fmt: skip
    print(f"  vision tower ({report.vision_tower_source}): {sizes.vision_layers} layers, hidden "
          f"{sizes.vision_hidden}, {sizes.image_size_px} px / patch {sizes.patch_px} px")  # fmt: skip
    print(f"  mm_patch_merge_type={report.merge_type} -> {report.model_type} ({report.architecture})")
    if report.merge_type == "flat":
        print("  flat packing: load with models.convert.load_converted; vllm needs the ecg-agent plugin "
              "(pip install ecg-agent in vLLM's environment), see docs/serving.md")  # fmt: skip
    return 0
