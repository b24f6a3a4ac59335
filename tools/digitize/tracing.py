"""Column-wise tracing of one row of ECG trace through ink runs, by dynamic programming.

In every pixel column of the row's band the ink forms vertical runs; the path that chooses one
run per column with the least total cost (vertical gaps between consecutive runs, distance from
the row's baseline, runs thinner than the trace's own) is the trace, so crossings with a
neighbouring row's spikes stay with the lead that is continuous. Each chosen run gives a
sub-pixel y: the darkness-weighted centroid on flat parts, the far end (less half a line width)
at an apex, the end away from the stroke (less half a line) where a flat line meets a steep
stroke. Strokes steeper than a few pixels per column are read row by row instead, from each
row's sub-pixel ink edges (only row runs on the chosen path): there the time, not the height, is
what a column cannot resolve. Where such a stroke leaves a flat line, a foot point is added at
the line's level (the rows in between hold both, so no row reads the stroke there). A spike no
wider than the line, between flat columns at one level, is read as three points (base, apex at its
centre, base). The remaining column centroids are corrected for the pen's footprint: a column
holds the ink of the line over about a line width on either side, so its centroid reads a curve
blurred (a T wave's end late, a QRS foot early); the path is drawn again with a pen of the line's
thickness, read the same way, and each centroid moved by its difference from the path's own value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["RowTrace", "trace_row", "column_runs", "needle_columns", "NEEDLE_MM", "NEEDLE_WIDTH_MM",
           "NEEDLE_FOOT_MM", "MAX_EXCURSION_MM", "first_return_px", "off_trace"]

# Cost of 1 px of baseline distance relative to 1 px of vertical gap between consecutive runs:
# small, so it only settles ties (a neighbour's spike entering the band), never bends a QRS.
BASELINE_WEIGHT = 0.005
DARKNESS_WEIGHT = 4.0
# Darkness is preferred only up to the trace's own (this quantile of the darkness of the runs
# alone in their column): printed text can be darker than an anti-aliased trace, and a path
# rewarded for that left a QRS at a panel's start for its lead label (rendered pages: trace
# 0.6-0.75, label 0.9). Lower quantiles fix more such panels but flip the darkness tie-break
# between an R tip and a 1-px grid fragment (eik augmented even, 0.5 and 0.9: -0.07 dB).
TRACE_DARK_QUANTILE = 0.95
# A column whose run is taller than this many line widths (and pixels) is part of a steep stroke,
# read row by row: on slopes above a few pixels per column the row edges place the line better
# than the column centroid does (eik even half, clean / augmented: 7 lines 22.6 / 18.9 dB, 2 lines
# and 6 px 25.1 / 19.2). Below 6 px the 1-px lines of 100-DPI pages are read worse by rows.
STEEP_LINES = 2.0
STEEP_MIN_PX = 6.0
# A stroke's horizontal width is this quantile of its single rows' widths (the median includes
# rows where two strokes start to merge and read each stroke too far inside; the lowest quarter
# is narrowed by the pixel noise of JPEG pages: eik even half, augmented 0.25 -> 0.4: +0.1 dB).
STROKE_QUANTILE = 0.4
# Up and down stroke centres of a run further apart than this (px) are two strokes, not one.
MERGED_PX = 0.75
# A corner column's neighbour on the flat side is flat when its run is at most this much (px)
# taller than the line. Without it the corner rule also fired on the jagged noise of real traces
# (eik even, augmented 19.11 -> 19.07 dB, a lead of 194-0 -0.4 dB); with it 19.12, clean 23.57.
CORNER_FLAT_PX = 1.0
# Stroke points are averaged over this many pixel rows either side, within this x distance (px):
# wider takes in the other stroke of a spike where the two nearly merge (eik even half,
# augmented, with the quantile above: 2 px 17.43, 1.25 px 17.59, 1 px 17.47 dB; clean unchanged).
STROKE_ROWS = 4
STROKE_DX_PX = 1.25
# The column centroids are corrected by drawing the path again with a round pen of the line's
# thickness (``_pen_centroids``), PEN_TILE_PX columns at a time (which bounds the arrays). 24
# rendered pages (seeds 0-23 of the measure benchmark's label cycle), mean SNR of the 288 leads
# against the plotted samples: before 32.02 dB, corrected 32.69 (feet alone 32.03, both 32.69);
# eik even half, clean 23.57 -> 23.82 dB, augmented 19.12 -> 19.19 (both). A second correction round
# lost 0.1 dB; an OpenCV pen at 8x supersampling gave the same within 0.1 dB but moves the line by
# up to 1/16 px (its raster), which a flat synthetic line showed as a 0.08-px offset.
PEN_TILE_PX = 256
# A foot is added where a steep stroke leaves a line that is flat (successive columns within
# FOOT_FLAT_PX) over FOOT_FLAT_COLS columns: beside a wave's rounded tip (an S trough 1-2 columns
# wide) the foot squared the tip off (8 rendered pages: no check 31.46 dB, one flat column 32.21,
# three 32.63, against 32.92 without feet). The stroke's line is fitted through its FOOT_ROWS row
# points nearest the flat level, among those within a line width and FOOT_REACH_PX of the flat
# column (a thick line's first stroke rows start farther out), and must be steep there
# (|dx/dy| <= FOOT_DXDY: 32.81 dB; 0.1: 32.88, but the QRS onset read early again). Its meeting
# point with the level is moved FOOT_BACK_PX towards the flat side: a simulated QRS leaves the
# baseline on a curve, before its tangent meets the level (24 pages: 0 px 32.50 dB, 0.2 px
# 32.73, 0.4 px 32.79; digitized-vs-direct QRS +2.2, +2.1, +2.6 ms). These were measured with an
# earlier pen correction (OpenCV's, see above); with the final one, QRS +2.3 ms, 32.69 dB.
FOOT_FLAT_COLS = 3
FOOT_FLAT_PX = 0.5
FOOT_ROWS = 3
FOOT_REACH_PX = 0.5
FOOT_DXDY = 0.2
FOOT_BACK_PX = 0.4
# A column with no run costs this much (px-equivalent) to bridge, per column.
GAP_COST_PX = 0.5
# Each pixel a run is thinner than the row's typical run (this quantile of the heights, at most two
# lines, of the runs alone in their column: columns with one run hold the trace, not grid
# fragments) costs this much (px-equivalent). A 1-px fragment where a grid line crosses the tip
# of a QRS overlaps both its strokes, so without it the path cut the apex short through the
# fragment (eik even half, augmented: 18.84 -> 18.96 dB, clean unchanged; measured with the
# 0.4 quantile over all runs). Over all runs, grid fragments pull the quantile to 1 px; the 0.4
# quantile sent a jagged, noisy trace's path into a thick lead label (render matrix, signal
# noise 18.3 -> 18.0 dB); 0.2 let the fragment win again (augmented 154: -0.25 dB).
THIN_RUN_QUANTILE = 0.3
THIN_RUN_WEIGHT = 1.0
# Darkness (0-1) of faint ink: half the ink threshold (pipeline.INK_THRESHOLD). Paper between
# separate ink reads 0-0.1 (eik pages); the sub-threshold middle of a steep QRS stroke on phone
# photos and small screenshots 0.25-0.37 (ecg00023, ecg00031, ecg00035).
FAINT_INK = 0.2
# A "needle" is a vertical ink run at least NEEDLE_MM tall over at most NEEDLE_WIDTH_MM of
# columns with flat columns (runs under NEEDLE_FOOT_MM) on both sides: a grid line or crease
# the path ran up and down, not a wave. Real single columns reach 11 mm on eik pages (pulse
# edges, before the signal) and 15-21 mm in rendered LVH complexes, but those sit between the
# stroke columns of their QRS (5-15 mm tall); the dark-grid photo ecg00005's sit on a flat path.
NEEDLE_MM = 15.0
NEEDLE_WIDTH_MM = 0.3
NEEDLE_FOOT_MM = 2.0
# A path that jumps across paper and jumps back within this many mm of columns left its trace
# for other ink and returned (ecg00035 V3: one column on the S-wave tip of V2 in the row above,
# a false 2-3 mV spike): what it read in between is not this lead. Longer stretches are left to
# the jump count (pipeline.MAX_JUMP_FRACTION).
MAX_EXCURSION_MM = 5.0


@dataclass(frozen=True)
class RowTrace:
    """A traced row.

    x_px : (n,) absolute column of each traced value (px, deskewed image).
    y_px : (n,) absolute sub-pixel row of the trace centre in those columns (px).
    top_px, bottom_px : (n,) extent of the chosen ink run (px), for pulse and apex analysis.
    jump : (n,) True where the path jumped to ink more than max(1 mm, 6 px) from the adjacent
        column's, across paper (not a faint stroke): rare on a real trace, common when grid
        lines or text were taken for it.
    path_x_px, path_y_px : (m,) the trace as sub-pixel points sorted by x: column values on
        flat parts, and on steep strokes one point per pixel row at the stroke's darkness-weighted
        x centre (there the time, not the height, is what a column cannot resolve).
    spike_x_px : (k,) sub-pixel centres of the spikes no wider than the line read as
        base-apex-base (see ``_narrow_spikes``), sorted; smoothing must leave them alone.
    off_trace_x_px : (e, 2) open intervals (x_from, x_to) px between the last column on the
        trace before a jump out across paper and the first column after the jump back (see
        ``MAX_EXCURSION_MM``): the path read other ink there, so no value is read inside.
    """

    x_px: np.ndarray
    y_px: np.ndarray
    top_px: np.ndarray
    bottom_px: np.ndarray
    jump: np.ndarray
    path_x_px: np.ndarray
    path_y_px: np.ndarray
    spike_x_px: np.ndarray
    off_trace_x_px: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))


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


def _best_path(cols: np.ndarray, tops: np.ndarray, bots: np.ndarray, dark: np.ndarray, base: float,
               line_px: float) -> np.ndarray:
    """Indices of the chosen run per distinct column (Viterbi over runs)."""
    starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
    ends = np.r_[starts[1:], len(cols)]
    centre = 0.5 * (tops + bots)
    # Prefer the darker of two connected runs: a trace is darker than a grid line it touches;
    # and the runs at least as thick as the trace's own (see THIN_RUN_QUANTILE).
    height = bots - tops + 1
    alone = np.r_[True, cols[1:] != cols[:-1]] & np.r_[cols[1:] != cols[:-1], True]
    own = alone & (height <= 2 * line_px)
    flat = height[own]
    typical = float(np.quantile(flat, THIN_RUN_QUANTILE)) if flat.size else line_px
    full = float(np.quantile(dark[own], TRACE_DARK_QUANTILE)) if flat.size else 1.0
    local = BASELINE_WEIGHT * np.abs(centre - base) + DARKNESS_WEIGHT * np.maximum(0.0, full - dark)
    local += THIN_RUN_WEIGHT * np.maximum(0.0, typical - height)
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
    band_weight = weight[y0:y1, x0:x1]
    ink = _connected_to_band(mask[y0:y1, x0:x1], band[0] - y0, band[1] - y0, max(2, int(round(px_per_mm))))
    cols, tops, bots, cents, dark = column_runs(ink, band_weight)
    if cols.size == 0:
        return None
    chosen = _best_path(cols, tops, bots, dark, baseline_px - y0, line_px)
    c, t, b, m = cols[chosen], tops[chosen], bots[chosen], cents[chosen]
    edges = _run_edges(band_weight, c, t, b, line_px)
    y, apex, corner = _column_values(t, b, m, line_px, edges)
    steep = b - t + 1 > max(STEEP_LINES * line_px, STEEP_MIN_PX)
    sx, sy = _stroke_points(ink, band_weight, c, t, b, steep, line_px)
    fx, fy = _stroke_feet(c, y, steep, (sx, sy), edges[2])
    sx, sy = np.r_[sx, fx], np.r_[sy, fy]
    keep = ~steep | apex
    cx = c.astype(float)
    # An upward apex (its y above the run's centroid) ends at the run's top, a downward one at its bottom.
    cx[apex] = _apex_x(band_weight, c[apex], np.where(y[apex] < m[apex], t[apex], b[apex]), line_px)
    jump = _jumps(band_weight, c, t, b, px_per_mm)
    spiky = (band_weight, (c, t, b, y), steep, edges, line_px)
    # The pen is run along the path as it will be read, spikes included; which spikes there are
    # is decided on the column values as read (a correction beside a spike must not undo it).
    path = _narrow_spikes(np.r_[cx[keep], sx], np.r_[y[keep], sy], *spiky)
    y = _pen_corrected(y, ~steep & ~apex & ~corner, (c, t, b), path[:2], c[np.flatnonzero(jump)], edges[2])
    px, py, spikes = _narrow_spikes(np.r_[cx[keep], sx], np.r_[y[keep], sy], *spiky)
    order = np.argsort(px, kind="stable")
    px, py = px[order], py[order]
    away = _excursions(c, jump, max(1.0, MAX_EXCURSION_MM * px_per_mm))
    return RowTrace(x_px=(c + x0).astype(float), y_px=y + y0, top_px=t + y0, bottom_px=b + y0, jump=jump,
                    path_x_px=px + x0, path_y_px=py + y0, spike_x_px=np.sort(spikes) + x0,
                    off_trace_x_px=np.reshape(c[away] + x0, (-1, 2)).astype(float))


def _excursions(c: np.ndarray, jump: np.ndarray, max_px: float) -> np.ndarray:
    """(e, 2) column indices (last before, first after) of each excursion: a jump (``jump``, (n,))
    followed by the next jump within ``max_px`` columns, the path leaving its trace and coming
    back. Pairs are taken in order, so a jump out is never the return of an earlier excursion."""
    idx = np.flatnonzero(jump)
    pairs, k = [], 0
    while k + 1 < idx.size:
        if c[idx[k + 1]] - c[idx[k]] <= max_px:
            pairs.append((idx[k] - 1, idx[k + 1]))
            k += 2
        else:
            k += 1
    return np.array(pairs, int).reshape(-1, 2)


def _jumps(weight: np.ndarray, c: np.ndarray, t: np.ndarray, b: np.ndarray, px_per_mm: float) -> np.ndarray:
    """(n,) True at each chosen run (columns ``c``, rows ``t``..``b``, (n,) each) more than
    max(1 mm, 6 px) from the previous column's, across paper (see ``_bridged``)."""
    gap = np.maximum(0.0, np.maximum(t[1:] - b[:-1], t[:-1] - b[1:]))
    # Only between adjacent columns: a faint stroke with missing pixels may leave a gap in x.
    jump = np.r_[False, (gap > max(px_per_mm, 6.0)) & (np.diff(c) == 1)]
    jump[jump] = ~_bridged(weight, c, t, b, np.flatnonzero(jump))
    return jump


def _bridged(weight: np.ndarray, c: np.ndarray, t: np.ndarray, b: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(len(idx),) True where the vertical gap between the chosen runs of columns ``idx - 1`` and
    ``idx`` is covered by faint ink: every row of it at least ``FAINT_INK`` dark (``weight``, (h, w))
    in one of the two columns. A steep stroke thinner than a pixel across (a QRS at 4 px/mm) leaves
    such a gap under the ink threshold; a jump to other ink (a label, another lead) crosses paper."""
    out = np.zeros(idx.size, bool)
    for i, k in enumerate(idx.tolist()):
        lo, hi = (b[k - 1] + 1, t[k]) if t[k] > b[k - 1] else (b[k] + 1, t[k - 1])
        rows = slice(int(lo), int(hi))
        out[i] = bool(np.maximum(weight[rows, c[k - 1]], weight[rows, c[k]]).min(initial=1.0) >= FAINT_INK)
    return out


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
    """Row-wise sub-pixel points along each group of consecutive steep columns (band coordinates).

    Each row's horizontal ink run has sub-pixel edges (the partial darkness of its edge pixels
    over the full ink darkness); half a stroke width inside each edge lies a stroke's centre.
    Where the up and down strokes of a spike merge (near its apex) the two differ and both are
    kept: the run's centre would lie between the strokes, on neither. Only row runs that touch
    the path's chosen column runs count: a printed lead label beside a QRS is ink connected to
    the trace, but off the path.
    """
    xs, ys = [np.empty(0)], [np.empty(0)]
    idx = np.flatnonzero(steep)
    if idx.size == 0:
        return xs[0], ys[0]
    groups = np.split(idx, np.flatnonzero(np.diff(c[idx]) > 1) + 1)
    half = 0.5 * line_px
    for g in groups:
        cx0, cx1 = int(c[g[0]]) - 2, int(c[g[-1]]) + 3
        ry0, ry1 = int(t[g].min() + half + 1), int(b[g].max() - half)
        if ry1 <= ry0 or cx0 < 0:
            continue
        top, bottom = np.full(cx1 - cx0, np.inf), np.full(cx1 - cx0, -np.inf)
        near = (c >= cx0) & (c < cx1)
        top[c[near] - cx0], bottom[c[near] - cx0] = t[near], b[near]
        rows = np.arange(ry0, ry1, dtype=float)[:, None]
        on_path = (rows >= top[None, :]) & (rows <= bottom[None, :])
        x, y = _row_strokes(mask[ry0:ry1, cx0:cx1], weight[ry0:ry1, cx0:cx1], on_path, line_px)
        xs.append(x + cx0)
        ys.append(y + ry0)
    return np.concatenate(xs), np.concatenate(ys)


def _row_strokes(mask: np.ndarray, dark: np.ndarray, on_path: np.ndarray,
                 line_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) stroke centres of the horizontal runs of ``mask`` (h, w) no wider than two strokes
    and a gap, not touching the window's sides (their outer edge is not a stroke's), that hold
    at least one pixel of ``on_path`` (h, w)."""
    rows, left, right, _, _ = column_runs(mask.T, dark.T)
    width = right - left + 1
    path_count = np.concatenate([np.zeros((mask.shape[0], 1)), np.cumsum(on_path, axis=1)], axis=1)
    touches = path_count[rows, right.astype(int) + 1] > path_count[rows, left.astype(int)]
    keep = (width <= 4 * line_px + 2) & (left >= 1) & (right <= mask.shape[1] - 2) & touches
    if not keep.any():
        return np.empty(0), np.empty(0)
    r, a, e = rows[keep], left[keep].astype(int), right[keep].astype(int)
    full = max(float(np.quantile(dark[r], 0.95)), 1e-6)
    lo, hi = _subpixel_ends(a, e, (dark[r, a - 1], dark[r, a], dark[r, e], dark[r, e + 1]), full)
    single = (width[keep] <= line_px + 2)
    stroke = float(np.quantile((hi - lo)[single], STROKE_QUANTILE)) if single.any() else line_px
    up, down = lo + 0.5 * stroke, hi - 0.5 * stroke
    two = down - up > MERGED_PX
    mid = 0.5 * (up + down)
    x, y = np.r_[np.where(two, up, mid), down[two]], np.r_[r, r[two]].astype(float)
    side = np.r_[np.where(two, -1, 0), np.ones(int(two.sum()), int)]
    return _along_stroke(x, y, side)


def _along_stroke(x: np.ndarray, y: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stroke points (x, y), each x averaged with the points of the same stroke in the
    ``STROKE_ROWS`` rows either side (within ``STROKE_DX_PX``, and not on the other ``side``,
    -1 left / +1 right stroke of a merged run, 0 alone): a straight stroke's centre moves little
    over a few rows, the pixel and JPEG noise of each row's edges does not. Points with fewer
    than ``STROKE_ROWS`` such neighbours are dropped: a grid line or a letter crossing the
    stroke widens a run or two, not a stroke's worth of rows."""
    near = (np.abs(y[:, None] - y[None, :]) <= STROKE_ROWS) & (np.abs(x[:, None] - x[None, :]) <= STROKE_DX_PX)
    near &= side[:, None] * side[None, :] >= 0
    weight = near * (STROKE_ROWS + 1.0 - np.abs(y[:, None] - y[None, :]))
    keep = near.sum(axis=1) > STROKE_ROWS
    return (weight @ x / weight.sum(axis=1))[keep], y[keep]


def _apex_x(weight: np.ndarray, c: np.ndarray, tip: np.ndarray, line_px: float) -> np.ndarray:
    """Sub-pixel x (px) of apexes whose ink ends in row ``tip`` of column ``c``: the
    darkness-weighted x centre, over five columns, of the line width of rows at the tip (the
    round end of the stroke pair). The column's centre can be half a pixel off the peak; on a
    20-30 px/px QRS stroke that is 10 px of height at the sample nearest the peak."""
    h, w = weight.shape
    reach = max(1, int(round(line_px)))
    out = c.astype(float)
    for i, (col, row) in enumerate(zip(c.tolist(), tip.astype(int).tolist())):
        r0, r1 = max(0, row - reach), min(h, row + reach + 1)
        c0, c1 = max(0, col - 2), min(w, col + 3)
        patch = weight[r0:r1, c0:c1].sum(axis=0)
        if patch.sum() > 0:
            out[i] = c0 + float(np.dot(patch, np.arange(c1 - c0)) / patch.sum())
    return out


def _subpixel_ends(first: np.ndarray, last: np.ndarray, darks: tuple[np.ndarray, ...],
                   full: float) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel ends (px) of runs from pixel ``first`` to ``last`` (inclusive): ``darks`` holds
    the darkness before the first pixel, of the first, of the last and after the last; the end
    pixel and its outer neighbour hold together the covered fraction (darkness over the ink's
    ``full`` darkness, at most two pixels) of the two pixels."""
    before, at_first, at_last, after = darks
    lo = first + 0.5 - np.minimum((before + at_first) / full, 2.0)
    hi = last - 0.5 + np.minimum((at_last + after) / full, 2.0)
    return lo, hi


def _run_edges(weight: np.ndarray, c: np.ndarray, t: np.ndarray, b: np.ndarray,
               line_px: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Sub-pixel top and bottom edges (px) of the chosen runs (columns ``c``, rows ``t``..``b``
    of ``weight`` (h, w)) and the line's vertical thickness measured the same way (the median
    of the thinnest third of the runs at most two lines tall).

    The mask's threshold cuts the faint anti-aliased ends, which read an apex up to a line width
    short (≈2 px on clean renders, ≈4 px on blurred JPEGs) when taken from the mask alone."""
    h = weight.shape[0]
    above, below = np.maximum(t.astype(int) - 1, 0), np.minimum(b.astype(int) + 1, h - 1)
    inked = weight[((t + b) // 2).astype(int), c]
    full = max(float(np.quantile(inked, 0.9)), 1e-6)
    darks = (weight[above, c], weight[t.astype(int), c], weight[b.astype(int), c], weight[below, c])
    top, bottom = _subpixel_ends(t, b, darks, full)
    thick = np.sort((bottom - top)[b - t + 1 <= 2 * line_px])
    return top, bottom, float(np.median(thick[: max(1, thick.size // 3)])) if thick.size else line_px


def _column_values(t: np.ndarray, b: np.ndarray, m: np.ndarray, line_px: float,
                   edges: tuple[np.ndarray, np.ndarray, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One y per column, the run's darkness centroid, except at an apex (a steep run reaching at
    least as far as both neighbours): its sub-pixel far edge (``edges``: top, bottom, line
    thickness) less half the line; and at a QRS corner (see ``_corner_values``). Also returns
    the apex and the corner flags."""
    top, bottom, thickness = edges
    half = 0.5 * thickness
    steep = b - t + 1 > 2.0 * line_px
    prev_t, next_t = np.r_[t[:1], t[:-1]], np.r_[t[1:], t[-1:]]
    prev_b, next_b = np.r_[b[:1], b[:-1]], np.r_[b[1:], b[-1:]]
    apex_up = steep & (t <= np.minimum(prev_t, next_t)) & (t < np.maximum(prev_t, next_t))
    apex_down = steep & (b >= np.maximum(prev_b, next_b)) & (b > np.minimum(prev_b, next_b)) & ~apex_up
    y = np.where(apex_up, top + half, np.where(apex_down, bottom - half, m))
    y, corner = _corner_values(y, t, b, steep, edges)
    return y, apex_up | apex_down, corner


def _corner_values(y: np.ndarray, t: np.ndarray, b: np.ndarray, steep: np.ndarray,
                   edges: tuple[np.ndarray, np.ndarray, float]) -> tuple[np.ndarray, np.ndarray]:
    """Column values ``y`` (n,) with each corner read at its run's end away from the stroke, less
    half the line (``edges``: sub-pixel top, bottom, line thickness, px), and the corner flags (n,).

    A corner is a column that is not ``steep`` (n,) and whose run (rows ``t``..``b``) is taller
    than the line, between exactly one steep column and a flat one (see ``CORNER_FLAT_PX``): there
    the flat line meets a QRS stroke, the column holds the line plus the stroke's foot, and its
    centroid moved towards the stroke, reading the QRS onset and offset ≈ 1 px (5 ms at 200 DPI)
    wide. The stroke goes up when the steep neighbour's run centre is above the corner's.
    """
    top, bottom, thickness = edges
    height = bottom - top
    prev_s, next_s = np.r_[False, steep[:-1]], np.r_[steep[1:], False]
    flat_height = np.where(next_s, np.r_[height[:1], height[:-1]], np.r_[height[1:], height[-1:]])
    corner = ~steep & (height > thickness) & (prev_s != next_s) & (flat_height <= thickness + CORNER_FLAT_PX)
    centre = 0.5 * (t + b)
    stroke = np.where(next_s, np.r_[centre[1:], centre[-1:]], np.r_[centre[:1], centre[:-1]])
    foot = np.where(stroke < centre, bottom - 0.5 * thickness, top + 0.5 * thickness)
    return np.where(corner, foot, y), corner


def _stroke_feet(c: np.ndarray, y: np.ndarray, steep: np.ndarray, strokes: tuple[np.ndarray, np.ndarray],
                 thickness: float) -> tuple[np.ndarray, np.ndarray]:
    """Points (x, y) px where a steep stroke leaves or joins a flat line (band coordinates).

    Between the last flat column ``c`` (n,) (value ``y`` (n,), not ``steep`` (n,)) and the
    stroke's first row point (``strokes``: x, y px of the row points), the rows hold the line's
    ink and the stroke's at once, so none gives a stroke point; interpolating straight across
    that gap cuts the corner and read a QRS onset early and its end late by about a pixel (5 ms
    at 200 DPI). The stroke's line, fitted through its row points nearest the flat level (within
    the line's ``thickness`` px and ``FOOT_REACH_PX`` of the flat column), meets that level at the
    foot (see ``FOOT_FLAT_COLS`` .. ``FOOT_BACK_PX`` for where, and where not).
    """
    sx, sy = strokes
    fx, fy = [], []
    idx = np.flatnonzero(steep)
    groups = np.split(idx, np.flatnonzero(np.diff(c[idx]) > 1) + 1) if idx.size and sx.size else []
    for end, sign in [(g[0], 1) for g in groups] + [(g[-1], -1) for g in groups]:
        line = end - sign * np.arange(1, FOOT_FLAT_COLS + 2)
        if not _flat_line(c, y, steep, end, line):
            continue
        x0, level = float(c[line[0]]), float(y[line[0]])
        ahead = (sx - x0) * sign
        near = np.flatnonzero((ahead > 0) & (ahead < thickness + FOOT_REACH_PX))
        near = near[np.argsort(np.abs(sy[near] - level))[:FOOT_ROWS]]
        side = np.sign(sy[near] - level)
        if near.size < 2 or np.ptp(sy[near]) == 0 or (side != side[0]).any():
            continue
        dx_dy, x_at_0 = np.polyfit(sy[near], sx[near], 1)
        foot = dx_dy * level + x_at_0 - sign * FOOT_BACK_PX
        first = sx[near].min() if sign > 0 else sx[near].max()
        if abs(dx_dy) <= FOOT_DXDY and 0 < (foot - x0) * sign < (first - x0) * sign:
            fx.append(foot)
            fy.append(level)
    return np.array(fx), np.array(fy)


def _flat_line(c: np.ndarray, y: np.ndarray, steep: np.ndarray, end: int, line: np.ndarray) -> bool:
    """True when the columns ``line`` (indices, from the one beside the steep column ``end``
    outwards) exist, are adjacent to each other and to ``end``, are not ``steep`` and step by at
    most ``FOOT_FLAT_PX`` between neighbours (``c``, ``y``, ``steep``: (n,) columns, values, flags)."""
    if line.min() < 0 or line.max() >= c.size or steep[line].any():
        return False
    adjacent = (np.abs(np.diff(c[np.r_[end, line]])) == 1).all()
    return bool(adjacent and (np.abs(np.diff(y[line])) <= FOOT_FLAT_PX).all())


def _pen_corrected(y: np.ndarray, centroid: np.ndarray, runs: tuple[np.ndarray, np.ndarray, np.ndarray],
                   path: tuple[np.ndarray, np.ndarray], jump_x: np.ndarray, thickness: float) -> np.ndarray:
    """Column values ``y`` (n,) with each ``centroid`` (n,) column's value moved by its own value
    less the darkness centroid that the path (``path``: x, y px of every path point) would give
    there, drawn with a round pen ``thickness`` px wide and read over the same rows as the
    column's run (``runs``: columns, first and last rows, (n,) each; one row beyond each end).
    The path is not drawn into a column of ``jump_x`` from the column before it: it reached
    that column across paper, where no ink joins the two.

    A column's run holds the line's ink from about a line width on either side, so its centroid
    is a blur of the curve: at a T wave's end (a curve meeting the baseline) it reads the wave
    ending late. What the path's own drawing shifts by, the trace was shifted by too.
    """
    c, t, b = runs
    out = y.copy()
    order = np.argsort(path[0], kind="stable")
    path_x, path_y = path[0][order], path[1][order]
    broken = np.isin(path_x[1:], jump_x) & np.isin(path_x[:-1], jump_x - 1)
    idx = np.flatnonzero(centroid)
    for tile in np.split(idx, np.flatnonzero(np.diff(c[idx] // PEN_TILE_PX)) + 1) if idx.size else []:
        lo, hi = np.searchsorted(path_x, [c[tile[0]] - thickness - 1, c[tile[-1]] + thickness + 1])
        lo, hi = max(0, lo - 1), min(path_x.size, hi + 1)
        model = _pen_centroids((path_x[lo:hi], path_y[lo:hi], broken[lo:hi - 1]),
                               (c[tile], t[tile] - 1, b[tile] + 1), thickness)
        out[tile] = np.where(np.isfinite(model), 2.0 * y[tile] - model, y[tile])
    return out


def _pen_centroids(line: tuple[np.ndarray, np.ndarray, np.ndarray],
                   runs: tuple[np.ndarray, np.ndarray, np.ndarray], thickness: float) -> np.ndarray:
    """(k,) darkness centroid (px) of the polyline ``line`` (x, y px of its m points, sorted by
    x, and (m - 1,) True for each segment left out) drawn with a round pen ``thickness`` px wide,
    in each column of ``runs`` (columns, first and last rows, (k,) each) over those rows; NaN
    where the drawing leaves them blank.

    A pixel's darkness is its centre's distance to the polyline less half the pen, clipped to a
    one-pixel ramp (the usual anti-aliasing estimate of the covered area): exact, where a raster
    pen (OpenCV's) moves the line by up to half a pixel of its own grid.
    """
    x, y, broken = line
    cols, first, last = runs
    half = 0.5 * thickness
    n_rows = int((last - first).max()) + 1
    rows = first[:, None] + np.arange(n_rows)[None, :]                                      # (k, R)
    lo = np.maximum(np.searchsorted(x, cols - half - 1.0) - 1, 0)
    hi = np.minimum(np.searchsorted(x, cols + half + 1.0) + 1, x.size)
    seg = lo[:, None] + np.arange(max(1, int((hi - lo).max())))[None, :]                    # (k, K)
    valid = seg < np.minimum(hi, x.size - 1)[:, None]
    seg = np.minimum(seg, x.size - 2)
    if broken.size:
        valid &= ~broken[seg]
    ax, ay = x[seg], y[seg]
    dx, dy = x[seg + 1] - ax, y[seg + 1] - ay
    px, py = (cols[:, None] - ax)[:, None, :], rows[:, :, None] - ay[:, None, :]          # (k, R, K)
    along = np.clip((px * dx[:, None, :] + py * dy[:, None, :]) / np.maximum(dx * dx + dy * dy, 1e-12)[:, None, :],
                    0.0, 1.0)
    dist = np.hypot(px - along * dx[:, None, :], py - along * dy[:, None, :])
    dist = np.where(valid[:, None, :], dist, np.inf).min(axis=2)                             # (k, R)
    ink = np.clip(half + 0.5 - dist, 0.0, 1.0) * (rows <= last[:, None])
    mass = ink.sum(axis=1)
    return np.where(mass > 0, (ink * rows).sum(axis=1) / np.where(mass > 0, mass, 1.0), np.nan)


def off_trace(trace: RowTrace, x_px: np.ndarray) -> np.ndarray:
    """(n,) True where ``x_px`` (n,) lies inside one of the trace's ``off_trace_x_px`` intervals."""
    off = trace.off_trace_x_px
    x = np.asarray(x_px, float)[:, None]
    return ((x > off[None, :, 0]) & (x < off[None, :, 1])).any(axis=1)


def first_return_px(trace: RowTrace, x0_px: float, x1_px: float) -> float | None:
    """x (px) of the first column in [``x0_px``, ``x1_px``) that the path reached by a jump across
    paper, not counting the jumps of an excursion (``off_trace_x_px``); None when there is none.

    At a panel's start the path has no continuity to hold it: it may begin on the printed lead
    label or the separator and reach the panel's own trace only by such a jump.
    """
    x = trace.x_px
    off = trace.off_trace_x_px
    in_excursion = ((x[:, None] > off[None, :, 0]) & (x[:, None] <= off[None, :, 1])).any(axis=1)
    idx = np.flatnonzero(trace.jump & ~in_excursion & (x >= x0_px) & (x < x1_px))
    return float(x[idx[0]]) if idx.size else None


def needle_columns(trace: RowTrace, px_per_mm_x: float, px_per_mm_y: float) -> np.ndarray:
    """(n,) bool over the trace's columns: True at the first column of each needle, a group of
    consecutive columns whose chosen runs are all at least ``NEEDLE_MM`` tall, which spans at
    most ``NEEDLE_WIDTH_MM`` (at least one column) and whose neighbouring columns on both sides
    hold runs shorter than ``NEEDLE_FOOT_MM`` (a group at either end of the row never counts).

    Parameters
    ----------
    trace : a traced row.
    px_per_mm_x, px_per_mm_y : horizontal and vertical scales, px/mm.
    """
    height = trace.bottom_px - trace.top_px + 1
    out = np.zeros(height.shape, bool)
    idx = np.flatnonzero(height >= NEEDLE_MM * px_per_mm_y)
    if idx.size == 0:
        return out
    groups = np.split(idx, np.flatnonzero(np.diff(trace.x_px[idx]) > 1) + 1)
    widest = max(1.0, NEEDLE_WIDTH_MM * px_per_mm_x)
    foot = NEEDLE_FOOT_MM * px_per_mm_y
    for g in groups:
        before, after = g[0] - 1, g[-1] + 1
        if before < 0 or after >= height.size:
            continue
        out[g[0]] = bool(trace.x_px[g[-1]] - trace.x_px[g[0]] + 1 <= widest
                         and height[before] < foot and height[after] < foot)
    return out


def _narrow_spikes(px: np.ndarray, py: np.ndarray, weight: np.ndarray, runs: tuple[np.ndarray, ...],
                   steep: np.ndarray, edges: tuple[np.ndarray, np.ndarray, float],
                   line_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Path points (px, py) with each spike no wider than the line (steep columns spanning at most
    a line width and 2 px, flat columns on both sides) replaced by three points: its base level
    just before, its apex at its darkness-weighted centre, its base level just after; and the
    spikes' centres (px).

    Its up and down strokes overlap over their whole height, so row-wise stroke points and run
    centroids all fall on the same few columns and their interpolation spreads a one-sample spike
    (LUDB's pacing artefacts) over several samples at half its height."""
    c, t, b, y = runs
    top, bottom, thickness = edges
    idx = np.flatnonzero(steep)
    if idx.size == 0:
        return px, py, np.empty(0)
    drop = np.zeros(px.size, bool)
    add_x, add_y = [], []
    for g in np.split(idx, np.flatnonzero(np.diff(c[idx]) > 1) + 1):
        before, after = g[0] - 1, g[-1] + 1
        width = c[g[-1]] - c[g[0]] + 1
        if not _lone_spike(c, y, steep, before, after, width, line_px):
            continue
        base = 0.5 * (y[before] + y[after])
        up = base - t[g].min() > b[g].max() - base
        tip = top[g].min() + 0.5 * thickness if up else bottom[g].max() - 0.5 * thickness
        patch = weight[int(t[g].min()):int(b[g].max()) + 1, c[g[0]]:c[g[-1]] + 1].sum(axis=0)
        centre = c[g[0]] + float(np.dot(patch, np.arange(width)) / max(patch.sum(), 1e-9))
        half = 0.5 * max(0.5, width - line_px)
        drop |= (px > c[g[0]] - 0.5) & (px < c[g[-1]] + 0.5)
        add_x += [centre - half, centre, centre + half]
        add_y += [base, tip, base]
    if not add_x:
        return px, py, np.empty(0)
    return np.r_[px[~drop], add_x], np.r_[py[~drop], add_y], np.array(add_x[1::3])


def _lone_spike(c: np.ndarray, y: np.ndarray, steep: np.ndarray, before: int, after: int, width: int,
                line_px: float) -> bool:
    """True when the steep columns between indices ``before`` and ``after`` (``width`` columns) are
    no wider than the line and 2 px and stand between adjacent flat columns at one level (within
    a line width): a spike that leaves the baseline and comes back to it, not a QRS, whose sides
    differ in level."""
    if before < 0 or after >= c.size or width > line_px + 2 or steep[before] or steep[after]:
        return False
    adjacent = c[before] == c[before + 1] - 1 and c[after] == c[after - 1] + 1
    return bool(adjacent and abs(y[before] - y[after]) <= line_px)
