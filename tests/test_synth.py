"""ECGInstruct-style synthesis: format, determinism, worker independence, answers vs truth, rewrite, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import numpy as np
import pytest

from agent.cli import main
from models.errors import ModelResponseError
from models.prompts import AXIS_OPTIONS, RHYTHM_OPTIONS
from tools.errors import InputError
from tools.vocabulary import LABELS, RHYTHMS
from training.synth.dataset import SynthConfig
from training.synth.rewrite import OpenAITextLLM, numbers_kept, rewrite_records
from training.synth.sources import SimulatorSource
from training.synth.tasks import RATE_BANDS, TASKS, FactBook, qtc_band, rate_band
from training.synth.writer import build_dataset


def _build(out: Path, n: int = 16, **settings) -> dict:
    return build_dataset(SynthConfig(n_samples=n, **settings), "simulator", out, simulator_fs_hz=500.0)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    _build(out, n=24, seed=3, augment_fraction=0.5)
    return out


def test_llava_format_and_images_exist(dataset):
    records = json.loads((dataset / "data.json").read_text())
    assert len(records) == 24 and len({r["id"] for r in records}) == 24
    for record in records:
        turns = record["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2) and len(turns) >= 2
        assert turns[0]["value"].startswith("<image>\n")
        assert sum(t["value"].count("<image>") for t in turns) == 1
        assert all(t["value"].strip() for t in turns)
        assert (dataset / record["image"]).is_file() and not Path(record["image"]).is_absolute()
        assert len(record["turns"]) == len(turns) // 2
        assert all(g["origin"] in ("truth", "label_file", "cardiologist_fiducials", "measurement")
                   for g in record["grounding"])


def test_card_counts_add_up(dataset):
    card = json.loads((dataset / "dataset_card.json").read_text())
    records = json.loads((dataset / "data.json").read_text())
    assert sum(card["by_family"].values()) == sum(card["by_form"].values()) == card["n_samples"] == len(records)
    assert card["n_images"] == card["n_standard_images"] + card["n_augmented_images"] == 6
    assert card["by_source"] == {"simulator": 24}
    assert "## Counts" in (dataset / "README.md").read_text()
    assert json.loads((dataset / "synth_config.json").read_text())["seed"] == 3


def test_same_seed_same_bytes_other_seed_differs(dataset, tmp_path):
    _build(tmp_path / "again", n=24, seed=3, augment_fraction=0.5)
    assert _files(tmp_path / "again") == _files(dataset)
    _build(tmp_path / "other", n=24, seed=4, augment_fraction=0.5)
    assert _files(tmp_path / "other")["data.json"] != _files(dataset)["data.json"]


@pytest.mark.slow
def test_worker_count_does_not_change_output(dataset, tmp_path):
    _build(tmp_path / "two", n=24, seed=3, augment_fraction=0.5, workers=2)
    one, two = _files(dataset), _files(tmp_path / "two")
    assert one.keys() == two.keys()
    data = [name for name in one if name == "data.json" or name.startswith("images/")]
    assert len(data) == 7 and all(one[name] == two[name] for name in data)
    cards = [json.loads(files["dataset_card.json"]) for files in (one, two)]
    assert [card["config"].pop("workers") for card in cards] == [1, 2] and cards[0] == cards[1]


def test_augment_fraction_extremes(tmp_path):
    _build(tmp_path / "clean", n=8, seed=1, augment_fraction=0.0)
    _build(tmp_path / "aug", n=8, seed=1, augment_fraction=1.0)
    clean = json.loads((tmp_path / "clean" / "data.json").read_text())
    aug = json.loads((tmp_path / "aug" / "data.json").read_text())
    assert not any(r["augmented"] for r in clean) and all(r["augmented"] for r in aug)
    assert all(r["page"]["distortions"] == [] for r in clean)


# ---- answers against the simulator's truth ----------------------------------------------------------
@pytest.fixture(scope="module")
def books() -> list[FactBook]:
    source = SimulatorSource(40, 11, fs_hz=500.0)
    return [FactBook(source.record(i)) for i in range(40)]


def _options(question: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Z])\. (.+)$", question, flags=re.MULTILINE))


def _letter(answer: str) -> str:
    return re.search(r"Answer: ([A-Z])$", answer).group(1)


def test_rate_answers_match_truth_band(books):
    fn = TASKS["rate"][3]
    for i, book in enumerate(books):
        rate = float(book.record.facts["heart_rate_bpm"].value)
        band = rate_band(rate)
        rng = np.random.default_rng(i)
        assert fn(book, rng, "fill_in", False)[1] == str(round(rate))
        question, answer, grounding = fn(book, rng, "mcq", bool(i % 2))
        assert _options(question)[_letter(answer)] == RATE_BANDS[band][2]
        close = fn(book, rng, "close", False)[1]
        assert close.startswith("Yes") == (band == 1)
        assert grounding == [{"fact": "heart_rate_bpm", "value": round(rate, 1), "origin": "truth"}]


def test_rate_bands_follow_simulated_rhythm(books):
    by_rhythm = {"sinus_bradycardia": 0, "sinus_tachycardia": 2, "sinus_rhythm": 1}
    seen = 0
    for book in books:
        rhythm = next(c for c in book.record.codes if c in RHYTHMS)
        if rhythm in by_rhythm:
            assert rate_band(float(book.record.facts["heart_rate_bpm"].value)) == by_rhythm[rhythm]
            seen += 1
    assert seen >= 10


def test_rhythm_mcq_letter_is_the_true_rhythm(books):
    fn, texts = TASKS["rhythm"][3], dict(RHYTHM_OPTIONS)
    for i, book in enumerate(books):
        rhythm = next(c for c in book.record.codes if c in RHYTHMS)
        question, answer, _ = fn(book, np.random.default_rng(i), "mcq", False)
        assert _options(question)[_letter(answer)] == texts[rhythm]
        assert len(_options(question)) == 4


def test_axis_answers_match_truth(books):
    fn, texts = TASKS["axis"][3], dict(AXIS_OPTIONS)
    for i, book in enumerate(books):
        axis_code = next(c for c in book.record.codes if c in texts)
        question, answer, _ = fn(book, np.random.default_rng(i), "mcq", bool(i % 2))
        assert _options(question)[_letter(answer)] == texts[axis_code]
        fill = fn(book, np.random.default_rng(i), "fill_in", False)[1]
        assert fill == str(round(float(book.record.facts["qrs_axis_deg"].value)))


def test_finding_yes_no_matches_labels(books):
    fn = TASKS["finding"][3]
    names = {LABELS[c].name: c for c in LABELS}
    asked = 0
    for i, book in enumerate(books):
        for k in range(3):
            made = fn(book, np.random.default_rng([i, k]), "close", False)
            if made is None:
                continue
            code = next((names[n] for n in sorted(names, key=len, reverse=True) if n in made[0]), "normal_ecg")
            assert made[1].startswith("Yes") == (code in book.record.codes)
            asked += 1
    assert asked >= 60


def test_interval_answers_equal_truth(books):
    fn = TASKS["interval"][3]
    for i, book in enumerate(books):
        question, answer, grounding = fn(book, np.random.default_rng(i), "fill_in", False)
        fact = book.record.facts[grounding[0]["fact"]]
        assert answer == str(round(float(fact.value))) and grounding[0]["origin"] == "truth"
        qtc = float(book.record.facts["qtc_ms"].value) if "qtc_ms" in book.record.facts else None
        if qtc is not None and "long_qt" in book.record.codes:
            assert qtc_band(qtc) == 2


def test_label_list_equals_truth_superclasses(books):
    fn = TASKS["label_list"][3]
    for i, book in enumerate(books):
        made = fn(book, np.random.default_rng(i), "close", False)
        if made is None:
            assert not book.record.ptbxl and not book.record.code15
            continue
        kind = made[2][0]["fact"]
        truth = book.record.ptbxl if kind == "ptbxl" else book.record.code15
        assert {part.split("(")[0] for part in made[1].split("; ")} == set(truth)


def test_undefined_truth_is_not_measured(books):
    def no_measurement(recording):
        raise AssertionError("the simulator's truth is complete: nothing may be measured")

    without_pr = [book.record for book in books if "pr_ms" not in book.record.facts]
    assert without_pr, "expected AF, flutter or AV block 3 among 40 simulated records"
    for record in without_pr:
        book = FactBook(record, measure=no_measurement)
        assert book.number("pr_ms") is None
        report = TASKS["report"][3](book, np.random.default_rng(0), "open", False)
        assert report is None or "PR interval" not in report[1]


def test_report_states_truth_values(books):
    fn = TASKS["report"][3]
    book = books[0]
    _, answer, grounding = fn(book, np.random.default_rng(0), "open", False)
    rate = round(float(book.record.facts["heart_rate_bpm"].value))
    assert f"Heart rate: {rate} bpm." in answer and "Final diagnosis:" in answer
    assert {g["fact"] for g in grounding} >= {"labels", "heart_rate_bpm", "qrs_ms", "qt_ms"}


# ---- rewrite pass --------------------------------------------------------------------------------------
class ScriptedTextLLM:
    """Test double of TextLLM: answers from a script (keep numbers, or change one), records prompts."""

    def __init__(self, change_numbers: bool) -> None:
        self.change_numbers = change_numbers
        self.prompts: list[str] = []

    async def complete(self, prompt: str) -> str:
        self.prompts.append(prompt)
        answer = prompt.rsplit("Answer: ", 1)[1]
        return ("Reworded: " + answer) if not self.change_numbers else re.sub(r"\d+", "999", answer) + " 1"


async def test_rewrite_keeps_grounded_numbers_and_rejects_changed(dataset):
    records = json.loads((dataset / "data.json").read_text())
    expected = sum(t["rewritable"] for r in records for t in r["turns"])
    assert expected > 0
    kept, counts = await rewrite_records(records, ScriptedTextLLM(change_numbers=False))
    assert counts == {"sent": expected, "kept": expected, "rejected": 0}
    changed = [r for r in kept if r.get("rewritten_turns")]
    assert changed and all(r["conversations"][2 * i + 1]["value"].startswith("Reworded: ")
                           for r in changed for i in r["rewritten_turns"])
    assert records == json.loads((dataset / "data.json").read_text())  # input untouched
    same, counts = await rewrite_records(records, ScriptedTextLLM(change_numbers=True))
    assert counts["rejected"] == expected and same == records


async def test_openai_text_llm_request_and_errors():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        if seen[-1]["messages"][0]["content"] == "fail":
            return httpx.Response(500, text="boom")
        return httpx.Response(200, json={"choices": [{"message": {"content": " Rephrased. "}}]})

    llm = OpenAITextLLM("http://llm.test/v1", model="m", transport=httpx.MockTransport(handler))
    assert await llm.complete("hello") == "Rephrased."
    assert seen[0] == {"messages": [{"role": "user", "content": "hello"}], "temperature": 0, "model": "m",
                       "max_tokens": 512, "stream": False}
    with pytest.raises(ModelResponseError, match="HTTP 500"):
        await llm.complete("fail")
    with pytest.raises(InputError, match="rewrite-url"):
        OpenAITextLLM("llm.test")


def test_cli_unreachable_rewrite_endpoint_fails_before_rendering(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["synth", "--source", "simulator", "-n", "4", "-o", str(out), "--rewrite-url", "http://127.0.0.1:9"]) == 2
    assert "rewrite LLM" in capsys.readouterr().err and not out.exists()


def test_numbers_kept():
    assert numbers_kept("Rate 72 bpm, normal 60-100 bpm.", "At 72 bpm the rate is normal (60–100 bpm).")
    assert not numbers_kept("QRS 112 ms.", "QRS about 110 ms.")
    assert not numbers_kept("QRS 112 ms.", "QRS 112 ms, PR 160 ms.")


# ---- bad input -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("settings, needle", [({"families": ("basic", "ekg")}, "ekg"), ({"families": ()}, "families"),
                                              ({"n_samples": 0}, "n_samples"), ({"augment_fraction": 1.5}, "augment")])
def test_bad_config_is_input_error(settings, needle):
    with pytest.raises(InputError, match=needle):
        SynthConfig(**{"n_samples": 4, **settings})


def test_existing_dataset_is_not_overwritten(dataset):
    with pytest.raises(InputError, match="already holds data.json"):
        _build(dataset, n=4)


@pytest.mark.parametrize("argv, needle", [
    (["--source", "nowhere"], "allowed: simulator"),
    (["--source", "simulator", "--families", "basic", "ekg"], "ekg"),
    (["--source", "wfdb:{tmp}/empty"], "no .hea"),
    (["--source", "ptbxl:{tmp}/missing"], "does not exist"),
])
def test_cli_bad_input_one_line_exit_2(tmp_path, capsys, argv, needle):
    (tmp_path / "empty").mkdir()
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    assert main(["synth", *argv, "-n", "4", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_cli_writes_dataset(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["synth", "--source", "simulator", "-n", "6", "-o", str(out), "--families", "rhythm",
                 "--seed", "2", "--image-format", "png"]) == 0
    records = json.loads((out / "data.json").read_text())
    assert len(records) == 6 and all(r["image"].endswith(".png") for r in records)
    assert all(t["family"] == "rhythm" for r in records for t in r["turns"])
    assert "wrote 6 conversations" in capsys.readouterr().out
