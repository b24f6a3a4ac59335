"""LUDB (Lobachevsky University Electrocardiography Database) reference readers.

The cardiologists annotated every lead: WFDB annotation files ``N.<lead>`` with ``(`` onset,
``p``/``N``/``t`` peak and ``)`` offset. These functions turn them into global reference
fiducials and intervals, and read the diagnoses in ``ludb.csv``. Cite: Kalyakulina et al.,
"LUDB: a new open-access validation tool for electrocardiogram delineation algorithms", IEEE
Access 2020 (ODC-By 1.0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = ["LUDB_LEADS", "INTERVAL_SPANS", "read_ludb_annotations", "read_ludb_counts_mv", "ludb_reference", "qrs_marks",
           "ludb_labels"]

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


_UV_PER_COUNT = 1.0   # assumed: chest-lead peak-to-peak then 2.8 mV, limb 1.6 mV (medians over the 150 records)


def read_ludb_counts_mv(stem: Path) -> np.ndarray:
    """(n_samples, 12) signal of ``stem``'s stored counts at one common gain (``_UV_PER_COUNT``), mV.

    The copy in ../shared/data has every lead's header gain set to its own peak-to-peak, so that
    each lead, read in mV, spans exactly 1 mV: the leads' relative sizes are lost, and with them
    every amplitude rule. The counts are untouched (III = II - I holds in them to the count), so
    one common gain restores the relative sizes; the absolute scale is an assumption. Raises
    ValueError when the limb-lead counts break Einthoven's law (not such a copy).
    """
    import wfdb

    record = wfdb.rdrecord(str(stem), physical=False)
    counts = record.d_signal.astype(float) - np.asarray(record.baseline, dtype=float)
    names = [name.lower() for name in record.sig_name]
    lead_i, lead_ii, lead_iii = (counts[:, names.index(name)] for name in ("i", "ii", "iii"))
    if np.abs(lead_iii - (lead_ii - lead_i)).max() > 1.0:
        raise ValueError(f"{stem}: III != II - I in the stored counts, so they are not on one common scale")
    return counts * _UV_PER_COUNT / 1000.0


def _waves(samples: np.ndarray, symbols: list[str]) -> list[tuple[str, int, int, int]]:
    """(symbol, onset, peak, offset) of every wave written as '(' symbol ')'."""
    return [(c, int(samples[i - 1]), int(samples[i]), int(samples[i + 1])) for i, c in enumerate(symbols)
            if c in "pNt" and 0 < i < len(symbols) - 1 and symbols[i - 1] == "(" and symbols[i + 1] == ")"]


def _kth(values: list[float], rank: int, latest: bool) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values, reverse=latest)
    return float(ordered[min(rank, len(ordered)) - 1])


_LATEST = {"p_on": False, "p_off": True, "qrs_on": False, "qrs_off": True, "t_off": True}


def _beat_points(per: dict[str, list[tuple[str, int, int, int]]], fs_hz: float) -> list[dict[str, Any]]:
    """Per beat (QRS peaks of the leads within ``_CLUSTER_S``): ``r`` (median peak, samples) and,
    per fiducial, the ``(lead, sample)`` pairs of every annotation of it (P waves within
    ``_MAX_P_TO_QRS_S`` before the beat's earliest QRS onset, T waves after its latest offset)."""
    qrs = sorted((w[2], lead, w) for lead, ws in per.items() for w in ws if w[0] == "N")
    clusters: list[list[tuple[int, str, tuple]]] = []
    for item in qrs:
        if clusters and item[0] - clusters[-1][-1][0] < _CLUSTER_S * fs_hz:
            clusters[-1].append(item)
        else:
            clusters.append([item])
    beats = [{"r": float(np.median([p for p, _, _ in c])), "qrs_on": [(ld, w[1]) for _, ld, w in c],
              "qrs_off": [(ld, w[3]) for _, ld, w in c]} for c in clusters]
    for i, beat in enumerate(beats):
        prev_off = max(v for _, v in beats[i - 1]["qrs_off"]) if i else -np.inf
        first_on, last_off = min(v for _, v in beat["qrs_on"]), max(v for _, v in beat["qrs_off"])
        next_on = min(v for _, v in beats[i + 1]["qrs_on"]) if i + 1 < len(beats) else np.inf
        ps = [(ld, w) for ld, ws in per.items() for w in ws if w[0] == "p" and prev_off < w[2] < first_on
              and first_on - w[2] < _MAX_P_TO_QRS_S * fs_hz]
        ts = [(ld, w) for ld, ws in per.items() for w in ws if w[0] == "t" and last_off < w[2] < next_on]
        beat["p_on"], beat["p_off"] = [(ld, w[1]) for ld, w in ps], [(ld, w[3]) for ld, w in ps]
        beat["t_off"] = [(ld, w[3]) for ld, w in ts]
    return beats


def ludb_reference(annotations: dict[str, tuple[np.ndarray, list[str]]], fs_hz: float,
                   leads: tuple[str, ...] = LUDB_LEADS, rank: int = 1,
                   pooling: Literal["beat", "lead"] = "beat") -> dict[str, Any]:
    """Global reference intervals of one LUDB record from its per-lead annotations.

    Global points: QRS onset = earliest onset over ``leads``, QRS offset and T end = latest
    offset, P onset earliest, P offset latest (``rank`` = 2: the second earliest / latest, which
    drops one lead's outlying annotation). ``pooling="beat"``: global points per beat, then the
    median of each interval over the beats where it is defined (NaN when fewer than two beats
    define it). ``pooling="lead"``: each lead's points are first reduced to their median over the
    beats (relative to each beat's QRS peak; NaN for a lead with fewer than two) — the
    cardiologists' median beat, the analogue of a median-beat measurement, free of the
    beat-to-beat scatter of their placements — and the global points taken over those.

    Returns
    -------
    dict
        ``p_duration_ms``, ``pr_ms``, ``qrs_ms``, ``qt_ms`` (float, NaN if undefined) and
        ``beats`` (list of per-beat dicts of global sample indices, ``pooling="beat"``).
    """
    beats = _beat_points({ld: _waves(*annotations[ld]) for ld in leads if ld in annotations}, fs_hz)
    out: dict[str, Any] = {"beats": [{"r": b["r"], **{k: _kth([v for _, v in b[k]], rank, late)
                                                       for k, late in _LATEST.items()}} for b in beats]}
    if pooling == "lead":
        points = {}
        for k, late in _LATEST.items():
            per_lead = [[v - b["r"] for b in beats for lead, v in b[k] if lead == ld] for ld in leads]
            points[k] = _kth([float(np.median(v)) for v in per_lead if len(v) >= 2], rank, late)
        for name, (a, b) in INTERVAL_SPANS.items():
            out[name] = (points[b] - points[a]) * 1000.0 / fs_hz
        return out
    for name, (a, b) in INTERVAL_SPANS.items():
        values = np.array([beat[b] - beat[a] for beat in out["beats"]], dtype=float) * 1000.0 / fs_hz
        values = values[np.isfinite(values)]
        out[name] = float(np.median(values)) if values.size >= 2 else float("nan")
    return out


def qrs_marks(annotations: dict[str, tuple[np.ndarray, list[str]]]) -> list[tuple[str, int, int]]:
    """(lead, onset sample, offset sample) of every QRS complex the cardiologists marked, per lead."""
    return [(lead, on, off) for lead, (samples, symbols) in annotations.items()
            for kind, on, _, off in _waves(samples, symbols) if kind == "N"]


def ludb_labels(csv_path: Path) -> dict[int, dict[str, Any]]:
    """Per record id: af, flutter, av_block_1, rbbb, lbbb (complete), pacing, pac and pvc (an atrial or
    a ventricular extrasystole listed), lvh (left ventricular hypertrophy listed), stemi (an ischaemia line
    starting "Stemi:"; "supp.nstemi" lines do not count) (bools), axis class
    (str or None) and the rhythm as written (str; several lines joined by " + ")."""
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
                "pac": "atrial extrasystole" in row["Extrasystolies"].lower(),
                "pvc": "ventricular extrasystole" in row["Extrasystolies"].lower(),
                "lvh": "left ventricular hypertrophy" in row["Hypertrophies"].lower(),
                "stemi": any(line.strip().lower().startswith("stemi:") for line in row["Ischemia"].splitlines()),
                "axis": axis.split(":")[-1].strip() if axis else None,
                "rhythm": " + ".join(line.strip() for line in row["Rhythms"].splitlines() if line.strip())}
    return out
