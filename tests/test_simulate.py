"""Tests of tools.simulate / tools.cardiac_dipole: physics identities, exact truth, every rhythm and
label measured on the simulated signal at the truth times, NeuroKit2 as an independent R-peak check."""

from __future__ import annotations

import json
import warnings
from itertools import pairwise

import numpy as np
import pytest

from tools import cardiac_dipole as dip
from tools import simulate as sim_module
from tools.errors import InputError
from tools.simulate import (
    NOT_SIMULATED,
    NoiseConfig,
    SimulationConfig,
    SimulationTruth,
    sample_config,
    simulate,
)
from tools.vocabulary import LABELS, RHYTHMS

FS = 500.0
NOISE = NoiseConfig(baseline_wander_mv=0.3, mains_mv=0.05, emg_mv=0.03, electrode_motion_mv=0.5,
                    electrode_motion_per_min=30)


def run(**fields):
    return simulate(SimulationConfig(fs_hz=fields.pop("fs_hz", FS), **fields))


def at(sim, lead: str, time_s: float) -> float:
    """Signal of ``lead`` at the sample nearest ``time_s``."""
    return float(sim.recording.lead(lead)[round(time_s * sim.recording.fs_hz)])


def window(sim, lead: str, start_s: float, end_s: float) -> np.ndarray:
    fs = sim.recording.fs_hz
    return sim.recording.lead(lead)[int(np.ceil(start_s * fs)):int(np.floor(end_s * fs)) + 1]


def qrs_beats(sim, kind: str = "normal"):
    """Listed beats of ``kind`` whose QRS and T lie wholly inside the record."""
    end = sim.recording.duration_s
    return [b for b in sim.truth.beats if b.kind == kind and b.qrs_on_s is not None
            and b.qrs_on_s >= 0 and b.t_off_s < end]


def prs_ms(sim) -> list[float]:
    return [(b.qrs_on_s - b.p_on_s) * 1000 for b in sim.truth.beats if b.p_on_s is not None and b.conducted]


# ---- physics -------------------------------------------------------------------------------------
def test_dower_matrix_is_the_published_one():
    # BRAVEHEART's inverse Dower matrix (V1..V6, I, II; Edenbrandt & Pahlm 1988) = pinv of ours.
    published = np.array([[-0.172, -0.074, 0.122, 0.231, 0.239, 0.194, 0.156, -0.010],
                          [0.057, -0.019, -0.106, -0.022, 0.041, 0.048, -0.227, 0.887],
                          [-0.229, -0.310, -0.246, -0.063, 0.055, 0.108, 0.022, 0.102]])
    ours = np.linalg.pinv(dip.DOWER)[:, [2, 3, 4, 5, 6, 7, 0, 1]]
    np.testing.assert_allclose(ours, published, atol=0.002)


@pytest.mark.parametrize("fields", [{}, {"rhythm": "atrial_fibrillation", "noise": NOISE},
                                    {"lbbb": True, "pvc_count": 2, "noise": NOISE}])
def test_einthoven_and_goldberger_hold_to_float_precision(fields):
    rec = run(**fields).recording
    lead_i, lead_ii = rec.lead("I"), rec.lead("II")
    np.testing.assert_allclose(rec.lead("III"), lead_ii - lead_i, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec.lead("aVR"), -(lead_i + lead_ii) / 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec.lead("aVL"), lead_i - lead_ii / 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec.lead("aVF"), lead_ii - lead_i / 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec.lead("aVR") + rec.lead("aVL") + rec.lead("aVF"), 0.0, atol=1e-12)


def test_recording_shape_leads_and_rate():
    rec = run(fs_hz=250.0, duration_s=7.5).recording
    assert rec.signal_mv.shape == (1875, 12)
    assert rec.fs_hz == 250.0 and rec.leads[0] == "I" and rec.leads[-1] == "V6"


def test_same_seed_same_record_other_seed_other_record():
    first, again, other = run(seed=5, noise=NOISE), run(seed=5, noise=NOISE), run(seed=6, noise=NOISE)
    np.testing.assert_array_equal(first.recording.signal_mv, again.recording.signal_mv)
    assert first.truth == again.truth
    assert not np.allclose(first.recording.signal_mv, other.recording.signal_mv)
    assert first.truth.beats != other.truth.beats


def test_noise_does_not_move_any_beat():
    clean, noisy = run(seed=3, pvc_count=1), run(seed=3, pvc_count=1, noise=NOISE)
    assert clean.truth == noisy.truth
    residual = noisy.recording.signal_mv - clean.recording.signal_mv
    assert 0.05 < np.abs(residual).max() < 3.0


def test_mains_noise_is_at_the_mains_frequency():
    clean = run(seed=2).recording.lead("I")
    noisy = run(seed=2, noise=NoiseConfig(mains_mv=0.1, mains_hz=60)).recording.lead("I")
    spectrum = np.abs(np.fft.rfft(noisy - clean))
    assert np.fft.rfftfreq(len(clean), 1 / FS)[np.argmax(spectrum)] == pytest.approx(60.0, abs=0.2)


# ---- exact fiducials ---------------------------------------------------------------------------------
def test_truth_fiducials_bound_the_waves_exactly():
    sim = run(fs_hz=1000.0, seed=4)
    signal = sim.recording.signal_mv
    beats = qrs_beats(sim)
    for before, after in pairwise(beats):
        quiet = signal[int(np.ceil(before.t_off_s * 1000)) + 1:int(np.floor(after.p_on_s * 1000))]
        assert len(quiet) > 50 and np.abs(quiet).max() < 1e-12  # T end to next P: isoelectric
        # compact support with sharp corners: each wave is visible within a few ms of its onset
        assert np.abs(window(sim, "II", after.p_on_s, after.p_on_s + 0.008)).max() > 0.005
        assert max(np.abs(window(sim, lead, after.qrs_on_s, after.qrs_on_s + 0.006)).max()
                   for lead in sim.recording.leads) > 0.02
        assert max(np.abs(window(sim, lead, before.t_off_s - 0.02, before.t_off_s - 0.01)).max()
                   for lead in sim.recording.leads) > 0.02  # the T wave is still visible 10-20 ms before its end
        pr_segment = window(sim, "II", after.p_off_s + 0.001, after.qrs_on_s - 0.001)
        assert np.abs(pr_segment).max() < 1e-12
        r_lead = np.argmax([np.abs(window(sim, lead, after.qrs_on_s, after.qrs_off_s)).max()
                            for lead in sim.recording.leads])
        assert abs(after.r_peak_s - (after.qrs_on_s + np.argmax(
            np.abs(window(sim, sim.recording.leads[r_lead], after.qrs_on_s, after.qrs_off_s))) / 1000)) < 0.012


def test_globals_are_consistent_with_the_beats():
    sim = run(seed=9, rhythm="sinus_bradycardia", av_block="1", pac_count=1)
    truth = sim.truth
    r_peaks = np.array([b.r_peak_s for b in truth.beats if b.r_peak_s is not None])
    assert truth.rr_ms == pytest.approx(np.diff(r_peaks).mean() * 1000)
    assert truth.heart_rate_bpm == pytest.approx(60000 / truth.rr_ms)
    assert truth.qtc_bazett_ms == pytest.approx(truth.qt_ms / np.sqrt(truth.rr_ms / 1000))
    normal = [b for b in truth.beats if b.kind == "normal"]
    assert truth.pr_ms == pytest.approx(np.median([(b.qrs_on_s - b.p_on_s) * 1000 for b in normal]), abs=1e-3)
    for b in normal:
        assert (b.qrs_off_s - b.qrs_on_s) * 1000 == pytest.approx(truth.qrs_ms, abs=1e-3)
        assert (b.t_off_s - b.qrs_on_s) * 1000 == pytest.approx(truth.qt_ms, abs=1e-3)
        assert (b.p_off_s - b.p_on_s) * 1000 == pytest.approx(truth.p_duration_ms, abs=1e-3)
        assert b.p_on_s < b.p_off_s < b.qrs_on_s < b.r_peak_s < b.qrs_off_s < b.t_peak_s < b.t_off_s
    assert all(0 <= (b.r_peak_s if b.r_peak_s is not None else b.p_on_s) < 10 for b in truth.beats)


def test_truth_round_trips_through_json():
    truth = run(seed=1, rhythm="atrial_flutter", pvc_count=1).truth
    assert SimulationTruth.model_validate(json.loads(truth.model_dump_json())) == truth


@pytest.mark.parametrize("axis", [-75.0, -20.0, 15.0, 60.0, 100.0, 150.0])
def test_qrs_axis_measured_on_the_signal_matches_truth(axis):
    sim = run(qrs_axis_deg=axis, seed=2)
    assert sim.truth.qrs_axis_deg == pytest.approx(axis, abs=0.1)
    beat = qrs_beats(sim)[1]
    area_i = window(sim, "I", beat.qrs_on_s, beat.qrs_off_s).sum()
    area_avf = window(sim, "aVF", beat.qrs_on_s, beat.qrs_off_s).sum()
    measured = np.degrees(np.arctan2(2 * area_avf / np.sqrt(3), area_i))
    assert measured == pytest.approx(axis, abs=2.0)


def test_p_and_t_axes_follow_the_config():
    truth = run(p_axis_deg=20.0, t_axis_deg=-10.0).truth
    assert truth.p_axis_deg == pytest.approx(20.0, abs=0.1)
    assert truth.t_axis_deg == pytest.approx(-10.0, abs=0.1)


def test_normal_amplitudes_and_qt_follows_rate():
    sim = run(seed=0)
    beat = qrs_beats(sim)[1]
    assert 1.0 <= window(sim, "V5", beat.qrs_on_s, beat.qrs_off_s).max() <= 2.0
    assert 0.05 <= window(sim, "II", beat.p_on_s, beat.p_off_s).max() <= 0.25
    assert 0.1 <= at(sim, "V5", beat.t_peak_s) <= 0.8
    qt = [run(rhythm=rhythm, heart_rate_bpm=rate).truth.qt_ms
          for rhythm, rate in (("sinus_bradycardia", 45.0), ("sinus_rhythm", 70.0), ("sinus_tachycardia", 130.0))]
    assert qt[0] > qt[1] > qt[2]
    assert 380 <= run(heart_rate_bpm=60.0).truth.qt_ms <= 440


# ---- NeuroKit2 as an independent check ---------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_neurokit2_finds_the_truth_r_peaks(seed):
    nk = pytest.importorskip("neurokit2")
    sim = simulate(sample_config(seed, fs_hz=FS, labels=["sinus_rhythm"], noisy=seed == 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NeuroKit2's internal pandas/numpy deprecation chatter
        _, info = nk.ecg_peaks(sim.recording.lead("II"), sampling_rate=int(FS))
    found = np.asarray(info["ECG_R_Peaks"]) / FS
    truth = np.array([b.r_peak_s for b in sim.truth.beats if b.r_peak_s is not None])
    inner = truth[(truth > 0.3) & (truth < 9.7)]
    errors = np.abs(inner[:, None] - found[None, :]).min(axis=1)
    assert len(inner) >= 6 and errors.max() <= 0.020


# ---- rhythms -------------------------------------------------------------------------------------------
def test_sinus_rates_and_sinus_arrhythmia():
    assert run(rhythm="sinus_bradycardia").truth.heart_rate_bpm < 60
    assert run(rhythm="sinus_tachycardia").truth.heart_rate_bpm > 100
    assert 60 <= run(rhythm="sinus_rhythm").truth.heart_rate_bpm <= 100
    sim = run(rhythm="sinus_arrhythmia", duration_s=20.0, hrv_sd_ms=0.0)
    pp = np.diff([b.p_on_s for b in sim.truth.beats]) * 1000
    assert pp.max() - pp.min() > 120


def test_atrial_fibrillation_irregular_no_p_fibrillatory_baseline():
    sim = run(rhythm="atrial_fibrillation", seed=3)
    truth = sim.truth
    assert all(b.p_on_s is None and b.p_off_s is None and b.qrs_on_s is not None for b in truth.beats)
    assert truth.pr_ms is None and truth.p_duration_ms is None and truth.atrial_rate_bpm is None
    assert truth.p_axis_deg is None
    rr = np.diff([b.r_peak_s for b in truth.beats])
    assert rr.std() / rr.mean() > 0.1
    beats = qrs_beats(sim)
    baseline = np.concatenate([window(sim, "V1", a.t_off_s + 0.01, b.qrs_on_s - 0.01) for a, b in pairwise(beats)])
    assert len(baseline) > 100 and baseline.std() > 0.01  # f waves, not a flat line


@pytest.mark.parametrize("conduction,block", [("2:1", 2), ("4:1", 4)])
def test_atrial_flutter_fixed_block(conduction, block):
    sim = run(rhythm="atrial_flutter", atrial_rate_bpm=300.0, flutter_conduction=conduction)
    rr = np.diff([b.r_peak_s for b in sim.truth.beats])
    assert rr.std() < 0.002
    assert sim.truth.heart_rate_bpm == pytest.approx(300.0 / block, rel=0.01)
    assert sim.truth.atrial_rate_bpm == 300.0 and all(b.p_on_s is None for b in sim.truth.beats)


def test_atrial_flutter_sawtooth_and_variable_block():
    config = dict(rhythm="atrial_flutter", atrial_rate_bpm=280.0, flutter_conduction="variable", seed=4)
    with_f = run(**config, atrial_activity_mv=0.15)
    without = run(**config, atrial_activity_mv=0.0)
    assert with_f.truth == without.truth
    f_waves = with_f.recording.lead("II") - without.recording.lead("II")
    spectrum = np.abs(np.fft.rfft(f_waves - f_waves.mean()))
    assert np.fft.rfftfreq(len(f_waves), 1 / FS)[np.argmax(spectrum)] == pytest.approx(280 / 60, rel=0.03)
    slope = np.diff(f_waves)
    assert (slope < 0).mean() > 0.6  # slow descent, fast rise: negative sawtooth in II
    assert np.ptp(f_waves) == pytest.approx(0.3, rel=0.2)
    ratios = np.diff([b.r_peak_s for b in with_f.truth.beats]) / (60 / 280)
    assert np.allclose(ratios, np.round(ratios), atol=0.02) and len(set(np.round(ratios))) > 1


def test_first_degree_av_block():
    sim = run(av_block="1", pr_ms=280.0)
    assert all(pr == pytest.approx(280.0, abs=1e-3) for pr in prs_ms(sim))
    assert "av_block_1" in sim.truth.labels and "1dAVb" in sim.truth.code15
    assert "av_block_1" in run(pr_ms=240.0).truth.labels  # the label follows the PR, not the flag
    assert "av_block_1" not in run(pr_ms=200.0).truth.labels


@pytest.mark.parametrize("cycle", [3, 4, 5])
def test_wenckebach_pr_lengthens_then_a_beat_drops(cycle):
    sim = run(av_block="wenckebach", av_block_cycle=cycle, duration_s=20.0, seed=cycle)
    groups, current = [], []
    for beat in sim.truth.beats:
        if beat.conducted:
            current.append((beat.qrs_on_s - beat.p_on_s) * 1000)
        else:
            assert beat.qrs_on_s is None and beat.p_on_s is not None
            groups.append(current)
            current = []
    complete = groups[1:]
    assert len(complete) >= 2
    for prs in complete:
        assert len(prs) == cycle - 1 and np.all(np.diff(prs) > 5)
    assert "av_block_2_wenckebach" in sim.truth.labels


def test_mobitz2_fixed_pr_sudden_drops():
    sim = run(av_block="mobitz2", av_block_cycle=3, duration_s=12.0)
    assert np.ptp(prs_ms(sim)) < 1e-6
    blocked = [b for b in sim.truth.beats if not b.conducted]
    assert len(blocked) >= 3 and all(b.qrs_on_s is None for b in blocked)
    pp = np.diff([b.p_on_s for b in sim.truth.beats])
    assert pp.std() / pp.mean() < 0.1  # the dropped P waves come on time


def test_third_degree_av_block_dissociation():
    truth = run(rhythm="av_block_3", atrial_rate_bpm=90.0, heart_rate_bpm=38.0, duration_s=20.0).truth
    p_waves = [b for b in truth.beats if b.p_on_s is not None]
    qrs = [b for b in truth.beats if b.qrs_on_s is not None]
    assert all(not b.conducted and b.qrs_on_s is None for b in p_waves)
    assert all(b.p_on_s is None for b in qrs)
    assert truth.atrial_rate_bpm == pytest.approx(90.0, rel=0.05)
    assert truth.heart_rate_bpm == pytest.approx(38.0, rel=0.05) and truth.pr_ms is None
    p_times = np.array([b.p_on_s for b in p_waves])
    lags = [b.qrs_on_s - p_times[p_times < b.qrs_on_s].max() for b in qrs if (p_times < b.qrs_on_s).any()]
    assert np.std(lags) > 0.05  # no fixed P-QRS relation


def test_pacs_early_with_a_different_p_and_no_compensatory_pause():
    sim = run(pac_count=2, hrv_sd_ms=0.0, seed=7)
    beats = sim.truth.beats
    rr_ms = 60000 / 72
    pacs = [i for i, b in enumerate(beats) if b.kind == "pac"]
    assert len(pacs) == 2 and "pac" in sim.truth.labels
    for i in pacs:
        coupling = (beats[i].p_on_s - beats[i - 1].p_on_s) * 1000
        assert coupling < 0.8 * rr_ms
        if i + 1 < len(beats):
            assert (beats[i + 1].p_on_s - beats[i].p_on_s) * 1000 == pytest.approx(rr_ms, abs=1)
        sinus = beats[i + 1] if i + 1 < len(beats) else beats[i - 2]
        pac_p = window(sim, "II", beats[i].p_on_s, beats[i].p_off_s)
        sinus_p = window(sim, "II", sinus.p_on_s, sinus.p_off_s)
        size = min(len(pac_p), len(sinus_p))
        assert np.abs(pac_p[:size] - sinus_p[:size]).max() > 0.05


def test_pvcs_early_wide_no_p_compensatory_pause():
    sim = run(pvc_count=2, hrv_sd_ms=0.0, seed=11)
    beats = [b for b in sim.truth.beats if b.qrs_on_s is not None]
    rr = 60 / 72
    pvcs = [i for i, b in enumerate(beats) if b.kind == "pvc"]
    assert len(pvcs) == 2 and "pvc" in sim.truth.labels
    for i in pvcs:
        beat = beats[i]
        assert beat.p_on_s is None and not beat.conducted
        assert beat.qrs_off_s - beat.qrs_on_s >= 0.12
        assert beat.r_peak_s - beats[i - 1].r_peak_s < 0.85 * rr
        if i + 1 < len(beats):
            assert beats[i + 1].qrs_on_s - beats[i - 1].qrs_on_s == pytest.approx(2 * rr, abs=1e-3)
    assert sum(1 for b in sim.truth.beats if b.qrs_on_s is None) >= 1  # the blocked sinus P is listed


# ---- conduction and morphology -------------------------------------------------------------------------
def test_lbbb_wide_qs_in_v1_broad_r_in_i_v6():
    sim = run(lbbb=True)
    assert sim.truth.qrs_ms >= 120 and "lbbb" in sim.truth.labels and "LBBB" in sim.truth.code15
    beat = qrs_beats(sim)[1]
    v1 = window(sim, "V1", beat.qrs_on_s, beat.qrs_off_s)
    assert v1.min() < -1.0 and v1.max() < 0.05  # QS
    for lead in ("I", "V6"):
        qrs = window(sim, lead, beat.qrs_on_s, beat.qrs_off_s)
        assert qrs.min() > -0.05 and qrs.max() > 0.5  # no septal q, broad R
        rising = np.flatnonzero(qrs > 0.5 * qrs.max())
        assert (rising[-1] - rising[0]) / FS > 0.06
        slope = np.sign(np.diff(qrs))
        assert np.count_nonzero((slope[:-1] > 0) & (slope[1:] < 0)) >= 2  # notched (M-shaped) R
    assert at(sim, "V6", beat.t_peak_s) < 0 < at(sim, "V1", beat.t_peak_s)  # discordant T


def test_rbbb_rsr_prime_in_v1_wide_s_in_i_v6():
    sim = run(rbbb=True)
    assert sim.truth.qrs_ms >= 120 and "RBBB" in sim.truth.code15
    beat = qrs_beats(sim)[1]
    third = (beat.qrs_off_s - beat.qrs_on_s) / 3
    v1 = window(sim, "V1", beat.qrs_on_s, beat.qrs_off_s)
    early, late = v1[: len(v1) // 5], window(sim, "V1", beat.qrs_off_s - third, beat.qrs_off_s)
    assert early.max() > 0.1 and v1.min() < -0.3 and late.max() > 0.4  # r, S, R'
    for lead in ("I", "V6"):
        assert window(sim, lead, beat.qrs_off_s - third, beat.qrs_off_s).min() < -0.2


def test_lafb_left_axis_with_q_in_avl_r_in_inferior():
    sim = run(lafb=True)
    assert -90 <= sim.truth.qrs_axis_deg <= -45
    assert {"lafb", "left_axis_deviation"} <= set(sim.truth.labels)
    beat = qrs_beats(sim)[1]
    start = beat.qrs_on_s + 0.015
    assert at(sim, "aVL", start) < 0 < at(sim, "III", start)  # qR in aVL, rS in III
    assert window(sim, "III", beat.qrs_on_s, beat.qrs_off_s).min() < -0.8


def test_ivcd_is_wide_without_bbb_pattern():
    sim = run(ivcd=True, qrs_ms=130.0)
    assert sim.truth.qrs_ms == 130.0 and "ivcd" in sim.truth.labels and not {"rbbb", "lbbb"} & set(sim.truth.labels)


def sokolow_lyon_mv(sim) -> float:
    beat = qrs_beats(sim)[1]
    return float(-window(sim, "V1", beat.qrs_on_s, beat.qrs_off_s).min()
                 + max(window(sim, lead, beat.qrs_on_s, beat.qrs_off_s).max() for lead in ("V5", "V6")))


def test_lvh_voltage():
    assert sokolow_lyon_mv(run(lvh=True)) > 3.5
    assert sokolow_lyon_mv(run()) < 3.5
    assert "HYP" in run(lvh=True).truth.ptbxl


_RECIPROCAL = {"inferior": "aVL", "anterior": "III", "lateral": "III"}


@pytest.mark.parametrize("territory", ["inferior", "anterior", "lateral"])
def test_st_elevation_in_the_territory_with_reciprocal_depression(territory):
    sim = run(st_elevation=territory, st_elevation_mv=0.2, seed=1)
    assert f"st_elevation_{territory}" in sim.truth.labels and "MI" in sim.truth.ptbxl
    for beat in qrs_beats(sim):
        j60 = beat.qrs_off_s + 0.06
        for lead in sim_module._TERRITORY_LEADS[territory]:
            assert at(sim, lead, j60) >= 0.1, (lead, at(sim, lead, j60))
        assert at(sim, _RECIPROCAL[territory], j60) <= -0.05


def test_st_depression_lateral_with_avr_elevation():
    sim = run(st_depression=True, st_depression_mv=0.15)
    for beat in qrs_beats(sim):
        j60 = beat.qrs_off_s + 0.06
        assert all(at(sim, lead, j60) <= -0.05 for lead in ("V4", "V5", "V6", "II"))
        assert at(sim, "aVR", j60) > 0.05
    assert "STTC" in sim.truth.ptbxl


def test_t_inversion_and_long_qt():
    upright, inverted = run(seed=2), run(seed=2, t_inversion=True)
    for lead in ("II", "V5"):
        assert at(upright, lead, qrs_beats(upright)[1].t_peak_s) > 0.1
        assert at(inverted, lead, qrs_beats(inverted)[1].t_peak_s) < -0.1
    long = run(long_qt=True).truth
    assert long.qtc_bazett_ms >= 470 and "long_qt" in long.labels and "long_qt" not in run().truth.labels


def test_low_voltage_label_matches_the_signal():
    sim = run(qrs_amplitude_scale=0.25)
    beat = qrs_beats(sim)[1]
    limb = max(np.ptp(window(sim, lead, beat.qrs_on_s, beat.qrs_off_s))
               for lead in ("I", "II", "III", "aVR", "aVL", "aVF"))
    assert limb < 0.5 and "low_voltage" in sim.truth.labels
    assert "low_voltage" not in run().truth.labels


# ---- labels and sample_config --------------------------------------------------------------------------
_DERIVED = {"sinus_rhythm", "normal_axis", "normal_ecg"}


@pytest.mark.parametrize("code", [code for code in LABELS if code not in _DERIVED | NOT_SIMULATED])
def test_sample_config_shows_each_label_and_nothing_else(code):
    for seed in (0, 1):
        truth = simulate(sample_config(seed, fs_hz=FS, labels=[code])).truth
        assert code in truth.labels
        rhythm = code if code in RHYTHMS else "sinus_rhythm"
        implied = {"left_axis_deviation"} if code == "lafb" else set()
        extra = set(truth.labels) - {code, rhythm} - _DERIVED - implied
        assert not extra, (code, seed, truth.labels)
        assert sum(label in RHYTHMS for label in truth.labels) == 1


def test_sample_config_refuses_what_it_cannot_simulate():
    for code in NOT_SIMULATED:
        with pytest.raises(InputError, match=code):
            sample_config(0, fs_hz=FS, labels=[code])


def test_sample_config_default_is_a_varied_normal_ecg():
    configs = [sample_config(seed, fs_hz=FS) for seed in range(8)]
    for config in configs:
        assert simulate(config).truth.labels == ("sinus_rhythm", "normal_axis", "normal_ecg")
    assert len({round(c.heart_rate_bpm) for c in configs}) > 4 and len({round(c.qrs_axis_deg) for c in configs}) > 4


def test_sample_config_combinations_and_noise():
    config = sample_config(3, fs_hz=FS, labels=["atrial_fibrillation", "rbbb", "pvc"], noisy=True)
    assert config.noise.baseline_wander_mv > 0
    truth = simulate(config).truth
    assert {"atrial_fibrillation", "rbbb", "pvc"} <= set(truth.labels)
    assert set(truth.code15) == {"AF", "RBBB"}


@pytest.mark.parametrize("labels,needle", [
    (["lbbb", "rbbb"], "rbbb"), (["atrial_fibrillation", "sinus_rhythm"], "rhythm"),
    (["normal_ecg", "lvh"], "normal_ecg"), (["lafb", "right_axis_deviation"], "lafb"),
    (["atrial_flutter", "av_block_1"], "sinus"), (["st_elevation_inferior", "st_elevation_lateral"], "territory"),
    (["no_such_code"], "no_such_code")])
def test_sample_config_rejects_impossible_label_sets(labels, needle):
    with pytest.raises(InputError, match=needle):
        sample_config(0, fs_hz=FS, labels=labels)


# ---- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fields,needle", [
    ({}, "fs_hz"),
    ({"fs_hz": 0.0}, "fs_hz=0.0"),
    ({"fs_hz": FS, "rhythm": "torsades"}, "rhythm='torsades'"),
    ({"fs_hz": FS, "heart_rate_bpm": 45.0}, "heart_rate_bpm=45.0"),
    ({"fs_hz": FS, "rhythm": "atrial_flutter", "heart_rate_bpm": 150.0}, "heart_rate_bpm"),
    ({"fs_hz": FS, "pr_ms": 100.0}, "pr_ms=100.0"),
    ({"fs_hz": FS, "av_block": "1", "pr_ms": 180.0}, "pr_ms=180.0"),
    ({"fs_hz": FS, "rhythm": "atrial_fibrillation", "pr_ms": 160.0}, "pr_ms"),
    ({"fs_hz": FS, "lbbb": True, "rbbb": True}, "lbbb"),
    ({"fs_hz": FS, "lbbb": True, "qrs_ms": 100.0}, "qrs_ms=100.0"),
    ({"fs_hz": FS, "qrs_ms": 130.0}, "qrs_ms=130.0"),
    ({"fs_hz": FS, "lafb": True, "qrs_axis_deg": 60.0}, "qrs_axis_deg=60.0"),
    ({"fs_hz": FS, "rhythm": "atrial_fibrillation", "pac_count": 1}, "pac_count"),
    ({"fs_hz": FS, "st_elevation": "septal"}, "st_elevation"),
    ({"fs_hz": FS, "heart_rte_bpm": 70}, "heart_rte_bpm"),
    ({"fs_hz": FS, "noise": {"mains_hz": 55}}, "mains_hz"),
    ({"fs_hz": FS, "long_qt": True, "qt_ms": 380.0}, "qt_ms=380.0"),
])
def test_bad_configs_raise_one_line_input_errors(fields, needle):
    with pytest.raises(InputError, match=needle) as caught:
        SimulationConfig(**fields)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("fields,needle", [({"pvc_count": 20}, "pvc_count=20"),
                                           ({"qrs_amplitude_scale": 2.5}, "Sokolow"),
                                           ({"heart_rate_bpm": 100.0, "qt_ms": 620.0}, "qt_ms=620")])
def test_configs_the_rhythm_cannot_show_raise_at_simulate(fields, needle):
    with pytest.raises(InputError, match=needle):
        run(**fields)


def test_simulate_rejects_a_non_config():
    with pytest.raises(InputError, match="SimulationConfig"):
        simulate({"fs_hz": FS})  # type: ignore[arg-type]


def test_public_names():
    assert set(sim_module.__all__) == {"NoiseConfig", "SimulationConfig", "BeatTruth", "SimulationTruth",
                                       "Simulation", "simulate", "sample_config", "NOT_SIMULATED"}
    assert all(hasattr(sim_module, name) for name in sim_module.__all__)
    assert all(hasattr(dip, name) for name in dip.__all__)
