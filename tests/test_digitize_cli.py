"""``ecg-agent digitize``: record by suffix, JSON sidecar, overlay, exit code 2 on bad input."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from PIL import Image

from tools.cli import digitize as cli
from tools.errors import InputError
from tools.record_io import read_record
from tools.render import RenderConfig, render
from tools.simulate import SimulationConfig, simulate


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    return parser.parse_args(["digitize", *argv])


@pytest.fixture(scope="module")
def page_png(tmp_path_factory):
    page = render(simulate(SimulationConfig(fs_hz=500, seed=5)).recording, RenderConfig(dpi=100))
    path = tmp_path_factory.mktemp("page") / "page.png"
    Image.fromarray(page.image).save(path)
    return path


@pytest.mark.parametrize("suffix", ["", ".npz", ".csv"])
def test_writes_record_sidecar_and_overlay(page_png, tmp_path, suffix: str) -> None:
    out = tmp_path / f"rec{suffix}"
    overlay = tmp_path / "overlay.png"
    args = _parse([str(page_png), "-o", str(out), "--overlay", str(overlay)])
    assert args.run(args) == 0
    recording = read_record(out.with_suffix(".hea") if not suffix else out)
    assert recording.fs_hz == 500 and len(recording.leads) == 12
    assert np.isfinite(recording.signal_mv).any(axis=0).all()  # every lead was read
    sidecar = json.loads((tmp_path / "rec.digitization.json").read_text())
    assert sidecar["layout"]["name"] == "3x4+1" and sidecar["calibration"]["method"] == "grid"
    with Image.open(overlay) as drawn, Image.open(page_png) as original:
        assert drawn.size == original.size


def test_bad_image_raises_input_error(tmp_path) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    args = _parse([str(path), "-o", str(tmp_path / "out")])
    with pytest.raises(InputError):
        args.run(args)
