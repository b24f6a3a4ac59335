"""The digitizer on our renders, on ecg-image-kit renders of LUDB, and on bad input."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_path
from tools.digitization_score import record_snr_db
from tools.digitize import DigitizeConfig, digitize
from tools.errors import DigitizationError, InputError
from tools.record_io import read_record
from tools.distort import DistortionConfig, distort
from tools.render import RenderConfig, render
from tools.simulate import SimulationConfig, simulate

CONFIG = DigitizeConfig()


@pytest.fixture(scope="module")
def recording():
    return simulate(SimulationConfig(fs_hz=500, seed=3)).recording


def _on_reference_length(estimate, reference):
    """The estimate cut or NaN-padded to the reference's length (a page may print less or more)."""
    n = reference.n_samples
    signal = np.full((n, len(estimate.leads)), np.nan)
    signal[: min(n, estimate.n_samples)] = estimate.signal_mv[:n]
    return estimate.with_signal(signal)


def _mean_snr(reference, estimate) -> float:
    return float(np.mean(list(record_snr_db(reference, estimate).values())))


def test_default_render_is_read_back(recording) -> None:
    page = render(recording, RenderConfig())
    result = digitize(page.image, CONFIG)
    assert result.layout.name == "3x4+1"
    assert result.calibration.method == "grid"
    assert result.calibration.px_per_mv == pytest.approx(200 / 25.4 * 10, rel=0.002)
    assert result.calibration.px_per_s == pytest.approx(200 / 25.4 * 25, rel=0.002)
    assert result.calibration.consistent
    # The rhythm strip is identified from the page (it matches the short lead II).
    rhythm = [box for box in result.layout.leads if box.rhythm]
    assert [box.name for box in rhythm] == ["II"] and rhythm[0].identity == "rhythm-correlation"
    assert _mean_snr(page.masked, result.recording) > 18.0
    json.dumps(result.summary())


@pytest.mark.parametrize("layout", ["6x2", "3x4+3", "12x1"])
def test_other_layouts(recording, layout: str) -> None:
    page = render(recording, RenderConfig(layout=layout))
    result = digitize(page.image, CONFIG)
    assert result.layout.name == layout
    assert _mean_snr(page.masked, _on_reference_length(result.recording, page.masked)) > 15.0


def test_paper_speed_from_the_calibration_pulse(recording) -> None:
    page = render(recording, RenderConfig(paper_speed_mm_s=50))
    result = digitize(page.image, CONFIG)
    assert result.calibration.paper_speed_mm_s == 50.0
    assert result.calibration.px_per_s == pytest.approx(200 / 25.4 * 50, rel=0.002)
    assert _mean_snr(page.masked, _on_reference_length(result.recording, page.masked)) > 18.0


def test_rotated_page_is_deskewed(recording) -> None:
    page = distort(render(recording, RenderConfig()), DistortionConfig(rotation_deg=3.0), seed=0)
    result = digitize(page.image, CONFIG)
    assert abs(abs(result.rotation_deg) - 3.0) < 0.1
    assert _mean_snr(page.masked, _on_reference_length(result.recording, page.masked)) > 15.0


def test_gain_from_the_calibration_pulse(recording) -> None:
    page = render(recording, RenderConfig(gain_mm_mv=5))
    result = digitize(page.image, CONFIG)
    assert result.calibration.gain_mm_mv == 5.0
    assert result.calibration.pulse_vs_grid == pytest.approx(1.0, abs=0.05)


def test_eik_clean_record_within_tolerance() -> None:
    image = shared_path("eik", "clean", "1-0.png")
    reference = read_record(image.with_name("1.hea"))
    result = digitize(image, CONFIG)
    assert result.layout.name == "3x4+1"
    # ecg-image-kit's page: 200 DPI, 78.74 px/mV, 196.85 px/s (its annotation's x_grid / 5 = 7.874 px/mm).
    assert result.calibration.px_per_mm_x == pytest.approx(7.874, rel=0.001)
    recording = result.recording.window(0, reference.duration_s)
    assert _mean_snr(reference, recording) > 14.0


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("value", [255, 0])
def test_blank_and_black_pages_are_refused(value: int) -> None:
    with pytest.raises(DigitizationError):
        digitize(np.full((850, 1100, 3), value, np.uint8), CONFIG)


def test_noise_photo_without_ecg_is_refused() -> None:
    rng = np.random.default_rng(0)
    photo = (rng.random((600, 800, 3)) * 60 + 150).astype(np.uint8)
    with pytest.raises(DigitizationError):
        digitize(photo, CONFIG)


def test_tiny_image_is_refused() -> None:
    with pytest.raises(InputError, match="min_side_px"):
        digitize(_png_bytes(np.full((50, 80, 3), 255, np.uint8)), CONFIG)


def test_truncated_png_is_refused(tmp_path) -> None:
    data = _png_bytes(np.full((400, 600, 3), 200, np.uint8))
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError):
        digitize(path, CONFIG)


def test_text_file_is_refused(tmp_path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not an image\n")
    with pytest.raises(InputError, match="not a supported image"):
        digitize(path, CONFIG)


def test_huge_image_is_refused_before_decoding() -> None:
    # 20000 x 20000 px (400 Mpx) stored as 1-bit pixels: 50 MB to encode, 1.2 GB if it were decoded to RGB.
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, format="PNG")
    with pytest.raises(InputError, match="max_pixels"):
        digitize(buffer.getvalue(), CONFIG)


def test_missing_file_is_refused(tmp_path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        digitize(tmp_path / "absent.png", CONFIG)


def test_first_page_of_a_pdf_is_read(recording, tmp_path) -> None:
    page = render(recording, RenderConfig(dpi=100))
    path = tmp_path / "page.pdf"
    Image.fromarray(page.image).save(path, format="PDF", resolution=100.0)
    result = digitize(path, DigitizeConfig(pdf_dpi=100))
    assert result.layout.name == "3x4+1"
    assert result.calibration.px_per_mm_x == pytest.approx(100 / 25.4, rel=0.005)


def test_rhythm_strip_keeps_the_layout_lead_unless_another_matches_clearly() -> None:
    from tools.digitize.layout import rhythm_identity

    t = np.arange(1000) / 500.0
    strip = np.sin(2 * np.pi * 1.3 * t) + 0.3 * np.sin(2 * np.pi * 5.1 * t)
    rng = np.random.default_rng(0)

    def copy(noise: float) -> np.ndarray:
        return strip + noise * rng.standard_normal(strip.size)

    # III a hair closer than II: the layout's II stands.
    alike = {"II": copy(0.12), "III": copy(0.08), "aVF": copy(0.1)}
    assert rhythm_identity(strip, alike, ("II",))[0] == "II"
    # V1 clearly the best and the only close match: named V1.
    clear = {"II": -strip, "III": copy(1.5), "V1": copy(0.05)}
    assert rhythm_identity(strip, clear, ("II",))[0] == "V1"
    # Several leads equally close, none of them the default: ambiguous.
    ambiguous = {"II": -strip, "I": copy(0.05), "V4": copy(0.05)}
    assert rhythm_identity(strip, ambiguous, ("II",))[0] is None


def test_flat_baseline_filling_a_row_is_not_a_ruled_line() -> None:
    from tools.digitize.ink import remove_grid_lines

    mask = np.zeros((60, 1000), bool)
    mask[20, 50:950] = True  # a ruled line: unbroken
    mask[40, 50:950] = True  # a slow trace's baseline, leaving it at every beat
    for x in range(100, 950, 150):  # a QRS: up, across 4 mm above the line, down
        mask[40, x + 1:x + 12] = False
        mask[0:41, [x, x + 12]] = True
        mask[0, x:x + 12] = True
    ys = np.array([20.0, 40.0])
    out = remove_grid_lines(mask, np.array([5.0]), ys, 100)
    assert out[20].sum() < 0.1 * mask[20].sum()  # all but the crossings
    assert out[40].sum() == mask[40].sum()
