"""Render a recording as an ECG paper page with exact ground truth, faithful to ecg-image-kit.

The default page reproduces ecg-image-kit's (the PhysioNet Challenge 2024 generator's) clean page
geometry: letter landscape 11 × 8.5 in at 200 DPI (2200 × 1700 px), 25 mm/s, 10 mm/mV, a 3 × 4
block (rows I aVR V1 V4 / II aVL V2 V5 / III aVF V3 V6, column k showing only
[2.5k, 2.5k + 2.5) s) above a 10-s lead II rhythm strip, a 1 mV × 0.2 s calibration pulse at the
start of every row, short separator bars at column borders, lead labels and the printed
"25mm/s 10mm/mV". docs/renderer.md lists every number and where it comes from.

Coordinates
-----------
Paper positions are in mm from the page's left and bottom edges (ecg-image-kit's plotting frame).
Pixel coordinates are ``[row, col]`` with pixel *centres* at integer values, so a point at
``(row, col) = (10.0, 20.0)`` is the centre of ``image[10, 20]`` (OpenCV's and scikit-image's
convention). ecg-image-kit writes matplotlib display coordinates, whose pixel centres sit at
``+0.5``; :func:`tools.page_io.read_page_truth` converts them.

Truth
-----
For a plotted sample ``n`` of a panel, ``plotted_pixels[n - start_sample] = [row, col]`` with
``value_mv = sign * (baseline_row_px - row) / px_per_mv`` and
``col = first_col_px + (n - start_sample) * px_per_s / fs_hz``. The anti-aliased ink is centred on
these points (tests/test_render.py measures it).
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from tools.config import FrozenConfig
from tools.errors import InputError
from tools.recording import LEADS, Recording

__all__ = ["RenderConfig", "LeadTruth", "PageTruth", "AppliedDistortion", "Page", "render", "layout_panels", "Panel",
           "GRID_COLOURS"]

Layout = Literal["3x4+1", "3x4+3", "6x2", "12x1"]
GridColour = Literal["red", "pink", "blue", "green", "brown", "bw", "none"]

MM_PER_INCH = 25.4
PT_PER_INCH = 72.0
# ecg-image-kit's grid colours (major, minor) as RGB in 0..1, from its ``standard_*_colors``;
# "bw" is its black-and-white style.
GRID_COLOURS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]] | None] = {
    "red": ((1.0, 0.0, 0.0), (0.996, 0.8745, 0.8588)),
    "pink": ((1.0, 0.796, 0.866), (0.996, 0.9294, 0.9725)),
    "blue": ((0.0, 0.0, 0.4), (0.0, 0.0, 0.7)),
    "green": ((0.0, 0.3, 0.0), (0.0, 0.8, 0.3)),
    "brown": ((0.4274, 0.196, 0.1843), (0.5882, 0.4196, 0.3960)),
    "bw": ((0.4, 0.4, 0.4), (0.75, 0.75, 0.75)),
    "none": None,
}

# Page furniture in mm (at 25 mm/s and 10 mm/mV ecg-image-kit writes these in s and mV; the
# numbers below are the same lengths on paper).
_LABEL_BELOW_MM = 7.0          # lead label baseline below a 3x4 trace baseline (0.5 + 0.2 mV)
_RHYTHM_LABEL_BELOW_MM = 8.0   # ... below a rhythm-strip baseline (its strip sits 3 mm higher)
_DENSE_BAND_MM = 20.0          # rows closer than this (12x1) get their label in the left margin,
_MARGIN_LABEL_X_MM = 1.0       # ... starting here, with its baseline 1 mm above the trace baseline
_RHYTHM_RAISE_MM = 3.0         # rhythm strip baseline above its row centre (-0.5 + 0.8 mV)
_SEPARATOR_HALF_MM = 3.5       # separator bars span ±0.35 mV at 10 mm/mV (measured on its pages)
_SEPARATOR_WIDTH_IN = 6 / 200  # 6 px at 200 DPI
_FOOTER_Y_MM = 5.0             # "25mm/s 10mm/mV" baseline above the bottom edge
_FOOTER_X_MM = (50.0, 100.0)
_HEADER_X_MM, _HEADER_TOP_MM, _HEADER_STEP_MM = 1.25, 210.0, 5.0
_GRID_LINE_PT = 0.5
_FONT_PT = 11.0
_PULSE_S = 0.2                 # calibration pulse width and the trace's offset after it
# The pulse as ecg-image-kit draws it at 500 Hz: (time after its start in s, height in pulses).
_PULSE_SHAPE = ((0.0, 0.0), (0.002, 0.0), (0.004, 1.0), (0.202, 1.0), (0.204, 0.0), (0.206, 0.0))
_SHIFT = 4                     # OpenCV fixed-point bits: 1/16 px drawing precision
_THICK_FROM_PX = 2.9           # strokes this wide use OpenCV's thickness >= 2 (see _polyline)

# Lead columns of each layout (top to bottom within a column); "-aVR" is drawn inverted.
_COLUMNS: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("3x4", "standard"): (("I", "II", "III"), ("aVR", "aVL", "aVF"), ("V1", "V2", "V3"), ("V4", "V5", "V6")),
    ("3x4", "cabrera"): (("aVL", "I", "-aVR"), ("II", "aVF", "III"), ("V1", "V2", "V3"), ("V4", "V5", "V6")),
    ("6x2", "standard"): (("I", "II", "III", "aVR", "aVL", "aVF"), ("V1", "V2", "V3", "V4", "V5", "V6")),
    ("6x2", "cabrera"): (("aVL", "I", "-aVR", "II", "aVF", "III"), ("V1", "V2", "V3", "V4", "V5", "V6")),
    ("12x1", "standard"): (LEADS,),
    ("12x1", "cabrera"): (("aVL", "I", "-aVR", "II", "aVF", "III", "V1", "V2", "V3", "V4", "V5", "V6"),),
}
_RHYTHM: dict[str, tuple[str, ...]] = {"3x4+1": ("II",), "3x4+3": ("V1", "II", "V5"), "6x2": (), "12x1": ()}


def _as_pixels(value: Any) -> np.ndarray:
    array = np.asarray(value if value is not None else [], dtype=np.float64)
    return array.reshape(-1, 2)


def _pixels_to_json(array: np.ndarray) -> list[list[float | None]]:
    rounded = np.round(np.asarray(array, dtype=np.float64), 2)
    return [[None if np.isnan(v) else float(v) for v in pair] for pair in rounded]


# (n, 2) float array of [row, col] points; NaN for samples that were not finite; JSON as lists.
PixelArray = Annotated[np.ndarray, BeforeValidator(_as_pixels), PlainSerializer(_pixels_to_json)]


class RenderConfig(FrozenConfig):
    """How to draw the page. Defaults are ecg-image-kit's default clean page.

    Attributes
    ----------
    layout : {"3x4+1", "3x4+3", "6x2", "12x1"}
        3 × 4 block with a lead II rhythm strip, or with V1/II/V5 strips; 6 rows × 2 columns;
        12 rows × 1 column.
    lead_order : {"standard", "cabrera"}
        Cabrera shows aVL, I, -aVR, II, aVF, III (aVR inverted) in place of I, II, III, aVR, aVL, aVF.
    paper_speed_mm_s, gain_mm_mv : paper speed (25 or 50 mm/s) and gain (5, 10 or 20 mm/mV).
        At 50 mm/s every panel shows half the time on the same paper length.
    dpi : dots per inch, 50-300; the page is ``int(11 * dpi) × int(8.5 * dpi)`` px.
    grid_colour : ecg-image-kit's grid colours, "bw" (grey grid, black trace) or "none".
    trace_grey : ink grey level of traces, pulses and separators, 0 (black) to 1; ecg-image-kit
        draws a random grey in 0-0.2.
    line_width_pt : trace width in points (0.75 pt ≈ 2 px at 200 DPI); pulses are 1.5× wider.
    header_lines : text lines printed at the top left (patient, rate...).
    print_speed_gain_text, calibration_pulse, separators, lead_labels : page furniture on/off.
    start_s : time of the recording (s) at the page's left edge, for records longer than a page.

    Raises
    ------
    InputError
        On an unknown or out-of-range value (the message names the field and what is allowed).
    """

    layout: Layout = "3x4+1"
    lead_order: Literal["standard", "cabrera"] = "standard"
    paper_speed_mm_s: Literal[25, 50] = 25
    gain_mm_mv: Literal[5, 10, 20] = 10
    dpi: int = Field(200, ge=50, le=300)
    width_in: float = Field(11.0, gt=0, le=40)
    height_in: float = Field(8.5, gt=0, le=40)
    grid_colour: GridColour = "red"
    trace_grey: float = Field(0.1, ge=0.0, le=1.0)
    line_width_pt: float = Field(0.75, gt=0.0, le=5.0)
    header_lines: tuple[str, ...] = ()
    print_speed_gain_text: bool = True
    calibration_pulse: bool = True
    separators: bool = True
    lead_labels: bool = True
    start_s: float = Field(0.0, ge=0.0)


class LeadTruth(BaseModel):
    """Where one panel (one lead in one time window) is on the page.

    Attributes
    ----------
    lead_name : standard lead name of the recording column plotted (``aVR`` also for ``-aVR``).
    label : text printed beside it ("-aVR" for Cabrera's inverted aVR).
    inverted : True when the trace shows ``-signal``.
    bounding_box : (4, 2) [row, col] corners top-left, top-right, bottom-right, bottom-left of the
        ink (trace plus, for the first panel of a row, the calibration pulse), as ecg-image-kit.
    start_sample, end_sample : plotted samples are ``start_sample <= n < end_sample``.
    baseline_row_px : row of 0 mV on the clean page (None when unknown, e.g. another generator).
    plotted_pixels : (end - start, 2) [row, col] of every plotted sample (NaN where not finite).
    calibration_box : (4, 2) corners of the calibration pulse drawn before this panel, or None.
    rhythm : True for a full-length rhythm strip.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    lead_name: str
    label: str
    inverted: bool = False
    bounding_box: PixelArray
    start_sample: int
    end_sample: int
    baseline_row_px: float | None = None
    plotted_pixels: PixelArray
    calibration_box: PixelArray | None = None
    rhythm: bool = False


class AppliedDistortion(BaseModel):
    """One distortion that was applied to a page, with its parameters."""

    model_config = ConfigDict(frozen=True)

    name: str
    params: dict[str, Any] = {}


class PageTruth(BaseModel):
    """Everything needed to score a digitizer on a page or to train one.

    Scales are those of the clean page; ``homography`` maps clean-page ``(col, row, 1)`` to the
    distorted image (identity for a clean page, None when unknown, as for ecg-image-kit's
    augmented pages) and every pixel coordinate stored here has already been mapped through it.
    ``source`` says who drew the page.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    source: Literal["ecg-agent", "ecg-image-kit"] = "ecg-agent"
    width_px: int
    height_px: int
    dpi: float
    fs_hz: float
    px_per_mm_x: float
    px_per_mm_y: float
    px_per_mv: float
    px_per_s: float
    paper_speed_mm_s: float
    gain_mm_mv: float
    layout: str
    lead_order: str
    grid_colour: str | None = None
    homography: list[list[float]] | None = Field(default_factory=lambda: np.eye(3).tolist())
    leads: tuple[LeadTruth, ...]
    distortions: tuple[AppliedDistortion, ...] = ()
    distortion_seed: int | None = None


@dataclass(frozen=True, eq=False)
class Page:
    """A rendered page: ``image`` (H, W, 3) uint8 RGB, its ``truth`` and the ``masked`` record.

    ``masked`` has the 12 standard leads at the input rate with NaN for every sample that was not
    plotted (each 3x4 panel finite only in its window; rhythm strips full length).
    """

    image: np.ndarray
    truth: PageTruth
    masked: Recording


@dataclass(frozen=True)
class Panel:
    """One lead drawn in one time window: paper position in mm, time window in s."""

    lead: str            # standard lead name
    label: str
    inverted: bool
    row: int             # 0 = top row
    column: int
    x_mm: float          # left end of the trace (first sample), from the page's left edge
    baseline_mm: float   # 0 mV, from the page's bottom edge
    t0_s: float          # window start, s from the recording's first sample
    duration_s: float
    rhythm: bool
    pulse: bool          # a calibration pulse is drawn just left of this panel
    separator: bool      # a separator bar marks this panel's start
    label_x_mm: float    # label's left end, from the page's left edge
    label_y_mm: float    # label baseline, from the page's bottom edge


def layout_panels(config: RenderConfig) -> list[Panel]:
    """The panels of ``config``'s page, in ecg-image-kit's reading order (rows top to bottom).

    ecg-image-kit splits the page height into ``rows + 2`` equal bands; row centres sit
    ``(k + 0.5)`` bands above the bottom edge with the rhythm strips lowest (raised 3 mm), and
    the traces start ``x_gap`` (10 mm) plus the pulse width (0.2 s) from the left edge. Layouts
    without a rhythm strip keep its band empty so the footer text stays clear.
    """
    block, _, _ = config.layout.partition("+")
    columns = _COLUMNS[(block, config.lead_order)]
    rhythm = _RHYTHM[config.layout]
    n_short_rows = len(columns[0])
    band_rows = max(len(rhythm), 1)
    band_mm = config.height_in * MM_PER_INCH / (n_short_rows + band_rows + 2)
    page_s = 10.0 * 25.0 / config.paper_speed_mm_s
    column_s = page_s / len(columns)
    span_mm = 10.0 * 25.0  # every layout spans 250 mm of trace, ecg-image-kit's 10 s at 25 mm/s
    x_gap_mm = np.floor((config.width_in * MM_PER_INCH - span_mm) / 2 / 5.0) * 5.0
    x_start_mm = x_gap_mm + _PULSE_S * config.paper_speed_mm_s
    column_mm = span_mm / len(columns)
    dense = band_mm < _DENSE_BAND_MM  # a label below the trace would sit against the next row
    panels = []
    for row in range(n_short_rows):
        baseline = (band_rows + n_short_rows - 1 - row + 0.5) * band_mm
        for k, column in enumerate(columns):
            name, x_mm = column[row], x_start_mm + k * column_mm
            label_at = (_MARGIN_LABEL_X_MM, baseline + 1.0) if dense and k == 0 else (x_mm, baseline - _LABEL_BELOW_MM)
            panels.append(Panel(name.lstrip("-"), name, name.startswith("-"), row, k, x_mm, baseline,
                                config.start_s + k * column_s, column_s, False, k == 0, k > 0, *label_at))
    for i, name in enumerate(rhythm):
        baseline = (len(rhythm) - 1 - i + 0.5) * band_mm + _RHYTHM_RAISE_MM
        panels.append(Panel(name, name, False, n_short_rows + i, 0, x_start_mm, baseline,
                            config.start_s, page_s, True, True, False, x_start_mm,
                            baseline - _RHYTHM_LABEL_BELOW_MM))
    return panels


@dataclass(frozen=True)
class _Frame:
    """Pixel frame of a page: size and scales (pixel centres at integers)."""

    width_px: int
    height_px: int
    px_per_mm: float

    def col(self, x_mm: np.ndarray | float) -> np.ndarray | float:
        return np.asarray(x_mm) * self.px_per_mm - 0.5

    def row(self, y_mm: np.ndarray | float) -> np.ndarray | float:
        return self.height_px - np.asarray(y_mm) * self.px_per_mm - 0.5


def _frame(config: RenderConfig) -> _Frame:
    return _Frame(int(config.width_in * config.dpi), int(config.height_in * config.dpi),
                  config.dpi / MM_PER_INCH)


def render(recording: Recording, config: RenderConfig) -> Page:
    """Draw ``recording`` on an ECG paper page.

    Parameters
    ----------
    recording : Recording
        Any rate; must contain every lead the layout shows (12-lead layouts need all 12).
    config : RenderConfig
        Layout, scales, resolution and page furniture.

    Returns
    -------
    Page
        ``image`` (H, W, 3) uint8 RGB; ``truth`` with one :class:`LeadTruth` per panel in reading
        order; ``masked`` with the 12 standard leads, NaN where nothing was plotted.

    Raises
    ------
    InputError
        If a lead the layout needs is missing, or no panel would show a finite sample.
    """
    panels = layout_panels(config)
    missing = sorted({p.lead for p in panels if p.lead not in recording.leads}, key=LEADS.index)
    if missing:
        raise InputError(f"layout {config.layout} needs leads {', '.join(missing)}, which the recording "
                         f"lacks (it has {', '.join(recording.leads)})")
    frame = _frame(config)
    image = _paper(config).copy()
    ink = _ink_rgb(config)
    masked = np.full((recording.n_samples, len(LEADS)), np.nan)
    truths = []
    for panel in panels:
        truth = _draw_panel(image, recording, panel, config, frame, ink)
        signal = recording.lead(panel.lead)
        masked[truth.start_sample:truth.end_sample, LEADS.index(panel.lead)] = \
            signal[truth.start_sample:truth.end_sample]
        truths.append(truth)
    if not np.isfinite(masked).any():
        raise InputError(f"nothing to plot: the recording ({recording.duration_s:.3g} s) has no finite sample "
                         f"in the page's window starting at start_s={config.start_s} s")
    _draw_text(image, config, panels, frame, ink)
    page_truth = PageTruth(
        width_px=frame.width_px, height_px=frame.height_px, dpi=config.dpi, fs_hz=recording.fs_hz,
        px_per_mm_x=frame.px_per_mm, px_per_mm_y=frame.px_per_mm,
        px_per_mv=frame.px_per_mm * config.gain_mm_mv, px_per_s=frame.px_per_mm * config.paper_speed_mm_s,
        paper_speed_mm_s=config.paper_speed_mm_s, gain_mm_mv=config.gain_mm_mv, layout=config.layout,
        lead_order=config.lead_order, grid_colour=config.grid_colour, leads=tuple(truths))
    masked_recording = Recording(masked, recording.fs_hz, LEADS,
                                 {**recording.meta, "masked_by": f"ecg-agent render {config.layout}"})
    image.flags.writeable = False
    return Page(image, page_truth, masked_recording)


def _ink_rgb(config: RenderConfig) -> tuple[int, int, int]:
    grey = 0.0 if config.grid_colour == "bw" else config.trace_grey
    level = int(round(grey * 255))
    return (level, level, level)


def _sample_window(panel: Panel, recording: Recording) -> tuple[int, int]:
    start = int(round(panel.t0_s * recording.fs_hz))
    end = int(round((panel.t0_s + panel.duration_s) * recording.fs_hz))
    return min(start, recording.n_samples), min(end, recording.n_samples)


def _draw_panel(image: np.ndarray, recording: Recording, panel: Panel, config: RenderConfig,
                frame: _Frame, ink: tuple[int, int, int]) -> LeadTruth:
    """Draw one panel (trace, and its pulse or separator) and return its truth."""
    start, end = _sample_window(panel, recording)
    values = recording.lead(panel.lead)[start:end] * (-1.0 if panel.inverted else 1.0)
    x_mm = panel.x_mm + np.arange(end - start) / recording.fs_hz * config.paper_speed_mm_s
    cols = frame.col(x_mm)
    baseline_row = float(frame.row(panel.baseline_mm))
    rows = baseline_row - values * config.gain_mm_mv * frame.px_per_mm
    pixels = np.column_stack([rows, np.where(np.isfinite(rows), cols, np.nan)])
    line_px = config.line_width_pt / PT_PER_INCH * config.dpi
    _polyline(image, pixels, ink, line_px)
    boxes = [pixels[np.isfinite(pixels[:, 0])]]
    half = line_px / 2
    calibration = None
    if panel.pulse and config.calibration_pulse:
        calibration = _draw_pulse(image, panel, config, frame, ink, baseline_row)
        boxes.append(calibration)
    if panel.separator and config.separators:
        _draw_separator(image, panel, config, frame, ink, baseline_row)
    ink_points = np.concatenate(boxes)
    return LeadTruth(
        lead_name=panel.lead, label=panel.label, inverted=panel.inverted,
        bounding_box=_box(ink_points, half), start_sample=start, end_sample=end,
        baseline_row_px=baseline_row, plotted_pixels=pixels, calibration_box=calibration,
        rhythm=panel.rhythm)


def _box(points: np.ndarray, margin: float) -> np.ndarray:
    """(4, 2) corners [row, col] TL, TR, BR, BL of ``points`` grown by ``margin`` px."""
    if len(points) == 0:
        return np.full((4, 2), np.nan)
    top, left = points.min(axis=0) - margin
    bottom, right = points.max(axis=0) + margin
    return np.array([[top, left], [top, right], [bottom, right], [bottom, left]])


def _polyline(image: np.ndarray, pixels: np.ndarray, colour: tuple[int, int, int], width_px: float) -> None:
    """Anti-aliased polyline of about ``width_px`` through [row, col] ``pixels``, broken at NaNs.

    OpenCV's anti-aliased strokes come in two widths near 2 px: 1.4 px (thickness 1) and 3.6 px
    (thickness 2). A width in between is drawn as two thickness-1 strokes offset by ``±d`` along
    the local normal, which widens the ink symmetrically (so it stays centred on the points) by
    about ``1.5 d``; ``d`` stays below half the stroke width so no gap opens between them.
    """
    finite = np.isfinite(pixels).all(axis=1)
    if not finite.any():
        return
    edges = np.flatnonzero(np.diff(np.concatenate([[0], finite.astype(np.int8), [0]])))
    runs = [pixels[a:b, ::-1] for a, b in zip(edges[::2], edges[1::2])]  # (x, y) = (col, row)
    runs = [run if len(run) > 1 else np.repeat(run, 2, axis=0) for run in runs]
    if width_px >= _THICK_FROM_PX:
        thickness, offsets = max(2, int(round(width_px - 1.6))), (0.0,)
    else:
        offset = float(np.clip((width_px - 1.4) / 1.5, 0.0, 0.7))
        thickness, offsets = 1, ((-offset, offset) if offset > 0.05 else (0.0,))
    strokes = []
    for run in runs:
        normal = _unit_normals(run) if len(offsets) > 1 else None
        for offset in offsets:
            points = run if normal is None else run + offset * normal
            # int32 fixed point: clamp far-off-page points (huge amplitudes) instead of overflowing
            strokes.append(np.clip(np.round(points * (1 << _SHIFT)), -2**28, 2**28).astype(np.int32))
    cv2.polylines(image, strokes, False, colour, thickness, cv2.LINE_AA, _SHIFT)


def _unit_normals(points: np.ndarray) -> np.ndarray:
    """(n, 2) unit normals of a polyline at its vertices (from the central chord)."""
    tangent = np.gradient(points, axis=0)
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    length = np.hypot(normal[:, 0], normal[:, 1])
    return normal / np.where(length > 0, length, 1.0)[:, None]


def _draw_pulse(image: np.ndarray, panel: Panel, config: RenderConfig, frame: _Frame,
                ink: tuple[int, int, int], baseline_row: float) -> np.ndarray:
    """Draw the 1 mV calibration pulse left of ``panel``; return its (4, 2) box."""
    shape = np.array(_PULSE_SHAPE)
    x0_mm = panel.x_mm - _PULSE_S * config.paper_speed_mm_s
    cols = frame.col(x0_mm + shape[:, 0] * config.paper_speed_mm_s)
    rows = baseline_row - shape[:, 1] * config.gain_mm_mv * frame.px_per_mm
    width_px = 1.5 * config.line_width_pt / PT_PER_INCH * config.dpi
    points = np.column_stack([rows, cols])
    _polyline(image, points, ink, width_px)
    return _box(points, width_px / 2)


def _draw_separator(image: np.ndarray, panel: Panel, config: RenderConfig, frame: _Frame,
                    ink: tuple[int, int, int], baseline_row: float) -> None:
    """A crisp vertical bar (±3.5 mm) at the panel's first sample, as ecg-image-kit draws."""
    col = float(frame.col(panel.x_mm))
    half_w = _SEPARATOR_WIDTH_IN * config.dpi / 2
    half_h = _SEPARATOR_HALF_MM * frame.px_per_mm
    c0, c1 = int(np.ceil(col - half_w)), int(np.ceil(col + half_w))
    r0, r1 = int(np.ceil(baseline_row - half_h)), int(np.ceil(baseline_row + half_h))
    image[max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] = ink


# ---- paper: grid and frame (cached per page geometry) ------------------------------------------
def _paper(config: RenderConfig) -> np.ndarray:
    return _paper_cached(config.width_in, config.height_in, config.dpi, config.grid_colour)


@functools.lru_cache(maxsize=8)  # a 300-DPI page is 25 MB: keep a few geometries, not every one
def _paper_cached(width_in: float, height_in: float, dpi: int, grid_colour: str) -> np.ndarray:
    """White page with ecg-image-kit's grid: 1-mm minor and 5-mm major lines, 0.5 pt wide.

    Drawing order follows matplotlib's (vertical major, vertical minor, horizontal major,
    horizontal minor), which is why its vertical major lines look dashed where minor horizontal
    lines cross them.
    """
    width_px, height_px = int(width_in * dpi), int(height_in * dpi)
    page = np.full((height_px, width_px, 3), 255.0, dtype=np.float32)
    colours = GRID_COLOURS[grid_colour]
    px_per_mm = dpi / MM_PER_INCH
    if colours is not None:
        major, minor = (np.array(c, dtype=np.float32) * 255 for c in colours)
        width = _GRID_LINE_PT / PT_PER_INCH * dpi
        x_mm, y_mm = np.arange(0, width_in * MM_PER_INCH), np.arange(0, height_in * MM_PER_INCH)
        is_major_x, is_major_y = (np.round(x_mm) % 5 == 0), (np.round(y_mm) % 5 == 0)
        cols = np.round(x_mm * px_per_mm).astype(int)
        rows = np.round(height_px - y_mm * px_per_mm).astype(int)
        for lines, vertical, colour in ((cols[is_major_x], True, major), (cols[~is_major_x], True, minor),
                                        (rows[is_major_y], False, major), (rows[~is_major_y], False, minor)):
            _grid_lines(page, lines, vertical, colour, width)
    # matplotlib's axes frame: 0.8 pt lines centred on the page border, half of them visible
    frame_px = 0.8 / PT_PER_INCH * dpi / 2
    for index in (0, -1):
        _blend(page, (slice(None), index), np.zeros(3, np.float32), min(frame_px, 1.0))
        _blend(page, (index, slice(None)), np.zeros(3, np.float32), min(frame_px, 1.0))
    result = np.clip(np.round(page), 0, 255).astype(np.uint8)
    result.flags.writeable = False
    return result


def _grid_lines(page: np.ndarray, positions: np.ndarray, vertical: bool, colour: np.ndarray,
                width_px: float) -> None:
    """Snapped lines: a full-colour core pixel and neighbours covered by the rest of the width."""
    limit = page.shape[1] if vertical else page.shape[0]
    positions = positions[(positions >= 0) & (positions < limit)]
    core = min(width_px, 1.0)
    side = max(width_px - 1.0, 0.0) / 2
    for offset, alpha in ((-1, side), (1, side), (0, core)):
        if alpha <= 0:
            continue
        index = np.clip(positions + offset, 0, limit - 1)
        _blend(page, (slice(None), index) if vertical else (index, slice(None)), colour, alpha)


def _blend(page: np.ndarray, where: tuple, colour: np.ndarray, alpha: float) -> None:
    page[where] = page[where] * (1 - alpha) + colour * alpha


# ---- text --------------------------------------------------------------------------------------
def _draw_text(image: np.ndarray, config: RenderConfig, panels: list[Panel], frame: _Frame,
               ink: tuple[int, int, int]) -> None:
    """Lead labels, the speed/gain footer and header lines (black, DejaVu Sans 11 pt)."""
    size_px = _FONT_PT / PT_PER_INCH * config.dpi
    items: list[tuple[str, float, float]] = []  # text, left x in mm, baseline y in mm
    if config.lead_labels:
        for panel in panels:
            items.append((panel.label, panel.label_x_mm, panel.label_y_mm))
    if config.print_speed_gain_text:
        items.append((f"{config.paper_speed_mm_s}mm/s", _FOOTER_X_MM[0], _FOOTER_Y_MM))
        items.append((f"{config.gain_mm_mv}mm/mV", _FOOTER_X_MM[1], _FOOTER_Y_MM))
    for i, line in enumerate(config.header_lines):
        items.append((line, _HEADER_X_MM, _HEADER_TOP_MM - i * _HEADER_STEP_MM))
    for text, x_mm, y_mm in items:
        if text:
            # PIL positions text in pixel-edge coordinates: undo the centre convention's -0.5
            _blit_text(image, text, float(frame.col(x_mm)) + 0.5, float(frame.row(y_mm)) + 0.5, size_px)


def _blit_text(image: np.ndarray, text: str, left_px: float, baseline_px: float, size_px: float) -> None:
    """Alpha-blend black ``text`` with its left baseline point at (``left_px``, ``baseline_px``)."""
    mask, (dx, dy) = _text_mask(text, round(size_px, 2))
    c0, r0 = int(round(left_px)) + dx, int(round(baseline_px)) + dy
    h, w = mask.shape
    rs, cs = slice(max(r0, 0), min(r0 + h, image.shape[0])), slice(max(c0, 0), min(c0 + w, image.shape[1]))
    if rs.start >= rs.stop or cs.start >= cs.stop:
        return
    alpha = mask[rs.start - r0:rs.stop - r0, cs.start - c0:cs.stop - c0, None]
    image[rs, cs] = (image[rs, cs] * (1.0 - alpha)).astype(np.uint8)


@functools.lru_cache(maxsize=512)
def _text_mask(text: str, size_px: float) -> tuple[np.ndarray, tuple[int, int]]:
    """(h, w) float coverage of ``text`` and the offset of its top-left from the left baseline point."""
    font = _font(size_px)
    left, top, right, bottom = font.getbbox(text, anchor="ls")
    canvas = Image.new("L", (max(right - left, 1), max(bottom - top, 1)), 0)
    ImageDraw.Draw(canvas).text((-left, -top), text, fill=255, font=font, anchor="ls")
    mask = np.asarray(canvas, dtype=np.float32) / 255.0
    mask.flags.writeable = False
    return mask, (left, top)


@functools.lru_cache(maxsize=16)
def _font(size_px: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans (matplotlib's default font, so ecg-image-kit's), else Pillow's own font."""
    for path in _font_candidates():
        if path.is_file():
            return ImageFont.truetype(str(path), size=size_px)
    return ImageFont.load_default(size=size_px)


def _font_candidates() -> list[Path]:
    paths = []
    spec = importlib.util.find_spec("matplotlib")  # a wfdb dependency, so normally present
    if spec is not None and spec.origin:
        paths.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf")
    paths.append(Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    return paths
