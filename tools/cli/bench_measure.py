"""``ecg-agent bench measure``: interval accuracy on simulated truth, on simulated records that
went through the renderer and the digitizer, and on LUDB; rhythm and conduction Se/Sp on LUDB,
speed on one core; NeuroKit2 ``prominence`` delineation beside ours.

LUDB reference (stated in docs/measurement.md): per beat, the AHA/ACC/HRS global fiducials over
the cardiologists' per-lead points (earliest onset, latest offset over the 12 annotated leads);
per record, the median over its beats. Our numbers come from the median beat; NeuroKit2's from
lead II (median over its beats). Defaults were tuned on even-numbered records only; both halves
are reported.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from tools.ludb import INTERVAL_SPANS, ludb_labels, ludb_reference, qrs_marks, read_ludb_annotations, read_ludb_counts_mv

__all__ = ["add_parser", "INTERVALS", "IEC_LIMITS_MS"]

INTERVALS = ("p_duration_ms", "pr_ms", "qrs_ms", "qt_ms")
# IEC 60601-2-25 limits on (|mean|, SD) of the error vs the reference, ms.
IEC_LIMITS_MS = {"p_duration_ms": (10.0, 15.0), "pr_ms": (10.0, 10.0), "qrs_ms": (10.0, 10.0), "qt_ms": (25.0, 30.0)}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``bench measure`` (entry point of group ``ecg_agent.bench``)."""
    parser = subparsers.add_parser(
        "measure", help="interval/rhythm accuracy (simulated truth, LUDB) and speed vs NeuroKit2 prominence",
        description="Errors of PR, QRS, QT and P duration against simulated truth, on simulated records "
                    "rendered as 200-DPI pages and digitized (against truth and the direct path), and against "
                    "LUDB's cardiologist points (global reference), AF and conduction Se/Sp and axis agreement on "
                    "LUDB, the simulated records again with the simulator's electrode noise and as 3x4 pages "
                    "read by a perfect digitizer (rate, rhythm, false PVCs), beats, PACs, PVCs "
                    "and repeatability on an annotated MIT-BIH recording cut into 10-s windows, "
                    "seconds per 10-s 12-lead record on one core; NeuroKit2 prominence delineation in the "
                    "same run. "
                    "Writes bench/results/measure.json.")
    parser.add_argument("--ludb", type=Path, default=Path("../shared/data/ludb"), metavar="DIR",
                        help="LUDB folder with data/ and ludb.csv (default ../shared/data/ludb; skipped if absent)")
    parser.add_argument("--beats-record", type=Path, default=Path("../shared/data/records/100.hea"), metavar="HEADER",
                        help="a long WFDB record with MIT-BIH beat annotations (.atr beside it), measured in "
                             "consecutive 10-s windows: beat, PAC and PVC Se/PPV and the window-to-window "
                             "spread of every measurement (default ../shared/data/records/100.hea, MIT-BIH "
                             "100; skipped if absent)")
    parser.add_argument("--n-sim", type=int, default=210, metavar="N",
                        help="simulated records across rhythms and morphologies, measured clean and with "
                             "electrode noise (default 210: 10 of each of the 21 label sets; 60 gave 3 per "
                             "rhythm, too few to show AF, flutter or tachycardia)")
    parser.add_argument("--n-digitized", type=int, default=24, metavar="N",
                        help="simulated records rendered as 200-DPI 3x4+1 pages and digitized (default 24; 0 "
                             "skips the digitized path, whose figures are then absent from the results file)")
    parser.add_argument("--repeats", type=int, default=10, metavar="N", help="timed calls per speed figure (default 10)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="results folder (default bench/results)")
    parser.set_defaults(run=run)


# ---- running ------------------------------------------------------------------------------------
def _ours(result: Any) -> dict[str, float]:
    g = result.to_json_dict()["global"]
    return {k: (np.nan if g[k] is None else float(g[k])) for k in INTERVALS}


def _neurokit(signal_mv: np.ndarray, fs_hz: float) -> dict[str, float]:
    """NeuroKit2 prominence delineation of one lead: per-record medians of the intervals (NaN on failure)."""
    import warnings

    import neurokit2 as nk

    nan = dict.fromkeys(INTERVALS, np.nan)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clean = nk.ecg_clean(signal_mv, sampling_rate=int(fs_hz))
            _, peaks = nk.ecg_peaks(clean, sampling_rate=int(fs_hz))
            _, waves = nk.ecg_delineate(clean, peaks, sampling_rate=int(fs_hz), method="prominence")
    except Exception:  # noqa: BLE001 - NeuroKit2 raises assorted errors on some records; that is a failure, counted
        return nan
    w = {k: np.asarray(v, dtype=float) for k, v in waves.items()}
    pts = {"p_on": w["ECG_P_Onsets"], "p_off": w["ECG_P_Offsets"], "qrs_on": w["ECG_R_Onsets"],
           "qrs_off": w["ECG_R_Offsets"], "t_off": w["ECG_T_Offsets"]}
    out = {}
    for name, (a, b) in INTERVAL_SPANS.items():
        if pts[a].shape != pts[b].shape:  # its per-beat arrays disagree on some noisy records: a failure
            out[name] = np.nan
            continue
        values = (pts[b] - pts[a]) * 1000.0 / fs_hz
        values = values[np.isfinite(values)]
        out[name] = float(np.median(values)) if values.size else np.nan
    return out


def _error_stats(errors: dict[str, list[float]], limits: dict[str, tuple[float, float]] | None) -> dict[str, Any]:
    out = {}
    for name, values in errors.items():
        v = np.asarray(values, dtype=float)
        finite = v[np.isfinite(v)]
        entry: dict[str, Any] = {"n": int(finite.size), "missing": int(v.size - finite.size),
                                 "mean_ms": float(finite.mean()) if finite.size else None,
                                 "sd_ms": float(finite.std(ddof=1)) if finite.size > 1 else None}
        if limits and name in limits and entry["mean_ms"] is not None and entry["sd_ms"] is not None:
            entry["within_iec"] = abs(entry["mean_ms"]) <= limits[name][0] and entry["sd_ms"] <= limits[name][1]
        out[name] = entry
    return out


# QRS edge shape: how the deviation from the baseline grows over the first (last) 20 ms of the QRS.
_EDGE_NEAR_S, _EDGE_FAR_S = 0.010, 0.020
_EDGE_BASELINE_S = (0.004, 0.016)  # the baseline: this far outside the edge
_EDGE_MIN_MV = 0.15                # edges whose deviation 20 ms in is smaller are too noisy to read


def qrs_edge_exponents(signal_mv: np.ndarray, fs_hz: float,
                       edges: list[tuple[int, int, int]]) -> tuple[float | None, float | None]:
    """(onset, offset) exponent of how the QRS leaves and rejoins the baseline: the median of
    log2(d(20 ms) / d(10 ms)) over ``edges`` ((lead column, onset sample, offset sample)), where d
    is the deviation (mV) from the mean over 4-16 ms outside the edge, measured inwards.

    A deviation growing as t**p gives p: 1 for a corner at full slope, 2-3 for a rounded start.
    Edges too near the record's ends or with d(20 ms) below 0.15 mV are skipped; None when none is left.
    """
    near, far = int(_EDGE_NEAR_S * fs_hz), int(_EDGE_FAR_S * fs_hz)
    b0, b1 = int(_EDGE_BASELINE_S[0] * fs_hz), int(_EDGE_BASELINE_S[1] * fs_hz)
    reach = max(far, b1)  # samples each side of an edge that must lie in the record
    found: tuple[list[float], list[float]] = ([], [])
    for lead, onset, offset in edges:
        y = signal_mv[:, lead]
        for values, k, inward in ((found[0], onset, 1), (found[1], offset, -1)):
            if not reach <= k < len(y) - reach:
                continue
            base = np.mean(y[k - b1:k - b0] if inward > 0 else y[k + b0:k + b1])
            d_near, d_far = abs(y[k + inward * near] - base), abs(y[k + inward * far] - base)
            if np.isfinite(d_far) and d_far >= _EDGE_MIN_MV and d_near > 0:
                values.append(float(np.log2(d_far / d_near)))
    onset_p, offset_p = (float(np.median(v)) if v else None for v in found)
    return onset_p, offset_p


def _edge_quartiles(per_record: list[tuple[float | None, float | None]]) -> dict[str, Any]:
    """Quartiles over the records of their :func:`qrs_edge_exponents` (onset, offset)."""
    out = {}
    for k, side in enumerate(("onset", "offset")):
        v = np.asarray([record[k] for record in per_record if record[k] is not None], dtype=float)
        out[side] = {"records": int(v.size), "quartiles": [round(float(q), 2) for q in np.percentile(v, [25, 50, 75])]
                     if v.size else None}
    return out


def _rounded(value: float) -> float | None:
    """An error in ms to 0.1 ms for the results file; None when not measured (NaN)."""
    return round(float(value), 1) if np.isfinite(value) else None


def _worst(rows: list[tuple[int, float | None]], n: int = 5) -> list[tuple[int, float | None]]:
    """The ``n`` (record, error ms) rows of largest |error|; a record not measured (None) first."""
    return sorted(rows, key=lambda row: -np.inf if row[1] is None else -abs(row[1]))[:n]


def _se_sp(truth: list[bool], pred: list[bool]) -> dict[str, Any]:
    t, p = np.asarray(truth, bool), np.asarray(pred, bool)
    tp, fn, tn, fp = int((t & p).sum()), int((t & ~p).sum()), int((~t & ~p).sum()), int((~t & p).sum())
    return {"tp": tp, "fn": fn, "tn": tn, "fp": fp, "se": tp / (tp + fn) if tp + fn else None,
            "sp": tn / (tn + fp) if tn + fp else None}


def _axis_class(axis: float | None) -> str | None:
    """LUDB's axis classes (Russian convention): LAD < 0, horizontal 0-30, normal 30-70, vertical 70-90, RAD > 90."""
    if axis is None:
        return None
    if axis < 0 and axis >= -90:
        return "left axis deviation"
    if 0 <= axis < 30:
        return "horizontal"
    if 30 <= axis < 70:
        return "normal"
    if 70 <= axis <= 90:
        return "vertical"
    return "right axis deviation"


# Se/Sp keys of bench_ludb: each call against LUDB's diagnosis; first-degree AV block also against
# its criterion applied to the cardiologists' points (reference PR > av_block_1_pr_ms).
_LABEL_CHECKS = {"af": "af", "avb1": "av_block_1", "avb1_annotated": "av_block_1_annotated_pr",
                 "rbbb": "rbbb_complete", "lbbb": "lbbb_complete", "pac": "pac", "pvc": "pvc"}


def bench_ludb(root: Path) -> dict[str, Any]:
    """Interval errors (ours and NeuroKit2, by parity half), the five worst records per half and
    interval (ours vs ``global_rank2``), our QRS error split by LUDB's left ventricular hypertrophy
    label, label agreement on LUDB and our rhythm labels counted under LUDB's rhythm; under
    ``common_gain``, our intervals, LVH and ST elevation statements with the leads' relative sizes restored
    (:func:`tools.ludb.read_ludb_counts_mv`: this copy has every lead normalised to 1 mV)."""
    from tools.measure import MeasureConfig, measure
    from tools.record_io import read_record

    config, labels = MeasureConfig(), ludb_labels(root / "ludb.csv")
    errs = {(who, half, ref): {k: [] for k in INTERVALS} for who in ("ours", "neurokit2")
            for half in ("even", "odd") for ref in ("global", "global_rank2", "lead_ii", "median_beat_rank2")}
    calls: dict[str, list[bool]] = {f"{key}_{end}": [] for key in _LABEL_CHECKS for end in ("true", "pred")}
    axis_pairs, per_record = [], {half: {k: [] for k in INTERVALS} for half in ("even", "odd")}
    qrs_by_lvh = {half: {"lvh": [], "no_lvh": []} for half in ("even", "odd")}
    rhythms: dict[str, dict[str, int]] = {}
    abstained: dict[str, list[tuple[int, str]]] = {"even": [], "odd": []}
    common = {half: {k: [] for k in INTERVALS} for half in ("even", "odd")}
    by_gain: dict[str, list[bool]] = {f"{key}_{end}": [] for key in ("lvh", "stemi") for end in ("true", "pred")}
    edges: list[tuple[float | None, float | None]] = []  # per record: QRS onset and offset exponents
    for rec_id in sorted(labels):
        stem = root / "data" / str(rec_id)
        if not stem.with_suffix(".hea").exists():
            continue
        recording = read_record(stem.with_suffix(".hea"))
        annotations = read_ludb_annotations(stem)
        refs = {"global": ludb_reference(annotations, recording.fs_hz),
                "global_rank2": ludb_reference(annotations, recording.fs_hz, rank=2),
                "lead_ii": ludb_reference(annotations, recording.fs_hz, ("ii",)),
                "median_beat_rank2": ludb_reference(annotations, recording.fs_hz, rank=2, pooling="lead")}
        result = measure(recording, config)
        got = {"ours": _ours(result), "neurokit2": _neurokit(recording.lead("II"), recording.fs_hz)}
        half = "even" if rec_id % 2 == 0 else "odd"
        columns = {name.lower(): k for k, name in enumerate(recording.leads)}
        edges.append(qrs_edge_exponents(recording.signal_mv, recording.fs_hz, [
            (columns[lead], on, off) for lead, on, off in qrs_marks(annotations) if lead in columns]))
        for k in INTERVALS:
            if np.isfinite(refs["global_rank2"][k]):
                per_record[half][k].append((rec_id, _rounded(got["ours"][k] - refs["global_rank2"][k])))
        if np.isfinite(refs["global_rank2"]["qrs_ms"]):
            group = "lvh" if labels[rec_id]["lvh"] else "no_lvh"
            qrs_by_lvh[half][group].append(got["ours"]["qrs_ms"] - refs["global_rank2"]["qrs_ms"])
        if np.isfinite(refs["global_rank2"]["pr_ms"]) and not np.isfinite(got["ours"]["pr_ms"]):
            abstained[half].append((rec_id, result.not_measurable.get("global.pr_ms", "")))
        for who, values in got.items():
            for ref_name, ref in refs.items():
                for k in INTERVALS:
                    if np.isfinite(ref[k]):
                        errs[(who, half, ref_name)][k].append(values[k] - ref[k])
        restored = measure(recording.with_signal(read_ludb_counts_mv(stem)), config)
        for k, value in _ours(restored).items():
            if np.isfinite(refs["global_rank2"][k]):
                common[half][k].append(value - refs["global_rank2"][k])
        restored_codes = {s.code for s in restored.statements}
        for key, pred in (("lvh", "lvh" in restored_codes),
                          ("stemi", any(code.startswith("st_elevation") for code in restored_codes))):
            by_gain[f"{key}_true"].append(labels[rec_id][key])
            by_gain[f"{key}_pred"].append(pred)
        codes = {s.code for s in result.statements}
        lab, ref = labels[rec_id], refs["global_rank2"]
        # LUDB's diagnoses and its own annotations disagree on some records (first-degree block
        # labelled where the annotated PR is <= 200 ms, and not labelled where it is longer).
        # AF beneath a ventricular-paced rhythm is the rhythm's ``underlying`` atrial rhythm (LUDB 93).
        af = "atrial_fibrillation" in (result.rhythm.label, result.rhythm.underlying)
        for key, truth, pred in (("af", lab["af"], af),
                                 ("avb1", lab["av_block_1"], "av_block_1" in codes),
                                 ("avb1_annotated", bool(ref["pr_ms"] > config.av_block_1_pr_ms), "av_block_1" in codes),
                                 ("rbbb", lab["rbbb"], "rbbb" in codes), ("lbbb", lab["lbbb"], "lbbb" in codes),
                                 ("pac", lab["pac"], result.rhythm.pac_count > 0),
                                 ("pvc", lab["pvc"], result.rhythm.pvc_count > 0)):
            calls[f"{key}_true"].append(truth)
            calls[f"{key}_pred"].append(pred)
        ours = rhythms.setdefault(lab["rhythm"], {})
        ours[str(result.rhythm.label)] = ours.get(str(result.rhythm.label), 0) + 1
        if lab["axis"]:
            axis_pairs.append((lab["axis"], _axis_class(result.to_json_dict()["global"]["axis_deg"]["qrs"])))
    intervals = {f"{who}/{half}/{ref}": _error_stats(e, IEC_LIMITS_MS) for (who, half, ref), e in errs.items()}
    agree = [a == b for a, b in axis_pairs]
    return {
        "records": len(calls["af_true"]), "reference": "global: earliest onset / latest offset over the 12 "
        "annotated leads per beat, median over beats; global_rank2: second earliest / second latest (one "
        "lead's outlying annotation dropped); lead_ii: lead II annotations only; median_beat_rank2: each "
        "lead's annotations first reduced to their median over the beats (the cardiologists' median beat), "
        "then second earliest / second latest over the leads",
        "intervals": intervals,
        **{name: _se_sp(calls[f"{key}_true"], calls[f"{key}_pred"]) for key, name in _LABEL_CHECKS.items()},
        "axis_class_agreement": {"n": len(agree), "fraction": float(np.mean(agree)) if agree else None},
        "rhythm_labels_by_ludb_rhythm": dict(sorted(rhythms.items())),
        "qrs_error_by_lvh_global_rank2": {half: _error_stats(groups, None) for half, groups in qrs_by_lvh.items()},
        "worst_records_global_rank2": {half: {k: _worst(rows) for k, rows in by_name.items()}
                                       for half, by_name in per_record.items()},
        "measured_of_defined_global_rank2": {
            f"{who}/{half}": {k: f"{v['n']} measured, {v['missing']} abstained or failed" for k, v in
                              intervals[f"{who}/{half}/global_rank2"].items()}
            for who in ("ours", "neurokit2") for half in ("even", "odd")},
        "abstained_pr_ours": abstained,
        "qrs_edge_exponent_at_cardiologists_marks": _edge_quartiles(edges),
        "common_gain": {"intervals": {f"ours/{half}/global_rank2": _error_stats(e, IEC_LIMITS_MS)
                                      for half, e in common.items()},
                        "lvh_voltage_vs_ludb_lvh": _se_sp(by_gain["lvh_true"], by_gain["lvh_pred"]),
                        "st_elevation_vs_ludb_stemi": _se_sp(by_gain["stemi_true"], by_gain["stemi_pred"])},
    }


# Labels cycled over the simulated records: every rhythm, conduction and morphology the
# simulator shows, so the figures are not those of one easy morphology.
SIM_LABELS: tuple[tuple[str, ...], ...] = (
    (), ("sinus_bradycardia",), ("sinus_tachycardia",), ("sinus_arrhythmia",), ("atrial_fibrillation",),
    ("atrial_flutter",), ("av_block_3",), ("av_block_1",), ("av_block_2_wenckebach",), ("rbbb",), ("lbbb",),
    ("lafb",), ("lvh",), ("pvc",), ("pac",), ("left_axis_deviation",), ("right_axis_deviation",), ("long_qt",),
    ("st_elevation_inferior",), ("t_inversion",), ("low_voltage",))
SIM_TARGETS_MS = {"p_duration_ms": (5.0, 5.0), "pr_ms": (5.0, 5.0), "qrs_ms": (5.0, 5.0), "qt_ms": (10.0, 10.0)}


def bench_simulated(n_records: int, noisy: bool = False) -> dict[str, Any]:
    """Errors against the simulator's exact global truth, ours and NeuroKit2's (lead II); ``outliers``
    lists the records (seed, labels, our errors) where an interval misses twice its target bias;
    ``by_label_set`` our errors and rhythm agreement per label set (``sinus_rhythm``: no label);
    ``rhythm_misses`` the records whose rhythm label differs from the simulated one.
    ``noisy``: the same records with the simulator's electrode noise (wander, EMG 5-40 µV, mains in
    half of them, electrode motion in 30 %)."""
    from tools.measure import MeasureConfig, measure
    from tools.simulate import sample_config, simulate

    config = MeasureConfig()
    errs = {who: {k: [] for k in INTERVALS} for who in ("ours", "neurokit2")}
    axis_err, rhythm_ok, per_record, ectopy_calls = [], [], [], {"pac": [], "pvc": []}
    beat_pr_err: list[list[float]] = []  # per record
    edges: list[tuple[float | None, float | None]] = []  # per record: QRS onset and offset exponents
    by_set: dict[str, dict[str, list[float]]] = {}
    for seed in range(n_records):
        labels = SIM_LABELS[seed % len(SIM_LABELS)]
        sim = simulate(sample_config(seed, fs_hz=500.0, labels=labels, noisy=noisy))
        result = measure(sim.recording, config)
        got = {"ours": _ours(result), "neurokit2": _neurokit(sim.recording.lead("II"), sim.recording.fs_hz)}
        group = by_set.setdefault("+".join(labels) or "sinus_rhythm", {k: [] for k in (*INTERVALS, "rhythm_ok")})
        for who, values in got.items():
            for k in INTERVALS:
                truth = getattr(sim.truth, k)
                if truth is not None:
                    errs[who][k].append(values[k] - truth)
                    if who == "ours":
                        group[k].append(values[k] - truth)
        rhythms = [code for code in sim.truth.labels if code in _RHYTHM_CODES]
        rhythm_ok.append(bool(rhythms) and result.rhythm.label == rhythms[0])
        group["rhythm_ok"].append(float(rhythm_ok[-1]))
        for kind, count in (("pac", result.rhythm.pac_count), ("pvc", result.rhythm.pvc_count)):
            ectopy_calls[kind].append((any(b.kind == kind for b in sim.truth.beats), count > 0))
        per_record.append({"seed": seed, "labels": list(labels), "rhythm": result.rhythm.label,
                           "expected_rhythm": rhythms[0] if rhythms else None,
                           "error_ms": {k: _rounded(got["ours"][k] - getattr(sim.truth, k)) for k in INTERVALS
                                        if getattr(sim.truth, k) is not None}})
        beat_pr_err.append(_beat_pr_errors_ms(sim, result))
        fs = sim.recording.fs_hz
        edges.append(qrs_edge_exponents(sim.recording.signal_mv, fs, [
            (lead, round(b.qrs_on_s * fs), round(b.qrs_off_s * fs)) for b in sim.truth.beats
            if b.qrs_on_s is not None and b.qrs_off_s is not None for lead in range(sim.recording.signal_mv.shape[1])]))
        axis = result.global_.axis_deg.qrs
        axis_err.append(np.nan if axis is None else (axis - sim.truth.qrs_axis_deg + 180.0) % 360.0 - 180.0)
    axis_arr = np.asarray(axis_err)
    return {"records": n_records, "fs_hz": 500.0, "noisy": noisy,
            "intervals": {who: _error_stats(e, SIM_TARGETS_MS) for who, e in errs.items()},
            "qrs_axis": {"n": int(np.isfinite(axis_arr).sum()),
                         "within_10_deg": float(np.mean(np.abs(axis_arr[np.isfinite(axis_arr)]) <= 10.0)),
                         "max_abs_deg": float(np.nanmax(np.abs(axis_arr)))},
            "rhythm_label_agreement": float(np.mean(rhythm_ok)),
            "beat_pr": _beat_pr_stats(beat_pr_err),
            "qrs_edge_exponent_at_truth": _edge_quartiles(edges),
            **{kind: _se_sp([truth for truth, _ in calls], [pred for _, pred in calls])
               for kind, calls in ectopy_calls.items()},
            "by_label_set": {name: {"records": len(group["rhythm_ok"]),
                                    "rhythm_agreement": float(np.mean(group["rhythm_ok"])),
                                    "intervals": _error_stats({k: group[k] for k in INTERVALS}, SIM_TARGETS_MS)}
                             for name, group in by_set.items()},
            "rhythm_misses": [{"seed": row["seed"], "expected": row["expected_rhythm"], "got": row["rhythm"]}
                              for row, ok in zip(per_record, rhythm_ok) if not ok],
            "outliers": [row for row in per_record if any(
                v is None or abs(v) > 2 * SIM_TARGETS_MS[k][0] for k, v in row["error_ms"].items())]}


def _beat_pr_errors_ms(sim: Any, result: Any) -> list[float]:
    """Each beat's own PR (``fiducials.beats[].pr_ms``) minus the true PR of the simulated beat
    whose R peak is nearest (within 50 ms), ms."""
    truth = [b for b in sim.truth.beats if b.qrs_on_s is not None and b.p_on_s is not None and b.r_peak_s is not None]
    errors = []
    for beat in (b for b in result.fiducials.beats if b.pr_ms is not None):
        near = min(truth, key=lambda b: abs(b.r_peak_s - beat.r_s), default=None)
        if near is not None and abs(near.r_peak_s - beat.r_s) <= 0.05:
            errors.append(beat.pr_ms - 1000.0 * (near.qrs_on_s - near.p_on_s))
    return errors


def _beat_pr_stats(per_record: list[list[float]]) -> dict[str, Any]:
    """|error| of the per-beat PRs pooled over the beats, and the records whose median |error| > 30 ms."""
    magnitude = np.abs(np.concatenate([np.zeros(0), *(np.asarray(e, dtype=float) for e in per_record)]))
    return {"beats": int(magnitude.size),
            "median_abs_ms": _rounded(float(np.median(magnitude))) if magnitude.size else None,
            "p90_abs_ms": _rounded(float(np.percentile(magnitude, 90))) if magnitude.size else None,
            "records_off_by_30_ms": [seed for seed, e in enumerate(per_record) if e and np.median(np.abs(e)) > 30.0]}


def _codes(result: Any) -> set[str]:
    return {s.code for s in result.statements}


def bench_pages(n_records: int) -> dict[str, Any]:
    """The simulated records as default 200-DPI 3x4+1 pages read by a perfect digitizer (each page's
    own plotted samples, ``masked``) beside the records themselves: rate right (within 10 % or 5
    bpm), rhythm label agreement, pages stating PVCs or an ST elevation the record does not have; what
    the page layout alone (four leads at a time, 2.5 s each, and the rhythm strip) costs the beat analysis."""
    from tools.benchmarking import rate_right
    from tools.measure import MeasureConfig, measure
    from tools.render import RenderConfig, render
    from tools.simulate import sample_config, simulate

    config, render_config = MeasureConfig(), RenderConfig()
    counts = {path: {"rate_right": 0, "rhythm_right": 0, "false_pvc": 0, "false_st_elevation": 0}
              for path in ("direct", "page")}
    misses = []
    for seed in range(n_records):
        labels = SIM_LABELS[seed % len(SIM_LABELS)]
        sim = simulate(sample_config(seed, fs_hz=500.0, labels=labels))
        rhythm = next((code for code in sim.truth.labels if code in _RHYTHM_CODES), None)
        results = {"direct": measure(sim.recording, config), "page": measure(render(sim.recording, render_config).masked, config)}
        for path, result in results.items():
            counts[path]["rate_right"] += rate_right(result.global_.heart_rate_bpm, sim.truth.heart_rate_bpm)
            counts[path]["rhythm_right"] += result.rhythm.label == rhythm
            counts[path]["false_pvc"] += result.rhythm.pvc_count > 0 and "pvc" not in sim.truth.labels
            counts[path]["false_st_elevation"] += bool({s.code for s in result.statements if s.code.startswith(
                "st_elevation")} - set(sim.truth.labels))
        if not rate_right(results["page"].global_.heart_rate_bpm, sim.truth.heart_rate_bpm):
            misses.append({"seed": seed, "labels": list(labels), "truth_rate_bpm": round(sim.truth.heart_rate_bpm, 1),
                           **{f"{path}_rate_bpm": None if r.global_.heart_rate_bpm is None else
                              round(r.global_.heart_rate_bpm, 1) for path, r in results.items()}})
    return {"records": n_records, "layout": "render defaults, perfect digitizer (masked)", **counts,
            "page_rate_misses": misses}


def bench_digitized(n_records: int, label_sets: tuple[tuple[str, ...], ...] = SIM_LABELS) -> dict[str, Any]:
    """The digitized path: simulated record -> default 200-DPI 3x4+1 page -> digitizer -> measure.

    Errors (ms) of the digitized path against the simulator's truth and against the direct path
    (the same record measured as recorded), and of the page's exactly plotted samples (``masked``:
    what a perfect digitizer would return) against the direct path, which separates the 3x4
    windowing (2.5 s per short lead) from digitization itself. ``false_ivcd`` counts pages whose
    direct measurement has no ``ivcd`` but whose digitized one has.
    """
    from tools.digitize import DigitizeConfig, digitize
    from tools.measure import MeasureConfig, measure
    from tools.render import RenderConfig, render
    from tools.simulate import sample_config, simulate

    config, render_config, digitize_config = MeasureConfig(), RenderConfig(), DigitizeConfig()
    keys = ("digitized_vs_truth", "digitized_vs_direct", "masked_vs_direct", "direct_vs_truth")
    errs: dict[str, dict[str, list[float]]] = {key: {k: [] for k in INTERVALS} for key in keys}
    false_ivcd = 0
    for seed in range(n_records):
        sim = simulate(sample_config(seed, fs_hz=500.0, labels=label_sets[seed % len(label_sets)]))
        page = render(sim.recording, render_config)
        results = {"direct": measure(sim.recording, config), "masked": measure(page.masked, config),
                   "digitized": measure(digitize(page.image, digitize_config).recording, config)}
        got = {name: _ours(result) for name, result in results.items()}
        for k in INTERVALS:
            truth = getattr(sim.truth, k)
            truth = np.nan if truth is None else truth
            for key, (a, b) in zip(keys, ((got["digitized"][k], truth), (got["digitized"][k], got["direct"][k]),
                                          (got["masked"][k], got["direct"][k]), (got["direct"][k], truth))):
                if np.isfinite(b):
                    errs[key][k].append(a - b)
        false_ivcd += "ivcd" in _codes(results["digitized"]) and "ivcd" not in _codes(results["direct"])
    return {"records": n_records, "fs_hz": 500.0, "page": "render defaults: 200 DPI, 3x4 + lead II rhythm strip",
            "intervals": {key: _error_stats(e, None) for key, e in errs.items()}, "false_ivcd": false_ivcd}


# AAMI EC57 beat classes of the MIT-BIH annotation symbols: supraventricular ectopic (S) beats are
# what we call PACs, ventricular ectopic (V) beats our PVCs.
_BEAT_SYMBOLS = frozenset("NLRejAaJSVEF/fQ")
_S_BEATS, _V_BEATS = frozenset("AaJS"), frozenset("VE")
_MATCH_S = 0.15      # EC57 match window: an annotated and a detected beat within 150 ms are one beat
_WINDOW_EDGE_S = 0.2  # beats this close to a window's ends are not scored (our edge beats are "?")
_REPEATED = ("heart_rate_bpm", *INTERVALS)


def _spread(values: list[float]) -> dict[str, Any]:
    """Window-to-window spread of one measurement: how many windows measured it, median, 5th/95th
    percentile and interquartile range (in the measurement's unit)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if not v.size:
        return {"measured": 0}
    p5, q1, median, q3, p95 = np.percentile(v, [5, 25, 50, 75, 95])
    return {"measured": int(v.size), "median": round(float(median), 1), "p5": round(float(p5), 1),
            "p95": round(float(p95), 1), "iqr": round(float(q3 - q1), 1)}


def bench_annotated_beats(header: Path, window_s: float = 10.0, max_windows: int | None = None) -> dict[str, Any]:
    """A long recording with beat annotations (MIT-BIH format: ``.atr`` beside the header), measured in
    consecutive ``window_s`` windows as 10-s ECGs are.

    Beats are matched to the annotations within 150 ms (EC57), away from the window ends: detection
    Se/PPV, PACs (``rhythm.pac_beats``) against the supraventricular ectopic beats (A, a, J, S) and
    PVCs (``rhythm.pvc_beats``) against the ventricular ones (V, E). The rhythm label of
    each window is counted under the annotated rhythm in force at its middle (``(N`` normal sinus,
    ...). ``repeatability``: the spread of each global measurement over the windows, ours and
    NeuroKit2's (prominence, lead II), and how often each statement is made: one patient's ECG
    minutes apart should read alike, whatever the truth.
    """
    import wfdb

    from tools.measure import MeasureConfig, measure
    from tools.record_io import read_record
    from tools.recording import Recording

    recording, config = read_record(header), MeasureConfig()
    fs, stem = recording.fs_hz, header.with_suffix("")
    ann = wfdb.rdann(str(stem), "atr")
    times = np.asarray(ann.sample) / fs
    beats = [(t, s) for t, s in zip(times, ann.symbol) if s in _BEAT_SYMBOLS]
    changes = [(t, note.strip("\x00")) for t, s, note in zip(times, ann.symbol, ann.aux_note) if s == "+"]
    n_windows = int(len(recording.signal_mv) / fs // window_s)
    n_windows = n_windows if max_windows is None else min(n_windows, max_windows)
    counts = {f"{key}_{outcome}": 0 for key in ("beat", "s", "v") for outcome in ("tp", "fn", "fp")}
    labels: dict[str, dict[str, int]] = {}
    values: dict[str, list[float]] = {k: [] for k in (*_REPEATED, "qtc_bazett_ms")}
    baseline: dict[str, list[float]] = {k: [] for k in INTERVALS}
    statements: dict[str, int] = {}
    for w in range(n_windows):
        start = w * window_s
        window = Recording(recording.signal_mv[round(start * fs):round((start + window_s) * fs)], fs,
                           recording.leads)
        result = measure(window, config)
        _score_beats(result, [(t - start, s) for t, s in beats if start <= t < start + window_s], window_s, counts)
        rhythm = next((note for t, note in reversed(changes) if t <= start + window_s / 2), "unannotated")
        by_rhythm = labels.setdefault(rhythm, {})
        by_rhythm[str(result.rhythm.label)] = by_rhythm.get(str(result.rhythm.label), 0) + 1
        g = result.global_
        for k in _REPEATED:
            values[k].append(getattr(g, k))
        values["qtc_bazett_ms"].append(g.qtc_ms.bazett)
        if "II" in window.leads:
            for k, v in _neurokit(window.lead("II"), fs).items():
                baseline[k].append(v)
        for code in {s.code for s in result.statements}:
            statements[code] = statements.get(code, 0) + 1
    return {"record": stem.name, "fs_hz": fs, "leads": list(recording.leads), "windows": n_windows,
            "window_s": window_s, "beats": _detection(counts, "beat"),
            "pac_vs_supraventricular_ectopic": _detection(counts, "s"),
            "pvc_vs_ventricular_ectopic": _detection(counts, "v"),
            "rhythm_labels_by_annotated_rhythm": labels,
            "repeatability": {"ours": {k: _spread(v) for k, v in values.items()},
                              "neurokit2_lead_ii": {k: _spread(v) for k, v in baseline.items()}},
            "statement_windows": dict(sorted(statements.items(), key=lambda item: -item[1]))}


def _detection(counts: dict[str, int], key: str) -> dict[str, Any]:
    """Annotated count, tp/fn/fp, sensitivity and positive predictive value (None without a denominator)."""
    tp, fn, fp = (counts[f"{key}_{outcome}"] for outcome in ("tp", "fn", "fp"))
    return {"annotated": tp + fn, "tp": tp, "fn": fn, "fp": fp, "se": tp / (tp + fn) if tp + fn else None,
            "ppv": tp / (tp + fp) if tp + fp else None}


def _score_beats(result: Any, truth: list[tuple[float, str]], window_s: float, counts: dict[str, int]) -> None:
    """Match one window's annotated beats (time s from its start, symbol) to its detected beats, nearest
    first within ``_MATCH_S``, and add the beats away from the window's ends to ``counts`` (a beat
    matched near an end is not scored either way)."""
    rhythm = result.rhythm
    ours = [(b.r_s, i in rhythm.pvc_beats, i in rhythm.pac_beats) for i, b in enumerate(result.fiducials.beats)]
    used: set[int] = set()
    for t, symbol in truth:
        free = [i for i in range(len(ours)) if i not in used and abs(ours[i][0] - t) <= _MATCH_S]
        match = min(free, key=lambda j: abs(ours[j][0] - t)) if free else None
        if match is not None:
            used.add(match)
        if not _WINDOW_EDGE_S <= t < window_s - _WINDOW_EDGE_S:
            continue
        counts["beat_tp" if match is not None else "beat_fn"] += 1
        called_v, called_s = (False, False) if match is None else ours[match][1:]
        for key, annotated, call in (("s", symbol in _S_BEATS, called_s), ("v", symbol in _V_BEATS, called_v)):
            counts[f"{key}_tp"] += annotated and call
            counts[f"{key}_fn"] += annotated and not call
            counts[f"{key}_fp"] += call and not annotated
    for i, (r_s, called_v, called_s) in enumerate(ours):
        if i not in used and _WINDOW_EDGE_S <= r_s < window_s - _WINDOW_EDGE_S:
            counts["beat_fp"] += 1
            counts["s_fp"] += called_s
            counts["v_fp"] += called_v


def bench_speed(repeats: int) -> dict[str, Any]:
    """Seconds per 10-s 12-lead 500-Hz record on one core: ours vs NeuroKit2 on one lead."""
    from tools.benchmarking import time_per_call_s
    from tools.measure import MeasureConfig, measure
    from tools.simulate import sample_config, simulate

    recording = simulate(sample_config(0, fs_hz=500.0)).recording
    config = MeasureConfig()
    ours = time_per_call_s(lambda: measure(recording, config), repeats=repeats)
    nk = time_per_call_s(lambda: _neurokit(recording.lead("II"), recording.fs_hz), repeats=repeats)
    return {"ours_s_per_record": ours, "neurokit2_lead_ii_s_per_record": nk, "target_s": 0.3}


def run(args: argparse.Namespace) -> int:
    """Run every part, print a summary, write bench/results/measure.json."""
    from rich.console import Console
    from rich.table import Table

    from tools.benchmarking import pin_one_core, write_results
    from tools.errors import InputError

    if min(args.n_sim, args.repeats) < 1 or args.n_digitized < 0:
        raise InputError(f"--n-sim {args.n_sim} and --repeats {args.repeats} must be at least 1, "
                         f"--n-digitized {args.n_digitized} at least 0")
    pin_one_core()
    figures: dict[str, Any] = {"speed": bench_speed(args.repeats), "simulated": bench_simulated(args.n_sim),
                               "simulated_noisy": bench_simulated(args.n_sim, noisy=True)}
    figures["pages"] = bench_pages(args.n_sim)
    if args.n_digitized:
        figures["digitized"] = bench_digitized(args.n_digitized)
    skipped = []
    if (args.ludb / "ludb.csv").exists():
        figures["ludb"] = bench_ludb(args.ludb)
    else:
        skipped.append(f"LUDB: no {args.ludb / 'ludb.csv'}")
    if args.beats_record.exists() and args.beats_record.with_suffix(".atr").exists():
        figures["annotated_beats"] = bench_annotated_beats(args.beats_record)
    else:
        skipped.append(f"annotated beats: no {args.beats_record} with its .atr")
    console = Console()
    if not console.is_terminal:  # a log file: the tables' 80-column default would crop their cells
        console = Console(width=_LOG_WIDTH)
    table = Table(title="Interval error (ms): mean ± SD [measured/defined]")
    table.add_column("set", no_wrap=True)
    for k in INTERVALS:
        table.add_column(k)
    rows = [(f"{part}/{who}", figures[part]["intervals"][who]) for part in ("simulated", "simulated_noisy")
            for who in ("ours", "neurokit2")]
    if "digitized" in figures:
        rows += [(f"digitized/{key}", value) for key, value in figures["digitized"]["intervals"].items()]
    if "ludb" in figures:
        rows += [(f"ludb/{key}", value) for key, value in figures["ludb"]["intervals"].items()]
        rows += [(f"ludb_common_gain/{key}", value) for key, value in figures["ludb"]["common_gain"]["intervals"].items()]
    for name, stats in rows:
        table.add_row(name, *(_cell(stats[k]) for k in INTERVALS))
    console.print(table)
    console.print(_by_label_set_table(figures["simulated"]["by_label_set"]))
    if "ludb" in figures:
        sim, real = (figures["simulated"]["qrs_edge_exponent_at_truth"],
                     figures["ludb"]["qrs_edge_exponent_at_cardiologists_marks"])
        console.print("QRS edge exponent (deviation ~ t**p from the edge; quartiles over records): "
                      f"onset simulated {sim['onset']['quartiles']} vs LUDB {real['onset']['quartiles']}, "
                      f"offset simulated {sim['offset']['quartiles']} vs LUDB {real['offset']['quartiles']}")
    console.print({k: v for k, v in figures.items()
                   if k not in ("simulated", "simulated_noisy", "pages", "digitized", "ludb", "annotated_beats")})
    if "annotated_beats" in figures:
        console.print(_repeatability_table(figures["annotated_beats"]))
    for part in ("simulated", "simulated_noisy", "pages", "digitized", "ludb", "annotated_beats"):
        if part in figures:
            console.print({k: v for k, v in figures[part].items() if k not in ("intervals", "by_label_set")})
    for reason in skipped:
        console.print(f"skipped {reason}")
    path = write_results("measure", figures, args.out)
    console.print(f"wrote {path}")
    return 0


_LOG_WIDTH = 140  # characters per line when the output is not a terminal


def _by_label_set_table(by_set: dict[str, Any]) -> Any:
    """Rich table: our interval errors and rhythm agreement per simulated label set."""
    from rich import box
    from rich.table import Table

    table = Table(title="Simulated, ours by label set: error (ms) mean±SD (/k: k records not measured)",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("label set", "rhythm", "P", "PR", "QRS", "QT"):
        table.add_column(column, no_wrap=True)
    for name, group in by_set.items():
        table.add_row(name, f"{group['rhythm_agreement']:.0%}", *(_short_cell(group["intervals"][k]) for k in INTERVALS))
    return table


def _repeatability_table(part: dict[str, Any]) -> Any:
    """Rich table: median [5th-95th percentile] (IQR) of each measurement over the windows, ours and NeuroKit2's."""
    from rich import box
    from rich.table import Table

    table = Table(title=f"MIT-BIH {part['record']}, {part['windows']} windows of {part['window_s']:g} s: "
                        "median [p5-p95] (IQR) over the windows", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("measurement", "ours", "NeuroKit2 lead II"):
        table.add_column(column, no_wrap=True)
    spread = part["repeatability"]
    for name, ours in spread["ours"].items():
        table.add_row(name, *(_spread_cell(s) for s in (ours, spread["neurokit2_lead_ii"].get(name))))
    return table


def _spread_cell(spread: dict[str, Any] | None) -> str:
    if not spread or not spread["measured"]:
        return ""
    return f"{spread['median']:g} [{spread['p5']:g}-{spread['p95']:g}] ({spread['iqr']:g})"


def _cell(stats: dict[str, Any]) -> str:
    if stats["mean_ms"] is None:
        return "n/a"
    mark = {True: " ✓", False: " ✗"}.get(stats.get("within_iec"), "")
    # [measured/defined]: a record not measured (abstained, or NeuroKit2 failed) is not in the mean and SD.
    return f"{stats['mean_ms']:+.1f} ± {stats['sd_ms'] or 0:.1f} [{stats['n']}/{stats['n'] + stats['missing']}]{mark}"


def _short_cell(stats: dict[str, Any]) -> str:
    """``mean±SD``, with ``/missing`` when some records were not measured; empty when none defined."""
    if stats["n"] + stats["missing"] == 0:
        return ""
    if stats["mean_ms"] is None:
        return "n/a"
    return f"{stats['mean_ms']:+.1f}±{stats['sd_ms'] or 0:.1f}" + (f" /{stats['missing']}" if stats["missing"] else "")


def _rhythm_codes() -> frozenset[str]:
    from tools.vocabulary import RHYTHMS
    return frozenset(RHYTHMS)


_RHYTHM_CODES = _rhythm_codes()
