"""Tests of the trainer (training/train): labels, learning, resume, export, LoRA, and refusals before training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from models.convert import load_converted
from models.errors import CheckpointError
from tools.errors import InputError
from training.cli.bench_train import build_bench_model
from training.train.config import LoraSettings, TrainConfig, load_train_config
from training.train.data import IGNORE_INDEX, InstructDataset, collate, read_records
from training.train.loop import latest_checkpoint, train
from training.train.memory import check_fits, estimate_memory
from training.train.toy import RATE_CLASSES, write_rate_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # On a shared CPU, torch's thread pool spinning against other processes was 10-20x slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train")
    build_bench_model(root / "model")
    write_rate_dataset(root, 12, seed=1, name="train")
    write_rate_dataset(root, 3, seed=2, name="heldout")
    return root


def config(root: Path, out: str, **changes) -> TrainConfig:
    base = dict(model_dir=root / "model", data_path=root / "train.json", eval_data_path=root / "heldout.json",
                output_dir=root / out, train_vision_tower=True, learning_rate=3e-3, global_batch_size=4,
                micro_batch_size=2, gradient_checkpointing=False, save_every_steps=0, log_every_steps=100,
                export=False)
    return TrainConfig(**{**base, **changes})


def quiet(*_):
    pass


def test_labels_cover_only_the_answers_and_their_eos(workspace, tmp_path):
    records = [{"id": "two-turns", "image": "images/train_00000.png", "conversations": [
        {"from": "human", "value": "<image>\nWhat is the rate?"}, {"from": "gpt", "value": "75 bpm"},
        {"from": "human", "value": "And the rhythm?"}, {"from": "gpt", "value": "sinus rhythm"}]}]
    (tmp_path / "two.json").write_text(json.dumps(records))
    _, processor = load_converted(workspace / "model")
    item = InstructDataset(read_records(tmp_path / "two.json"), workspace, processor, 4096)[0]
    answer_ids = item["input_ids"][item["labels"] != IGNORE_INDEX]
    assert processor.tokenizer.decode(answer_ids) == "75 bpm</s> sinus rhythm</s>"
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert int((item["input_ids"] == image_id).sum()) > 1  # expanded to the image's feature count
    batch = collate([item, {k: v[:-5] if k in ("input_ids", "labels") else v for k, v in item.items()}], pad_token_id=0)
    assert batch["attention_mask"][1].sum() == len(item["input_ids"]) - 5
    assert (batch["labels"][1, -5:] == IGNORE_INDEX).all()


def test_loss_falls_on_a_small_synthetic_set(workspace):
    result = train(config(workspace, "learn", epochs=5, eval_max_items=3), print_fn=quiet)
    losses = [s.loss for s in result.steps]
    assert len(losses) == 15
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
    assert result.evals[-1].loss < result.evals[0].loss  # held-out loss falls too
    assert result.evals[-1].n_items == 3


def test_resumed_run_matches_the_uninterrupted_one_and_exports(workspace, tmp_path):
    full = train(config(workspace, "full", max_steps=4, save_every_steps=2, export=True), print_fn=quiet)
    half = workspace / "full" / "checkpoints" / "step-000002"
    assert latest_checkpoint(workspace / "full").name == "step-000004"
    interrupted = tmp_path / "step-000002"
    shutil.copytree(half, interrupted)
    resumed = train(config(workspace, "resumed", max_steps=4), resume=interrupted, print_fn=quiet)
    assert [s.step for s in resumed.steps] == [1, 2, 3, 4]
    np.testing.assert_allclose([s.loss for s in resumed.steps], [s.loss for s in full.steps], rtol=1e-5)
    np.testing.assert_allclose([s.lr for s in resumed.steps], [s.lr for s in full.steps])

    model, _ = load_converted(full.export_dir)
    saved = json.loads((full.export_dir / "training_config.json").read_text())
    assert saved["max_steps"] == 4 and model.config.model_type == "llava_next"
    start, _ = load_converted(workspace / "model")
    changed = model.lm_head.weight - start.lm_head.weight
    assert changed.abs().max() > 0  # trained weights, not the starting ones
    with pytest.raises(CheckpointError, match="differs in learning_rate"):
        train(config(workspace, "other", max_steps=4, learning_rate=1e-4), resume=interrupted, print_fn=quiet)


# peft (0.21) still reads transformers 5's deprecated alias; nothing of ours to fix.
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_lora_trains_adapters_and_exports_merged_weights(workspace):
    lora = LoraSettings(rank=4, alpha=8, dropout=0.0)
    result = train(config(workspace, "lora", max_steps=1, warmup_ratio=0.0, train_vision_tower=False, lora=lora,
                          export=True),
                   print_fn=quiet)
    model, _ = load_converted(result.export_dir)
    start, _ = load_converted(workspace / "model")
    assert not any("lora" in name for name, _ in model.named_parameters())
    q_new = model.model.language_model.layers[0].self_attn.q_proj.weight
    q_old = start.model.language_model.layers[0].self_attn.q_proj.weight
    assert 0 < (q_new - q_old).abs().max() < 0.1  # merged low-rank update, not a different model
    before, after = start.state_dict(), model.state_dict()
    tower = [key for key in after if "vision_tower" in key]
    assert tower and all(torch.equal(after[key], before[key]) for key in tower)  # frozen tower untouched


def write_json(path: Path, payload) -> Path:
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


@pytest.mark.parametrize(("payload", "message"), [
    ([], "no records"),
    ('[{"id": 1, "image": "a.png", ', "corrupt JSON at line 1"),
    ([{"id": "x", "image": "images/train_00000.png", "conversations": [{"from": "human", "value": "no image"},
                                                                       {"from": "gpt", "value": "a"}]}],
     "must contain '<image>'"),
    ([{"id": "x", "image": "images/nowhere.png", "conversations": [{"from": "human", "value": "<image>\nq"},
                                                                   {"from": "gpt", "value": "a"}]}],
     "1 of 1 images missing"),
    ([{"id": "x", "image": "images/train_00000.png", "conversations": [{"from": "human", "value": "<image>\nq"},
                                                                       {"from": "gpt", "value": " "}]}],
     "empty question or answer"),
])
def test_bad_data_is_refused_before_training(workspace, tmp_path, payload, message):
    data = write_json(workspace / f"bad_{tmp_path.name}.json", payload)
    with pytest.raises(InputError, match=message):
        train(config(workspace, f"bad_{tmp_path.name}_out", data_path=data), print_fn=quiet)
    assert not (workspace / f"bad_{tmp_path.name}_out").exists()


def test_a_checkpoint_of_another_architecture_is_refused(workspace, tmp_path):
    original = {"model_type": "llava", "architectures": ["LlavaLlamaForCausalLM"]}
    (tmp_path / "config.json").write_text(json.dumps(original))
    with pytest.raises(CheckpointError, match="model_type 'llava'.*ecg-agent convert"):
        train(config(workspace, "arch", model_dir=tmp_path), print_fn=quiet)
    with pytest.raises(CheckpointError, match="no readable config.json"):
        train(config(workspace, "arch", model_dir=tmp_path / "none"), print_fn=quiet)


def test_a_run_that_cannot_fit_is_refused_with_the_estimate(workspace):
    with pytest.raises(InputError, match=r"does not fit: estimated \d+\.\d GB per device.*activations"):
        train(config(workspace, "huge", micro_batch_size=4, global_batch_size=4, max_length_tokens=4096,
                     memory_limit_gb=0.5), print_fn=quiet)


def test_pulse_7b_fits_on_h100s_with_zero2_only():
    """PULSE: 7.06 B params, all but CLIP (0.30 B) trained, micro-batch 4 x 4096 tokens, 32 GPUs."""
    pulse = dict(total_params=7_063_000_000, trained_params=6_760_000_000, hidden=4096, layers=32,
                 micro_batch_size=4, max_length_tokens=4096, activation_bytes=2, gradient_checkpointing=True)
    zero2 = estimate_memory(**pulse, num_processes=32, zero_stage=2)
    assert 30 < zero2.total_gb < 45  # 26.3 weights + 3.1 grads/Adam + ~6.5 activations
    check_fits(zero2, 80.0)
    plain = estimate_memory(**pulse, num_processes=32, zero_stage=0)
    with pytest.raises(InputError, match="does not fit"):
        check_fits(plain, 80.0)


def test_batch_that_does_not_divide_is_refused():
    with pytest.raises(InputError, match="global_batch_size=10: must be a multiple of micro_batch_size=4"):
        TrainConfig(model_dir="m", data_path="d.json", output_dir="o", global_batch_size=10, micro_batch_size=4)
    recipe = TrainConfig(model_dir="m", data_path="d.json", output_dir="o")
    assert recipe.accumulation_steps(32) == 1 and recipe.accumulation_steps(8) == 4
    with pytest.raises(InputError, match="not a multiple"):
        recipe.accumulation_steps(3)


def test_defaults_are_pulses_recipe_and_the_shipped_file_matches():
    recipe = TrainConfig(model_dir="m", data_path="d.json", output_dir="o")
    trained = (recipe.train_vision_tower, recipe.train_projector, recipe.train_llm, recipe.lora)
    assert trained == (False, True, True, None)
    assert (recipe.learning_rate, recipe.lr_schedule, recipe.warmup_ratio, recipe.epochs) == (2e-5, "cosine", 0.03, 3.0)
    assert (recipe.global_batch_size, recipe.max_length_tokens, recipe.gradient_checkpointing) == (128, 4096, True)
    shipped = load_train_config(REPO / "training" / "configs" / "pulse_recipe.json")
    fields = set(TrainConfig.model_fields) - {"model_dir", "data_path", "image_dir", "eval_data_path", "output_dir",
                                              "precision"}
    assert {f: getattr(shipped, f) for f in fields} == {f: getattr(recipe, f) for f in fields}
    assert shipped.precision == "bf16" and shipped.model_dir.is_absolute()


def test_corrupt_config_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="corrupt JSON"):
        load_train_config(write_json(tmp_path / "c.json", "{oops"))
    with pytest.raises(InputError, match="learning_rate"):
        load_train_config(write_json(tmp_path / "c.json", {"model_dir": "m", "data_path": "d", "output_dir": "o",
                                                           "learning_rate": -1}))


def test_rate_dataset_is_balanced_and_deterministic(tmp_path):
    first = json.loads(write_rate_dataset(tmp_path / "a", 6, seed=5).read_text())
    second = json.loads(write_rate_dataset(tmp_path / "b", 6, seed=5).read_text())
    assert first == second
    assert [r["conversations"][1]["value"] for r in first] == list(RATE_CLASSES) * 2
    image = "images/data_00000.png"
    assert (tmp_path / "a" / image).read_bytes() == (tmp_path / "b" / image).read_bytes()
