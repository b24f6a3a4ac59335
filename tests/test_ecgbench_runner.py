"""Runners and resumable JSONL predictions: a crash mid-run loses nothing, a re-run completes
without duplicates; and an end-to-end run of the MLLM runner and the CLI against a scripted MLLM
test double on a generated fixture set."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections.abc import Callable, Sequence

import pytest

from models.client import GenerationParams, ModelAnswer
from models.errors import ModelResponseError, ModelUnavailableError
from tests.conftest import shared_path
from tools.errors import InputError
from tools.record_io import read_record
from training.cli.bench_ecgbench import add_parser
from training.ecgbench.fixtures import render_fixture_images, write_fixture_set
from training.ecgbench.items import BenchItem, ImageRef, Prediction, Turn
from training.ecgbench.loader import load_items
from training.ecgbench.metrics import score_subset
from training.ecgbench.predictions import open_for_append, read_predictions
from training.ecgbench.runners import MLLMRunner, run_bench


class ScriptedMLLM:
    """Test double of an MLLMClient (not a model): answers with ``script(question)``, records every
    call, and raises ``fail_with`` for questions that ``fail_when`` selects."""

    def __init__(self, script: Callable[[str], str], fail_when: Callable[[str], bool] = lambda q: False,
                 fail_with: Exception | None = None) -> None:
        self.script, self.fail_when, self.fail_with = script, fail_when, fail_with
        self.calls: list[tuple[bytes, str]] = []

    @property
    def name(self) -> str:
        return "scripted-double"

    async def ask(self, image: bytes, question: str, params: GenerationParams | None = None) -> ModelAnswer:
        self.calls.append((image, question))
        await asyncio.sleep(0)
        if self.fail_when(question):
            raise self.fail_with
        return ModelAnswer(text=self.script(question), model="scripted-double", latency_s=0.0)

    async def ask_many(self, items, params=None):  # part of the protocol; unused by the runner
        return [await self.ask(image, question, params) for image, question in items]

    async def aclose(self) -> None:
        pass


class CrashingRunner:
    """A runner whose ``answer`` raises a bug-like RuntimeError on the item ``crash_on``."""

    name = "crashing"

    def __init__(self, crash_on: str) -> None:
        self.crash_on = crash_on

    async def answer(self, item: BenchItem) -> Prediction:
        if item.id == self.crash_on:
            raise RuntimeError("simulated crash")
        return Prediction(id=item.id, subset=item.subset, prompt=item.question, text="A", model=self.name)


def _items(n: int, subset: str = "mmmu-ecg") -> list[BenchItem]:
    return [BenchItem(id=f"i{k}", subset=subset, image_path=f"x/{k}.png", image=ImageRef(data=b"\x89PNG\r\n\x1a\n"),
                      turns=(Turn(question=f"question {k}", answer="A"),)) for k in range(n)]


def _ids_in(path) -> list[str]:
    return [json.loads(line)["question_id"] for line in path.read_text().splitlines()]


def test_crash_mid_run_keeps_finished_items_and_rerun_completes_without_duplicates(tmp_path):
    out, items = tmp_path / "pred.jsonl", _items(6)
    with pytest.raises(RuntimeError, match="simulated crash"):
        asyncio.run(run_bench(items, CrashingRunner(crash_on="i3"), out, concurrency=1))
    assert _ids_in(out) == ["i0", "i1", "i2"]
    double = ScriptedMLLM(lambda q: "B")
    summary = asyncio.run(run_bench(items, MLLMRunner(double), out, concurrency=3))
    assert (summary.n_skipped, summary.n_answered, summary.failures) == (3, 3, {})
    assert sorted(_ids_in(out)) == [f"i{k}" for k in range(6)]
    assert sorted(q for _, q in double.calls) == ["question 3", "question 4", "question 5"]
    assert asyncio.run(run_bench(items, MLLMRunner(double), out)).n_answered == 0


def test_a_line_cut_by_a_crash_is_dropped_and_redone(tmp_path):
    out, items = tmp_path / "pred.jsonl", _items(3)
    asyncio.run(run_bench(items[:2], CrashingRunner(crash_on="none"), out))
    with out.open("a") as handle:
        handle.write('{"question_id": "i2", "prompt": "question 2", "te')  # killed mid-write
    assert sorted(read_predictions(out, "mmmu-ecg")) == ["i0", "i1"]
    asyncio.run(run_bench(items, CrashingRunner(crash_on="none"), out))
    assert _ids_in(out) == ["i0", "i1", "i2"]


def test_a_complete_last_line_without_newline_is_kept(tmp_path):
    out = tmp_path / "pred.jsonl"
    out.write_text('{"question_id": "i0", "text": "A"}')
    with open_for_append(out) as handle:
        handle.write('{"question_id": "i1", "text": "B"}\n')
    assert sorted(read_predictions(out, "mmmu-ecg")) == ["i0", "i1"]


def test_model_errors_are_recorded_and_retried_on_rerun(tmp_path):
    out, items = tmp_path / "pred.jsonl", _items(4)
    flaky = ScriptedMLLM(lambda q: "A", fail_when=lambda q: q == "question 2", fail_with=ModelResponseError("garbage"))
    summary = asyncio.run(run_bench(items, MLLMRunner(flaky), out))
    assert summary.failures == {"i2": "ModelResponseError: garbage"} and summary.n_answered == 3
    assert "i2" not in read_predictions(out, "mmmu-ecg")
    asyncio.run(run_bench(items, MLLMRunner(ScriptedMLLM(lambda q: "A")), out))
    assert sorted(_ids_in(out)) == ["i0", "i1", "i2", "i3"]


def test_unreachable_model_stops_the_run(tmp_path):
    down = ScriptedMLLM(lambda q: "A", fail_when=lambda q: True, fail_with=ModelUnavailableError("refused"))
    with pytest.raises(ModelUnavailableError, match="refused"):
        asyncio.run(run_bench(_items(5), MLLMRunner(down), tmp_path / "pred.jsonl", concurrency=2))


def test_bad_arguments_and_corrupt_files(tmp_path):
    with pytest.raises(InputError, match="concurrency must be >= 1"):
        asyncio.run(run_bench(_items(1), CrashingRunner("x"), tmp_path / "p.jsonl", concurrency=0))
    with pytest.raises(InputError, match="no items"):
        asyncio.run(run_bench([], CrashingRunner("x"), tmp_path / "p.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('not json\n{"question_id": "i0", "text": "A"}\n')
    with pytest.raises(InputError, match="line 1 is not valid JSON"):
        read_predictions(bad, "mmmu-ecg")
    bad.write_text('{"question_id": "i0"}\n')
    with pytest.raises(InputError, match="field 'text'"):
        read_predictions(bad, "mmmu-ecg")


def test_pulse_answer_files_are_read(tmp_path):
    out = tmp_path / "step-final.jsonl"
    out.write_text(json.dumps({"question_id": "q1", "prompt": "Which?", "text": "C", "answer_id": "x",
                               "model_id": "pulse", "metadata": {}}) + "\n" +
                   json.dumps({"question_id": "a1", "predict_convs": [{"question": "q", "answer": "one"},
                                                                      {"question": "r", "answer": "two"}]}) + "\n")
    predictions = read_predictions(out, "csn")
    assert (predictions["q1"].text, predictions["q1"].model, predictions["q1"].prompt) == ("C", "pulse", "Which?")
    assert predictions["a1"].turn_answers == ("one", "two") and predictions["a1"].text == "two"


# ---------------------------------------------------------------------------------------------
# End to end on generated fixtures

@pytest.fixture(scope="module")
def pages() -> list[bytes]:
    return render_fixture_images([read_record(shared_path("ludb", "data", "3.hea"))], dpi=50)


def _letter_script(items: Sequence[BenchItem]) -> Callable[[str], str]:
    """Right letter for even-numbered items, an unparseable sentence for odd ones."""
    by_question = {item.question: (int(item.id[-5:]), item.answer[:1]) for item in items}

    def script(question: str) -> str:
        number, letter = by_question[question]
        return f"Answer: {letter}" if number % 2 == 0 else "This looks like an ECG."
    return script


def test_mllm_runner_end_to_end_on_a_csn_fixture(tmp_path, pages):
    write_fixture_set(tmp_path / "bench", "csn", pages, 6, layout="hf", seed=1)
    items = load_items(tmp_path / "bench", "csn")
    double = ScriptedMLLM(_letter_script(items))
    out = tmp_path / "csn.jsonl"
    summary = asyncio.run(run_bench(items, MLLMRunner(double), out, concurrency=2))
    assert summary.n_answered == 6
    assert all(image == pages[0] and "<image>" not in question for image, question in double.calls)
    scores = score_subset("csn", items, read_predictions(out, "csn"))
    assert scores.corrected == {"accuracy": 50.0, "unparseable": 50.0}
    assert scores.paper["accuracy"] >= 50.0  # random letters can only add


def test_arena_runner_asks_the_follow_up_with_the_first_exchange(tmp_path, pages):
    write_fixture_set(tmp_path, "arena", pages, 1)
    item = load_items(tmp_path, "arena")[0]
    double = ScriptedMLLM(lambda q: f"reply {len(q)}")
    prediction = asyncio.run(MLLMRunner(double).answer(item))
    first, second = (q for _, q in double.calls)
    assert first == item.turns[0].question
    assert item.turns[0].question in second and prediction.turn_answers[0] in second
    assert second.endswith(item.turns[1].question) and prediction.text == prediction.turn_answers[1]


def test_cli_scores_a_prediction_file_and_writes_results(tmp_path, pages, capsys):
    write_fixture_set(tmp_path / "bench", "code15", pages, 5, layout="pulse", seed=2)
    items = load_items(tmp_path / "bench", "code15")
    out = tmp_path / "code15.jsonl"
    asyncio.run(run_bench(items, MLLMRunner(ScriptedMLLM(lambda q: "RBBB")), out))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["ecgbench", str(tmp_path / "bench"), "--subset", "code15-test", "-o", str(out),
                              "--results-dir", str(tmp_path / "results")])
    assert args.run(args) == 0
    printed = capsys.readouterr().out
    assert "paper-compatible" in printed and "PULSE-7B (published)" in printed and "90.7" in printed
    figures = json.loads((tmp_path / "results" / "ecgbench_code15.json").read_text())["figures"]
    expected = score_subset("code15", items, read_predictions(out, "code15"))
    assert figures["paper_compatible"] == pytest.approx(expected.paper, nan_ok=True)
    assert figures["corrected"] == pytest.approx(expected.corrected, nan_ok=True)
    assert figures["reference"]["GPT-4o"] == {"auc": 59.9, "f1": 24.9, "hamming_loss": 15.7}


def test_cli_refuses_judged_subsets_without_a_judge_before_asking_the_model(tmp_path, pages):
    write_fixture_set(tmp_path / "bench", "arena", pages, 2)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    # Nothing listens on port 9: had the model been asked first, the error would be ModelUnavailableError.
    args = parser.parse_args(["ecgbench", str(tmp_path / "bench"), "--subset", "arena", "--mllm",
                              "http://127.0.0.1:9", "-o", str(tmp_path / "arena.jsonl"),
                              "--results-dir", str(tmp_path / "results")])
    with pytest.raises(InputError, match=re.escape("pass --judge URL and --judge-model NAME")):
        args.run(args)
    assert not (tmp_path / "arena.jsonl").exists()


def test_public_names_exist():
    import importlib

    for module in ("training.ecgbench", "training.ecgbench.items", "training.ecgbench.loader",
                   "training.ecgbench.predictions", "training.ecgbench.runners", "training.ecgbench.parsing",
                   "training.ecgbench.metrics", "training.ecgbench.judge", "training.ecgbench.fixtures",
                   "training.ecgbench.subsets"):
        loaded = importlib.import_module(module)
        assert all(hasattr(loaded, name) for name in loaded.__all__), module


def test_cli_scores_pulse_output_folders(tmp_path, pages):
    """PULSE's inference scripts write <SAVE_DIR>/<model>/<subset>/step-final.jsonl."""
    write_fixture_set(tmp_path / "bench", "mmmu-ecg", pages, 4, layout="pulse")
    items = load_items(tmp_path / "bench", "mmmu-ecg")
    answers = tmp_path / "eval_outputs" / "pulse" / "mmmu-ecg" / "step-final.jsonl"
    answers.parent.mkdir(parents=True)
    answers.write_text("".join(json.dumps({"question_id": item.id, "prompt": item.question, "text": item.answer,
                                           "answer_id": "x", "model_id": "pulse", "metadata": {}}) + "\n"
                               for item in items))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["ecgbench", str(tmp_path / "bench"), "--subset", "mmmu-ecg", "-o",
                              str(tmp_path / "eval_outputs" / "pulse"), "--results-dir", str(tmp_path / "results")])
    assert args.run(args) == 0
    figures = json.loads((tmp_path / "results" / "ecgbench_mmmu-ecg.json").read_text())["figures"]
    assert figures["paper_compatible"] == {"accuracy": 100.0}
    assert figures["predictions"] == str(answers)
    (answers.parent / "step-1000.jsonl").write_text("")
    answers.rename(answers.parent / "step-2000.jsonl")  # two checkpoints, no step-final: ambiguous
    args = parser.parse_args(["ecgbench", str(tmp_path / "bench"), "--subset", "mmmu-ecg", "-o",
                              str(answers.parent)])
    with pytest.raises(InputError, match="found step-1000.jsonl, step-2000.jsonl"):
        args.run(args)
