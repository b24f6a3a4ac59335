"""Tests of tools.distort: each distortion, its seed, and the ground truth moving with the ink."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_path
from tests.test_render import synthetic
from tools.distort import DistortionConfig, distort, map_points
from tools.errors import InputError
from tools.page_io import read_page_truth
from tools.record_io import read_record
from tools.render import Page, RenderConfig, render

# a white page with black ink only, so "ink at a truth point" is easy to check
PLAIN = RenderConfig(grid_colour="none", trace_grey=0.0, lead_labels=False, print_speed_gain_text=False,
                     separators=False, calibration_pulse=False, dpi=100)

ALL = dict(rotation_deg=-4.0, perspective=0.06, crop=0.1, noise_sigma=6.0, blur_sigma_px=0.8, jpeg_quality=70,
           temperature_k=4000.0, lighting=0.4, wrinkles=0.7, scribbles=6)


@pytest.fixture(scope="module")
def page() -> Page:
    return render(synthetic(), PLAIN)


def ink_at_truth(page: Page, step: int = 7) -> float:
    """Fraction of finite truth points with dark ink within 1 px."""
    dark = page.image.min(axis=2) < 128
    hits, total = 0, 0
    for lead in page.truth.leads:
        points = lead.plotted_pixels[::step]
        points = points[np.isfinite(points).all(axis=1)]
        inside = (points[:, 0] >= 1) & (points[:, 0] < dark.shape[0] - 1) & \
                 (points[:, 1] >= 1) & (points[:, 1] < dark.shape[1] - 1)
        for row, col in np.round(points[inside]).astype(int):
            hits += dark[row - 1:row + 2, col - 1:col + 2].any()
            total += 1
    return hits / total


@pytest.mark.parametrize("name", list(ALL))
def test_each_distortion_changes_the_image_and_is_recorded(page: Page, name: str) -> None:
    distorted = distort(page, DistortionConfig(**{name: ALL[name]}), seed=1)
    assert distorted.image.dtype == np.uint8 and distorted.image.ndim == 3
    if distorted.image.shape == page.image.shape:
        assert np.abs(distorted.image.astype(int) - page.image).mean() > 0.01
    assert len(distorted.truth.distortions) == 1 and distorted.truth.distortion_seed == 1
    assert distorted.masked is page.masked
    assert not distorted.image.flags.writeable


def test_same_seed_same_page_other_seed_other_page(page: Page) -> None:
    config = DistortionConfig(**ALL)
    first, again, other = distort(page, config, 5), distort(page, config, 5), distort(page, config, 6)
    np.testing.assert_array_equal(first.image, again.image)
    assert first.image.shape != other.image.shape or not np.array_equal(first.image, other.image)
    np.testing.assert_array_equal(first.truth.leads[0].plotted_pixels, again.truth.leads[0].plotted_pixels)


@pytest.mark.parametrize("geometry", [
    dict(rotation_deg=7.0), dict(rotation_deg=-2.5), dict(perspective=0.1), dict(crop=0.3),
    dict(rotation_deg=3.0, perspective=0.08, crop=0.15)])
def test_truth_moves_with_the_ink(page: Page, geometry: dict) -> None:
    assert ink_at_truth(page) > 0.99
    distorted = distort(page, DistortionConfig(**geometry), seed=2)
    assert ink_at_truth(distorted) > 0.97
    # the stored homography maps the clean truth onto the distorted truth
    homography = np.array(distorted.truth.homography)
    for clean, moved in zip(page.truth.leads, distorted.truth.leads):
        np.testing.assert_allclose(map_points(clean.plotted_pixels, homography), moved.plotted_pixels, atol=1e-6)
        np.testing.assert_allclose(map_points(clean.bounding_box, homography), moved.bounding_box, atol=1e-6)


def test_truth_moves_with_the_ink_under_every_distortion(page: Page) -> None:
    mild = {**ALL, "noise_sigma": 3.0, "scribbles": 0, "lighting": 0.2}
    assert ink_at_truth(distort(page, DistortionConfig(**mild), seed=3)) > 0.95


def test_rotation_is_counter_clockwise_about_the_centre(page: Page) -> None:
    distorted = distort(page, DistortionConfig(rotation_deg=10.0), seed=0)
    lead = distorted.truth.leads[-1]  # the long rhythm strip: its right end rises when turned CCW
    clean = page.truth.leads[-1]
    rise = ((lead.plotted_pixels[0, 0] - lead.plotted_pixels[-1, 0])
            - (clean.plotted_pixels[0, 0] - clean.plotted_pixels[-1, 0]))
    length = clean.plotted_pixels[-1, 1] - clean.plotted_pixels[0, 1]
    assert rise == pytest.approx(length * np.tan(np.radians(10.0)), rel=0.02)


def test_crop_shrinks_the_image_and_shifts_the_truth(page: Page) -> None:
    distorted = distort(page, DistortionConfig(crop=0.2), seed=4)
    height, width = page.image.shape[:2]
    assert distorted.image.shape[:2] == (round(0.8 * height), round(0.8 * width))
    assert (distorted.truth.height_px, distorted.truth.width_px) == distorted.image.shape[:2]
    shift = page.truth.leads[0].plotted_pixels - distorted.truth.leads[0].plotted_pixels
    assert np.ptp(shift, axis=0).max() < 1e-9  # a pure translation
    assert (0 <= shift).all() and (shift[0] <= [0.2 * height, 0.2 * width]).all()


def test_noise_has_the_requested_spread() -> None:
    grey = Page(np.full((300, 400, 3), 128, np.uint8), render(synthetic(), PLAIN).truth, synthetic())
    noisy = distort(grey, DistortionConfig(noise_sigma=10.0), seed=0).image.astype(float)
    assert noisy.std() == pytest.approx(10.0, rel=0.05)
    assert noisy.mean() == pytest.approx(128.0, abs=0.5)


def test_colour_temperature_tints_white_paper(page: Page) -> None:
    warm = distort(page, DistortionConfig(temperature_k=3000.0), seed=0).image[5:50, 5:50].reshape(-1, 3).mean(0)
    cool = distort(page, DistortionConfig(temperature_k=12000.0), seed=0).image[5:50, 5:50].reshape(-1, 3).mean(0)
    neutral = distort(page, DistortionConfig(temperature_k=6500.0), seed=0).image[5:50, 5:50].reshape(-1, 3).mean(0)
    assert warm[0] > warm[2] + 50 and cool[2] > cool[0] + 20
    np.testing.assert_allclose(neutral, 255, atol=1)


def test_lighting_darkens_by_at_most_its_strength(page: Page) -> None:
    lit = distort(page, DistortionConfig(lighting=0.5), seed=0).image
    paper = lit[page.image.min(axis=2) == 255].astype(float)
    assert paper.min() >= 0.5 * 255 - 2 and paper.max() <= 255
    assert np.ptp(paper) > 40


def test_jpeg_and_blur_keep_geometry(page: Page) -> None:
    distorted = distort(page, DistortionConfig(jpeg_quality=20, blur_sigma_px=2.0), seed=0)
    assert distorted.image.shape == page.image.shape
    np.testing.assert_array_equal(distorted.truth.leads[3].plotted_pixels, page.truth.leads[3].plotted_pixels)
    assert distorted.truth.homography == page.truth.homography


def test_distorting_twice_composes_homographies(page: Page) -> None:
    once = distort(page, DistortionConfig(rotation_deg=2.0), seed=0)
    twice = distort(once, DistortionConfig(crop=0.1), seed=1)
    homography = np.array(twice.truth.homography)
    np.testing.assert_allclose(map_points(page.truth.leads[5].plotted_pixels, homography),
                               twice.truth.leads[5].plotted_pixels, atol=1e-6)
    assert [d.name for d in twice.truth.distortions] == ["rotation", "crop"]


@pytest.mark.shared_data
def test_an_ecg_image_kit_page_can_be_distorted_and_its_unknown_homography_stays_unknown() -> None:
    import cv2
    image = cv2.imread(str(shared_path("eik", "clean", "1-0.png")))[:, :, ::-1]
    eik = Page(image, read_page_truth(shared_path("eik", "clean", "1-0.json.gz")),
               read_record(shared_path("eik", "clean", "1.hea")))
    distorted = distort(eik, DistortionConfig(rotation_deg=3.0), seed=0)
    assert distorted.truth.homography is None and distorted.truth.source == "ecg-image-kit"
    assert ink_at_truth(distorted, step=11) > 0.95


@pytest.mark.parametrize("options", [{"rotation_deg": 90}, {"crop": 0.6}, {"jpeg_quality": 0},
                                     {"noise_sigma": -1}, {"scribbles": 1000}, {"warp": 1}])
def test_bad_distortion_options_are_rejected(options: dict) -> None:
    with pytest.raises(InputError):
        DistortionConfig(**options)
