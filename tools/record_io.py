"""Read and write recordings: WFDB (.hea/.dat), PhysioNet/CinC 2021 (.mat + .hea), CSV and NPZ.

The format follows the file suffix. Every reader validates what it reads and raises
:class:`~tools.errors.InputError` naming the file and what was wrong; nothing here guesses a
sampling rate or a unit.

==========  ==================================================================================
suffix      format
==========  ==================================================================================
.hea/.dat   WFDB via ``wfdb`` (also a path with no suffix when ``<path>.hea`` exists); signals
            are written as 16-bit at 1 µV per unit (coarser only when a lead exceeds ±32 mV)
.mat        PhysioNet/CinC Challenge 2021: a MATLAB v4 ``val`` matrix (leads × samples, int16)
            described by the ``.hea`` header beside it (``16+24`` format)
.csv        a header row of lead names, optionally led by a ``time_s`` column (from which the
            rate is derived and checked); empty cells are NaN
.npz        arrays ``signal_mv``, ``fs_hz``, ``leads`` and ``meta_json``
==========  ==================================================================================
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import wfdb

from tools.errors import InputError
from tools.recording import Recording

__all__ = ["read_record", "write_record", "recording_to_bytes", "recording_from_bytes", "RECORD_SUFFIXES"]

RECORD_SUFFIXES = (".hea", ".dat", ".mat", ".csv", ".npz")
_META_TAG = "ecg-agent-meta:"  # a WFDB comment line that carries our metadata as JSON
_UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3}


def read_record(path: str | Path, *, fs_hz: float | None = None) -> Recording:
    """Read a recording from ``path`` (format by suffix, see the module docstring).

    Parameters
    ----------
    path : str or Path
        The record file (for WFDB, the ``.hea``, the ``.dat``/``.mat`` or the bare record name).
    fs_hz : float, optional
        Sampling rate in Hz, needed only for a CSV file without a ``time_s`` column.

    Raises
    ------
    InputError
        Missing or empty file, unknown suffix, unknown lead names, wrong shapes, absurd rates.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".hea", ".dat", ".mat") or (suffix == "" and path.with_suffix(".hea").exists()):
        return _read_wfdb(path)
    if not path.is_file():
        raise InputError(f"no such record file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"record file is empty: {path}")
    if suffix == ".csv":
        return _read_csv(path, fs_hz)
    if suffix == ".npz":
        return _read_npz(path)
    raise InputError(f"unsupported record format {path.suffix!r} for {path}; use one of {', '.join(RECORD_SUFFIXES)}")


def write_record(recording: Recording, path: str | Path) -> list[Path]:
    """Write ``recording`` to ``path`` in the format its suffix names; return the files written.

    A ``.hea``/``.dat`` suffix or no suffix writes WFDB; ``.mat`` writes the PhysioNet 2021 pair.
    Metadata travels with the record (a JSON comment in WFDB headers, ``meta_json`` in NPZ); CSV
    keeps only the samples and the time axis.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in ("", ".hea", ".dat"):
        return _write_wfdb(recording, path.with_suffix(""), mat=False)
    if suffix == ".mat":
        return _write_wfdb(recording, path.with_suffix(""), mat=True)
    if suffix == ".csv":
        return [_write_csv(recording, path)]
    if suffix == ".npz":
        return [_write_npz(recording, path)]
    raise InputError(f"unsupported record format {path.suffix!r} for {path}; use one of {', '.join(RECORD_SUFFIXES)}")


# ---- WFDB and PhysioNet 2021 --------------------------------------------------------------
def _read_wfdb(path: Path) -> Recording:
    stem = path.with_suffix("") if path.suffix.lower() in (".hea", ".dat", ".mat") else path
    header = stem.with_suffix(".hea")
    if not header.is_file():
        raise InputError(f"WFDB header not found: {header}")
    if header.stat().st_size == 0:
        raise InputError(f"WFDB header is empty: {header}")
    try:
        channels, missing = _channels_with_data(stem)
        record = wfdb.rdrecord(str(stem), channels=channels)
    except InputError:
        raise
    except Exception as exc:  # wfdb raises bare ValueError/IndexError/OSError on bad files
        raise InputError(f"cannot read WFDB record {stem}: {type(exc).__name__}: {exc}") from None
    if record.p_signal is None or record.sig_name is None or record.p_signal.size == 0:
        raise InputError(f"WFDB record {stem} holds no samples")
    scale = np.array([_unit_scale(unit, stem) for unit in record.units])
    meta, comments = _split_comments(record.comments or [])
    meta.update(source=str(stem), comments=comments)
    if missing:
        meta["warnings"] = [f"signal file(s) {', '.join(missing)} absent: their leads were not read"]
    return Recording(record.p_signal * scale, record.fs, tuple(record.sig_name), meta)


def _channels_with_data(stem: Path) -> tuple[list[int], list[str]]:
    """Indices of the channels whose signal file exists, and the names of absent files."""
    header = wfdb.rdheader(str(stem))
    files = header.file_name or []
    exists = {name: (stem.parent / name).is_file() for name in set(files)}
    channels = [i for i, name in enumerate(files) if exists[name]]
    if not channels:
        raise InputError(f"WFDB record {stem}: none of its signal files exist ({', '.join(sorted(exists))})")
    return channels, sorted(name for name, ok in exists.items() if not ok)


def _unit_scale(unit: str | None, stem: Path) -> float:
    key = (unit or "mV").strip().lower()
    if key not in _UNIT_TO_MV:
        raise InputError(f"record {stem} has signal unit {unit!r}; expected mV, uV or V")
    return _UNIT_TO_MV[key]


def _split_comments(lines: list[str]) -> tuple[dict[str, Any], list[str]]:
    meta: dict[str, Any] = {}
    comments = []
    for line in lines:
        if line.startswith(_META_TAG):
            meta.update(json.loads(line[len(_META_TAG):]))
        else:
            comments.append(line)
    return meta, comments


def _digital(recording: Recording) -> tuple[np.ndarray, np.ndarray]:
    """int16 samples (NaN -> -32768, WFDB's missing value) and the gain per lead in units/mV."""
    peak = np.nanmax(np.abs(recording.signal_mv), axis=0)
    gain = np.where(np.nan_to_num(peak) < 32.0, 1000.0, 200.0)
    scaled = np.round(recording.signal_mv * gain)
    digital = np.where(np.isnan(scaled), -32768, scaled).astype(np.int16)
    return digital, gain


def _write_wfdb(recording: Recording, stem: Path, *, mat: bool) -> list[Path]:
    digital, gain = _digital(recording)
    meta = {k: v for k, v in recording.meta.items() if k not in ("comments", "source")}
    comments = list(recording.meta.get("comments", []))
    if meta:
        comments.append(_META_TAG + json.dumps(meta, default=str))
    n_leads = len(recording.leads)
    data_file = stem.name + (".mat" if mat else ".dat")
    record = wfdb.Record(
        record_name=stem.name, n_sig=n_leads, fs=recording.fs_hz, sig_len=recording.n_samples,
        file_name=[data_file] * n_leads, fmt=["16"] * n_leads, adc_gain=list(gain),
        baseline=[0] * n_leads, units=["mV"] * n_leads, sig_name=list(recording.leads),
        adc_res=[16] * n_leads, adc_zero=[0] * n_leads, d_signal=digital,
        init_value=[int(v) for v in digital[0]], block_size=[0] * n_leads,
        byte_offset=[24] * n_leads if mat else None,
        comments=comments)
    record.set_d_features()  # checksums
    record.wrheader(write_dir=str(stem.parent))
    if mat:  # MATLAB v4: a 20-byte header + "val\0", then column-major = sample-interleaved
        scipy.io.savemat(stem.with_suffix(".mat"), {"val": digital.T}, format="4")
    else:
        record.wr_dats(expanded=False, write_dir=str(stem.parent))
    return [stem.with_suffix(".hea"), stem.parent / data_file]


# ---- CSV -------------------------------------------------------------------------------------
def _read_csv(path: Path, fs_hz: float | None) -> Recording:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise InputError(f"CSV record {path} needs a header row and at least one sample row")
    header = [name.strip() for name in rows[0]]
    try:
        values = np.array([[float(cell) if cell.strip() else np.nan for cell in row] for row in rows[1:]])
    except ValueError as exc:
        raise InputError(f"CSV record {path} has a non-numeric cell: {exc}") from None
    if values.ndim != 2 or values.shape[1] != len(header):
        raise InputError(f"CSV record {path}: every row must have {len(header)} cells like the header")
    if header[0].lower() == "time_s":
        fs_hz = _rate_from_time(values[:, 0], path, fs_hz)
        header, values = header[1:], values[:, 1:]
    elif fs_hz is None:
        raise InputError(f"CSV record {path} has no time_s column: give the sampling rate (fs_hz / --fs)")
    return Recording(values, fs_hz, tuple(header), {"source": str(path)})


def _rate_from_time(time_s: np.ndarray, path: Path, fs_hz: float | None) -> float:
    steps = np.diff(time_s)
    if steps.size == 0 or not np.all(np.isfinite(steps)) or steps.min() <= 0:
        raise InputError(f"CSV record {path}: time_s must increase strictly with at least two rows")
    step = float(np.median(steps))
    if np.abs(steps - step).max() > 1e-3 * step + 1e-9:
        raise InputError(f"CSV record {path}: time_s is not regularly sampled (steps {steps.min():.6g}–{steps.max():.6g} s)")
    derived = 1.0 / step
    if fs_hz is not None and abs(derived - fs_hz) > 1e-3 * fs_hz:
        raise InputError(f"CSV record {path}: time_s implies {derived:.6g} Hz but fs_hz={fs_hz} was given")
    return round(derived, 6)


def _write_csv(recording: Recording, path: Path) -> Path:
    table = np.column_stack([recording.time_s, recording.signal_mv])
    header = ",".join(("time_s",) + recording.leads)
    # 9 significant digits round-trip time to < 1 ns and voltages to < 1 nV; NaN as an empty cell.
    text = "\n".join(",".join("" if np.isnan(v) else f"{v:.9g}" for v in row) for row in table)
    path.write_text(header + "\n" + text + "\n")
    return path


# ---- NPZ -------------------------------------------------------------------------------------
def _read_npz(path: Path | io.BytesIO) -> Recording:
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"signal_mv", "fs_hz", "leads"} - set(data.files)
            if missing:
                raise InputError(f"NPZ record {_name(path)} lacks arrays {sorted(missing)}")
            meta = json.loads(str(data["meta_json"])) if "meta_json" in data.files else {}
            meta.setdefault("source", _name(path))
            return Recording(data["signal_mv"], float(data["fs_hz"]), tuple(str(n) for n in data["leads"]), meta)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read NPZ record {_name(path)}: {exc}") from None


def _name(target: Path | io.BytesIO) -> str:
    return str(target) if isinstance(target, Path) else "<bytes>"


def _write_npz(recording: Recording, target: Path | io.BytesIO) -> Path | io.BytesIO:
    meta = dict(recording.meta)
    if isinstance(target, Path):
        meta.pop("source", None)  # the file itself is the source when read back
    np.savez_compressed(target, signal_mv=recording.signal_mv, fs_hz=recording.fs_hz,
                        leads=np.array(recording.leads), meta_json=json.dumps(meta, default=str))
    return target


def recording_to_bytes(recording: Recording) -> bytes:
    """The recording as in-memory NPZ bytes (for state, uploads and checkpoints); lossless."""
    buffer = io.BytesIO()
    _write_npz(recording, buffer)
    return buffer.getvalue()


def recording_from_bytes(data: bytes) -> Recording:
    """Inverse of :func:`recording_to_bytes`; raises InputError on anything else."""
    if not data:
        raise InputError("record bytes are empty")
    return _read_npz(io.BytesIO(data))
