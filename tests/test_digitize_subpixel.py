"""Sub-pixel reading: the time origin from the pulse, R apexes, stroke points and feet, the pen's
footprint on column centroids, noise-adaptive smoothing.

At 200 DPI and 25 mm/s one sample of a 500-Hz record is 0.39 px wide and a QRS stroke climbs
20-30 px per pixel column: a tenth of a pixel in time is worth more than a pixel in height, so
these parts are tested to a fraction of a pixel on pages with known geometry.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy.signal import find_peaks

from tools.digitize import DigitizeConfig, digitize
from tools.digitize.assembly import NOISE_FULL, row_signal_mv
from tools.digitize.calibration import EDGE_LAG_FRACTION, find_pulse
from tools.digitize.ink import paper_noise
from tools.digitize.result import Calibration
from tools.digitize.tracing import RowTrace, trace_row
from tools.errors import InputError
from tools.render import RenderConfig, render
from tools.simulate import SimulationConfig, simulate


@pytest.fixture(scope="module")
def page_and_result():
    recording = simulate(SimulationConfig(fs_hz=500, seed=3)).recording
    page = render(recording, RenderConfig())
    return page, digitize(page.image, DigitizeConfig())


@pytest.mark.parametrize("rise_px", [50.0, 50.3, 50.55, 50.8])
def test_signal_start_from_the_pulse_is_sub_pixel(rise_px: float) -> None:
    # A 1-mV pulse (78.7 px at 200 DPI) drawn anti-aliased at 1/16 px, 0.2 s (39.37 px) wide.
    fall_px = rise_px + 39.37
    canvas = np.zeros((200, 300), np.uint8)
    corners = np.array([[10, 150], [rise_px, 150], [rise_px, 71.3], [fall_px, 71.3], [fall_px, 150], [250, 150]])
    cv2.polylines(canvas, [np.round(corners * 16).astype(np.int32)], False, 255, thickness=3,
                  lineType=cv2.LINE_AA, shift=4)
    dark = canvas / 255.0
    pulse = find_pulse(dark > 0.4, dark, 150.0, 10, 200 / 25.4, 3.0)
    assert pulse is not None
    assert pulse.end_x_px == pytest.approx(fall_px - EDGE_LAG_FRACTION * 39.37, abs=0.1)
    assert pulse.width_px == pytest.approx(39.37, abs=0.1)


def test_rendered_page_is_read_on_time_to_a_quarter_sample(page_and_result) -> None:
    page, result = page_and_result
    truth = page.masked.lead("II")
    estimate = result.recording.lead("II")[: page.masked.n_samples]
    both = np.isfinite(truth) & np.isfinite(estimate)

    def error(lag: int) -> float:
        moved, valid = np.roll(estimate, lag), both & np.roll(both, lag)
        residual = truth[valid] - moved[valid]
        return float(np.sum((residual - residual.mean()) ** 2))

    # Vertex of the parabola through the squared error at lags -1, 0, +1 (samples).
    before, at, after = error(-1), error(0), error(1)
    delay = 0.5 * (before - after) / (before - 2 * at + after)
    assert abs(delay) < 0.25


def test_r_apexes_are_read_to_a_pixel(page_and_result) -> None:
    page, result = page_and_result
    truth = page.masked.lead("II")
    estimate = result.recording.lead("II")[: page.masked.n_samples]
    both = np.isfinite(truth) & np.isfinite(estimate)
    offset = float(np.median(truth[both] - estimate[both]))
    peaks, _ = find_peaks(np.nan_to_num(truth), prominence=0.5)
    peaks = peaks[both[peaks]]
    assert peaks.size >= 10
    error_mv = estimate[peaks] + offset - truth[peaks]
    # 1 px is 0.0127 mV at 200 DPI and 10 mm/mV; reading the peak from the mask alone under-read
    # every apex by 1-3 px (mean error -0.02 mV).
    assert np.mean(np.abs(error_mv)) < 0.012
    assert np.max(np.abs(error_mv)) < 0.03


def _spike_trace(onset_px: float, half_width_px: float):
    """The trace of a 3-px anti-aliased line flat at row 120 with a spike up to row 70 starting at
    ``onset_px`` and ``half_width_px`` wide on each side of its apex."""
    canvas = np.zeros((200, 160), np.uint8)
    corners = np.array([[5, 120], [onset_px, 120], [onset_px + half_width_px, 70],
                        [onset_px + 2 * half_width_px, 120], [155, 120]])
    cv2.polylines(canvas, [np.round(corners * 16).astype(np.int32)], False, 255, thickness=3,
                  lineType=cv2.LINE_AA, shift=4)
    dark = canvas / 255.0
    trace = trace_row(dark > 0.4, dark, (60, 180), (0, 200), (0, 160), 120.0, 3.0, 200 / 25.4)
    assert trace is not None
    return trace


@pytest.mark.parametrize("onset_px", [60.3, 60.4, 60.5, 60.6, 60.7])
def test_flat_columns_beside_a_qrs_stroke_stay_on_the_baseline(onset_px: float) -> None:
    # A 3-px line flat at row 120, then a 50-px spike over 16 columns (6.25 px per column): the
    # flat columns beside its feet also hold a little of the stroke, and their run's centroid
    # rose towards it by up to 0.35 px, which read the QRS about a pixel wide.
    trace = _spike_trace(onset_px, 8.0)
    flat = (trace.bottom_px - trace.top_px + 1 <= 6) & ((trace.x_px < onset_px) | (trace.x_px > onset_px + 16))
    corner = flat & (trace.bottom_px - trace.top_px + 1 > 5)
    assert corner.any()
    assert np.abs(trace.y_px[flat] - 120.0).max() < 0.1


@pytest.mark.parametrize("onset_px", [60.2, 60.4, 60.6, 60.8])
def test_a_steep_stroke_leaves_the_flat_line_at_its_foot_not_before(onset_px: float) -> None:
    # A 3-px line flat at row 120, then a stroke of 12.5 px per column up to row 70 and back. The
    # rows where the stroke's ink meets the line's give no stroke point; the path went straight
    # from the last flat column to the first stroke point, 13 rows up, and read 0.2-0.5 px above
    # the line half a pixel before the stroke left it (a QRS onset read early).
    trace = _spike_trace(onset_px, 4.0)
    assert np.interp(onset_px - 0.5, trace.path_x_px, trace.path_y_px) == pytest.approx(120.0, abs=0.05)


def test_column_centroids_are_corrected_for_the_pens_width() -> None:
    # A T-wave-like bump (24 px high, sigma 8 px) drawn with a round 3-px pen, pixel coverage by
    # 16x supersampling. A column holds the line's ink from about a line width either side, so
    # its centroid is a blur of the curve: where the bump meets the baseline (1.5-3 sigma from its
    # peak) the centroids read +0.06 px towards the wave (a T wave ending late), 0.06 px off on
    # average over the bump.
    s, height, width = 16, 200, 160
    x = np.arange(5.0, 155.0, 0.25)
    y = 120.0 - 24.0 * np.exp(-0.5 * ((x - 80.0) / 8.0) ** 2)
    canvas = np.zeros((height * s, width * s), np.uint8)
    points = np.column_stack([x * s + 0.5 * (s - 1), y * s + 0.5 * (s - 1)])
    cv2.polylines(canvas, [np.round(points * 16).astype(np.int32)], False, 255, 3 * s - 1, cv2.LINE_8, 4)
    dark = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA) / 255.0
    trace = trace_row(dark > 0.4, dark, (60, 180), (0, 200), (0, width), 120.0, 3.0, 200 / 25.4)
    assert trace is not None
    cols = trace.x_px
    towards_wave = -(trace.y_px - (120.0 - 24.0 * np.exp(-0.5 * ((cols - 80.0) / 8.0) ** 2)))
    bump = (cols > 40) & (cols < 120)
    tails = (np.abs(cols - 80.0) >= 12.0) & (np.abs(cols - 80.0) <= 24.0)
    assert abs(towards_wave[tails].mean()) < 0.02
    assert np.abs(towards_wave[bump]).mean() < 0.04


def test_paper_noise_is_zero_on_a_render_and_the_pixel_spread_on_noise() -> None:
    assert paper_noise(np.zeros((300, 400))) == 0.0
    rng = np.random.default_rng(0)
    noisy = np.clip(rng.normal(0.1, 0.02, (600, 800)), 0, 1)
    # A pixel less the mean of two neighbours spreads by sqrt(1.5) times the pixel noise.
    assert paper_noise(noisy) == pytest.approx(0.02 * np.sqrt(1.5), rel=0.05)


def _calibration() -> Calibration:
    return Calibration(px_per_mm_x=20.0, px_per_mm_y=10.0, px_per_mv=100.0, px_per_s=500.0,
                       paper_speed_mm_s=25.0, gain_mm_mv=10.0, method="grid", pulse_px_per_mv=None,
                       pulse_vs_grid=None, xy_ratio=1.0, consistent=True)


def test_noisy_pages_are_smoothed_over_three_samples_clean_pages_not() -> None:
    # 500 px/s at 500 Hz: one path point per sample, alternating 0 and 1 mV (0 and -100 px).
    x = np.arange(40, dtype=float)
    y = np.where(np.arange(40) % 2 == 0, 0.0, -100.0)
    trace = RowTrace(x_px=x, y_px=y, top_px=y, bottom_px=y, jump=np.zeros(40, bool), path_x_px=x, path_y_px=y,
                     spike_x_px=np.empty(0))
    clean = row_signal_mv(trace, 0.0, 0.0, _calibration(), 40, 500.0, 0.0)
    noisy = row_signal_mv(trace, 0.0, 0.0, _calibration(), 40, 500.0, NOISE_FULL)
    alternating = np.where(np.arange(40) % 2 == 0, 0.0, 1.0)
    np.testing.assert_allclose(clean, alternating)
    # SMOOTH_S = 6 ms holds 3 samples at 500 Hz: a 0 between two 1s reads 2/3, a 1 between 0s 1/3.
    np.testing.assert_allclose(noisy[1:-1], np.where(alternating[1:-1] == 0, 2 / 3, 1 / 3))


def test_image_between_pillows_warning_and_error_sizes_is_refused() -> None:
    # 10000 x 10000 px (100 Mpx): Pillow warns (not raises) on opening it; the refusal is ours.
    buffer = io.BytesIO()
    Image.new("1", (10000, 10000)).save(buffer, format="PNG")
    with pytest.raises(InputError, match="max_pixels"):
        digitize(buffer.getvalue(), DigitizeConfig())
