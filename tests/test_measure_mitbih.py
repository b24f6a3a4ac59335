"""Measurement tool on MIT-BIH Arrhythmia Database record 100 (two leads, MLII and V5, 360 Hz; every
beat labelled by cardiologists): beats and premature atrial complexes found in 10-s windows of a
recording that is neither 12-lead nor 500 Hz, and the bench section that scores the whole record."""

import numpy as np
import pytest

from tests.conftest import shared_path
from tools.cli.bench_measure import bench_annotated_beats
from tools.measure import MeasureConfig, measure
from tools.record_io import read_record
from tools.recording import Recording


@pytest.fixture(scope="module")
def record_100():
    import wfdb

    header = shared_path("records", "100.hea")
    annotations = wfdb.rdann(str(header.with_suffix("")), "atr")
    return header, read_record(header), annotations


@pytest.mark.shared_data
@pytest.mark.parametrize("start_s", [270.0, 880.0, 1170.0])  # windows holding one, two and two annotated APCs
def test_every_beat_and_each_premature_atrial_beat_of_a_two_lead_record(record_100, start_s):
    _, recording, annotations = record_100
    fs = recording.fs_hz
    window = Recording(recording.signal_mv[int(start_s * fs):int((start_s + 10.0) * fs)], fs, recording.leads)
    result = measure(window, MeasureConfig())
    times = np.asarray(annotations.sample) / fs - start_s
    labelled = [(t, s) for t, s in zip(times, annotations.symbol) if 0.2 <= t < 9.8 and s in "NAV"]
    ours = np.array([b.r_s for b in result.fiducials.beats])
    nearest = [int(np.argmin(np.abs(ours - t))) for t, _ in labelled]
    assert all(abs(ours[j] - t) <= 0.05 for j, (t, _) in zip(nearest, labelled))
    assert len(set(nearest)) == len(labelled)
    apcs = sorted(j for j, (_, symbol) in zip(nearest, labelled) if symbol == "A")
    assert apcs and sorted(result.rhythm.pac_beats) == apcs
    assert result.rhythm.label == "sinus_rhythm"


@pytest.mark.shared_data
@pytest.mark.parametrize(("start_s", "pvcs"), [(1510.0, 1), (290.0, 0), (360.0, 0)])
def test_premature_ventricular_complexes_of_a_two_lead_record(record_100, start_s, pvcs):
    # 1510 s: the record's one PVC (annotated V at 1518.87 s). 290 s: V5 loses contact and two beats
    # change shape; 360 s: one beat taller in V5; both on time, so no PVC.
    _, recording, annotations = record_100
    fs = recording.fs_hz
    window = Recording(recording.signal_mv[int(start_s * fs):int((start_s + 10.0) * fs)], fs, recording.leads)
    result = measure(window, MeasureConfig())
    assert result.rhythm.pvc_count == pvcs == len(result.rhythm.pvc_beats)
    labelled = np.asarray(annotations.sample)[np.asarray(annotations.symbol) == "V"] / fs - start_s
    for i in result.rhythm.pvc_beats:
        assert np.min(np.abs(labelled - result.fiducials.beats[i].r_s)) < 0.05
    assert ("pvc" in {s.code for s in result.statements}) == bool(pvcs)


@pytest.mark.shared_data
def test_bench_scores_beats_by_the_annotations(record_100):
    header, recording, annotations = record_100
    part = bench_annotated_beats(header, max_windows=3)
    times = np.asarray(annotations.sample) / recording.fs_hz
    # Beats scored: those 0.2 s or more from the ends of each 10-s window.
    in_windows = [t for t, s in zip(times, annotations.symbol) if s in "NAV" and t < 30.0 and 0.2 <= t % 10.0 < 9.8]
    assert part["windows"] == 3 and part["leads"] == ["II", "V5"]
    assert part["beats"]["annotated"] == len(in_windows)
    assert part["beats"]["se"] == pytest.approx(1.0) and part["beats"]["fp"] == 0
    assert part["rhythm_labels_by_annotated_rhythm"] == {"(N": {"sinus_rhythm": 3}}
    spread = part["repeatability"]["ours"]["heart_rate_bpm"]
    assert spread["measured"] == 3 and spread["p5"] <= spread["median"] <= spread["p95"]
    assert set(part["repeatability"]["neurokit2_lead_ii"]) == {"p_duration_ms", "pr_ms", "qrs_ms", "qt_ms"}
