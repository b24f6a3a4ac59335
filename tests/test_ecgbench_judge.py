"""The LLM judge against a loopback HTTP test double of an OpenAI-compatible server (not a model):
validated replies are cached per item + judge model + rubric, failures raise and cache nothing."""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from models.errors import ModelResponseError, ModelUnavailableError
from tests.loopback import serve_app
from training.ecgbench.items import BenchItem, ImageRef, Prediction, Turn
from training.ecgbench.judge import (
    JudgeCache,
    JudgeConfig,
    judge_predictions,
    judge_prompt,
    parse_judgement,
    rubric_hash,
    rubric_text,
)
from training.ecgbench.metrics import score_subset

GOOD_REPORT = {"Diagnosis": {"Score": 8, "Explanation": "mostly right"},
               "Form": {"Score": 7, "Explanation": "T waves missed"},
               "Rhythm": {"Score": 10, "Explanation": "sinus rhythm"}}


def _double_app(calls: Counter, prompts: list[str]) -> FastAPI:
    """Test double of a judge endpoint: the first path segment picks the behaviour."""
    app = FastAPI()

    @app.post("/{mode}/v1/chat/completions")
    async def chat(mode: str, request: Request):
        calls[mode] += 1
        body = await request.json()
        prompts.append(body["messages"][0]["content"])
        if mode == "http500":
            return PlainTextResponse("upstream exploded", status_code=500)
        content = {"good": "Here you go:\n" + json.dumps(GOOD_REPORT),
                   "prose": "The report is quite good overall.",
                   "partial": json.dumps({"Diagnosis": {"Score": 8}, "Rhythm": {"Score": 9}})}[mode]
        return JSONResponse({"model": "judge-double-2024", "choices": [{"message": {"content": content}}]})

    return app


@pytest.fixture(scope="module")
def double():
    calls: Counter = Counter()
    prompts: list[str] = []
    with serve_app(_double_app(calls, prompts), what="judge test double") as base:
        yield base, calls, prompts


def _report_items(n: int) -> tuple[list[BenchItem], dict[str, Prediction]]:
    items = [BenchItem(id=f"r{k}", subset="ptb-xl-report", image_path=f"ptb-xl/{k}.png", image=ImageRef(data=b"x"),
                       turns=(Turn(question="Please write a clinical report based on this ECG image.",
                                   answer=f"Sinus rhythm {k}. Prolonged PR interval."),)) for k in range(n)]
    return items, {i.id: Prediction(id=i.id, subset=i.subset, prompt=i.question, text=f"generated {i.id}")
                   for i in items}


def _config(base: str, mode: str, **options) -> JudgeConfig:
    return JudgeConfig(base_url=f"{base}/{mode}", model=options.pop("model", "judge-x"), backoff_s=0.0, **options)


def test_judgements_are_cached_per_item_model_and_rubric(double, tmp_path):
    base, calls, prompts = double
    items, preds = _report_items(3)
    cache = tmp_path / "judge.jsonl"
    before = calls["good"]
    scores = asyncio.run(judge_predictions("ptb-xl-report", items, preds, _config(base, "good"), cache))
    assert scores == {i.id: {"Diagnosis": 8.0, "Waveform": 7.0, "Rhythm": 10.0} for i in items}
    assert calls["good"] - before == 3 and len(cache.read_text().splitlines()) == 3
    assert "[The Start of Ground Truth Report]\n Sinus rhythm 0. Prolonged PR interval." in \
        next(p for p in prompts if "generated r0" in p)
    again = asyncio.run(judge_predictions("ptb-xl-report", items, preds, _config(base, "good"), cache))
    assert again == scores and calls["good"] - before == 3          # all from the cache
    asyncio.run(judge_predictions("ptb-xl-report", items, preds, _config(base, "good", model="judge-y"), cache))
    assert calls["good"] - before == 6                              # another judge model: judged again
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("Score Diagnosis, Waveform and Rhythm from 0 to 10 as JSON.")
    asyncio.run(judge_predictions("ptb-xl-report", items, preds, _config(base, "good", rubric_file=rubric), cache))
    assert calls["good"] - before == 9                              # another rubric: judged again
    assert score_subset("ptb-xl-report", items, preds, judged=scores).paper["score"] == pytest.approx(250 / 3)
    row = json.loads(cache.read_text().splitlines()[0])
    assert row["served_model"] == "judge-double-2024" and row["key"].endswith(rubric_hash(rubric_text("report")))


@pytest.mark.parametrize(("mode", "message"), [("http500", "HTTP 500"), ("prose", "no JSON object"),
                                                ("partial", "no numeric score for 'Waveform'")])
def test_judge_failures_raise_and_cache_nothing(double, tmp_path, mode, message):
    base, calls, _ = double
    items, preds = _report_items(2)
    cache = tmp_path / "judge.jsonl"
    with pytest.raises(ModelResponseError, match=message):
        asyncio.run(judge_predictions("ptb-xl-report", items, preds, _config(base, mode, max_retries=1), cache))
    assert not cache.exists() or cache.read_text() == ""


def test_server_errors_are_retried(double, tmp_path):
    base, calls, _ = double
    items, preds = _report_items(1)
    before = calls["http500"]
    with pytest.raises(ModelResponseError):
        asyncio.run(judge_predictions("ptb-xl-report", items, preds, _config(base, "http500", max_retries=2),
                                      tmp_path / "c.jsonl"))
    assert calls["http500"] - before == 3


def test_unreachable_judge(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    items, preds = _report_items(1)
    config = JudgeConfig(base_url=f"http://127.0.0.1:{port}", model="m", max_retries=0, timeout_s=5)
    with pytest.raises(ModelUnavailableError, match="after 1 attempt"):
        asyncio.run(judge_predictions("ptb-xl-report", items, preds, config, tmp_path / "c.jsonl"))


def test_parse_judgement_accepts_variants_and_rejects_out_of_range():
    assert parse_judgement('{"accuracy": 6, "completeness": {"score": "5"}, "instruction_adherence": 9}', "arena") \
        == {"Accuracy": 6.0, "Completeness": 5.0, "Instruction Adherence": 9.0}
    with pytest.raises(ModelResponseError, match="outside 0-10"):
        parse_judgement('{"Diagnosis": 11, "Waveform": 1, "Rhythm": 1}', "report")


def test_arena_prompt_lays_out_both_turns():
    item = BenchItem(id="a1", subset="arena", image_path="ecg-arena/1.png", image=ImageRef(data=b"x"),
                     turns=(Turn(question="Findings?", answer="AF."), Turn(question="Causes?", answer="Age.")))
    prediction = Prediction(id="a1", subset="arena", prompt="Findings?", text="Old age.",
                            turn_answers=("Atrial fibrillation.", "Old age."))
    prompt = judge_prompt(item, prediction, rubric_text("arena"))
    assert "**Question:**\nCauses?\n\n**Ground Truth Answer:** Age." in prompt
    assert "**Question:**\nFindings?\n\n**Model's Response:** Atrial fibrillation." in prompt
    assert prompt.index("[The End of Ground Truth Answer]") < prompt.index("[The Start of Model's Response]")


def test_cache_skips_a_line_cut_by_a_crash(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"key": "a|m|h", "scores": {"Rhythm": 3}}) + "\n" + '{"key": "b|m|h", "sco')
    cache = JudgeCache(path)
    assert cache.get("a|m|h") == {"Rhythm": 3} and cache.get("b|m|h") is None


def test_cli_runs_a_served_mllm_and_the_judge_end_to_end(double, tmp_path, capsys):
    """The whole command: fixture set -> OpenAIClient on loopback -> predictions -> judge -> table."""
    import argparse
    import io

    from PIL import Image

    from training.cli.bench_ecgbench import add_parser
    from training.ecgbench.fixtures import write_fixture_set

    base, calls, _ = double
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(buffer, format="PNG")
    write_fixture_set(tmp_path / "bench", "ptb-xl-report", [buffer.getvalue()], 3, layout="hf")
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    argv = ["ecgbench", str(tmp_path / "bench"), "--subset", "ptb-test-report", "--mllm", f"{base}/good",
            "--mllm-model", "double", "--judge", f"{base}/good", "--judge-model", "judge-x", "--judge-key-env", "",
            "-o", str(tmp_path / "pred.jsonl"), "--results-dir", str(tmp_path / "results")]
    before = calls["good"]
    args = parser.parse_args(argv)
    assert args.run(args) == 0
    assert calls["good"] - before == 6  # 3 answers + 3 judgements
    figures = json.loads((tmp_path / "results" / "ecgbench_ptb-xl-report.json").read_text())["figures"]
    assert figures["paper_compatible"]["score"] == pytest.approx(250 / 3)
    assert figures["corrected"]["waveform"] == pytest.approx(70.0)
    assert "61.3" in capsys.readouterr().out
    args = parser.parse_args(argv)
    assert args.run(args) == 0 and calls["good"] - before == 6  # re-run: nothing asked again
