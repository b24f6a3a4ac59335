"""Tests of models.claims: corpus precision/recall (dev and held-out splits) and focused patterns.

The corpus (tests/data/claims_corpus.jsonl) is hand-written: items 0-174 before the parser, items
175-206 ("blind") after it, without running it on them. Every 4th item (0-based index % 4 == 3) is
held out and was not used to tune the rules (docs/claims.md has the figures and the history).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

import models.claims as claims_module
from models.claims import LABEL_KINDS, Claim, parse_choice, parse_claims
from tools.errors import InputError
from tools.vocabulary import LABELS

CORPUS = Path(__file__).parent / "data" / "claims_corpus.jsonl"
ITEMS = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
SPLITS = {"dev": [it for i, it in enumerate(ITEMS) if i % 4 != 3],
          "held_out": [it for i, it in enumerate(ITEMS) if i % 4 == 3]}
KINDS = ("rhythm", "rate", "interval", "axis", "diagnosis")


def _same(predicted: Claim, expected: dict) -> bool:
    """A match: same kind, code/label/quantity and negated flag, value within 1 unit."""
    if (predicted.kind, predicted.code, predicted.label, predicted.quantity, predicted.negated) != (
            expected["kind"], expected["code"], expected["label"], expected["quantity"], expected["negated"]):
        return False
    return expected["value"] is None or (predicted.value is not None and abs(predicted.value - expected["value"]) <= 1)


def _score(items: list[dict]) -> tuple[dict[str, Counter], int, int]:
    """Per-kind counts of true positives, false positives and false negatives, and the hedge
    agreement (agreeing, compared) over matched claims."""
    counts = {kind: Counter() for kind in KINDS}
    hedge_agree = hedge_total = 0
    for item in items:
        unmatched = parse_claims(item["text"])
        for expected in item["claims"]:
            hit = next((p for p in unmatched if _same(p, expected)), None)
            if hit is None:
                counts[expected["kind"]]["fn"] += 1
                continue
            unmatched.remove(hit)
            counts[expected["kind"]]["tp"] += 1
            hedge_total += 1
            hedge_agree += hit.hedged == expected["hedged"]
        for extra in unmatched:
            counts[extra.kind]["fp"] += 1
    return counts, hedge_agree, hedge_total


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


def test_corpus_is_large_and_varied() -> None:
    styles = Counter(item["style"] for item in ITEMS)
    assert len(ITEMS) >= 150
    assert {"labels", "terse", "report", "reasoning", "numeric", "negation", "hedge", "mcq", "none"} <= set(styles)
    assert sum(len(item["claims"]) for item in ITEMS) >= 300


@pytest.mark.parametrize("split", ["dev", "held_out"])
def test_corpus_precision_and_recall(split: str, capsys: pytest.CaptureFixture[str]) -> None:
    counts, hedge_agree, hedge_total = _score(SPLITS[split])
    total = sum(counts.values(), Counter())
    precision = _ratio(total["tp"], total["tp"] + total["fp"])
    recall = _ratio(total["tp"], total["tp"] + total["fn"])
    with capsys.disabled():
        print(f"\n{split}: {len(SPLITS[split])} answers, {total['tp'] + total['fn']} expected claims")
        for kind in KINDS:
            c = counts[kind]
            print(f"  {kind:9s} P={_ratio(c['tp'], c['tp'] + c['fp']):.3f} R={_ratio(c['tp'], c['tp'] + c['fn']):.3f}"
                  f" (tp={c['tp']} fp={c['fp']} fn={c['fn']})")
        print(f"  all       P={precision:.3f} R={recall:.3f}; hedged flag agrees on {hedge_agree}/{hedge_total}")
    assert precision >= 0.95 and recall >= 0.95
    assert _ratio(hedge_agree, hedge_total) >= 0.95


def test_corpus_multiple_choice_answers() -> None:
    mcq = [item for item in ITEMS if "options" in item]
    assert len(mcq) >= 8
    for item in mcq:
        assert parse_choice(item["text"], item["options"]) == item["choice"], item["id"]


def test_every_emitted_code_and_label_is_known() -> None:
    for item in ITEMS:
        for claim in parse_claims(item["text"]):
            assert claim.code is None or claim.code in LABELS
            assert claim.label is None or claim.label in LABEL_KINDS


def _one(text: str) -> Claim:
    found = parse_claims(text)
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------- numbers and units
@pytest.mark.parametrize(("text", "quantity", "value"), [
    ("QRS 0.12 s", "qrs_ms", 120.0),
    ("QRS duration of 148 ms", "qrs_ms", 148.0),
    ("The QRS is 0.09 seconds wide.", "qrs_ms", 90.0),
    ("PR interval: 200 milliseconds", "pr_ms", 200.0),
    ("PR 0.2", "pr_ms", 200.0),
    ("QTc 0.46 s", "qtc_ms", 460.0),
    ("QTcF 452 ms", "qtc_ms", 452.0),
    ("QT interval 400 msec", "qt_ms", 400.0),
    ("P wave duration 110 ms", "p_duration_ms", 110.0),
    ("HR 72", "heart_rate_bpm", 72.0),
    ("heart rate of 72 beats per minute", "heart_rate_bpm", 72.0),
    ("ventricular rate 64/min", "heart_rate_bpm", 64.0),
    ("at 45 bpm", "heart_rate_bpm", 45.0),
    ("atrial rate 300 bpm", "atrial_rate_bpm", 300.0),
    ("axis -45°", "qrs_axis_deg", -45.0),
    ("QRS axis \u221230 degrees", "qrs_axis_deg", -30.0),
    ("frontal plane axis of +110 degrees", "qrs_axis_deg", 110.0),
    ("P axis 60", "p_axis_deg", 60.0),
    ("T axis 40°", "t_axis_deg", 40.0),
])
def test_numbers_are_normalised(text: str, quantity: str, value: float) -> None:
    claim = _one(text)
    assert (claim.quantity, claim.value) == (quantity, value)
    assert claim.unit == quantity.rsplit("_", 1)[1]
    assert claim.kind == ("rate" if "rate" in quantity else "axis" if "axis" in quantity else "interval")


def test_ranges_keep_their_bounds() -> None:
    claim = _one("PR 160\u2013180 ms")
    assert (claim.value, claim.low, claim.high) == (170.0, 160.0, 180.0)
    claim = _one("The PR interval is between 0.16 and 0.18 s.")
    assert (claim.value, claim.low, claim.high) == (170.0, 160.0, 180.0)


def test_bounds_are_marked() -> None:
    claim = _one("QRS > 120 ms")
    assert (claim.value, claim.low, claim.high) == (120.0, 120.0, None)
    claim = _one("QRS duration < 100 ms")
    assert (claim.value, claim.low, claim.high) == (100.0, None, 100.0)


def test_slash_notation() -> None:
    found = {c.quantity: c.value for c in parse_claims("QT/QTc 380/420 ms; P/QRS/T axes 50/-20/45")}
    assert found == {"qt_ms": 380.0, "qtc_ms": 420.0, "p_axis_deg": 50.0, "qrs_axis_deg": -20.0, "t_axis_deg": 45.0}


@pytest.mark.parametrize("text", [
    "The heart rate is within the normal range of 60-100 bpm.",
    "A normal PR interval is typically 120-200 ms.",
    "QRS 5000 ms",  # implausible: a misread, not a claim
    "ST depression of 2 mm in V5.",  # mm is not an interval
    "Step 2: rate.",
])
def test_reference_ranges_and_misreads_are_not_claims(text: str) -> None:
    assert [c for c in parse_claims(text) if c.quantity] == []


def test_p_wave_rate_is_atrial() -> None:
    found = {c.quantity: c.value for c in parse_claims(
        "P waves march through at a rate of about 75 per minute, but the QRS complexes occur at 40 bpm.")}
    assert found == {"atrial_rate_bpm": 75.0, "heart_rate_bpm": 40.0}


# --------------------------------------------------------------------------- findings
@pytest.mark.parametrize(("text", "code"), [
    ("AFib", "atrial_fibrillation"), ("AF with RVR", "atrial_fibrillation"), ("A-fib", "atrial_fibrillation"),
    ("Atrial fibrillation.", "atrial_fibrillation"), ("atrial flutter", "atrial_flutter"),
    ("SR", "sinus_rhythm"), ("NSR", "sinus_rhythm"), ("normal sinus rhythm", "sinus_rhythm"),
    ("sinus brady", "sinus_bradycardia"), ("sinus tachycardia", "sinus_tachycardia"),
    ("sinus arrhythmia", "sinus_arrhythmia"), ("complete heart block", "av_block_3"),
    ("third-degree AV block", "av_block_3"), ("Wenckebach", "av_block_2_wenckebach"),
    ("Mobitz I", "av_block_2_wenckebach"), ("second-degree AV block, Mobitz type I", "av_block_2_wenckebach"),
    ("Mobitz II", "av_block_2_mobitz2"), ("Mobitz type II second-degree AV block", "av_block_2_mobitz2"),
    ("1st degree AV block", "av_block_1"), ("first-degree atrioventricular block", "av_block_1"),
    ("prolonged PR interval", "av_block_1"), ("RBBB", "rbbb"), ("complete right bundle branch block", "rbbb"),
    ("left bundle branch block", "lbbb"), ("LAFB", "lafb"), ("left anterior hemiblock", "lafb"),
    ("nonspecific intraventricular conduction delay", "ivcd"), ("LVH", "lvh"),
    ("left ventricular hypertrophy", "lvh"), ("low voltage QRS", "low_voltage"), ("T-wave inversion", "t_inversion"),
    ("inverted T waves", "t_inversion"), ("prolonged QT", "long_qt"), ("long QT", "long_qt"),
    ("short QT interval", "short_qt"), ("ST depression", "st_depression"), ("normal ECG", "normal_ecg"),
    ("left axis deviation", "left_axis_deviation"), ("right axis deviation", "right_axis_deviation"),
    ("normal axis", "normal_axis"), ("northwest axis", "extreme_axis_deviation"),
    ("frequent PVCs", "pvc"), ("VPCs", "pvc"), ("premature ventricular contractions", "pvc"),
    ("PACs", "pac"), ("APCs", "pac"), ("premature atrial complexes", "pac"),
])
def test_finding_synonyms(text: str, code: str) -> None:
    claim = _one(text)
    assert (claim.code, claim.negated, claim.hedged) == (code, False, False)
    assert claim.kind == ("rhythm" if LABELS[code].category == "rhythm" else
                          "axis" if LABELS[code].category == "axis" else "diagnosis")


@pytest.mark.parametrize(("text", "label"), [
    ("incomplete RBBB", "incomplete RBBB"), ("incomplete right bundle branch block", "incomplete RBBB"),
    ("old inferior myocardial infarction", "MI"), ("right ventricular hypertrophy", "RVH"),
    ("junctional rhythm", "junctional rhythm"), ("nonspecific ST-T changes", "ST-T changes"),
    ("bundle branch block", "bundle branch block"),
])
def test_findings_outside_the_vocabulary_keep_their_label(text: str, label: str) -> None:
    claim = _one(text)
    assert (claim.code, claim.label, claim.kind) == (None, label, LABEL_KINDS[label])


def test_st_elevation_territory_from_leads() -> None:
    claim = _one("ST elevation in II, III, aVF.")
    assert (claim.code, claim.leads) == ("st_elevation_inferior", ("II", "III", "aVF"))
    claim = _one("ST-segment elevation in leads V1 through V4")
    assert (claim.code, claim.leads) == ("st_elevation_anterior", ("V1", "V2", "V3", "V4"))
    codes = {c.code for c in parse_claims("ST elevation in I, aVL, V5-V6 and II, III, aVF")}
    assert codes == {"st_elevation_lateral", "st_elevation_inferior"}


@pytest.mark.parametrize(("text", "codes"), [
    ("inferior ST elevation", {"st_elevation_inferior"}),
    ("anterolateral ST elevation", {"st_elevation_anterior", "st_elevation_lateral"}),
    ("septal ST elevation", {"st_elevation_anterior"}),
    ("ST elevation in the inferior leads", {"st_elevation_inferior"}),
    ("acute inferolateral myocardial infarction", {"st_elevation_inferior", "st_elevation_lateral"}),
    ("anterior STEMI", {"st_elevation_anterior"}),
])
def test_st_elevation_territory_from_words(text: str, codes: set[str]) -> None:
    assert {c.code for c in parse_claims(text)} == codes


def test_st_elevation_without_territory_is_a_label() -> None:
    claim = _one("ST elevation in aVR.")
    assert (claim.code, claim.label, claim.leads) == (None, "ST elevation", ("aVR",))


# --------------------------------------------------------------------------- negation and hedging
@pytest.mark.parametrize("text", [
    "No evidence of atrial fibrillation.", "Atrial fibrillation is ruled out.", "This rules out atrial fibrillation.",
    "Sinus node working; atrial fibrillation is absent.", "There is no atrial fibrillation.",
    "The ECG does not show atrial fibrillation.", "Atrial fibrillation: no.", "Negative for atrial fibrillation.",
])
def test_negation(text: str) -> None:
    claim = next(c for c in parse_claims(text) if c.code == "atrial_fibrillation")
    assert claim.negated and not claim.hedged


def test_negated_list() -> None:
    found = parse_claims("No ST elevation, LVH or bundle branch block.")
    assert [(c.code or c.label, c.negated) for c in found] == [
        ("ST elevation", True), ("lvh", True), ("bundle branch block", True)]


def test_negation_does_not_leak_past_the_clause() -> None:
    found = {c.code or c.label: c.negated for c in parse_claims(
        "Sinus rhythm without ST changes; LVH is present. No PVCs, but frequent PACs.")}
    assert found == {"sinus_rhythm": False, "ST-T changes": True, "lvh": False, "pvc": True, "pac": False}


@pytest.mark.parametrize("text", [
    "Possible LVH.", "Probable LVH.", "Consider LVH.", "Cannot exclude LVH.", "LVH cannot be ruled out.",
    "Borderline LVH.", "Findings suggestive of LVH.", "LVH is likely.", "Suspected LVH.", "LVH versus normal variant.",
])
def test_hedges(text: str) -> None:
    claim = next(c for c in parse_claims(text) if c.code == "lvh")
    assert claim.hedged and not claim.negated


def test_abnormal_is_negated_normal() -> None:
    assert [(c.code, c.negated) for c in parse_claims("ABNORMAL")] == [("normal_ecg", True)]
    assert [(c.code, c.negated) for c in parse_claims("Abnormal ECG.")] == [("normal_ecg", True)]
    assert parse_claims("Sinus bradycardia, otherwise normal ECG.")[0].code == "sinus_bradycardia"
    assert len(parse_claims("Sinus bradycardia, otherwise normal ECG.")) == 1


# --------------------------------------------------------------------------- label lists and structure
@pytest.mark.parametrize(("text", "expected"), [
    ("NORM", [("normal_ecg", None)]),
    ("MI; STTC", [(None, "MI"), (None, "STTC")]),
    ("CD, HYP", [(None, "CD"), (None, "HYP")]),
    ("1dAVb, RBBB", [("av_block_1", None), ("rbbb", None)]),
    ("ST", [("sinus_tachycardia", None)]),
    ("SB; AF", [("sinus_bradycardia", None), ("atrial_fibrillation", None)]),
])
def test_label_list_answers(text: str, expected: list[tuple[str | None, str | None]]) -> None:
    assert [(c.code, c.label) for c in parse_claims(text)] == expected


def test_st_alone_is_tachycardia_only_in_a_label_list() -> None:
    assert [c.code for c in parse_claims("ST depression in V5")] == ["st_depression"]
    assert all(c.code != "sinus_tachycardia" for c in parse_claims("The ST segment looks fine in lead II."))


def test_repeated_finding_is_one_claim_marked_final() -> None:
    text = "Possible atrial fibrillation is seen. Final diagnosis: atrial fibrillation."
    (claim,) = parse_claims(text)
    assert (claim.code, claim.hedged, claim.final) == ("atrial_fibrillation", False, True)
    assert text[claim.span[0]:claim.span[1]].lower() == "atrial fibrillation"
    assert claim.text == "Possible atrial fibrillation is seen."


def test_contradictory_statements_are_both_kept() -> None:
    found = [(c.code, c.negated) for c in parse_claims("There is no LBBB. The QRS shows LBBB morphology.")]
    assert found == [("lbbb", True), ("lbbb", False)]


@pytest.mark.parametrize("text", ["", "   \n ", "Yes.", "The weather in Paris is mild in May.",
                                  "I cannot interpret this image.", "Please consult a cardiologist."])
def test_no_claims(text: str) -> None:
    assert parse_claims(text) == []


def test_very_long_text_is_parsed_once_per_finding() -> None:
    report = ("The ECG shows sinus rhythm at 72 bpm with a QRS duration of 90 ms and no ST elevation. " * 400
              + "Final diagnosis: sinus rhythm.")
    started = time.perf_counter()
    found = parse_claims(report)
    elapsed_s = time.perf_counter() - started
    assert sorted((c.code or c.label or c.quantity) for c in found) == [
        "ST elevation", "heart_rate_bpm", "qrs_ms", "sinus_rhythm"]
    assert elapsed_s < 30.0  # guards against catastrophic regex backtracking, not a speed target


def test_bad_input_raises() -> None:
    with pytest.raises(InputError, match="text must be a str"):
        parse_claims(None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="not a tools.vocabulary code"):
        Claim(kind="diagnosis", code="rvh", span=(0, 3), text="RVH")
    with pytest.raises(ValidationError, match="quantity"):
        Claim(kind="rate", quantity="qrs_ms", value=100.0, unit="ms", span=(0, 3), text="QRS")


# --------------------------------------------------------------------------- multiple choice
OPTIONS = ["A. Sinus rhythm", "B. Atrial fibrillation", "C. Atrial flutter", "D. Normal sinus rhythm"]


@pytest.mark.parametrize(("text", "letter"), [
    ("Answer: C", "C"), ("answer: c", "C"), ("The answer is B.", "B"), ("(B)", "B"), ("B", "B"),
    ("C. Atrial flutter", "C"), ("Reasoning first... Answer: A\nAnswer: D", "D"), ("atrial flutter", "C"),
    ("Normal sinus rhythm", "D"), ("Answer: A or B", None), ("I cannot tell.", None), ("Answer: Z", None),
])
def test_parse_choice(text: str, letter: str | None) -> None:
    assert parse_choice(text, OPTIONS) == letter


def test_parse_choice_accepts_a_mapping_and_rejects_bad_options() -> None:
    assert parse_choice("Answer: b", {"A": "yes", "B": "no"}) == "B"
    with pytest.raises(InputError, match="options"):
        parse_choice("A", [])
    with pytest.raises(InputError, match="options"):
        parse_choice("A", {"AA": "x"})


def test_all_is_complete() -> None:
    public = {name for name in vars(claims_module) if not name.startswith("_")
              and getattr(getattr(claims_module, name), "__module__", None) == "models.claims"}
    assert public <= set(claims_module.__all__)


def test_unlikely_is_a_hedged_negation() -> None:
    claim = _one("Atrial fibrillation is unlikely.")
    assert (claim.code, claim.negated, claim.hedged) == ("atrial_fibrillation", True, True)


def test_small_q_wave_is_not_a_pathological_q_wave() -> None:
    assert parse_claims("Lead I shows a small q wave.") == []
    assert _one("Pathological Q waves in III and aVF.").leads == ("III", "aVF")
