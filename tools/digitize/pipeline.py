"""``digitize``: image in, calibrated 12-lead recording out, stage by stage.

load -> ink/grid darkness -> deskew (grid line families) -> grid pitch -> ink mask without grid
lines -> rows -> tracing -> calibration pulse -> calibration -> layout -> printed column separators ->
per-lead windows.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from tools.digitize.assembly import column_seconds, row_signal_mv
from tools.digitize.calibration import Pulse, calibrate, find_pulse
from tools.digitize.config import DigitizeConfig
from tools.digitize.grid import estimate_keystone, estimate_pitch, estimate_tilt_deg
from tools.digitize.ink import (grid_darkness, grid_line_positions, ink_threshold, paper_noise,
                                remove_grid_lines, trace_darkness)
from tools.digitize.layout import (RHYTHM_DEFAULTS, ROWS_3X4, RowPlan, check_row_spacing, plan_rows,
                                   rhythm_identity, select_rows)
from tools.digitize.page_image import ImageSource, load_page_image
from tools.digitize.result import Calibration, Digitization, LeadBox, Layout
from tools.digitize.rows import TraceRow, find_rows
from tools.digitize.separators import separator_offsets_px
from tools.digitize.tracing import (MAX_EXCURSION_MM, NEEDLE_MM, RowTrace, first_return_px, needle_columns,
                                    off_trace, trace_row)
from tools.errors import DigitizationError
from tools.recording import LEADS, Recording

__all__ = ["digitize"]

# Ink: at least this dark relative to the paper in every channel.
INK_THRESHOLD = 0.4
MAX_INK_THRESHOLD = 0.72
# Fewer confident leads than this means the layout itself was misread: refuse the page.
MIN_LEADS = 3
# A lead whose path jumps between separate ink in more columns than this is not trusted
# (real traces: under 0.3 %; grid lines or text taken for a trace: 2-15 %). A gap bridged by
# faint ink is a steep stroke, not a jump (tracing.FAINT_INK; phone photos at 3-5 px/mm).
MAX_JUMP_FRACTION = 0.01
# A lead whose path runs up and down more needles (see tracing.needle_columns) than this per
# second of its window followed grid lines or creases (the dark-grid photo ecg00005: 0.75-2.75
# per s in 11 of 12 leads; eik, rendered LVH pages and the other real images: at most 0.4).
MAX_NEEDLES_PER_S = 0.5
# Fraction of band power a line family must gather to count as found.
MIN_TILT_SHARPNESS = 0.2
# Grid scales on x and y must agree this well to trust the grid.
GRID_XY_TOLERANCE = 0.03
# Beyond this the two pitches are not the same grid (a photo's keystone stays below it).
GRID_XY_MAX_MISMATCH = 0.15
MIN_GRID_EVIDENCE = 0.004
# Samples next to a column border are left NaN: separator marks and the pulse's falling edge
# overprint the trace there (costs 1.6 % coverage, saves the worst errors of the page). On eik
# pages the error is 100-1000x the page's mean within 8 samples (16 ms) of a border, normal beyond.
SEPARATOR_GUARD_S = 0.02
SPECK_MM = 1.0
# On a dark grid, a straight ink run this long along a grid line is grid (a pulse edge is 10 mm
# at 10 mm/mV and a separator mark 7 mm; 20 mm/mV pulses sit on no particular line).
GRID_RUN_MM = 12.0
EDGE_MM = 1.5
# Straight ink lines longer than this (mm) are grid or frame, not trace. Vertically a QRS stroke
# can be straight over 50 mm (a 5 mV LVH swing at 10 mm/mV, 2.5 mV at 20 mm/mV).
GRID_LINE_MIN_MM = 40.0
VERTICAL_LINE_MIN_MM = 80.0


def _deskew(grid: np.ndarray, config: DigitizeConfig) -> tuple[float, float]:
    """Tilts (deg) of the vertical and of the horizontal grid lines (x grows with y, and y with x,
    for positive tilts); a family not found borrows the other's (a pure rotation), none gives 0."""
    step = 2 if max(grid.shape) > 1500 else 1
    small = grid[::step, ::step]
    tilt_v, sharp_v = estimate_tilt_deg(small, config.max_rotation_deg)
    tilt_h, sharp_h = estimate_tilt_deg(small.T, config.max_rotation_deg)
    if max(sharp_v, sharp_h) < MIN_TILT_SHARPNESS:
        return 0.0, 0.0
    if sharp_v < MIN_TILT_SHARPNESS:
        return -tilt_h, tilt_h
    if sharp_h < MIN_TILT_SHARPNESS:
        return tilt_v, -tilt_v
    return tilt_v, tilt_h


def _straighten(shape: tuple[int, ...], tilt_v_deg: float, tilt_h_deg: float) -> np.ndarray:
    """(3, 3) shear about the image centre that makes both line families axis-aligned (a rotation
    when they are perpendicular); identity below 0.02 deg, where resampling would blur more than
    the tilt moves (0.4 px over 1100 px)."""
    if max(abs(tilt_v_deg), abs(tilt_h_deg)) < 0.02:
        return np.eye(3)
    cy, cx = shape[0] / 2, shape[1] / 2
    sv, sh = np.tan(np.radians(tilt_v_deg)), np.tan(np.radians(tilt_h_deg))
    return np.array([[1.0, -sv, sv * cy], [-sh, 1.0, sh * cx], [0.0, 0.0, 1.0]])


def _keystone(grid: np.ndarray, config: DigitizeConfig) -> tuple[np.ndarray, list[str]]:
    """(3, 3) homography removing a photographed page's keystone (identity when none), warnings."""
    step = 2 if max(grid.shape) > 1500 else 1
    homography, convergence = estimate_keystone(grid[::step, ::step], config.max_rotation_deg)
    if np.allclose(homography, np.eye(3)):
        return homography, []
    scale = np.diag([step, step, 1.0])
    return (scale @ homography @ np.linalg.inv(scale),
            [f"perspective corrected: grid lines converged by {convergence:.2f} deg"])


def _warp(image: np.ndarray, homography: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``image`` resampled through ``homography`` (bilinear unless told otherwise). The trace's
    darkness is resampled with Lanczos: bilinear blurs a rotated page's strokes by about a pixel,
    which the sub-pixel stroke edges feel (eik augmented, even half: 16.6 dB bilinear, 17.1 bicubic,
    17.1 Lanczos; our 3-degree renders: 28.6, 26.5 (bicubic overshoot), 28.7)."""
    if np.allclose(homography, np.eye(3), atol=1e-6):
        return image
    height, width = image.shape[:2]
    return cv2.warpPerspective(image, homography, (width, height), flags=interpolation,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _grid_scale(grid: np.ndarray) -> tuple[float | None, float | None, list[str], tuple[float, ...]]:
    """Grid scale px/mm on x and y (None, None when no consistent grid), warnings, and the raw
    pitches when they disagree (for the calibration pulse to arbitrate)."""
    cap = float(np.quantile(grid[::4, ::4], 0.97))
    clipped = np.minimum(grid, cap)
    height, width = grid.shape
    pitch_x = estimate_pitch(clipped.mean(axis=0), width)
    pitch_y = estimate_pitch(clipped.mean(axis=1), height)
    x, y = pitch_x.minor_px, pitch_y.minor_px
    # A page is at least 80 mm wide: a longer "1-mm" pitch is the 5-mm grid seen alone.
    x, y = (x / 5 if width / x < 80 else x), (y / 5 if width / y < 80 else y)
    if not (np.isfinite(x) and np.isfinite(y)) or min(pitch_x.evidence, pitch_y.evidence) < MIN_GRID_EVIDENCE:
        return None, None, [], ()
    for a, b in ((x, y), (y, x)):  # one axis saw only 5-mm lines
        for factor in (5.0, 0.2):
            if abs(a * factor / b - 1) <= GRID_XY_TOLERANCE and not (pitch_x.major_seen and pitch_y.major_seen):
                if (a is x and not pitch_x.major_seen) or (a is y and not pitch_y.major_seen):
                    x, y = (a * factor, b) if a is x else (b, a * factor)
    if abs(x / y - 1) > GRID_XY_MAX_MISMATCH:
        return None, None, [f"grid pitches disagree (x {x:.3f} px, y {y:.3f} px)"], (x, y)
    if abs(x / y - 1) > GRID_XY_TOLERANCE:
        return x, y, [f"grid pitches differ by {abs(x / y - 1):.0%} (x {x:.2f} px/mm, y {y:.2f} px/mm): "
                      "perspective or a stretched image; each axis keeps its own scale"], ()
    return x, y, [], ()


def _ink_mask(trace: np.ndarray, grid: np.ndarray, mm_x: float | None, mm_y: float | None,
              px_per_mm: float) -> np.ndarray:
    """Ink pixels without grid lines, long straight lines (frame) and specks."""
    mask = trace > INK_THRESHOLD
    if mm_x is not None and mm_y is not None:
        # Dark grids (black-and-white prints, dark-coloured grids) pass the base threshold:
        # raise it above the grid's darkness, then clear the dark lines that still pass.
        xs = grid_line_positions(grid.mean(axis=0), mm_x)
        ys = grid_line_positions(grid.mean(axis=1), mm_y)
        strong = trace > ink_threshold(trace, xs, INK_THRESHOLD, MAX_INK_THRESHOLD)
        mask = remove_grid_lines(strong, xs, ys, int(GRID_RUN_MM * px_per_mm))
    mask = mask.astype(np.uint8)
    length = max(15, int(GRID_LINE_MIN_MM * px_per_mm))
    height = max(15, int(VERTICAL_LINE_MIN_MM * px_per_mm))
    horizontal = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
    vertical = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, height)))
    mask = mask & ~(horizontal | vertical)
    # Scan borders and page frames hug the image edge; no trace is read there.
    edge = max(2, int(EDGE_MM * px_per_mm))
    mask[:edge], mask[-edge:], mask[:, :edge], mask[:, -edge:] = 0, 0, 0, 0
    # Specks (noise, leftovers of grid crossings) are smaller than 1 mm; a trace segment is not.
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    size = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    keep = size >= max(3.0, SPECK_MM * px_per_mm)
    keep[0] = False
    return keep[labels]


def _line_width_px(mask: np.ndarray, rows: list[TraceRow], px_per_mm: float) -> float:
    """Trace line width, px: the median vertical run length within 2 mm of the rows' baselines
    (where the trace is mostly flat; grid remnants elsewhere do not count)."""
    reach = max(2, int(2 * px_per_mm))
    lengths = []
    for row in rows:
        y = int(row.baseline_px)
        band = mask[max(0, y - reach):y + reach + 1, row.span[0]:row.span[1]]
        padded = np.pad(band.T.astype(np.int8), ((0, 0), (1, 1)))
        edges = np.diff(padded, axis=1)
        lengths.append(np.nonzero(edges == -1)[1] - np.nonzero(edges == 1)[1])
    lengths = np.concatenate(lengths) if lengths else np.empty(0)
    return float(np.median(lengths)) if lengths.size else 1.0


def _trace_rows(mask: np.ndarray, weight: np.ndarray, rows: list[TraceRow], line_px: float,
                px_per_mm: float) -> list[RowTrace]:
    traces = []
    for row in rows:
        trace = trace_row(mask, weight, row.band, row.reach, row.span, row.baseline_px, line_px, px_per_mm)
        if trace is None:
            raise DigitizationError("a row of ink was found but could not be traced")
        traces.append(trace)
    return traces


def digitize(image: ImageSource, config: DigitizeConfig) -> Digitization:
    """Read a paper ECG image into a calibrated 12-lead recording.

    Parameters
    ----------
    image : path, file bytes or (H, W[, 3|4]) array; PNG, JPEG, BMP, TIFF or the first page of a PDF.
    config : see DigitizeConfig (output rate ``fs_hz``, pixel limits, assumed speed and gain).

    Returns
    -------
    Digitization: recording (12 leads, mV, NaN where not printed), calibration, layout,
    rotation, per-lead confidence, warnings and the traced pixel paths.

    Raises
    ------
    InputError
        Unreadable, truncated, non-image, too small or too large input.
    DigitizationError
        A readable image with no ECG trace (blank, all dark, no rows of trace).
    """
    rgb = load_page_image(image, config)
    height, width = rgb.shape[:2]
    background_px = max(7, min(height, width) // 100)
    grid = grid_darkness(rgb, background_px)
    ink = trace_darkness(rgb, background_px)
    noise = paper_noise(ink)
    if float(np.mean(ink > INK_THRESHOLD)) > 0.35:
        raise DigitizationError("image is mostly dark: no paper background to read an ECG from")
    keystone, warnings = _keystone(grid, config)
    grid = _warp(grid, keystone)
    tilt_v, tilt_h = _deskew(grid, config)
    angle_deg = 0.5 * (tilt_v - tilt_h)
    straighten = _straighten(grid.shape, tilt_v, tilt_h)
    matrix = straighten @ keystone
    # Clipped: Lanczos rings a little below paper and above full ink next to sharp strokes.
    grid, ink = _warp(grid, straighten), np.clip(_warp(ink, matrix, cv2.INTER_LANCZOS4), 0.0, 1.0)
    mm_x, mm_y, grid_warnings, candidates = _grid_scale(grid)
    warnings += grid_warnings
    scale_guess = mm_y if mm_y else width / 279.4
    mask = _ink_mask(ink, grid, mm_x, mm_y, scale_guess)
    rows = find_rows(mask, scale_guess)
    if not rows:
        raise DigitizationError("no row of ECG trace found in the image")
    first, stop = select_rows([row.baseline_px for row in rows])
    rows = rows[first:stop]
    line_px = _line_width_px(mask, rows, scale_guess)
    traces = _trace_rows(mask, ink, rows, line_px, scale_guess)
    pulses = [find_pulse(mask, ink, row.baseline_px, row.span[0], scale_guess, line_px) for row in rows]
    calibration, cal_warnings = calibrate(mm_x, mm_y, [p for p in pulses if p], width, config, candidates)
    warnings += cal_warnings
    return _assemble(rows, traces, pulses, calibration, matrix, angle_deg, noise, ink > INK_THRESHOLD, warnings,
                     config)


def _row_signals(rows: list[TraceRow], traces: list[RowTrace], pulses: list[Pulse | None], starts: list[float],
                 calibration: Calibration, n_samples: int, fs_hz: float,
                 noise: float) -> tuple[list[np.ndarray], list[float]]:
    signals, durations = [], []
    for row, trace, pulse, start in zip(rows, traces, pulses, starts):
        zero = pulse.foot_y_px if pulse else float(np.median(trace.y_px))
        signals.append(row_signal_mv(trace, start, zero, calibration, n_samples, fs_hz, noise))
        durations.append((float(trace.x_px[-1]) - start) / calibration.px_per_s)
    return signals, durations


def _six_rows_have_rhythm(signals: list[np.ndarray], fs_hz: float, column_s: float) -> bool:
    """True when rows 4-6 repeat leads of a 3x4 block above (3x4 + 3), False for 6x2."""
    n = int(round(column_s * fs_hz))
    shorts = {}
    for r, names in enumerate(ROWS_3X4):
        for k, name in enumerate(names):
            s = np.full_like(signals[r], np.nan)
            s[k * n:(k + 1) * n] = signals[r][k * n:(k + 1) * n]
            shorts[name] = s
    return sum(rhythm_identity(signals[r], shorts, RHYTHM_DEFAULTS)[0] is not None for r in (3, 4, 5)) >= 2


def _row_starts(traces: list[RowTrace], pulses: list[Pulse | None], px_per_mm: float) -> list[float]:
    """Column of t = 0 per row: where the signal starts after the pulse. Every supported layout
    starts all rows at the same column, so the rows' pulse estimates agreeing within 1 mm are
    replaced by their median (one pixel-rounded edge per row is noisier than their consensus);
    a row whose pulse was missed shares it; with no pulse at all, the row's first ink."""
    ends = np.array([p.end_x_px for p in pulses if p])
    if ends.size == 0:
        return [float(t.x_px[0]) for t in traces]
    shared = float(np.median(ends))
    return [shared if p is None or abs(p.end_x_px - shared) <= px_per_mm else p.end_x_px for p in pulses]


def _snap_duration_s(duration_s: float) -> float:
    snapped = round(duration_s * 2) / 2
    return snapped if abs(snapped - duration_s) <= 0.15 else duration_s


def _column_shifts_s(plans: list[RowPlan], rows: list[TraceRow], traces: list[RowTrace], starts: list[float],
                     durations: list[float], dark: np.ndarray, calibration: Calibration,
                     warnings: list[str]) -> dict[int, tuple[float, ...]]:
    """Per column count of the page's short-lead rows, each column's start (s) relative to where
    the time scale puts it: the printed separator's offset where one was found, else 0."""
    shifts = {}
    for n in sorted({len(plan.leads) for plan in plans if not plan.rhythm and len(plan.leads) > 1}):
        idx = [r for r, plan in enumerate(plans) if not plan.rhythm and len(plan.leads) == n]
        column_s = column_seconds(max(durations), n)
        bounds = [[starts[r] + k * column_s * calibration.px_per_s for k in range(1, n)] for r in idx]
        offsets = separator_offsets_px(dark, rows, traces, idx, bounds,
                                       calibration.px_per_mm_x, calibration.px_per_mm_y, calibration.px_per_s)
        shifts[n] = (0.0,) + tuple(0.0 if o is None else o / calibration.px_per_s for o in offsets)
        found = [f"{s:+.2f}" for o, s in zip(offsets, shifts[n][1:]) if o is not None]
        if found:
            warnings.append(f"columns cut at the printed separators ({len(found)} of {n - 1} boundaries found), "
                            f"{', '.join(found)} s from where the time scale puts them")
    return shifts


class _Window(NamedTuple):
    """One printed lead: its row, time window (s) in the output, signal (NaN outside the window),
    the column (px) of its t = 0 on the deskewed page, and how its name was found."""

    name: str
    row: int
    start_s: float
    end_s: float
    signal: np.ndarray
    rhythm: bool
    origin_px: float
    identity: str = "layout"

    def x_px(self, t_s: float, px_per_s: float) -> float:
        """The page column (px) of time ``t_s`` of this lead."""
        return self.origin_px + t_s * px_per_s


def _lead_windows(plans: list[RowPlan], signals: list[np.ndarray], durations: list[float],
                  starts: list[float], shifts_s: dict[int, tuple[float, ...]], px_per_s: float,
                  fs_hz: float) -> list[_Window]:
    """A window for every printed lead: column k of a row holds the row's trace from its printed
    separator (``shifts_s``) on, placed at k column lengths and cut at the next separator."""
    out = []
    guard = int(round(SEPARATOR_GUARD_S * fs_hz))
    for r, plan in enumerate(plans):
        if plan.rhythm:
            strip = signals[r].copy()
            strip[:guard] = np.nan
            out.append(_Window(plan.leads[0], r, 0.0, durations[r], strip, True, starts[r]))
            continue
        # Every row of a page spans the same printed time; the longest row measures it best.
        column_s = column_seconds(max(durations), len(plan.leads))
        shift_n = [int(round(s * fs_hz)) for s in shifts_s.get(len(plan.leads), (0.0,))] + [0]
        for k, name in enumerate(plan.leads):
            lo, hi = int(round(k * column_s * fs_hz)), int(round((k + 1) * column_s * fs_hz))
            hi += min(0, shift_n[k + 1] - shift_n[k]) if k + 1 < len(plan.leads) else 0
            # Column separators (and the pulse's falling edge) overprint the trace at the borders.
            target = np.arange(max(0, lo + guard), max(0, hi - guard))
            source = target + shift_n[k]
            ok = (source >= 0) & (source < signals[r].size) & (target < signals[r].size)
            windowed = np.full_like(signals[r], np.nan)
            windowed[target[ok]] = signals[r][source[ok]]
            origin_px = starts[r] + shift_n[k] / fs_hz * px_per_s
            out.append(_Window(name, r, k * column_s, (k + 1) * column_s, windowed, False, origin_px))
    return out


def _name_rhythm_strips(windows: list[_Window], warnings: list[str]) -> list[_Window]:
    """Windows with each rhythm strip named (the layout's default leads preferred, each used once)
    and how its identity was found."""
    shorts = {w.name: w.signal for w in windows if not w.rhythm}
    defaults = [w.name for w in windows if w.rhythm]
    named = []
    for w in windows:
        name, r, identity = w.name, w.row, "layout"
        if w.rhythm:
            found, corr = rhythm_identity(w.signal, shorts, tuple(defaults))
            if found is None:
                identity = "layout-default"
                name = name if name in defaults else defaults[0]
                warnings.append(f"rhythm strip in row {r + 1} matches no single short lead clearly (best "
                                f"r={corr:.2f}); assumed to be the layout's lead {name}")
            else:
                if found not in defaults:
                    warnings.append(f"rhythm strip in row {r + 1} matches lead {found} (r={corr:.2f}) clearly "
                                    f"better than the layout's leads {', '.join(defaults)}; named {found}")
                name, identity = found, "rhythm-correlation"
            if name in defaults:
                defaults.remove(name)
        named.append(w._replace(name=name, identity=identity))
    return named


def _lead_confidence(w: _Window, traces: list[RowTrace], calibration: Calibration,
                     n_samples: int, fs_hz: float, warnings: list[str]) -> float:
    """0-1: the fraction of the lead's window traced, 0 when the path jumps between separate ink
    in more than MAX_JUMP_FRACTION of its columns (grid lines, text or a neighbour taken for it)
    or runs up and down more than MAX_NEEDLES_PER_S needles per second (grid lines, creases)."""
    lead, r, a, b = w.name, w.row, w.start_s, w.end_s
    lo, hi = int(round(a * fs_hz)), min(n_samples, int(round(b * fs_hz)))
    coverage = float(np.isfinite(w.signal[lo:hi]).mean()) if hi > lo else 0.0
    x0, x1 = w.x_px(a, calibration.px_per_s), w.x_px(b, calibration.px_per_s)
    inside = (traces[r].x_px >= x0) & (traces[r].x_px < x1)
    jumps = float(traces[r].jump[inside].mean()) if inside.any() else 0.0
    if jumps > MAX_JUMP_FRACTION:
        warnings.append(f"lead {lead}: the path jumps between separate ink in {jumps:.0%} of its columns")
        return 0.0
    needles = int(needle_columns(traces[r], calibration.px_per_mm_x, calibration.px_per_mm_y)[inside].sum())
    if needles > MAX_NEEDLES_PER_S * (b - a):
        warnings.append(f"lead {lead}: the path runs up and down {needles} narrow vertical lines of at least "
                        f"{NEEDLE_MM:g} mm in {b - a:.1f} s (grid lines or creases taken for the trace)")
        return 0.0
    return round(coverage, 3)


def _panel_return_px(w: _Window, traces: list[RowTrace], calibration: Calibration) -> float | None:
    """x (px) where the lead's path first reached its trace by a jump across paper within
    ``MAX_EXCURSION_MM`` of its window's start (before it, the path read a label or the
    separator: rendered 3x4 pages with a QRS at a panel's start); None when it did not."""
    x0 = w.x_px(w.start_s, calibration.px_per_s)
    return first_return_px(traces[w.row], x0, x0 + MAX_EXCURSION_MM * calibration.px_per_mm_x)


def _blank_panel_start(w: _Window, back_px: float | None, calibration: Calibration,
                       fs_hz: float, warnings: list[str]) -> np.ndarray:
    """The lead's windowed signal, NaN from its window's start up to ``back_px``, where its path
    reached the trace (``_panel_return_px``), with a warning."""
    lead, a = w.name, w.start_s
    t_back = a if back_px is None else (back_px - w.origin_px) / calibration.px_per_s
    if t_back - a <= SEPARATOR_GUARD_S:  # none, or within the guard that is NaN already
        return w.signal
    blanked = w.signal.copy()
    blanked[int(round(a * fs_hz)):int(np.ceil(t_back * fs_hz))] = np.nan
    warnings.append(f"lead {lead}: the path reached its trace across paper only {1000 * (t_back - a):.0f} ms into "
                    f"its window (at {t_back:.2f} s; before it, other ink such as the printed label); left NaN before")
    return blanked


def _excursion_warnings(w: _Window, traces: list[RowTrace], calibration: Calibration) -> list[str]:
    """One warning per stretch of the lead's window where its path left the trace for other ink
    across paper and came back (``RowTrace.off_trace_x_px``; those samples are NaN)."""
    t = (traces[w.row].off_trace_x_px - w.origin_px) / calibration.px_per_s
    inside = t[(t[:, 0] >= w.start_s) & (t[:, 0] < w.end_s)]
    return [f"lead {w.name}: the path left its trace across paper at {t0:.2f}-{t1:.2f} s (other ink, e.g. a "
            "neighbouring row's wave or a label); left NaN there" for t0, t1 in inside.tolist()]


def _box_and_path(w: _Window, back_px: float | None, rows: list[TraceRow], traces: list[RowTrace],
                  calibration: Calibration, inverse: np.ndarray, in_recording: bool) -> tuple[LeadBox, np.ndarray]:
    """The lead's box in the deskewed page and its traced path mapped back to the input image
    (without the columns where the path read other ink: excursions, a panel's start before the
    path reached its trace, ``back_px``)."""
    r = w.row
    x0, x1 = w.x_px(w.start_s, calibration.px_per_s), w.x_px(w.end_s, calibration.px_per_s)
    box = LeadBox(name=w.name, box_px=(int(x0), rows[r].band[0], int(np.ceil(x1)), rows[r].band[1]),
                  start_s=round(w.start_s, 4), end_s=round(w.end_s, 4), identity=w.identity, rhythm=w.rhythm,
                  in_recording=in_recording)
    keep = (traces[r].x_px >= x0) & (traces[r].x_px < x1)
    keep &= traces[r].x_px >= (x0 if back_px is None else back_px)
    keep &= ~off_trace(traces[r], traces[r].x_px)
    xy = np.c_[traces[r].x_px[keep], traces[r].y_px[keep], np.ones(int(keep.sum()))]
    mapped = xy @ inverse.T
    return box, mapped[:, :2] / mapped[:, 2:3]


def _assemble(rows: list[TraceRow], traces: list[RowTrace], pulses: list[Pulse | None], calibration: Calibration,
              matrix: np.ndarray, angle_deg: float, noise: float, dark: np.ndarray, warnings: list[str],
              config: DigitizeConfig) -> Digitization:
    fs = config.fs_hz
    starts = _row_starts(traces, pulses, calibration.px_per_mm_x)
    longest_s = max((float(t.x_px[-1]) - s) / calibration.px_per_s for t, s in zip(traces, starts))
    n_samples = max(1, int(round(_snap_duration_s(longest_s) * fs)))
    signals, durations = _row_signals(rows, traces, pulses, starts, calibration, n_samples, fs, noise)
    six_rhythm = len(rows) == 6 and _six_rows_have_rhythm(signals, fs, column_seconds(max(durations), 4))
    name, plans = plan_rows(len(rows), six_rhythm)
    check_row_spacing([row.baseline_px for row in rows], sum(not plan.rhythm for plan in plans))
    shifts_s = _column_shifts_s(plans, rows, traces, starts, durations, dark, calibration, warnings)
    windows = _name_rhythm_strips(_lead_windows(plans, signals, durations, starts, shifts_s, calibration.px_per_s, fs),
                                  warnings)
    chosen: dict[str, int] = {}
    for i, w in enumerate(windows):  # a rhythm strip (longer) wins over the short lead of the same name
        if w.name not in chosen or (w.rhythm and not windows[chosen[w.name]].rhythm):
            chosen[w.name] = i
    backs = [_panel_return_px(w, traces, calibration) for w in windows]
    inverse = np.linalg.inv(matrix)
    columns, confidence = [], {}
    for lead in LEADS:
        signal, confidence[lead] = np.full(n_samples, np.nan), 0.0
        if lead in chosen:
            w = windows[chosen[lead]]
            confidence[lead] = _lead_confidence(w, traces, calibration, n_samples, fs, warnings)
            if confidence[lead] >= config.min_lead_confidence:
                signal = _blank_panel_start(w, backs[chosen[lead]], calibration, fs, warnings)
                warnings += _excursion_warnings(w, traces, calibration)
            else:
                warnings.append(f"lead {lead}: confidence {confidence[lead]:.2f} below "
                                f"min_lead_confidence={config.min_lead_confidence:g}; left as NaN")
        columns.append(signal)
    boxes, paths = [], {}
    for i, w in enumerate(windows):
        in_recording = chosen[w.name] == i
        box, path = _box_and_path(w, backs[i], rows, traces, calibration, inverse, in_recording)
        boxes.append(box)
        paths[w.name if in_recording else f"{w.name} ({'rhythm' if w.rhythm else 'short'})"] = path
    stack = np.stack(columns, axis=1)
    traced = int(np.isfinite(stack).any(axis=0).sum())
    if traced < MIN_LEADS:
        reasons = [w for w in warnings if w.startswith("lead ") and "below min_lead_confidence" not in w]
        raise DigitizationError(f"only {traced} of 12 leads could be traced with confidence (at least {MIN_LEADS} "
                                "needed to trust the layout)" + (f"; first reason: {reasons[0]}" if reasons else ""))
    recording = Recording(stack, fs, LEADS, {"source": "digitized"})
    layout = Layout(name=name, n_rows=len(rows), leads=tuple(boxes))
    return Digitization(recording=recording, calibration=calibration, layout=layout,
                        rotation_deg=round(float(angle_deg), 3),
                        perspective_corrected=not np.allclose(matrix[2, :2], 0.0),
                        lead_confidence=confidence, warnings=warnings, traces_px=paths)
