"""NaN-skipping mean and median that return NaN for an all-NaN slice without warning.

NumPy's ``nanmean``/``nanmedian`` warn (RuntimeWarning) on all-NaN slices, which are expected here
(leads a 3x4 page does not cover, beats at the record's edges). Silencing them with
``warnings.catch_warnings`` is not thread-safe, and the agent measures in worker threads, so these
helpers avoid raising the warning at all.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nanmean", "nanmedian"]


def nanmean(values: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Mean over the finite values along ``axis``; NaN where a slice has none."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    count = finite.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):  # errstate is thread-safe (context variable)
        return total / count


def nanmedian(values: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Median over the finite values along ``axis``; NaN where a slice has none."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if axis is None:
        return float(np.median(values[finite])) if finite.any() else float("nan")
    covered = finite.any(axis=axis)
    filled = np.where(np.expand_dims(covered, axis), values, 0.0)  # no all-NaN slice reaches NumPy
    out = np.asarray(np.nanmedian(filled, axis=axis), dtype=float)
    out[~covered] = np.nan
    return out
