"""ECGBench metrics and answer parsing: exact values on hand-computed cases, and each quirk of the
published scorer shown changing a score (paper-compatible) next to its correction."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tools.errors import InputError
from training.ecgbench import parsing
from training.ecgbench.items import BenchItem, ImageRef, Prediction, Turn
from training.ecgbench.metrics import auc_roc, f1_per_class, hamming_loss, multilabel_metrics, score_subset
from training.ecgbench.subsets import SUBSETS, subset_spec

PTB, CODE15, CPSC, CSN, MMMU = (SUBSETS[name] for name in ("ptb-xl-super", "code15", "cpsc", "csn", "mmmu-ecg"))


def _item(subset: str, item_id: str, question: str, answer: str, answers: tuple[str, ...] | None = None) -> BenchItem:
    return BenchItem(id=item_id, subset=subset, image_path=f"x/{item_id}.png", image=ImageRef(data=b"png"),
                     turns=(Turn(question=question, answer=answer),), answer_list=answers)


def _pred(subset: str, item_id: str, text: str, prompt: str = "", scores=None) -> Prediction:
    return Prediction(id=item_id, subset=subset, prompt=prompt, text=text, scores=scores)


# ---------------------------------------------------------------------------------------------
# Metric functions, hand-computed

def test_multilabel_metrics_hand_computed():
    # class A: TP 1, FP 1, FN 1 -> F1 0.5, sensitivity 0.5, specificity 0.5 -> hard AUC 0.5
    # class B: perfect -> F1 1, AUC 1; wrong cells 2 of 8
    y_true = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    y_pred = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    assert f1_per_class(y_true, y_pred).tolist() == [0.5, 1.0]
    assert hamming_loss(y_true, y_pred) == 0.25
    result = multilabel_metrics(y_true, y_pred, skip_undefined_auc=False)
    assert result == {"auc": 75.0, "f1": 75.0, "hamming_loss": 25.0, "auc_classes": 2.0}


def test_auc_roc_counts_ties_as_half_and_is_nan_without_both_classes():
    y = np.array([1, 1, 0, 0])
    assert auc_roc(y, np.array([0.9, 0.4, 0.6, 0.1])) == 0.75     # 3 of 4 pairs ordered
    assert auc_roc(y, np.array([0.5, 0.4, 0.5, 0.1])) == 0.625    # 2 pairs + 1 tie (0.5) of 4
    assert np.isnan(auc_roc(np.ones(3), np.array([0.1, 0.2, 0.3])))


def test_f1_is_zero_for_a_class_never_true_nor_predicted():
    assert f1_per_class(np.zeros((3, 1)), np.zeros((3, 1))).tolist() == [0.0]


def test_paper_hard_label_auc_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    y_true, y_pred = rng.integers(0, 2, (50, 4)), rng.integers(0, 2, (50, 4))
    ours = multilabel_metrics(y_true, y_pred, skip_undefined_auc=False)
    assert ours["auc"] == pytest.approx(100 * np.mean([metrics.roc_auc_score(y_true[:, k], y_pred[:, k])
                                                       for k in range(4)]))
    assert ours["f1"] == pytest.approx(100 * metrics.f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert ours["hamming_loss"] == pytest.approx(100 * metrics.hamming_loss(y_true, y_pred))


def test_undefined_class_auc_makes_paper_mean_nan_but_is_skipped_when_corrected():
    y_true = np.array([[1, 1], [1, 0]])      # class 0 positive everywhere: AUC undefined
    y_pred = np.array([[1, 1], [0, 0]])
    assert np.isnan(multilabel_metrics(y_true, y_pred, skip_undefined_auc=False)["auc"])
    corrected = multilabel_metrics(y_true, y_pred, skip_undefined_auc=True)
    assert corrected["auc"] == 100.0 and corrected["auc_classes"] == 1.0


# ---------------------------------------------------------------------------------------------
# score_subset, hand-computed end to end

def test_ptb_scores_hand_computed_both_modes():
    items = [_item("ptb-xl-super", "1", "q", "NORM"), _item("ptb-xl-super", "2", "q", "MI; STTC"),
             _item("ptb-xl-super", "3", "q", "CD")]
    preds = {"1": _pred("ptb-xl-super", "1", "NORM"), "2": _pred("ptb-xl-super", "2", "MI"),
             "3": _pred("ptb-xl-super", "3", "ABNORMAL ECG: CD")}
    scores = score_subset("ptb-xl-super", items, preds)
    # paper: "NORM" found inside "ABNORMAL" -> item 3 predicted {NORM, CD}.
    # classes CD, MI, NORM, STTC: F1 1, 1, 2/3, 0; hard AUC 1, 1, 0.75, 0.5; 2 wrong cells of 12
    assert scores.paper["f1"] == pytest.approx(100 * (1 + 1 + 2 / 3 + 0) / 4)
    assert scores.paper["auc"] == pytest.approx(81.25)
    assert scores.paper["hamming_loss"] == pytest.approx(100 * 2 / 12)
    # corrected: item 3 is {CD}: F1 1, 1, 1, 0; AUC 1, 1, 1, 0.5; 1 wrong cell of 12
    assert scores.corrected["f1"] == pytest.approx(75.0)
    assert scores.corrected["auc"] == pytest.approx(87.5)
    assert scores.corrected["hamming_loss"] == pytest.approx(100 / 12)
    assert (scores.n_items, scores.n_scored) == (3, 3)
    assert [o.paper_correct for o in scores.outcomes] == [True, False, False]


def test_corrected_auc_uses_scores_when_every_prediction_has_them():
    items = [_item("ptb-xl-super", str(i), "q", answer) for i, answer in enumerate(["MI", "NORM", "MI", "NORM"])]
    probs = [0.9, 0.6, 0.4, 0.1]   # MI ranking: positives 0.9, 0.4 vs negatives 0.6, 0.1 -> 0.75
    hard = ["MI", "MI", "NORM", "NORM"]  # hard labels: sensitivity 0.5, specificity 0.5 -> 0.5
    preds = {str(i): _pred("ptb-xl-super", str(i), hard[i], scores={"MI": p, "NORM": 1 - p})
             for i, p in enumerate(probs)}
    scores = score_subset("ptb-xl-super", items, preds)
    assert scores.paper["auc"] == pytest.approx(50.0)
    assert scores.corrected["auc"] == pytest.approx(75.0)
    assert "per-label scores" in scores.notes[1]


def test_only_predicted_items_are_scored_and_none_is_an_error():
    items = [_item("csn", "1", "q", "A. x"), _item("csn", "2", "q", "B. y")]
    scores = score_subset("csn", items, {"1": _pred("csn", "1", "A")})
    assert (scores.n_items, scores.n_scored, scores.corrected["accuracy"]) == (2, 1, 100.0)
    with pytest.raises(InputError, match="none of the 2 csn items"):
        score_subset("csn", items, {})


def test_judged_score_is_mean_of_aspects_times_ten():
    items = [_item("ptb-xl-report", "r1", "q", "Sinus rhythm."), _item("ptb-xl-report", "r2", "q", "AF.")]
    preds = {i.id: _pred("ptb-xl-report", i.id, "report") for i in items}
    judged = {"r1": {"Diagnosis": 8, "Waveform": 7, "Rhythm": 10}, "r2": {"Diagnosis": 0, "Waveform": 0, "Rhythm": 5}}
    scores = score_subset("ptb-xl-report", items, preds, judged=judged)
    # the paper's worked examples: (8+7+10)/3*10 = 83.3 and (0+0+5)/3*10 = 16.7
    assert scores.paper["score"] == pytest.approx((250 / 3 + 50 / 3) / 2)
    assert scores.corrected["rhythm"] == pytest.approx(75.0)
    with pytest.raises(InputError, match="LLM judge"):
        score_subset("ptb-xl-report", items, preds)


# ---------------------------------------------------------------------------------------------
# Quirks of the published scorer: each changes a score; the corrected parser does not have it

def test_quirk_case_sensitive_substring_labels():
    assert parsing.paper_labels("ABNORMAL ECG, no RBBB", PTB) == {"NORM"}
    assert parsing.corrected_labels("ABNORMAL ECG, no RBBB", PTB) == set()
    assert parsing.paper_labels("atrial fibrillation with ST depression", CODE15) == {"ST"}
    assert parsing.corrected_labels("atrial fibrillation with ST depression", CODE15) == {"AF"}
    assert parsing.paper_labels("Normal ECG", PTB) == set()
    assert parsing.corrected_labels("Normal ECG", PTB) == {"NORM"}


def test_quirk_negation_counts_as_a_finding():
    text = "Sinus rhythm. No RBBB; there is no evidence of AF. Left bundle branch block."
    assert parsing.paper_labels(text, CODE15) == {"RBBB", "AF"}  # and the named LBBB is missed
    assert parsing.corrected_labels(text, CODE15) == {"LBBB"}
    assert parsing.corrected_labels("PVCs present, but without STE", CPSC) == {"PVC"}


def test_quirk_changes_the_cpsc_f1():
    items = [_item("cpsc", "1", "q", "AF"), _item("cpsc", "2", "q", "PVC")]
    preds = {"1": _pred("cpsc", "1", "Atrial fibrillation; no PVC"), "2": _pred("cpsc", "2", "PVC")}
    scores = score_subset("cpsc", items, preds)
    # paper: item 1 -> {PVC} (name not a code, negation ignored): AF F1 0, PVC F1 2/3
    assert scores.paper["f1"] == pytest.approx(100 * (0 + 2 / 3) / 2)
    assert scores.corrected["f1"] == pytest.approx(100.0)


def test_code15_norm_and_abnormal_whole_answer_classes():
    assert parsing.paper_golden_labels("NORM", CODE15) == {"NORM"}
    two = "RBBB(right bundle branch block); ST(sinus tachycardia)"
    assert parsing.paper_golden_labels(two, CODE15) == {"RBBB", "ST"}
    assert parsing.corrected_golden_labels(two, CODE15) == {"RBBB", "ST"}
    assert parsing.paper_labels("Reasoning: ... Answer: NORM", CODE15) == {"NORM"}
    assert parsing.paper_labels("ABNORMAL", CODE15) == {"ABNORMAL"}


def test_quirk_letter_extraction():
    # the first of "A." ... "H." in alphabetical order anywhere wins
    assert parsing.paper_letter("The answer is D. See A. Smith's atlas.") == "A"
    assert parsing.corrected_choice("The answer is D. See A. Smith's atlas.", "", "ABCDEFGH") == "D"
    # after "Answer:", the alphabetically first capital A-H anywhere
    assert parsing.paper_letter("Answer: ECG shows D") == "C"
    assert parsing.corrected_choice("Answer: ECG shows D", "", "ABCDEFGH") is None
    assert parsing.paper_letter("B") == "B" and parsing.paper_letter("AB") is None
    assert parsing.paper_letter("The correct option is G") == "G"
    # an answer naming one option's text: the paper guesses at random, the corrected reading picks it
    question = "Which rhythm?\nA. sinus rhythm\nB. atrial fibrillation\nC. atrial flutter\nD. sinus tachycardia"
    assert parsing.paper_letter("Atrial fibrillation.") is None
    assert parsing.corrected_choice("Atrial fibrillation.", question, "ABCD") == "B"
    for text, letter in [("(C)", "C"), ("C. Sinus bradycardia", "C"), ("The answer is: F", "F"),
                         ("I cannot tell", None), ("option H", None)]:
        assert parsing.corrected_choice(text, "", "ABCDEFG") == letter, text


def test_quirk_random_letter_for_unparseable_answers():
    n = 40
    items = [_item("mmmu-ecg", str(i), "q", "ABCD"[i % 4]) for i in range(n)]
    preds = {str(i): _pred("mmmu-ecg", str(i), "I cannot read this image.") for i in range(n)}
    scores = score_subset("mmmu-ecg", items, preds, seed=42)
    rng = random.Random(42)
    expected = sum(rng.choice("ABCD") == "ABCD"[i % 4] for i in range(n))
    assert expected > 0  # the guesses earn points the model never earned
    assert scores.paper["accuracy"] == pytest.approx(100 * expected / n)
    assert scores.corrected == {"accuracy": 0.0, "unparseable": 100.0}
    assert score_subset("mmmu-ecg", items, preds, seed=42).paper == scores.paper  # seeded: reproducible


def test_golden_letter_first_character_for_csn_whole_value_for_mmmu():
    assert parsing.paper_golden_letter("C. sinus bradycardia", CSN) == "C"
    assert parsing.paper_golden_letter("C", MMMU) == "C"


def test_quirk_ecgqa_substring_options():
    prompt = ("Question: Does this ECG show symptoms of non-diagnostic t abnormalities?\nOptions: yes, no, not sure"
              "\n\nOnly answer based on the given Options without any explanation.")
    assert parsing.ecgqa_options(prompt) == ["yes", "no", "not sure"]
    assert parsing.paper_ecgqa_answers(prompt, "Not sure") == {"no", "not sure"}
    assert parsing.corrected_ecgqa_answers(prompt, "Not sure") == {"not sure"}
    items = [_item("ecgqa", "q1", prompt, "not sure", ("not sure",))]
    scores = score_subset("ecgqa", items, {"q1": _pred("ecgqa", "q1", "Not sure", prompt=prompt)})
    assert (scores.paper["accuracy"], scores.corrected["accuracy"]) == (0.0, 100.0)


def test_ecgqa_lead_options_match_whole_words_only():
    prompt = ("Question: Which leads?\nOptions: lead i, lead ii, none\n\n"
              "Only answer based on the given Options without any explanation.")
    assert parsing.paper_ecgqa_answers(prompt, "lead ii") == {"lead i", "lead ii"}
    assert parsing.corrected_ecgqa_answers(prompt, "Lead II") == {"lead ii"}


def test_unknown_subset_is_an_input_error():
    with pytest.raises(InputError, match="unknown ECGBench subset 'ptbxl'"):
        subset_spec("ptbxl")
    assert subset_spec("g12-test-no-cot").name == "g12ec"
