"""Cross-check rules: tolerances, labels, negation, low quality; and the catch rate on simulated ECGs."""

from __future__ import annotations

import pytest

from agent.crosscheck import Tolerances, check_claims
from models.claims import Claim, parse_claims
from tools.measure import MeasureConfig, measure
from tools.simulate import SimulationConfig, simulate
from tools.vocabulary import LABELS

TOL = Tolerances()


def _measurements(**overrides) -> dict:
    """A measurement JSON object in the public contract's shape, with chosen values."""
    data = {
        "global": {"heart_rate_bpm": 72.0, "atrial_rate_bpm": 72.0, "rr_ms": 833.0, "p_duration_ms": 100.0,
                   "pr_ms": 160.0, "qrs_ms": 92.0, "qt_ms": 380.0,
                   "qtc_ms": {"bazett": 416.0, "fridericia": 404.0, "framingham": 406.0, "hodges": 402.0},
                   "axis_deg": {"p": 50.0, "qrs": 175.0, "t": 40.0}},
        "rhythm": {"label": "sinus_rhythm", "av_block": None, "pac_count": 0, "pvc_count": 0, "evidence": {}},
        "statements": [{"code": "sinus_rhythm", "text": "sinus rhythm", "criteria": "P before every QRS",
                        "evidence": {"leads": ["II"], "times_s": [0.5, 9.5], "values": {"heart_rate_bpm": 72.0}}}],
        "leads": [{"lead": "II", "usable": True, "r_mv": 1.2, "st_j60_mv": 0.0}],
        "quality": {"flags": []},
        "not_measurable": {},
    }
    for path, value in overrides.items():
        node = data
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    return data


def _claim(**fields) -> Claim:
    if fields.get("code") in LABELS:
        category = LABELS[fields["code"]].category
        fields["kind"] = category if category in ("rhythm", "axis") else "diagnosis"
    fields.setdefault("text", "a claim")
    fields.setdefault("span", (0, 7))
    return Claim(**fields)


@pytest.mark.parametrize("value, verdict", [(72, "agreed"), (79, "agreed"), (80, "disputed"), (64, "disputed"),
                                            (150, "disputed")])
def test_rate_tolerance_is_5_bpm_or_10_percent_whichever_is_larger(value, verdict):
    claim = _claim(kind="rate", quantity="heart_rate_bpm", value=value, unit="bpm")
    assert check_claims([claim], _measurements(), TOL)[0].verdict == verdict


def test_rate_tolerance_grows_to_10_percent_at_high_rates():
    measurements = _measurements(global__heart_rate_bpm=150.0)
    ok = _claim(kind="rate", quantity="heart_rate_bpm", value=136, unit="bpm")
    bad = _claim(kind="rate", quantity="heart_rate_bpm", value=134, unit="bpm")
    assert [c.verdict for c in check_claims([ok, bad], measurements, TOL)] == ["agreed", "disputed"]


@pytest.mark.parametrize("quantity, value, verdict", [
    ("qrs_ms", 100, "agreed"), ("qrs_ms", 104, "disputed"), ("pr_ms", 170, "agreed"), ("pr_ms", 240, "disputed"),
    ("qt_ms", 400, "agreed"), ("qt_ms", 410, "disputed"), ("qtc_ms", 440, "agreed"), ("qtc_ms", 480, "disputed")])
def test_interval_tolerances_follow_iec_limits(quantity, value, verdict):
    claim = _claim(kind="interval", quantity=quantity, value=value, unit="ms")
    assert check_claims([claim], _measurements(), TOL)[0].verdict == verdict


def test_a_range_agrees_when_the_measurement_lies_inside_it():
    claim = _claim(kind="interval", quantity="pr_ms", value=170, low=140, high=200, unit="ms")
    assert check_claims([claim], _measurements(), TOL)[0].verdict == "agreed"


def test_axis_difference_wraps_around_180_degrees():
    claim = _claim(kind="axis", quantity="qrs_axis_deg", value=-175, unit="deg")
    assert check_claims([claim], _measurements(), TOL)[0].verdict == "agreed"  # 175 vs -175: 10 degrees apart


def test_unmeasurable_quantity_is_unverifiable_with_the_reason():
    measurements = _measurements(global__pr_ms=None, not_measurable={"global.pr_ms": "no P waves (AF)"})
    check = check_claims([_claim(kind="interval", quantity="pr_ms", value=160, unit="ms")], measurements, TOL)[0]
    assert check.verdict == "unverifiable" and "no P waves" in check.reason


@pytest.mark.parametrize("code, negated, verdict", [
    ("sinus_rhythm", False, "agreed"), ("atrial_fibrillation", False, "disputed"),
    ("atrial_fibrillation", True, "agreed"), ("rbbb", False, "disputed"), ("lbbb", True, "agreed"),
    ("av_block_1", False, "disputed"), ("right_axis_deviation", False, "disputed"),
    ("normal_ecg", False, "agreed")])
def test_labels_go_through_the_measurement_criteria(code, negated, verdict):
    claim = _claim(kind="diagnosis", code=code, negated=negated)
    assert check_claims([claim], _measurements(), TOL)[0].verdict == verdict


def test_stated_findings_and_av_block_and_ectopy_count_as_present():
    measurements = _measurements(rhythm__av_block="av_block_1", rhythm__pvc_count=2,
                                 statements=[{"code": "rbbb", "text": "RBBB", "criteria": "QRS >= 120 ms",
                                              "evidence": {"leads": ["V1"], "times_s": [1.0, 1.2]}}])
    claims = [_claim(kind="diagnosis", code=code) for code in ("av_block_1", "pvc", "rbbb", "normal_ecg")]
    verdicts = [c.verdict for c in check_claims(claims, measurements, TOL)]
    assert verdicts == ["agreed", "agreed", "agreed", "disputed"]
    assert check_claims(claims[2:3], measurements, TOL)[0].evidence.leads == ("V1",)


def test_sinus_rate_variants_need_the_right_rate():
    brady = _claim(kind="rhythm", code="sinus_bradycardia")
    assert check_claims([brady], _measurements(), TOL)[0].verdict == "disputed"
    measured_brady = _measurements(rhythm__label="sinus_bradycardia")
    assert check_claims([brady], measured_brady, TOL)[0].verdict == "agreed"
    plain = _claim(kind="rhythm", code="sinus_rhythm")
    assert check_claims([plain], measured_brady, TOL)[0].verdict == "agreed"  # sinus origin is right


@pytest.mark.parametrize("underlying, verdicts", [
    ("atrial_fibrillation", ["agreed", "agreed", "disputed", "disputed"]),
    (None, ["agreed", "unverifiable", "unverifiable", "disputed"])])
def test_a_paced_rhythm_shows_only_the_atrial_rhythm_it_measured_beneath(underlying, verdicts):
    # Paced beats are regular whatever the atria do: an atrial-rhythm claim is judged against the
    # rhythm found beneath the pacing, and cannot be judged when none was found.
    measurements = _measurements(rhythm__label="paced_rhythm", rhythm__underlying=underlying, statements=[])
    claims = [_claim(kind="rhythm", code=code)
              for code in ("paced_rhythm", "atrial_fibrillation", "sinus_rhythm", "av_block_3")]
    assert [c.verdict for c in check_claims(claims, measurements, TOL)] == verdicts


def test_an_unclassified_rhythm_leaves_rhythm_claims_unverifiable_with_the_measurements_reason():
    why = "2:1 atrial flutter and a sinus or atrial tachycardia with its P waves on the T waves not distinguished"
    measurements = _measurements(rhythm__label=None, statements=[], not_measurable={"rhythm.label": why})
    checks = check_claims([_claim(kind="rhythm", code=code) for code in ("atrial_flutter", "sinus_tachycardia")],
                          measurements, TOL)
    assert [c.verdict for c in checks] == ["unverifiable", "unverifiable"]
    assert all(why in c.reason for c in checks)


@pytest.mark.parametrize("irregularity, verdict", [(0.01, "disputed"), (0.06, "disputed"), (0.2, "unverifiable"),
                                                   (None, "unverifiable")])
def test_an_unclassified_regular_rhythm_is_not_atrial_fibrillation(irregularity, verdict):
    measurements = _measurements(rhythm__label=None, rhythm__rr_irregularity=irregularity, statements=[],
                                 not_measurable={"rhythm.label": "no organised P wave at a regular rate"})
    check = check_claims([_claim(kind="rhythm", code="atrial_fibrillation")], measurements, TOL)[0]
    assert check.verdict == verdict


@pytest.mark.parametrize("pattern, verdict", [(3, "disputed"), (None, "unverifiable")])
def test_an_unclassified_grouped_rhythm_is_not_atrial_fibrillation(pattern, verdict):
    """Irregular, but the RRs repeat every group (Wenckebach, bigeminy): regularly irregular, not AF."""
    measurements = _measurements(rhythm__label=None, rhythm__rr_irregularity=0.5, rhythm__rr_pattern_beats=pattern,
                                 statements=[], not_measurable={"rhythm.label": "grouped beating"})
    check = check_claims([_claim(kind="rhythm", code="atrial_fibrillation")], measurements, TOL)[0]
    assert check.verdict == verdict
    assert ("repeat every 3 beats" in check.reason) == (pattern is not None)


def test_criteria_that_could_not_be_measured_make_a_label_unverifiable():
    measurements = _measurements(global__qrs_ms=None, not_measurable={"global.qrs_ms": "flat line"})
    check = check_claims([_claim(kind="diagnosis", code="lbbb")], measurements, TOL)[0]
    assert check.verdict == "unverifiable"


def test_low_quality_measurements_are_flagged_on_every_check():
    measurements = _measurements(quality={"flags": ["high_noise"]})
    check = check_claims([_claim(kind="rate", quantity="heart_rate_bpm", value=120, unit="bpm")], measurements, TOL)[0]
    assert check.verdict == "disputed" and check.low_quality


def test_without_measurement_everything_is_unverifiable():
    claims = parse_claims("Atrial fibrillation at 110 bpm with RBBB.")
    assert claims and {c.verdict for c in check_claims(claims, None, TOL)} == {"unverifiable"}


def test_territory_free_st_elevation_is_decided_from_every_territory():
    claims = parse_claims("No ST elevation.")
    assert check_claims(claims, _measurements(), TOL)[0].verdict == "agreed"
    stemi = _measurements(statements=[{"code": "st_elevation_inferior", "text": "STE", "criteria": "x",
                                       "evidence": {"leads": ["II", "III", "aVF"]}}])
    assert check_claims(claims, stemi, TOL)[0].verdict == "disputed"


# ---- the catch rate on simulated ECGs with controlled model errors ----------------------------
CASES = [  # (simulation, wrong claim text, right claim text)
    (dict(heart_rate_bpm=70), "Heart rate 120 bpm.", "Heart rate {hr:.0f} bpm."),
    (dict(heart_rate_bpm=110, rhythm="sinus_tachycardia"), "Sinus bradycardia.", "Sinus tachycardia."),
    (dict(rhythm="atrial_fibrillation", heart_rate_bpm=95), "Sinus rhythm.", "Atrial fibrillation."),
    (dict(heart_rate_bpm=75, av_block="1", pr_ms=260), "Normal PR interval of 160 ms.", "First-degree AV block."),
    (dict(heart_rate_bpm=70, rbbb=True), "No bundle branch block.", "Right bundle branch block."),
    (dict(heart_rate_bpm=60, lbbb=True), "QRS duration 90 ms.", "Left bundle branch block."),
]


@pytest.mark.slow
def test_wrong_claims_are_caught_and_right_ones_agreed_on_simulated_ecgs():
    caught, wrongly_disputed, trail = 0, 0, []
    for seed, (sim_options, wrong, right) in enumerate(CASES):
        sim = simulate(SimulationConfig(fs_hz=500, seed=100 + seed, **sim_options))
        measurements = measure(sim.recording, MeasureConfig()).to_json_dict()
        wrong_checks = check_claims(parse_claims(wrong), measurements, TOL)
        right_checks = check_claims(parse_claims(right.format(hr=sim.truth.heart_rate_bpm)), measurements, TOL)
        caught += any(c.verdict == "disputed" for c in wrong_checks)
        wrongly_disputed += any(c.verdict == "disputed" for c in right_checks)
        trail += [(text, [(c.key, c.verdict, c.reason) for c in checks])
                  for text, checks in ((wrong, wrong_checks), (right, right_checks))]
    assert caught == len(CASES), f"{caught}/{len(CASES)} wrong claims caught: {trail}"
    assert wrongly_disputed == 0, f"{wrongly_disputed} right claims wrongly disputed: {trail}"
