"""``ecg-agent train`` through the real dispatcher: a short run from a config file, resume, and refusals."""

from __future__ import annotations

import json

import pytest
import torch

from agent.cli import main
from training.cli.bench_train import build_bench_model
from training.train.toy import write_rate_dataset


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_cli")
    build_bench_model(root / "model")
    write_rate_dataset(root, 4, seed=1, name="train")
    return root


def test_run_from_a_config_file_then_resume_latest(workspace, capsys):
    torch.set_num_threads(1)
    config = {"model_dir": "model", "data_path": "train.json", "output_dir": "run", "global_batch_size": 2,
              "micro_batch_size": 2, "gradient_checkpointing": False, "export": False}
    (workspace / "cfg.json").write_text(json.dumps(config))
    assert main(["train", "--config", str(workspace / "cfg.json"), "--max-steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "global batch 2 = 2 per process x 1 processes x 1 accumulation" in out and "step-000001" in out
    saved = json.loads((workspace / "run" / "train_config.json").read_text())
    assert saved["max_steps"] == 1 and saved["learning_rate"] == 2e-5
    assert main(["train", "--config", str(workspace / "cfg.json"), "--max-steps", "1", "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "--data", "x.json"], "--model-dir, --output-dir required without --config"),
    (["train", "--config", "{root}/none.json"], "cannot read"),
    (["train", "--model-dir", "{root}/model", "--data", "{root}/train.json", "--output-dir", "{root}/o",
      "--global-batch", "6", "--micro-batch", "4"], "global_batch_size=6: must be a multiple of micro_batch_size=4"),
    (["train", "--model-dir", "{root}", "--data", "{root}/train.json", "--output-dir", "{root}/o"],
     "no readable config.json"),
    (["train", "--model-dir", "{root}/model", "--data", "{root}/train.json", "--output-dir", "{root}/o",
      "--resume", "{root}"], "not a complete training checkpoint"),
])
def test_bad_input_is_one_line_and_exit_2(workspace, capsys, argv, message):
    assert main([a.format(root=workspace) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ecg-agent: error:") and message in err and "\n" not in err
