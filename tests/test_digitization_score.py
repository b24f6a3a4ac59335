"""The Challenge 2024 scorer on exact synthetic cases."""

from __future__ import annotations

import numpy as np
import pytest

from tools.digitization_score import MAX_SNR_DB, align_lead, lead_snr_db, pooled_snr_db, record_snr_db
from tools.errors import InputError
from tools.recording import Recording

FS = 500.0


def _ecg_like(n: int = 5000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    spikes = sum(np.exp(-((t - c) / 0.012) ** 2) for c in np.arange(0.3, 10, 0.8))
    return 1.2 * spikes + 0.15 * np.sin(2 * np.pi * 1.1 * t) + 0.01 * rng.standard_normal(n)


def test_perfect_estimate_is_capped() -> None:
    ref = _ecg_like()
    assert lead_snr_db(ref, ref.copy(), FS) == MAX_SNR_DB


def test_known_noise_gives_the_exact_ratio() -> None:
    ref = _ecg_like()
    noise = np.full_like(ref, 0.0)
    noise[::2], noise[1::2] = 0.05, -0.05  # zero mean, so no offset is removed
    expected = 10 * np.log10(np.sum(ref ** 2) / np.sum(noise ** 2))
    assert lead_snr_db(ref, ref + noise, FS, align=False) == pytest.approx(expected, abs=1e-9)


def test_shift_and_offset_within_limits_are_recovered() -> None:
    ref = _ecg_like()
    est = np.full_like(ref, np.nan)
    est[:-100] = ref[100:] + 0.5  # 0.2 s early, 0.5 mV high
    shifted, lag, offset = align_lead(ref, est, FS)
    assert lag == 100 and offset == pytest.approx(-0.5, abs=1e-9)
    assert lead_snr_db(ref, est, FS) == pytest.approx(MAX_SNR_DB * 4900 / 5000, rel=1e-6)


def test_shift_beyond_half_second_is_not_recovered() -> None:
    ref = _ecg_like()
    est = np.roll(ref, 400)  # 0.8 s
    assert lead_snr_db(ref, est, FS) < 10


def test_wrong_window_scores_zero() -> None:
    ref = np.full(5000, np.nan)
    ref[:1250] = _ecg_like()[:1250]
    est = np.full(5000, np.nan)
    est[3750:] = _ecg_like()[:1250]  # the right shape in the wrong 2.5-s column
    assert lead_snr_db(ref, est, FS) == 0.0


def test_partial_coverage_scales_the_db_value() -> None:
    ref = _ecg_like()
    noise = np.where(np.arange(5000) % 2, 0.05, -0.05)
    full = lead_snr_db(ref, ref + noise, FS, align=False)
    half = (ref + noise).copy()
    half[2500:] = np.nan
    part = lead_snr_db(ref, half, FS, align=False)
    expected = 10 * np.log10(np.sum(ref[:2500] ** 2) / np.sum(noise[:2500] ** 2)) * 0.5
    assert part == pytest.approx(expected, abs=1e-9) and part < full


def test_record_and_pooled_scores() -> None:
    ref_signal = np.stack([_ecg_like(seed=i) for i in range(2)], axis=1)
    reference = Recording(ref_signal, FS, ("I", "II"))
    estimate = Recording(np.c_[ref_signal[:, 0], np.full(5000, 0.001)], FS, ("I", "II"))
    scores = record_snr_db(reference, estimate)
    assert scores["I"] == MAX_SNR_DB
    assert scores["II"] < 1.0
    # Pooled: all the noise power is lead II's (its estimate is a constant), all the signal both leads'.
    expected = 10 * np.log10(np.sum(ref_signal ** 2) / np.sum((ref_signal[:, 1] - ref_signal[:, 1].mean()) ** 2))
    assert pooled_snr_db(reference, estimate) == pytest.approx(expected, abs=0.05)


def test_missing_lead_scores_zero_and_rates_must_match() -> None:
    reference = Recording(np.stack([_ecg_like(), _ecg_like(seed=1)], axis=1), FS, ("I", "V1"))
    estimate = Recording(_ecg_like(), FS, ("I",))
    assert record_snr_db(reference, estimate)["V1"] == 0.0
    with pytest.raises(InputError, match="fs_hz"):
        record_snr_db(reference, Recording(_ecg_like(), 250.0, ("I",)))
