"""Rows of trace on the page: baselines, vertical bands and horizontal extents, from the ink itself.

A trace spends most of its time on its baseline, so the page's ink-per-row profile peaks at every
row's baseline; short text lines (labels, "25mm/s") peak far lower and are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

__all__ = ["TraceRow", "find_rows"]

# A row's baseline peak must reach this fraction of the second strongest peak.
MIN_ROW_STRENGTH = 0.4
# Rows closer than this cannot both be traces (12 rows on a letter page are ≈16 mm apart).
MIN_ROW_SPACING_MM = 7.0
# Horizontal extent: columns with ink in the band, gaps up to this long bridged.
MAX_GAP_MM = 8.0
# A row of trace has ink without a break for at least this long near its baseline.
MIN_UNBROKEN_MM = 8.0
MAX_THICKNESS_MM = 0.8
# A filled bar's top edge moves less than this between neighbouring columns (median).
BAR_EDGE_JITTER_MM = 0.1
# Fraction of a row's span lying on one pixel row (±1) above which it is a ruled line.
STRAIGHT_FRACTION = 0.95
# A candidate above the topmost or below the bottom row of trace that spans less than this
# fraction of the second widest row is a block of header or footer text (ecg00025: four lines
# of text over a third of the width, 0.34, read as a first row of trace); every row of a
# supported layout spans the printed width (real images: at least 0.72).
MIN_SPAN_FRACTION = 0.5


@dataclass(frozen=True)
class TraceRow:
    """One row of trace: baseline y, band (y0, y1), reach (y0, y1) and ink extent (x0, x1), all px.

    The trace is looked for in ``band`` (its share of the page between neighbouring rows); ink
    connected to it is followed up to ``reach`` (the neighbouring rows' baselines, or two
    half-spacings beyond an outer row), since a large QRS may run into the next row.
    """

    baseline_px: float
    band: tuple[int, int]
    reach: tuple[int, int]
    span: tuple[int, int]


def _extent(column_ink: np.ndarray, max_gap: int) -> tuple[int, int] | None:
    """Longest stretch of columns with ink, bridging gaps of up to ``max_gap`` columns."""
    cols = np.flatnonzero(column_ink)
    if cols.size == 0:
        return None
    breaks = np.flatnonzero(np.diff(cols) > max_gap)
    first = np.r_[0, breaks + 1]
    last = np.r_[breaks, cols.size - 1]
    best = int(np.argmax(cols[last] - cols[first]))
    return int(cols[first[best]]), int(cols[last[best]]) + 1


def _longest_run(columns: np.ndarray) -> int:
    """Length of the longest stretch of consecutive True values."""
    padded = np.r_[0, columns.astype(np.int8), 0]
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max()) if edges.size else 0


def _is_straight_line(mask: np.ndarray, y: int, span: tuple[int, int]) -> bool:
    """True when the ink at row ``y`` is a ruled line (a grid line or a frame), not a trace: it
    sits within ±1 px of one row over nearly the whole span."""
    on_line = mask[max(0, y - 1):y + 2, span[0]:span[1]].any(axis=0)
    return bool(on_line.mean() >= STRAIGHT_FRACTION)


def _is_filled_bar(band: np.ndarray, columns: np.ndarray, px_per_mm: float) -> bool:
    """True when the ink near a candidate row is a filled box (a redaction bar), not a trace.

    A bar is thick with a straight top edge; a trace is thin, or (mains hum, muscle noise) a thick
    band whose top edge jumps from column to column.
    """
    ink = band[:, columns]
    if np.median(ink.sum(axis=0)) <= max(4.0, MAX_THICKNESS_MM * px_per_mm):
        return False
    top = np.argmax(ink, axis=0)
    return bool(np.median(np.abs(np.diff(top))) < BAR_EDGE_JITTER_MM * px_per_mm)


def _inside_text_blocks(keep: list[int], spans: list[tuple[int, int] | None]) -> list[int]:
    """``keep`` (indices into ``spans``, top to bottom) less the candidates at either end that span
    under ``MIN_SPAN_FRACTION`` of the second widest: header and footer text outside the traces."""
    widths = [spans[i][1] - spans[i][0] for i in keep]
    if len(widths) < 3:
        return keep
    floor = MIN_SPAN_FRACTION * sorted(widths)[-2]
    first, stop = 0, len(keep)
    while first < stop and widths[first] < floor:
        first += 1
    while stop > first and widths[stop - 1] < floor:
        stop -= 1
    return keep[first:stop]


def find_rows(mask: np.ndarray, px_per_mm: float) -> list[TraceRow]:
    """Find the rows of trace in an ink mask.

    Parameters
    ----------
    mask : (H, W) bool ink mask of the deskewed page (grid removed).
    px_per_mm : vertical scale, px/mm, to set the smoothing and the minimum row spacing.

    Returns
    -------
    Rows from top to bottom (empty when no row is found).
    """
    height, width = mask.shape
    profile = uniform_filter1d(mask.sum(axis=1).astype(float), max(1, int(round(px_per_mm))))
    spacing = max(3, int(MIN_ROW_SPACING_MM * px_per_mm))
    peaks, _ = find_peaks(profile, distance=spacing)
    if peaks.size == 0:
        return []
    # Relative to the second strongest peak: one odd line (a frame edge) cannot set the scale,
    # and grid remnants or text, far weaker than a trace's baseline, fall below it.
    ranked = np.sort(profile[peaks])[::-1]
    peaks = peaks[profile[peaks] >= MIN_ROW_STRENGTH * ranked[min(1, ranked.size - 1)]]
    # A row must be a real trace: at least 20 mm of ink across the page.
    reach = int(4 * px_per_mm)
    bands = [mask[max(0, y - reach):y + reach + 1] for y in peaks]
    near = [band.any(axis=0) for band in bands]
    spans = [_extent(columns, int(MAX_GAP_MM * px_per_mm)) for columns in near]
    # A trace is one line, unbroken for long stretches; a line of text breaks between letters,
    # and a filled box (a redaction bar) is thick with a straight edge.
    keep = [i for i, s in enumerate(spans) if s is not None and s[1] - s[0] >= 20 * px_per_mm
            and _longest_run(near[i]) >= MIN_UNBROKEN_MM * px_per_mm
            and not _is_filled_bar(bands[i], near[i], px_per_mm)
            and not _is_straight_line(mask, int(peaks[i]), spans[i])]
    keep = _inside_text_blocks(keep, spans)
    peaks, spans = peaks[keep], [spans[i] for i in keep]
    rows = []
    bounds = np.r_[0, (peaks[1:] + peaks[:-1]) // 2, height]
    for i, (y, span) in enumerate(zip(peaks, spans)):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        gaps = [g for g, edge in ((y - lo, i == 0), (hi - y, i == len(peaks) - 1)) if not edge]
        half = min(gaps) if gaps else 20 * px_per_mm
        band = (max(0, int(y - 1.2 * half)), min(height, int(y + 1.2 * half)))
        reach = (int(peaks[i - 1]) if i > 0 else max(0, int(y - 2.0 * half)),
                 int(peaks[i + 1]) if i < len(peaks) - 1 else min(height, int(y + 2.0 * half)))
        rows.append(TraceRow(baseline_px=float(y), band=band, reach=reach, span=span))
    return rows
