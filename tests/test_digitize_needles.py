"""Needles: paths that run up and down grid lines or creases lose their lead (or the page).

A needle is a chosen ink run at least ``NEEDLE_MM`` tall over at most ``NEEDLE_WIDTH_MM`` of
columns, with flat columns (runs under ``NEEDLE_FOOT_MM``) on both sides. ecg00005 of the real
images (a dark grid photographed on grey paper) was read as a 6x2 page whose paths climbed the
vertical grid lines, with no warning.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_path
from tools.digitize import DigitizeConfig, digitize
from tools.digitize.tracing import (
    NEEDLE_FOOT_MM,
    NEEDLE_MM,
    NEEDLE_WIDTH_MM,
    RowTrace,
    needle_columns,
)
from tools.errors import DigitizationError

PX_PER_MM = 10.0


def _trace(heights_px: np.ndarray) -> RowTrace:
    """A row whose column k (x = k px) holds one run ``heights_px[k]`` tall, hanging from y = 0."""
    x = np.arange(heights_px.size, dtype=float)
    top, bottom = np.zeros_like(x), heights_px.astype(float) - 1.0
    return RowTrace(x_px=x, y_px=0.5 * bottom, top_px=top, bottom_px=bottom, jump=np.zeros(x.size, bool),
                    path_x_px=x, path_y_px=0.5 * bottom, spike_x_px=np.empty(0))


def test_needles_are_tall_narrow_and_stand_on_flat_columns_exactly() -> None:
    tall = NEEDLE_MM * PX_PER_MM
    widest = int(NEEDLE_WIDTH_MM * PX_PER_MM)  # 3 columns at 10 px/mm
    foot = NEEDLE_FOOT_MM * PX_PER_MM
    heights = np.full(80, 2.0)
    heights[5] = tall                       # one column, exactly NEEDLE_MM: a needle
    heights[15] = tall - 1                  # 1 px short: not a needle
    heights[25:25 + widest] = tall * 3      # as wide as allowed: a needle, counted once
    heights[40:40 + widest + 1] = tall * 3  # one column wider: not a needle
    heights[54:57] = (foot, tall * 3, 2.0)  # a stroke column beside it: part of a QRS, not a needle
    heights[64:67] = (foot - 1, tall * 3, foot - 1)  # flat on both sides, just under the foot: a needle
    heights[79] = tall * 3                  # at the row's end: its far side is unknown
    flags = needle_columns(_trace(heights), PX_PER_MM, PX_PER_MM)
    assert np.flatnonzero(flags).tolist() == [5, 25, 65]


def test_a_flat_trace_has_no_needle() -> None:
    assert not needle_columns(_trace(np.full(50, 2.0)), PX_PER_MM, PX_PER_MM).any()


def test_rendered_page_keeps_every_lead() -> None:
    # A clean 200-DPI render: its only needles are the pulse edges (10 mm), before the signal.
    from tools.render import RenderConfig, render
    from tools.simulate import SimulationConfig, simulate

    recording = simulate(SimulationConfig(fs_hz=500, seed=3)).recording
    result = digitize(render(recording, RenderConfig()).image, DigitizeConfig())
    assert not [w for w in result.warnings if "narrow vertical lines" in w]
    assert min(result.lead_confidence.values()) >= 0.9


def test_dark_grid_photo_traced_along_grid_lines_is_refused_with_the_reason() -> None:
    image = shared_path("images", "real", "ecg00005.jpg")
    with pytest.raises(DigitizationError, match="narrow vertical lines"):
        digitize(image, DigitizeConfig())


def test_one_sample_spikes_are_read_one_sample_wide_at_full_height() -> None:
    # LUDB's pacing artefacts: one sample 0.7 mV above the ECG. Drawn with a 2-px line their
    # strokes overlap completely; read as a centroid bump they came back ~7 samples wide at half
    # height (eik 74: 9.4 dB augmented, 11.1 dB clean).
    from tools.render import RenderConfig, render
    from tools.simulate import SimulationConfig, simulate

    base = simulate(SimulationConfig(fs_hz=500, seed=3)).recording
    signal = base.signal_mv.copy()
    spikes = np.arange(150, base.n_samples - 100, 97)
    # Only where the ECG is flat around the spike (not on a QRS) and away from column borders.
    ii = base.lead("II")
    flat = [k for k in spikes if np.ptp(np.r_[ii[k - 10:k], ii[k + 1:k + 11]]) < 0.05 and 40 < k % 1250 < 1210]
    assert len(flat) >= 5
    signal[flat, :] += 0.7
    page = render(base.with_signal(signal), RenderConfig())
    estimate = digitize(page.image, DigitizeConfig()).recording.lead("II")
    truth = page.masked.lead("II")
    for k in flat:
        error = estimate[k - 6:k + 7] - truth[k - 6:k + 7]
        assert np.nanmax(estimate[k - 1:k + 2] - truth[k - 1:k + 2] + 0.7) >= 0.45, (k, error)
        assert np.all(np.abs(np.r_[error[:3], error[-3:]]) < 0.1), (k, error)  # flat 4-6 samples off
