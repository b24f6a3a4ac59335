"""Image loading: any supported source to an (H, W, 3) uint8 RGB array, with size checks first.

PNG, JPEG, BMP, TIFF (Pillow) and the first page of a PDF (pypdfium2). The header is read before
the pixels so an oversized image is refused without decoding it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from tools.digitize.config import DigitizeConfig
from tools.errors import InputError

__all__ = ["load_page_image"]

ImageSource = str | Path | bytes | np.ndarray


def _check_size(width: int, height: int, config: DigitizeConfig, what: str) -> None:
    if width * height > config.max_pixels:
        raise InputError(f"{what} is {width} x {height} px, over the max_pixels={config.max_pixels} limit")
    if min(width, height) < config.min_side_px:
        raise InputError(f"{what} is {width} x {height} px; each side must be at least "
                         f"min_side_px={config.min_side_px} px to resolve a grid and a trace")


def _from_array(array: np.ndarray, config: DigitizeConfig) -> np.ndarray:
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise InputError(f"image array must be (H, W), (H, W, 3) or (H, W, 4); got shape {array.shape}")
    _check_size(array.shape[1], array.shape[0], config, "image array")
    if array.dtype != np.uint8:
        finite = np.nan_to_num(np.asarray(array, float))
        scale = 255.0 if finite.max() <= 1.0 else 1.0
        array = np.clip(finite * scale, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array[:, :, :3])


def _from_pdf(data: bytes, config: DigitizeConfig) -> np.ndarray:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise InputError(f"PDF cannot be read: {exc}") from None
    if len(pdf) == 0:
        raise InputError("PDF has no page")
    page = pdf[0]
    scale = config.pdf_dpi / 72.0
    width_pt, height_pt = page.get_size()
    _check_size(int(width_pt * scale), int(height_pt * scale), config, "PDF page")
    return np.asarray(page.render(scale=scale).to_pil().convert("RGB"))


def _from_bytes(data: bytes, config: DigitizeConfig, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if data[:5] == b"%PDF-":
        return _from_pdf(data, config)
    try:
        # Pillow warns (89-179 Mpx) or raises (above) on opening a huge image; our max_pixels check
        # below is the real limit. No warnings.catch_warnings here: it swaps process-global state
        # and races when pages are read in several threads. Where warnings are errors the warning
        # arrives as an exception and is refused below; elsewhere it is printed once.
        image = Image.open(io.BytesIO(data))
        with image:
            _check_size(image.width, image.height, config, name)
            image.draft("RGB", image.size)
            rgb = image.convert("RGB")
            return np.asarray(rgb)
    except UnidentifiedImageError:
        raise InputError(f"{name} is not a supported image (PNG, JPEG, BMP, TIFF or PDF)") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt file
        raise InputError(f"{name} cannot be decoded ({exc}); is it truncated?") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{name} is larger than max_pixels={config.max_pixels}") from None


def load_page_image(source: ImageSource, config: DigitizeConfig) -> np.ndarray:
    """Read ``source`` into an (H, W, 3) uint8 RGB array.

    Parameters
    ----------
    source : a path, the file's bytes, or an array (H, W), (H, W, 3) or (H, W, 4) (uint8, or
        float in 0-1).

    Raises
    ------
    InputError
        Missing, unreadable, truncated or non-image files; images smaller than ``min_side_px`` or
        larger than ``max_pixels`` (refused from the header, before decoding).
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, config)
    if isinstance(source, (bytes, bytearray)):
        return _from_bytes(bytes(source), config, "image bytes")
    path = Path(source)
    if not path.is_file():
        raise InputError(f"image file {str(path)!r} does not exist")
    return _from_bytes(path.read_bytes(), config, f"image {path.name!r}")
