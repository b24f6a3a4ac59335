"""Printed column separators: the marks or dotted/solid vertical lines between a row's leads.

A printout cuts its short leads at these marks, which need not sit where the time scale puts the
column boundary (k column lengths after the calibration pulse): on the phone photo ecg00033 they
stand 0.14-0.17 s later, so the first part of every later column was the previous lead's trace.
Such marks are ink away from every row's trace (dots below the speck size and long lines are not
in the trace mask, so the raw darkness is read). A boundary is taken as found when, near where
the time scale expects it, the short rows together show one column of such ink, clearly above any
other, that runs through most of the band. Marks that only cross the trace (eik's short bars, our
renderer's bars) are part of its ink run and are not found: there the time scale's cut is used.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import uniform_filter1d

from tools.digitize.rows import TraceRow
from tools.digitize.tracing import RowTrace

__all__ = ["separator_offsets_px", "SEARCH_S"]

# Separators are looked for this far (s) on either side of the time scale's boundary.
SEARCH_S = 0.3
# A separator darkens at least this fraction of the band's height (averaged over the rows and 3
# columns): the dotted lines of real photos 0.09-0.24; labels, stray text and noise 0.01-0.14.
MIN_HEIGHT_FRACTION = 0.08
# Any other column of the search window more than 1 mm away stays below this fraction of the
# peak: a grid line every 5 mm (dark grids pass the ink threshold) is no single separator.
MAX_RIVAL_FRACTION = 0.5
# At the separator's column one stretch of ink (gaps joined) reaches over at least this fraction
# of the band's height (median over the rows): a dotted or solid line through the band (real
# photos: 0.36-0.99), not a printed lead label, whose glyph strokes stand at the same place in
# every row (ecg00007, ecg00009: 0.12-0.15).
MIN_EXTENT_FRACTION = 0.3
# Gaps in a separator line (mm) are bridged up to this: between its dots (ecg00033: 1 mm) and
# where it crosses a trace or label (the traced ink and TRACE_MARGIN_MM around it are not read;
# ecg00033: up to 8 mm).
DOT_GAP_MM = 10.0
# Ink within this distance (mm) of any row's traced path belongs to the trace, not to a separator.
TRACE_MARGIN_MM = 1.0


def _without_traces(dark: np.ndarray, x0: int, traces: list[RowTrace], px_per_mm_y: float) -> np.ndarray:
    """``dark`` (H, w), the page's columns from ``x0`` on, without every row's trace: the ink run
    read in each traced column and everything within ``TRACE_MARGIN_MM`` of the traced path (steep
    QRS strokes, whose runs are not whole columns; a large QRS of a neighbouring row reaching into
    a band: rendered LVH pages)."""
    height, width = dark.shape
    margin = int(np.ceil(TRACE_MARGIN_MM * px_per_mm_y))
    trace = np.zeros((height, width), np.uint8)
    rows = np.arange(height)[:, None]
    for t in traces:
        cols = np.round(t.x_px).astype(int) - x0
        inside = (cols >= 0) & (cols < width)
        trace[:, cols[inside]] |= ((rows >= np.floor(t.top_px[inside])[None, :])
                                   & (rows <= np.ceil(t.bottom_px[inside])[None, :]))
        px, py = np.round(t.path_x_px).astype(int) - x0, np.round(t.path_y_px).astype(int)
        inside = (px >= 0) & (px < width)
        trace[np.clip(py[inside], 0, height - 1), px[inside]] = 1
    near = cv2.dilate(trace, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1)))
    return dark & (near == 0)


def _extent(bands: list[np.ndarray], columns: list[int], max_gap_px: float) -> float:
    """Median over the rows of the longest vertical stretch of ink within one pixel of the column
    (gaps up to ``max_gap_px`` bridged: a dotted line), as a fraction of the band's height."""
    extents = []
    for band, x in zip(bands, columns):
        ys = np.flatnonzero(band[:, max(0, x - 1):x + 2].any(axis=1))
        if ys.size == 0:
            extents.append(0.0)
            continue
        breaks = np.flatnonzero(np.diff(ys) > max_gap_px)
        first, last = ys[np.r_[0, breaks + 1]], ys[np.r_[breaks, ys.size - 1]]
        extents.append(float(np.max(last - first + 1)) / band.shape[0])
    return float(np.median(extents))


def separator_offsets_px(dark: np.ndarray, rows: list[TraceRow], traces: list[RowTrace], short_rows: list[int],
                         boundaries_px: list[list[float]], px_per_mm_x: float, px_per_mm_y: float,
                         px_per_s: float) -> list[float | None]:
    """Offset (px, + = later) of the printed separator from each expected column boundary.

    Parameters
    ----------
    dark : (H, W) bool, ink darker than the page's ink threshold (deskewed page, grid included).
    rows, traces : every row of the page and its traced path.
    short_rows : indices of the short-lead rows that share the column boundaries.
    boundaries_px : per short row, the x (px) of each inner column boundary the time scale
        expects (every row the same number of boundaries).
    px_per_mm_x, px_per_mm_y, px_per_s : the page's scales.

    Returns
    -------
    One entry per boundary: the separator's offset, px, shared by the rows (their summed profile's
    peak within ``SEARCH_S``), or None where no single clear separator was found.
    """
    reach = int(round(SEARCH_S * px_per_s))
    pad = reach + int(np.ceil((TRACE_MARGIN_MM + 1.0) * px_per_mm_y))
    offsets: list[float | None] = []
    for k in range(len(boundaries_px[0]) if boundaries_px else 0):
        centres = [int(round(expected[k])) for expected in boundaries_px]
        # Only the columns around this boundary are read (the whole page costs 0.13 s at 200 DPI).
        x0, x1 = max(0, min(centres) - pad), min(dark.shape[1], max(centres) + pad + 1)
        free = _without_traces(dark[:, x0:x1], x0, traces, px_per_mm_y)
        bands = [free[rows[r].band[0]:rows[r].band[1]] for r in short_rows]
        window = np.zeros(2 * reach + 1)
        for band, centre in zip(bands, centres):
            profile = uniform_filter1d(band.mean(axis=0), 3) if band.size else np.zeros(x1 - x0)
            x = centre - x0 + np.arange(-reach, reach + 1)
            window += np.where((x >= 0) & (x < x1 - x0), profile[np.clip(x, 0, x1 - x0 - 1)], 0.0)
        window /= max(1, len(bands))
        peak = int(np.argmax(window))
        rivals = np.abs(np.arange(window.size) - peak) > px_per_mm_x
        clear = (window[peak] >= MIN_HEIGHT_FRACTION
                 and window[rivals].max(initial=0.0) < MAX_RIVAL_FRACTION * window[peak])
        columns = [centre - x0 + peak - reach for centre in centres]
        through = _extent(bands, columns, DOT_GAP_MM * px_per_mm_y) >= MIN_EXTENT_FRACTION
        offsets.append(float(peak - reach) if clear and through else None)
    return offsets
