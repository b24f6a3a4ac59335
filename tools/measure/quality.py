"""Signal quality: per-lead coverage, noise and usability; technical flags; limb-lead reversal."""

from __future__ import annotations

import numpy as np

from tools.measure.beats import Beats, beat_windows
from tools.measure.median_beat import MedianBeats
from tools.measure.nanstats import nanmean
from tools.measure.result import LeadQuality

__all__ = ["lead_quality", "limb_reversal_suspected"]

_FLAT_MV = 0.05         # a median beat with less peak-to-peak than this is a flat line
_NOISY_RMS_MV = 0.15    # beat-to-median RMS above this: the lead is too noisy to measure
_MIN_COVERAGE_S = 1.0   # fewer finite seconds than this cannot hold a measurable beat
_NOISE_HALF_S = 0.15    # noise is judged on the QRS and its surroundings


def lead_quality(raw_mv: np.ndarray, filtered_mv: np.ndarray, beats: Beats, median: MedianBeats,
                 leads: tuple[str, ...]) -> list[LeadQuality]:
    """Coverage, noise (RMS of each dominant beat minus the median beat within ±0.15 s of the QRS,
    median over beats, mV) and usability per lead."""
    fs, fid = median.fs_hz, median.fiducial_index
    after = median.signal_mv.shape[0] - fid - 1
    centres = beats.r_samples[beats.dominant]
    windows = beat_windows(filtered_mv, centres, fid, after) if centres.size else None
    out = []
    for k, name in enumerate(leads):
        coverage = float(np.isfinite(raw_mv[:, k]).mean())
        noise = None
        if windows is not None and median.n_beats[k] >= 2:
            # Around the QRS only: at fast irregular rates the rest of the window holds
            # neighbouring beats that differ from beat to beat without any noise.
            span = slice(max(0, fid - int(_NOISE_HALF_S * fs)), fid + int(_NOISE_HALF_S * fs) + 1)
            resid = windows[:, span, k] - median.signal_mv[None, span, k]
            per_beat = np.sqrt(nanmean(resid**2, axis=1))  # NaN for beats that do not cover this lead
            noise = float(np.nanmedian(per_beat)) if np.isfinite(per_beat).any() else None
        reason = _unusable_reason(raw_mv[:, k], median.signal_mv[:, k], noise, coverage, fs)
        out.append(LeadQuality(lead=name, usable=reason is None, coverage=coverage, noise_mv=noise, reason=reason))
    return out


def _unusable_reason(raw: np.ndarray, beat: np.ndarray, noise: float | None, coverage: float, fs: float) -> str | None:
    if coverage * len(raw) < _MIN_COVERAGE_S * fs:
        return f"only {coverage * len(raw) / fs:.2f} s of signal (needs {_MIN_COVERAGE_S:g} s)"
    finite = raw[np.isfinite(raw)]
    if np.ptp(finite) < _FLAT_MV:
        return f"flat line (peak-to-peak {np.ptp(finite):.3f} mV < {_FLAT_MV} mV)"
    if not np.isfinite(beat).any():
        return "no detected beat covers this lead"
    if noise is not None and noise > _NOISY_RMS_MV:
        return f"noise {noise:.2f} mV RMS > {_NOISY_RMS_MV} mV"
    return None


def limb_reversal_suspected(qrs_area: dict[str, float], p_area: dict[str, float], t_area: dict[str, float]) -> bool:
    """Left/right arm reversal: P, QRS and T all negative in lead I while QRS is positive in aVR."""
    needed = [qrs_area.get("I"), p_area.get("I"), t_area.get("I"), qrs_area.get("aVR")]
    if any(v is None for v in needed):
        return False
    qrs_i, p_i, t_i, qrs_avr = needed
    return qrs_i < 0 and p_i < 0 and t_i < 0 and qrs_avr > 0
