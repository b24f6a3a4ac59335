"""Digitization scores: the PhysioNet Challenge 2024 per-lead SNR and the pooled Kaggle variant.

Challenge 2024 (``lead_snr_db``, ``record_snr_db``), as in docs/digitization.md:

1. Per lead, the estimate may be moved by at most ``max_shift_s`` (0.5 s) in time and
   ``max_offset_mv`` (1 mV) in amplitude before scoring. The time lag is the one that maximises the
   cross-covariance of the two signals over the samples finite in both; the amplitude offset is
   the mean residual on that overlap, clipped to ±1 mV.
2. ``SNR = 10 log10(sum x_ref**2 / sum (x_ref - x_est)**2)`` over the samples finite in both;
   the reference is *not* mean-centred.
3. The dB value is multiplied by the fraction of finite reference samples the estimate covers.
   No overlap scores 0 dB. A perfect estimate would be +inf; it is capped at ``max_snr_db``.
4. The record's score is the mean over the reference's leads that have any finite sample; a
   data set's score is the mean over all (record, lead) pairs.

Pooled variant (``pooled_snr_db``, the Kaggle 2025 "PhysioNet - Digitization of ECG Images"
flavour as publicly described): the same per-lead alignment, then the signal power and the noise
power are summed over all leads of a record before one ``10 log10`` ratio per record.
"""

from __future__ import annotations

import numpy as np

from tools.errors import InputError
from tools.recording import Recording

__all__ = ["align_lead", "lead_snr_db", "record_snr_db", "pooled_snr_db"]

MAX_SHIFT_S = 0.5
MAX_OFFSET_MV = 1.0
# An exact copy has infinite SNR; 100 dB is far above any physical digitizer (≈28 dB at 200 DPI).
MAX_SNR_DB = 100.0


def _masked_xcorr(a: np.ndarray, b: np.ndarray, max_lag: int) -> np.ndarray:
    """Sum over valid n of a[n + lag] * b[n] for lag in [-max_lag, max_lag] (FFT, exact up to rounding)."""
    size = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    full = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    return np.concatenate([full[-max_lag:], full[:max_lag + 1]]) if max_lag else full[:1]


def align_lead(ref_mv: np.ndarray, est_mv: np.ndarray, fs_hz: float, *,
               max_shift_s: float = MAX_SHIFT_S, max_offset_mv: float = MAX_OFFSET_MV) -> tuple[np.ndarray, int, float]:
    """Shift ``est_mv`` in time and amplitude to best match ``ref_mv``.

    Parameters
    ----------
    ref_mv, est_mv : (n_samples,) arrays in mV, NaN where absent (equal lengths).
    fs_hz : sampling rate of both, Hz.

    Returns
    -------
    shifted : (n_samples,) the estimate moved by ``lag`` samples (NaN-padded) plus ``offset_mv``.
    lag : samples the estimate was moved later in time (negative: earlier).
    offset_mv : amplitude added to the estimate.
    """
    ref, est = np.asarray(ref_mv, float), np.asarray(est_mv, float)
    if ref.shape != est.shape or ref.ndim != 1:
        raise InputError(f"ref_mv and est_mv must be 1-D of equal length; got {ref.shape} and {est.shape}")
    n = len(ref)
    max_lag = min(int(round(max_shift_s * fs_hz)), n - 1)
    mr, me = np.isfinite(ref), np.isfinite(est)
    if not mr.any() or not me.any():
        return np.full(n, np.nan), 0, 0.0
    r, e = np.where(mr, ref, 0.0), np.where(me, est, 0.0)
    fr, fe = mr.astype(float), me.astype(float)
    # Covariance over the overlap at each lag: sum(r e) - sum(r) sum(e) / count.
    count = _masked_xcorr(fr, fe, max_lag)
    sum_re = _masked_xcorr(r, e, max_lag)
    sum_r = _masked_xcorr(r, fe, max_lag)
    sum_e = _masked_xcorr(fr, e, max_lag)
    valid = count > 0.5
    cov = np.where(valid, sum_re - sum_r * sum_e / np.maximum(count, 1.0), -np.inf)
    if not valid.any():
        return np.full(n, np.nan), 0, 0.0
    lag = int(np.argmax(cov)) - max_lag
    shifted = np.full(n, np.nan)
    if lag >= 0:
        shifted[lag:] = est[:n - lag]
    else:
        shifted[:n + lag] = est[-lag:]
    both = mr & np.isfinite(shifted)
    offset = float(np.clip(np.mean(ref[both] - shifted[both]), -max_offset_mv, max_offset_mv)) if both.any() else 0.0
    return shifted + offset, lag, offset


def lead_snr_db(ref_mv: np.ndarray, est_mv: np.ndarray, fs_hz: float, *, align: bool = True,
                max_snr_db: float = MAX_SNR_DB) -> float:
    """Challenge 2024 SNR of one lead in dB, weighted by the fraction of the reference covered.

    Returns NaN when the reference has no finite sample (the lead is not scored), 0 when the
    estimate covers none of it.
    """
    ref = np.asarray(ref_mv, float)
    est = align_lead(ref, est_mv, fs_hz)[0] if align else np.asarray(est_mv, float)
    mr = np.isfinite(ref)
    if not mr.any():
        return float("nan")
    both = mr & np.isfinite(est)
    if not both.any():
        return 0.0
    signal = float(np.sum(ref[both] ** 2))
    noise = float(np.sum((ref[both] - est[both]) ** 2))
    if noise <= 0.0:
        snr = max_snr_db
    elif signal <= 0.0:
        snr = -max_snr_db
    else:
        snr = min(10.0 * np.log10(signal / noise), max_snr_db)
    return float(snr * both.sum() / mr.sum())


def _paired(reference: Recording, estimate: Recording) -> list[tuple[str, np.ndarray, np.ndarray]]:
    if abs(reference.fs_hz - estimate.fs_hz) > 1e-9:
        raise InputError(f"estimate fs_hz={estimate.fs_hz:g} differs from reference fs_hz={reference.fs_hz:g}")
    n = reference.n_samples
    pairs = []
    for lead in reference.leads:
        ref = reference.lead(lead)
        if not np.isfinite(ref).any():
            continue
        est = np.full(n, np.nan)
        if lead in estimate:
            values = estimate.lead(lead)[:n]
            est[:len(values)] = values
        pairs.append((lead, ref, est))
    return pairs


def record_snr_db(reference: Recording, estimate: Recording) -> dict[str, float]:
    """Per-lead Challenge 2024 SNR (dB) for every lead the reference has; a missing lead scores 0.

    Raises InputError when the sampling rates differ (resample the estimate first).
    """
    return {lead: lead_snr_db(ref, est, reference.fs_hz) for lead, ref, est in _paired(reference, estimate)}


def pooled_snr_db(reference: Recording, estimate: Recording, *, max_snr_db: float = MAX_SNR_DB) -> float:
    """Kaggle-style pooled SNR of one record in dB: signal and noise powers summed over leads.

    Each lead is aligned as in ``align_lead``; samples the estimate does not cover count as
    estimate = 0 (so missing leads cost their whole power).
    """
    signal = noise = 0.0
    for _, ref, est in _paired(reference, estimate):
        shifted = align_lead(ref, est, reference.fs_hz)[0]
        mr = np.isfinite(ref)
        filled = np.where(np.isfinite(shifted), shifted, 0.0)
        signal += float(np.sum(ref[mr] ** 2))
        noise += float(np.sum((ref[mr] - filled[mr]) ** 2))
    if noise <= 0.0:
        return max_snr_db
    return float(min(10.0 * np.log10(signal / noise), max_snr_db)) if signal > 0 else -max_snr_db
