"""Calibration: px per mm from the grid, px per mV and px per s, cross-checked by the 1-mV pulse.

The pulse (a 1-mV rectangle at the start of a row) is found on the traced row as two tall
vertical strokes joined by a flat top. Its height, over the grid scale, gives the gain (5, 10 or
20 mm/mV); its width gives the paper speed (a 0.2-s pulse is 5 mm at 25 mm/s, 10 mm at 50 mm/s).
Without a grid the pulse alone sets the scales; without either, the page is assumed to be
ecg-image-kit's 11-inch-wide letter page, and a warning says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tools.digitize.config import DigitizeConfig
from tools.digitize.result import Calibration
from tools.digitize.tracing import column_runs

__all__ = ["Pulse", "find_pulse", "calibrate"]

PULSE_S = 0.2
# Both edges of the pulse are drawn 1.5 samples of a 500-Hz record inside its 0.2 s (ecg-image-kit
# steps 0 -> 1 mV between its 2nd and 3rd samples, and back after the 101st), so the falling
# edge's centre lies 3 ms, 1.5 % of the edge-to-edge width, after the signal's first sample.
EDGE_LAG_FRACTION = 0.003 / PULSE_S
# Vertical gaps of up to this many pixels in a pulse's edge are bridged.
GAP_PX = 3
STANDARD_GAINS_MM_MV = (5.0, 10.0, 20.0)
STANDARD_SPEEDS_MM_S = (25.0, 50.0)
LETTER_WIDTH_MM = 279.4
AGREEMENT = 0.05


@dataclass(frozen=True)
class Pulse:
    """A calibration pulse: height and width (px, between the edges' centres), the sub-pixel
    column where the signal begins and the row (px) of its foot, the 0-mV level."""

    height_px: float
    width_px: float
    end_x_px: float
    foot_y_px: float


def find_pulse(mask: np.ndarray, weight: np.ndarray, baseline_px: float, start_x_px: int, px_per_mm: float,
               line_px: float) -> Pulse | None:
    """The calibration pulse at the start of a row, read from the ink mask, or None.

    From 15 mm before to 40 mm after ``start_x_px`` (where the row's ink near its baseline
    begins: a wide pulse's rising edge can stand apart from it), and from 22 mm above to 3 mm
    below ``baseline_px``, looks for two vertical strokes 4.5-25 mm tall (a 5-mm/mV pulse is 5 mm), 2-13 mm apart, with the
    same top and a horizontal stroke joining their tops. Each edge's column is the median over
    its middle rows of the darkness-weighted centre (``weight``, (H, W) ink darkness) of its ink;
    the signal starts ``EDGE_LAG_FRACTION`` of the pulse width before the falling edge. A
    sub-pixel start matters: 0.2 px (half a sample at 200 DPI) costs ≈2 dB on steep QRS strokes.
    """
    y0 = max(0, int(baseline_px - 22 * px_per_mm))
    y1 = min(mask.shape[0], int(baseline_px + 3 * px_per_mm))
    x0 = max(0, int(start_x_px - 15 * px_per_mm))
    x1 = min(mask.shape[1], int(start_x_px + 40 * px_per_mm))
    # A stroke standing on a dark grid line can lose single pixels to the raised ink threshold.
    window = cv2.morphologyEx(mask[y0:y1, x0:x1].astype(np.uint8), cv2.MORPH_CLOSE,
                              np.ones((GAP_PX + 2, 1), np.uint8))
    cols, tops, bots, _, _ = column_runs(window, window)
    height = bots - tops + 1 - line_px
    tall = (height >= 4.5 * px_per_mm) & (height <= 25 * px_per_mm)
    if tall.sum() < 2:
        return None
    cols, tops, bots = cols[tall], tops[tall], bots[tall]
    groups = np.split(np.arange(cols.size), np.flatnonzero(np.diff(cols) > 2) + 1)
    for g1, g2 in zip(groups[:-1], groups[1:]):
        first, second = g1[np.argmax(bots[g1] - tops[g1])], g2[np.argmax(bots[g2] - tops[g2])]
        width = cols[g2[0]] - cols[g1[0]]
        if not 2 * px_per_mm <= width <= 13 * px_per_mm or abs(tops[first] - tops[second]) > line_px + 1:
            continue
        top = int(min(tops[first], tops[second]))
        bridge = mask[y0 + top:y0 + top + 2 * int(line_px) + 4, x0 + cols[g1[-1]] + 1:x0 + cols[g2[0]]]
        if bridge.size == 0 or bridge.any(axis=0).mean() < 0.8:
            continue
        # Pulses are often drawn thicker than traces: the top stroke's own thickness is what the
        # edge strokes overshoot the 1-mV height by.
        pulse_line_px = float(np.median(bridge.sum(axis=0)))
        h = 0.5 * ((bots[first] - tops[first]) + (bots[second] - tops[second])) + 1 - pulse_line_px
        foot = y0 + 0.5 * (bots[first] + bots[second]) - 0.5 * (pulse_line_px - 1)
        rows = (y0 + top + int(pulse_line_px) + 1, y0 + int(min(bots[first], bots[second]) - pulse_line_px))
        rise = _edge_x(mask, weight, (x0 + int(cols[g1[0]]) - 1, x0 + int(cols[g1[-1]]) + 2), rows)
        fall = _edge_x(mask, weight, (x0 + int(cols[g2[0]]) - 1, x0 + int(cols[g2[-1]]) + 2), rows)
        if rise is None or fall is None:
            rise, fall = float(x0 + cols[g1[0]]), float(x0 + cols[g2[0]])
        return Pulse(height_px=float(h), width_px=fall - rise,
                     end_x_px=fall - EDGE_LAG_FRACTION * (fall - rise), foot_y_px=float(foot))
    return None


def _edge_x(mask: np.ndarray, weight: np.ndarray, cols: tuple[int, int], rows: tuple[int, int]) -> float | None:
    """Sub-pixel column (px) of a vertical stroke within ``cols`` x ``rows`` (absolute, end
    exclusive): the median over rows of the darkness-weighted centre of each row's ink, one
    pixel beyond it included (anti-aliased edges). None when the rows hold no ink."""
    (c0, c1), (r0, r1) = (max(0, cols[0]), min(mask.shape[1], cols[1])), rows
    if r1 <= r0 or c1 <= c0:
        return None
    row_idx, _, _, centre, _ = column_runs(mask[r0:r1, c0:c1].T, weight[r0:r1, c0:c1].T)
    if row_idx.size == 0:
        return None
    return float(c0 + np.median(centre))


def _snap(value: float, choices: tuple[float, ...]) -> float | None:
    best = min(choices, key=lambda c: abs(value / c - 1))
    return best if abs(value / best - 1) <= 0.12 else None


def _arbitrate(candidates: tuple[float, ...], pulse_h: float | None, gain: float, width_px: int) -> float | None:
    """The grid pitch (px/mm) to trust when the two axes disagree, or None."""
    # A page is 80-500 mm wide: a pitch implying otherwise is not the 1-mm grid.
    plausible = [c for c in candidates if 80 <= width_px / c <= 500]
    if pulse_h is None:
        return plausible[0] if plausible else None
    agree = [c for c in plausible if abs(pulse_h / gain / c - 1) <= 0.15]
    return agree[0] if agree else None


def calibrate(mm_x: float | None, mm_y: float | None, pulses: list[Pulse], width_px: int,
              config: DigitizeConfig, candidates: tuple[float, ...] = ()) -> tuple[Calibration, list[str]]:
    """Combine the grid scale (px/mm, None when no grid) and the pulses into one Calibration.

    ``candidates`` are grid pitches (px/mm) of the two axes when they disagreed: the one that
    the pulse confirms (within 15 %, at the assumed gain) is used for both axes; without a
    pulse, the horizontal one if it is plausible (the time base matters most), else the
    vertical. Returns the calibration and warnings about fallbacks and disagreements.
    """
    warnings: list[str] = []
    gain, speed = config.gain_mm_mv, config.paper_speed_mm_s
    pulse_h = float(np.median([p.height_px for p in pulses])) if pulses else None
    pulse_w = float(np.median([p.width_px for p in pulses])) if pulses else None
    if candidates and mm_x is None:
        pick = _arbitrate(candidates, pulse_h, gain, width_px)
        if pick is not None:
            mm_x = mm_y = pick
            warnings.append(f"grid pitches of the two axes disagree; used {pick:.2f} px/mm for both "
                            f"({'confirmed by the pulse' if pulse_h is not None else 'the first plausible one, x before y'})")
    if mm_x is not None and mm_y is not None:
        method = "grid"
    elif pulse_h is not None:
        method = "pulse"
        mm_y = pulse_h / gain
        mm_x = mm_y
        warnings.append("no grid found: scales taken from the calibration pulse (assumed 1 mV, "
                        f"{gain:g} mm/mV)")
    else:
        method = "page_size"
        mm_x = mm_y = width_px / LETTER_WIDTH_MM
        warnings.append("no grid and no calibration pulse: scale assumed from an 11-inch page width; "
                        "amplitudes and times are approximate")
    ratio = None
    if pulse_h is not None and method == "grid":
        measured_gain = pulse_h / mm_y
        snapped = _snap(measured_gain, STANDARD_GAINS_MM_MV)
        if snapped is None:
            warnings.append(f"calibration pulse is {measured_gain:.1f} mm tall, not a standard gain; "
                            f"kept {gain:g} mm/mV")
        else:
            gain = snapped
        ratio = pulse_h / (gain * mm_y)
        width_mm = pulse_w / mm_x
        speed_guess = _snap(width_mm / PULSE_S, STANDARD_SPEEDS_MM_S)
        if speed_guess is not None:
            speed = speed_guess
    xy_ratio = mm_x / mm_y
    consistent = abs(xy_ratio - 1) <= AGREEMENT and (ratio is None or abs(ratio - 1) <= AGREEMENT)
    if not consistent:
        warnings.append(f"calibration checks disagree: x/y scale ratio {xy_ratio:.3f}, "
                        f"pulse/grid ratio {ratio if ratio is None else round(ratio, 3)}")
    return Calibration(px_per_mm_x=mm_x, px_per_mm_y=mm_y, px_per_mv=gain * mm_y, px_per_s=speed * mm_x,
                       paper_speed_mm_s=speed, gain_mm_mv=gain, method=method, pulse_px_per_mv=pulse_h,
                       pulse_vs_grid=ratio, xy_ratio=xy_ratio, consistent=consistent), warnings
