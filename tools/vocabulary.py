"""The one label vocabulary shared by the simulator, the measurement rules, the claim parser,
the cross-check and the benchmarks.

Every diagnostic statement the project makes or parses is one of these snake_case codes. Each
code knows its category and how it maps to the PTB-XL diagnostic superclasses
(NORM, MI, STTC, CD, HYP) and to the CODE-15 classes (1dAVb, RBBB, LBBB, SB, ST, AF), so that
ECGBench's label sets can be scored from our codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from tools.errors import InputError

__all__ = ["Label", "LABELS", "RHYTHMS", "label", "ptbxl_superclasses", "code15_classes"]

Category = Literal["rhythm", "ectopy", "conduction", "axis", "hypertrophy", "ischemia",
                   "repolarization", "voltage", "overall"]


@dataclass(frozen=True)
class Label:
    """One diagnostic code: ``code`` (snake_case id), human ``name``, ``category``, and its
    PTB-XL superclass and CODE-15 class (None when it has none)."""

    code: str
    name: str
    category: Category
    ptbxl: Literal["NORM", "MI", "STTC", "CD", "HYP"] | None = None
    code15: Literal["1dAVb", "RBBB", "LBBB", "SB", "ST", "AF"] | None = None


_TABLE: tuple[Label, ...] = (
    # rhythm (exactly one per ECG)
    Label("sinus_rhythm", "sinus rhythm", "rhythm"),
    Label("sinus_bradycardia", "sinus bradycardia", "rhythm", code15="SB"),
    Label("sinus_tachycardia", "sinus tachycardia", "rhythm", code15="ST"),
    Label("sinus_arrhythmia", "sinus arrhythmia", "rhythm"),
    Label("atrial_fibrillation", "atrial fibrillation", "rhythm", code15="AF"),
    Label("atrial_flutter", "atrial flutter", "rhythm"),
    Label("av_block_3", "third-degree (complete) AV block", "rhythm", ptbxl="CD"),
    Label("paced_rhythm", "paced rhythm", "rhythm"),
    # ectopy
    Label("pac", "premature atrial complexes", "ectopy"),
    Label("pvc", "premature ventricular complexes", "ectopy"),
    # conduction
    Label("av_block_1", "first-degree AV block", "conduction", ptbxl="CD", code15="1dAVb"),
    Label("av_block_2_wenckebach", "second-degree AV block, Mobitz I (Wenckebach)", "conduction", ptbxl="CD"),
    Label("av_block_2_mobitz2", "second-degree AV block, Mobitz II", "conduction", ptbxl="CD"),
    Label("rbbb", "right bundle branch block", "conduction", ptbxl="CD", code15="RBBB"),
    Label("lbbb", "left bundle branch block", "conduction", ptbxl="CD", code15="LBBB"),
    Label("lafb", "left anterior fascicular block", "conduction", ptbxl="CD"),
    Label("ivcd", "nonspecific intraventricular conduction delay", "conduction", ptbxl="CD"),
    # axis
    Label("normal_axis", "normal QRS axis", "axis"),
    Label("left_axis_deviation", "left axis deviation", "axis"),
    Label("right_axis_deviation", "right axis deviation", "axis"),
    Label("extreme_axis_deviation", "extreme axis deviation", "axis"),
    # hypertrophy and voltage
    Label("lvh", "left ventricular hypertrophy (voltage criteria)", "hypertrophy", ptbxl="HYP"),
    Label("low_voltage", "low QRS voltage", "voltage"),
    # ischemia / injury (ST elevation by territory is read as acute MI in PTB-XL's scheme)
    Label("st_elevation_inferior", "ST elevation, inferior leads", "ischemia", ptbxl="MI"),
    Label("st_elevation_anterior", "ST elevation, anterior leads", "ischemia", ptbxl="MI"),
    Label("st_elevation_lateral", "ST elevation, lateral leads", "ischemia", ptbxl="MI"),
    Label("st_depression", "ST depression", "ischemia", ptbxl="STTC"),
    # repolarization
    Label("t_inversion", "T-wave inversion", "repolarization", ptbxl="STTC"),
    Label("long_qt", "prolonged QTc", "repolarization", ptbxl="STTC"),
    Label("short_qt", "short QTc", "repolarization", ptbxl="STTC"),
    # overall
    Label("normal_ecg", "normal ECG", "overall", ptbxl="NORM"),
)

LABELS: dict[str, Label] = {entry.code: entry for entry in _TABLE}
RHYTHMS: tuple[str, ...] = tuple(entry.code for entry in _TABLE if entry.category == "rhythm")


def label(code: str) -> Label:
    """The Label for ``code``; raises InputError naming the known codes when it is unknown."""
    try:
        return LABELS[code]
    except KeyError:
        raise InputError(f"unknown label code {code!r}; known codes: {', '.join(LABELS)}") from None


def ptbxl_superclasses(codes: Iterable[str]) -> set[str]:
    """PTB-XL diagnostic superclasses implied by ``codes`` (``{"NORM"}`` only if nothing else)."""
    classes = {label(code).ptbxl for code in codes} - {None}
    return classes - {"NORM"} if len(classes) > 1 else classes  # type: ignore[return-value]


def code15_classes(codes: Iterable[str]) -> set[str]:
    """CODE-15 classes (1dAVb, RBBB, LBBB, SB, ST, AF) implied by ``codes``."""
    return {label(code).code15 for code in codes} - {None}  # type: ignore[return-value]
