"""Write a rendered page to disk and read page annotations back, ours or ecg-image-kit's.

A page ``STEM`` is written as

- ``STEM.png`` or ``STEM.jpg``: the image;
- ``STEM.json.gz``: the ground truth in ecg-image-kit's annotation format (top-level
  ``sampling_frequency``, ``width``, ``height``, ``resolution``, ``pad_inches``, ``x_grid``,
  ``y_grid`` and ``leads`` with ``lead_name``, ``lead_bounding_box``, ``start_sample``,
  ``end_sample``, ``plotted_pixels``), plus our own keys: per lead ``label``, ``inverted``,
  ``baseline_row_px``, ``calibration_box``, ``rhythm``; at the top ``pixel_convention`` and an
  ``ecg_agent`` object with the rest of :class:`~tools.render.PageTruth`;
- ``STEM.hea`` / ``STEM.dat``: the masked record (NaN where nothing was plotted), in WFDB.

:func:`read_page_truth` reads both our files and ecg-image-kit's ``N-0.json(.gz)`` into the same
:class:`~tools.render.PageTruth`, so one scorer reads both. ecg-image-kit stores matplotlib
display coordinates (pixel centres at +0.5); they are shifted by -0.5 px on reading so that every
``PageTruth`` uses pixel centres at integers, where the ink is.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from tools.errors import InputError
from tools.record_io import write_record
from tools.render import LeadTruth, Page, PageTruth

__all__ = ["write_page", "read_page_truth", "truth_to_json"]

_EIK_TO_CENTRE_PX = -0.5  # matplotlib display coordinates -> pixel-centre coordinates
_OUR_KEY = "ecg_agent"
_LEAD_EXTRAS = ("label", "inverted", "baseline_row_px", "calibration_box", "rhythm")


def write_page(page: Page, stem: Path, *, image_format: Literal["png", "jpg"] = "png") -> list[Path]:
    """Write ``STEM.<image_format>``, ``STEM.json.gz`` and ``STEM.hea/.dat``; return the paths.

    Raises
    ------
    InputError
        If the image format is not png/jpg or the stem's name is not a valid WFDB record name
        (letters, digits, ``_`` and ``-``).
    """
    stem = Path(stem)
    if image_format not in ("png", "jpg"):
        raise InputError(f"image_format={image_format!r}; allowed: png, jpg")
    if not re.fullmatch(r"[-\w]+", stem.name):
        raise InputError(f"page name {stem.name!r} must use only letters, digits, '_' and '-' "
                         "(it also names the WFDB record)")
    stem.parent.mkdir(parents=True, exist_ok=True)
    image_path = stem.parent / f"{stem.name}.{image_format}"
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if image_format == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    if not cv2.imwrite(str(image_path), np.ascontiguousarray(page.image[:, :, ::-1]), params):
        raise OSError(f"could not write {image_path}")
    truth_path = stem.parent / f"{stem.name}.json.gz"
    with gzip.open(truth_path, "wt", encoding="utf-8", compresslevel=6) as handle:
        json.dump(truth_to_json(page.truth), handle, separators=(",", ":"))
    return [image_path, truth_path, *write_record(page.masked, stem.parent / f"{stem.name}.hea")]


def truth_to_json(truth: PageTruth) -> dict[str, Any]:
    """``truth`` as an ecg-image-kit-style annotation dict (plus our keys; NaN -> null)."""
    data = truth.model_dump(mode="json")
    leads = data.pop("leads")
    return {
        "sampling_frequency": truth.fs_hz, "width": truth.width_px, "height": truth.height_px,
        "resolution": truth.dpi, "pad_inches": 0,
        "x_grid": round(5 * truth.px_per_mm_x, 4), "y_grid": round(5 * truth.px_per_mm_y, 4),
        "pixel_convention": "centre",
        "leads": [_lead_to_json(lead) for lead in leads],
        _OUR_KEY: data,
    }


def _lead_to_json(lead: dict[str, Any]) -> dict[str, Any]:
    box = lead["bounding_box"]
    out = {"lead_name": lead["lead_name"],
           "lead_bounding_box": {str(i): corner for i, corner in enumerate(box)},
           "start_sample": lead["start_sample"], "end_sample": lead["end_sample"],
           "plotted_pixels": lead["plotted_pixels"]}
    out.update({key: lead[key] for key in _LEAD_EXTRAS})
    return out


def read_page_truth(path: str | Path) -> PageTruth:
    """Read a page annotation (``.json`` or ``.json.gz``), ours or ecg-image-kit's.

    For an ecg-image-kit file, scales come from ``resolution`` and ``x_grid``/``y_grid`` with its
    fixed 25 mm/s and 10 mm/mV; ``baseline_row_px`` and ``homography`` are unknown (None), the
    layout is "3x4+1" when the leads are 12 short panels and one full-length strip.

    Raises
    ------
    InputError
        If the file is missing, is not JSON, or lacks the annotation keys.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such annotation file: {path}")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a JSON annotation: {exc}") from None
    missing = [key for key in ("leads", "width", "height", "resolution") if key not in data]
    if missing:
        raise InputError(f"{path} lacks the annotation keys {missing}")
    return _ours(data) if _OUR_KEY in data else _ecg_image_kit(data, path)


def _corners(box: dict[str, Any] | list[Any]) -> np.ndarray:
    if isinstance(box, dict):
        box = [box[str(i)] for i in range(4)]
    return np.asarray(box, dtype=np.float64).reshape(4, 2)


def _pixels(points: list[Any]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in pair] for pair in points], dtype=np.float64)


def _ours(data: dict[str, Any]) -> PageTruth:
    leads = []
    for lead in data["leads"]:
        calibration = lead.get("calibration_box")
        leads.append(LeadTruth(
            lead_name=lead["lead_name"], label=lead["label"], inverted=lead["inverted"],
            bounding_box=_pixels(_corners(lead["lead_bounding_box"]).tolist()),
            start_sample=lead["start_sample"], end_sample=lead["end_sample"],
            baseline_row_px=lead["baseline_row_px"], plotted_pixels=_pixels(lead["plotted_pixels"]),
            calibration_box=None if calibration is None else _pixels(calibration), rhythm=lead["rhythm"]))
    return PageTruth(**{**data[_OUR_KEY], "leads": tuple(leads)})


def _ecg_image_kit(data: dict[str, Any], path: Path) -> PageTruth:
    dpi = float(data["resolution"])
    px_per_mm_x = float(data.get("x_grid", 5 * dpi / 25.4)) / 5
    px_per_mm_y = float(data.get("y_grid", 5 * dpi / 25.4)) / 5
    lengths = [lead["end_sample"] - lead["start_sample"] for lead in data["leads"]]
    longest = max(lengths, default=0)
    leads = []
    for lead, length in zip(data["leads"], lengths):
        if "plotted_pixels" not in lead:
            raise InputError(f"{path}: lead {lead.get('lead_name')!r} has no plotted_pixels")
        leads.append(LeadTruth(
            lead_name=lead["lead_name"], label=lead["lead_name"],
            bounding_box=_corners(lead["lead_bounding_box"]) + _EIK_TO_CENTRE_PX,
            start_sample=lead["start_sample"], end_sample=lead["end_sample"],
            plotted_pixels=_pixels(lead["plotted_pixels"]) + _EIK_TO_CENTRE_PX,
            rhythm=length == longest and lengths.count(longest) < len(lengths)))
    n_rhythm = sum(lead.rhythm for lead in leads)
    layout = {(13, 1): "3x4+1", (15, 3): "3x4+3"}.get((len(leads), n_rhythm), "unknown")
    return PageTruth(
        source="ecg-image-kit", width_px=int(data["width"]), height_px=int(data["height"]), dpi=dpi,
        fs_hz=float(data.get("sampling_frequency", float("nan"))),
        px_per_mm_x=px_per_mm_x, px_per_mm_y=px_per_mm_y, px_per_mv=10 * px_per_mm_y,
        px_per_s=25 * px_per_mm_x, paper_speed_mm_s=25, gain_mm_mv=10, layout=layout,
        lead_order="standard", homography=None, leads=tuple(leads))
