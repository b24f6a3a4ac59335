"""One ECG page image per record: a standard ecg-image-kit-style render, or an augmented one.

Standard pages are the clean default page (3x4 + lead II rhythm strip, red grid). Augmented pages
draw, from the page's own random generator, a grid colour, a layout, an optional printed header
and a set of scan/photo distortions (:mod:`tools.distort`), as ecg-image-kit's augmentation and
PULSE's training set did (about half of its images augmented).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from tools.distort import DistortionConfig, distort
from tools.errors import InputError
from tools.recording import Recording
from tools.render import RenderConfig, render

__all__ = ["PageImage", "draw_page"]

_GRIDS = ("red", "red", "pink", "blue", "green", "brown", "bw")
_LAYOUTS = ("3x4+1", "3x4+1", "3x4+1", "3x4+3", "6x2", "12x1")


@dataclass(frozen=True)
class PageImage:
    """Encoded image bytes, their file suffix, and how the page was drawn (for the record's metadata)."""

    data: bytes
    suffix: str
    augmented: bool
    details: dict[str, Any]


def _augmented_configs(rng: np.random.Generator, dpi: int) -> tuple[RenderConfig, DistortionConfig]:
    render_config = RenderConfig(dpi=dpi, grid_colour=str(rng.choice(_GRIDS)), layout=str(rng.choice(_LAYOUTS)),
                                 header_lines=("25 mm/s  10 mm/mV  12-lead ECG",) if rng.uniform() < 0.5 else ())
    picks: dict[str, Any] = {}

    def maybe(name: str, probability: float, value: float | int) -> None:
        if rng.uniform() < probability:
            picks[name] = value

    maybe("rotation_deg", 0.6, float(rng.uniform(-5.0, 5.0)))
    maybe("perspective", 0.2, float(rng.uniform(0.0, 0.06)))
    maybe("crop", 0.2, float(rng.uniform(0.0, 0.06)))
    maybe("noise_sigma", 0.5, float(rng.uniform(2.0, 12.0)))
    maybe("blur_sigma_px", 0.3, float(rng.uniform(0.3, 1.2)))
    maybe("temperature_k", 0.4, float(rng.uniform(3500.0, 9000.0)))
    maybe("lighting", 0.3, float(rng.uniform(0.1, 0.4)))
    maybe("wrinkles", 0.3, float(rng.uniform(0.2, 0.7)))
    maybe("scribbles", 0.2, int(rng.integers(1, 5)))
    return render_config, DistortionConfig(**picks)


def draw_page(recording: Recording, rng: np.random.Generator, *, augmented: bool, dpi: int,
              image_format: Literal["jpg", "png"], jpeg_quality: int = 90) -> PageImage:
    """Render ``recording`` (standard or augmented) and encode it.

    Parameters
    ----------
    recording : Recording
        The 12-lead signal (at least 10 s fills the page).
    rng : numpy.random.Generator
        The page's own generator (augmentation draws and the distortion seed).
    augmented : bool
        Draw grid, layout, header and distortions at random; otherwise the standard clean page.
    dpi : int
        Resolution in dots per inch (200 is ecg-image-kit's default; 100 renders 4x fewer pixels).
    image_format : {"jpg", "png"}
    jpeg_quality : int
        JPEG quality (1-100).

    Raises
    ------
    InputError
        On an unknown image format or an invalid render setting.
    """
    if image_format not in ("jpg", "png"):
        raise InputError(f"image_format={image_format!r}; allowed: jpg, png")
    if augmented:
        render_config, distortion = _augmented_configs(rng, dpi)
        page = distort(render(recording, render_config), distortion, int(rng.integers(2**31)))
        details = {"layout": render_config.layout, "grid_colour": render_config.grid_colour,
                   "distortions": [d.name for d in page.truth.distortions]}
    else:
        page = render(recording, RenderConfig(dpi=dpi))
        details = {"layout": "3x4+1", "grid_colour": "red", "distortions": []}
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if image_format == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, encoded = cv2.imencode(f".{image_format}", np.ascontiguousarray(page.image[:, :, ::-1]), params)
    if not ok:
        raise InputError(f"could not encode the page as {image_format}")
    return PageImage(encoded.tobytes(), image_format, augmented, {"dpi": dpi, **details})
