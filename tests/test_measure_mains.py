"""Mains interference (tools.measure.preprocess.mains_frequency and the notch in filter_leads):
found at 50 or 60 Hz, notched out before measuring, and never found on clean records."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_path
from tools.measure import MeasureConfig, measure
from tools.measure.preprocess import filter_leads, mains_frequency
from tools.record_io import read_record
from tools.simulate import sample_config, simulate

CONFIG = MeasureConfig()
FS = 500.0


def _with_mains(recording, hz: float, amplitude_mv: float):
    t_s = np.arange(recording.n_samples) / recording.fs_hz
    return recording.with_signal(recording.signal_mv + amplitude_mv * np.sin(2 * np.pi * hz * t_s + 0.3)[:, None])


@pytest.mark.parametrize("hz", [50.0, 60.0])
def test_mains_is_found_at_its_frequency(hz):
    clean = simulate(sample_config(0, fs_hz=FS)).recording
    assert mains_frequency(clean.signal_mv, FS) is None
    assert mains_frequency(_with_mains(clean, hz, 0.02).signal_mv, FS) == hz
    # a record sampled too slowly to show the line is not examined
    assert mains_frequency(_with_mains(clean, hz, 0.1).signal_mv[::5], FS / 5) is None


def test_notch_removes_the_line_and_its_harmonic():
    clean = simulate(sample_config(0, fs_hz=FS)).recording
    t_s = np.arange(clean.n_samples) / FS
    hum = 0.1 * np.sin(2 * np.pi * 50 * t_s) + 0.03 * np.sin(2 * np.pi * 100 * t_s)
    noisy = clean.signal_mv + hum[:, None]
    reference = filter_leads(clean.signal_mv, FS, 150.0, CONFIG, 50.0)
    residual = filter_leads(noisy, FS, 150.0, CONFIG, 50.0) - reference
    edge = int(2 * FS)  # the notch rings for ~1 s at the record's ends (Q = 30)
    assert np.sqrt(np.mean(residual[edge:-edge] ** 2)) < 0.002  # < 2 % of the 0.1-mV hum


@pytest.mark.parametrize(("seed", "hz"), [(0, 50.0), (3, 60.0), (7, 50.0)])
def test_a_record_with_mains_is_measured_like_the_clean_one(seed, hz):
    """0.1 mV of mains read as a 450-ms QRS before the notch. Now it is flagged and the intervals
    stay within 12 ms of the clean record's: the notch's own ringing costs up to ~11 ms at 50 Hz
    (docs/measurement.md, "Mains interference")."""
    sim = simulate(sample_config(seed, fs_hz=FS))
    clean = measure(sim.recording, CONFIG)
    result = measure(_with_mains(sim.recording, hz, 0.1), CONFIG)
    assert result.quality.mains_hz == hz and "mains_interference" in result.quality.flags
    assert clean.quality.mains_hz is None and result.rhythm.label == clean.rhythm.label
    for name in ("pr_ms", "qrs_ms", "qt_ms"):
        assert abs(getattr(result.global_, name) - getattr(clean.global_, name)) <= 12.0


def test_no_mains_found_on_ludb():
    """LUDB's strongest 50-Hz line stands 18.6x above its neighbourhood (record 34), under the 20x threshold."""
    root = shared_path("ludb", "data")
    found = [path.stem for path in sorted(root.glob("*.hea"))
             if mains_frequency(read_record(path).signal_mv, 500.0) is not None]
    assert found == []
