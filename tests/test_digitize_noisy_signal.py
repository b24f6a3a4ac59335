"""Noisy ECG signals (mains hum, muscle noise, baseline wander) printed on a clean page are still read."""

import numpy as np
import pytest

from tools.digitization_score import record_snr_db
from tools.digitize import DigitizeConfig, digitize
from tools.render import RenderConfig, render
from tools.simulate import sample_config, simulate


@pytest.mark.parametrize("seed", [300, 304, 306])
def test_a_noisy_trace_is_a_trace_not_a_filled_bar(seed):
    # These seeds carry 0.02-0.04 mV of muscle noise (a 1-mm wide band of ink at 200 DPI), some
    # with mains hum and electrode motion; a thickness-only rule took them for redaction bars.
    sim = simulate(sample_config(seed, fs_hz=500.0, noisy=True))
    assert sim.config.noise.emg_mv >= 0.02
    page = render(sim.recording, RenderConfig())
    result = digitize(page.image, DigitizeConfig())
    assert result.layout.name == "3x4+1"
    n = page.masked.n_samples
    signal = np.full((n, 12), np.nan)
    signal[: min(n, result.recording.n_samples)] = result.recording.signal_mv[:n]
    snr = record_snr_db(page.masked, result.recording.with_signal(signal))
    assert np.mean(list(snr.values())) >= 10.0, snr


def test_a_filled_bar_across_the_page_is_not_a_row():
    page = render(simulate(sample_config(5, fs_hz=500.0)).recording, RenderConfig())
    image = page.image.copy()
    height, width = image.shape[:2]
    # A 150 x 1.5 mm bar in 30-mm pieces (shorter than the 40-mm ruled lines the ink mask removes),
    # 2 mm apart: long and unbroken enough to pass for a row of trace on everything but its edge.
    px_per_mm, top = 200 / 25.4, int(0.2 * height)
    for k in range(5):
        left = int((40 + 32 * k) * px_per_mm)
        image[top:top + 12, left:left + int(30 * px_per_mm)] = 0
    result = digitize(image, DigitizeConfig())
    assert (result.layout.name, result.layout.n_rows) == ("3x4+1", 4)
