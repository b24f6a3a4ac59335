"""Supervised instruction tuning of LLaVA-NeXT models with PULSE's recipe (``ecg-agent train``).

Modules, one job each: :mod:`.config` (the recipe as a frozen config), :mod:`.data` (LLaVA JSON ->
labelled, padded batches), :mod:`.model` (architecture check, freezing / LoRA, export),
:mod:`.memory` (fit check before loading), :mod:`.evaluate` (held-out loss, exact match),
:mod:`.loop` (the training script), :mod:`.toy` (a rate-category task for tests and benchmarks).
"""

from training.train.config import LoraSettings, TrainConfig, load_train_config
from training.train.loop import TrainResult, latest_checkpoint, train

__all__ = ["LoraSettings", "TrainConfig", "TrainResult", "latest_checkpoint", "load_train_config", "train"]
