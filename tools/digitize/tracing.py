"""Column-wise tracing of one row of ECG trace through ink runs, by dynamic programming.

In every pixel column of the row's band the ink forms vertical runs; the path that chooses one
run per column with the least total cost (vertical gaps between consecutive runs, distance from
the row's baseline) is the trace, so crossings with a neighbouring row's spikes stay with the
lead that is continuous. Each chosen run gives a sub-pixel y: the darkness-weighted centroid on
flat parts, the mid-point on steep strokes, the far end (less half a line width) at an apex.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["RowTrace", "trace_row", "column_runs"]

# Cost of 1 px of baseline distance relative to 1 px of vertical gap between consecutive runs:
# small, so it only settles ties (a neighbour's spike entering the band), never bends a QRS.
BASELINE_WEIGHT = 0.005
DARKNESS_WEIGHT = 4.0
# A column whose run is taller than this many line widths is part of a steep stroke.
STEEP_LINES = 7.0
# A column with no run costs this much (px-equivalent) to bridge, per column.
GAP_COST_PX = 0.5


@dataclass(frozen=True)
class RowTrace:
    """A traced row.

    x_px : (n,) absolute column of each traced value (px, deskewed image).
    y_px : (n,) absolute sub-pixel row of the trace centre in those columns (px).
    top_px, bottom_px : (n,) extent of the chosen ink run (px), for pulse and apex analysis.
    jump : (n,) True where the path jumped to ink more than max(1 mm, 6 px) from the adjacent
        column's: rare on a real trace, common when grid lines or text were taken for it.
    path_x_px, path_y_px : (m,) the trace as sub-pixel points sorted by x: column values on
        flat parts, and on steep strokes one point per pixel row at the stroke's darkness-weighted
        x centre (there the time, not the height, is what a column cannot resolve).
    """

    x_px: np.ndarray
    y_px: np.ndarray
    top_px: np.ndarray
    bottom_px: np.ndarray
    jump: np.ndarray
    path_x_px: np.ndarray
    path_y_px: np.ndarray



def column_runs(mask: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, ...]:
    """Runs of True along y in every column of ``mask`` (h, w): col, top, bottom (inclusive),
    centroid and mean darkness.

    The centroid is darkness-weighted over the run and one pixel beyond each end, so the faint
    anti-aliased edge pixels below the ink threshold still pull it to the sub-pixel centre.
    """
    padded = np.zeros((mask.shape[1], mask.shape[0] + 2), np.int8)
    padded[:, 1:-1] = mask.T
    edges = np.diff(padded, axis=1)
    s_col, s_row = np.nonzero(edges == 1)
    _, e_row = np.nonzero(edges == -1)
    w = np.asarray(weight, float).T
    ys = np.arange(mask.shape[0], dtype=float)
    cum_w = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(w, axis=1)], axis=1)
    cum_wy = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(w * ys, axis=1)], axis=1)
    lo, hi = np.maximum(s_row - 1, 0), np.minimum(e_row + 1, mask.shape[0])
    mass = cum_w[s_col, hi] - cum_w[s_col, lo]
    centroid = (cum_wy[s_col, hi] - cum_wy[s_col, lo]) / np.maximum(mass, 1e-9)
    inside = cum_w[s_col, e_row] - cum_w[s_col, s_row]
    return s_col, s_row.astype(float), e_row.astype(float) - 1.0, centroid, inside / (e_row - s_row)


def _best_path(cols: np.ndarray, tops: np.ndarray, bots: np.ndarray, dark: np.ndarray, base: float) -> np.ndarray:
    """Indices of the chosen run per distinct column (Viterbi over runs)."""
    starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
    ends = np.r_[starts[1:], len(cols)]
    centre = 0.5 * (tops + bots)
    # Prefer the darker of two connected runs: a trace is darker than a grid line it touches.
    local = BASELINE_WEIGHT * np.abs(centre - base) + DARKNESS_WEIGHT * (1.0 - dark)
    cost = local[starts[0]:ends[0]].copy()
    back: list[np.ndarray] = []
    for k in range(1, len(starts)):
        p, c = slice(starts[k - 1], ends[k - 1]), slice(starts[k], ends[k])
        gap = np.maximum(0.0, np.maximum(tops[c][None, :] - bots[p][:, None], tops[p][:, None] - bots[c][None, :]))
        skip = GAP_COST_PX * (cols[starts[k]] - cols[starts[k - 1]] - 1)
        total = cost[:, None] + gap + skip
        arg = np.argmin(total, axis=0)
        back.append(arg)
        cost = total[arg, np.arange(total.shape[1])] + local[c]
    choice = np.empty(len(starts), int)
    choice[-1] = int(np.argmin(cost))
    for k in range(len(starts) - 1, 0, -1):
        choice[k - 1] = back[k - 1][choice[k]]
    return starts + choice


def trace_row(mask: np.ndarray, weight: np.ndarray, band: tuple[int, int], reach: tuple[int, int],
              span: tuple[int, int], baseline_px: float, line_px: float, px_per_mm: float) -> RowTrace | None:
    """Trace the row whose band is ``band`` (y0, y1) px over columns ``span`` (x0, x1) px.

    Candidates are the ink runs within ``reach`` (y0, y1) px that belong to ink connected to the
    band, the ``reach`` edges (the neighbouring rows' baselines) cut away first: a tall QRS is
    followed into the neighbouring row's band, while that row's own trace never competes unless
    one of its waves enters this band.

    Parameters
    ----------
    mask : (H, W) bool ink mask (grid removed).
    weight : (H, W) float ink darkness, for sub-pixel centroids.
    baseline_px : the row's baseline y, px (absolute).
    line_px : trace line width, px.
    px_per_mm : vertical scale, px/mm (a jump over more than max(1 mm, 6 px) is flagged).

    Returns
    -------
    RowTrace, or None when no ink touches the band.
    """
    (y0, y1), (x0, x1) = reach, span
    ink = _connected_to_band(mask[y0:y1, x0:x1], band[0] - y0, band[1] - y0, max(2, int(round(px_per_mm))))
    cols, tops, bots, cents, dark = column_runs(ink, weight[y0:y1, x0:x1])
    if cols.size == 0:
        return None
    chosen = _best_path(cols, tops, bots, dark, baseline_px - y0)
    c, t, b, m = cols[chosen], tops[chosen], bots[chosen], cents[chosen]
    y, apex = _column_values(t, b, m, line_px)
    steep = b - t + 1 > STEEP_LINES * line_px
    sx, sy = _stroke_points(ink, weight[y0:y1, x0:x1], c, t, b, steep, line_px)
    keep = ~steep | apex
    px, py = np.r_[c[keep].astype(float), sx], np.r_[y[keep], sy]
    order = np.argsort(px, kind="stable")
    gap = np.maximum(0.0, np.maximum(t[1:] - b[:-1], t[:-1] - b[1:]))
    # Only between adjacent columns: a faint stroke with missing pixels may leave a gap in x.
    jump = np.r_[False, (gap > max(px_per_mm, 6.0)) & (np.diff(c) == 1)]
    return RowTrace(x_px=(c + x0).astype(float), y_px=y + y0, top_px=t + y0, bottom_px=b + y0, jump=jump,
                    path_x_px=px[order] + x0, path_y_px=py[order] + y0)


def _connected_to_band(mask: np.ndarray, top: int, bottom: int, edge_px: int) -> np.ndarray:
    """The ink of ``mask`` (h, w) connected to its rows ``top:bottom``, after clearing ``edge_px``
    rows at both edges (where the neighbouring rows' baselines lie)."""
    ink = mask.astype(np.uint8)
    ink[:edge_px], ink[-edge_px:] = 0, 0
    count, labels = cv2.connectedComponents(ink, connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[max(0, top):max(0, bottom)])] = True
    keep[0] = False
    return keep[labels]


def _stroke_points(mask: np.ndarray, weight: np.ndarray, c: np.ndarray, t: np.ndarray, b: np.ndarray,
                   steep: np.ndarray, line_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise sub-pixel points along each group of consecutive steep columns (band coordinates)."""
    xs, ys = [np.empty(0)], [np.empty(0)]
    idx = np.flatnonzero(steep)
    if idx.size == 0:
        return xs[0], ys[0]
    groups = np.split(idx, np.flatnonzero(np.diff(c[idx]) > 1) + 1)
    half = 0.5 * line_px
    for g in groups:
        cx0, cx1 = int(c[g[0]]) - 1, int(c[g[-1]]) + 2
        ry0, ry1 = int(t[g].min() + half + 1), int(b[g].max() - half)
        if ry1 <= ry0 or cx0 < 0:
            continue
        rows, left, right, centre, _ = column_runs(mask[ry0:ry1, cx0:cx1].T, weight[ry0:ry1, cx0:cx1].T)
        thin = (right - left + 1) <= line_px + 2  # wider: the up and down strokes of a spike merged
        xs.append(centre[thin] + cx0)
        ys.append(rows[thin].astype(float) + ry0)
    return np.concatenate(xs), np.concatenate(ys)


def _column_values(t: np.ndarray, b: np.ndarray, m: np.ndarray, line_px: float) -> tuple[np.ndarray, np.ndarray]:
    """One y per column, the run's darkness centroid, except at an apex (a steep run reaching at
    least as far as both neighbours): its far end less half a line. Also returns the apex flags."""
    half = 0.5 * line_px
    steep = b - t + 1 > 2.0 * line_px
    prev_t, next_t = np.r_[t[:1], t[:-1]], np.r_[t[1:], t[-1:]]
    prev_b, next_b = np.r_[b[:1], b[:-1]], np.r_[b[1:], b[-1:]]
    apex_up = steep & (t <= np.minimum(prev_t, next_t)) & (t < np.maximum(prev_t, next_t))
    apex_down = steep & (b >= np.maximum(prev_b, next_b)) & (b > np.minimum(prev_b, next_b)) & ~apex_up
    return np.where(apex_up, t + half, np.where(apex_down, b - half, m)), apex_up | apex_down
