"""The core signal type: a multi-lead ECG recording in mV on a regular time base.

Lead order follows the standard 12-lead convention ``I, II, III, aVR, aVL, aVF, V1..V6``;
names are matched case-insensitively and common aliases (``MLII``, ``avr``, ``DI``...) are
mapped to the standard spelling. Samples that were not recorded or not plotted are NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from tools.errors import InputError

__all__ = ["LEADS", "EXTRA_LEADS", "Recording", "canonical_lead"]

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF",
                          "V1", "V2", "V3", "V4", "V5", "V6")
# Frank orthogonal leads (PTB records carry them beside the standard 12).
EXTRA_LEADS: tuple[str, ...] = ("X", "Y", "Z")

_ALIASES: dict[str, str] = {name.lower(): name for name in LEADS + EXTRA_LEADS}
_ALIASES.update({
    "mli": "I", "mlii": "II", "mliii": "III", "di": "I", "dii": "II", "diii": "III",
    "lead i": "I", "lead ii": "II", "lead iii": "III",
    "vx": "X", "vy": "Y", "vz": "Z",
})

# Sampling rates outside this range are almost certainly a unit or header mistake.
FS_MIN_HZ, FS_MAX_HZ = 25.0, 20_000.0
# No body-surface ECG reaches this; larger values usually mean µV or ADC units were passed as mV.
MAX_ABS_MV = 50.0


def canonical_lead(name: str) -> str:
    """Return the standard spelling of a lead name (``"avr"`` -> ``"aVR"``, ``"MLII"`` -> ``"II"``).

    Raises
    ------
    InputError
        If the name is not a known lead.
    """
    key = str(name).strip().lower()
    if key not in _ALIASES:
        known = ", ".join(LEADS + EXTRA_LEADS)
        raise InputError(f"unknown lead name {name!r}; known leads: {known} (and aliases such as MLII)")
    return _ALIASES[key]


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Recording:
    """An immutable multi-lead ECG recording.

    Parameters
    ----------
    signal_mv : (n_samples, n_leads) array_like
        Voltages in mV. NaN marks samples that were not recorded or not plotted; ±inf is rejected.
        A 1-D array is accepted for a single lead.
    fs_hz : float
        Sampling rate in Hz (no default: 100, 360, 500 and 1000 Hz are all common).
    leads : sequence of str
        One name per column; aliases are mapped to the standard names, duplicates rejected.
    meta : mapping, optional
        Free metadata (source file, comments, diagnoses...). Stored read-only.

    Raises
    ------
    InputError
        On a wrong shape, a lead count that does not match, unknown or duplicate leads, a
        non-finite or absurd sampling rate, infinite values, amplitudes beyond ±50 mV (a unit
        mistake), or a signal with no finite sample at all.
    """

    signal_mv: np.ndarray
    fs_hz: float
    leads: tuple[str, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            signal = np.array(self.signal_mv, dtype=np.float64)  # always a private copy
        except (TypeError, ValueError) as exc:
            raise InputError(f"signal_mv is not numeric: {exc}") from None
        leads = (self.leads,) if isinstance(self.leads, str) else tuple(self.leads)
        if signal.ndim == 1:
            signal = signal[:, None]
        if signal.ndim != 2:
            raise InputError(f"signal_mv must be (n_samples, n_leads); got shape {signal.shape}")
        if signal.shape[0] < 1 or signal.shape[1] < 1:
            raise InputError(f"signal_mv is empty (shape {signal.shape})")
        if signal.shape[1] != len(leads):
            raise InputError(f"signal_mv has {signal.shape[1]} columns but {len(leads)} lead names were given")
        names = tuple(canonical_lead(name) for name in leads)
        if len(set(names)) != len(names):
            raise InputError(f"duplicate lead names: {list(leads)}")
        fs = _check_fs(self.fs_hz)
        if np.isinf(signal).any():
            raise InputError("signal_mv contains ±inf; use NaN for missing samples")
        finite = signal[np.isfinite(signal)]
        if finite.size == 0:
            raise InputError("signal_mv has no finite sample (all NaN)")
        peak = float(np.abs(finite).max())
        if peak > MAX_ABS_MV:
            raise InputError(f"signal_mv reaches {peak:.3g} mV (limit ±{MAX_ABS_MV:g} mV): "
                             "is it in µV or ADC units rather than mV?")
        object.__setattr__(self, "signal_mv", _frozen(signal))
        object.__setattr__(self, "fs_hz", fs)
        object.__setattr__(self, "leads", names)
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    # ---- shape and time ------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return int(self.signal_mv.shape[0])

    @property
    def duration_s(self) -> float:
        """Length in s (``n_samples / fs_hz``)."""
        return self.n_samples / self.fs_hz

    @property
    def time_s(self) -> np.ndarray:
        """(n_samples,) sample times in s, starting at 0."""
        return np.arange(self.n_samples) / self.fs_hz

    # ---- access --------------------------------------------------------------------------
    def __contains__(self, lead: object) -> bool:
        try:
            return canonical_lead(str(lead)) in self.leads
        except InputError:
            return False

    def lead(self, name: str) -> np.ndarray:
        """(n_samples,) read-only view of one lead in mV.

        Raises InputError if the recording has no such lead.
        """
        key = canonical_lead(name)
        if key not in self.leads:
            raise InputError(f"lead {name!r} is not in this recording (it has {', '.join(self.leads)})")
        return self.signal_mv[:, self.leads.index(key)]

    def select(self, leads: Iterable[str]) -> Recording:
        """A recording with only ``leads``, in the order given."""
        names = [canonical_lead(name) for name in leads]
        columns = np.stack([self.lead(name) for name in names], axis=1)
        return Recording(columns, self.fs_hz, tuple(names), self.meta)

    def window(self, start_s: float, end_s: float) -> Recording:
        """The samples with ``start_s <= t < end_s`` (t in s from the first sample).

        Raises InputError if the window is empty or outside the recording.
        """
        first = max(0, int(np.ceil(start_s * self.fs_hz - 1e-9)))
        last = min(self.n_samples, int(np.ceil(end_s * self.fs_hz - 1e-9)))
        if last <= first:
            raise InputError(f"window [{start_s}, {end_s}) s is empty for a {self.duration_s:.3g}-s recording")
        return Recording(self.signal_mv[first:last], self.fs_hz, self.leads, self.meta)

    def with_signal(self, signal_mv: np.ndarray, **meta: Any) -> Recording:
        """A recording with the same rate and leads, a new signal and updated metadata."""
        return Recording(signal_mv, self.fs_hz, self.leads, {**self.meta, **meta})

    def __repr__(self) -> str:
        return (f"Recording({self.n_samples} samples x {len(self.leads)} leads "
                f"[{', '.join(self.leads)}], {self.fs_hz:g} Hz, {self.duration_s:.3g} s)")


def _check_fs(fs_hz: object) -> float:
    try:
        fs = float(fs_hz)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"fs_hz must be a number; got {fs_hz!r}") from None
    if not np.isfinite(fs) or not FS_MIN_HZ <= fs <= FS_MAX_HZ:
        raise InputError(f"fs_hz={fs_hz!r} is outside the allowed {FS_MIN_HZ:g}–{FS_MAX_HZ:g} Hz")
    return fs
