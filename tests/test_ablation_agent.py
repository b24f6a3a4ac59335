"""training.ecgbench.agent_runner and the ablation end to end: the real agent (real LangGraph graph,
real digitizer and measurement on rendered simulated ECGs) with the scripted PULSE test double."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI, Request

from agent.api import ECGAgent
from agent.config import AgentConfig
from agent.report import (
    Dispute,
    FollowUpAnswer,
    GroundedReport,
    InputDescription,
    ModelTurn,
    Provenance,
)
from models.client import GenerationParams, ModelAnswer
from models.errors import ModelUnavailableError
from tests.loopback import serve_app
from tests.scripted_mllm import ScriptedMLLM, is_followup
from tools.errors import InputError
from tools.simulate import SimulationConfig, simulate
from training.ablation import (
    CONFIGURATIONS,
    BootstrapConfig,
    run_ablation,
    score_ablation,
)
from training.ecgbench import load_items, read_predictions, subset_spec
from training.ecgbench.agent_runner import (
    AgentRunner,
    choice_answer,
    final_findings,
    item_answer,
    label_answer,
)
from training.ecgbench.fixtures import render_fixture_images, write_fixture_set
from training.ecgbench.items import BenchItem, ImageRef, Turn
from training.ecgbench.parsing import (
    corrected_choice,
    corrected_labels,
    paper_labels,
    paper_letter,
)
from training.ecgbench.runners import MLLMRunner

CODE15, PTBXL, CPSC = subset_spec("code15"), subset_spec("ptb-xl-super"), subset_spec("cpsc")
MCQ = "Which of the following best describes this ECG?\nA. sinus rhythm\nB. atrial fibrillation\n" \
      "C. left bundle branch block\nD. sinus tachycardia\nAnswer with the option's letter."


# ---- answers derived from hand-built reports ---------------------------------------------------
def _report(rhythm: str | None = "sinus_rhythm", statements=(), model: str | None = None,
            disputes=()) -> GroundedReport:
    measurements = None if rhythm is None else {"rhythm": {"label": rhythm},
                                                "statements": [{"code": code} for code in statements]}
    turns = () if model is None else (ModelTurn(purpose="report", question="q", answer=model, model="m",
                                                latency_s=0.0, step="ask_model-1"),)
    return GroundedReport(thread_id="t", input=InputDescription(kind="image", name="x", size_bytes=1), summary="s",
                          measurements=measurements, model_answers=turns, disputes=tuple(disputes),
                          provenance=Provenance(agent_version="0", packages={}, model=None, tools={}, config={},
                                                total_s=0.0))


def _dispute(code: str, resolution: str) -> Dispute:
    return Dispute(claim=code, quantity=code, model_value=code, measured_value=f"not {code}", tolerance="",
                   resolution=resolution, final_source="disputed")


@pytest.mark.parametrize("report, expected", [
    # measured findings stand; a disputed model claim loses to the measurement...
    (_report(statements=["rbbb"], model="Atrial fibrillation. Right bundle branch block.",
             disputes=[_dispute("atrial_fibrillation", "model_maintained")]), {"sinus_rhythm", "rbbb"}),
    (_report(model="Atrial fibrillation.", disputes=[_dispute("atrial_fibrillation", "model_revised")]),
     {"sinus_rhythm"}),
    # ...unless the report marked the measurement low quality
    (_report(model="Atrial fibrillation.", disputes=[_dispute("atrial_fibrillation", "measurement_low_quality")]),
     {"sinus_rhythm", "atrial_fibrillation"}),
    (_report(statements=["rbbb"], model="No right bundle branch block.",
             disputes=[_dispute("rbbb", "measurement_low_quality")]), {"sinus_rhythm"}),
    (_report(statements=["rbbb"], model="No right bundle branch block.",
             disputes=[_dispute("rbbb", "model_maintained")]),
     {"sinus_rhythm", "rbbb"}),
    # model findings nothing checked (cross-check off, or beyond the tools) count; denials add nothing
    (_report(model="Atrial fibrillation."), {"sinus_rhythm", "atrial_fibrillation"}),
    (_report(model="Old anterior myocardial infarction. No LBBB."), {"sinus_rhythm", "MI"}),
])
def test_final_findings_follow_the_reports_resolution(report, expected):
    assert final_findings(report) == expected


@pytest.mark.parametrize("report, spec, expected", [
    (_report("sinus_bradycardia", ["rbbb"]), CODE15, {"RBBB", "SB"}),
    (_report("sinus_rhythm", ["normal_axis", "normal_ecg"]), CODE15, {"NORM"}),
    (_report("sinus_rhythm", ["ivcd"]), CODE15, {"ABNORMAL"}),
    (_report("sinus_rhythm", ["ivcd", "lvh", "st_depression"]), PTBXL, {"CD", "HYP", "STTC"}),
    (_report("sinus_rhythm", ["st_elevation_inferior"], model="Old anterior myocardial infarction."), PTBXL, {"MI"}),
    (_report("sinus_rhythm", ["pac", "pvc", "av_block_1", "st_elevation_lateral"]), CPSC,
     {"PAC", "PVC", "I-AVB", "STE"}),
    (_report("sinus_rhythm", ["normal_ecg"]), CPSC, {"NORM"}),
])
def test_label_answers_read_back_as_the_reports_classes_in_both_scoring_modes(report, spec, expected):
    text = label_answer(report, "AF", spec)
    assert corrected_labels(text, spec) == expected
    assert paper_labels(text, spec) == expected


def test_label_answer_without_measurement_is_the_models_own_answer():
    report = _report(rhythm=None, model="Atrial fibrillation.")
    assert label_answer(report, "AF; the rest is noise", CODE15) == "AF; the rest is noise"
    assert label_answer(report, None, CODE15) == ""


@pytest.mark.parametrize("report, model, expected", [
    (_report("sinus_rhythm"), "B", "A"),                          # the measurement picks A over the model's B
    (_report("sinus_tachycardia"), "B", "D"),
    (_report("atrial_flutter"), "Answer: B", "Answer: B"),        # no option supported: the model's choice
    (_report("sinus_rhythm", model="Atrial fibrillation."), "C", "C"),  # two supported: the model's choice
    (_report(None), "C. left bundle branch block", "C. left bundle branch block"),
    (_report("atrial_flutter"), None, ""),
])
def test_choice_answer(report, model, expected):
    answer = choice_answer(report, model, MCQ, "ABCDEFGH")
    assert answer == expected
    if len(expected) == 1:
        assert corrected_choice(answer, MCQ, "ABCDEFGH") == expected and paper_letter(answer) == expected


def test_open_and_ecgqa_items_take_the_followup_or_the_models_answer():
    followup = FollowUpAnswer(thread_id="t", question="q", answer="grounded\nModel: raw", model_answer="raw")
    image = ImageRef(data=b"x")
    report_item = BenchItem(id="r", subset="ptb-xl-report", image_path="p", image=image,
                            turns=(Turn(question="Write a report.", answer=""),))
    ecgqa_item = BenchItem(id="q", subset="ecgqa", image_path="p", image=image,
                           turns=(Turn(question="Question: noise?\nOptions: yes, no", answer="yes"),),
                           answer_list=("yes",))
    assert item_answer(report_item, _report(), followup) == "grounded\nModel: raw"
    assert item_answer(report_item, _report(None), followup) == "raw"
    assert item_answer(ecgqa_item, _report(), followup) == "raw"
    no_model = followup.model_copy(update={"model_answer": None, "answer": "grounded"})
    assert item_answer(ecgqa_item, _report(), no_model) == "grounded"


# ---- the real agent ------------------------------------------------------------------------------
class ImageRecordingMLLM(ScriptedMLLM):
    """The scripted test double, also recording which image each question came with."""

    def __init__(self, script) -> None:
        super().__init__(script)
        self.calls: list[tuple[bytes, str, GenerationParams | None]] = []

    async def ask(self, image: bytes, question: str, params: GenerationParams | None = None) -> ModelAnswer:
        self.calls.append((image, question, params))
        return await super().ask(image, question, params)


def _always_af(question: str) -> str:
    """The controlled error: claims atrial fibrillation on every ECG, and keeps to it when re-asked."""
    if is_followup(question):
        return "no\nAtrial fibrillation."
    if "enumerate them using semicolon" in question:
        return "AF"
    return f"Atrial fibrillation with rapid ventricular response. ({len(question)})"


@pytest.fixture(scope="module")
def pages() -> list[tuple[str, bytes]]:
    """(CODE-15 label, PNG page at 100 dpi) of simulated ECGs whose one CODE-15 class is measurable."""
    sims = [(label, simulate(SimulationConfig(fs_hz=500, seed=seed, **options))) for label, seed, options in (
        ("SB", 3, {"rhythm": "sinus_bradycardia"}), ("1dAVb", 4, {"av_block": "1"}), ("RBBB", 4, {"rbbb": True}),
        ("RBBB", 6, {"rbbb": True}))]
    images = render_fixture_images([sim.recording for _, sim in sims], dpi=100)
    return [(label, image) for (label, _), image in zip(sims, images, strict=True)]


async def test_mllm_only_is_exactly_the_raw_model_path(pages):
    params = GenerationParams(max_new_tokens=77)
    image = pages[0][1]
    items = [BenchItem(id="c", subset="code15", image_path="a.png", image=ImageRef(data=image),
                       turns=(Turn(question="List the labels; enumerate them using semicolon: AF, SB.", answer="SB"),)),
             BenchItem(id="a", subset="arena", image_path="a.png", image=ImageRef(data=image),
                       turns=(Turn(question="Main findings?", answer=""), Turn(question="Causes?", answer="")))]
    for item in items:
        raw, via_agent = ImageRecordingMLLM(_always_af), ImageRecordingMLLM(_always_af)
        expected = await MLLMRunner(raw, params).answer(item)
        agent = ECGAgent(AgentConfig(generation=params, checkpoint_path=None), mllm=via_agent)
        got = await AgentRunner(agent, CONFIGURATIONS["mllm_only"], "mllm_only").answer(item)
        assert got.turn_answers == expected.turn_answers and got.text == expected.text
        # every question the raw runner asked reached the model with the same image and decoding
        assert all(call in via_agent.calls for call in raw.calls)


async def test_unreachable_model_stops_the_run_and_a_refused_image_is_an_item_error(pages):
    def down(question: str) -> Exception:
        return ModelUnavailableError("connection refused")
    item = BenchItem(id="c", subset="code15", image_path="a.png", image=ImageRef(data=pages[0][1]),
                     turns=(Turn(question="Which labels?", answer="SB"),))
    agent = ECGAgent(AgentConfig(checkpoint_path=None, model_attempts=1), mllm=ScriptedMLLM(down))
    with pytest.raises(ModelUnavailableError, match="no model call succeeded"):
        await AgentRunner(agent, CONFIGURATIONS["full"], "full").answer(item)
    blank = item.model_copy(update={"image": ImageRef(data=b"not an image")})
    with pytest.raises(InputError, match="refused the image"):
        await AgentRunner(agent, CONFIGURATIONS["tools_only"], "tools_only").answer(blank)
    with pytest.raises(InputError, match="no model client"):
        AgentRunner(ECGAgent(AgentConfig(checkpoint_path=None)), CONFIGURATIONS["full"])


@pytest.mark.slow
async def test_full_agent_catches_what_the_model_alone_gets_wrong(tmp_path, pages):
    write_fixture_set(tmp_path / "data", "code15", [image for _, image in pages], len(pages), layout="pulse")
    rows_path = tmp_path / "data" / "code15-test.json"
    rows = json.loads(rows_path.read_text())
    for row, (label, _) in zip(rows, pages, strict=True):  # the simulator's truth, not random labels
        row["conversations"][1]["value"] = label
    rows_path.write_text(json.dumps(rows))
    items = load_items(tmp_path / "data", "code15")
    agent = ECGAgent(AgentConfig(checkpoint_path=None), mllm=ScriptedMLLM(_always_af))
    out = tmp_path / "out"
    summaries = await run_ablation(items, agent, list(CONFIGURATIONS), out, concurrency=2)
    assert all(s.n_answered == len(items) and not s.failures for s in summaries.values())
    again = await run_ablation(items, agent, ["full"], out)  # resumable: nothing left to do
    assert again["full"].n_skipped == len(items) and again["full"].n_answered == 0

    predictions = {name: read_predictions(out / f"{name}.jsonl", "code15") for name in CONFIGURATIONS}
    result = score_ablation("code15", items, predictions, BootstrapConfig(seed=1))
    truth = {item.id: item.answer for item in items}
    for item in items:
        assert predictions["mllm_only"][item.id].text == "AF"                          # the model's own error
        assert corrected_labels(predictions["full"][item.id].text, CODE15) == {truth[item.id]}  # caught
        assert "AF" in corrected_labels(predictions["mllm_tools_no_crosscheck"][item.id].text, CODE15)
        assert "AF" not in predictions["tools_only"][item.id].text
    f1 = result.differences["mllm_only"]["corrected.f1"]
    assert result.scores["full"]["corrected.f1"].estimate == 100.0
    assert f1.estimate == -100.0 and f1.high == -100.0  # worse on every resample, not by chance
    assert {d.id for d in result.disagreements} == set(truth)
    # AF is no reference class here, so the metrics ignore it; the exact-set check does not
    assert all(d.correct == {"mllm_only": False, "tools_only": True, "mllm_tools_no_crosscheck": False, "full": True}
               for d in result.disagreements)
    assert predictions["full"][items[0].id].model.startswith("ecg-agent[full]+scripted-mllm")


def test_cli_runs_tools_only_resumably_and_writes_the_table(tmp_path, pages, capsys):
    from agent.cli import main

    write_fixture_set(tmp_path / "data", "code15", [image for _, image in pages[:2]], 2, layout="pulse")
    out = tmp_path / "out"
    argv = ["ablate", str(tmp_path / "data"), "--subset", "code15", "--configs", "tools_only", "-o", str(out)]
    assert main(argv) == 0
    first = capsys.readouterr()
    assert "Tool ablation on code15" in first.out and "answered 2 items, 0 already done" in first.err
    result = json.loads((out / "ablation.json").read_text())
    assert result["configurations"] == ["tools_only"] and result["n_paired"] == 2
    assert set(result["scores"]["tools_only"]) >= {"paper.f1", "corrected.f1", "corrected.hamming_loss"}
    assert "| corrected.f1 |" in (out / "ablation.md").read_text()
    assert main(argv) == 0
    assert "answered 0 items, 2 already done" in capsys.readouterr().err
    assert len((out / "tools_only.jsonl").read_text().splitlines()) == 2


@pytest.fixture(scope="module")
def served_double():
    """The scripted answers behind a real OpenAI-compatible HTTP server on loopback (a test double,
    not a model), so that the CLI runs exactly as against a PULSE server."""


    app = FastAPI()

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": "pulse-double", "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        content = (await request.json())["messages"][0]["content"]
        question = next(part["text"] for part in content if part.get("type") == "text")
        return {"id": "x", "object": "chat.completion", "model": "pulse-double",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": _always_af(question)},
                             "finish_reason": "stop"}]}

    with serve_app(app, what="test double server") as base:
        yield base


@pytest.mark.slow
def test_cli_against_an_openai_compatible_server_runs_every_configuration(tmp_path, pages, served_double, capsys):
    from agent.cli import main

    write_fixture_set(tmp_path / "data", "code15", [image for _, image in pages[2:]], 2, layout="pulse")
    rows_path = tmp_path / "data" / "code15-test.json"
    rows = json.loads(rows_path.read_text())
    for row in rows:
        row["conversations"][1]["value"] = "RBBB"  # pages[2:] are the two RBBB ECGs
    rows_path.write_text(json.dumps(rows))
    out = tmp_path / "out"
    assert main(["ablate", str(tmp_path / "data"), "--subset", "code15", "--mllm", served_double,
                 "-o", str(out), "--seed", "5"]) == 0
    result = json.loads((out / "ablation.json").read_text())
    assert result["configurations"] == list(CONFIGURATIONS) and result["bootstrap"]["seed"] == 5
    assert result["scores"]["full"]["corrected.f1"]["estimate"] == 100.0
    assert result["scores"]["mllm_only"]["corrected.f1"]["estimate"] == 0.0
    assert all(d["answers"]["full"] == "RBBB" and d["answers"]["mllm_only"] == "AF" for d in result["disagreements"])
    assert "Tool ablation on code15" in capsys.readouterr().out
