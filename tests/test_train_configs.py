"""The shipped accelerate configs (training/configs/*.yaml) load with accelerate's own reader and
parse with ``accelerate launch``'s own argument parser, so a typo or an impossible value fails here,
not on a 32-GPU allocation. DeepSpeed itself is not needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
from accelerate.commands.launch import launch_command_parser
from accelerate.utils import DistributedType

from training.train.config import TrainConfig

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"
EXPECTED = {  # file -> (engine, ZeRO stage or None, machines, processes)
    "deepspeed_zero2.yaml": (DistributedType.DEEPSPEED, 2, 1, 8),
    "deepspeed_zero3.yaml": (DistributedType.DEEPSPEED, 3, 1, 8),
    "fsdp.yaml": (DistributedType.FSDP, None, 1, 8),
    "multinode_zero2.yaml": (DistributedType.DEEPSPEED, 2, 4, 32),
}


def launch_arguments(config: ClusterConfig) -> list[str]:
    """The engine section of a config as the ``accelerate launch`` options it stands for."""
    arguments = []
    for key, value in {**config.deepspeed_config, **config.fsdp_config}.items():
        arguments += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return arguments


def test_every_shipped_config_is_checked():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_loads_and_parses_as_launch_options(name):
    config = load_config_from_file(str(CONFIGS / name))
    engine, stage, machines, processes = EXPECTED[name]
    assert isinstance(config, ClusterConfig) and config.distributed_type == engine
    assert (config.num_machines, config.num_processes, config.mixed_precision) == (machines, processes, "bf16")
    parser = launch_command_parser()
    known = {action.dest for action in parser._actions}
    unknown = [key for key in {**config.deepspeed_config, **config.fsdp_config} if key not in known]
    assert not unknown, f"{name}: not accelerate launch options: {unknown}"
    args = parser.parse_args([*launch_arguments(config), "-m", "agent.cli", "train"])  # types and choices checked
    if stage is not None:
        assert int(args.zero_stage) == stage
        assert args.offload_optimizer_device == "none" and float(args.gradient_clipping) == 1.0
    else:
        assert args.fsdp_sharding_strategy == "FULL_SHARD"
        assert set(args.fsdp_transformer_layer_cls_to_wrap.split(",")) == {"LlamaDecoderLayer", "CLIPEncoderLayer"}


@pytest.mark.parametrize("name", ["deepspeed_zero2.yaml", "deepspeed_zero3.yaml", "multinode_zero2.yaml"])
def test_accumulation_in_the_file_matches_the_recipe_batch(name):
    """The trainer refuses to start when accelerate's accumulation differs from 128 / (4 x processes)."""
    config = load_config_from_file(str(CONFIGS / name))
    recipe = TrainConfig(model_dir="m", data_path="d.json", output_dir="o")
    assert config.deepspeed_config["gradient_accumulation_steps"] == recipe.accumulation_steps(config.num_processes)


def test_multinode_config_names_the_rendezvous():
    config = load_config_from_file(str(CONFIGS / "multinode_zero2.yaml"))
    assert config.main_process_ip and config.main_process_port == 29500
    assert config.deepspeed_config["deepspeed_multinode_launcher"] == "standard"
