"""Muscle noise (tools.measure.median_beat.smooth_noisy_leads): noisy leads' median beats are
low-passed for timing only, clean ones are left alone, amplitudes are read unfiltered."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from tools.measure import MeasureConfig, measure
from tools.measure.beats import detect_beats
from tools.measure.delineation import delineate
from tools.measure.median_beat import MedianBeats, median_beats, smooth_noisy_leads
from tools.measure.preprocess import filter_leads
from tools.simulate import NoiseConfig, sample_config, simulate

CONFIG = MeasureConfig()
FS = 500.0


def _sim(seed: int, emg_mv: float = 0.0):
    config = sample_config(seed, fs_hz=FS)
    return simulate(config.model_copy(update={"noise": NoiseConfig(emg_mv=emg_mv)}))


def test_only_the_noisy_lead_is_smoothed():
    t_s = np.arange(-0.4, 0.6, 1 / FS)
    qrs = np.exp(-0.5 * (t_s / 0.012) ** 2)  # 1 mV, 28 ms wide at half height
    noise = 0.02 * np.random.default_rng(0).standard_normal(t_s.size)
    median = MedianBeats(np.stack([qrs, qrs + noise], axis=1), int(0.4 * FS), FS, np.array([12, 12]))
    smoothed, which = smooth_noisy_leads(median)
    assert which.tolist() == [False, True]
    np.testing.assert_array_equal(smoothed.signal_mv[:, 0], qrs)
    residual = smoothed.signal_mv[:, 1] - qrs
    assert np.std(residual) < 0.5 * np.std(noise)


def test_clean_simulated_records_are_not_smoothed():
    for seed in range(6):
        assert "noise_lowpass" not in measure(_sim(seed).recording, CONFIG).quality.flags


@pytest.mark.parametrize("seed", [0, 3, 9])
def test_muscle_noise_does_not_widen_the_qrs(seed):
    """40 µV of EMG read QRS +75 ± 92 ms over 24 simulated records (up to +350) before noisy
    leads were smoothed; the clean record reads within a few ms of the truth."""
    sim = _sim(seed, emg_mv=0.04)
    result = measure(sim.recording, CONFIG)
    assert "noise_lowpass" in result.quality.flags
    assert abs(result.global_.qrs_ms - sim.truth.qrs_ms) <= 25.0
    assert abs(result.global_.qt_ms - sim.truth.qt_ms) <= 30.0


@pytest.mark.parametrize("seed", [0, 3, 6, 9])
def test_a_lowpassed_lead_is_timed_like_the_unfiltered_one(seed):
    """The 40-Hz low-pass rounds the QRS corners; read at the trapezium knee, the low-passed clean
    median beats of these records gave a QRS 8-11 ms longer than the unfiltered ones."""
    x = _sim(seed).recording.signal_mv
    beats = detect_beats(filter_leads(x, FS, CONFIG.detection_lowpass_hz, CONFIG), FS, CONFIG)
    median = median_beats(filter_leads(x, FS, CONFIG.measurement_lowpass_hz, CONFIG), beats, FS, CONFIG)
    low = signal.sosfiltfilt(signal.butter(4, 40.0, "lowpass", fs=FS, output="sos"), median.signal_mv, axis=0)
    lowpassed = MedianBeats(low, median.fiducial_index, FS, median.n_beats)
    rr_s = beats.median_rr_s(FS)

    def qrs_ms(d):
        return (d.global_s["qrs_off"] - d.global_s["qrs_on"]) * 1000

    unfiltered = qrs_ms(delineate(median, rr_s, CONFIG))
    assert abs(qrs_ms(delineate(lowpassed, rr_s, CONFIG, lowpassed=np.ones(12, dtype=bool))) - unfiltered) <= 5.0
    assert qrs_ms(delineate(lowpassed, rr_s, CONFIG)) - unfiltered >= 7.0  # the knee alone would widen it


def test_amplitudes_are_read_on_the_unfiltered_median():
    sim = _sim(3, emg_mv=0.04)
    noisy = measure(sim.recording, CONFIG)
    clean = measure(_sim(3).recording, CONFIG)
    r_noisy = np.array([row.r_mv for row in noisy.leads])
    r_clean = np.array([row.r_mv for row in clean.leads])
    # a 40-Hz low-pass would take 10-20 % off narrow R waves; the median of 12 noisy beats only adds noise
    assert np.median(np.abs(r_noisy - r_clean) / r_clean) < 0.05


@pytest.mark.parametrize(("seed", "labels", "rhythm"), [
    (45, ("sinus_arrhythmia",), "sinus_arrhythmia"), (171, ("sinus_arrhythmia",), "sinus_arrhythmia"),
    (44, ("sinus_tachycardia",), "sinus_tachycardia"), (86, ("sinus_tachycardia",), "sinus_tachycardia")])
def test_muscle_noise_does_not_turn_p_waves_into_af_or_flutter(seed, labels, rhythm):
    """With the simulator's electrode noise these read AF (P waves correlated 0.79-0.80 beat to
    beat) or flutter when the P waves were matched at the measurement bandwidth (150 Hz)."""
    sim = simulate(sample_config(seed, fs_hz=FS, labels=labels, noisy=True))
    result = measure(sim.recording, CONFIG)
    assert "noise_lowpass" in result.quality.flags  # the noise is there
    assert result.rhythm.label == rhythm
    assert result.rhythm.evidence.values["p_consistency"] >= CONFIG.af_p_consistency


@pytest.mark.parametrize("seed", [8, 29, 50, 239])
def test_muscle_noise_leaves_wenckebach_groups_visible(seed):
    sim = simulate(sample_config(seed, fs_hz=FS, labels=("av_block_2_wenckebach",), noisy=True))
    result = measure(sim.recording, CONFIG)
    assert "noise_lowpass" in result.quality.flags
    assert (result.rhythm.label, result.rhythm.av_block) == ("sinus_rhythm", "av_block_2_wenckebach")
