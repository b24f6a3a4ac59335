"""Column windows cut at the printed column separators where a page has them.

A rendered page (separator bars that only cross the trace) keeps the time scale's cuts; the same
page with dotted lines drawn through the rows 0.12 s after those cuts is cut at the lines; the
phone photo ecg00033, whose dotted separators stand 0.14-0.17 s after the time scale's cuts, reads
each later column from its separator on.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_path
from tools.digitize import DigitizeConfig, digitize
from tools.render import RenderConfig, render
from tools.simulate import sample_config, simulate

SHIFT_S = 0.12
LATER_COLUMNS = ("aVR", "V1", "V4", "aVL", "V2", "V5", "aVF", "V3", "V6")


@pytest.fixture(scope="module")
def page():
    return render(simulate(sample_config(4, fs_hz=500, labels=("sinus_rhythm",))).recording, RenderConfig(dpi=200))


@pytest.fixture(scope="module")
def plain(page):
    return digitize(page.image, DigitizeConfig())


def _boxes(result) -> dict[str, tuple[int, int, int, int]]:
    return {box.name: box.box_px for box in result.layout.leads if not box.rhythm}


def _with_dotted_lines(image: np.ndarray, xs_px: list[int], y0: int, y1: int, px_per_mm: float) -> np.ndarray:
    """A copy of the page with 2-px black dotted vertical lines (dots 0.5 mm long, 1 mm apart)."""
    out = image.copy()
    period, dot = int(round(px_per_mm)), max(1, int(round(px_per_mm / 2)))
    for x in xs_px:
        for y in range(y0, y1, period):
            out[y:y + dot, x:x + 2] = 0
    return out


def test_a_rendered_page_keeps_the_time_scale_cuts(plain) -> None:
    boxes = _boxes(plain)
    px_per_s = plain.calibration.px_per_s
    assert not any(w.startswith("columns cut") for w in plain.warnings)
    for row in (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6")):
        x0 = boxes[row[0]][0]
        for k, name in enumerate(row):
            assert abs(boxes[name][0] - (x0 + k * 2.5 * px_per_s)) <= 1.0, name


def test_dotted_separators_move_the_cuts_to_them(page, plain) -> None:
    boxes = _boxes(plain)
    px_per_s, px_per_mm = plain.calibration.px_per_s, plain.calibration.px_per_mm_x
    shift_px = int(round(SHIFT_S * px_per_s))
    xs = [boxes[name][0] + shift_px for name in ("aVR", "V1", "V4")]
    image = _with_dotted_lines(page.image, xs, boxes["I"][1], boxes["III"][3], px_per_mm)
    result = digitize(image, DigitizeConfig())
    moved = _boxes(result)
    assert any(w.startswith("columns cut at the printed separators (3 of 3") for w in result.warnings)
    for name in LATER_COLUMNS:
        # Each later column now starts at its dotted line (within 2 px: the line's width).
        assert abs(moved[name][0] - (boxes[name][0] + shift_px)) <= 2, name
    # The lead placed in its window is the same signal read from the line on: it matches the time
    # scale's reading best SHIFT_S later (within 3 samples, about the 1-px resolution of a cut).
    before, after = plain.recording.lead("V1"), result.recording.lead("V1")
    fs = plain.recording.fs_hz
    lag, a, b = int(round(SHIFT_S * fs)), int(5.2 * fs), int(7.0 * fs)
    lags = np.arange(lag - 10, lag + 11)
    error = [np.nanmean(np.abs(after[a:b] - before[a + n:b + n])) for n in lags]
    assert abs(lags[int(np.argmin(error))] - lag) <= 3
    assert min(error) < 0.02


def test_phone_photo_columns_start_at_their_dotted_separators() -> None:
    """ecg00033: x (px, input image) of each row's dotted separators at its baseline, read off the
    image (the darkest black column near each line); the traced path of every later column starts
    within 0.05 s of it, where it started 0.14-0.17 s before it with the time scale's cuts."""
    result = digitize(shared_path("images", "real", "ecg00033.jpg"), DigitizeConfig())
    separators_px = {"aVR": 368, "V1": 649, "V4": 923, "aVL": 367, "V2": 652, "V5": 930,
                     "aVF": 365, "V3": 655, "V6": 938}
    tolerance_px = 0.05 * result.calibration.px_per_s
    assert any(w.startswith("columns cut at the printed separators (3 of 3") for w in result.warnings)
    for name, x in separators_px.items():
        key = name if name in result.traces_px else f"{name} (short)"
        path = result.traces_px[key]
        assert abs(path[:, 0].min() - x) <= tolerance_px, name
