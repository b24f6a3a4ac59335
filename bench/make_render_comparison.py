"""Make docs/images/render_vs_eik_*.png: our default page beside ecg-image-kit's for LUDB records.

Run from the repository root, beside ../shared/data:

    .venv/bin/python bench/make_render_comparison.py [--records 1 101] [--out docs/images]

For each record it renders ../shared/data/ludb/data/N with the default RenderConfig, reads
ecg-image-kit's ../shared/data/eik/clean/N-0.png and N-0.json.gz, prints how far apart the
geometry is, and writes:

- render_vs_eik_page_N.png: both full pages side by side, downscaled (ours left);
- render_vs_eik_crop_N.png: a native-resolution crop (calibration pulse, lead I, the aVR
  separator) of ecg-image-kit's page above ours;
- render_vs_eik_overlay_N.png: the same crop with ecg-image-kit's ink in red and ours in blue, so
  shared ink is dark and any offset shows as a coloured fringe.

PNGs are reduced to a 64-colour palette to stay small.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from tools.page_io import read_page_truth
from tools.record_io import read_record
from tools.render import RenderConfig, render

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CROP = (slice(590, 800), slice(40, 760))  # rows, cols of the default page: pulse, lead I, aVR start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", nargs="+", default=["1", "101"], help="LUDB record numbers")
    parser.add_argument("--out", type=Path, default=Path("docs/images"), help="output folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for record in args.records:
        ours = render(read_record(SHARED / "ludb" / "data" / f"{record}.hea"), RenderConfig())
        theirs = cv2.imread(str(SHARED / "eik" / "clean" / f"{record}-0.png"))[:, :, ::-1]
        report(record, ours, theirs)
        page = np.hstack([ours.image, np.full((ours.image.shape[0], 40, 3), 255, np.uint8), theirs])
        small = cv2.resize(page, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
        save(small, args.out / f"render_vs_eik_page_{record}.png")
        save(np.vstack([theirs[CROP], np.full((8, theirs[CROP].shape[1], 3), 255, np.uint8), ours.image[CROP]]),
             args.out / f"render_vs_eik_crop_{record}.png")
        save(overlay(theirs[CROP], ours.image[CROP]), args.out / f"render_vs_eik_overlay_{record}.png")


def report(record: str, ours, theirs: np.ndarray) -> None:
    """Print the largest plotted-pixel and box differences and the mean absolute pixel difference."""
    eik = read_page_truth(SHARED / "eik" / "clean" / f"{record}-0.json.gz")
    by_key = {(lead.lead_name, lead.start_sample, lead.end_sample): lead for lead in eik.leads}
    pixels, boxes = [], []
    for lead in ours.truth.leads:
        other = by_key[(lead.lead_name, lead.start_sample, lead.end_sample)]
        pixels.append(np.abs(lead.plotted_pixels - other.plotted_pixels).max())
        boxes.append(np.abs(lead.bounding_box - other.bounding_box).max())
    difference = np.abs(ours.image.astype(int) - theirs).max(axis=2)
    print(f"record {record}: plotted pixels max |diff| {max(pixels):.3f} px, lead boxes max |diff| "
          f"{max(boxes):.1f} px, mean |pixel diff| {difference.mean():.2f} of 255, "
          f"{(difference > 64).mean() * 100:.2f} % of pixels differ by > 64")


def overlay(theirs: np.ndarray, ours: np.ndarray) -> np.ndarray:
    """White background, their ink in red, our ink in blue, both together black."""
    def darkness(image: np.ndarray) -> np.ndarray:
        return np.clip((170.0 - image.max(axis=2)) / 170.0, 0, 1)  # grey ink and text, not the grid
    a, b = darkness(theirs), darkness(ours)
    return (255 * np.stack([1 - b, 1 - np.maximum(a, b), 1 - a], axis=2)).astype(np.uint8)


def save(image: np.ndarray, path: Path) -> None:
    Image.fromarray(image).quantize(64).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
