"""The nine ECGBench subsets: names, file names, label spaces, scoring kind and published numbers.

ECGBench (PULSE-ECG/ECGBench on Hugging Face, 11,247 items) is distributed as one parquet file per
subset, ``<config>/test-00000-of-00001.parquet``; PULSE's preparation script turns each into
``<config>.json`` plus ``images/<image_path>``. Our short names (``ptb-xl-super``...) and the
distribution's config names (``ptb-test``...) are both accepted everywhere.

Reference rows are the published v1 results (Liu et al. 2024, "Teach Multimodal LLMs to Comprehend
Electrocardiographic Images", Tables 3-4), in percent (HL: lower is better).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tools.errors import InputError

__all__ = ["Kind", "SubsetSpec", "SUBSETS", "subset_spec", "REFERENCE_RESULTS"]

Kind = Literal["multilabel", "mcq", "ecgqa", "report", "arena"]


@dataclass(frozen=True)
class SubsetSpec:
    """One subset: our ``name``, the distribution's ``config`` name, how it is scored.

    Attributes
    ----------
    name : str
        Our short name (``ptb-xl-super``).
    config : str
        Hugging Face config / PULSE file stem (``ptb-test``); also the folder PULSE's scripts
        write predictions to.
    kind : Kind
        ``multilabel`` (AUC/F1/HL), ``mcq`` (letter accuracy), ``ecgqa`` (exact-set accuracy),
        ``report`` and ``arena`` (LLM judge, 0-100).
    labels : tuple of str
        Label space as the published scorer spells it (multilabel only), in its order.
    letters : str
        Option letters a random guess is drawn from (mcq only): "ABCD" or "ABCDEFGH".
    n_items : int
        Items in the published subset.
    image_dir : str
        First component of ``image_path`` in the distribution.
    """

    name: str
    config: str
    kind: Kind
    labels: tuple[str, ...] = ()
    letters: str = ""
    n_items: int = 0
    image_dir: str = ""


SUBSETS: dict[str, SubsetSpec] = {spec.name: spec for spec in (
    SubsetSpec("ptb-xl-super", "ptb-test", "multilabel", ("NORM", "MI", "STTC", "CD", "HYP"),
               n_items=2082, image_dir="ptb-xl"),
    SubsetSpec("ptb-xl-report", "ptb-test-report", "report", n_items=500, image_dir="ptb-xl"),
    # "NORM" and "ABNORMAL" are whole-answer classes of their own in the published scorer.
    SubsetSpec("code15", "code15-test", "multilabel", ("1dAVb", "RBBB", "LBBB", "SB", "ST", "AF"),
               n_items=1400, image_dir="code15"),
    SubsetSpec("ecgqa", "ecgqa-test", "ecgqa", n_items=1317, image_dir="ptb-xl"),
    SubsetSpec("cpsc", "cpsc-test", "multilabel",
               ("NORM", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE"), n_items=2061, image_dir="cpsc"),
    SubsetSpec("csn", "csn-test-no-cot", "mcq", letters="ABCDEFGH", n_items=1611, image_dir="csn"),
    SubsetSpec("g12ec", "g12-test-no-cot", "mcq", letters="ABCDEFGH", n_items=2026, image_dir="g12"),
    SubsetSpec("mmmu-ecg", "mmmu-ecg", "mcq", letters="ABCD", n_items=200, image_dir="mmmu-ecg"),
    SubsetSpec("arena", "arena", "arena", n_items=50, image_dir="ecg-arena"),
)}

_BY_CONFIG = {spec.config: spec for spec in SUBSETS.values()}


def subset_spec(name: str) -> SubsetSpec:
    """The subset called ``name`` (our name or the distribution's config name).

    Raises
    ------
    InputError
        If ``name`` is neither.
    """
    spec = SUBSETS.get(name) or _BY_CONFIG.get(name)
    if spec is None:
        raise InputError(f"unknown ECGBench subset {name!r}; expected one of {', '.join(SUBSETS)} "
                         f"(or {', '.join(_BY_CONFIG)})")
    return spec


# Published figures in percent: metric -> value. Keys match the metric names of metrics.py.
REFERENCE_RESULTS: dict[str, dict[str, dict[str, float]]] = {
    "PULSE-7B": {
        "ptb-xl-super": {"auc": 82.4, "f1": 74.8, "hamming_loss": 11.0},
        "ptb-xl-report": {"score": 61.3},
        "code15": {"auc": 90.7, "f1": 85.4, "hamming_loss": 5.0},
        "ecgqa": {"accuracy": 73.8},
        "cpsc": {"auc": 76.9, "f1": 57.6, "hamming_loss": 8.6},
        "csn": {"accuracy": 85.2},
        "g12ec": {"accuracy": 78.2},
        "mmmu-ecg": {"accuracy": 58.0},
        "arena": {"score": 38.9},
    },
    "GPT-4o": {
        "ptb-xl-super": {"auc": 55.6, "f1": 28.3, "hamming_loss": 26.2},
        "ptb-xl-report": {"score": 50.2},
        "code15": {"auc": 59.9, "f1": 24.9, "hamming_loss": 15.7},
        "ecgqa": {"accuracy": 35.2},
        "cpsc": {"auc": 50.9, "f1": 10.6, "hamming_loss": 18.2},
        "csn": {"accuracy": 57.5},
        "g12ec": {"accuracy": 49.2},
        "mmmu-ecg": {"accuracy": 43.5},
        "arena": {"score": 33.5},
    },
}
