"""Page layout from the rows found: which lead each row and column holds.

The row count names the layout (3 rows: 3x4; 4: 3x4 + 1 rhythm strip; 5: 3x4 + 2; 6: 6x2 or
3x4 + 3; 12: 12x1), the standard lead order fills it, and each rhythm strip is the layout's default lead (II, then
V1, V5) unless a short lead printed in the same time window matches it clearly better.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.errors import DigitizationError

__all__ = ["RowPlan", "plan_rows", "check_row_spacing", "select_rows", "ROWS_3X4", "RHYTHM_DEFAULTS",
           "rhythm_identity"]

ROWS_3X4 = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
ROWS_6X2 = (("I", "V1"), ("II", "V2"), ("III", "V3"), ("aVR", "V4"), ("aVL", "V5"), ("aVF", "V6"))
ROWS_12X1 = tuple((lead,) for lead in ("I", "II", "III", "aVR", "aVL", "aVF",
                                         "V1", "V2", "V3", "V4", "V5", "V6"))
# Default rhythm leads when the page does not tell (the common printer choices).
RHYTHM_DEFAULTS = ("II", "V1", "V5")
# A rhythm strip is identified with a short lead when their correlation reaches this.
MIN_IDENTITY_CORR = 0.9
# Another lead than the layout's default must match the strip this much better than the default
# and than any other lead to name it.
MIN_IDENTITY_MARGIN = 0.05
MAX_SPACING_CV = 0.25


@dataclass(frozen=True)
class RowPlan:
    """Leads of one row, left to right; ``rhythm`` when the row is one lead over the full width."""

    leads: tuple[str, ...]
    rhythm: bool


SUPPORTED_ROW_COUNTS = (3, 4, 5, 6, 12)


def select_rows(baselines_px: list[float]) -> tuple[int, int]:
    """The run of consecutive candidate rows, (first, stop), that forms a supported, evenly spaced
    layout: the longest such run, the topmost among equals (header and footer text lie outside
    the traces). All rows when no run qualifies (the caller then refuses the page)."""
    n = len(baselines_px)
    for count in sorted((c for c in SUPPORTED_ROW_COUNTS if c <= n), reverse=True):
        for first in range(n - count + 1):
            rows = baselines_px[first:first + count]
            if _regular(rows[: 12 if count == 12 else 3]):
                return first, first + count
    return 0, n


def _regular(baselines_px: list[float]) -> bool:
    gaps = np.diff(np.asarray(baselines_px, float))
    return gaps.size < 2 or bool(np.std(gaps) <= MAX_SPACING_CV * np.mean(gaps))


def check_row_spacing(baselines_px: list[float], n_block: int) -> None:
    """Every supported layout prints its block of short-lead rows equally spaced.

    Raises
    ------
    DigitizationError
        When the first ``n_block`` rows' spacings vary by more than 25 % (ruled lines, text or
        a photo's background taken for traces).
    """
    gaps = np.diff(np.asarray(baselines_px[:n_block], float))
    if not _regular(baselines_px[:n_block]):
        raise DigitizationError(f"rows of trace found at irregular heights (spacings {np.round(gaps).astype(int).tolist()} px); "
                                "the page does not look like a supported layout")


def plan_rows(n_rows: int, six_rows_have_rhythm: bool) -> tuple[str, list[RowPlan]]:
    """Layout name and per-row plan for ``n_rows`` rows of trace.

    Raises
    ------
    DigitizationError
        For a row count no supported layout has.
    """
    if n_rows == 12:
        return "12x1", [RowPlan(r, False) for r in ROWS_12X1]
    if n_rows == 6 and not six_rows_have_rhythm:
        return "6x2", [RowPlan(r, False) for r in ROWS_6X2]
    if 3 <= n_rows <= 6:
        extra = n_rows - 3
        plans = [RowPlan(r, False) for r in ROWS_3X4]
        plans += [RowPlan((RHYTHM_DEFAULTS[i],), True) for i in range(extra)]
        return ("3x4" if extra == 0 else f"3x4+{extra}"), plans
    raise DigitizationError(f"found {n_rows} rows of trace; supported layouts have 3 to 6 or 12 rows "
                            "(3x4, 3x4 with 1-3 rhythm strips, 6x2, 12x1)")


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    both = np.isfinite(a) & np.isfinite(b)
    if both.sum() < 50:
        return float("nan")
    x, y = a[both] - a[both].mean(), b[both] - b[both].mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def rhythm_identity(strip: np.ndarray, short_leads: dict[str, np.ndarray],
                    defaults: tuple[str, ...]) -> tuple[str | None, float]:
    """The short lead a rhythm strip is, with its correlation; None when no lead reaches 0.9 or
    the match is ambiguous.

    The best matching of the layout's ``defaults`` (II on a 3x4 + 1 page; II, V1 and V5 on a
    3x4 + 3 page, less those already named) is kept unless another lead matches clearly better
    (by ``MIN_IDENTITY_MARGIN``) than both that default and every other lead: each
    short lead is compared over its own 2.5 s only, where II, III, aVF, I or V4 with a dominant R
    wave all correlate above 0.9, so a best match by a hair says nothing about what was printed.

    Parameters
    ----------
    strip : (n,) the rhythm strip on the recording's time base (NaN outside its extent).
    short_leads : name -> (n,) each short lead on the same time base (NaN outside its window).
    defaults : the leads the layout may print there when the page does not say otherwise.
    """
    scores = {name: _corr(strip, signal) for name, signal in short_leads.items()}
    scores = {k: v for k, v in scores.items() if np.isfinite(v)}
    if not scores:
        return None, float("nan")
    ranked = sorted(scores, key=scores.get, reverse=True)
    best = scores[ranked[0]]
    if best < MIN_IDENTITY_CORR:
        return None, best
    default = max((d for d in defaults if d in scores), key=scores.get, default=None)
    if default is not None and best - scores[default] < MIN_IDENTITY_MARGIN:
        return default, scores[default]
    if len(ranked) > 1 and best - scores[ranked[1]] < MIN_IDENTITY_MARGIN:
        return None, best
    return ranked[0], best
