"""LUDB (Lobachevsky University Electrocardiography Database) reference readers.

The cardiologists annotated every lead: WFDB annotation files ``N.<lead>`` with ``(`` onset,
``p``/``N``/``t`` peak and ``)`` offset. These functions turn them into global reference
fiducials and intervals, and read the diagnoses in ``ludb.csv``. Cite: Kalyakulina et al.,
"LUDB: a new open-access validation tool for electrocardiogram delineation algorithms", IEEE
Access 2020 (ODC-By 1.0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LUDB_LEADS", "INTERVAL_SPANS", "read_ludb_annotations", "ludb_reference", "ludb_labels"]

LUDB_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
# Each interval as (start fiducial, end fiducial).
INTERVAL_SPANS = {"p_duration_ms": ("p_on", "p_off"), "pr_ms": ("p_on", "qrs_on"), "qrs_ms": ("qrs_on", "qrs_off"),
          "qt_ms": ("qrs_on", "t_off")}
_CLUSTER_S = 0.1      # QRS peaks of the leads closer than this are one beat
_MAX_P_TO_QRS_S = 0.5


def read_ludb_annotations(stem: Path) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Per lead (LUDB lower-case name): annotation sample indices and symbols of ``stem.<lead>``."""
    import wfdb

    out = {}
    for lead in LUDB_LEADS:
        if Path(f"{stem}.{lead}").exists():
            ann = wfdb.rdann(str(stem), lead)
            out[lead] = (np.asarray(ann.sample), list(ann.symbol))
    return out


def _waves(samples: np.ndarray, symbols: list[str]) -> list[tuple[str, int, int, int]]:
    """(symbol, onset, peak, offset) of every wave written as '(' symbol ')'."""
    return [(c, int(samples[i - 1]), int(samples[i]), int(samples[i + 1])) for i, c in enumerate(symbols)
            if c in "pNt" and 0 < i < len(symbols) - 1 and symbols[i - 1] == "(" and symbols[i + 1] == ")"]


def _kth(values: list[int], rank: int, latest: bool) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values, reverse=latest)
    return float(ordered[min(rank, len(ordered)) - 1])


def ludb_reference(annotations: dict[str, tuple[np.ndarray, list[str]]], fs_hz: float,
                   leads: tuple[str, ...] = LUDB_LEADS, rank: int = 1) -> dict[str, Any]:
    """Global reference intervals of one LUDB record from its per-lead annotations.

    Per beat: QRS onset = earliest onset over ``leads``, QRS offset and T end = latest offset,
    P onset earliest, P offset latest (``rank`` = 2: the second earliest / latest, which drops
    one lead's outlying annotation). Per record: the median of each interval over the beats
    where it is defined (NaN when fewer than two beats define it).

    Returns
    -------
    dict
        ``p_duration_ms``, ``pr_ms``, ``qrs_ms``, ``qt_ms`` (float, NaN if undefined) and
        ``beats`` (list of per-beat dicts of sample indices).
    """
    per = {ld: _waves(*annotations[ld]) for ld in leads if ld in annotations}
    qrs = sorted((w[2], w) for ws in per.values() for w in ws if w[0] == "N")
    clusters: list[list[tuple[int, tuple]]] = []
    for peak, wave in qrs:
        if clusters and peak - clusters[-1][-1][0] < _CLUSTER_S * fs_hz:
            clusters[-1].append((peak, wave))
        else:
            clusters.append([(peak, wave)])
    beats = [{"qrs_on": _kth([w[1] for _, w in c], rank, False), "qrs_off": _kth([w[3] for _, w in c], rank, True),
              "r": float(np.median([p for p, _ in c]))} for c in clusters]
    for i, beat in enumerate(beats):
        prev_off = beats[i - 1]["qrs_off"] if i else -np.inf
        next_on = beats[i + 1]["qrs_on"] if i + 1 < len(beats) else np.inf
        ps = [w for ws in per.values() for w in ws if w[0] == "p" and prev_off < w[2] < beat["qrs_on"]
              and beat["qrs_on"] - w[2] < _MAX_P_TO_QRS_S * fs_hz]
        ts = [w for ws in per.values() for w in ws if w[0] == "t" and beat["qrs_off"] < w[2] < next_on]
        beat["p_on"] = _kth([w[1] for w in ps], rank, False)
        beat["p_off"] = _kth([w[3] for w in ps], rank, True)
        beat["t_off"] = _kth([w[3] for w in ts], rank, True)
    out: dict[str, Any] = {"beats": beats}
    for name, (a, b) in INTERVAL_SPANS.items():
        values = np.array([beat[b] - beat[a] for beat in beats], dtype=float) * 1000.0 / fs_hz
        values = values[np.isfinite(values)]
        out[name] = float(np.median(values)) if values.size >= 2 else float("nan")
    return out


def ludb_labels(csv_path: Path) -> dict[int, dict[str, Any]]:
    """Per record id: af, av_block_1, rbbb, lbbb (complete), pacing (bools) and axis class (str or None)."""
    import csv
    import re

    out = {}
    with open(csv_path, newline="") as handle:
        for row in csv.DictReader(handle):
            rhythm, conduction = row["Rhythms"].lower(), row["Conduction abnormalities"].lower()
            axis = row["Electric axis of the heart"].strip()
            out[int(row["ID"])] = {
                "af": "atrial fibrillation" in rhythm, "flutter": "flutter" in rhythm,
                "av_block_1": "i degree av block" in conduction,
                "rbbb": re.search(r"(?<!in)complete right bundle branch block", conduction) is not None,
                "lbbb": re.search(r"(?<!in)complete left bundle branch block", conduction) is not None,
                "pacing": bool(row["Cardiac pacing"].strip()),
                "axis": axis.split(":")[-1].strip() if axis else None}
    return out
