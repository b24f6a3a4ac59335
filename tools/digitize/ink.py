"""Ink and grid separation: per-pixel darkness maps relative to the local paper colour.

Two maps, both in 0-1 (0 = paper): ``trace_darkness`` from the brightest channel, so only pixels
dark in every channel (black or grey ink) score high, and ``grid_darkness`` from the darkest
channel, so coloured grid lines (red, pink, blue, green) score too. Dividing by a local
background estimate removes shading and colour casts of scans and photos.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["darkness", "trace_darkness", "grid_darkness", "paper_noise", "grid_line_positions", "ink_threshold",
           "remove_grid_lines"]

# Local paper value below this fraction of the page's median: not paper.
NO_PAPER = 0.4
# A grid line with at least this fraction of its length above the ink threshold is a dark line
# to remove; a faint (coloured) line is only crossed by traces, far below it.
MIN_LINE_INK = 0.3
GRID_MARGIN = 0.08
RULED_LINE_INK = 0.6
# A ruled line's ink is unbroken along its whole extent; a trace's baseline, however long its
# flat stretches (a slow rhythm, small complexes), leaves its line at every beat.
RULED_LINE_CONTINUITY = 0.97
# Darkness below which a pixel counts as paper when measuring its noise.
PAPER_MAX = 0.2
# Half width (px) of the band cleared around a dark grid line (lines blur to 3-5 px after
# deskewing and JPEG).
LINE_HALF_PX = 2


def darkness(channel: np.ndarray, background_px: int) -> np.ndarray:
    """(H, W) float32 darkness 1 - value / local paper value, clipped to 0-1.

    The paper value is a max filter (``background_px`` wide, wider than a trace and a grid line)
    followed by a box blur, so thin dark lines do not pull the background down.
    """
    value = channel.astype(np.float32)
    size = max(3, int(background_px) | 1)
    paper = cv2.dilate(value, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
    paper = cv2.blur(paper, (2 * size + 1, 2 * size + 1))
    dark = np.clip(1.0 - value / np.maximum(paper, 1.0), 0.0, 1.0)
    # Where there is no paper at all (black margins of a rotated scan, a dark desk) nothing is
    # ink, nor along its edge (the paper estimate bleeds ``size`` px into it).
    no_paper = (value < NO_PAPER * float(np.median(paper))).astype(np.uint8)
    no_paper = cv2.morphologyEx(no_paper, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
    no_paper = cv2.dilate(no_paper, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * size + 1, 2 * size + 1)))
    dark[no_paper.astype(bool)] = 0.0
    return dark


def trace_darkness(rgb: np.ndarray, background_px: int) -> np.ndarray:
    """(H, W) darkness of the brightest channel: high only for black/grey ink."""
    return darkness(cv2.max(cv2.max(rgb[:, :, 0], rgb[:, :, 1]), rgb[:, :, 2]), background_px)


def grid_darkness(rgb: np.ndarray, background_px: int) -> np.ndarray:
    """(H, W) darkness of the darkest channel: high for coloured grid lines and for ink."""
    return darkness(cv2.min(cv2.min(rgb[:, :, 0], rgb[:, :, 1]), rgb[:, :, 2]), background_px)


def paper_noise(dark: np.ndarray) -> float:
    """Pixel noise of the paper in a darkness map ``dark`` (H, W), 0-1: the robust standard
    deviation (1.4826 x median absolute value) of each pixel less the mean of its right and lower
    neighbours, over paper pixels (darkness below ``PAPER_MAX``), on every fourth row and column.
    0 on a rendered page; 0.03-0.08 on ecg-image-kit's noisy JPEGs."""
    centre = dark[:-1:4, :-1:4]
    right, below = dark[:-1:4, 1::4], dark[1::4, :-1:4]
    rows, cols = min(centre.shape[0], below.shape[0]), min(centre.shape[1], right.shape[1])
    centre = centre[:rows, :cols]
    diff = centre - 0.5 * (right[:rows, :cols] + below[:rows, :cols])
    paper = centre < PAPER_MAX
    return float(1.4826 * np.median(np.abs(diff[paper]))) if paper.any() else 0.0


def grid_line_positions(profile: np.ndarray, pitch_px: float) -> np.ndarray:
    """Positions (px) of the grid lines of one axis, given the line period and the darkness profile.

    The phase is the offset whose comb of lines, ``phase + k * pitch_px``, collects the most darkness.
    """
    n = len(profile)
    phases = np.arange(0.0, pitch_px, 0.25)
    combs = phases[:, None] + np.arange(0.0, n - 1, pitch_px)[None, :]
    gathered = np.interp(combs, np.arange(n), profile).sum(axis=1)
    phase = phases[int(np.argmax(gathered))]
    return np.arange(phase, n - 0.5, pitch_px)


def ink_threshold(trace: np.ndarray, xs_px: np.ndarray, base: float, ceiling: float) -> float:
    """Trace-darkness threshold above the grid's own darkness.

    The grid lines' darkness is the median down each vertical line (traces cross a line only
    briefly); the threshold sits ``GRID_MARGIN`` above the 90th percentile of the lines, never
    below ``base`` nor above ``ceiling`` (so the core of a 0.75-0.9 dark trace survives).
    """
    cols = np.unique(np.clip(np.round(xs_px).astype(int), 0, trace.shape[1] - 1))
    if cols.size == 0:
        return base
    level = float(np.quantile(np.median(trace[::2, cols], axis=0), 0.9))
    return float(np.clip(level + GRID_MARGIN, base, ceiling))


def _long_runs(lines: np.ndarray, min_px: int) -> np.ndarray:
    """(n, L) bool: pixels of each line (row of ``lines``) in a run of True at least ``min_px`` long."""
    padded = np.zeros((lines.shape[0], lines.shape[1] + 2), np.int8)
    padded[:, 1:-1] = lines
    edges = np.diff(padded, axis=1)
    line, start = np.nonzero(edges == 1)
    _, end = np.nonzero(edges == -1)
    marks = np.zeros((lines.shape[0], lines.shape[1] + 1), np.int32)
    long = end - start >= min_px
    np.add.at(marks, (line[long], start[long]), 1)
    np.add.at(marks, (line[long], end[long]), -1)
    return np.cumsum(marks, axis=1)[:, :-1] > 0


def _continuity(mask: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(len(rows),) fraction of the columns between a row's first and last ink where the row
    (within ``LINE_HALF_PX``) has ink; 0 for a row without ink."""
    height = mask.shape[0]
    out = np.zeros(rows.size)
    for i, y in enumerate(rows):
        cover = np.flatnonzero(mask[max(0, y - LINE_HALF_PX):min(height, y + LINE_HALF_PX + 1)].any(axis=0))
        if cover.size:
            out[i] = cover.size / (cover[-1] - cover[0] + 1)
    return out


def remove_grid_lines(mask: np.ndarray, xs_px: np.ndarray, ys_px: np.ndarray, min_run_px: int) -> np.ndarray:
    """Clear thin grid lines from an ink mask, keeping traces that cross them.

    Only a grid whose vertical lines are themselves ink (at least ``MIN_LINE_INK`` of their length
    passes the ink threshold: black-and-white or dark grids) is touched, and only its dark lines.
    On those, a pixel (within ``LINE_HALF_PX`` of the line) is cleared when it lies in a straight
    run along the line at least ``min_run_px`` long (a pulse edge or a separator mark is shorter)
    and the ink does not continue to either side across the line (a trace crossing it).

    Parameters
    ----------
    mask : (H, W) bool ink mask.
    xs_px, ys_px : grid line positions (px) along x (vertical lines) and y (horizontal lines).
    min_run_px : shortest straight run, px, that counts as grid line.
    """
    height, width = mask.shape
    out = mask.copy()
    reach = LINE_HALF_PX + 2
    band = np.arange(-LINE_HALF_PX, LINE_HALF_PX + 1)
    cols = np.unique(np.clip(np.round(xs_px).astype(int)[:, None] + band, 0, width - 1))
    rows = np.unique(np.clip(np.round(ys_px).astype(int)[:, None] + band, 0, height - 1))
    col_ink, row_ink = mask[:, cols].mean(axis=0), mask[rows, :].mean(axis=1)
    # Vertical lines decide whether the grid is dark: traces rarely run along a column, while a
    # flat baseline can fill a row. 3 % of the candidate columns lets a grid whose 5-mm lines
    # alone are dark count (1 column in 15). A line inked over most of the page is grid anyway
    # (unbroken: a trace's baseline may fill a row, but leaves it at every beat).
    dark_grid = col_ink.size > 0 and np.mean(col_ink >= MIN_LINE_INK) >= 0.03
    cols = cols[(col_ink >= MIN_LINE_INK) if dark_grid else (col_ink >= RULED_LINE_INK)]
    if dark_grid:
        rows = rows[row_ink >= MIN_LINE_INK]
    else:
        rows = rows[row_ink >= RULED_LINE_INK]
        rows = rows[_continuity(mask, rows) >= RULED_LINE_CONTINUITY]
    if cols.size:
        left = mask[:, np.clip(cols - reach, 0, width - 1)]
        right = mask[:, np.clip(cols + reach, 0, width - 1)]
        line = _long_runs(mask[:, cols].T, min_run_px).T
        out[:, cols] &= ~(line & ~(left | right))
    if rows.size:
        up = mask[np.clip(rows - reach, 0, height - 1)]
        down = mask[np.clip(rows + reach, 0, height - 1)]
        line = _long_runs(mask[rows], min_run_px)
        out[rows] &= ~(line & ~(up | down))
    return out
