"""The questions the agent asks PULSE, in the styles PULSE was trained and benchmarked on, and the
llava_v1 conversation template that wraps them.

Question texts live in ``models/prompts/*.txt`` as :class:`string.Template` files (``${name}``
placeholders; ``$$`` is a literal dollar). Their sources:

- ``report.txt``: an ECGInstruct report-generation instruction (ends in a final diagnosis);
  ``report_ptbxl.txt``: the ECGBench PTB-XL Report question.
- ``label_list.txt``: the ECGBench close-ended phrasing (found verbatim in its CPSC subset),
  filled with the PTB-XL superclasses or the CODE-15 classes; ``code15_normal.txt``: an ECGBench
  CODE-15 NORM/ABNORMAL question.
- ``multiple_choice.txt``: the ECGBench MCQ wrapper (CSN, G12EC: "... 'Answer: $LETTER' ...");
  the axis options follow an ECGInstruct axis question.
- ``rhythm_phrase.txt``: an ECGInstruct close-ended rhythm question.
- ``rate.txt``, ``interval.txt``, ``axis_degrees.txt``: numeric questions with the unit stated;
  ``measurements.txt`` asks for all of them in one answer, one labelled line each.
- ``followup.txt``: the targeted follow-up that shows the model measured evidence on a dispute.

Answers are read back with :func:`models.claims.parse_claims` and :func:`models.claims.parse_choice`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from string import Template

from pydantic import BaseModel, ConfigDict

from tools.errors import InputError
from tools.vocabulary import RHYTHMS, label

__all__ = ["Question", "TEMPLATE_NAMES", "LLAVA_V1_SYSTEM", "LLAVA_V1_CHAT_TEMPLATE", "PTBXL_SUPER_CLASSES",
           "CODE15_CLASSES", "RHYTHM_OPTIONS", "AXIS_OPTIONS", "INTERVAL_NAMES", "render",
           "multiple_choice", "followup_question", "standard_questions", "question", "llava_v1_prompt"]

_TEMPLATE_DIR = Path(__file__).with_name("prompts")
TEMPLATE_NAMES: tuple[str, ...] = tuple(sorted(p.stem for p in _TEMPLATE_DIR.glob("*.txt")))

LLAVA_V1_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                   "The assistant gives helpful, detailed, and polite answers to the human's questions.")
LLAVA_V1_CHAT_TEMPLATE: str = Path(__file__).with_name("chat_template.jinja").read_text(encoding="utf-8")
"""The same conversation as :func:`llava_v1_prompt`, as a Jinja chat template for HF processors and
``vllm serve --chat-template`` (one file, shared with the checkpoint converter)."""

PTBXL_SUPER_CLASSES: tuple[str, ...] = ("NORM(Normal ECG)", "MI(Myocardial Infarction)", "STTC(ST/T Change)",
                                        "CD(Conduction Disturbance)", "HYP(Hypertrophy)")
CODE15_CLASSES: tuple[str, ...] = ("1dAVb(1st degree AV block)", "RBBB(right bundle branch block)",
                                   "LBBB(left bundle branch block)", "SB(sinus bradycardia)",
                                   "ST(sinus tachycardia)", "AF(atrial fibrillation)")
RHYTHM_OPTIONS: tuple[tuple[str, str], ...] = tuple((code, label(code).name[0].upper() + label(code).name[1:])
                                                    for code in RHYTHMS)
"""(vocabulary code, option text) of the rhythm multiple-choice question, in option order."""
AXIS_OPTIONS: tuple[tuple[str, str], ...] = (
    ("normal_axis", "The axis is normal"), ("left_axis_deviation", "The axis is deviated to the left"),
    ("right_axis_deviation", "The axis is deviated to the right"),
    ("extreme_axis_deviation", "The axis is in the extreme (northwest) quadrant"))
INTERVAL_NAMES: dict[str, str] = {"pr_ms": "PR interval", "qrs_ms": "QRS duration", "qt_ms": "QT interval",
                                  "qtc_ms": "corrected QT interval (QTc)"}
_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


class Question(BaseModel):
    """One question for the model.

    Attributes
    ----------
    name : str
        Stable identifier ("report", "rhythm_mcq", "interval_qrs_ms"...).
    text : str
        The question, without the conversation template (clients apply it).
    choices : dict of str to str
        For multiple choice: option letter -> :mod:`tools.vocabulary` code; empty otherwise.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    text: str
    choices: dict[str, str] = {}


@cache
def _template(name: str) -> Template:
    if name not in TEMPLATE_NAMES:
        raise InputError(f"unknown prompt template {name!r}; known: {', '.join(TEMPLATE_NAMES)}")
    return Template((_TEMPLATE_DIR / f"{name}.txt").read_text(encoding="utf-8"))


def render(name: str, **variables: str) -> str:
    """The template ``models/prompts/<name>.txt`` with its ``${...}`` placeholders filled.

    Raises
    ------
    InputError
        If the template is unknown, a placeholder has no value, or a value is given that the
        template does not use (a misspelt name would otherwise be silently ignored).
    """
    template = _template(name)
    used = {m.group("named") or m.group("braced") for m in template.pattern.finditer(template.template)} - {None}
    unused = set(variables) - used
    if unused:
        raise InputError(f"prompt template {name!r} has no variable(s) {sorted(unused)}; it uses {sorted(used)}")
    try:
        return template.substitute(variables)
    except KeyError as missing:
        raise InputError(f"prompt template {name!r} needs variable {missing.args[0]!r}; "
                         f"it uses {sorted(used)}") from None


def multiple_choice(question: str, options: Sequence[str]) -> str:
    """An ECGBench-style multiple-choice question with options lettered A, B, C... (2 to 26 options)."""
    if not 2 <= len(options) <= 26 or any(not str(o).strip() for o in options):
        raise InputError(f"options must be 2 to 26 non-empty strings, got {list(options)!r}")
    lettered = "\n".join(f"{chr(ord('A') + i)}. {option}" for i, option in enumerate(options))
    return render("multiple_choice", question=question, options=lettered)


def followup_question(measurement: str, leads: Sequence[str], evidence: str, topic: str) -> str:
    """The targeted follow-up that confronts the model with a measurement on a disputed point.

    Parameters
    ----------
    measurement : str
        The measured fact as a clause, e.g. "QRS duration is 148 ms".
    leads : sequence of str
        Standard lead names it was measured in (order I, II, III, aVR, aVL, aVF, V1-V6); a
        contiguous precordial run is written as a range ("leads V1–V6").
    evidence : str
        Where to look, e.g. "QRS onset 0.412 s, offset 0.560 s".
    topic : str
        The disputed finding, e.g. "bundle branch block".

    Raises
    ------
    InputError
        If a lead name is not standard or a text field is empty.
    """
    unknown = [lead for lead in leads if lead not in _LEADS]
    if unknown or not leads:
        raise InputError(f"leads must be a non-empty list of {', '.join(_LEADS)}; got {list(leads)!r}")
    if not all(part.strip() for part in (measurement, evidence, topic)):
        raise InputError("measurement, evidence and topic must be non-empty")
    return render("followup", measurement=measurement, leads=_lead_phrase(leads), evidence=evidence, topic=topic)


def _lead_phrase(leads: Sequence[str]) -> str:
    ordered = sorted(dict.fromkeys(leads), key=_LEADS.index)
    if len(ordered) == 1:
        return f"lead {ordered[0]}"
    indices = [_LEADS.index(lead) for lead in ordered]
    contiguous_v = all(lead.startswith("V") for lead in ordered) and indices == list(range(indices[0], indices[-1] + 1))
    if contiguous_v and len(ordered) > 2:
        return f"leads {ordered[0]}\u2013{ordered[-1]}"
    return "leads " + ", ".join(ordered[:-1]) + " and " + ordered[-1]


def standard_questions() -> tuple[Question, ...]:
    """The question set the agent asks about one ECG image, in the order it asks them: a report,
    the PTB-XL and CODE-15 label lists, the rhythm and axis multiple choices, the rate, the
    intervals, the QRS axis in degrees, and all the numbers at once ("measurements")."""
    rhythm_letters = {chr(ord("A") + i): code for i, (code, _) in enumerate(RHYTHM_OPTIONS)}
    axis_letters = {chr(ord("A") + i): code for i, (code, _) in enumerate(AXIS_OPTIONS)}
    questions = [
        Question(name="report", text=render("report")),
        Question(name="ptbxl_super", text=render("label_list", classes=", ".join(PTBXL_SUPER_CLASSES))),
        Question(name="code15_labels", text=render("label_list", classes=", ".join(CODE15_CLASSES))),
        Question(name="code15_normal", text=render("code15_normal")),
        Question(name="rhythm_mcq", choices=rhythm_letters, text=multiple_choice(
            "Which rhythm does this ECG image show?", [text for _, text in RHYTHM_OPTIONS])),
        Question(name="axis_mcq", choices=axis_letters, text=multiple_choice(
            "What can be inferred about the cardiac axis on this ECG?", [text for _, text in AXIS_OPTIONS])),
        Question(name="rate", text=render("rate")),
    ]
    questions += [Question(name=f"interval_{quantity}", text=render("interval", interval=name))
                  for quantity, name in INTERVAL_NAMES.items()]
    questions.append(Question(name="axis_degrees", text=render("axis_degrees")))
    questions.append(Question(name="measurements", text=render("measurements")))
    return tuple(questions)


def question(name: str) -> str:
    """The text of the standard question ``name`` (see :func:`standard_questions`).

    Raises
    ------
    InputError
        If ``name`` is not a standard question, naming the known ones.
    """
    by_name = {q.name: q.text for q in standard_questions()}
    if name not in by_name:
        raise InputError(f"unknown question {name!r}; known: {', '.join(by_name)}")
    return by_name[name]


def llava_v1_prompt(question: str, history: Sequence[tuple[str, str]] = ()) -> str:
    """The llava_v1 prompt PULSE was trained with, as LLaVA's ``conv_llava_v1.get_prompt()`` builds it.

    ``"<system> USER: <image>\\n{question} ASSISTANT:"``; with earlier turns ``history`` =
    ((question, answer), ...) the image stays in the first user turn and each answer ends with
    ``</s>``. The tokenizer adds the BOS token.

    Raises
    ------
    InputError
        If a question is empty or contains ``<image>`` (the template places the one image itself).
    """
    turns = [*history, (question, None)]
    prompt = LLAVA_V1_SYSTEM + " "
    for i, (asked, answer) in enumerate(turns):
        if not asked.strip() or "<image>" in asked:
            raise InputError(f"question must be non-empty text without '<image>', got {asked!r}")
        prompt += "USER: " + ("<image>\n" if i == 0 else "") + asked + " "
        prompt += "ASSISTANT:" if answer is None else f"ASSISTANT: {answer}</s>"
    return prompt
