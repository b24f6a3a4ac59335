"""Tests of tools.render: ecg-image-kit geometry, truth accuracy, layouts, furniture, errors, CLI."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from tests.conftest import shared_path
from tools.errors import InputError
from tools.page_io import read_page_truth
from tools.record_io import read_record
from tools.recording import LEADS, Recording
from tools.render import Page, RenderConfig, layout_panels, render

FS_HZ = 500.0


def synthetic(duration_s: float = 10.0, fs_hz: float = FS_HZ) -> Recording:
    """12 leads of distinct smooth waves plus sharp 'QRS' spikes every 0.8 s, in mV."""
    t = np.arange(int(duration_s * fs_hz)) / fs_hz
    columns = []
    for k in range(12):
        wave = 0.3 * np.sin(2 * np.pi * (0.3 + 0.1 * k) * t + k)
        spikes = sum(np.exp(-0.5 * ((t - c) / 0.012) ** 2) for c in np.arange(0.4, duration_s, 0.8))
        columns.append(wave + (1.0 - 0.15 * k) * spikes)
    return Recording(np.stack(columns, axis=1), fs_hz, LEADS)


def value_and_time(page: Page, lead_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Invert the truth of one panel: the plotted value (mV) and time (s) of each sample."""
    truth = page.truth
    lead = truth.leads[lead_index]
    sign = -1.0 if lead.inverted else 1.0
    rows, cols = lead.plotted_pixels[:, 0], lead.plotted_pixels[:, 1]
    value_mv = sign * (lead.baseline_row_px - rows) / truth.px_per_mv
    time_s = lead.start_sample / truth.fs_hz + (cols - cols[0]) / truth.px_per_s
    return value_mv, time_s


def ink(image: np.ndarray) -> np.ndarray:
    """(H, W) ink coverage in 0..1 of a page drawn on white (grid 'none') with black ink."""
    return 1.0 - image.min(axis=2) / 255.0


# ---- ecg-image-kit geometry -----------------------------------------------------------------
@pytest.mark.shared_data
@pytest.mark.parametrize("record", ["1", "101", "114"])
def test_default_page_matches_ecg_image_kit_annotation(record: str) -> None:
    eik_json = shared_path("eik", "clean", f"{record}-0.json.gz")
    page = render(read_record(shared_path("ludb", "data", f"{record}.hea")), RenderConfig())
    eik = read_page_truth(eik_json)
    assert (page.truth.width_px, page.truth.height_px) == (eik.width_px, eik.height_px) == (2200, 1700)
    assert page.truth.px_per_mm_x == pytest.approx(eik.px_per_mm_x, abs=1e-3)
    theirs = {(lead.lead_name, lead.start_sample, lead.end_sample): lead for lead in eik.leads}
    assert len(theirs) == len(page.truth.leads) == 13
    for lead in page.truth.leads:
        other = theirs[(lead.lead_name, lead.start_sample, lead.end_sample)]
        # their pixels are rounded to 0.01 px and their signal to 1 µV (0.08 px)
        assert np.abs(lead.plotted_pixels - other.plotted_pixels).max() < 0.15
        # matplotlib's extents include line joins; both are the ink's box within a few px
        assert np.abs(lead.bounding_box - other.bounding_box).max() < 5.0


@pytest.mark.shared_data
def test_default_page_ink_lies_where_ecg_image_kit_ink_lies() -> None:
    """Per column, the trace ink of our page and of ecg-image-kit's page is at the same row."""
    import cv2
    eik_image = cv2.imread(str(shared_path("eik", "clean", "1-0.png")))[:, :, ::-1]
    page = render(read_record(shared_path("ludb", "data", "1.hea")), RenderConfig())
    offsets = []
    for lead in page.truth.leads[:12]:
        for col in range(int(lead.plotted_pixels[5, 1]), int(lead.plotted_pixels[-5, 1]), 3):
            row = int(round(np.interp(col, lead.plotted_pixels[:, 1], lead.plotted_pixels[:, 0])))
            window = slice(row - 6, row + 7)
            centroids = []
            for image in (eik_image, page.image):
                dark = np.clip((170.0 - image[window, col].max(axis=1)) / 170.0, 0, 1)  # grey ink, not grid
                centroids.append((dark * np.arange(row - 6, row + 7)).sum() / max(dark.sum(), 1e-9))
            if all(c > 0 for c in centroids):
                offsets.append(centroids[1] - centroids[0])
    offsets = np.array(offsets)
    assert len(offsets) > 1000
    assert abs(np.median(offsets)) < 0.1
    assert np.percentile(np.abs(offsets), 90) < 0.3


@pytest.mark.shared_data
def test_masked_record_equals_ecg_image_kit_ground_truth() -> None:
    page = render(read_record(shared_path("ludb", "data", "1.hea")), RenderConfig())
    theirs = read_record(shared_path("eik", "clean", "1.hea"))
    ours = page.masked.select(theirs.leads).signal_mv
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs.signal_mv))
    np.testing.assert_allclose(ours[np.isfinite(ours)], theirs.signal_mv[np.isfinite(ours)], atol=1e-3)


# ---- truth accuracy ----------------------------------------------------------------------------
@pytest.mark.parametrize("config", [
    RenderConfig(),
    RenderConfig(layout="6x2", lead_order="cabrera", gain_mm_mv=20),
    RenderConfig(layout="12x1", paper_speed_mm_s=50, gain_mm_mv=5, dpi=100),
    RenderConfig(layout="3x4+3", dpi=300),
])
def test_plotted_pixels_map_back_to_signal(config: RenderConfig) -> None:
    recording = synthetic()
    page = render(recording, config)
    for index, lead in enumerate(page.truth.leads):
        value_mv, time_s = value_and_time(page, index)
        expected = recording.lead(lead.lead_name)[lead.start_sample:lead.end_sample]
        expected_t = np.arange(lead.start_sample, lead.end_sample) / FS_HZ
        assert np.abs(value_mv - expected).max() * page.truth.px_per_mv < 0.5
        assert np.abs(time_s - expected_t).max() * page.truth.px_per_s < 0.5
        assert lead.plotted_pixels.shape == (lead.end_sample - lead.start_sample, 2)


def test_anti_aliased_ink_is_centred_on_plotted_pixels() -> None:
    recording = synthetic()
    page = render(recording, RenderConfig(grid_colour="none", lead_labels=False, separators=False,
                                          calibration_pulse=False, print_speed_gain_text=False))
    coverage = ink(page.image) / (1.0 - RenderConfig().trace_grey)
    errors, widths = [], []
    for lead in page.truth.leads:
        rows, cols = lead.plotted_pixels[:, 0], lead.plotted_pixels[:, 1]
        for col in range(int(np.ceil(cols[0])) + 2, int(cols[-1]) - 2):
            row = np.interp(col, cols, rows)
            slope = abs(np.interp(col + 1, cols, rows) - np.interp(col - 1, cols, rows)) / 2
            if slope > 0.3:  # steep: the column profile is not the stroke's cross-section
                continue
            r0 = int(round(row))
            weights = coverage[r0 - 4:r0 + 5, col]
            errors.append((weights * np.arange(r0 - 4, r0 + 5)).sum() / weights.sum() - row)
            widths.append(weights.sum() * np.cos(np.arctan(slope)))
    errors = np.abs(np.array(errors))
    assert len(errors) > 3000
    assert np.median(errors) < 0.15
    assert np.percentile(errors, 99) < 0.5
    # the stroke is about as wide as ecg-image-kit's 0.75 pt (2.08 px at 200 DPI)
    assert 1.8 < np.median(widths) < 2.4


def test_masked_record_holds_exactly_the_plotted_windows() -> None:
    recording = synthetic()
    page = render(recording, RenderConfig())
    finite = np.isfinite(page.masked.signal_mv)
    assert page.masked.leads == LEADS and page.masked.fs_hz == FS_HZ
    for column, names in enumerate((("I", "III"), ("aVR", "aVL", "aVF"), ("V1", "V2", "V3"), ("V4", "V5", "V6"))):
        for name in names:
            expected = np.zeros(5000, bool)
            expected[1250 * column:1250 * (column + 1)] = True
            np.testing.assert_array_equal(finite[:, LEADS.index(name)], expected)
    assert finite[:, LEADS.index("II")].all()  # 3x4 window plus the 10-s rhythm strip
    np.testing.assert_array_equal(page.masked.signal_mv[finite], recording.signal_mv[finite])


# ---- layouts and options -----------------------------------------------------------------------
def test_default_layout_rows_columns_and_windows() -> None:
    panels = layout_panels(RenderConfig())
    assert [p.label for p in panels] == ["I", "aVR", "V1", "V4", "II", "aVL", "V2", "V5",
                                         "III", "aVF", "V3", "V6", "II"]
    assert [p.t0_s for p in panels[:4]] == [0.0, 2.5, 5.0, 7.5]
    assert panels[-1].rhythm and panels[-1].duration_s == 10.0
    # ecg-image-kit: x_gap 10 mm + 0.2 s pulse = trace at 15 mm; 10 mm/mV bands of 215.9/6 mm
    assert panels[0].x_mm == pytest.approx(15.0)
    assert panels[0].baseline_mm == pytest.approx(3.5 * 215.9 / 6)
    assert panels[-1].baseline_mm == pytest.approx(0.5 * 215.9 / 6 + 3.0)


@pytest.mark.parametrize(("layout", "n_panels", "n_rows", "rhythm", "column_s"), [
    ("3x4+3", 15, 6, ["V1", "II", "V5"], 2.5), ("6x2", 12, 6, [], 5.0), ("12x1", 12, 12, [], 10.0)])
def test_other_layouts(layout: str, n_panels: int, n_rows: int, rhythm: list[str], column_s: float) -> None:
    page = render(synthetic(), RenderConfig(layout=layout))
    leads = page.truth.leads
    assert len(leads) == n_panels
    assert [lead.lead_name for lead in leads if lead.rhythm] == rhythm
    short = [lead for lead in leads if not lead.rhythm]
    assert {lead.end_sample - lead.start_sample for lead in short} == {int(column_s * FS_HZ)}
    assert sorted({lead.lead_name for lead in short}) == sorted(LEADS)
    baselines = sorted({round(lead.baseline_row_px, 3) for lead in leads})
    assert len(baselines) == n_rows
    assert min(np.diff(baselines)) > 10 * page.truth.px_per_mm_y  # rows at least 10 mm apart
    # every trace stays on the page
    for lead in leads:
        assert np.nanmin(lead.plotted_pixels) > 0
        assert np.nanmax(lead.plotted_pixels[:, 1]) < page.truth.width_px


def test_cabrera_order_shows_inverted_avr() -> None:
    recording = synthetic()
    page = render(recording, RenderConfig(lead_order="cabrera"))
    labels = [lead.label for lead in page.truth.leads[:12]]
    assert labels[0::4] == ["aVL", "I", "-aVR"] and labels[1::4] == ["II", "aVF", "III"]
    index = labels.index("-aVR")
    lead = page.truth.leads[index]
    assert lead.inverted and lead.lead_name == "aVR"
    value_mv, _ = value_and_time(page, index)
    np.testing.assert_allclose(value_mv, recording.lead("aVR")[lead.start_sample:lead.end_sample], atol=1e-9)
    # the masked record keeps aVR itself, not its inverse
    np.testing.assert_array_equal(page.masked.lead("aVR")[lead.start_sample:lead.end_sample],
                                  recording.lead("aVR")[lead.start_sample:lead.end_sample])


def test_speed_and_gain_scale_the_trace_and_the_pulse() -> None:
    recording = synthetic()
    slow, fast = render(recording, RenderConfig()), render(recording, RenderConfig(paper_speed_mm_s=50, gain_mm_mv=20))
    assert fast.truth.px_per_s == pytest.approx(2 * slow.truth.px_per_s)
    assert fast.truth.px_per_mv == pytest.approx(2 * slow.truth.px_per_mv)
    # same paper length, half the time per panel
    assert fast.truth.leads[0].end_sample == slow.truth.leads[0].end_sample // 2
    for page, gain in ((slow, 10), (fast, 20)):
        box = page.truth.leads[0].calibration_box
        width_px = 1.5 * 0.75 / 72 * 200
        assert box[2, 0] - box[0, 0] == pytest.approx(gain * page.truth.px_per_mm_y + width_px)


@pytest.mark.parametrize(("dpi", "size"), [(50, (425, 550)), (100, (850, 1100)), (300, (2550, 3300))])
def test_resolution_sets_page_size_and_scales(dpi: int, size: tuple[int, int]) -> None:
    page = render(synthetic(), RenderConfig(dpi=dpi))
    assert page.image.shape == (*size, 3) and page.image.dtype == np.uint8
    assert page.truth.px_per_mm_x == pytest.approx(dpi / 25.4)
    assert page.truth.px_per_s == pytest.approx(25 * dpi / 25.4)


def test_grid_colours() -> None:
    recording = synthetic()
    corner = (slice(20, 300), slice(20, 600))  # top band: grid and nothing else
    means = {}
    for colour in ("red", "pink", "blue", "green", "brown", "bw", "none"):
        image = render(recording, RenderConfig(grid_colour=colour)).image
        means[colour] = image[corner].reshape(-1, 3).mean(axis=0)
    assert (means["none"] == 255).all()
    assert means["red"][0] > means["red"][2] + 20 and means["blue"][2] > means["blue"][0] + 20
    assert means["green"][1] > means["green"][0] + 10
    assert np.ptp(means["bw"]) < 1 and means["bw"][0] < 250
    bw = render(recording, RenderConfig(grid_colour="bw"))
    row, col = bw.truth.leads[0].plotted_pixels[300].round().astype(int)
    assert bw.image[row, col].max() < 60  # black trace on a grey grid


def test_header_and_footer_text_are_printed() -> None:
    recording = synthetic()
    plain = render(recording, RenderConfig(grid_colour="none", print_speed_gain_text=False))
    printed = render(recording, RenderConfig(grid_colour="none", header_lines=("ID 42  M 54 y", "HR 72 bpm")))
    header = (slice(2, 90), slice(2, 400))  # inside the 1-px page frame
    footer = (slice(1600, 1697), slice(380, 1000))
    assert (plain.image[header] == 255).all() and (plain.image[footer] == 255).all()
    assert ink(printed.image[header]).sum() > 500 and ink(printed.image[footer]).sum() > 500


def test_nan_samples_leave_gaps() -> None:
    signal = synthetic().signal_mv.copy()
    signal[500:700, LEADS.index("I")] = np.nan
    page = render(Recording(signal, FS_HZ, LEADS), RenderConfig(grid_colour="none", lead_labels=False))
    lead = page.truth.leads[0]
    assert np.isfinite(lead.plotted_pixels[:500]).all() and np.isfinite(lead.plotted_pixels[700:]).all()
    assert np.isnan(lead.plotted_pixels[500:700]).all()
    first, last = lead.plotted_pixels[[499, 700], 1]
    band = (slice(int(lead.bounding_box[0, 0]), int(lead.bounding_box[2, 0])), slice(int(first) + 3, int(last) - 2))
    assert ink(page.image[band]).max() == 0
    assert np.isnan(page.masked.lead("I")[500:700]).all()


def test_render_is_pure_and_deterministic() -> None:
    recording = synthetic()
    before = recording.signal_mv.copy()
    first, second = render(recording, RenderConfig()), render(recording, RenderConfig())
    np.testing.assert_array_equal(first.image, second.image)
    np.testing.assert_array_equal(recording.signal_mv, before)
    assert not first.image.flags.writeable


def test_short_and_other_rate_records() -> None:
    recording = synthetic(duration_s=4.0, fs_hz=360.0)
    page = render(recording, RenderConfig())
    windows = [(lead.start_sample, lead.end_sample) for lead in page.truth.leads]
    assert windows[:4] == [(0, 900), (900, 1440), (1440, 1440), (1440, 1440)]
    assert windows[-1] == (0, 1440)
    assert np.isnan(page.truth.leads[2].bounding_box).all()


# ---- bad input ---------------------------------------------------------------------------------
def test_missing_leads_are_rejected() -> None:
    with pytest.raises(InputError, match="needs leads"):
        render(synthetic().select(["I", "II"]), RenderConfig())


def test_nothing_to_plot_is_rejected() -> None:
    signal = np.full((10000, 12), np.nan)
    signal[6000:] = 0.1
    with pytest.raises(InputError, match="nothing to plot"):
        render(Recording(signal, FS_HZ, LEADS), RenderConfig(paper_speed_mm_s=50))


@pytest.mark.parametrize("options", [{"layout": "4x3"}, {"dpi": 0}, {"dpi": 301}, {"gain_mm_mv": 7},
                                     {"grid_colour": "purple"}, {"paper_speed_mm_s": 30}])
def test_bad_options_are_rejected(options: dict) -> None:
    with pytest.raises(InputError, match=next(iter(options))):
        RenderConfig(**options)


# ---- command line ------------------------------------------------------------------------------
def _cli(argv: list[str]) -> int:
    from tools.cli.render import add_parser
    parser = argparse.ArgumentParser(prog="ecg-agent")
    add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.run(args)


def test_cli_writes_image_truth_and_masked_record(tmp_path, capsys) -> None:
    from tools.record_io import write_record
    source = tmp_path / "rec.npz"
    write_record(synthetic(), source)
    out = tmp_path / "page.jpg"
    assert _cli(["render", str(source), "-o", str(out), "--layout", "6x2", "--grid", "bw", "--dpi", "100",
                 "--header", "line one", "line two", "--rotate", "2", "--noise", "4", "--seed", "3"]) == 0
    written = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[1] for p in written] == ["page.jpg", "page.json.gz", "page.hea", "page.dat"]
    truth = read_page_truth(tmp_path / "page.json.gz")
    assert truth.layout == "6x2" and truth.dpi == 100 and [d.name for d in truth.distortions] == ["rotation", "noise"]
    assert np.isfinite(read_record(tmp_path / "page.hea").signal_mv).sum() == 12 * 2500


@pytest.mark.parametrize(("argv", "message"), [
    (["--layout", "4x3"], "layout"), (["--dpi", "0"], "dpi"), (["--crop", "0.9"], "crop"),
    (["--speed", "30"], "paper_speed"), ([], None)])
def test_cli_bad_input_is_an_input_error(tmp_path, argv: list[str], message: str | None) -> None:
    record = tmp_path / "missing.hea" if message is None else tmp_path / "rec.npz"
    if message is not None:
        from tools.record_io import write_record
        write_record(synthetic(), record)
    with pytest.raises(InputError, match=message or "not found|no such"):
        _cli(["render", str(record), "-o", str(tmp_path / "x.png"), *argv])


def test_cli_rejects_records_without_the_layout_leads_and_bad_suffix(tmp_path) -> None:
    from tools.record_io import write_record
    record = tmp_path / "two.npz"
    write_record(synthetic().select(["II", "V5"]), record)
    with pytest.raises(InputError, match="needs leads"):
        _cli(["render", str(record), "-o", str(tmp_path / "x.png")])
    with pytest.raises(InputError, match=".png or .jpg"):
        _cli(["render", str(record), "-o", str(tmp_path / "x.tif")])


def test_cli_help_documents_every_option() -> None:
    from tools.cli.render import add_parser
    parser = argparse.ArgumentParser(prog="ecg-agent")
    sub = parser.add_subparsers()
    add_parser(sub)
    render_parser = sub.choices["render"]
    for action in render_parser._actions:
        assert action.help, f"option {action.option_strings or action.dest} has no help"

