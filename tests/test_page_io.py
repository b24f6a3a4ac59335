"""Tests of tools.page_io: writing pages, and reading our annotations and ecg-image-kit's alike."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from tests.conftest import shared_path
from tests.test_render import synthetic
from tools.distort import DistortionConfig, distort
from tools.errors import InputError
from tools.page_io import read_page_truth, write_page
from tools.record_io import read_record
from tools.recording import LEADS, Recording
from tools.render import RenderConfig, render


def test_write_then_read_round_trip(tmp_path) -> None:
    page = render(synthetic(), RenderConfig(layout="3x4+3", lead_order="cabrera", dpi=150))
    paths = write_page(page, tmp_path / "page-1")
    assert [p.name for p in paths] == ["page-1.png", "page-1.json.gz", "page-1.hea", "page-1.dat"]
    assert all(p.is_file() for p in paths)
    truth = read_page_truth(paths[1])
    assert truth.model_dump(exclude={"leads"}) == page.truth.model_dump(exclude={"leads"})
    for ours, back in zip(page.truth.leads, truth.leads):
        assert (back.lead_name, back.label, back.inverted, back.rhythm, back.start_sample, back.end_sample) == \
               (ours.lead_name, ours.label, ours.inverted, ours.rhythm, ours.start_sample, ours.end_sample)
        np.testing.assert_allclose(back.plotted_pixels, ours.plotted_pixels, atol=0.005)
        np.testing.assert_allclose(back.bounding_box, ours.bounding_box, atol=0.005)
        assert back.baseline_row_px == pytest.approx(ours.baseline_row_px)
    import cv2
    np.testing.assert_array_equal(cv2.imread(str(paths[0]))[:, :, ::-1], page.image)
    masked = read_record(paths[2])
    np.testing.assert_array_equal(np.isnan(masked.signal_mv), np.isnan(page.masked.signal_mv))
    np.testing.assert_allclose(masked.signal_mv, page.masked.signal_mv, atol=0.0006)  # 1 µV steps


def test_written_json_is_in_ecg_image_kit_format(tmp_path) -> None:
    page = render(synthetic(), RenderConfig())
    _, truth_path, *_ = write_page(page, tmp_path / "p", image_format="jpg")
    with gzip.open(truth_path, "rt") as handle:
        data = json.load(handle)
    assert {"sampling_frequency", "width", "height", "resolution", "x_grid", "y_grid", "leads"} <= set(data)
    assert data["x_grid"] == pytest.approx(39.37, abs=0.01) and data["resolution"] == 200
    lead = data["leads"][0]
    assert {"lead_name", "lead_bounding_box", "start_sample", "end_sample", "plotted_pixels"} <= set(lead)
    assert sorted(lead["lead_bounding_box"]) == ["0", "1", "2", "3"]
    assert len(lead["plotted_pixels"]) == lead["end_sample"] - lead["start_sample"]
    assert (tmp_path / "p.jpg").is_file()


def test_nan_pixels_are_null_in_json_and_nan_again_when_read(tmp_path) -> None:
    signal = synthetic().signal_mv.copy()
    signal[100:200, LEADS.index("I")] = np.nan
    page = render(Recording(signal, 500.0, LEADS), RenderConfig())
    _, truth_path, *_ = write_page(page, tmp_path / "gap")
    with gzip.open(truth_path, "rt") as handle:
        assert json.load(handle)["leads"][0]["plotted_pixels"][150] == [None, None]
    assert np.isnan(read_page_truth(truth_path).leads[0].plotted_pixels[100:200]).all()


def test_distorted_page_keeps_its_homography_and_distortions(tmp_path) -> None:
    page = distort(render(synthetic(), RenderConfig(dpi=100)), DistortionConfig(rotation_deg=3.0, crop=0.1), seed=7)
    truth = read_page_truth(write_page(page, tmp_path / "d")[1])
    np.testing.assert_allclose(truth.homography, page.truth.homography)
    assert [d.name for d in truth.distortions] == ["rotation", "crop"] and truth.distortion_seed == 7
    assert (truth.width_px, truth.height_px) == (page.image.shape[1], page.image.shape[0])


@pytest.mark.shared_data
@pytest.mark.parametrize("folder", ["clean", "augmented"])
def test_reads_ecg_image_kit_annotations(folder: str) -> None:
    path = shared_path("eik", folder, "1-0.json.gz")
    truth = read_page_truth(path)
    with gzip.open(path, "rt") as handle:
        raw = json.load(handle)
    assert truth.source == "ecg-image-kit" and truth.layout == "3x4+1" and len(truth.leads) == 13
    assert truth.px_per_mm_x == pytest.approx(39.37 / 5) and truth.px_per_mv == pytest.approx(10 * 39.37 / 5)
    assert truth.homography is None and truth.leads[0].baseline_row_px is None
    assert [lead.rhythm for lead in truth.leads].count(True) == 1
    # matplotlib display coordinates -> pixel centres
    np.testing.assert_allclose(truth.leads[0].plotted_pixels, np.array(raw["leads"][0]["plotted_pixels"]) - 0.5)


@pytest.mark.parametrize(("content", "message"), [
    (b"not json", "not a JSON annotation"), (b'{"leads": []}', "lacks the annotation keys")])
def test_bad_annotation_files_are_rejected(tmp_path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_page_truth(path)
    with pytest.raises(InputError, match="no such annotation file"):
        read_page_truth(tmp_path / "missing.json.gz")


def test_bad_page_names_and_formats_are_rejected(tmp_path) -> None:
    page = render(synthetic(), RenderConfig(dpi=50))
    with pytest.raises(InputError, match="page name"):
        write_page(page, tmp_path / "page.v1")
    with pytest.raises(InputError, match="image_format"):
        write_page(page, tmp_path / "page", image_format="tif")  # type: ignore[arg-type]
