"""Turn answer texts into labels, letters and option sets: as the paper did, and corrected.

``paper_*`` functions reimplement PULSE's published scorer (evaluation/evaluate_ecgbench.py)
behaviour for behaviour, quirks included:

- labels by case-sensitive substring: "NORM" is found in "ABNORMAL", "ST" in "ST depression",
  "AF" in "AFL", and "no RBBB" counts as RBBB; "normal ECG" finds no NORM;
- multiple choice: the first of "A." ... "H." found anywhere wins, so "... (see Fig. B.) A" is B;
  after "Answer:" the alphabetically first capital A-H anywhere counts ("Answer: ECG shows D" gives C);
- ECG-QA: an option counts when its text occurs anywhere in the lower-cased answer, so "not sure"
  also finds "no".

``corrected_*`` functions fix exactly those with the project's claim parser (models.claims): codes
and their names in any case, negated findings ("no", "without", "absence of"...) dropped, a letter
only from an explicit answer or the text of exactly one option (never a guess), and ECG-QA options
matched as whole words, longest first, without overlaps.
"""

from __future__ import annotations

import functools
import re

from models.claims import Claim, parse_choice, parse_claims
from tools.vocabulary import LABELS
from training.ecgbench.subsets import SubsetSpec

__all__ = ["paper_labels", "paper_golden_labels", "paper_letter", "paper_golden_letter", "paper_ecgqa_answers",
           "ecgqa_options", "corrected_labels", "corrected_golden_labels", "corrected_choice",
           "corrected_ecgqa_answers", "benchmark_code", "OPTION_LINE"]

_PAPER_LETTERS = "ABCDEFGH"
_ECGQA_TAIL = "Only answer based on the given Options without any explanation."


# ---------------------------------------------------------------------------------------------
# Paper-compatible

def paper_labels(text: str, spec: SubsetSpec) -> set[str]:
    """Labels the published scorer reads from a model's answer (case-sensitive substrings)."""
    if spec.name != "code15":
        return {label for label in spec.labels if label in text}
    text = text.split("Answer:")[-1]
    found = {label for label in spec.labels if label in text}
    if "ABNORMAL" in text:
        return found | {"ABNORMAL"}
    return found | {"NORM"} if "NORM" in text else found


def paper_golden_labels(answer: str, spec: SubsetSpec) -> set[str]:
    """Labels the published scorer reads from a reference answer."""
    if spec.name == "code15" and answer in ("NORM", "ABNORMAL"):
        return {answer}
    return {label for label in spec.labels if label in answer}


def paper_letter(text: str) -> str | None:
    """The option letter the published scorer extracts, or None (it then guesses at random)."""
    if text in tuple(_PAPER_LETTERS):
        return text
    for letter in _PAPER_LETTERS:
        if f"{letter}." in text:
            return letter
    if "The correct option is " in text:
        first = text.split("The correct option is ")[-1][:1]
        return first if first and first in _PAPER_LETTERS else None
    if "Answer:" in text:
        tail = text.split("Answer:")[-1].strip()
        return next((letter for letter in _PAPER_LETTERS if letter in tail), None)
    return None


def paper_golden_letter(answer: str, spec: SubsetSpec) -> str:
    """The reference letter as the published scorer takes it: the first character for CSN and
    G12EC, the whole value for MMMU-ECG."""
    return answer if spec.name == "mmmu-ecg" else answer[:1]


def ecgqa_options(prompt: str) -> list[str]:
    """ECG-QA's answer options, read from the question as the published scorer does."""
    return [option.strip() for option in prompt.split("Options:")[-1].replace(_ECGQA_TAIL, "").split(",")]


def paper_ecgqa_answers(prompt: str, text: str) -> set[str]:
    """Options whose text occurs anywhere in the lower-cased answer (case-sensitive options)."""
    lowered = text.lower()
    return {option for option in ecgqa_options(prompt) if option in lowered}


# ---------------------------------------------------------------------------------------------
# Corrected

# Raw findings models.claims keeps without a vocabulary code, mapped as PTB-XL files them.
_RAW_PTBXL = {"MI": "MI", "STTC": "STTC", "CD": "CD", "HYP": "HYP", "ST-T changes": "STTC", "ischemia": "STTC",
              "ST elevation": "STTC", "incomplete RBBB": "CD", "incomplete LBBB": "CD", "bundle branch block": "CD",
              "LPFB": "CD", "AV block": "CD", "second-degree AV block": "CD", "WPW": "CD", "RVH": "HYP",
              "LAE": "HYP", "RAE": "HYP"}
_CPSC = {"normal_ecg": "NORM", "atrial_fibrillation": "AF", "av_block_1": "I-AVB", "lbbb": "LBBB", "rbbb": "RBBB",
         "pac": "PAC", "pvc": "PVC", "st_depression": "STD", "st_elevation_inferior": "STE",
         "st_elevation_anterior": "STE", "st_elevation_lateral": "STE", "ST elevation": "STE"}
_ABNORMAL = re.compile(r"(?<![\w-])abnormal(?![\w-])", re.IGNORECASE)
# One "A. option" / "(B) option" line of a multiple-choice question.
OPTION_LINE = re.compile(r"^\s*\(?([A-H])[.)]\s*(.+?)\s*$", re.MULTILINE)
# For bare codes only (the claim parser judges negation of everything it reads).
_NEGATION = re.compile(r"\b(?:no|not|without|absence of|absent|negative for|rules? out|ruled out|free of|neither|"
                       r"nor)\b", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r"[.;:\n]|\bbut\b|\bhowever\b", re.IGNORECASE)


def benchmark_code(claim: Claim, spec: SubsetSpec) -> str | None:
    """The subset's class (PTB-XL superclass, CODE-15 or CPSC label) for a claim's code or raw label."""
    key = claim.code or claim.label or ""
    if spec.name == "cpsc":
        return _CPSC.get(key)
    if spec.name == "code15":
        return "NORM" if key == "normal_ecg" else (LABELS[key].code15 if key in LABELS else None)
    return LABELS[key].ptbxl if key in LABELS else _RAW_PTBXL.get(key)


@functools.lru_cache(maxsize=64)
def _code_token(code: str) -> re.Pattern[str]:
    # "ST" (sinus tachycardia) is not the ST segment: "ST depression", "ST-T", "ST/T", "ST elevation".
    not_segment = r"(?!\s*(?:segment|depression|elevation|change|abnormal|wave)|[-/]T\b)" if code == "ST" else ""
    return re.compile(rf"(?<![\w-]){re.escape(code)}(?![\w-]){not_segment}")


def _affirmed_token(text: str, pattern: re.Pattern[str]) -> bool:
    """True if ``pattern`` occurs once with no negation cue earlier in its clause."""
    for match in pattern.finditer(text):
        clause_start = max((m.end() for m in _CLAUSE_BREAK.finditer(text, 0, match.start())), default=0)
        if not _NEGATION.search(text, clause_start, match.start()):
            return True
    return False


def corrected_labels(text: str, spec: SubsetSpec) -> set[str]:
    """Labels affirmed in ``text``, read by :func:`models.claims.parse_claims`: codes or names in
    any case, negated claims ("no", "without", "absence of"...) dropped, then mapped to the
    subset's label space (PTB-XL superclasses, CODE-15 or CPSC classes); plus the label space's
    codes written as whole words that no negated claim denies.

    CODE-15 keeps the published scorer's two whole-answer classes: ``ABNORMAL`` when the word is
    present, ``NORM`` when a normal ECG is affirmed and no abnormality is.
    """
    claims = [(claim.negated, code) for claim in parse_claims(text)
              if (code := benchmark_code(claim, spec)) is not None]
    negated = {code for is_negated, code in claims if is_negated}
    # Bare codes the claim parser reads in no context ("ABNORMAL ECG: CD") still count, unless negated.
    tokens = {code for code in spec.labels if _affirmed_token(text, _code_token(code))} - negated
    found = {code for is_negated, code in claims if not is_negated} | tokens
    if spec.name != "code15":
        return found
    if _ABNORMAL.search(text):
        return (found - {"NORM"}) | {"ABNORMAL"}
    return found - {"NORM"} if found - {"NORM"} else found


def corrected_golden_labels(answer: str, spec: SubsetSpec) -> set[str]:
    """Reference labels: the answer's code tokens (split at ';' and ','; text in brackets ignored)."""
    tokens = {re.sub(r"\(.*?\)", "", part).strip() for part in re.split(r"[;,\n]", answer)}
    allowed = set(spec.labels) | ({"NORM", "ABNORMAL"} if spec.name == "code15" else set())
    return tokens & allowed


def corrected_choice(text: str, question: str, letters: str) -> str | None:
    """The option an answer picked, by :func:`models.claims.parse_choice` (an explicit letter, or
    the text of exactly one of the question's lettered options), among ``letters``; None when it
    picked none or several (scored wrong, never guessed)."""
    options = {letter: option for letter, option in OPTION_LINE.findall(question) if letter in letters}
    if len(options) < 2:
        options = {letter: "" for letter in letters}
    return parse_choice(text, options)


def corrected_ecgqa_answers(prompt: str, text: str) -> set[str]:
    """Options affirmed in the answer: whole words, any case, longest option first, no overlaps."""
    lowered = text.lower()
    taken = [False] * len(lowered)
    found: set[str] = set()
    for option in sorted(ecgqa_options(prompt), key=len, reverse=True):
        if not option:
            continue
        for match in re.finditer(rf"(?<![\w-]){re.escape(option.lower())}(?![\w-])", lowered):
            if not any(taken[match.start():match.end()]):
                taken[match.start():match.end()] = [True] * (match.end() - match.start())
                found.add(option)
    return found
