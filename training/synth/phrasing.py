"""Question and answer phrasings, several per slot, so the synthesized data does not teach one sentence.

Each slot is a tuple of :class:`string.Template` texts (``${name}`` placeholders); :func:`phrase`
picks one with the sample's random generator and fills it, raising on a missing variable (a
misspelt name never yields a half-filled sentence).
"""

from __future__ import annotations

from string import Template

import numpy as np

from tools.errors import InputError

__all__ = ["PHRASES", "phrase", "STEP_BY_STEP", "MCQ_STEP_BY_STEP", "FILL_IN"]

STEP_BY_STEP = "Think step by step, then give your final answer on the last line."
MCQ_STEP_BY_STEP = "Think step by step, then end with a last line of the form 'Answer: LETTER'."
FILL_IN = "Fill in the blank with a number only."

PHRASES: dict[str, tuple[str, ...]] = {
    # ---- basic features -------------------------------------------------------------------------
    "rate_q": ("What is the heart rate shown in this ECG?", "Estimate the ventricular rate of this ECG.",
               "How fast is the heart beating in this ECG?", "Determine the heart rate from this 12-lead ECG."),
    "rate_a": ("The ventricular rate is about ${rate} bpm, which is ${band_text}.",
               "Heart rate: approximately ${rate} beats per minute (${band_text}).",
               "The heart rate is roughly ${rate} bpm; this is ${band_text}."),
    "rate_fill": ("The heart rate in this ECG is ___ bpm.", "Ventricular rate: ___ beats per minute."),
    "rate_close": ("Is the heart rate within the normal range of 60 to 100 bpm?",
                   "Does this ECG show a normal heart rate (60-100 bpm)?"),
    "rate_mcq": ("Which range does the heart rate of this ECG fall in?", "What is the heart rate category?"),
    "interval_q": ("What is the ${name} in this ECG?", "Measure the ${name} on this ECG.",
                   "How long is the ${name} here?"),
    "interval_a": ("The ${name} is about ${value} ms, which is ${band_text}.",
                   "${Name}: approximately ${value} ms (${band_text}).",
                   "It measures roughly ${value} ms; that is ${band_text}."),
    "interval_fill": ("The ${name} in this ECG is ___ ms.", "${Name}: ___ milliseconds."),
    "interval_close": ("Is the ${name} ${abnormal_word}?", "Does this ECG show a ${abnormal_word} ${name}?"),
    "interval_mcq": ("Which best describes the ${name} in this ECG?", "How would you classify the ${name}?"),
    "axis_q": ("What is the frontal plane QRS axis of this ECG?", "Determine the electrical axis of the heart.",
               "Where does the QRS axis point on this ECG?"),
    "axis_a": ("The QRS axis is about ${value} degrees: ${class_text}.",
               "Frontal QRS axis: roughly ${value}°, i.e. ${class_text}.",
               "The electrical axis lies near ${value} degrees, which means ${class_text}."),
    "axis_class_a": ("The electrical axis shows ${class_text}.", "Axis: ${class_text}."),
    "axis_fill": ("The frontal QRS axis is ___ degrees.",),
    "axis_mcq": ("What can be inferred about the cardiac axis on this ECG?", "Which option describes the QRS axis?"),
    "wave_q": ("What is the ${wave} amplitude in lead ${lead}?", "How tall is the ${wave} in lead ${lead}?",
               "Measure the ${wave} amplitude in lead ${lead}."),
    "wave_a": ("The ${wave} in lead ${lead} measures about ${value} mV.",
               "In lead ${lead}, the ${wave} amplitude is roughly ${value} mV.",
               "${Wave} amplitude in ${lead}: approximately ${value} mV."),
    "wave_fill": ("The ${wave} amplitude in lead ${lead} is ___ mV.",),
    "t_close": ("Is the T wave inverted in lead ${lead}?", "Does lead ${lead} show an inverted T wave?"),
    # ---- rhythm ---------------------------------------------------------------------------------
    "rhythm_q": ("What is the rhythm of this ECG?", "Describe the cardiac rhythm shown in this ECG.",
                 "Identify the underlying rhythm.", "Which rhythm does this ECG show?"),
    "rhythm_a": ("The rhythm is ${rhythm}.", "This ECG shows ${rhythm}.", "Underlying rhythm: ${rhythm}."),
    "rhythm_close": ("Does this ECG show ${rhythm}?", "Is the rhythm ${rhythm}?",
                     "Is ${rhythm} present on this ECG?"),
    # ---- morphology and pathology ---------------------------------------------------------------
    "finding_close": ("Does this ECG show ${finding}?", "Is there evidence of ${finding} on this ECG?",
                      "Can ${finding} be seen in this tracing?"),
    "normal_close": ("Is this a normal ECG?", "Is this ECG within normal limits?"),
    "finding_mcq": ("Which of the following findings is present on this ECG?",
                    "Which option is supported by this ECG?"),
    "finding_open": ("What abnormalities are present on this ECG?", "List the findings of this ECG.",
                     "Interpret the morphology of this ECG."),
    "findings_a": ("The ECG shows ${findings}.", "Findings: ${findings}.", "This tracing shows ${findings}."),
    "no_findings_a": ("No abnormality is seen: this is a normal ECG.", "The ECG is within normal limits."),
    # ---- yes / no -----------------------------------------------------------------------------
    "yes": ("Yes.", "Yes, it does.", "Yes."),
    "no": ("No.", "No, it does not.", "No."),
}


def phrase(key: str, rng: np.random.Generator, **variables: str) -> str:
    """One of the ``PHRASES[key]`` texts, chosen by ``rng``, with its placeholders filled.

    Raises
    ------
    InputError
        On an unknown key or a placeholder without a value.
    """
    if key not in PHRASES:
        raise InputError(f"unknown phrase key {key!r}; known: {', '.join(PHRASES)}")
    options = PHRASES[key]
    text = options[int(rng.integers(len(options)))]
    filled = {**variables, **{name[0].upper() + name[1:]: value[0].upper() + value[1:]
                              for name, value in variables.items() if value}}
    try:
        return Template(text).substitute(filled)
    except KeyError as missing:
        raise InputError(f"phrase {key!r} needs variable {missing.args[0]!r}") from None
