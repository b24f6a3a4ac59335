"""Tests of models.prompts: template files, the question set and the llava_v1 conversation."""

from __future__ import annotations

import re

import pytest
from transformers.utils.chat_template_utils import render_jinja_template

import models.prompts as prompts_module
from models.claims import parse_choice, parse_claims
from models.prompts import (AXIS_OPTIONS, LLAVA_V1_CHAT_TEMPLATE, LLAVA_V1_SYSTEM, RHYTHM_OPTIONS, TEMPLATE_NAMES,
                            followup_question, llava_v1_prompt, multiple_choice, question, render,
                            standard_questions)
from tools.errors import InputError
from tools.vocabulary import LABELS

# LLaVA's conv_llava_v1 (llava/conversation.py): SeparatorStyle.TWO, sep " ", sep2 "</s>".
SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the human's questions.")
VARIABLES = {"label_list": {"classes": "NORM(Normal ECG)"}, "multiple_choice": {"question": "Q?", "options": "A. x"},
             "rhythm_phrase": {"rhythms": "sinus rhythm, atrial fibrillation"}, "interval": {"interval": "PR interval"},
             "followup": {"measurement": "QRS duration is 148 ms", "leads": "leads V1-V6", "evidence": "onset 0.4 s",
                          "topic": "bundle branch block"}}


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_template_renders_completely(name: str) -> None:
    text = render(name, **VARIABLES.get(name, {}))
    assert text.strip() and "${" not in text
    assert not re.search(r"\$[A-Za-z_{]", text.replace("$LETTER", ""))


def test_missing_unknown_and_misspelt_variables_raise() -> None:
    with pytest.raises(InputError, match="needs variable 'interval'"):
        render("interval")
    with pytest.raises(InputError, match="has no variable"):
        render("interval", interval="PR interval", intervall="typo")
    with pytest.raises(InputError, match="unknown prompt template"):
        render("no_such_template")


def test_multiple_choice_keeps_the_ecgbench_answer_format() -> None:
    text = multiple_choice("Which rhythm?", ["Sinus rhythm", "Atrial fibrillation"])
    assert "'Answer: $LETTER' (without quotes)" in text
    assert text.endswith("Which rhythm?\nA. Sinus rhythm\nB. Atrial fibrillation")
    with pytest.raises(InputError, match="options"):
        multiple_choice("Which?", ["only one"])


def test_standard_questions() -> None:
    questions = standard_questions()
    names = [q.name for q in questions]
    assert len(names) == len(set(names))
    assert {"report", "ptbxl_super", "code15_labels", "code15_normal", "rhythm_mcq", "axis_mcq", "rate",
            "interval_pr_ms", "interval_qrs_ms", "interval_qt_ms", "interval_qtc_ms", "axis_degrees",
            "measurements"} == set(names)
    by_name = {q.name: q for q in questions}
    assert "NORM(Normal ECG), MI(Myocardial Infarction)" in by_name["ptbxl_super"].text
    assert "1dAVb(1st degree AV block)" in by_name["code15_labels"].text
    assert "final diagnosis" in by_name["report"].text
    for asked in questions:
        assert all(code in LABELS for code in asked.choices.values())


@pytest.mark.parametrize("name", ["rhythm_mcq", "axis_mcq"])
def test_multiple_choice_answers_map_back_to_codes(name: str) -> None:
    mcq = next(q for q in standard_questions() if q.name == name)
    options = RHYTHM_OPTIONS if name == "rhythm_mcq" else AXIS_OPTIONS
    lettered = dict(re.findall(r"^([A-Z])\. (.+)$", mcq.text, re.MULTILINE))
    assert len(lettered) == len(options)
    for letter, code in mcq.choices.items():
        assert parse_choice(f"Reasoning...\nAnswer: {letter}", lettered) == letter
        assert parse_choice(lettered[letter], lettered) == letter
        assert mcq.choices[letter] == code


def test_label_list_answers_parse_into_claims() -> None:
    assert [c.code for c in parse_claims("1dAVb; RBBB")] == ["av_block_1", "rbbb"]
    assert [c.label for c in parse_claims("MI; HYP")] == ["MI", "HYP"]


def test_followup_question_states_the_evidence() -> None:
    text = followup_question("QRS duration is 148 ms", ["V1", "V2", "V3", "V4", "V5", "V6"],
                             "QRS onset 0.412 s, offset 0.560 s", "bundle branch block")
    assert text.startswith("The measured QRS duration is 148 ms in leads V1\u2013V6 (QRS onset 0.412 s, "
                           "offset 0.560 s). Does this change your answer about bundle branch block? Answer")
    assert "in lead II (" in followup_question("PR interval is 240 ms", ["II"], "P onset 1.0 s", "AV block")
    assert "leads II, III and aVF" in followup_question("ST level is +0.2 mV", ["aVF", "II", "III"], "J+60 ms",
                                                         "inferior ST elevation")
    with pytest.raises(InputError, match="leads"):
        followup_question("x", ["V7"], "y", "z")


def test_llava_v1_prompt_matches_the_original_conversation() -> None:
    assert LLAVA_V1_SYSTEM == SYSTEM
    assert llava_v1_prompt("What is the rhythm?") == SYSTEM + " USER: <image>\nWhat is the rhythm? ASSISTANT:"
    assert llava_v1_prompt("And the axis?", [("What is the rhythm?", "Sinus rhythm.")]) == (
        SYSTEM + " USER: <image>\nWhat is the rhythm? ASSISTANT: Sinus rhythm.</s>USER: And the axis? ASSISTANT:")


@pytest.mark.parametrize("text", ["", "  ", "<image>\nWhat is this?"])
def test_llava_v1_prompt_rejects_bad_questions(text: str) -> None:
    with pytest.raises(InputError, match="question"):
        llava_v1_prompt(text)


def test_chat_template_renders_the_same_conversation() -> None:
    # The shared template adds a space after <s> and after <image> so that the converted tokenizer
    # (legacy=False) reproduces LLaVA's token ids; the text is otherwise llava_v1_prompt's.
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is the rhythm?"}]},
                {"role": "assistant", "content": "Sinus rhythm."},
                {"role": "user", "content": [{"type": "text", "text": "And the axis?"}]}]
    rendered, _ = render_jinja_template(conversations=[messages], chat_template=LLAVA_V1_CHAT_TEMPLATE,
                                        add_generation_prompt=True, bos_token="<s>", eos_token="</s>")
    text = rendered[0]
    assert text.startswith("<s> ")
    text = text[len("<s> "):].replace("<image> \n", "<image>\n")
    assert text == llava_v1_prompt("And the axis?", [("What is the rhythm?", "Sinus rhythm.")])


def test_all_is_complete() -> None:
    public = {name for name in vars(prompts_module) if not name.startswith("_")
              and getattr(getattr(prompts_module, name), "__module__", None) == "models.prompts"}
    assert public <= set(prompts_module.__all__)


def test_question_by_name() -> None:
    assert question("report") == render("report")
    with pytest.raises(InputError, match="unknown question 'nope'; known: report"):
        question("nope")


def test_an_answer_in_the_measurements_format_parses_into_every_number() -> None:
    answer = "Heart rate: 82 bpm\nPR interval: 164 ms\nQRS duration: 92 ms\nQT/QTc: 372/434 ms\nQRS axis: 38 degrees"
    assert "QT/QTc: .../... ms" in question("measurements")
    assert {c.quantity: c.value for c in parse_claims(answer)} == {
        "heart_rate_bpm": 82.0, "pr_ms": 164.0, "qrs_ms": 92.0, "qt_ms": 372.0, "qtc_ms": 434.0, "qrs_axis_deg": 38.0}
