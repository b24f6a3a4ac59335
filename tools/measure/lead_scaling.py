"""Are the amplitudes physical? Limb-lead gain consistency and per-lead normalisation.

The six limb leads are projections of two signals: III = II − I, aVR = −(I + II)/2,
aVL = I − II/2, aVF = II − I/2 (Einthoven, Goldberger). A record whose leads were rescaled one by
one (a data pipeline that normalises each lead, a wrong per-lead gain in a header) breaks these
identities while each lead still fits ``g_k·(a_k·I + b_k·II)`` exactly; the fit recovers every limb
lead's gain relative to lead II, which fixes the frontal axis (it depends on gain ratios only) but
not the amplitudes in mV (the common scale is lost). A record in which every lead has the same
peak-to-peak to within 1 % was normalised lead by lead: no amplitude in it is in mV.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LeadScaling", "lead_scaling"]

# Each derived limb lead as a·I + b·II.
_DERIVED: dict[str, tuple[float, float]] = {"III": (-1.0, 1.0), "aVR": (-0.5, -0.5), "aVL": (1.0, -0.5),
                                            "aVF": (-0.5, 1.0)}
_MIN_JOINT_S = 1.0          # a relation is tested only on this much jointly finite signal
_MAX_FIT_RESIDUAL = 0.10    # the per-lead-gain model must explain the lead to 10 % RMS (digitized pages: 5-6 %)
_GAIN_TOLERANCE = 0.20      # gains within ±20 % of lead II are digitization/recording tolerance
_EQUAL_PTP_FRACTION = 0.01  # every lead's peak-to-peak within 1 % of the others: normalised
_MIN_LEADS_EQUAL_PTP = 6


class LeadScaling(BaseModel):
    """What the leads' mutual consistency says about their amplitude scale."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limb_gains: dict[str, float] | None = Field(
        None, description="gain of each limb lead relative to lead II, set only when the limb leads agree with "
                          "Einthoven/Goldberger up to per-lead gains and some gain is off by more than 20 %")
    normalized_per_lead: bool = Field(
        False, description="every lead has the same peak-to-peak amplitude (within 1 %): normalised one by one")

    @property
    def amplitudes_physical(self) -> bool:
        """False when amplitude thresholds in mV (voltage, ST) cannot be applied."""
        return self.limb_gains is None and not self.normalized_per_lead

    def flags(self) -> list[str]:
        """Technical flags for ``quality.flags``: normalized_per_lead, limb_lead_gain_mismatch."""
        return (["normalized_per_lead"] if self.normalized_per_lead else []) + \
            (["limb_lead_gain_mismatch"] if self.limb_gains is not None else [])

    def reason(self) -> str | None:
        """One line saying why amplitudes are not physical (None when they are)."""
        if self.normalized_per_lead:
            return "every lead has the same peak-to-peak amplitude: the record was normalised lead by lead"
        if self.limb_gains is not None:
            gains = ", ".join(f"{k} {v:.2f}" for k, v in self.limb_gains.items() if k != "II")
            return f"limb leads break Einthoven's law by per-lead gains (relative to II: {gains})"
        return None


def _limb_gains(signal_mv: np.ndarray, leads: tuple[str, ...], fs_hz: float) -> dict[str, float] | None:
    index = {name: k for k, name in enumerate(leads)}
    if "I" not in index or "II" not in index:
        return None
    gains: dict[str, float] = {"II": 1.0}
    gain_i = []
    for name, (a, b) in _DERIVED.items():
        if name not in index:
            continue
        cols = signal_mv[:, [index["I"], index["II"], index[name]]]
        joint = cols[np.isfinite(cols).all(axis=1)]
        if joint.shape[0] < _MIN_JOINT_S * fs_hz:
            continue
        joint = joint - joint.mean(axis=0)
        basis, target = joint[:, :2], joint[:, 2]
        if np.linalg.matrix_rank(basis) < 2 or not target.any():
            continue
        (p, q), *_ = np.linalg.lstsq(basis, target, rcond=None)
        residual = np.sqrt(np.mean((target - basis @ (p, q)) ** 2) / np.mean(target**2))
        if residual > _MAX_FIT_RESIDUAL or p * a <= 0 or q * b <= 0:
            return None  # not a per-lead gain problem (noise, a reversal, a mislabelled lead)
        gains[name] = float(q / b)          # q = g_k·b / g_II
        gain_i.append(float(q * a / (b * p)))  # p = g_k·a / g_I
    if not gain_i:
        return None
    gains["I"] = float(np.median(gain_i))
    if max(abs(np.log(g)) for g in gains.values()) <= np.log1p(_GAIN_TOLERANCE):
        return None
    return {name: gains[name] for name in leads if name in gains}


def _equal_peak_to_peak(signal_mv: np.ndarray) -> bool:
    ptp = [np.ptp(col[np.isfinite(col)]) for col in signal_mv.T if np.isfinite(col).sum() > 1]
    if len(ptp) < _MIN_LEADS_EQUAL_PTP or min(ptp) <= 0:
        return False
    return (max(ptp) - min(ptp)) / max(ptp) < _EQUAL_PTP_FRACTION


def lead_scaling(signal_mv: np.ndarray, leads: tuple[str, ...], fs_hz: float) -> LeadScaling:
    """Check a record's amplitude scale from its own leads.

    Parameters
    ----------
    signal_mv : ndarray, shape (n_samples, n_leads)
        The recording's signal (mV, NaN where not recorded).
    leads : tuple of str
        Standard lead names of the columns.
    fs_hz : float
        Sampling rate (Hz); each relation is tested on at least 1 s of jointly finite samples.

    Returns
    -------
    LeadScaling
        Limb-lead gains relative to II when they are inconsistent, and whether the record was
        normalised lead by lead. Records without the leads a test needs pass it.
    """
    return LeadScaling(limb_gains=_limb_gains(signal_mv, leads, fs_hz),
                       normalized_per_lead=_equal_peak_to_peak(signal_mv))
