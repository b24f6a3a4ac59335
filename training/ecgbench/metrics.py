"""ECGBench metrics, paper-compatible and corrected, side by side.

Paper-compatible numbers reproduce PULSE's published scorer:

- multi-label subsets (PTB-XL Super, CODE-15, CPSC): the classes are those occurring in the
  reference answers; macro F1 (a class with no true and no predicted positive scores 0), Hamming
  loss, and macro "AUC" computed from the hard 0/1 predictions, which equals the mean of
  (sensitivity + specificity) / 2; an undefined class AUC makes the mean NaN;
- multiple choice (CSN, G12EC, MMMU-ECG): an unparseable answer is replaced by a random letter
  (``random.Random(seed)``, drawn in item order);
- ECG-QA: exact match of the option set found by substring search;
- judged subsets: the judge's aspect scores averaged, times 10.

Corrected numbers: AUC from the runner's per-label scores when
every prediction carries them (else from hard labels, and said so), undefined class AUCs left out
(and counted), unparseable multiple-choice answers counted wrong, and the corrected parsers of
:mod:`training.ecgbench.parsing`. All figures are percentages; only items with a prediction are
scored (``n_scored`` says how many).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.stats import rankdata

from tools.errors import InputError
from training.ecgbench import parsing
from training.ecgbench.items import BenchItem, Prediction
from training.ecgbench.subsets import SubsetSpec, subset_spec

__all__ = ["f1_per_class", "hamming_loss", "auc_roc", "multilabel_metrics", "ItemOutcome", "SubsetScores",
           "score_subset"]


def f1_per_class(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """F1 of each column of (n_items, n_classes) 0/1 arrays; 0 where a class has no true and no
    predicted positive (scikit-learn's ``zero_division`` default)."""
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    tp = (y_true & y_pred).sum(axis=0)
    denominator = y_true.sum(axis=0) + y_pred.sum(axis=0)
    return np.divide(2.0 * tp, denominator, out=np.zeros(tp.shape, float), where=denominator > 0)


def hamming_loss(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of (item, class) cells predicted wrongly, in [0, 1]."""
    return float(np.mean(np.asarray(y_true, bool) != np.asarray(y_pred, bool)))


def auc_roc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of one class: P(score of a positive > score of a negative), ties
    counting one half (Mann-Whitney U). NaN when ``y_true`` has no positive or no negative.

    Parameters
    ----------
    y_true : (n_items,) array of 0/1
    scores : (n_items,) float array; hard 0/1 predictions give (sensitivity + specificity) / 2.
    """
    y_true = np.asarray(y_true, bool)
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, float))
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None = None,
                       *, skip_undefined_auc: bool) -> dict[str, float]:
    """Macro AUC, macro F1 and Hamming loss of (n_items, n_classes) arrays, in percent.

    Parameters
    ----------
    y_true, y_pred : (n_items, n_classes) 0/1 arrays
    scores : (n_items, n_classes) float array or None
        Per-class scores for the AUC; None uses ``y_pred`` (the paper's hard-label "AUC").
    skip_undefined_auc : bool
        False: a class whose AUC is undefined makes the macro AUC NaN (the paper's ``np.mean``);
        True: such classes are left out (``auc_classes`` counts the rest).
    """
    y_true = np.asarray(y_true, bool)
    ranked = np.asarray(y_pred, float) if scores is None else np.asarray(scores, float)
    aucs = np.array([auc_roc(y_true[:, k], ranked[:, k]) for k in range(y_true.shape[1])])
    defined = np.isfinite(aucs)
    macro_auc = float(np.mean(aucs[defined])) if skip_undefined_auc and defined.any() else float(np.mean(aucs))
    return {"auc": 100 * macro_auc, "f1": 100 * float(np.mean(f1_per_class(y_true, y_pred))),
            "hamming_loss": 100 * hamming_loss(y_true, y_pred), "auc_classes": float(defined.sum())}


class ItemOutcome(BaseModel):
    """How one item was read and scored in each mode (for per-item disagreement tables)."""

    model_config = ConfigDict(frozen=True)

    id: str
    reference: str
    paper: str
    corrected: str
    paper_correct: bool | None = None
    corrected_correct: bool | None = None


class SubsetScores(BaseModel):
    """Scores of one subset, both modes, in percent; ``notes`` explain how they were computed."""

    model_config = ConfigDict(frozen=True)

    subset: str
    n_items: int
    n_scored: int
    paper: dict[str, float]
    corrected: dict[str, float]
    notes: list[str]
    outcomes: list[ItemOutcome]


def score_subset(subset: str, items: Sequence[BenchItem], predictions: Mapping[str, Prediction], *,
                 judged: Mapping[str, Mapping[str, float]] | None = None, seed: int = 42) -> SubsetScores:
    """Score ``predictions`` against ``items`` of one subset, paper-compatible and corrected.

    Parameters
    ----------
    subset : str
        Subset name.
    items : sequence of BenchItem
        The subset's items; only those with a prediction are scored.
    predictions : mapping of id to Prediction
    judged : mapping of id to {aspect: score 0-10}, optional
        Judge scores; required for ``ptb-xl-report`` and ``arena``.
    seed : int
        Seed of the paper's random letter for unparseable multiple-choice answers.

    Raises
    ------
    InputError
        If no item has a prediction, or a judged subset comes without judge scores.
    """
    spec = subset_spec(subset)
    scored = [item for item in items if item.id in predictions]
    if not scored:
        raise InputError(f"none of the {len(items)} {spec.name} items has a prediction")
    pairs = [(item, predictions[item.id]) for item in scored]
    if spec.kind == "multilabel":
        paper, corrected, notes, outcomes = _multilabel(spec, pairs)
    elif spec.kind == "mcq":
        paper, corrected, notes, outcomes = _mcq(spec, pairs, seed)
    elif spec.kind == "ecgqa":
        paper, corrected, notes, outcomes = _ecgqa(pairs)
    else:
        paper, corrected, notes, outcomes = _judged(spec, pairs, judged)
    return SubsetScores(subset=spec.name, n_items=len(items), n_scored=len(scored), paper=paper,
                        corrected=corrected, notes=notes, outcomes=outcomes)


def _binarize(label_sets: Sequence[set[str]], classes: Sequence[str]) -> np.ndarray:
    return np.array([[c in labels for c in classes] for labels in label_sets], dtype=bool).reshape(-1, len(classes))


def _multilabel(spec: SubsetSpec, pairs: list[tuple[BenchItem, Prediction]]):
    gold_p = [parsing.paper_golden_labels(item.answer, spec) for item, _ in pairs]
    pred_p = [parsing.paper_labels(pred.text, spec) for _, pred in pairs]
    classes_p = sorted(set().union(*gold_p))  # the paper's MultiLabelBinarizer is fit on references
    paper = multilabel_metrics(_binarize(gold_p, classes_p), _binarize(pred_p, classes_p), skip_undefined_auc=False)
    gold_c = [parsing.corrected_golden_labels(item.answer, spec) for item, _ in pairs]
    pred_c = [parsing.corrected_labels(pred.text, spec) for _, pred in pairs]
    # Like the paper, only classes some reference has: an absent class would add an F1 of 0.
    classes_c = [c for c in (*spec.labels, "NORM", "ABNORMAL") if any(c in g for g in gold_c)]
    classes_c = list(dict.fromkeys(classes_c))
    with_scores = all(pred.scores and all(c in pred.scores for c in classes_c) for _, pred in pairs)
    scores = np.array([[pred.scores[c] for c in classes_c] for _, pred in pairs]) if with_scores else None
    corrected = multilabel_metrics(_binarize(gold_c, classes_c), _binarize(pred_c, classes_c), scores,
                                   skip_undefined_auc=True)
    notes = [f"paper classes: {', '.join(classes_p)}",
             f"corrected AUC from {'per-label scores' if with_scores else 'hard labels (no scores in predictions)'} "
             f"over {int(corrected['auc_classes'])} of {len(classes_c)} classes"]
    outcomes = [ItemOutcome(id=item.id, reference=", ".join(sorted(gc)), paper=", ".join(sorted(pp)),
                            corrected=", ".join(sorted(pc)), paper_correct=pp == gp, corrected_correct=pc == gc)
                for (item, _), gp, pp, gc, pc in zip(pairs, gold_p, pred_p, gold_c, pred_c, strict=True)]
    return paper, corrected, notes, outcomes


def _mcq(spec: SubsetSpec, pairs: list[tuple[BenchItem, Prediction]], seed: int):
    rng = random.Random(seed)
    outcomes, guessed, unparsed = [], 0, 0
    for item, pred in pairs:
        letter_p = parsing.paper_letter(pred.text)
        if letter_p is None:
            letter_p, guessed = rng.choice(spec.letters), guessed + 1
        letter_c = parsing.corrected_choice(pred.text, item.question, spec.letters)
        unparsed += letter_c is None
        reference = parsing.corrected_choice(item.answer, "", spec.letters) or item.answer[:1]
        outcomes.append(ItemOutcome(
            id=item.id, reference=reference, paper=letter_p, corrected=letter_c or "(none)",
            paper_correct=letter_p == parsing.paper_golden_letter(item.answer, spec),
            corrected_correct=letter_c == reference))
    n = len(outcomes)
    paper = {"accuracy": 100 * sum(o.paper_correct for o in outcomes) / n}
    corrected = {"accuracy": 100 * sum(o.corrected_correct for o in outcomes) / n, "unparseable": 100 * unparsed / n}
    notes = [f"paper: {guessed} of {n} answers unparseable, replaced by a random letter from {spec.letters} "
             f"(seed {seed})", f"corrected: {unparsed} of {n} unparseable, counted wrong"]
    return paper, corrected, notes, outcomes


def _ecgqa(pairs: list[tuple[BenchItem, Prediction]]):
    outcomes = []
    for item, pred in pairs:
        reference = set(item.answer_list or (item.answer,))
        prompt = pred.prompt or item.question
        found_p = parsing.paper_ecgqa_answers(prompt, pred.text)
        found_c = parsing.corrected_ecgqa_answers(prompt, pred.text)
        outcomes.append(ItemOutcome(
            id=item.id, reference=", ".join(sorted(reference)), paper=", ".join(sorted(found_p)),
            corrected=", ".join(sorted(found_c)), paper_correct=found_p == reference,
            corrected_correct={f.lower() for f in found_c} == {r.lower().strip() for r in reference}))
    n = len(outcomes)
    return ({"accuracy": 100 * sum(o.paper_correct for o in outcomes) / n},
            {"accuracy": 100 * sum(o.corrected_correct for o in outcomes) / n},
            ["exact match of the set of options found in the answer"], outcomes)


def _judged(spec: SubsetSpec, pairs: list[tuple[BenchItem, Prediction]],
            judged: Mapping[str, Mapping[str, float]] | None):
    if judged is None:
        raise InputError(f"subset {spec.name} is scored by an LLM judge: pass --judge URL")
    missing = [item.id for item, _ in pairs if item.id not in judged]
    if missing:
        raise InputError(f"{len(missing)} {spec.name} items have no judge score (first: {missing[0]!r})")
    per_item = [10 * float(np.mean(list(judged[item.id].values()))) for item, _ in pairs]
    aspects = list(next(iter(judged.values())))
    breakdown = {f"{aspect.lower()}": 10 * float(np.mean([judged[item.id][aspect] for item, _ in pairs]))
                 for aspect in aspects}
    outcomes = [ItemOutcome(id=item.id, reference="", paper=f"{s:.1f}", corrected=f"{s:.1f}")
                for (item, _), s in zip(pairs, per_item, strict=True)]
    score = float(np.mean(per_item))
    return ({"score": score}, {"score": score, **breakdown},
            ["judge scores validated before caching: the paper's mean over whatever keys the judge "
             "returned equals the corrected mean over exactly the rubric's aspects"], outcomes)
