"""Measurement tool on LUDB (real 12-lead records, cardiologists' per-lead points), held-out half,
and the P-timing rules the LUDB figures rest on (exact answers on synthetic and simulated beats).

Reference: per beat, the global fiducials over the 12 annotated leads with one outlying lead
dropped (second earliest onset / second latest offset), median over the beats; see
docs/measurement.md for why. Only odd-numbered records are used here: the defaults were tuned
on the even ones.
"""

import numpy as np
import pytest

from tests.test_measure import _bump_ms
from tools.cli.bench_measure import IEC_LIMITS_MS, INTERVALS, SIM_LABELS
from tests.conftest import shared_path
from tools.ludb import _waves, ludb_labels, ludb_reference, qrs_marks, read_ludb_annotations
from tools.measure import MeasureConfig, measure
from tools.measure.delineation import Delineation, delineate, p_timing_doubt
from tools.measure.median_beat import MedianBeats
from tools.simulate import sample_config, simulate

# IEC 60601-2-25 limits (mean, SD) are the target; the delineator does not meet every SD limit
# yet (see docs/measurement.md), so these tests hold it to 1.5x the mean and 2x the SD limits
# and fail on any regression beyond that.
MEAN_FACTOR, SD_FACTOR = 1.5, 2.0
# P duration and PR are withheld, with the reason, where the P wave cannot be timed (8 of 88
# held-out records); every other interval is measured on all but a few records.
MIN_MEASURED = {"p_duration_ms": 0.9, "pr_ms": 0.9, "qrs_ms": 0.95, "qt_ms": 0.95}
CONFIG = MeasureConfig()


@pytest.fixture(scope="module")
def odd_records(ludb_measured):
    """(id, labels, reference, Measurement) of the odd-numbered (held-out) LUDB records."""
    return [(rec_id, labels, ludb_reference(read_ludb_annotations(stem), result.fs_hz, rank=2), result)
            for rec_id, labels, stem, result in ludb_measured if rec_id % 2]


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("name", INTERVALS)
def test_interval_errors_against_cardiologists(odd_records, name):
    errors = np.array([getattr(m.global_, name) - ref[name] for _, _, ref, m in odd_records
                       if np.isfinite(ref[name]) and getattr(m.global_, name) is not None])
    defined = sum(np.isfinite(ref[name]) for _, _, ref, _ in odd_records)
    mean_limit, sd_limit = IEC_LIMITS_MS[name]
    assert errors.size >= MIN_MEASURED[name] * defined, f"{name}: measured on {errors.size} of {defined} records"
    assert abs(errors.mean()) <= MEAN_FACTOR * mean_limit, f"{name}: mean error {errors.mean():+.1f} ms"
    assert errors.std(ddof=1) <= SD_FACTOR * sd_limit, f"{name}: SD {errors.std(ddof=1):.1f} ms"


@pytest.mark.slow
@pytest.mark.shared_data
def test_withheld_p_timing_keeps_the_rhythm_and_says_why(odd_records):
    """A record whose P wave is not timed still has its rhythm named from the P waves found."""
    withheld = [(lab, m) for _, lab, ref, m in odd_records if np.isfinite(ref["pr_ms"]) and m.global_.pr_ms is None]
    assert withheld
    for lab, m in withheld:
        assert m.global_.p_duration_ms is None
        assert "p_timing_consistency" in m.not_measurable["global.pr_ms"] \
            or "min_p_lead_fraction" in m.not_measurable["global.pr_ms"] \
            or "previous T wave" in m.not_measurable["global.pr_ms"] \
            or "under the 40 ms" in m.not_measurable["global.pr_ms"] \
            or "max_p_onset_spread_ms" in m.not_measurable["global.pr_ms"]
        if not lab["af"] and not lab["pacing"]:
            assert m.rhythm.label is not None and m.rhythm.label.startswith("sinus")


@pytest.mark.slow
@pytest.mark.shared_data
def test_atrial_fibrillation_detection(odd_records):
    truth = np.array([lab["af"] for _, lab, _, _ in odd_records])
    called = np.array([m.rhythm.label == "atrial_fibrillation" for _, _, _, m in odd_records])
    assert truth.sum() >= 3
    assert (truth & called).sum() / truth.sum() >= 0.6          # sensitivity
    assert (~truth & ~called).sum() / (~truth).sum() >= 0.97    # specificity


@pytest.mark.slow
@pytest.mark.shared_data
def test_premature_ventricular_complexes(odd_records):
    # LUDB lists ventricular extrasystoles per record; a beat of other shape that is not early (noise,
    # pacing fusion) is not one (before the prematurity rule 13 odd records stated PVCs falsely).
    truth = np.array([lab["pvc"] for _, lab, _, _ in odd_records])
    called = np.array([m.rhythm.pvc_count > 0 for _, _, _, m in odd_records])
    assert truth.sum() >= 3
    assert (truth & called).sum() / truth.sum() >= 0.75         # sensitivity
    assert (~truth & ~called).sum() / (~truth).sum() >= 0.97    # specificity


@pytest.mark.shared_data
def test_left_ventricular_hypertrophy_label_is_read():
    """The bench splits the QRS error by it: LUDB 1 lists LVH, LUDB 174 only right atrial overload."""
    labels = ludb_labels(shared_path("ludb", "ludb.csv"))
    assert labels[1]["lvh"] and not labels[174]["lvh"]
    assert 40 <= sum(lab["lvh"] for lab in labels.values()) <= 110


@pytest.mark.shared_data
def test_stemi_label_is_read_without_suspected_nstemi():
    """LUDB 7 lists "Stemi: anterior wall"; LUDB 11 only "Undefined ischemia/scar/supp.nstemi"."""
    labels = ludb_labels(shared_path("ludb", "ludb.csv"))
    assert labels[7]["stemi"] and not labels[11]["stemi"]
    assert sum(lab["stemi"] for lab in labels.values()) == 6


@pytest.mark.slow
@pytest.mark.shared_data
def test_bundle_branch_blocks_are_not_confused(ludb_measured):
    """Complete RBBB found, and LBBB (rS/QS in V1 with a discordant rising ST) never called RBBB;
    RBBB rarely called without it (all 150 records: only 2 of each block in this copy)."""
    called = {rec_id: {s.code for s in m.statements} for rec_id, _, _, m in ludb_measured}
    labels = {rec_id: lab for rec_id, lab, _, _ in ludb_measured}
    assert all("rbbb" in called[r] for r, lab in labels.items() if lab["rbbb"])
    assert all("rbbb" not in called[r] for r, lab in labels.items() if lab["lbbb"])
    negatives = [r for r, lab in labels.items() if not lab["rbbb"]]
    assert sum("rbbb" in called[r] for r in negatives) <= 0.03 * len(negatives)


@pytest.mark.slow
@pytest.mark.shared_data
def test_per_lead_qrs_durations_against_each_leads_annotation(ludb_measured):
    """The lead matrix's QRS duration of every lead against that lead's own annotation (median over
    its beats). The cardiologists place each lead's onset and offset near the global ones, so every
    lead reads short on average; the spread is what the lead's own delineation adds: an offset
    stopped at an S trough or R' peak before the trace's slow return made it 22 ms (SD), 21 ms now."""
    errors, odd = [], [(stem, m) for rec_id, _, stem, m in ludb_measured if rec_id % 2]
    for stem, m in odd:
        annotations = read_ludb_annotations(stem)
        for row in m.leads:
            key = row.lead.lower()
            if row.qrs_ms is None or key not in annotations:
                continue
            spans = [(w[3] - w[1]) * 1000.0 / m.fs_hz for w in _waves(*annotations[key]) if w[0] == "N"]
            if len(spans) >= 2:
                errors.append(row.qrs_ms - float(np.median(spans)))
    errors = np.asarray(errors)
    assert errors.size >= 0.9 * 12 * len(odd)
    assert -25.0 <= errors.mean() <= 0.0, f"mean {errors.mean():+.1f} ms"
    assert errors.std(ddof=1) <= 21.5, f"SD {errors.std(ddof=1):.1f} ms"


@pytest.mark.slow
@pytest.mark.shared_data
def test_every_record_measured_without_crash(odd_records):
    assert len(odd_records) >= 90
    measured = [m for _, lab, _, m in odd_records if not lab["pacing"]]
    assert sum(m.global_.qrs_ms is not None for m in measured) >= 0.97 * len(measured)
    assert sum(m.rhythm.label is not None for m in measured) >= 0.9 * len(measured)


def _annotation(qrs_on_ms: list[int], r_ms: list[int]) -> tuple[np.ndarray, list[str]]:
    """One lead's LUDB-style annotation at 1000 Hz: a QRS per beat, onset as given, offset R + 40 ms."""
    samples = [v for on, r in zip(qrs_on_ms, r_ms) for v in (r + on, r, r + 40)]
    return np.asarray(samples), ["(", "N", ")"] * len(r_ms)


def test_qrs_marks_are_each_leads_own_onsets_and_offsets():
    annotations = {"i": _annotation([-60, -50], [1000, 2000]), "v6": _annotation([-55], [1000])}
    annotations["v6"] = (np.r_[annotations["v6"][0], 1500, 1520, 1600], [*annotations["v6"][1], "(", "t", ")"])
    assert sorted(qrs_marks(annotations)) == [("i", 940, 1040), ("i", 1950, 2040), ("v6", 945, 1040)]


@pytest.mark.parametrize(("rank", "pooling", "qrs_ms"), [(1, "beat", 100.0), (1, "lead", 90.0),
                                                        (2, "beat", 90.0), (2, "lead", 90.0)])
def test_reference_pooling_by_beat_or_by_lead(rank, pooling, qrs_ms):
    """Each lead marks one of three beats 10 ms early: per beat the earliest of the leads is always
    the early mark (100 ms), while each lead's median beat, and rank 2 per beat, ignore it (90 ms)."""
    r = [1000, 2000, 3000]
    annotations = {"i": _annotation([-60, -50, -50], r), "ii": _annotation([-50, -60, -50], r),
                   "iii": _annotation([-50, -50, -60], r)}
    reference = ludb_reference(annotations, 1000.0, rank=rank, pooling=pooling)
    assert reference["qrs_ms"] == qrs_ms
    assert np.isnan(reference["pr_ms"]) and np.isnan(reference["qt_ms"])


def test_p_offset_of_leads_facing_the_left_atrium_is_kept():
    """Nine leads' P waves end at -110 ms, three (I, aVR, aVL) at -55 ms, as when the left atrium
    ends the P wave (LUDB 106): 48 ms from the leads' median, those three were rejected as outliers
    and the P duration read 46 ms short."""
    t_ms = (np.arange(651) - 250) / 500.0 * 1000.0
    late = [0, 3, 4]
    qrs_t = _bump_ms(t_ms, -24, 16, 1.2) + _bump_ms(t_ms, 8, 40, -0.3) + _bump_ms(t_ms, 120, 360, 0.3)
    beat = np.stack([_bump_ms(t_ms, -200, -55 if k in late else -110, 0.1) + qrs_t for k in range(12)], axis=1)
    d = delineate(MedianBeats(beat, 250, 500.0, np.full(12, 10)), 1.0, CONFIG)
    assert d.global_s["p_off"] == pytest.approx(np.nanmax(d.lead_s["p_off"][late]))
    assert d.global_s["p_off"] - np.nanmax(np.delete(d.lead_s["p_off"], late)) >= 0.04
    assert abs(d.global_s["p_on"] * 1000.0 + 200.0) <= 4.0


@pytest.mark.parametrize(("first_hump_mv", "onset_ms"), [(0.09, -220.0), (0.0, -175.0)])
def test_notched_p_wave_starts_at_its_first_hump(first_hump_mv, onset_ms):
    """A bifid P wave (humps -220..-160 and -175..-110 ms, a notch between them, the second the
    taller): the onset search from the second hump stopped at the notch and read the P wave ~50 ms
    short (LUDB 169: P -62 ms); a single P wave keeps its own onset."""
    t_ms = (np.arange(651) - 250) / 500.0 * 1000.0
    p = _bump_ms(t_ms, -220, -160, first_hump_mv) + _bump_ms(t_ms, -175, -110, 0.1)
    qrs_t = _bump_ms(t_ms, -24, 16, 1.2) + _bump_ms(t_ms, 8, 40, -0.3) + _bump_ms(t_ms, 120, 360, 0.3)
    beat = np.repeat((p + qrs_t)[:, None], 12, axis=1)
    d = delineate(MedianBeats(beat, 250, 500.0, np.full(12, 10)), 1.0, CONFIG)
    assert abs(d.global_s["p_on"] * 1000.0 - onset_ms) <= 6.0
    assert abs(d.global_s["p_off"] * 1000.0 + 110.0) <= 6.0


def _delineation(n_usable, n_with_p, p_doubt=None, p_off_s=-0.05):
    p = np.full(12, np.nan)
    p[:n_with_p] = -0.15
    baseline = np.where(np.arange(12) < n_usable, 0.0, np.nan)
    points = {"p_on": -0.15, "p_off": p_off_s, "qrs_on": -0.03, "qrs_off": 0.05, "t_peak": 0.25, "t_off": 0.35}
    return Delineation(points, {"p_on": p, "p_off": p + 0.1}, baseline, {}, p_doubt)


@pytest.mark.parametrize("n_usable, n_with_p, consistency, p_doubt, expected", [
    (12, 3, 0.95, None, None), (12, 2, 0.95, None, "P wave seen in 2 of 12 usable leads"),
    (1, 1, 0.95, None, None), (5, 1, 0.95, None, "P wave seen in 1 of 5 usable leads"),
    (12, 12, 0.8, None, None), (12, 12, 0.79, None, "p_consistency 0.79 < p_timing_consistency 0.8"),
    (12, 12, None, None, None), (12, 12, 0.95, "on the T wave", "on the T wave")])
def test_when_p_timing_is_withheld(n_usable, n_with_p, consistency, p_doubt, expected):
    reason = p_timing_doubt(_delineation(n_usable, n_with_p, p_doubt), consistency, CONFIG)
    assert reason is None if expected is None else expected in reason


@pytest.mark.parametrize("p_off_s, withheld", [(-0.105, False), (-0.12, True)])
def test_a_p_wave_shorter_than_40_ms_is_not_timed(p_off_s, withheld):
    reason = p_timing_doubt(_delineation(12, 12, p_off_s=p_off_s), 0.95, CONFIG)
    assert (reason is not None and "under the 40 ms" in reason) if withheld else reason is None


@pytest.mark.parametrize("onsets_ms, withheld", [
    ((-150, -152, -148, -160, -140, -155, -150, -145), False),       # one atrial onset seen by every lead
    ((-150, -150, -150, -210, -215, -220, -150, -212), True),        # half the leads start 65 ms earlier
    ((-150, -260, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan), False)])  # two leads: no spread judged
def test_p_onsets_that_disagree_across_leads_are_not_timed(onsets_ms, withheld):
    """PTB s0010's inferior and lateral leads start their "P wave" on a slow drift 60-120 ms before
    the P wave that I, V2 and V4 show: the leads' onsets disagree, so no onset times the P wave."""
    d = _delineation(8, 8)
    d.lead_s["p_on"][:8] = np.array(onsets_ms) / 1000.0
    reason = p_timing_doubt(d, 0.95, CONFIG)
    assert (reason is not None and "max_p_onset_spread_ms" in reason) if withheld else reason is None


def test_p_wave_starting_on_the_previous_t_wave_is_not_timed():
    """Sinus tachycardia (simulated, seed 23 of the bench): the P wave begins on the T wave, so
    the knee at the search window's start read PR 12 ms short; the rhythm is still named."""
    sim = simulate(sample_config(23, fs_hz=500.0, labels=SIM_LABELS[23 % len(SIM_LABELS)]))
    result = measure(sim.recording, CONFIG)
    assert sim.truth.pr_ms is not None and result.global_.pr_ms is None and result.global_.p_duration_ms is None
    assert "previous T wave" in result.not_measurable["global.pr_ms"]
    assert result.rhythm.label == "sinus_tachycardia"


def test_varying_pr_withholds_one_pr_but_keeps_each_beat():
    """Wenckebach (simulated, seed 8 of the bench): the PR lengthens beat by beat, the median P
    wave is smeared (P +24, PR +16 ms), so no global PR; every conducted beat keeps its own."""
    sim = simulate(sample_config(8, fs_hz=500.0, labels=("av_block_2_wenckebach",)))
    result = measure(sim.recording, CONFIG)
    assert result.global_.pr_ms is None and "p_timing_consistency" in result.not_measurable["global.pr_ms"]
    per_beat = [b.pr_ms for b in result.fiducials.beats if b.pr_ms is not None]
    assert len(per_beat) >= 0.6 * len(result.fiducials.beats) and np.ptp(per_beat) >= 40.0
