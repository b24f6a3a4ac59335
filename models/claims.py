"""Claim parser: free-text MLLM answers about an ECG -> structured, checkable claims.

PULSE (and any other model the agent asks) answers in prose, label lists or multiple-choice
letters. :func:`parse_claims` turns such an answer into :class:`Claim` objects that the agent
cross-checks one by one against our measurements: a rhythm, a rate, an interval, an axis or a
diagnosis, each with its negation ("no evidence of atrial fibrillation"), its hedging ("possible
LVH"), the leads it names and the sentence it came from. :func:`parse_choice` reads the option a
multiple-choice answer picked.

The parser is rules only (regular expressions; no model): pure, deterministic and fast. Every
diagnostic code it emits is a :mod:`tools.vocabulary` code; a finding the vocabulary lacks (RVH,
incomplete RBBB, old MI, a PTB-XL superclass such as "STTC"...) is kept as a raw ``label`` with
``code=None`` so that it is neither lost nor silently mapped to a wrong code. The rules and their
measured precision/recall are described in docs/claims.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from tools.errors import InputError
from tools.vocabulary import LABELS

__all__ = ["Claim", "Kind", "Quantity", "LABEL_KINDS", "parse_claims", "parse_choice"]

Kind = Literal["rhythm", "rate", "interval", "axis", "diagnosis"]
Quantity = Literal["heart_rate_bpm", "atrial_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms",
                   "p_duration_ms", "qrs_axis_deg", "p_axis_deg", "t_axis_deg"]

_QUANTITY_KIND: dict[str, tuple[Kind, str]] = {
    "heart_rate_bpm": ("rate", "bpm"), "atrial_rate_bpm": ("rate", "bpm"),
    "pr_ms": ("interval", "ms"), "qrs_ms": ("interval", "ms"), "qt_ms": ("interval", "ms"),
    "qtc_ms": ("interval", "ms"), "p_duration_ms": ("interval", "ms"),
    "qrs_axis_deg": ("axis", "deg"), "p_axis_deg": ("axis", "deg"), "t_axis_deg": ("axis", "deg"),
}
# Plausible ranges after unit normalisation; a number outside is a misread, not a claim.
_PLAUSIBLE = {"bpm": (10.0, 400.0), "ms": (20.0, 800.0), "deg": (-180.0, 360.0)}

LABEL_KINDS: dict[str, Kind] = {
    # PTB-XL superclasses with no one-to-one code (NORM maps to normal_ecg).
    "MI": "diagnosis", "STTC": "diagnosis", "CD": "diagnosis", "HYP": "diagnosis",
    # Findings outside tools.vocabulary, kept so that they are neither lost nor mis-mapped.
    "ST elevation": "diagnosis", "ST-T changes": "diagnosis", "ischemia": "diagnosis",
    "incomplete RBBB": "diagnosis", "incomplete LBBB": "diagnosis", "bundle branch block": "diagnosis",
    "LPFB": "diagnosis", "AV block": "diagnosis", "second-degree AV block": "diagnosis",
    "RVH": "diagnosis", "LAE": "diagnosis", "RAE": "diagnosis", "Q waves": "diagnosis",
    "poor R wave progression": "diagnosis", "WPW": "diagnosis", "ectopic beats": "diagnosis",
    "junctional rhythm": "rhythm", "ventricular tachycardia": "rhythm",
    "supraventricular tachycardia": "rhythm", "atrial tachycardia": "rhythm",
}
"""Raw labels the parser may emit with ``code=None``, and the claim kind of each."""


class Claim(BaseModel):
    """One statement of an answer, normalised.

    Attributes
    ----------
    kind : {"rhythm", "rate", "interval", "axis", "diagnosis"}
        What the claim is about. Coded claims take it from the code's vocabulary category
        (rhythm -> "rhythm", axis -> "axis", everything else -> "diagnosis").
    code : str or None
        A :data:`tools.vocabulary.LABELS` code (rhythm, axis category, diagnosis); None for a
        number or for a finding the vocabulary lacks.
    label : str or None
        The raw finding when ``code`` is None and the claim is not a number: one of
        :data:`LABEL_KINDS` (e.g. "STTC", "incomplete RBBB", "MI").
    quantity : str or None
        For numbers: heart_rate_bpm, atrial_rate_bpm, pr_ms, qrs_ms, qt_ms, qtc_ms,
        p_duration_ms, qrs_axis_deg, p_axis_deg or t_axis_deg.
    value, low, high : float or None
        The number in ``unit`` (ms, bpm or deg; "0.12 s" becomes 120 ms). A range "160-180 ms"
        gives value 170, low 160, high 180; a bound "> 120 ms" gives value 120 and low 120
        ("< 100" gives high 100).
    unit : {"ms", "bpm", "deg"} or None
    negated : bool
        Stated absent ("no evidence of AF", "without ST changes", "rules out", "X: no").
    hedged : bool
        Stated with uncertainty ("possible", "probable", "consider", "cannot exclude",
        "borderline", "suggestive of", "versus"...). A finding that is both hedged and stated
        plainly elsewhere in the answer counts as not hedged.
    final : bool
        Stated in a final-diagnosis/answer/conclusion line.
    leads : tuple of str
        Leads named with the finding, standard names ("II", "aVF", "V1"...).
    span : (int, int)
        Character offsets [start, end) of the (first) mention in the parsed text.
    text : str
        The sentence that contains the mention.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    code: str | None = None
    label: str | None = None
    quantity: Quantity | None = None
    value: float | None = None
    low: float | None = None
    high: float | None = None
    unit: Literal["ms", "bpm", "deg"] | None = None
    negated: bool = False
    hedged: bool = False
    final: bool = False
    leads: tuple[str, ...] = ()
    span: tuple[int, int]
    text: str

    @model_validator(mode="after")
    def _consistent(self) -> Claim:
        # pydantic turns these ValueErrors into a ValidationError naming the field values.
        if self.quantity is not None:
            kind, unit = _QUANTITY_KIND[self.quantity]
            if (self.kind, self.unit) != (kind, unit) or self.value is None or self.code or self.label:
                raise ValueError(f"claim quantity={self.quantity!r} needs kind={kind!r}, unit={unit!r}, "
                                 f"a value and no code/label; got kind={self.kind!r}, unit={self.unit!r}")
        elif self.code is not None:
            if self.code not in LABELS:
                raise ValueError(f"claim code={self.code!r} is not a tools.vocabulary code")
            if self.kind != _code_kind(self.code) or self.label is not None:
                raise ValueError(f"claim code={self.code!r} needs kind={_code_kind(self.code)!r} and no label")
        elif self.label not in LABEL_KINDS or self.kind != LABEL_KINDS[self.label]:
            raise ValueError(f"claim label={self.label!r} must be one of LABEL_KINDS with its kind")
        return self


def _code_kind(code: str) -> Kind:
    category = LABELS[code].category
    return "rhythm" if category == "rhythm" else "axis" if category == "axis" else "diagnosis"


# --------------------------------------------------------------------------- finding patterns
_TERR = (r"(?:antero-?septal|antero-?lateral|infero-?lateral|infero-?posterior|high[- ]lateral"
         r"|inferior|anterior|lateral|septal)")
_TERRITORY_OF_WORD = (("inferolateral", {"inferior", "lateral"}), ("anterolateral", {"anterior", "lateral"}),
                      ("inferoposterior", {"inferior"}), ("anteroseptal", {"anterior"}),
                      ("septal", {"anterior"}), ("inferior", {"inferior"}), ("anterior", {"anterior"}),
                      ("lateral", {"lateral"}))
_TERRITORY_OF_LEAD = {"II": "inferior", "III": "inferior", "aVF": "inferior", "V1": "anterior",
                      "V2": "anterior", "V3": "anterior", "V4": "anterior", "I": "lateral",
                      "aVL": "lateral", "V5": "lateral", "V6": "lateral"}
_AVB = r"(?:AV|A-V|atrioventricular|heart)"
_STE = (r"(?:ST[- ]?(?:segment[- ])?elevations?|elevated\s+ST(?:[- ]segments?)?"
        r"|ST[- ]segments?\s+(?:are\s+|is\s+)?elevated)")
_STD = (r"(?:ST[- ]?(?:segment[- ])?depressions?|depressed\s+ST(?:[- ]segments?)?"
        r"|ST[- ]segments?\s+(?:are\s+|is\s+)?depressed)")

# (pattern, target). A target is a vocabulary code, "label:<LABEL>", "!normal_ecg" (a statement
# of abnormality) or one of the territory resolvers "STE" / "STE+STD" / "ACUTE_MI".
_FINDINGS: tuple[tuple[str, str], ...] = (
    # rhythm
    (r"(?:normal\s+|regular\s+)?sinus\s+rhythm|(?-i:\bN?SR\b)", "sinus_rhythm"),
    (r"\brhythm\s*(?:is|:)\s*(?:regular\s+)?sinus\b(?!\s+(?:brady|tachy|arrhythm|rhythm))", "sinus_rhythm"),
    (r"(?:marked\s+)?sinus\s+brady(?:cardia)?\b|(?-i:\bSB\b)", "sinus_bradycardia"),
    (r"sinus\s+tachy(?:cardia)?\b", "sinus_tachycardia"),
    (r"sinus\s+arrhythmia", "sinus_arrhythmia"),
    (r"atrial\s+fibrillation|\ba[- ]?fib\b|(?-i:\bAF\b)", "atrial_fibrillation"),
    (r"atrial\s+flutter|(?-i:\bAFL\b)|\bflutter\s+waves?", "atrial_flutter"),
    (rf"(?:complete\s*\(?third[- ]degree\)?|complete|third[- ]degree|3rd[- ]degree|3°)\s+{_AVB}?\s*block"
     r"|(?-i:\bCHB\b)", "av_block_3"),
    (r"junctional\s+(?:escape\s+)?rhythm|rhythm\s+is\s+junctional|nodal\s+rhythm", "label:junctional rhythm"),
    (r"ventricular\s+tachycardia|(?-i:\bVT\b)", "label:ventricular tachycardia"),
    (r"supraventricular\s+tachycardia|(?-i:\bSVT\b)", "label:supraventricular tachycardia"),
    (r"(?:ectopic\s+|multifocal\s+)?atrial\s+tachycardia", "label:atrial tachycardia"),
    # "wandering/ectopic atrial pacemaker" is a native rhythm: an atrial "pacemaker" is never a device here
    (r"(?:(?:electronic|ventricular|atrial|dual[- ]chamber|A-?V|sequential)\s+)*paced\s+rhythm"
     r"|(?:(?:electronic|ventricular|dual[- ]chamber)\s+)*(?<!atrial\s)(?<!atrial-)pacemaker\s+rhythm"
     r"|(?:ventricular|atrial|dual[- ]chamber|A-?V|biventricular|sequential|electronic)\s+pacing\b"
     r"|\b(?:[AV]|AV|A-V|bi-?V)[- ]?paced\b|\bpaced\s+(?:QRS|complex(?:es)?|beats?)|\b(?:pacemaker|pacing)\s+spikes?",
     "paced_rhythm"),
    # ectopy
    (r"premature\s+atrial\s+(?:complex|contraction|beat|depolarization)(?:e?s)?|atrial\s+premature\s+"
     r"(?:complex|contraction|beat)(?:e?s)?|atrial\s+(?:ectopics?|extrasystoles?)(?:\s+beats?)?"
     r"|supraventricular\s+(?:premature|ectopic)\s+(?:beats?|complex(?:es)?|contractions?)"
     r"|(?-i:\b(?:PAC|APC|APB|SVPB)s?\b)", "pac"),
    (r"premature\s+ventricular\s+(?:complex|contraction|beat|depolarization)(?:e?s)?|ventricular\s+"
     r"premature\s+(?:complex|contraction|beat)(?:e?s)?|ventricular\s+(?:ectopics?|extrasystoles?|ectopic\s+beats?)"
     r"|ventricular\s+(?:bigeminy|trigeminy)|(?-i:\b(?:PVC|VPC|VPB)s?\b)", "pvc"),
    (r"(?:premature|ectopic)\s+beats?|extrasystoles?|\bectopy\b", "label:ectopic beats"),
    # conduction
    (rf"(?:first|1st)[- ]degree\s+{_AVB}?\s*block|1°\s*{_AVB}?\s*block|(?-i:\b(?:1dAVb|I-?AVB)\b)",
     "av_block_1"),
    (r"(?<!progressive\s)(?<!gradual\s)(?:prolonged|long)\s+PR(?:\s+interval)?\b|(?<!preceding\s)"
     r"(?<!progressive\s)\bPR(?:\s+interval)?\s+prolongation|\bPR(?:\s+interval)?\b(?:(?!\b(?:QRS|QTc?)\b)"
     r"(?:[^.;\n]|\.(?=\d))){0,40}?\bprolonged\b", "av_block_1"),
    (rf"(?:second|2nd)[- ]degree\s+{_AVB}?\s*block,?\s*\(?(?:mobitz\s+)?(?:type\s+)?(?:I|1)\b\)?|"
     rf"mobitz\s+(?:type\s+)?(?:I|1)\b(?:\s+second[- ]degree\s+{_AVB}?\s*block)?|wenckebach", "av_block_2_wenckebach"),
    (rf"(?:second|2nd)[- ]degree\s+{_AVB}?\s*block,?\s*\(?(?:mobitz\s+)?(?:type\s+)?(?:II|2)\b\)?|"
     rf"mobitz\s+(?:type\s+)?(?:II|2)\b(?:\s+second[- ]degree\s+{_AVB}?\s*block)?", "av_block_2_mobitz2"),
    (rf"(?:second|2nd)[- ]degree\s+{_AVB}?\s*block|2:1\s+{_AVB}\s+block|(?:high[- ]grade|advanced)\s+{_AVB}\s+block",
     "label:second-degree AV block"),
    (rf"\b{_AVB}\s+block\b", "label:AV block"),
    (r"(?:complete\s+)?right\s+bundle[- ]branch\s+block|(?-i:\bC?RBBB\b)", "rbbb"),
    (r"(?:complete\s+)?left\s+bundle[- ]branch\s+block|(?-i:\bC?LBBB\b)", "lbbb"),
    (r"incomplete\s+(?:right\s+bundle[- ]branch\s+block|RBBB)|(?-i:\bIRBBB\b)", "label:incomplete RBBB"),
    (r"incomplete\s+(?:left\s+bundle[- ]branch\s+block|LBBB)|(?-i:\bILBBB\b)", "label:incomplete LBBB"),
    (r"bundle[- ]branch\s+block|(?-i:\bBBB\b)", "label:bundle branch block"),
    (r"left\s+anterior\s+(?:fascicular\s+block|(?:fascicular\s+)?hemiblock|fascicle\s+block)|(?-i:\bLA[FH]B\b)",
     "lafb"),
    (r"left\s+posterior\s+(?:fascicular\s+block|(?:fascicular\s+)?hemiblock)|(?-i:\bLP[FH]B\b)", "label:LPFB"),
    (r"(?:non-?specific\s+)?intraventricular\s+conduction\s+(?:delay|defect|disturbance)|(?-i:\b(?:IVCD|NSIVCB)\b)",
     "ivcd"),
    (r"wolff[- ]parkinson[- ]white|(?-i:\bWPW\b)|pre-?excitation|delta\s+waves?", "label:WPW"),
    # axis
    (r"normal\s+(?:QRS\s+|electrical\s+|frontal(?:\s+plane)?\s+|cardiac\s+)?axis(?:\s+type)?"
     r"|\baxis\s+(?:is\s+|was\s+|appears\s+)?(?:within\s+normal\s+limits|normal)\b"
     r"|\baxis\s+[+-]?\d+\s*°?,\s*normal\b", "normal_axis"),
    (r"(?:marked\s+|extreme\s+)?left(?:ward)?\s+axis(?:\s+deviation)?|(?-i:\bLAD\b)(?!\s+(?:territory|artery|"
     r"occlusion|lesion|stenosis))|\baxis\s+(?:is\s+)?(?:deviated|shifted)\s+to\s+the\s+left", "left_axis_deviation"),
    (r"(?:marked\s+|extreme\s+)?right(?:ward)?\s+axis(?:\s+deviation)?|(?-i:\bRAD\b)"
     r"|\baxis\s+(?:is\s+)?(?:deviated|shifted)\s+to\s+the\s+right", "right_axis_deviation"),
    (r"extreme\s+axis(?:\s+deviation)?|north-?west\s+axis", "extreme_axis_deviation"),
    # hypertrophy, voltage, atria
    (r"voltage\s+criteria\s+for\s+(?:LVH|left\s+ventricular\s+hypertrophy)|left\s+ventricular\s+hypertrophy"
     r"|LV\s+hypertrophy|(?-i:\bLVH\b)", "lvh"),
    (r"right\s+ventricular\s+hypertrophy|(?-i:\bRVH\b)", "label:RVH"),
    (r"left\s+atrial\s+(?:enlargement|abnormality|overload|hypertrophy)|(?-i:\bLAE\b)|P\s+mitrale", "label:LAE"),
    (r"right\s+atrial\s+(?:enlargement|abnormality|overload|hypertrophy)|(?-i:\bRAE\b)|P\s+pulmonale", "label:RAE"),
    (r"low(?:\s+limb[- ]lead)?(?:\s+QRS)?[- ]voltages?(?:\s+QRS)?|low\s+QRS\s+amplitudes?", "low_voltage"),
    # ischemia, injury, infarction
    (rf"(?:(?P<terr>{_TERR})\s+(?:wall\s+)?)?(?:STEMI|ST[- ]?(?:segment[- ])?elevation\s+(?:myocardial\s+infarction"
     r"|MI)\b)", "STE"),
    (rf"acute\s+(?:(?P<terr>{_TERR})\s+)?(?:wall\s+)?(?:myocardial\s+infarction|(?-i:MI)\b|infarct(?:ion)?|injury)"
     rf"|(?P<terr2>{_TERR})\s+(?:wall\s+)?injury(?:\s+current)?", "ACUTE_MI"),
    (rf"(?:(?P<terr>{_TERR})\s+)?ST[- ]?(?:segment[- ])?(?:elevation|depression)s?\s+(?:or|and|nor|/)\s+"
     r"(?:depression|elevation)s?", "STE+STD"),
    (rf"(?:(?P<terr>{_TERR})\s+)?{_STE}", "STE"),
    (_STD + r"|downsloping\s+ST\b", "st_depression"),
    (r"(?:(?:old|prior|previous|remote|recent)\s+)?(?:" + _TERR + r"\s+)?(?:wall\s+)?(?:myocardial\s+infarction"
     r"|infarct(?:ion)?|(?-i:N?STEMI|MI)\b)", "label:MI"),
    # Upper-case Q only: a lower-case "q wave" is the small physiological (septal) q.
    (r"(?<!septal\s)(?:(?:patholog\w+|significant|deep|abnormal|new)\s+)?(?-i:\bQ)[- ]waves?", "label:Q waves"),
    (r"(?:poor|delayed)\s+R[- ]wave\s+progression|(?-i:\bPRWP\b)", "label:poor R wave progression"),
    (r"(?:non-?specific\s+)?ST[- ]?(?:segments?)?\s*(?:and|or|&|/|-)\s*T[- ]?(?:waves?)?[- ]?(?:wave\s+)?"
     r"(?:abnormal\w*|changes?)|\bST[- ](?:segment\s+)?(?:changes?|abnormalit(?:y|ies))"
     r"|(?:non-?specific\s+)?T[- ]wave\s+(?:abnormalit(?:y|ies)|changes?|flattening)|flat(?:tened)?\s+T[- ]waves?",
     "label:ST-T changes"),
    (r"isch(?:a)?emi(?:a|c)(?:\s+changes?)?", "label:ischemia"),
    (r"T[- ]?waves?\s+inversions?|inverted\s+T[- ]?waves?|negative\s+T[- ]?waves?|T\s+inversions?"
     r"|T[- ]?waves?\s+(?:are\s+|is\s+)?(?:\w+\s+and\s+)?(?:inverted|negative)|(?-i:\bTWI\b)", "t_inversion"),
    (r"(?:prolonged|long)\s+QTc?(?:\s+interval)?|\bQTc?(?:\s+interval)?\s+prolongation"
     r"|\bQTc?\b(?:(?!\b(?:PR|QRS)\b)(?:[^.;\n]|\.(?=\d))){0,50}?\bprolonged\b", "long_qt"),
    (r"short(?:ened)?\s+QTc?(?:\s+interval)?|\bQTc?(?:\s+interval)?\s+(?:is\s+)?short\b", "short_qt"),
    # overall
    (r"(?<!otherwise\s)(?<!borderline\s)\bnormal\s+(?:12[- ]lead\s+)?(?:ECG|EKG|electrocardiogram|tracing)\b"
     r"(?!\s+except)|\b(?:ECG|EKG|electrocardiogram|tracing)\s+(?:is\s+|appears\s+)?(?:within\s+normal\s+limits"
     r"|normal)\b|(?-i:\bNORM\b)", "normal_ecg"),
    (r"(?:^|(?<=[,;.\n]))\s*(?:(?:the\s+)?(?:ECG|EKG|tracing)\s+(?:is\s+)?)?(?:within\s+normal\s+limits|(?-i:WNL))"
     r"\s*(?=[.;,\n]|$)", "normal_ecg"),
    (r"\babnormal\s+(?:ECG|EKG|electrocardiogram|tracing)\b|\b(?:ECG|EKG|electrocardiogram|tracing)\s+is\s+"
     r"abnormal\b|(?-i:\bABNORMAL\b)", "!normal_ecg"),
    (r"(?-i:\bSTTC\b)", "label:STTC"),
    (r"(?-i:\bHYP\b)", "label:HYP"),
)
_FINDING_RES = tuple((re.compile(pattern, re.IGNORECASE), target) for pattern, target in _FINDINGS)

# Whole-answer label lists (ECGBench close-ended answers): "MI; STTC", "1dAVb, RBBB", "ABNORMAL".
_LIST_TOKENS: dict[str, str] = {
    "NORM": "normal_ecg", "ABNORMAL": "!normal_ecg", "MI": "label:MI", "STTC": "label:STTC",
    "CD": "label:CD", "HYP": "label:HYP", "1dAVb": "av_block_1", "I-AVB": "av_block_1",
    "IAVB": "av_block_1", "RBBB": "rbbb", "LBBB": "lbbb", "SB": "sinus_bradycardia",
    "ST": "sinus_tachycardia", "AF": "atrial_fibrillation", "AFL": "atrial_flutter", "PAC": "pac",
    "PVC": "pvc", "STD": "st_depression", "STE": "label:ST elevation", "LVH": "lvh", "LAFB": "lafb",
    "NSR": "sinus_rhythm", "SR": "sinus_rhythm",
}
_LIST_SEP = re.compile(r"\s*(?:[,;/\n]|\band\b)\s*")

# --------------------------------------------------------------------------- leads
_LEAD = r"(?:aV[RLF]|V[1-6](?:-[1-6](?!\d))?|III|II|I)(?![A-Za-z0-9])"
_LEAD_SEP = r"(?:\s*,\s*(?:and\s+)?|\s+and\s+(?:in\s+)?|\s*&\s*|\s*/\s*|\s*-\s*|\s+to\s+|\s+through\s+|\s+)"
_LEADS_AFTER = re.compile(
    r"(?:\s+of\s+[\d.]+\s*mm)?[^.;:\n]{0,12}?\b(?:in|at|over|across|involving)\s+(?:the\s+)?"
    rf"(?:(?P<terr>{_TERR})\s+(?:and\s+{_TERR}\s+)?(?:precordial\s+|limb\s+|chest\s+)?leads?\s*\(?)?"
    rf"(?:leads?\s+)?(?P<list>{_LEAD}(?:{_LEAD_SEP}{_LEAD})*)?", re.IGNORECASE)
_LEAD_TOKEN = re.compile(rf"{_LEAD}|\bto\b|\bthrough\b|-", re.IGNORECASE)
_STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
_LEAD_NAME = {name.upper(): name for name in _STANDARD_LEADS}


def _lead_list(text: str) -> tuple[str, ...]:
    """Standard lead names in a lead list such as "II, III and aVF" or "V1-V4" (ranges expanded)."""
    leads: list[str] = []
    pending_range = False
    for token in (m.group(0) for m in _LEAD_TOKEN.finditer(text)):
        if token.lower() in ("to", "through", "-"):
            pending_range = bool(leads) and leads[-1].startswith("V")
            continue
        names = [_LEAD_NAME[token.upper()]] if "-" not in token else \
            [f"V{k}" for k in range(int(token[1]), int(token[3]) + 1)]
        if pending_range and names[0].startswith("V"):
            names = [f"V{k}" for k in range(int(leads[-1][1]) + 1, int(names[-1][1]) + 1)]
        pending_range = False
        leads.extend(name for name in names if name not in leads)
    return tuple(leads)


def _leads_after(text: str, end: int) -> tuple[tuple[str, ...], set[str]]:
    """Leads and territory words named just after a finding ("... in leads II, III and aVF")."""
    match = _LEADS_AFTER.match(text, end)
    if match is None:
        return (), set()
    leads = _lead_list(match.group("list")) if match.group("list") else ()
    return leads, _territories(match.group("terr") or "")


def _territories(words: str) -> set[str]:
    """Territories named by a word such as "inferolateral" or "anteroseptal" (may be empty)."""
    flat = re.sub(r"[- ]", "", words.lower())
    for word, territories in _TERRITORY_OF_WORD:
        if word in flat:
            return set(territories)
    return set()


# --------------------------------------------------------------------------- context
_HEDGE_NEGATION = (r"(?:cannot|can\s*not|can't|could\s+not|couldn't|unable\s+to)\s+(?:be\s+)?(?:rule[sd]?\s+out"
                   r"|exclude[sd]?)|\bnot\s+(?:be\s+)?(?:excluded|ruled\s+out)")
_NEG_CUE = re.compile(
    r"\b(?:no|not|without|absence\s+of|absent|negative\s+for|free\s+of|rules?\s+out|ruled\s+out|excludes?|excluded"
    r"|neither|nor|rather\s+than|instead\s+of|lack\s+of|lacks?|never)\b|n't\b", re.IGNORECASE)
_NEG_VERB = re.compile(
    r"\s*(?:(?:appear|seem)s?\s+to\s+)?(?:show|see|seen|demonstrat|reveal|have|has|meet|display|exhibit|indicat"
    r"|suggest|support|represent|be)\w*(?:\s+(?:any|a|an|the|signs?\s+of|evidence\s+of|criteria\s+for))*",
    re.IGNORECASE)
_NEG_TERM = re.compile(
    r"[;:()]|\b(?:but|however|although|though|whereas|while|which|who|that|because|since|except|confirm\w*"
    r"|indicat\w*|suggest\w*|consistent|support\w*|favou?r\w*|is|are|was|were|shows?|showing|reveals?|revealing"
    r"|demonstrat\w*|yet|so|therefore|thus|then|given|likely|probabl\w*|possibl\w*)\b", re.IGNORECASE)
_LIST_ITEM_PREFIX = re.compile(
    r"\s*(?:(?:and|or|nor|no|any|the|a|an)\s+)*|[^,]*\b(?:or|nor)\s+(?:(?:the|a|an|any)\s+)?", re.IGNORECASE)
_LIST_CLOSER = re.compile(r"^\s*(?:or|nor|and)\b|\b(?:or|nor)\b", re.IGNORECASE)
_NEG_POST = re.compile(
    r"(?:\s+in\s+[^,.;:\n]{1,40}?)?\s*(?:(?:is|are|was|were)\s+(?:not\s+(?:seen|present|evident|noted|observed"
    r"|identified|visible|found|detected|apparent|met)|absent|excluded|ruled\s+out|incorrect|wrong"
    r"|(?:very\s+|most\s+|highly\s+)?(?:unlikely|not\s+likely))\b"
    r"|[:\-]\s*(?:no|absent|none|negative)\b)", re.IGNORECASE)
_HEDGE_CUE = re.compile(
    r"\b(?:possible|possibly|probable|probably|likely|unlikely|consider|considered|borderline|suggest(?:s|ed|ing"
    r"|ive)?|suspect(?:ed)?|suspicious|questionable|equivocal|may|might|could|perhaps|presum\w+|concern(?:ing)?"
    r"|cannot\s+(?:be\s+)?(?:excluded?|ruled?\s+out)|can't\s+(?:be\s+)?(?:excluded?|ruled?\s+out)"
    r"|not\s+(?:be\s+)?(?:excluded|ruled\s+out)|versus|vs)\b", re.IGNORECASE)
_HEDGE_TERM = re.compile(r"[;:]|\b(?:but|however|although|though|whereas|while|which)\b", re.IGNORECASE)
_HEDGE_POST = re.compile(
    r"\s*(?:(?:is|are)\s+(?:also\s+|less\s+|more\s+|very\s+)?(?:possible|likely|probable|suspected|considered"
    r"|questionable|not\s+excluded|(?:very\s+|most\s+|highly\s+)?(?:unlikely|not\s+likely))"
    r"|(?:cannot|can't|can\s+not)\s+be\s+(?:excluded|ruled\s+out)"
    r"|(?:should|could|may|might)\s+be\s+considered)\b", re.IGNORECASE)
_VERSUS = re.compile(r"\b(?:versus|vs)\b", re.IGNORECASE)
_FINAL = re.compile(r"\bfinal\s+(?:diagnosis|answer|impression|interpretation)\b|\b(?:conclusion|impression|answer)"
                    r"\s*:|\bthe\s+answer\s+is\b|\bin\s+(?:summary|conclusion)\b|\btherefore\b", re.IGNORECASE)
# One character for one, so that offsets into the plain text are offsets into the original.
_PLAIN = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u2011": "-",
                        "\u2265": ">", "\u2264": "<", "\u00a0": " ", "\u2019": "'"})
_SENTENCE_END = re.compile(r"(?<!\bvs)(?<!\be\.g)(?<!\bi\.e)[.!?](?=\s|$)|\n")


@dataclass(frozen=True)
class _Context:
    """The parsed text with its sentences and final-diagnosis regions, shared by every mention."""

    text: str
    plain: str  # the text with typographic dashes, minus signs and comparison signs made ASCII
    masked: str  # plain with hedge phrases such as "cannot rule out" blanked for the negation search
    sentences: tuple[tuple[int, int], ...]
    final_regions: tuple[tuple[int, int], ...]

    def sentence(self, pos: int) -> tuple[int, int]:
        for start, end in self.sentences:
            if start <= pos < end:
                return start, end
        return 0, len(self.text)

    def is_final(self, pos: int) -> bool:
        return any(start <= pos < end for start, end in self.final_regions)


def _context(text: str) -> _Context:
    bounds, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        bounds.append((start, match.end()))
        start = match.end()
    bounds.append((start, len(text)))
    plain = text.translate(_PLAIN)
    masked = re.sub(_HEDGE_NEGATION, lambda m: " " * len(m.group(0)), plain, flags=re.IGNORECASE)
    finals = []
    for match in _FINAL.finditer(text):
        line_end = text.find("\n", match.end())
        finals.append((match.start(), len(text) if line_end < 0 else line_end))
    return _Context(text, plain, masked, tuple(bounds), tuple(finals))


def _negated(ctx: _Context, start: int, end: int) -> bool:
    """Whether a mention at [start, end) is stated absent (cue before it, inside it or after it)."""
    s_start, s_end = ctx.sentence(start)
    if _NEG_CUE.search(ctx.masked, start, end):
        return True
    if _NEG_POST.match(ctx.masked, end, s_end):
        return True
    cues = list(_NEG_CUE.finditer(ctx.masked, s_start, start))
    if not cues:
        return False
    cue_end = cues[-1].end()
    verb = _NEG_VERB.match(ctx.masked, cue_end, start)
    cue_end = verb.end() if verb else cue_end
    between = ctx.masked[cue_end:start]
    if _NEG_TERM.search(between):
        return False
    if "," not in between:
        return True
    if _NEG_TERM.search(ctx.masked, start, end):
        return False  # "..., and the axis is normal": a clause of its own, not an item of the list
    # "no ST elevation, LVH or bundle branch block": a comma list stays negated only when it is
    # closed by "or"/"nor", and every item starts right after its comma.
    run_end = _NEG_TERM.search(ctx.masked, end, s_end)
    run = ctx.masked[cue_end:run_end.start() if run_end else s_end]
    own = between[between.rfind(",") + 1:]
    last = run[run.rfind(",") + 1:]
    return _LIST_ITEM_PREFIX.fullmatch(own) is not None and _LIST_CLOSER.search(last) is not None


def _hedged(ctx: _Context, start: int, end: int) -> bool:
    """Whether a mention at [start, end) is stated with uncertainty (same comma segment)."""
    s_start, s_end = ctx.sentence(start)
    seg_start = max(ctx.plain.rfind(",", s_start, start) + 1, s_start)
    seg_end = ctx.plain.find(",", end, s_end)
    seg_end = s_end if seg_end < 0 else seg_end
    if _VERSUS.search(ctx.plain, seg_start, seg_end) or _HEDGE_CUE.search(ctx.plain, start, end):
        return True
    if _HEDGE_POST.match(ctx.plain, end, s_end):
        return True
    cues = list(_HEDGE_CUE.finditer(ctx.plain, seg_start, start))
    return bool(cues) and not _HEDGE_TERM.search(ctx.plain, cues[-1].end(), start)


# --------------------------------------------------------------------------- mentions
@dataclass(frozen=True)
class _Mention:
    """One matched phrase and the (kind, code, label) targets it states; forced_negated for "abnormal ECG"."""

    start: int
    end: int
    targets: tuple[tuple[Kind, str | None, str | None], ...]
    forced_negated: bool = False
    leads: tuple[str, ...] = ()


def _target(name: str) -> tuple[Kind, str | None, str | None]:
    if name.startswith("label:"):
        label = name[len("label:"):]
        return LABEL_KINDS[label], None, label
    return _code_kind(name), name, None


def _st_elevation_targets(territories: set[str]) -> tuple[tuple[Kind, str | None, str | None], ...]:
    if not territories:
        return (_target("label:ST elevation"),)
    return tuple(_target(f"st_elevation_{t}") for t in ("inferior", "anterior", "lateral") if t in territories)


def _resolve(text: str, match: re.Match[str], target: str) -> _Mention:
    """The mention a pattern match states, with its leads and (for ST elevation) territories."""
    leads, after_territories = _leads_after(text, match.end())
    if target in ("STE", "STE+STD", "ACUTE_MI"):
        named = _territories(match.groupdict().get("terr") or match.groupdict().get("terr2") or "")
        territories = named or after_territories or {_TERRITORY_OF_LEAD[lead] for lead in leads
                                                     if lead in _TERRITORY_OF_LEAD}
        if target == "ACUTE_MI" and not territories:
            targets = (_target("label:MI"),)
        else:
            targets = _st_elevation_targets(territories)
        if target == "STE+STD":
            targets += (_target("st_depression"),)
        return _Mention(match.start(), match.end(), targets, leads=leads)
    forced = target.startswith("!")
    return _Mention(match.start(), match.end(), (_target(target.lstrip("!")),), forced, leads)


def _finding_mentions(text: str) -> list[_Mention]:
    """Every finding phrase in ``text``; where phrases overlap the longest wins ("incomplete RBBB"
    over "RBBB", "second-degree AV block, Mobitz type I" over "AV block")."""
    candidates = [(m.start(), m.end(), m, target) for regex, target in _FINDING_RES
                  for m in regex.finditer(text) if m.end() > m.start()]
    candidates.sort(key=lambda c: (c[0] - c[1], c[0]))
    kept: list[_Mention] = []
    taken: list[tuple[int, int]] = []
    for start, end, match, target in candidates:
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        taken.append((start, end))
        kept.append(_resolve(text, match, target))
    return kept


def _label_list_mentions(text: str) -> list[_Mention] | None:
    """Mentions of a whole-answer label list ("MI; STTC"), or None when ``text`` is not one."""
    body = text.strip().rstrip(".")
    tokens = [t for t in _LIST_SEP.split(body) if t]
    if not tokens or any(t not in _LIST_TOKENS for t in tokens):
        return None
    mentions = []
    for match in re.finditer(r"[A-Za-z0-9-]+", text):
        name = _LIST_TOKENS.get(match.group(0))
        if name is not None:
            mentions.append(_Mention(match.start(), match.end(), (_target(name.lstrip("!")),),
                                     name.startswith("!")))
    return mentions


# --------------------------------------------------------------------------- numbers
_NUMBER = (r"(?P<sign>[+-])?(?P<num>\d+(?:\.\d+)?)(?:\s*(?:-|to|and)\s*(?P<sign2>[+-])?(?P<num2>\d+(?:\.\d+)?))?"
           r"\s*(?P<unit>ms\b|msec\b|milliseconds?\b|s\b|secs?\b|seconds?\b|bpm\b|beats?\s*(?:per|/)\s*min(?:ute)?\b"
           r"|b/min\b|/\s*min(?:ute)?\b|per\s+min(?:ute)?\b|°|degrees?\b|deg\b|mm\b|mv\b|%|years?\b|kg\b"
           r"|(?:large|small)\s+(?:squares|boxes)\b|hz\b)?")
_NUMBER_RE = re.compile(rf"(?<![\w.]){_NUMBER}", re.IGNORECASE)
_QUANTITY_WORDS: tuple[tuple[str, str], ...] = (
    (r"\bP[- ]?(?:wave\s+)?axis\b", "p_axis_deg"),
    (r"\bT[- ]?(?:wave\s+)?axis\b", "t_axis_deg"),
    (r"(?:\b(?:QRS|frontal(?:\s+plane)?|electrical|cardiac|mean|R)\s+(?:QRS\s+)?)?\baxis\b", "qrs_axis_deg"),
    (r"\batrial\s+rate\b|\bP[- ]?P\s+rate\b|\bflutter\s+rate\b", "atrial_rate_bpm"),
    (r"\b(?:(?:average|mean|resting)\s+)?(?:heart|ventricular|pulse)\s+rate\b|(?-i:\bHR\b)|\brate\b",
     "heart_rate_bpm"),
    (r"\bP[- ]?wave\s+duration\b|\bP\s+duration\b", "p_duration_ms"),
    (r"\bP[- ]?R(?:\s+interval)?\b|\bPQ(?:\s+interval)?\b", "pr_ms"),
    (r"\bQRS(?!\s+(?:axis|voltage|amplitude|morpholog))(?:\s+complex(?:es)?)?(?:\s+(?:duration|width|interval))?\b",
     "qrs_ms"),
    (r"\bQTc[BFH]?(?:\s+interval)?\b|\bcorrected\s+QT(?:\s+interval)?\b", "qtc_ms"),
    (r"\bQT(?:\s+interval)?\b", "qt_ms"),
    (r"\bR[- ]?R(?:\s+interval)?\b|\bP[- ]?P(?:\s+interval)?\b", ""),  # read but not reported: blocks windows
)
_QUANTITY_RES = tuple((re.compile(p, re.IGNORECASE), q) for p, q in _QUANTITY_WORDS)
_SLASH = re.compile(
    r"\b(?P<keys>(?:PR|QRS|QTc?|P|T|HR)(?:\s*/\s*(?:PR|QRS|QTc?|P|T|HR)){1,4})(?P<axes>\s+(?:axes|axis))?"
    r"(?:\s+(?:intervals?|durations?))?\s*[:=]?\s*(?P<vals>[+-]?\d+(?:\.\d+)?(?:\s*/\s*[+-]?\d+(?:\.\d+)?){1,4})"
    r"\s*(?P<unit>ms\b|msec\b|s\b|°|degrees?\b)?", re.IGNORECASE)
_SLASH_MS = {"PR": "pr_ms", "QRS": "qrs_ms", "QT": "qt_ms", "QTC": "qtc_ms", "P": "p_duration_ms",
             "HR": "heart_rate_bpm"}
_SLASH_AXIS = {"P": "p_axis_deg", "QRS": "qrs_axis_deg", "T": "t_axis_deg"}
# A number right after these words is a reference range or a bound, not the measured value.
_REFERENCE = re.compile(r"(?:\bnormal\s+(?:range|values?|limits?)|\brange|\breference|\btypically|\busually"
                        r"|\bnormally|\b(?:upper|lower)\s+limit|\blimits?\s+of|\bshould\s+be|\bbeyond|\(\s*normal)"
                        r"\b[^\d]{0,12}$", re.IGNORECASE)
_BOUND = re.compile(r"(?P<op>>=?|<=?|≥|≤|greater\s+than|more\s+than|over|above|exceed\w*|less\s+than|under"
                    r"|below)\s*$", re.IGNORECASE)
_LOWER_BOUND = re.compile(r">|≥|greater|more|over|above|exceed", re.IGNORECASE)
_WINDOW_STOP = re.compile(r"[;\n]|\.(?!\d)|\b(?:and|but|which|while)\s+the\b", re.IGNORECASE)
_FOREIGN_UNIT = re.compile(r"mm|mv|%|years?|kg|hz|(?:large|small)\s+(?:squares|boxes)", re.IGNORECASE)
_ATRIAL_CONTEXT = re.compile(r"\bP[- ]waves?\b|\bP[- ]?P\b|\bflutter\s+waves?\b|\batrial\s+activity\b",
                             re.IGNORECASE)


@dataclass(frozen=True)
class _Number:
    """One number claim before it becomes a Claim."""

    start: int
    end: int
    quantity: str
    value: float
    low: float | None = None
    high: float | None = None
    leads: tuple[str, ...] = ()


def _normalise(quantity: str, value: float, unit: str | None) -> float | None:
    """``value`` in the quantity's unit (ms, bpm, deg), or None when the unit does not fit or the
    result is implausible (a misread)."""
    unit = (unit or "").lower()
    target = _QUANTITY_KIND[quantity][1]
    time_units = ("ms", "msec", "millisecond", "milliseconds", "s", "sec", "secs", "second", "seconds")
    if target == "ms":
        if unit and unit not in time_units:
            return None
        seconds = unit in ("s", "sec", "secs", "second", "seconds") or (not unit and value < 3)
        value = value * 1000.0 if seconds else value
    elif target == "bpm" and unit and not re.match(r"bpm|beats?|b/min|/|per", unit):
        return None
    elif target == "deg" and unit and unit not in ("°", "degree", "degrees", "deg"):
        return None
    low, high = _PLAUSIBLE[target]
    return round(value, 3) if low <= value <= high else None


def _number_claim(text: str, quantity: str, match: re.Match[str], start: int) -> _Number | None:
    """The number claim a keyword at ``start`` makes with the number ``match``, or None."""
    before = text[max(0, match.start() - 40):match.start()]
    if _REFERENCE.search(before):
        return None
    sign = -1.0 if match.group("sign") == "-" and quantity.endswith("_deg") else 1.0
    value = _normalise(quantity, sign * float(match.group("num")), match.group("unit"))
    if value is None:
        return None
    low = high = None
    if match.group("num2") is not None:
        sign2 = -1.0 if match.group("sign2") == "-" and quantity.endswith("_deg") else 1.0
        other = _normalise(quantity, sign2 * float(match.group("num2")),
                           match.group("unit") if match.group("unit") else None)
        if other is None:
            return None
        low, high = min(value, other), max(value, other)
        value = round((low + high) / 2, 3)
    bound = _BOUND.search(before)
    if bound is not None:
        low, high = (value, None) if _LOWER_BOUND.match(bound.group("op")) else (None, value)
    leads, _ = _leads_after(text, match.end())
    return _Number(start, match.end(), quantity, value, low, high, leads)


def _slash_numbers(text: str) -> list[_Number]:
    """Numbers of "QT/QTc 380/420 ms" and "P/QRS/T axes: 54/38/41"."""
    numbers = []
    for match in _SLASH.finditer(text):
        keys = [k.strip().upper() for k in match.group("keys").split("/")]
        values = [float(v) for v in match.group("vals").split("/")]
        table = _SLASH_AXIS if match.group("axes") or match.group("unit") in ("°", "degree", "degrees") else _SLASH_MS
        if len(keys) != len(values) or any(k not in table for k in keys):
            continue
        for key, value in zip(keys, values):
            quantity = table[key]
            unit = match.group("unit") if quantity.endswith("_ms") else None
            normalised = _normalise(quantity, value, unit)
            if normalised is not None:
                numbers.append(_Number(match.start(), match.end(), quantity, normalised))
    return numbers


def _keyword_numbers(text: str, taken: list[tuple[int, int]]) -> list[_Number]:
    """Numbers that follow a quantity keyword ("QRS duration of 0.12 s", "HR 72", "axis -45°")."""
    keywords = sorted(((m.start(), m.end(), q) for regex, q in _QUANTITY_RES for m in regex.finditer(text)),
                      key=lambda k: (k[0], -k[1]))
    kept: list[tuple[int, int, str]] = []
    for start, end, quantity in keywords:
        if not any(s < end and start < e for s, e, _ in kept) and not any(s <= start < e for s, e in taken):
            kept.append((start, end, quantity))
    numbers = []
    for i, (start, end, quantity) in enumerate(kept):
        limit = min(end + 60, kept[i + 1][0] if i + 1 < len(kept) else len(text))
        stop = _WINDOW_STOP.search(text, end, limit)
        limit = stop.start() if stop else limit
        if not quantity:
            continue  # an RR/PP interval: read only so that its number is not taken by the keyword before
        if text[start:end].lower() == "rate" and _atrial_context(text, start):
            quantity = "atrial_rate_bpm"
        for match in _NUMBER_RE.finditer(text, end, limit):
            if _FOREIGN_UNIT.fullmatch(match.group("unit") or ""):
                continue  # "ST depression of 2 mm": a number of another quantity, keep looking
            number = _number_claim(text, quantity, match, start)
            if number is not None:
                numbers.append(number)
            break
    return numbers


def _atrial_context(text: str, pos: int) -> bool:
    """Whether a bare "rate" at ``pos`` is about P waves ("P waves ... at a rate of 75")."""
    sentence_start = max(text.rfind(".", 0, pos), text.rfind("\n", 0, pos)) + 1
    cue = None
    for cue in _ATRIAL_CONTEXT.finditer(text, sentence_start, pos):
        pass
    return cue is not None and not re.search(r"\b(?:QRS|ventricular)\b", text[cue.end():pos], re.IGNORECASE)


def _bare_rate_numbers(text: str, taken: list[tuple[int, int]]) -> list[_Number]:
    """Rates stated by their unit alone: "sinus bradycardia at 45 bpm"."""
    numbers = []
    for match in _NUMBER_RE.finditer(text):
        unit = (match.group("unit") or "").lower()
        if not re.match(r"bpm|beats?|b/min|/|per", unit) or any(s <= match.start() < e for s, e in taken):
            continue
        quantity = "atrial_rate_bpm" if _atrial_context(text, match.start()) else "heart_rate_bpm"
        number = _number_claim(text, quantity, match, match.start())
        if number is not None:
            numbers.append(number)
    return numbers


def _numbers(text: str) -> list[_Number]:
    slash = _slash_numbers(text)
    taken = [(n.start, n.end) for n in slash]
    keyword = _keyword_numbers(text, taken)
    taken += [(n.start, n.end) for n in keyword]
    return slash + keyword + _bare_rate_numbers(text, taken)


# --------------------------------------------------------------------------- public API
def parse_claims(text: str) -> list[Claim]:
    """Structured claims stated in a free-text answer about an ECG.

    Parameters
    ----------
    text : str
        The model's answer: a report, a reasoning chain, a label list ("MI; STTC"), a
        multiple-choice answer... Any length; non-ECG text simply yields no claims.

    Returns
    -------
    list of Claim
        In order of first mention. A finding stated several times (in the body and again in the
        final diagnosis) is one claim: its span is the first mention, ``final`` is set when any
        mention is in a final line, ``hedged`` only when every mention is hedged. Contradictory
        statements ("no LBBB" ... "LBBB") are both kept, one negated.

    Raises
    ------
    InputError
        If ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}")
    ctx = _context(text)
    plain = ctx.plain
    mentions = _label_list_mentions(plain)
    if mentions is None:
        mentions = _finding_mentions(plain)
    claims = [_mention_claim(ctx, m, target) for m in mentions for target in m.targets]
    claims += [_number_to_claim(ctx, n) for n in _numbers(plain)]
    return _merge(sorted(claims, key=lambda c: c.span))


def _mention_claim(ctx: _Context, mention: _Mention, target: tuple[Kind, str | None, str | None]) -> Claim:
    kind, code, label = target
    start, end = mention.start, mention.end
    negated = mention.forced_negated != _negated(ctx, start, end)
    s_start, s_end = ctx.sentence(start)
    return Claim(kind=kind, code=code, label=label, negated=negated, hedged=_hedged(ctx, start, end),
                 final=ctx.is_final(start), leads=mention.leads, span=(start, end),
                 text=ctx.text[s_start:s_end].strip())


def _number_to_claim(ctx: _Context, number: _Number) -> Claim:
    kind, unit = _QUANTITY_KIND[number.quantity]
    s_start, s_end = ctx.sentence(number.start)
    return Claim(kind=kind, quantity=number.quantity, value=number.value, low=number.low, high=number.high,
                 unit=unit, final=ctx.is_final(number.start), leads=number.leads,
                 span=(number.start, number.end), text=ctx.text[s_start:s_end].strip())


def _merge(claims: list[Claim]) -> list[Claim]:
    """One claim per (kind, code, label, quantity, value, negated): first span, hedged only if every
    mention is hedged, final if any mention is final, leads united."""
    merged: dict[tuple[object, ...], Claim] = {}
    for claim in claims:
        key = (claim.kind, claim.code, claim.label, claim.quantity, claim.value, claim.negated)
        first = merged.get(key)
        if first is None:
            merged[key] = claim
            continue
        leads = first.leads + tuple(lead for lead in claim.leads if lead not in first.leads)
        merged[key] = first.model_copy(update={"hedged": first.hedged and claim.hedged, "leads": leads,
                                               "final": first.final or claim.final})
    return list(merged.values())


_EXPLICIT_CHOICE = re.compile(
    r"\b(?:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*\(?(?P<letter>[A-Za-z])\)?(?![A-Za-z])"
    r"(?P<more>\s*(?:or|and|/|,)\s*\(?[A-Z]\)?(?![A-Za-z]))?", re.IGNORECASE)
_LEADING_CHOICE = re.compile(r"^\s*\(?(?P<letter>[A-Z])(?:[.):]\s|[.)]?\s*$)")
_PAREN_CHOICE = re.compile(r"\((?P<letter>[A-Z])\)")


def parse_choice(text: str, options: Sequence[str] | Mapping[str, str]) -> str | None:
    """The letter a multiple-choice answer picked, or None when it picked none or several.

    Parameters
    ----------
    text : str
        The answer, e.g. "Answer: C", "C. IAVB(1st degree av block), ...", "The correct option is
        (D) ...", or just the option's text ("Atrial fibrillation").
    options : sequence of str or mapping of str to str
        The options in order (lettered A, B, C...; a leading "A. " is ignored) or a mapping from
        letter to option text.

    Returns
    -------
    str or None
        The upper-case letter; the last explicit "Answer: X" wins (ECGBench asks for it on the last
        line). None when nothing or more than one option is picked: never a random letter.

    Raises
    ------
    InputError
        If there are no options or a letter key is not a single letter.
    """
    letters = _option_texts(options)
    for found in reversed(list(_EXPLICIT_CHOICE.finditer(text))):
        letter = found.group("letter")
        lower_ok = letter.isupper() or re.match(r"\s*(?:$|[.)\n])", text[found.end("letter"):])
        if lower_ok and letter.upper() in letters:
            return None if found.group("more") else letter.upper()
    for regex in (_LEADING_CHOICE, _PAREN_CHOICE):
        picked = {m.group("letter") for m in regex.finditer(text)} & set(letters)
        if len(picked) == 1:
            return picked.pop()
    lowered = text.lower()
    matched = {k: v for k, v in letters.items() if v and v.lower() in lowered}
    maximal = [k for k, v in matched.items() if not any(v != w and v.lower() in w.lower() for w in matched.values())]
    return maximal[0] if len(maximal) == 1 else None


def _option_texts(options: Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    """Letter -> option text without its "A. " prefix."""
    if isinstance(options, Mapping):
        pairs = [(str(k).strip().upper(), str(v)) for k, v in options.items()]
    else:
        pairs = [(chr(ord("A") + i), str(v)) for i, v in enumerate(options)]
    if not pairs or any(not re.fullmatch(r"[A-Z]", k) for k, _ in pairs):
        raise InputError(f"options must be a non-empty sequence or a letter-keyed mapping, got {options!r}")
    return {k: re.sub(rf"^\s*\(?{k}[.):]\s*", "", v).strip() for k, v in pairs}
