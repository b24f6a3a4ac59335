"""Digitize every real image in ../shared/data/images/real and write downscaled overlays.

Usage: ``.venv/bin/python bench/make_digitize_gallery.py [IMAGES_DIR] [OUT_DIR]``
(defaults ../shared/data/images/real and docs/gallery). Each overlay is a JPEG at most 1000 px
wide with the traced leads drawn in colour; docs/gallery/gallery.md lists every image with its
layout, calibration and warnings, or the refusal message.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from tools.digitize import DigitizeConfig, digitize
from tools.digitize.overlay import draw_overlay
from tools.digitize.page_image import load_page_image
from tools.errors import ECGError

REPO = Path(__file__).resolve().parents[1]
MAX_WIDTH_PX = 1000
# What a person saw looking at the overlays (kept with the generator so it is rewritten with them).
REVIEW = (
    "## Review (overlays looked at one by one)",
    "",
    "- Screenshots and scans (ecg00001-00023, 00053): rows, columns and lead identities right; traces",
    "  follow the ink; rhythm strips identified by correlation where they match a short lead (ecg00053:",
    "  V1, II, V5). ecg00009/00011 print a V1 rhythm strip that matches no short lead well enough (r = 0.36)",
    "  and is labelled II with a warning: wrong identity, flagged.",
    "- Phone photos (ecg00027-00049): keystone and tilt corrected, traces follow the ink for most leads;",
    "  calibration comes from the horizontal grid pitch or the pulse, with warnings; a few leads pick up",
    "  creases or shadows (spikes in ecg00037, ecg00039) or visit a printed lead label at the start of a",
    "  column (ecg00037 V4, V5). Leads left NaN are drawn in grey, labelled 'not used'.",
    "- Third round: a jump whose gap holds faint ink (a QRS stroke steeper than the ink threshold can",
    "  follow at 3-5 px/mm) no longer counts against the 1 % jump limit; only jumps across paper do.",
    "  Leads used, before -> after: ecg00003 7 -> 11, 00015 9 -> 11, 00017 10 -> 12, 00019 8 -> 12,",
    "  00021 11 -> 12, 00023 3 -> 12, 00025 6 -> 9, 00031 3 -> 12, 00033 11 -> 12, 00035 5 -> 12,",
    "  00037 8 -> 12, 00041 9 -> 12, 00043 9 -> 12, 00049 6 -> 10; no image lost a lead. The new leads",
    "  were looked at: they follow their traces (ecg00003 V2 visits its label at the column start).",
    "- ecg00025 (a screenshot with four header text lines above three rows, no rhythm strip) was misread",
    "  as 3x4+1 with the header as its first row, every lead named one row too low. Fourth round: a",
    "  candidate row above the topmost (or below the lowest) row of trace spanning under half the width",
    "  of the others is header or footer text (rows.MIN_SPAN_FRACTION); the page now reads as 3x4 with",
    "  the right names, 9 -> 12 leads (looked at: each colour sits on its printed label's row and column).",
    "- Fourth round, wrong signal no longer accepted silently (NaN with a warning naming lead and time):",
    "  a path that jumps across paper to other ink and back within 5 mm (ecg00035 V3 on V2's S wave, its",
    "  lead I on the header's '157'; ecg00003's II rhythm strip on V3's deep S waves at every beat;",
    "  label visits at column starts in ecg00001, 00009/00011, 00037, 00043, 00053), and a panel's start",
    "  up to where the path first reaches its trace by such a jump (looked at: ecg00017 III and ecg00009",
    "  V1 read their printed labels first; ecg00033's column windows start up to 0.17 s before its",
    "  printed separators, so that stretch was the previous lead's trace). Those columns are no longer",
    "  drawn in the overlays. No image lost a lead or changed layout except ecg00025.",
    "- Fifth round: columns cut at the printed dotted separators where found (tools/digitize/separators.py):",
    "  ecg00033 (+0.16, +0.14, +0.14 s), ecg00041 (+0.15, +0.13, +0.15 s), ecg00049 (2 of 3 boundaries,",
    "  +0.26, +0.25 s; its first dotted line is too slanted to pass). Looked at: aVR, V1, V4 (and the rows",
    "  below) now start at their dotted lines instead of on the previous lead's trace. ecg00033 V4 drops",
    "  below min_lead_confidence (0.26): its row's path ends 0.6 s after the separator, and the 0.14 s of",
    "  V1 read before it had kept it at 0.31. No other image changed (lead labels at the column starts,",
    "  ecg00007/00009/00011, are not taken for separators).",
    "- Refused with a reason: ecg00013 (thin faint trace below the ink threshold), ecg00045 and ecg00047",
    "  (rows found at irregular heights).",
    "- ecg00005 (a 6x1 limb-lead photo with a dark grid on grey paper; 6x1 is not a known layout) was read",
    "  as 6x2 and traced partly along the dark vertical grid lines (tall false spikes in most leads). Its",
    "  paths now lose confidence where they climb such lines ('needles', see ../digitization.md): 11 of 12",
    "  leads are left NaN and the page is refused with that reason; every other image keeps its leads.",
)


def _row(image: Path, out_dir: Path, config: DigitizeConfig) -> str:
    try:
        result = digitize(image, config)
    except ECGError as exc:
        return f"| {image.name} | refused | | {exc} |"
    rgb = draw_overlay(load_page_image(image, config), result)
    overlay = Image.fromarray(rgb)
    if overlay.width > MAX_WIDTH_PX:
        overlay = overlay.resize((MAX_WIDTH_PX, round(overlay.height * MAX_WIDTH_PX / overlay.width)))
    name = f"{image.stem}_overlay.jpg"
    overlay.save(out_dir / name, quality=80)
    cal = result.calibration
    found = sum(c > 0 for c in result.lead_confidence.values())
    notes = "; ".join(result.warnings) or "-"
    return (f"| {image.name} | {result.layout.name}, {found} leads, rotation {result.rotation_deg:g} deg "
            f"| {cal.px_per_mm_x:.2f} px/mm, {cal.px_per_mv:.1f} px/mV, {cal.px_per_s:.1f} px/s ({cal.method}) "
            f"| {notes} ![{image.stem}]({name}) |")


def main(argv: list[str]) -> int:
    images = Path(argv[1]) if len(argv) > 1 else REPO.parent / "shared" / "data" / "images" / "real"
    out_dir = Path(argv[2]) if len(argv) > 2 else REPO / "docs" / "gallery"
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*_overlay.jpg"):
        stale.unlink()
    config = DigitizeConfig()
    rows = [_row(path, out_dir, config) for path in sorted(images.iterdir())
            if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")]
    text = ["# Digitization gallery: real ECG images",
            "",
            "Overlays of `ecg-agent digitize` on the public-domain scans and screenshots of",
            "`../shared/data/images/real` (from the ecg-image-kit project's sample data, BSD-3; described",
            "there as de-identified and public domain). Regenerate with",
            "`.venv/bin/python bench/make_digitize_gallery.py`. Each lead is drawn in its own colour over",
            "the part of the page it was read from.",
            "",
            "| image | layout | calibration | warnings / overlay |",
            "|---|---|---|---|", *rows, "", *REVIEW, ""]
    (out_dir / "gallery.md").write_text("\n".join(text))
    print(f"wrote {len(rows)} rows to {out_dir / 'gallery.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
