"""The agent end to end on a real LangGraph graph, real tools and a scripted MLLM test double."""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest

from agent.api import ECGAgent
from agent.config import AgentConfig, ToolSwitches
from agent.figures import encode_png
from agent.report import GroundedReport
from models.errors import ModelUnavailableError
from tests.scripted_mllm import ScriptedMLLM, is_followup
from tools.errors import InputError
from tools.measure import MeasureConfig, measure
from tools.recording import Recording
from tools.render import RenderConfig, render
from tools.simulate import SimulationConfig, sample_config, simulate


@pytest.fixture(scope="module")
def normal():
    return simulate(SimulationConfig(fs_hz=500, seed=11, heart_rate_bpm=72))


@pytest.fixture(scope="module")
def normal_png(normal) -> bytes:
    return encode_png(render(normal.recording, RenderConfig()).image)


def _agent(mllm=None, **options) -> ECGAgent:
    return ECGAgent(AgentConfig(checkpoint_path=None, **options), mllm=mllm)


async def _interpret(source, mllm=None, question=None, tools=None, **options) -> GroundedReport:
    async with _agent(mllm, **options) as agent:
        return await agent.interpret(source, question, tools=tools)


def _nodes(report: GroundedReport) -> dict[str, str]:
    return {step.node: step.status for step in report.steps}


def _truthful(sim) -> str:
    truth = sim.truth
    return (f"Sinus rhythm. Heart rate {truth.heart_rate_bpm:.0f} bpm. PR interval {truth.pr_ms:.0f} ms, "
            f"QRS duration {truth.qrs_ms:.0f} ms. Normal axis. No atrial fibrillation. "
            "Final diagnosis: sinus rhythm.")


# ---- routing by input kind and tools ----------------------------------------------------------
async def test_record_without_model_is_measured_and_says_no_model(normal):
    report = await _interpret(normal.recording)
    assert _nodes(report) == {"ingest": "ok", "measure": "ok", "ask_model": "skipped",
                              "crosscheck": "skipped", "report": "ok"}
    assert "digitize" not in _nodes(report)
    assert any("no MLLM configured" in w for w in report.warnings)
    # the measurement tool's JSON is embedded unchanged
    assert report.measurements == measure(normal.recording, MeasureConfig()).to_json_dict()
    rate = next(m for m in report.global_measurements if m.name == "heart_rate_bpm")
    assert rate.value == pytest.approx(normal.truth.heart_rate_bpm, abs=3) and rate.step == "measure-1"
    assert all(s.source == "measured" for s in report.statements)


async def test_image_is_digitized_then_measured(normal, normal_png):
    report = await _interpret(normal_png)
    assert _nodes(report)["digitize"] == "ok" and _nodes(report)["measure"] == "ok"
    assert report.input.kind == "image" and report.input.image_px == (2200, 1700)
    assert report.input.layout == "3x4+1"
    assert {"overlay", "median_beats"} <= set(report.figures)
    assert report.measurements["rhythm"]["label"] == "sinus_rhythm"


async def test_digitizer_switched_off_leaves_an_image_unmeasured(normal_png):
    report = await _interpret(normal_png, tools=ToolSwitches(digitizer=False))
    assert _nodes(report)["digitize"] == "skipped" and _nodes(report)["measure"] == "skipped"
    assert report.measurements is None and report.global_measurements == ()


async def test_model_claims_that_match_are_agreed(normal):
    mllm = ScriptedMLLM(lambda q: _truthful(normal))
    report = await _interpret(normal.recording, mllm)
    assert len(mllm.asked) == 2  # the configured questions, no re-query
    sources = {s.code: s.source for s in report.statements if s.code}
    assert sources.get("sinus_rhythm") == "agreed"
    assert not report.disputes
    assert not [s for s in report.statements if s.source == "disputed"]


async def test_hallucinated_rate_is_disputed_requeried_and_kept_as_measured(normal):
    def script(question: str) -> str:
        if is_followup(question):
            return "no\nThe heart rate is 150 bpm."
        return "Sinus tachycardia, heart rate 150 bpm."
    mllm = ScriptedMLLM(script)
    report = await _interpret(normal.recording, mllm)
    followups = [q for q in mllm.asked if is_followup(q) and "heart rate is" in q]
    assert len(followups) == 1 and f"heart rate is {normal.truth.heart_rate_bpm:.0f} bpm" in followups[0]
    rate = next(d for d in report.disputes if d.quantity == "heart_rate_bpm")
    assert rate.model_value == 150 and rate.resolution == "model_maintained" and rate.final_source == "disputed"
    assert abs(rate.measured_value - normal.truth.heart_rate_bpm) < 3
    assert any(s.source == "disputed" for s in report.statements)
    assert _nodes(report)["requery"] == "ok"


async def test_model_that_revises_after_seeing_the_evidence_is_agreed(normal):
    rate = normal.truth.heart_rate_bpm

    def script(question: str) -> str:
        return f"yes\nThe heart rate is {rate:.0f} bpm." if is_followup(question) else "Heart rate 130 bpm."
    report = await _interpret(normal.recording, ScriptedMLLM(script))
    dispute = next(d for d in report.disputes if d.quantity == "heart_rate_bpm")
    assert dispute.resolution == "model_revised" and dispute.final_source == "agreed"


async def test_a_rhythm_the_measurement_leaves_open_is_neither_agreed_nor_disputed():
    """Sinus tachycardia whose P waves sit on the T waves: the measurement cannot tell it from 2:1
    flutter, so the model's flutter claim stays unverified and the summary says why."""
    sim = simulate(sample_config(107, fs_hz=500.0, labels=("sinus_tachycardia",)))
    report = await _interpret(sim.recording, ScriptedMLLM(lambda q: "Atrial flutter with 2:1 block, rate 122 bpm."))
    claims = [s for s in report.statements if s.code == "atrial_flutter"]
    assert claims and all(s.source == "model" for s in claims)
    assert not [d for d in report.disputes if d.quantity == "atrial_flutter"]
    assert "Rhythm not classified (" in report.summary and "2:1 atrial flutter" in report.summary


async def test_a_record_measured_for_rate_and_rhythm_only_says_so_instead_of_no_finding():
    """Low-voltage seed 104: its QRS stands out in a few leads only, which give the rate and rhythm
    but no interval; the summary must not read "no abnormal finding", nor a normal ECG be agreed."""
    sim = simulate(sample_config(104, fs_hz=500.0, labels=("low_voltage",)))
    report = await _interpret(sim.recording, ScriptedMLLM(lambda q: "Sinus rhythm, QRS 90 ms, normal ECG."))
    assert report.summary.startswith("Sinus rhythm at") and "Intervals not measured (QRS complexes stand out" in report.summary
    normal = [s for s in report.statements if s.code == "normal_ecg"]
    assert normal and all(s.source == "model" and "stand out in only" in s.text for s in normal)


async def test_an_af_claim_on_grouped_beating_is_disputed_with_the_repeating_rrs():
    """A 5:4 Wenckebach record whose P waves the measurement could not follow: it leaves the rhythm
    open, but the RRs repeat every group, so the model's AF claim is disputed, not left standing."""
    sim = simulate(sample_config(344, fs_hz=500.0, labels=("av_block_2_wenckebach",)))
    report = await _interpret(sim.recording, ScriptedMLLM(lambda q: "Atrial fibrillation."))
    assert [d.quantity for d in report.disputes] == ["atrial_fibrillation"]
    claims = [s for s in report.statements if s.code == "atrial_fibrillation"]
    assert claims and all(s.source == "disputed" and "repeat every 4 beats" in s.text for s in claims)
    assert "Rhythm not classified (" in report.summary and "grouped beating" in report.summary


@pytest.mark.parametrize("tools, expected_source", [
    (ToolSwitches(measurement=False), "model"), (ToolSwitches(crosscheck=False), "model")])
async def test_without_measurement_or_crosscheck_claims_stay_unverified(normal, tools, expected_source):
    report = await _interpret(normal.recording, ScriptedMLLM(lambda q: "Atrial fibrillation, rate 150 bpm."),
                              tools=tools)
    claims = [s for s in report.statements if s.code == "atrial_fibrillation"]
    assert claims and all(s.source == expected_source and s.confidence == "low" for s in claims)
    assert not report.disputes


async def test_model_switched_off_is_not_asked(normal):
    mllm = ScriptedMLLM(lambda q: "Atrial fibrillation.")
    report = await _interpret(normal.recording, mllm, tools=ToolSwitches(mllm=False))
    assert mllm.asked == [] and _nodes(report)["ask_model"] == "skipped"


async def test_unreachable_model_gives_a_tools_only_report_with_a_warning(normal):
    mllm = ScriptedMLLM(lambda q: ModelUnavailableError("connection refused at http://127.0.0.1:9"))
    report = await _interpret(normal.recording, mllm)
    assert _nodes(report)["ask_model"] == "failed" and _nodes(report)["measure"] == "ok"
    assert any("tools alone" in w for w in report.warnings)
    assert report.statements and all(s.source == "measured" for s in report.statements)


async def test_slow_model_times_out_and_the_run_goes_on(normal):
    mllm = ScriptedMLLM(lambda q: "Sinus rhythm.", delay_s=5.0)
    report = await _interpret(normal.recording, mllm, model_timeout_s=0.3, model_attempts=1)
    assert _nodes(report)["ask_model"] == "failed"
    assert any("NodeTimeoutError" in w for w in report.warnings)
    assert report.measurements is not None


async def test_a_bug_in_a_node_stops_the_run(normal):
    mllm = ScriptedMLLM(lambda q: KeyError("a bug, not an observation"))
    with pytest.raises(KeyError):
        await _interpret(normal.recording, mllm)


# ---- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("data, reason", [
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image"), (b"this is not an image", "image"),
    (encode_png(np.full((600, 800, 3), 255, np.uint8)), "")])
async def test_unreadable_or_blank_images_get_a_report_that_says_why(data, reason):
    report = await _interpret(data)
    assert report.refused or _nodes(report).get("digitize") == "failed"
    assert report.warnings and report.measurements is None
    assert report.statements == ()


async def test_one_lead_record_is_measured_or_flagged_never_crashes(normal):
    report = await _interpret(normal.recording.select(["II"]))
    assert _nodes(report)["measure"] in ("ok", "failed")
    if report.measurements:
        assert report.measurements["global"]["axis_deg"]["qrs"] is None


async def test_missing_file_and_existing_thread_are_input_errors(tmp_path, normal):
    async with _agent() as agent:
        with pytest.raises(InputError, match="no such"):
            await agent.interpret(tmp_path / "absent.png")
        report = await agent.interpret(normal.recording)
        with pytest.raises(InputError, match="already holds"):
            await agent.interpret(normal.recording, thread_id=report.thread_id)
        with pytest.raises(InputError, match="no interpreted ECG"):
            await agent.ask("no-such-thread", "why?")


# ---- follow-ups and persistence --------------------------------------------------------------
async def test_follow_ups_are_answered_from_stored_measurements_across_processes(tmp_path):
    long_qt = simulate(SimulationConfig(fs_hz=500, seed=5, heart_rate_bpm=65, long_qt=True))
    config = AgentConfig(checkpoint_path=tmp_path / "threads.sqlite")
    async with ECGAgent(config) as agent:
        report = await agent.interpret(long_qt.recording, "Why is the QTc flagged?")
    assert report.followups and "qtc_ms.bazett" in report.followups[0].answer
    # evidence values are rounded as in the report tables (it read "qt_ms = 478.00000000000006")
    assert not re.search(r"\d\.\d{5,}", report.followups[0].answer), report.followups[0].answer
    async with ECGAgent(config) as agent:  # a new agent, same SQLite file
        answer = await agent.ask(report.thread_id, "Which leads show ST elevation?")
        stored = await agent.report(report.thread_id)
    assert answer.question == "Which leads show ST elevation?"
    assert [f.question for f in stored.followups] == ["Why is the QTc flagged?", "Which leads show ST elevation?"]


def test_sync_wrappers_work_without_an_event_loop(tmp_path, normal):
    agent = ECGAgent(AgentConfig(checkpoint_path=tmp_path / "t.sqlite"))
    report = agent.interpret_sync(normal.recording)
    answer = agent.ask_sync(report.thread_id, "what is the rhythm?")
    assert "sinus" in answer.answer.lower()


async def test_progress_is_streamed_node_by_node(normal):
    async with _agent() as agent:
        items = [item async for item in agent.stream(normal.recording)]
    nodes = [item.node for item in items[:-1]]
    assert nodes[0] == "ingest" and "measure" in nodes and nodes[-1] == "report"
    assert isinstance(items[-1], GroundedReport)


async def test_batch_interprets_concurrently_and_reports_failures_in_place(tmp_path, normal):
    bad = tmp_path / "bad.csv"
    bad.write_text("I,II\n1,2\n")  # no time column, no rate: an input error
    sources = [normal.recording, bad, normal.recording.select(["I", "II", "III"])]
    async with _agent() as agent:
        results = [r async for r in agent.interpret_batch(sources, concurrency=2)]
    assert len(results) == 3
    assert sum(r.error is not None for r in results) == 1
    assert all(r.report is not None for r in results if r.error is None)


async def test_twenty_simultaneous_interpretations(normal):
    records = [normal.recording.window(0, 10)] * 20
    async with _agent() as agent:
        reports = await asyncio.gather(*(agent.interpret(r) for r in records))
    assert len({r.thread_id for r in reports}) == 20
    assert all(r.measurements is not None for r in reports)


def test_recording_input_keeps_what_the_user_gave(normal):
    """Nothing a user gave is lost: the record measured is the record given, bit for bit."""
    from agent.api import agent_input
    from tools.record_io import recording_from_bytes
    kind, _, data = agent_input(normal.recording)
    assert kind == "record"
    back: Recording = recording_from_bytes(data)
    assert np.array_equal(back.signal_mv, normal.recording.signal_mv)


# ---- end to end through a real OpenAI-compatible server ---------------------------------------
@pytest.mark.slow
async def test_end_to_end_through_real_transformers_serve(served_tiny, normal_png):
    """The whole graph against `transformers serve` on loopback serving the tiny LLaVA-NeXT.

    The tiny model has random weights, so its text is noise: what is checked is the plumbing —
    the image and questions reach a real server, its answers come back into the report as the
    model's raw answers, and whatever claims they hold are cross-checked, never shown as measured.
    """
    from models.client import GenerationParams
    from models.client_openai import OpenAIClient, OpenAIClientConfig

    base, _ = served_tiny
    async with OpenAIClient(OpenAIClientConfig(base_url=base, timeout_s=240)) as client:
        report = await _interpret(normal_png, client, generation=GenerationParams(max_new_tokens=8))
    assert _nodes(report)["ask_model"] == "ok" and _nodes(report)["digitize"] == "ok"
    assert len(report.model_answers) >= 2 and all(turn.answer for turn in report.model_answers)
    assert report.provenance.model and base in report.provenance.model
    model_only = [s for s in report.statements if "measure-1" not in s.steps]
    assert all(s.source == "model" and s.confidence == "low" for s in model_only)


async def test_a_timed_out_tool_still_joins_the_model_branch(normal):
    """measure times out; the run goes on, and cross-check still waits for the (slower) model."""
    mllm = ScriptedMLLM(lambda q: "Atrial fibrillation.", delay_s=1.0)
    report = await _interpret(normal.recording, mllm, measure_timeout_s=0.01)
    assert _nodes(report)["measure"] == "failed" and _nodes(report)["ask_model"] == "ok"
    assert [s.node for s in report.steps].count("crosscheck") == 1
    claims = [s for s in report.statements if s.code == "atrial_fibrillation"]
    assert claims and claims[0].source == "model"  # unverified: no measurement to check it against


@pytest.mark.parametrize("mllm_on, digitizer_on, measurement_on, crosscheck_on",
                         [(a, b, c, d) for a in (0, 1) for b in (0, 1) for c in (0, 1) for d in (0, 1)])
async def test_routing_for_every_tool_combination_on_a_record(normal, mllm_on, digitizer_on, measurement_on,
                                                              crosscheck_on):
    tools = ToolSwitches(mllm=bool(mllm_on), digitizer=bool(digitizer_on), measurement=bool(measurement_on),
                         crosscheck=bool(crosscheck_on))
    mllm = ScriptedMLLM(lambda q: "no\nHeart rate 150 bpm." if is_followup(q) else "Heart rate 150 bpm.")
    nodes = _nodes(await _interpret(normal.recording, mllm, tools=tools))
    assert "digitize" not in nodes  # a record needs no digitization, whatever the switch says
    assert nodes["ask_model"] == ("ok" if mllm_on else "skipped")
    assert nodes["measure"] == ("ok" if measurement_on else "skipped")
    assert nodes["crosscheck"] == ("ok" if mllm_on and crosscheck_on else "skipped")
    # a dispute (150 vs ~72 bpm) is re-asked only when a measurement contradicted the model
    assert ("requery" in nodes) == bool(mllm_on and crosscheck_on and measurement_on)
