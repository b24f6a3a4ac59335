"""``ecg-agent bench model``: prefill and decode speed of the in-process backend, against two baselines.

Figures, all measured in the same run on the same model and image:

- prefill: seconds from the call to the end of the first forward pass for one anyres image (image
  decode, anyres preprocessing, vision tower, projector, language-model prefill), through
  :class:`TransformersClient` and through plain ``processor`` + ``model.generate`` (the ratio is
  our overhead or gain: the backend decodes with a static KV cache, plain generate with the
  default dynamic one);
- decode: tokens/s at batch 1 and batch 8 over the forward passes after the first, timed by a clock
  on ``model.forward`` (differencing whole calls drowns a few ms per token in prefill noise);
- the memory-bandwidth floor: at batch 1 every decode step reads every language-model weight once,
  so no implementation beats (language-model bytes) / (bandwidth measured here by a large copy).

By default it builds the medium tiny LLaVA-NeXT (tens of millions of parameters, random weights)
and runs on one pinned CPU core. On a GPU machine run it on the converted PULSE-7B::

    ecg-agent bench model --model /path/to/pulse-7b-hf --device cuda --dtype bfloat16

There, the floor for an H100 SXM (about 14 GB of bf16 weights over about 3.35 TB/s) is about
4 ms per token at batch 1.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.errors import InputError

__all__ = ["add_parser"]

H100_BANDWIDTH_BYTES_PER_S = 3.35e12  # H100 SXM5 HBM3, NVIDIA data sheet
PULSE_7B_BF16_BYTES = 14.0e9  # 7B parameters x 2 bytes (the language model read at every decode step)
BATCH_SIZES = (1, 8)
QUESTIONS = ("What is the rhythm?", "What is the heart rate?", "Is the QRS axis normal?",
             "Is there atrial fibrillation?", "What is the PR interval?", "Describe the ST segments.",
             "Is there a bundle branch block?", "Write a report and give a final diagnosis.")
ECG_PAGE_PX = (1100, 850)  # (width, height): a letter-size 12-lead page at 100 dpi


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``bench model``."""
    parser = subparsers.add_parser(
        "model", help="prefill and decode speed of the in-process LLaVA-NeXT backend vs plain generate",
        description="Measure prefill time for one anyres image and decode tokens/s at batch 1 and 8 "
                    "through the in-process transformers backend, beside plain model.generate and the "
                    "memory-bandwidth floor measured on this machine. Writes bench/results/model.json.")
    parser.add_argument("--model", type=Path, default=None,
                        help="Hugging Face LlavaNext directory (e.g. converted PULSE-7B); default: build the "
                             "medium tiny model with random weights in a temporary directory")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                        help="weight dtype; auto = bfloat16 on CUDA, float32 on CPU")
    parser.add_argument("--new-tokens", type=int, default=16,
                        help="tokens generated per answer in the decode measurement (count, >= 2; default 16)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per backend and batch size after one warm-up; medians are reported "
                             "(default 3)")
    parser.add_argument("--all-cores", action="store_true",
                        help="use every CPU core instead of pinning the run to one (CPU only)")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="directory for model.json (default bench/results)")
    parser.set_defaults(run=run)


def ecg_like_png(width_px: int, height_px: int) -> bytes:
    """A synthetic ECG-paper page (pink 1 mm / 5 mm grid, a spiky trace): PNG bytes of the given size."""
    import numpy as np
    from PIL import Image

    page = np.full((height_px, width_px, 3), 255, dtype=np.uint8)
    page[:, ::4] = page[::4, :] = (255, 220, 220)
    page[:, ::20] = page[::20, :] = (240, 150, 150)
    columns = np.arange(width_px)
    for row_px in range(height_px // 8, height_px, height_px // 4):
        trace = row_px - (40 * np.exp(-(((columns % 160) - 80) / 4.0) ** 2)).astype(int)
        page[np.clip(trace, 0, height_px - 1), columns] = 0
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format="PNG")
    return buffer.getvalue()


def memory_bandwidth_bytes_per_s(device: str, *, size_bytes: int = 256 * 2**20, repeats: int = 5) -> float:
    """Bytes/s of a large tensor copy on ``device`` (each copy reads and writes ``size_bytes``)."""
    import torch

    from tools.benchmarking import time_per_call_s

    source = torch.ones(size_bytes // 4, dtype=torch.float32, device=device)
    target = torch.empty_like(source)

    def copy() -> None:
        target.copy_(source)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    return 2 * size_bytes / time_per_call_s(copy, repeats=repeats, warmup=1)


def decode_weight_bytes(model: Any) -> int:
    """Bytes of the weights every decode step reads: everything but the vision tower and projector."""
    return sum(p.numel() * p.element_size() for name, p in model.named_parameters()
               if "vision_tower" not in name and "multi_modal_projector" not in name)


class StepClock:
    """Timestamps the end of every forward pass of ``model`` (the prefill, then one per new token).

    It shadows ``model.forward`` with a timed wrapper while active, so both backends are timed by
    the same clock without touching their code; CUDA work is synchronised before each timestamp.
    """

    def __init__(self, model: Any) -> None:
        self.model, self.ends_s = model, []

    def __enter__(self) -> StepClock:
        import torch

        forward, cuda = self.model.forward, self.model.device.type == "cuda"

        @functools.wraps(forward)  # generate() validates its kwargs against forward's signature
        def timed(*args: Any, **kwargs: Any) -> Any:
            output = forward(*args, **kwargs)
            if cuda:
                torch.cuda.synchronize()
            self.ends_s.append(time.perf_counter())
            return output

        self.model.forward = timed
        return self

    def __exit__(self, *exc_info: object) -> None:
        del self.model.forward


def _ask_ours(client: Any, image: bytes, batch: int, new_tokens: int) -> None:
    from models.client import GenerationParams

    items = [(image, QUESTIONS[i % len(QUESTIONS)]) for i in range(batch)]
    asyncio.run(client.ask_many(items, GenerationParams(max_new_tokens=new_tokens)))


def _ask_plain(client: Any, image: bytes, batch: int, new_tokens: int) -> None:
    """What a user writes with transformers alone: decode, chat template, processor, generate, decode."""
    import torch
    from PIL import Image

    from models.client import chat_messages

    processor, model = client.processor, client.model
    pil = Image.open(io.BytesIO(image)).convert("RGB")
    prompts = [processor.apply_chat_template(chat_messages(QUESTIONS[i % len(QUESTIONS)]), add_generation_prompt=True,
                                             tokenize=False) for i in range(batch)]
    inputs = processor(images=[pil] * batch, text=prompts, padding=True, add_special_tokens=False,
                       return_tensors="pt").to(client.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(client.dtype)
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False,
                                pad_token_id=processor.tokenizer.pad_token_id)
    processor.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def _timed_run(ask: Any, client: Any, image: bytes, batch: int, new_tokens: int) -> tuple[float, float]:
    """(seconds from the call to the end of the prefill forward, median seconds per decode step)."""
    import numpy as np

    with StepClock(client.model) as clock:
        start_s = time.perf_counter()
        ask(client, image, batch, new_tokens)
    # The median step resists the pauses other processes on a shared machine impose on a few steps.
    steps_s = np.diff(clock.ends_s)
    return clock.ends_s[0] - start_s, float(np.median(steps_s)) if steps_s.size else float("nan")


def _figures(client: Any, image: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """Prefill seconds and decode tokens/s for both backends; runs alternate so both share the noise."""
    import numpy as np

    backends = (("ours", _ask_ours), ("plain", _ask_plain))
    for _, ask in backends:
        ask(client, image, 1, 2)  # warm-up: first-call allocations and lazy initialisation
    figures: dict[str, Any] = {}
    for batch in BATCH_SIZES:
        runs: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in backends}
        for _ in range(args.repeats):
            for label, ask in backends:
                runs[label].append(_timed_run(ask, client, image, batch, args.new_tokens))
        prefill = {label: float(np.median([run[0] for run in rows])) for label, rows in runs.items()}
        decode = {label: batch / float(np.median([run[1] for run in rows])) for label, rows in runs.items()}
        for key, values in ((f"prefill_s_batch{batch}", prefill), (f"decode_tokens_per_s_batch{batch}", decode)):
            figures[key] = {**values, "ratio_ours_over_plain": values["ours"] / values["plain"]}
    return figures


def _load(args: argparse.Namespace, work_dir: Path) -> Any:
    from models.client_transformers import TransformersClient, TransformersClientConfig

    if args.model is None:
        from models.tiny import MEDIUM, build_tiny_hf
        model_dir = build_tiny_hf(work_dir / "medium", seed=0, sizes=MEDIUM)
    elif not (args.model / "config.json").is_file():
        raise InputError(f"--model {str(args.model)!r} is not a Hugging Face model directory (no config.json)")
    else:
        model_dir = args.model
    return TransformersClient(TransformersClientConfig(model_dir=model_dir, device=args.device, dtype=args.dtype,
                                                       max_batch_size=max(BATCH_SIZES)))


def run(args: argparse.Namespace) -> int:
    """Measure, print and write bench/results/model.json."""
    if args.new_tokens < 2:
        raise InputError(f"--new-tokens must be >= 2, got {args.new_tokens}")
    if args.repeats < 1:
        raise InputError(f"--repeats must be >= 1, got {args.repeats}")
    from importlib.metadata import version

    from models.client import decode_image
    from tools.benchmarking import pin_one_core, write_results

    pinned = not args.device.startswith("cuda") and not args.all_cores
    if pinned:
        pin_one_core()
    import torch

    if pinned:  # torch may have been imported before the pinning set OMP_NUM_THREADS
        torch.set_num_threads(1)
    image = ecg_like_png(*ECG_PAGE_PX)
    with tempfile.TemporaryDirectory() as work_dir:
        client = _load(args, Path(work_dir))
        bandwidth = memory_bandwidth_bytes_per_s(client.device)
        weight_bytes = decode_weight_bytes(client.model)
        prompt_tokens = client.prepare([(decode_image(image), QUESTIONS[0])])["input_ids"].shape[1]
        figures = _figures(client, image, args)
        asyncio.run(client.aclose())
    figures.update({
        "model": str(args.model or "medium tiny LLaVA-NeXT, random weights"), "device": client.device,
        "dtype": str(client.dtype).removeprefix("torch."), "threads": torch.get_num_threads(),
        "transformers": version("transformers"), "kv_cache": client.config.kv_cache,
        "max_batch_size": client.config.max_batch_size,
        "decode_weight_bytes": weight_bytes, "image_px": list(ECG_PAGE_PX), "prompt_tokens": prompt_tokens,
        "new_tokens": args.new_tokens, "repeats": args.repeats,
        "memory_bandwidth_gb_per_s": bandwidth / 1e9,
        "floor_ms_per_token_batch1": 1e3 * weight_bytes / bandwidth,
        "h100_pulse7b_floor_ms_per_token_batch1": 1e3 * PULSE_7B_BF16_BYTES / H100_BANDWIDTH_BYTES_PER_S,
    })
    _print(figures)
    print(f"wrote {write_results('model', figures, args.out_dir)}")
    return 0


def _print(figures: dict[str, Any]) -> None:
    print(f"model: {figures['model']} on {figures['device']} ({figures['dtype']}, {figures['threads']} thread(s)); "
          f"decode weights {figures['decode_weight_bytes'] / 1e6:.1f} MB; prompt {figures['prompt_tokens']} tokens "
          f"for a {figures['image_px'][0]}x{figures['image_px'][1]} px page")
    for batch in BATCH_SIZES:
        prefill = figures[f"prefill_s_batch{batch}"]
        print(f"prefill, {batch} anyres image(s) (call to end of first forward): ours {prefill['ours']:.3f} s, "
              f"plain generate {prefill['plain']:.3f} s (ratio {prefill['ratio_ours_over_plain']:.2f})")
    floor_ms = figures["floor_ms_per_token_batch1"]
    for batch in BATCH_SIZES:
        rates = figures[f"decode_tokens_per_s_batch{batch}"]
        floor = f"; bandwidth floor {1e3 / floor_ms:.0f} tokens/s" if batch == 1 else ""
        print(f"decode, batch {batch}: ours {rates['ours']:.1f} tokens/s, plain {rates['plain']:.1f} tokens/s "
              f"(ratio {rates['ratio_ours_over_plain']:.2f}){floor}")
    print(f"memory bandwidth here {figures['memory_bandwidth_gb_per_s']:.1f} GB/s -> floor {floor_ms:.2f} ms/token "
          f"at batch 1; H100 floor for PULSE-7B bf16: {figures['h100_pulse7b_floor_ms_per_token_batch1']:.1f} "
          f"ms/token (14 GB / 3.35 TB/s)")
