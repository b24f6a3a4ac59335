"""Readers and writers: round trips on every format, real records, and bad files."""

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

from tests.conftest import shared_path
from tools.errors import InputError
from tools.record_io import read_record, recording_from_bytes, recording_to_bytes, write_record
from tools.recording import LEADS, Recording

FORMATS = [".hea", ".mat", ".csv", ".npz"]
# 16-bit at 1 µV per unit: a round trip through WFDB or .mat quantises to 0.5 µV.
QUANTUM_MV = 0.5e-3 + 1e-12


def _synthetic(fs=500.0, n=2500):
    rng = np.random.default_rng(1)
    signal = np.cumsum(rng.normal(0, 0.01, (n, 12)), axis=0)
    signal[100:400, 3] = np.nan
    return Recording(signal, fs, LEADS, {"patient": "synthetic", "comments": ["Dx: none"]})


def _assert_same(a: Recording, b: Recording, tol_mv: float):
    assert a.leads == b.leads and a.fs_hz == b.fs_hz and a.n_samples == b.n_samples
    assert np.array_equal(np.isnan(a.signal_mv), np.isnan(b.signal_mv))
    assert np.nanmax(np.abs(a.signal_mv - b.signal_mv)) <= tol_mv


@pytest.mark.parametrize("suffix", FORMATS)
def test_round_trip_keeps_samples_nan_and_metadata(tmp_path, suffix):
    rec = _synthetic()
    written = write_record(rec, tmp_path / f"rec{suffix}")
    assert all(path.is_file() for path in written)
    back = read_record(tmp_path / f"rec{suffix}")
    _assert_same(rec, back, QUANTUM_MV if suffix in (".hea", ".mat") else 1e-8)
    if suffix != ".csv":  # CSV carries samples only
        assert back.meta["patient"] == "synthetic"


def test_mat_file_is_the_physionet_2021_layout(tmp_path):
    """Our .mat reads back with scipy as the Challenge's `val` matrix (leads x samples, int16)."""
    rec = _synthetic()
    write_record(rec, tmp_path / "A0001.mat")
    val = scipy.io.loadmat(tmp_path / "A0001.mat")["val"]
    assert val.shape == (12, rec.n_samples) and val.dtype == np.int16
    assert re.search(r"^A0001\.mat 16\+24 1000(\.0)?(\(0\))?/mV", (tmp_path / "A0001.hea").read_text(), re.M)
    finite = np.isfinite(rec.signal_mv.T)
    assert np.abs(val[finite] / 1000.0 - rec.signal_mv.T[finite]).max() <= QUANTUM_MV


def test_physionet_2021_record_matches_scipy_reading():
    """JS00001 read by us equals an independent reading of its `val` matrix with the header gains."""
    hea = shared_path("records", "JS00001.hea")
    rec = read_record(hea)
    val = scipy.io.loadmat(hea.with_suffix(".mat"))["val"]
    assert rec.leads == LEADS and rec.fs_hz == 500 and rec.n_samples == 5000
    np.testing.assert_allclose(rec.signal_mv, val.T / 1000.0, atol=1e-9)
    assert any("Dx: 164889003" in line for line in rec.meta["comments"])


@pytest.mark.parametrize("name, leads, fs, n", [
    ("JS00001", LEADS, 500, 5000), ("00001_lr", LEADS, 100, 1000),
    ("s0010_re", LEADS, 1000, 38400), ("100", ("II", "V5"), 360, 650000)])
def test_real_records_read_and_round_trip(tmp_path, name, leads, fs, n):
    rec = read_record(shared_path("records", name + ".hea"))
    assert rec.leads == leads and rec.fs_hz == fs and rec.n_samples == n
    reference = wfdb.rdrecord(str(shared_path("records") / name), channels=list(range(len(leads))))
    np.testing.assert_allclose(rec.signal_mv, reference.p_signal, atol=1e-12)
    for suffix in (".hea", ".npz") if n > 100_000 else FORMATS:
        write_record(rec, tmp_path / f"out{suffix}")
        _assert_same(rec, read_record(tmp_path / f"out{suffix}"), QUANTUM_MV if suffix in (".hea", ".mat") else 1e-8)


def test_missing_signal_file_drops_those_leads_with_a_warning():
    rec = read_record(shared_path("records", "s0010_re.hea"))  # its .xyz (Frank leads) is not shipped
    assert "X" not in rec and any(".xyz" in w for w in rec.meta["warnings"])


@pytest.mark.slow
def test_every_ludb_record_round_trips(tmp_path):
    folder = shared_path("ludb", "data")
    headers = sorted(folder.glob("*.hea"), key=lambda p: int(p.stem))
    assert len(headers) >= 100
    for i, header in enumerate(headers):
        rec = read_record(header)
        assert rec.leads == LEADS and rec.fs_hz == 500 and rec.n_samples == 5000
        suffix = FORMATS[i % len(FORMATS)]
        write_record(rec, tmp_path / f"{header.stem}{suffix}")
        _assert_same(rec, read_record(tmp_path / f"{header.stem}{suffix}"), QUANTUM_MV if suffix in (".hea", ".mat") else 1e-8)


@pytest.mark.parametrize("content, suffix, message", [
    ("", ".csv", "empty"),
    ("I,II\n0.1,0.2\n", ".csv", "sampling rate"),
    ("time_s,I\n0,0.1\n0.002,0.1\n0.01,0.2\n", ".csv", "regularly"),
    ("time_s,I,Q\n0,0.1,0.2\n0.002,0.1,0.2\n", ".csv", "unknown lead name 'Q'"),
    ("time_s,I\n0,abc\n", ".csv", "non-numeric"),
    ("time_s,I\n0,0.1,3\n", ".csv", "cells"),
    ("not a zip", ".npz", "cannot read"),
    ("x", ".edf", "unsupported"),
    ("", ".hea", "empty"),
])
def test_bad_files_raise_input_error_naming_the_problem(tmp_path, content, suffix, message):
    path = tmp_path / f"rec{suffix}"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_record(path)


def test_header_with_zero_sampling_rate_is_refused(tmp_path):
    (tmp_path / "rec.hea").write_text("rec 1 0 10\nrec.dat 16 200 16 0 0 0 0 I\n")
    (tmp_path / "rec.dat").write_bytes(bytes(20))
    with pytest.raises(InputError, match="fs_hz=0"):
        read_record(tmp_path / "rec.hea")


def test_missing_files_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="no such record"):
        read_record(tmp_path / "absent.csv")
    with pytest.raises(InputError, match="header not found"):
        read_record(tmp_path / "absent.hea")
    (tmp_path / "lonely.mat").write_bytes(b"\0" * 10)
    with pytest.raises(InputError, match="header not found"):
        read_record(tmp_path / "lonely.mat")


def test_header_with_absent_data_file_is_refused(tmp_path):
    (tmp_path / "rec.hea").write_text("rec 1 500 10\nrec.dat 16 200 16 0 0 0 0 I\n")
    with pytest.raises(InputError, match="none of its signal files"):
        read_record(tmp_path / "rec.hea")


def test_csv_with_fs_argument_and_no_time_column(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("II,V1\n0.1,0.2\n0.3,\n")
    rec = read_record(path, fs_hz=250)
    assert rec.fs_hz == 250 and rec.leads == ("II", "V1") and np.isnan(rec.signal_mv[1, 1])


def test_unsupported_output_suffix(tmp_path):
    with pytest.raises(InputError, match="unsupported"):
        write_record(_synthetic(), Path(tmp_path / "x.edf"))


def test_bytes_round_trip_is_lossless_and_validated():
    rec = _synthetic()
    back = recording_from_bytes(recording_to_bytes(rec))
    _assert_same(rec, back, 0.0)
    assert back.meta["patient"] == "synthetic"
    for bad in (b"", b"PK\x03\x04 not really a zip"):
        with pytest.raises(InputError):
            recording_from_bytes(bad)
