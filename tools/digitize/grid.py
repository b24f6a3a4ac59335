"""The printed grid: rotation of its two line families and its sub-pixel pitch.

Rotation: the image is cut into horizontal strips whose column profiles are summed after a
Fourier phase shift of ``y * tan(angle)``; the angle that concentrates the most power at the
grid's frequencies is the tilt of the vertical lines (and likewise for the horizontal lines).
Pitch: the power spectrum of the deskewed profile, zero-padded 8x, gives the line period with
parabolic peak interpolation (≈0.05 % at 200 DPI); the 1-mm/5-mm ambiguity is settled by the
major-line harmonics and, when the grid is uniform, by the page size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GridPitch", "estimate_tilt_deg", "estimate_pitch", "estimate_keystone"]

MIN_PERIOD_PX = 2.2     # below this a grid line cannot be resolved
MAX_PERIOD_PX = 150.0   # a 5-mm square at 760 DPI
STRIP_PX = 16
# Relative spectral power that counts as a visible line family.
EVIDENCE = 0.03


def _strip_spectra(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row strips' column-profile spectra (n_strips, n_freq), strip centres (px) and frequencies."""
    n_strips = image.shape[0] // STRIP_PX
    strips = image[: n_strips * STRIP_PX].reshape(n_strips, STRIP_PX, -1).mean(axis=1)
    strips = strips - strips.mean(axis=1, keepdims=True)
    spectra = np.fft.rfft(strips, axis=1)
    centres = (np.arange(n_strips) + 0.5) * STRIP_PX
    return spectra, centres - centres.mean(), np.fft.rfftfreq(strips.shape[1])


def estimate_tilt_deg(grid: np.ndarray, max_deg: float) -> tuple[float, float]:
    """Tilt of the vertical grid lines in degrees (x grows with y for positive angles).

    Parameters
    ----------
    grid : (H, W) float grid darkness.
    max_deg : search range ±max_deg.

    Returns
    -------
    angle_deg, sharpness : the angle and the fraction of band power it gathers (0-1; near 0 means
    no line family was found).
    """
    spectra, centres, freqs = _strip_spectra(grid)
    if spectra.shape[0] < 4:
        return 0.0, 0.0
    band = (freqs > 1 / MAX_PERIOD_PX) & (freqs < 1 / MIN_PERIOD_PX)
    power = (np.abs(spectra[:, band]) ** 2).sum(axis=0)
    keep = np.argsort(power)[-32:]  # the grid's strongest frequencies carry the angle
    sub, f = spectra[:, band][:, keep], freqs[band][keep]

    def score(angles_deg: np.ndarray) -> np.ndarray:
        shift = np.tan(np.radians(angles_deg))[:, None, None] * centres[None, :, None]
        phase = np.exp(2j * np.pi * f[None, None, :] * shift)
        return (np.abs((sub[None] * phase).sum(axis=1)) ** 2).sum(axis=1)

    coarse = np.arange(-max_deg, max_deg + 1e-9, 0.25)
    best = coarse[np.argmax(score(coarse))]
    fine = np.arange(best - 0.3, best + 0.3, 0.01)
    values = score(fine)
    total = float((np.abs(sub) ** 2).sum() * sub.shape[0])
    return float(fine[np.argmax(values)]), float(values.max() / total) if total > 0 else 0.0


@dataclass(frozen=True)
class GridPitch:
    """Line periods of one grid axis.

    minor_px : 1-mm period in px (NaN when no grid was found).
    evidence : relative spectral power of the grid peak against the profile's band power (0-1).
    major_seen : True when 5-mm lines were told apart from 1-mm lines.
    """

    minor_px: float
    evidence: float
    major_seen: bool


def _spectrum(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(profile)
    width = max(3, int(MAX_PERIOD_PX) | 1)
    trend = np.convolve(profile, np.ones(width) / width, mode="same")
    windowed = (profile - trend) * np.hanning(n)
    size = 8 * n
    power = np.abs(np.fft.rfft(windowed, size)) ** 2
    freqs = np.fft.rfftfreq(size)
    power[(freqs < 1 / MAX_PERIOD_PX) | (freqs > 1 / MIN_PERIOD_PX)] = 0.0
    return freqs, power


def _peak_freq(freqs: np.ndarray, power: np.ndarray, near: float, rel_width: float = 0.03) -> tuple[float, float]:
    """Frequency (parabolically interpolated) and power of the largest peak within ±rel_width of ``near``."""
    lo, hi = np.searchsorted(freqs, [near * (1 - rel_width), near * (1 + rel_width)])
    centre = int(np.searchsorted(freqs, near))
    lo, hi = max(0, min(lo, centre - 2)), min(len(freqs), max(hi, centre + 3))
    i = lo + int(np.argmax(power[lo:hi]))
    if 0 < i < len(power) - 1 and power[i] > 0:
        a, b, c = np.log(power[i - 1:i + 2] + 1e-30)
        denom = a - 2 * b + c
        delta = 0.5 * (a - c) / denom if denom < 0 else 0.0
        return float(freqs[i] + delta * (freqs[1] - freqs[0])), float(power[i])
    return float(freqs[i]), float(power[i])


def estimate_pitch(profile: np.ndarray, page_extent_px: int) -> GridPitch:
    """Grid pitch of one axis from its darkness profile.

    Parameters
    ----------
    profile : (n,) mean grid darkness per column (for x) or per row (for y) of the deskewed image.
    page_extent_px : the image size along that axis, used only when the grid is uniform to
        decide whether its period is 1 mm or 5 mm (a page is 100-450 mm).
    """
    freqs, power = _spectrum(np.asarray(profile, float))
    total = power.sum()
    if total <= 0:
        return GridPitch(float("nan"), 0.0, False)
    f_top, p_top = _peak_freq(freqs, power, float(freqs[np.argmax(power)]), 0.002)
    evidence = p_top / total
    # Hypothesis A: the top peak is the 1-mm line, 5-mm lines show as its 1/5 sub-harmonics.
    e_minor = max(_peak_freq(freqs, power, f_top * k / 5)[1] for k in range(1, 5)) / p_top
    # Hypothesis B: the top peak is the 5-mm line and the 1-mm lines show at 5x its frequency.
    e_major = _peak_freq(freqs, power, f_top * 5)[1] / p_top if f_top * 5 < 1 / MIN_PERIOD_PX else 0.0
    if e_major >= EVIDENCE and e_major > e_minor:
        f_minor, p_minor = _peak_freq(freqs, power, f_top * 5, 0.01)
        return GridPitch(1.0 / f_minor, evidence, True)
    if e_minor >= EVIDENCE:
        return GridPitch(1.0 / f_top, evidence, True)
    period = 1.0 / f_top
    extent_mm = page_extent_px / period
    return GridPitch(period if 60 <= extent_mm <= 450 else period / 5, evidence, False)


def _line_through(x_px: float, y_px: float, dx: float, dy: float) -> np.ndarray:
    """Homogeneous line through (x, y) with direction (dx, dy)."""
    return np.cross([x_px, y_px, 1.0], [x_px + dx, y_px + dy, 1.0])


def estimate_keystone(grid: np.ndarray, max_deg: float) -> tuple[np.ndarray, float]:
    """Projective rectification that makes each grid line family parallel again.

    The tilt of the vertical lines is measured in the left and right thirds of the image, that of
    the horizontal lines in the top and bottom thirds; each pair meets at its family's vanishing
    point, and the homography sending the line through both vanishing points to infinity (the
    centre kept in place, its scale kept) undoes the keystone of a photographed page.

    Parameters
    ----------
    grid : (H, W) grid darkness.

    Returns
    -------
    homography : (3, 3) mapping image (x, y, 1) to rectified coordinates (identity when the
        families are already parallel within 0.15 degrees).
    convergence_deg : the larger tilt difference within one family, degrees.
    """
    height, width = grid.shape
    third_w, third_h = width // 3, height // 3
    left, _ = estimate_tilt_deg(grid[:, :third_w], max_deg)
    right, _ = estimate_tilt_deg(grid[:, -third_w:], max_deg)
    top, _ = estimate_tilt_deg(grid[:third_h].T, max_deg)
    bottom, _ = estimate_tilt_deg(grid[-third_h:].T, max_deg)
    convergence = max(abs(left - right), abs(top - bottom))
    if convergence < 0.15:
        return np.eye(3), convergence
    xl, xr, yc = third_w / 2, width - third_w / 2, height / 2
    yt, yb, xc = third_h / 2, height - third_h / 2, width / 2
    vertical = np.cross(_line_through(xl, yc, np.tan(np.radians(left)), 1.0),
                        _line_through(xr, yc, np.tan(np.radians(right)), 1.0))
    horizontal = np.cross(_line_through(xc, yt, 1.0, np.tan(np.radians(top))),
                          _line_through(xc, yb, 1.0, np.tan(np.radians(bottom))))
    horizon = np.cross(vertical, horizontal)
    if abs(horizon[2]) < 1e-12:
        return np.eye(3), convergence
    horizon = horizon / horizon[2]
    warp = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], horizon])
    # Keep the image centre where it is and its local scale.
    centre = warp @ np.array([xc, yc, 1.0])
    scale = centre[2]
    shift = np.array([[scale, 0.0, xc - scale * centre[0] / centre[2]],
                      [0.0, scale, yc - scale * centre[1] / centre[2]], [0.0, 0.0, 1.0]])
    return shift @ warp, convergence
