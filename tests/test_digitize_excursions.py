"""Wrong signal the digitizer must not accept silently: a path that leaves its trace across
paper and comes back (read NaN, with a warning), header text read as a row of trace, a panel's
start read on its printed lead label.

Synthetic masks give exact answers; real images and rendered pages check the failure each rule
was written for.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import shared_path
from tools.cli.bench_measure import SIM_LABELS
from tools.digitize import DigitizeConfig, digitize
from tools.digitize.assembly import row_signal_mv
from tools.digitize.result import Calibration
from tools.digitize.rows import find_rows
from tools.digitize.tracing import MAX_EXCURSION_MM, RowTrace, trace_row
from tools.recording import LEADS
from tools.render import RenderConfig, render
from tools.simulate import sample_config, simulate

PX_PER_MM = 5.0


def _calibration() -> Calibration:
    # 500 px/s at 500 Hz: one sample per column.
    return Calibration(px_per_mm_x=20.0, px_per_mm_y=10.0, px_per_mv=10.0, px_per_s=500.0,
                       paper_speed_mm_s=25.0, gain_mm_mv=1.0, method="grid", pulse_px_per_mv=None,
                       pulse_vs_grid=None, xy_ratio=1.0, consistent=True)


def _trace(mask: np.ndarray) -> RowTrace:
    # The band reaches the top of the mask, so ink there is a candidate (a neighbour's wave).
    trace = trace_row(mask, mask.astype(float), (5, 60), (0, mask.shape[0]), (0, mask.shape[1]), 50.0, 3.0,
                      PX_PER_MM)
    assert trace is not None
    return trace


def _flat_with_blob(blob_cols: slice, width: int = 80) -> np.ndarray:
    """(120, width) mask: a 3-px flat trace on row 50, missing in ``blob_cols``, where separate
    ink stands at rows 10-14 across paper from it."""
    mask = np.zeros((120, width), bool)
    mask[49:52] = True
    mask[:, blob_cols] = False
    mask[10:15, blob_cols] = True
    return mask


def test_a_path_that_leaves_its_trace_and_comes_back_reads_nan_there() -> None:
    trace = _trace(_flat_with_blob(slice(30, 31)))
    assert trace.jump.sum() == 2
    np.testing.assert_array_equal(trace.off_trace_x_px, [[29.0, 31.0]])
    signal = row_signal_mv(trace, 0.0, 50.0, _calibration(), 80, 500.0, 0.0)
    assert np.isnan(signal[30])
    np.testing.assert_allclose(np.delete(signal, 30), 0.0, atol=1e-9)
    # Without the rule the sample would read the other ink's centre, 38 px = 3.8 mV above the trace.
    kept = row_signal_mv(replace(trace, off_trace_x_px=np.empty((0, 2))), 0.0, 50.0, _calibration(), 80,
                         500.0, 0.0)
    assert kept[30] == pytest.approx(3.8)


def test_a_step_across_paper_without_return_is_no_excursion() -> None:
    mask = np.zeros((120, 80), bool)
    mask[49:52, :40] = True
    mask[19:22, 40:] = True
    trace = _trace(mask)
    assert trace.jump.sum() == 1
    assert trace.off_trace_x_px.shape == (0, 2)


def test_jumps_further_apart_than_the_excursion_limit_are_not_paired() -> None:
    wide = int(MAX_EXCURSION_MM * PX_PER_MM) + 2
    trace = _trace(_flat_with_blob(slice(10, 10 + wide), width=10 + wide + 20))
    assert trace.jump.sum() == 2
    assert trace.off_trace_x_px.shape == (0, 2)


def test_phone_photo_v3_no_longer_reads_the_row_above_as_a_spike() -> None:
    # ecg00035: at 5.85 s V3's path jumped ~97 px up to V2's S-wave tip and back (a false
    # 2-3 mV spike); that stretch is NaN with a warning, the rest of the lead is kept.
    result = digitize(shared_path("images", "real", "ecg00035.jpg"), DigitizeConfig())
    fs = result.recording.fs_hz
    v3 = result.recording.lead("V3")[int(5.0 * fs):int(7.5 * fs)]
    warned = [w for w in result.warnings if w.startswith("lead V3: the path left its trace")]
    assert len(warned) == 1 and "5.8" in warned[0]
    assert np.nanmax(v3) < 0.5
    assert np.isfinite(v3).mean() > 0.9


def test_header_text_above_the_rows_is_not_read_as_a_row() -> None:
    # ecg00025: four lines of header text over the right two thirds of the page, above three
    # rows of trace (3x4, no rhythm strip), were read as the first row of a 3x4+1 page, so every
    # lead was named one row too low.
    result = digitize(shared_path("images", "real", "ecg00025.jpg"), DigitizeConfig())
    assert result.layout.name == "3x4"
    first = {box.name: box for box in result.layout.leads}["I"]
    # Lead I's row is the first row of trace, ≈140 px down (the header ends at ≈70 px).
    assert 100 < 0.5 * (first.box_px[1] + first.box_px[3]) < 180
    assert sum(np.isfinite(result.recording.lead(lead)).any() for lead in result.recording.leads) == 12


def test_header_block_spanning_a_third_of_the_width_is_dropped_by_the_row_finder() -> None:
    # Three rows of trace (a sine line over the whole width) under a block of short strokes
    # (text) over a third of the width: the block is a candidate row, not a row of trace.
    px_per_mm = 4.0
    mask = np.zeros((400, 1000), bool)
    x = np.arange(20, 980)
    for base in (120, 220, 320):
        mask[(base + 6 * np.sin(x / 15.0)).astype(int), x] = True
    # Hollow letters (thin strokes, not a filled bar); the two lines' letters are staggered so
    # that some line has ink in every column, as in a dense header.
    for line, shift in ((20, 0), (34, 7)):
        for start in range(600 + shift, 950, 14):
            mask[line:line + 9, start:start + 9] = True
            mask[line + 1:line + 8, start + 1:start + 8] = False
    rows = find_rows(mask, px_per_mm)
    assert [round(row.baseline_px / 100) for row in rows] == [1, 2, 3]


def _render_edges(seed: int) -> tuple[np.ndarray, np.ndarray]:
    sim = simulate(sample_config(seed, fs_hz=500.0, labels=SIM_LABELS[seed % len(SIM_LABELS)]))
    page = render(sim.recording, RenderConfig())
    return digitize(page.image, DigitizeConfig()).recording.signal_mv, sim.recording.signal_mv


@pytest.mark.parametrize(("seed", "lead"), [(1, "V1"), (10, "V6"), (16, "V1")])
def test_a_panel_does_not_start_on_its_printed_label(seed: int, lead: str) -> None:
    # Default 3x4+1 renders with a QRS at the panel's start: the path read the lead label (darker
    # than the grey trace) or the separator for 20-60 ms, up to 2 mV off. Now its first traced
    # 60 ms follow the truth within 0.1 mV (or the stretch is NaN).
    digitized, truth = _render_edges(seed)
    k = LEADS.index(lead)
    finite = np.flatnonzero(np.isfinite(digitized[:, k]))
    first = finite[0]
    assert first > 100  # a short lead of a later column
    window = slice(first, first + 30)
    assert np.nanmax(np.abs(digitized[window, k] - truth[window, k])) < 0.1
