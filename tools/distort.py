"""Distort a rendered page like a scan or a phone photo, and move its ground truth with it.

Every distortion is off by default and has one strength parameter; the random parts (which way a
crease runs, where a scribble goes...) come from ``seed``. Geometric distortions (rotation,
perspective, crop) are composed into one 3×3 homography that warps the image once and maps every
stored pixel coordinate (plotted pixels, lead and calibration boxes) the same way; the other
distortions change pixel values only. Order of application:

scribbles → wrinkles and creases (on the paper) → rotation, perspective, crop (the camera) →
uneven lighting → colour temperature → blur → noise → JPEG.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
from pydantic import Field

from tools.config import FrozenConfig
from tools.render import AppliedDistortion, LeadTruth, Page, PageTruth

__all__ = ["DistortionConfig", "distort", "map_points"]

_PAPER_WHITE = (255, 255, 255)  # what shows where the warped page no longer covers the image


class DistortionConfig(FrozenConfig):
    """Which distortions to apply and how strongly; ``None`` (the default) leaves one out.

    Attributes
    ----------
    rotation_deg : rotation about the page centre in degrees, counter-clockwise (-45..45).
    perspective : phone-photo keystone: each page corner moves inward by up to this fraction of
        the page size (0..0.3).
    crop : fraction of the width and of the height cut away, split at random (in whole pixels)
        between the two opposite edges (0..0.5).
    noise_sigma : standard deviation of additive Gaussian noise in grey levels of 0..255 (0..100),
        the same field added to R, G and B (luminance noise).
    blur_sigma_px : Gaussian blur standard deviation in px (0..10).
    jpeg_quality : re-encode as JPEG at this quality (1..100).
    temperature_k : colour temperature of the light in K (1500..15000; 6500 is neutral,
        lower is warmer/yellower, higher cooler/bluer).
    lighting : uneven lighting strength (0..1): a gradient and a vignette that darken by up to
        this fraction.
    wrinkles : paper wrinkles and 1-4 creases, strength 0..1.
    scribbles : number of handwriting-like pen scribbles (0..50).

    Raises
    ------
    InputError
        On an out-of-range value (the message names the field and the limit).
    """

    rotation_deg: float | None = Field(None, ge=-45.0, le=45.0)
    perspective: float | None = Field(None, ge=0.0, le=0.3)
    crop: float | None = Field(None, ge=0.0, le=0.5)
    noise_sigma: float | None = Field(None, ge=0.0, le=100.0)
    blur_sigma_px: float | None = Field(None, ge=0.0, le=10.0)
    jpeg_quality: int | None = Field(None, ge=1, le=100)
    temperature_k: float | None = Field(None, ge=1500.0, le=15000.0)
    lighting: float | None = Field(None, ge=0.0, le=1.0)
    wrinkles: float | None = Field(None, ge=0.0, le=1.0)
    scribbles: int | None = Field(None, ge=0, le=50)


def distort(page: Page, config: DistortionConfig, seed: int) -> Page:
    """Apply ``config``'s distortions to ``page``; deterministic for a given ``seed``.

    Parameters
    ----------
    page : Page
        A rendered (clean or already distorted) page.
    config : DistortionConfig
        The distortions and their strengths.
    seed : int
        Seed of every random choice.

    Returns
    -------
    Page
        The new image (its size shrinks with ``crop``), the truth with every pixel coordinate
        mapped through the geometric warp, ``homography`` composed with the page's previous one,
        and the applied distortions listed with their parameters and the seed. ``masked`` is
        the same recording: distortions move ink, not the signal.
    """
    rng = np.random.default_rng(seed)
    image = np.array(page.image, dtype=np.uint8)  # a private, writable copy
    applied: list[AppliedDistortion] = []
    if config.scribbles:
        _scribble(image, config.scribbles, rng)
        applied.append(AppliedDistortion(name="scribbles", params={"count": config.scribbles}))
    if config.wrinkles:
        image = _shade(image, _wrinkle_shading(image.shape[:2], config.wrinkles, rng))
        applied.append(AppliedDistortion(name="wrinkles", params={"strength": config.wrinkles}))
    homography, size, geometry = _geometry(image.shape[:2], config, rng)
    if geometry:
        image = _warp(image, homography, size)
        applied.extend(geometry)
    image, photometric = _photometric(image, config, rng)
    applied.extend(photometric)
    truth = _moved_truth(page.truth, homography, image.shape[:2], applied, seed)
    image.flags.writeable = False
    return replace(page, image=image, truth=truth)


def map_points(points: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Map (n, 2) [row, col] points through a 3×3 homography acting on (col, row, 1); NaN stays NaN."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    xy1 = np.column_stack([points[:, 1], points[:, 0], np.ones(len(points))])
    mapped = xy1 @ np.asarray(homography, dtype=np.float64).T
    return np.column_stack([mapped[:, 1] / mapped[:, 2], mapped[:, 0] / mapped[:, 2]])


# ---- geometry ----------------------------------------------------------------------------------
def _warp(image: np.ndarray, homography: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resample ``image`` through ``homography`` into a (w, h) = ``size`` image.

    A whole-pixel translation (a crop alone) is a slice, an affine map goes through warpAffine
    (no per-pixel division): both give the same pixels as warpPerspective, faster.
    """
    border = dict(borderMode=cv2.BORDER_CONSTANT, borderValue=_PAPER_WHITE)
    if np.allclose(homography[:2, :2], np.eye(2)) and np.allclose(homography[2], [0, 0, 1]) \
            and np.allclose(homography[:2, 2], np.round(homography[:2, 2])):
        left, top = (-int(round(v)) for v in homography[:2, 2])
        if left >= 0 and top >= 0:
            return image[top:top + size[1], left:left + size[0]].copy()
    if np.allclose(homography[2], [0, 0, 1]):
        return cv2.warpAffine(image, homography[:2], size, flags=cv2.INTER_LINEAR, **border)
    return cv2.warpPerspective(image, homography, size, flags=cv2.INTER_LINEAR, **border)


def _geometry(shape: tuple[int, int], config: DistortionConfig,
              rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int], list[AppliedDistortion]]:
    """Rotation, then perspective, then crop as one homography on (col, row); output (w, h)."""
    height, width = shape
    homography = np.eye(3)
    applied = []
    if config.rotation_deg:
        rotation = np.vstack([cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2),
                                                      config.rotation_deg, 1.0), [0, 0, 1]])
        homography = rotation @ homography
        applied.append(AppliedDistortion(name="rotation", params={"deg": config.rotation_deg}))
    if config.perspective:
        corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
        inward = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float32)
        moves = rng.uniform(0, config.perspective, size=(4, 2)) * np.array([width, height])
        target = (corners + inward * moves).astype(np.float32)
        homography = cv2.getPerspectiveTransform(corners, target) @ homography
        applied.append(AppliedDistortion(name="perspective", params={"strength": config.perspective,
                                                                      "corners_px": target.round(2).tolist()}))
    size = (width, height)
    if config.crop:
        cut_x, cut_y = config.crop * width, config.crop * height
        left, top = float(np.floor(rng.uniform(0, cut_x))), float(np.floor(rng.uniform(0, cut_y)))
        homography = np.array([[1, 0, -left], [0, 1, -top], [0, 0, 1]]) @ homography
        size = (max(1, int(round(width - cut_x))), max(1, int(round(height - cut_y))))
        applied.append(AppliedDistortion(name="crop", params={"fraction": config.crop,
                                                               "left_px": round(left, 2), "top_px": round(top, 2)}))
    return homography, size, applied


def _moved_truth(truth: PageTruth, homography: np.ndarray, shape: tuple[int, int],
                 applied: list[AppliedDistortion], seed: int) -> PageTruth:
    leads = tuple(_moved_lead(lead, homography) for lead in truth.leads)
    composed = None
    if truth.homography is not None:  # unknown stays unknown (e.g. an ecg-image-kit page)
        composed = homography @ np.asarray(truth.homography)
        composed = (composed / composed[2, 2]).tolist()
    return truth.model_copy(update={
        "leads": leads, "width_px": shape[1], "height_px": shape[0], "homography": composed,
        "distortions": truth.distortions + tuple(applied), "distortion_seed": seed})


def _moved_lead(lead: LeadTruth, homography: np.ndarray) -> LeadTruth:
    update = {"plotted_pixels": map_points(lead.plotted_pixels, homography),
              "bounding_box": map_points(lead.bounding_box, homography)}
    if lead.calibration_box is not None:
        update["calibration_box"] = map_points(lead.calibration_box, homography)
    return lead.model_copy(update=update)


# ---- paper -------------------------------------------------------------------------------------
def _scribble(image: np.ndarray, count: int, rng: np.random.Generator) -> None:
    """Draw ``count`` cursive-like pen words: loops of random height (some ascenders) and width
    on a slanted, wobbling baseline, in blue or black ink."""
    height, width = image.shape[:2]
    scale = height / 1700  # sizes below are for a 200-DPI page
    for _ in range(count):
        n_letters = int(rng.integers(3, 10))
        letter_heights = rng.uniform(6, 14, n_letters) * scale
        letter_heights[rng.random(n_letters) < 0.25] *= 2.2  # l, h, k, d ...
        letter_widths = rng.uniform(7, 14, n_letters) * scale
        t = np.linspace(0, n_letters, 24 * n_letters, endpoint=False)
        letter = t.astype(int)
        phase = 2 * np.pi * (t - letter)
        advance = np.concatenate([[0], np.cumsum(letter_widths)[:-1]])[letter] + (t - letter) * letter_widths[letter]
        x = advance - 0.35 * letter_widths[letter] * np.sin(phase)
        y = -letter_heights[letter] * 0.5 * (1 - np.cos(phase))
        y += np.cumsum(rng.normal(0, 0.15 * scale, len(t)))
        slant, angle = rng.uniform(0.1, 0.4), rng.uniform(-0.25, 0.25)
        x = x - slant * y
        xs = np.cos(angle) * x - np.sin(angle) * y + rng.uniform(0, width)
        ys = np.sin(angle) * x + np.cos(angle) * y + rng.uniform(0, height)
        colour = tuple(int(c) for c in rng.choice([(20, 30, 140), (15, 15, 15), (30, 60, 160)]))
        points = np.round(np.column_stack([xs, ys]) * 16).astype(np.int32)
        cv2.polylines(image, [points], False, colour, max(1, int(round(rng.uniform(1, 2.5) * scale))),
                      cv2.LINE_AA, 4)


def _wrinkle_shading(shape: tuple[int, int], strength: float, rng: np.random.Generator) -> np.ndarray:
    """(H/4, W/4) float32 multiplicative shading: soft wrinkles plus 1-4 creases (about 1 mm wide
    at 200 DPI once upsampled to the page)."""
    height, width = shape
    small = (max(2, width // 4), max(2, height // 4))  # (w, h)
    texture = rng.standard_normal((max(2, height // 16), max(2, width // 16))).astype(np.float32)
    texture = cv2.resize(cv2.GaussianBlur(texture, (0, 0), 2), small, interpolation=cv2.INTER_LINEAR)
    texture /= max(float(np.abs(texture).max()), 1e-6)
    creases = np.zeros((small[1], small[0]), np.float32)
    for _ in range(int(rng.integers(1, 5))):
        vertical = rng.random() < 0.5
        across, along = (small[0], small[1]) if vertical else (small[1], small[0])
        at, tilt = rng.uniform(0.15, 0.85) * across, rng.uniform(-0.05, 0.05) * along
        ends = ((at, 0), (at + tilt, along)) if vertical else ((0, at), (along, at + tilt))
        start, end = (tuple(int(round(v * 16)) for v in e) for e in ends)
        cv2.line(creases, start, end, 1.0, 1, cv2.LINE_AA, 4)
    return 1.0 + 0.12 * strength * texture - 0.35 * strength * cv2.GaussianBlur(creases, (0, 0), 0.7)


def _shade(image: np.ndarray, shading: np.ndarray, gains: np.ndarray = np.ones(3)) -> np.ndarray:
    """``image * shading * gains``, saturated to uint8; ``shading`` is a low-resolution (h, w) map
    that is upsampled (bilinear) to the image in the same pass as the channel gains."""
    planes = cv2.merge([(shading * gain).astype(np.float32) for gain in gains])
    full = cv2.resize(planes, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return cv2.multiply(image, full, dtype=cv2.CV_8U)


def _photometric(image: np.ndarray, config: DistortionConfig,
                 rng: np.random.Generator) -> tuple[np.ndarray, list[AppliedDistortion]]:
    applied = []
    gains = np.ones(3)
    if config.temperature_k is not None:
        gains = _white_rgb(config.temperature_k) / _white_rgb(6500.0)
        gains /= gains.max()
    if config.lighting:  # lighting and temperature share one multiply
        image = _shade(image, _lighting(config.lighting, rng), gains)
        applied.append(AppliedDistortion(name="lighting", params={"strength": config.lighting}))
    elif config.temperature_k is not None:
        levels = np.arange(256, dtype=np.float64)[:, None] * gains
        image = cv2.LUT(image, np.round(levels).astype(np.uint8).reshape(256, 1, 3))
    if config.temperature_k is not None:
        applied.append(AppliedDistortion(name="temperature", params={"kelvin": config.temperature_k}))
    if config.blur_sigma_px:
        image = cv2.GaussianBlur(image, (0, 0), config.blur_sigma_px)
        applied.append(AppliedDistortion(name="blur", params={"sigma_px": config.blur_sigma_px}))
    if config.noise_sigma:
        # luminance noise (one field for R, G and B): a third of the cost of independent channels
        noise = np.empty(image.shape[:2], np.int16)
        cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
        cv2.randn(noise, 0, config.noise_sigma)
        image = cv2.add(image, cv2.merge([noise] * 3), dtype=cv2.CV_8U)
        applied.append(AppliedDistortion(name="noise", params={"sigma": config.noise_sigma}))
    if config.jpeg_quality is not None:
        # OpenCV's codec takes BGR: swap so chroma subsampling sees the true colours
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        _, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])
        image = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        applied.append(AppliedDistortion(name="jpeg", params={"quality": config.jpeg_quality}))
    return image, applied


def _lighting(strength: float, rng: np.random.Generator) -> np.ndarray:
    """(64, 64) float32 map in [1 - strength, 1] over the image: a linear gradient in a random
    direction and a vignette about a random centre."""
    rows, cols = np.mgrid[0:1:complex(0, 64), 0:1:complex(0, 64)].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = (np.cos(angle) * (cols - 0.5) + np.sin(angle) * (rows - 0.5)) / np.sqrt(0.5) + 0.5
    centre = rng.uniform(0.3, 0.7, size=2)
    vignette = np.clip(np.hypot(rows - centre[0], cols - centre[1]) / 0.8, 0, 1) ** 2
    return 1.0 - strength * np.clip(0.6 * gradient + 0.4 * vignette, 0, 1)


def _white_rgb(kelvin: float) -> np.ndarray:
    """Approximate sRGB colour of a black body at ``kelvin`` (Tanner Helland's fit), 0..255."""
    t = kelvin / 100.0
    red = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    green = 99.4708025861 * np.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    blue = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * np.log(t - 10) - 305.0447927307)
    return np.clip(np.array([red, green, blue], dtype=np.float64), 1.0, 255.0)
