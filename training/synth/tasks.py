"""ECGInstruct-style question/answer turns about one labelled record, every answer grounded.

Families (ECGInstruct's): ``basic`` (rate, intervals, axis, waves), ``rhythm``, ``morphology``
(findings and PTB-XL / CODE-15 label lists), ``report``. Forms: ``close`` (yes/no or a fixed
label list), ``open``, ``fill_in``, ``mcq`` (lettered options, "Answer: X" on the last line, as
ECGBench asks), each with or without step-by-step reasoning where the facts allow it, and
``multi_turn`` (2-3 turns of different tasks about the same image).

Every number or label an answer states is listed in the turn's ``grounding`` with its origin
(``truth``, ``label_file``, ``cardiologist_fiducials`` or ``measurement``); a task that lacks the
fact it needs returns None rather than invent it. Facts the record carries win over our
measurement, which is computed only when a task needs it (:class:`FactBook`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from models.prompts import AXIS_OPTIONS, CODE15_CLASSES, PTBXL_SUPER_CLASSES, RHYTHM_OPTIONS, multiple_choice
from models.prompts import render as render_prompt
from tools.recording import Recording
from tools.vocabulary import LABELS, RHYTHMS, label
from training.synth.phrasing import FILL_IN, MCQ_STEP_BY_STEP, STEP_BY_STEP, phrase
from training.synth.sources import Fact, LabelledRecord

__all__ = ["FAMILIES", "FORMS", "TASKS", "RATE_BANDS", "Turn", "FactBook", "draw_turns", "rate_band", "qtc_band",
           "axis_class", "measure_or_none"]

Family = Literal["basic", "rhythm", "morphology", "report"]
FAMILIES: tuple[str, ...] = ("basic", "rhythm", "morphology", "report")
FORMS: tuple[str, ...] = ("close", "open", "fill_in", "mcq", "multi_turn")
Grounding = list[dict[str, Any]]


@dataclass(frozen=True)
class Turn:
    """One question and its grounded answer; ``rewritable`` marks free-text answers an LLM may rephrase."""

    question: str
    answer: str
    task: str
    family: str
    form: str
    reasoning: bool
    grounding: tuple[dict[str, Any], ...]
    rewritable: bool


# ---- facts -----------------------------------------------------------------------------------------
_MEASURED = {"heart_rate_bpm": ("heart_rate_bpm",), "pr_ms": ("pr_ms",), "qrs_ms": ("qrs_ms",),
             "qt_ms": ("qt_ms",), "qtc_ms": ("qtc_ms", "bazett"), "qrs_axis_deg": ("axis_deg", "qrs")}


def measure_or_none(recording: Recording) -> dict[str, Any] | None:
    """Our measurement's public JSON, or None when the recording supports none or the measurement
    raised a technical flag (noise, few beats, pacing, lead reversal...): training answers are only
    written from measurements we would trust."""
    from tools.errors import ECGError
    from tools.measure import MeasureConfig, measure

    try:
        result = measure(recording, MeasureConfig()).to_json_dict()
    except ECGError:
        return None
    return None if result["quality"]["flags"] else result


class FactBook:
    """The record's facts, then our measurement (computed once, on first need)."""

    def __init__(self, record: LabelledRecord,
                 measure: Callable[[Recording], dict[str, Any] | None] = measure_or_none) -> None:
        self.record = record
        self._measure = measure
        self._measured: dict[str, Any] | None = None
        self._done = False

    def measurement(self) -> dict[str, Any] | None:
        if not self._done:
            self._measured, self._done = self._measure(self.record.recording), True
        return self._measured

    def number(self, name: str) -> Fact | None:
        """``name`` (a key of ``_MEASURED``) from the record, else measured (unless the record's facts
        are complete: then a missing value is undefined), else None."""
        if name in self.record.facts or self.record.facts_complete:
            return self.record.facts.get(name)
        value: Any = (self.measurement() or {}).get("global")
        for key in _MEASURED[name]:
            value = value.get(key) if isinstance(value, dict) else None
        return Fact(float(value), "measurement") if isinstance(value, (int, float)) and np.isfinite(value) else None

    def lead(self, lead_name: str, key: str) -> Fact | None:
        """A per-lead amplitude (``r_mv``, ``s_mv``, ``t_mv``...) from our measurement's lead matrix."""
        for row in (self.measurement() or {}).get("leads", []):
            if row["lead"] == lead_name and row["usable"] and row.get(key) is not None:
                return Fact(float(row[key]), "measurement")
        return None

    def has(self, code: str) -> bool | None:
        """True/False when the source states ``code``'s presence, None when it cannot say."""
        if code in self.record.codes:
            return True
        return False if code in self.record.known_codes else None


def _g(name: str, fact: Fact, digits: int = 1) -> dict[str, Any]:
    return {"fact": name, "value": round(float(fact.value), digits), "origin": fact.origin}


def _labels_g(book: FactBook, codes: list[str] | tuple[str, ...]) -> dict[str, Any]:
    return {"fact": "labels", "value": sorted(codes), "origin": book.record.label_origin}


def _pick(rng: np.random.Generator, items: list[Any] | tuple[Any, ...]) -> Any:
    return items[int(rng.integers(len(items)))]


def _mcq(rng: np.random.Generator, question: str, options: list[str], correct: str,
         reasoning: bool = False) -> tuple[str, str]:
    """Options in random order; ECGBench's wrapper ("Provide the correct option directly"), or with
    reasoning the same options under an instruction to reason first and end on the letter."""
    order = [options[i] for i in rng.permutation(len(options))]
    letter = chr(ord("A") + order.index(correct))
    if reasoning:
        lettered = "\n".join(f"{chr(ord('A') + i)}. {option}" for i, option in enumerate(order))
        return f"{question}\n{lettered}\n{MCQ_STEP_BY_STEP}", f"Answer: {letter}"
    return multiple_choice(question, order), f"Answer: {letter}"


def _ask(text: str, form: str, reasoning: bool) -> str:
    suffix = FILL_IN if form == "fill_in" else STEP_BY_STEP if reasoning and form != "mcq" else ""
    return f"{text}\n{suffix}" if suffix else text


def _steps(lines: list[str], final: str) -> str:
    return "\n".join(f"Step {i}: {line}" for i, line in enumerate(lines, 1)) + f"\n{final}"


# ---- basic features --------------------------------------------------------------------------------
RATE_BANDS: tuple[tuple[str, str, str], ...] = (  # (name, text in an answer, multiple-choice option)
    ("bradycardia", "slower than normal, a bradycardia under 60 bpm", "Below 60 bpm (bradycardia)"),
    ("normal", "within the normal range of 60-100 bpm", "60 to 100 bpm (normal rate)"),
    ("tachycardia", "faster than normal, a tachycardia over 100 bpm", "Above 100 bpm (tachycardia)"))


def rate_band(rate_bpm: float) -> int:
    """Index into the rate bands: 0 under 60 bpm, 1 from 60 to 100 bpm, 2 over 100 bpm."""
    return 0 if rate_bpm < 60.0 else 2 if rate_bpm > 100.0 else 1


def qtc_band(qtc_ms: float) -> int:
    """0 short (<= 340 ms), 1 normal, 2 prolonged (>= 470 ms): the simulator's Bazett limits."""
    return 0 if qtc_ms <= 340.0 else 2 if qtc_ms >= 470.0 else 1


def _rate(book: FactBook, rng: np.random.Generator, form: str, reasoning: bool) -> tuple[str, str, Grounding] | None:
    fact = book.number("heart_rate_bpm")
    if fact is None:
        return None
    rate, band = round(float(fact.value)), rate_band(float(fact.value))
    name, band_text, option = RATE_BANDS[band]
    grounding = [_g("heart_rate_bpm", fact)]
    if form == "fill_in":
        return _ask(phrase("rate_fill", rng), form, False), str(rate), grounding
    if form == "close":
        answer = phrase("yes" if band == 1 else "no", rng) + f" The rate is about {rate} bpm ({band_text})."
        question = phrase("rate_close", rng)
    elif form == "mcq":
        question, answer = _mcq(rng, phrase("rate_mcq", rng), [o for _, _, o in RATE_BANDS], option, reasoning)
    else:
        question, answer = phrase("rate_q", rng), phrase("rate_a", rng, rate=str(rate), band_text=band_text)
    if reasoning:
        rr_ms = round(60000.0 / float(fact.value))
        answer = _steps([f"The mean RR interval is about {rr_ms} ms.",
                         f"Heart rate = 60000 / {rr_ms} ≈ {rate} bpm.",
                         f"Normal is 60-100 bpm, so the rate is {band_text}."], answer)
    return _ask(question, form, reasoning), answer, grounding


_INTERVALS = {  # name, bands (upper limits exclusive, texts), word for the abnormal side
    "pr_ms": ("PR interval", ((120.0, "short"), (200.0 + 1e-9, "normal"), (np.inf, "prolonged")), "prolonged"),
    "qrs_ms": ("QRS duration", ((120.0, "normal, a narrow QRS"), (np.inf, "prolonged, a wide QRS")), "prolonged"),
    "qt_ms": ("QT interval", (), ""),
    "qtc_ms": ("corrected QT interval (QTc, Bazett)", ((340.0 + 1e-9, "short"), (470.0, "normal"),
                                                       (np.inf, "prolonged")), "prolonged"),
}


def _interval(book: FactBook, rng: np.random.Generator, form: str,
              reasoning: bool) -> tuple[str, str, Grounding] | None:
    names = [n for n in _INTERVALS if (form in ("open", "fill_in") or _INTERVALS[n][1]) and book.number(n)]
    if not names:
        return None
    key = _pick(rng, names)
    name, bands, abnormal = _INTERVALS[key]
    fact = book.number(key)
    assert fact is not None  # names holds only available facts
    value = round(float(fact.value))
    band = next((text for limit, text in bands if float(fact.value) < limit), "")
    grounding = [_g(key, fact)]
    if form == "fill_in":
        return _ask(phrase("interval_fill", rng, name=name), form, False), str(value), grounding
    if form == "close":
        yes = band.startswith(abnormal)
        question = phrase("interval_close", rng, name=name, abnormal_word=abnormal)
        answer = phrase("yes" if yes else "no", rng) + f" The {name} is about {value} ms ({band})."
    elif form == "mcq":
        texts = [text[0].upper() + text[1:] for _, text in bands]
        question, answer = _mcq(rng, phrase("interval_mcq", rng, name=name), texts, band[0].upper() + band[1:],
                                reasoning)
    else:
        band_text = band or "to be read against the rate (see QTc)"
        question, answer = phrase("interval_q", rng, name=name), phrase("interval_a", rng, name=name,
                                                                         value=str(value), band_text=band_text)
    if reasoning and bands:
        limits = ", ".join(f"{text} below {limit:.0f} ms" for limit, text in bands if np.isfinite(limit))
        answer = _steps([f"The {name} measures about {value} ms.", f"Reference: {limits}.",
                         f"So it is {band}."], answer)
    return _ask(question, form, reasoning and bool(bands)), answer, grounding


_AXIS_CODES = tuple(code for code, _ in AXIS_OPTIONS)


def axis_class(axis_deg: float) -> str:
    """The vocabulary axis code of a frontal QRS axis in degrees (AHA limits -30° and +90°)."""
    if -30.0 <= axis_deg <= 90.0:
        return "normal_axis"
    if -90.0 <= axis_deg < -30.0:
        return "left_axis_deviation"
    return "right_axis_deviation" if 90.0 < axis_deg <= 180.0 else "extreme_axis_deviation"


def _axis(book: FactBook, rng: np.random.Generator, form: str, reasoning: bool) -> tuple[str, str, Grounding] | None:
    fact = book.number("qrs_axis_deg")
    labelled = next((code for code in book.record.codes if code in _AXIS_CODES), None)
    if fact is not None and labelled is not None and axis_class(float(fact.value)) != labelled:
        fact = None  # a measured angle that contradicts the label is not stated
    code = labelled or (axis_class(float(fact.value)) if fact is not None else None)
    if code is None or (form == "fill_in" and fact is None):
        return None
    grounding = ([_g("qrs_axis_deg", fact)] if fact is not None else []) + \
        ([_labels_g(book, [labelled])] if labelled else [])
    class_text = label(code).name
    if form == "fill_in" and fact is not None:  # always true here: fill-in without an angle returned above
        return _ask(phrase("axis_fill", rng), form, False), str(round(float(fact.value))), grounding
    if form == "mcq":
        options = dict(AXIS_OPTIONS)
        question, answer = _mcq(rng, phrase("axis_mcq", rng), list(options.values()), options[code],
                                reasoning and fact is not None)
    elif fact is not None:
        question = phrase("axis_q", rng)
        answer = phrase("axis_a", rng, value=str(round(float(fact.value))), class_text=class_text)
    else:
        question, answer = phrase("axis_q", rng), phrase("axis_class_a", rng, class_text=class_text)
    if reasoning and fact is not None:
        answer = _steps([f"The net QRS vector in the frontal plane points to about {round(float(fact.value))}°.",
                         "Normal lies between -30° and +90°; below -30° is left, above +90° right deviation.",
                         f"So the ECG shows {class_text}."], answer)
    return _ask(question, form, reasoning and fact is not None), answer, grounding


_WAVES = {"r_mv": "R wave", "s_mv": "S wave", "t_mv": "T wave"}
_T_INVERTED_MV = 0.1  # |T| below this is flat, neither upright nor inverted: no yes/no answer


def _wave(book: FactBook, rng: np.random.Generator, form: str, reasoning: bool) -> tuple[str, str, Grounding] | None:
    lead_name = _pick(rng, ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"))
    if form == "close":
        fact = book.lead(lead_name, "t_mv")
        if fact is None or abs(float(fact.value)) < _T_INVERTED_MV:
            return None
        inverted = float(fact.value) < 0
        answer = phrase("yes" if inverted else "no", rng) + \
            f" The T wave in {lead_name} is {'negative' if inverted else 'upright'} ({float(fact.value):+.2f} mV)."
        return phrase("t_close", rng, lead=lead_name), answer, [_g(f"t_mv:{lead_name}", fact, 3)]
    key = _pick(rng, list(_WAVES))
    fact = book.lead(lead_name, key)
    if fact is None or (key != "t_mv" and abs(float(fact.value)) < 0.05):
        return None
    value = f"{abs(float(fact.value)):.2f}" if key == "s_mv" else f"{float(fact.value):.2f}"
    grounding = [_g(f"{key}:{lead_name}", fact, 3)]
    if form == "fill_in":
        return _ask(phrase("wave_fill", rng, wave=_WAVES[key], lead=lead_name), form, False), value, grounding
    return (phrase("wave_q", rng, wave=_WAVES[key], lead=lead_name),
            phrase("wave_a", rng, wave=_WAVES[key], lead=lead_name, value=value), grounding)


# ---- rhythm ----------------------------------------------------------------------------------------
_RHYTHM_SIGNS = {  # (regularity, atrial activity): textbook criteria of each rhythm label
    "sinus_rhythm": ("regular", "an upright P wave precedes every QRS complex"),
    "sinus_bradycardia": ("regular", "an upright P wave precedes every QRS complex"),
    "sinus_tachycardia": ("regular", "an upright P wave precedes every QRS complex"),
    "sinus_arrhythmia": ("irregular, with RR intervals varying gradually",
                         "an upright P wave precedes every QRS complex"),
    "atrial_fibrillation": ("irregularly irregular", "there are no distinct P waves, only fibrillatory waves"),
    "atrial_flutter": ("regular or regularly irregular", "saw-tooth flutter waves replace the P waves"),
    "av_block_3": ("regular and slow", "P waves march through independently of the QRS complexes"),
}
_RHYTHM_TEXT = dict(RHYTHM_OPTIONS)


def _rr_exception(codes: tuple[str, ...]) -> str:
    """What breaks the rhythm's own regularity on this record (dropped or premature beats)."""
    if any(code.startswith("av_block_2") for code in codes):
        return ", apart from P waves that are not followed by a QRS complex (dropped beats)"
    return ", apart from premature beats" if {"pac", "pvc"} & set(codes) else ""


def _rhythm(book: FactBook, rng: np.random.Generator, form: str, reasoning: bool) -> tuple[str, str, Grounding] | None:
    rhythm = next((code for code in book.record.codes if code in RHYTHMS), None)
    if rhythm is None:
        return None
    name = label(rhythm).name
    grounding = [_labels_g(book, [rhythm])]
    if form == "close":
        others = [code for code in RHYTHMS if code != rhythm and code in book.record.known_codes]
        target = rhythm if not others or rng.uniform() < 0.5 else _pick(rng, others)
        question = phrase("rhythm_close", rng, rhythm=label(target).name)
        answer = phrase("yes" if target == rhythm else "no", rng) + f" The rhythm is {name}."
    elif form == "mcq":
        others = [code for code in RHYTHMS if code != rhythm]
        picked = [others[i] for i in rng.permutation(len(others))[:3]] + [rhythm]
        question, answer = _mcq(rng, phrase("rhythm_q", rng), [_RHYTHM_TEXT[c] for c in picked], _RHYTHM_TEXT[rhythm],
                                reasoning)
    else:
        question, answer = phrase("rhythm_q", rng), phrase("rhythm_a", rng, rhythm=name)
        ectopy = [label(code).name for code in ("pac", "pvc") if code in book.record.codes]
        answer += f" There are {' and '.join(ectopy)}." if ectopy else ""
        grounding = [_labels_g(book, [rhythm] + [c for c in ("pac", "pvc") if c in book.record.codes])]
    if reasoning:
        regularity, atrial = _RHYTHM_SIGNS[rhythm]
        lines = [f"The RR intervals are {regularity}{_rr_exception(book.record.codes)}.", f"Atrial activity: {atrial}."]
        fact = book.number("heart_rate_bpm")
        if fact is not None:
            lines.append(f"The ventricular rate is about {round(float(fact.value))} bpm.")
            grounding.append(_g("heart_rate_bpm", fact))
        answer = _steps(lines + [f"These findings indicate {name}."], answer)
    return _ask(question, form, reasoning), answer, grounding


# ---- morphology and pathology ------------------------------------------------------------------------
_FINDING_CATEGORIES = ("ectopy", "conduction", "hypertrophy", "voltage", "ischemia", "repolarization", "overall")
_SUPPORT = {"rbbb": "qrs_ms", "lbbb": "qrs_ms", "ivcd": "qrs_ms", "av_block_1": "pr_ms", "long_qt": "qtc_ms",
            "short_qt": "qtc_ms"}


def _findings(book: FactBook) -> tuple[list[str], list[str]]:
    """(present, known absent) finding codes, vocabulary order."""
    codes = [c for c in LABELS if LABELS[c].category in _FINDING_CATEGORIES]
    return ([c for c in codes if book.has(c) is True], [c for c in codes if book.has(c) is False])


def _finding(book: FactBook, rng: np.random.Generator, form: str, reasoning: bool) -> tuple[str, str, Grounding] | None:
    present, absent = _findings(book)
    if form == "open":
        shown = [c for c in book.record.codes if c not in ("sinus_rhythm", "normal_axis", "normal_ecg")]
        if not shown and "normal_ecg" not in book.record.codes:
            return None  # the source cannot say the ECG is normal: no "nothing found" answer
        answer = phrase("findings_a", rng, findings=_join([label(c).name for c in shown])) if shown \
            else phrase("no_findings_a", rng)
        return phrase("finding_open", rng), answer, [_labels_g(book, shown or ["normal_ecg"])]
    if form == "mcq":
        if not present or len(absent) < 3:
            return None
        correct = _pick(rng, present)
        distractors = [absent[i] for i in rng.permutation(len(absent))[:3]]
        texts = [label(c).name[0].upper() + label(c).name[1:] for c in [correct, *distractors]]
        question, answer = _mcq(rng, phrase("finding_mcq", rng), texts, texts[0])
        return question, answer, [_labels_g(book, present)]
    pool = present if present and (not absent or rng.uniform() < 0.5) else absent
    if not pool:
        return None
    target = _pick(rng, pool)
    answer = phrase("yes" if target in present else "no", rng)
    grounding = [_labels_g(book, present)]
    support = book.number(_SUPPORT[target]) if reasoning and target in _SUPPORT else None
    if support is not None:
        name = _INTERVALS[_SUPPORT[target]][0]
        answer = _steps([f"The {name} is about {round(float(support.value))} ms.",
                         f"{label(target).name[0].upper() + label(target).name[1:]} is "
                         f"{'present' if target in present else 'absent'} on this ECG."], answer)
        grounding.append(_g(_SUPPORT[target], support))
    question = phrase("normal_close", rng) if target == "normal_ecg" else \
        phrase("finding_close", rng, finding=label(target).name)
    return _ask(question, form, support is not None), answer, grounding


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _label_list(book: FactBook, rng: np.random.Generator, form: str,
                reasoning: bool) -> tuple[str, str, Grounding] | None:
    """ECGBench's close-ended label-list question over PTB-XL superclasses or CODE-15 classes."""
    code15_known = all(book.has(c) is not None for c in LABELS if LABELS[c].code15)
    choices = [kind for kind, ok in (("ptbxl", bool(book.record.ptbxl)),
                                     ("code15", code15_known and bool(book.record.code15))) if ok]
    if not choices:
        return None
    kind = _pick(rng, choices)
    options = PTBXL_SUPER_CLASSES if kind == "ptbxl" else CODE15_CLASSES
    present = book.record.ptbxl if kind == "ptbxl" else book.record.code15
    chosen = [option for option in options if option.split("(")[0] in present]
    answer = "; ".join(option.split("(")[0] if kind == "ptbxl" else option for option in chosen)
    question = render_prompt("label_list", classes=", ".join(options))
    return question, answer, [{"fact": kind, "value": sorted(present), "origin": book.record.label_origin}]


# ---- report ----------------------------------------------------------------------------------------
def _report(book: FactBook, rng: np.random.Generator, form: str, reasoning: bool) -> tuple[str, str, Grounding] | None:
    rhythm = next((code for code in book.record.codes if code in RHYTHMS), None)
    if rhythm is None:
        return None
    lines, grounding = [f"Rhythm: {label(rhythm).name}."], [_labels_g(book, book.record.codes)]
    for key, text in (("heart_rate_bpm", "Heart rate: {} bpm."), ("pr_ms", "PR interval: {} ms."),
                      ("qrs_ms", "QRS duration: {} ms."), ("qt_ms", "QT interval: {} ms."),
                      ("qtc_ms", "QTc (Bazett): {} ms."), ("qrs_axis_deg", "QRS axis: {} degrees.")):
        fact = book.number(key)
        if fact is not None and not (key == "qrs_axis_deg" and _axis_conflict(book, fact)):
            lines.append(text.format(round(float(fact.value))))
            grounding.append(_g(key, fact))
    findings = [label(c).name for c in book.record.codes if c not in (rhythm, "normal_ecg", "normal_axis")]
    lines.append(f"Findings: {_join(findings)}." if findings else "No further findings.")
    final = "normal ECG" if "normal_ecg" in book.record.codes else _join([label(rhythm).name, *findings])
    lines.append(f"Final diagnosis: {final}.")
    question = render_prompt("report") if rng.uniform() < 0.5 else render_prompt("report_ptbxl")
    return question, " ".join(lines), grounding


def _axis_conflict(book: FactBook, fact: Fact) -> bool:
    labelled = next((code for code in book.record.codes if code in _AXIS_CODES), None)
    return labelled is not None and axis_class(float(fact.value)) != labelled


# ---- drawing turns -----------------------------------------------------------------------------------
TaskFn = Callable[[FactBook, np.random.Generator, str, bool], "tuple[str, str, Grounding] | None"]
TASKS: dict[str, tuple[str, tuple[str, ...], bool, TaskFn]] = {
    # name: (family, forms, can reason, function)
    "rate": ("basic", ("open", "close", "fill_in", "mcq"), True, _rate),
    "interval": ("basic", ("open", "close", "fill_in", "mcq"), True, _interval),
    "axis": ("basic", ("open", "fill_in", "mcq"), True, _axis),
    "wave": ("basic", ("open", "close", "fill_in"), False, _wave),
    "rhythm": ("rhythm", ("open", "close", "mcq"), True, _rhythm),
    "finding": ("morphology", ("open", "close", "mcq"), True, _finding),
    "label_list": ("morphology", ("close",), False, _label_list),
    "report": ("report", ("open",), False, _report),
}


def _one_turn(book: FactBook, rng: np.random.Generator, families: tuple[str, ...], reasoning_fraction: float,
              exclude: set[str]) -> Turn | None:
    """A family uniformly, then a (task, form) pair of it uniformly: every form of a task weighs the same."""
    pairs = {family: [(name, form) for name, (fam, forms, *_) in TASKS.items() if fam == family
                      and name not in exclude for form in forms] for family in families}
    pairs = {family: options for family, options in pairs.items() if options}
    for _ in range(12):  # a few draws: some tasks have no fact to stand on for this record
        if not pairs:
            return None
        name, form = _pick(rng, pairs[_pick(rng, sorted(pairs))])
        family, _, can_reason, fn = TASKS[name]
        reasoning = can_reason and form != "fill_in" and bool(rng.uniform() < reasoning_fraction)
        made = fn(book, rng, form, reasoning)
        if made is not None:
            question, answer, grounding = made
            return Turn(question, answer, name, family, form, "Step 1:" in answer, tuple(grounding),
                        rewritable=form == "open" and name != "report" and "Step 1:" not in answer)
    return None


def draw_turns(book: FactBook, rng: np.random.Generator, *, families: tuple[str, ...], reasoning_fraction: float,
               multi_turn_fraction: float) -> list[Turn]:
    """The turns of one conversation: one turn, or 2-3 of different tasks with ``multi_turn_fraction``.

    Returns an empty list when no task of ``families`` can be grounded on this record.
    """
    count = int(rng.integers(2, 4)) if rng.uniform() < multi_turn_fraction else 1
    turns: list[Turn] = []
    for _ in range(count):
        turn = _one_turn(book, rng, families, reasoning_fraction, {t.task for t in turns})
        if turn is None:
            break
        turns.append(turn)
    return turns
