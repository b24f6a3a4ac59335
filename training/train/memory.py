"""Per-device memory estimate of a training run, checked before any weight is loaded.

The estimate is the usual mixed-precision Adam accounting (ZeRO paper, Rajbhandari et al. 2020):
fp32 weights 4 B/param, fp32 gradients 4 B per trained param, Adam moments 8 B per trained param,
divided over the processes as the ZeRO stage shards them; plus activations (Korthikanti et al. 2022:
about 34·s·b·h bytes per transformer layer in 16-bit with fused attention, 2·s·b·h per layer when
gradient checkpointing keeps only layer inputs). It is an order-of-magnitude guard against a run
that cannot fit, not a profiler.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tools.errors import InputError

__all__ = ["MemoryEstimate", "available_memory_gb", "check_fits", "estimate_memory"]

_GB = 1024**3


class MemoryEstimate(BaseModel):
    """Estimated bytes per device, by kind, in GB."""

    model_config = ConfigDict(frozen=True)

    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float

    @property
    def total_gb(self) -> float:
        return self.weights_gb + self.gradients_gb + self.optimizer_gb + self.activations_gb


def estimate_memory(
    *, total_params: int, trained_params: int, hidden: int, layers: int, micro_batch_size: int,
    max_length_tokens: int, activation_bytes: int, gradient_checkpointing: bool, num_processes: int,
    zero_stage: int,
) -> MemoryEstimate:
    """Per-device memory in GB of one training run.

    Parameters
    ----------
    total_params, trained_params : int
        Parameter counts of the whole model and of the part that receives gradients.
    hidden, layers : int
        The LLM's hidden size and layer count (activations are dominated by the LLM).
    micro_batch_size, max_length_tokens : int
        Samples per process per forward pass, and the longest sequence in tokens.
    activation_bytes : int
        2 for bf16 autocast, 4 for fp32.
    gradient_checkpointing : bool
        Keep only layer inputs (plus one layer's working set) instead of every activation.
    num_processes : int
        Data-parallel processes the ZeRO stage shards over.
    zero_stage : int
        0 (plain DDP), 1/2 (optimizer / + gradients sharded), 3 (weights too; FSDP full shard ~ 3).
    """
    shards = max(num_processes, 1)
    weights = 4 * total_params / (shards if zero_stage >= 3 else 1)
    gradients = 4 * trained_params / (shards if zero_stage >= 2 else 1)
    optimizer = 8 * trained_params / (shards if zero_stage >= 1 else 1)
    tokens = micro_batch_size * max_length_tokens * hidden * activation_bytes / 2
    per_layer_full = 34 * tokens
    activations = (2 * tokens * layers + per_layer_full) if gradient_checkpointing else per_layer_full * layers
    return MemoryEstimate(weights_gb=weights / _GB, gradients_gb=gradients / _GB, optimizer_gb=optimizer / _GB,
                          activations_gb=activations / _GB)


def available_memory_gb(device_type: str) -> float:
    """Memory one process may use: the GPU's total, or on CPU the free RAM shared by the processes."""
    import torch

    if device_type == "cuda":
        return torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory / _GB
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
        free_gb = int(fields["MemAvailable"].split()[0]) * 1024 / _GB
    else:
        free_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") / _GB
    return free_gb / max(int(os.environ.get("LOCAL_WORLD_SIZE", "1")), 1)


def check_fits(estimate: MemoryEstimate, available_gb: float) -> None:
    """Raise InputError with the breakdown when the estimate exceeds 95 % of ``available_gb``."""
    if estimate.total_gb > 0.95 * available_gb:
        raise InputError(
            f"training does not fit: estimated {estimate.total_gb:.1f} GB per device (weights "
            f"{estimate.weights_gb:.1f}, gradients {estimate.gradients_gb:.1f}, Adam {estimate.optimizer_gb:.1f}, "
            f"activations {estimate.activations_gb:.1f}) > 95 % of {available_gb:.1f} GB available; lower "
            f"micro_batch_size or max_length_tokens, enable gradient_checkpointing, use LoRA, or shard with "
            f"DeepSpeed ZeRO-2/3 (training/configs/)")
