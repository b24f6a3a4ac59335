"""Tests of ``ecg-agent simulate`` through the real dispatcher: files written, read back, truth exact."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from agent.cli import main
from tools.cli import simulate as cli_simulate
from tools.record_io import read_record
from tools.simulate import SimulationConfig, SimulationTruth, simulate


def load_truth(path) -> tuple[SimulationConfig, SimulationTruth]:
    payload = json.loads(path.read_text())
    return SimulationConfig(**payload["config"]), SimulationTruth.model_validate(payload["truth"])


def test_wfdb_record_and_truth_read_back(tmp_path, capsys):
    out = tmp_path / "rec"
    assert main(["simulate", "-o", str(out), "--seed", "3", "--hr", "80", "--qt", "380"]) == 0
    printed = capsys.readouterr().out
    assert str(tmp_path / "rec.hea") in printed and str(tmp_path / "rec.truth.json") in printed
    config, truth = load_truth(tmp_path / "rec.truth.json")
    assert (config.seed, config.heart_rate_bpm, config.qt_ms, config.fs_hz) == (3, 80.0, 380.0, 500.0)
    expected = simulate(config)
    assert truth == expected.truth and truth.qt_ms == 380.0
    recording = read_record(tmp_path / "rec.hea")
    assert recording.leads == expected.recording.leads and recording.fs_hz == 500.0
    np.testing.assert_allclose(recording.signal_mv, expected.recording.signal_mv, atol=1e-3)


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_other_formats_by_suffix(tmp_path, suffix):
    out = tmp_path / f"case{suffix}"
    assert main(["simulate", "-o", str(out), "--fs", "250", "--duration", "4", "--rhythm", "atrial_fibrillation",
                 "--hr", "110"]) == 0
    config, truth = load_truth(tmp_path / "case.truth.json")
    recording = read_record(out, fs_hz=250.0)
    assert recording.signal_mv.shape == (1000, 12)
    np.testing.assert_allclose(recording.signal_mv, simulate(config).recording.signal_mv, atol=1e-6)
    assert "atrial_fibrillation" in truth.labels and all(b.p_on_s is None for b in truth.beats)


def test_labels_and_noise_options(tmp_path):
    out = tmp_path / "lbbb"
    assert main(["simulate", "-o", str(out), "--label", "lbbb", "pvc", "--seed", "2", "--mains", "0.05",
                 "--mains-hz", "60", "--pr", "170"]) == 0
    config, truth = load_truth(tmp_path / "lbbb.truth.json")
    assert {"lbbb", "pvc"} <= set(truth.labels) and "LBBB" in truth.code15
    assert config.noise.mains_mv == 0.05 and config.noise.mains_hz == 60 and config.pr_ms == 170.0


@pytest.mark.parametrize("argv,needle", [
    (["--hr", "300"], "heart_rate_bpm=300"),
    (["--fs", "0"], "fs_hz=0"),
    (["--rhythm", "torsades"], "rhythm='torsades'"),
    (["--label", "nonsense"], "nonsense"),
    (["--qrs", "150"], "qrs_ms=150"),
    (["--emg", "-1"], "emg_mv=-1"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, needle):
    assert main(["simulate", "-o", str(tmp_path / "bad"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ecg-agent: error:") and needle in err and "\n" not in err
    assert not list(tmp_path.iterdir())


def test_every_option_has_help_with_units():
    parser = argparse.ArgumentParser()
    cli_simulate.add_parser(parser.add_subparsers())
    sub = parser._subparsers._group_actions[0].choices["simulate"]  # type: ignore[union-attr]
    options = [action for action in sub._actions if action.option_strings and action.dest != "help"]
    assert len(options) >= 15
    for action in options:
        assert action.help, action.dest
        if action.type in (int, float) and action.dest != "seed":
            assert action.metavar in ("HZ", "S", "BPM", "MS", "MV"), action.dest
