"""Labelled recordings to synthesize instruction data from, with every fact tagged by its origin.

A source is a numbered, seeded collection of :class:`LabelledRecord` (``len(source)`` records,
``source.record(i)`` builds record ``i`` on demand, so worker processes each build their own):

- ``simulator``: :mod:`tools.simulate` records drawn per label scenario; exact truth for rate,
  intervals, QTc and axes (origin ``truth``), labels derived by the simulator.
- ``ludb[:DIR]``: LUDB (default ../shared/data/ludb); labels from ``ludb.csv`` (origin
  ``label_file``), rate and intervals from the cardiologists' fiducials
  (``cardiologist_fiducials``).
- ``wfdb:DIR``: any WFDB folder with our vocabulary codes per record, either in ``DIR/labels.csv``
  (columns ``record`` and ``labels``, codes separated by ``;``) or in a header comment
  ``# labels: code;code``.
- ``ptbxl:DIR``: a PTB-XL folder (``ptbxl_database.csv``, ``scp_statements.csv``, ``records500/``
  or ``records100/``); ``scp_codes`` are mapped to our codes by :data:`PTBXL_TO_CODES` and the
  diagnostic superclasses come from ``scp_statements.csv`` itself.

Records whose labels map to no code of ours are left out and counted in ``source.skipped``; a
source with no labelled record at all is an :class:`~tools.errors.InputError`.
"""

from __future__ import annotations

import ast
import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from tools.errors import InputError
from tools.record_io import read_record
from tools.recording import Recording
from tools.vocabulary import LABELS, code15_classes, label, ptbxl_superclasses

__all__ = ["Origin", "Fact", "LabelledRecord", "Source", "SimulatorSource", "LudbSource", "WfdbFolderSource",
           "PtbxlSource", "PTBXL_TO_CODES", "LUDB_TO_CODES", "SIMULATOR_SCENARIOS", "open_source"]

Origin = Literal["truth", "label_file", "cardiologist_fiducials", "measurement"]
DEFAULT_LUDB = Path("../shared/data/ludb")


@dataclass(frozen=True)
class Fact:
    """One answerable fact: its value (number in the unit its name ends with, or a code) and origin."""

    value: float | str
    origin: Origin


@dataclass(frozen=True)
class LabelledRecord:
    """A recording with what is known about it.

    Attributes
    ----------
    record_id : str
        Stable id within the source ("sim-000012", "ludb-7", "ptbxl-1234").
    recording : Recording
        The signal, (n_samples, n_leads) mV.
    codes : tuple of str
        :mod:`tools.vocabulary` codes present.
    known_codes : frozenset of str
        Codes the source can state at all: a code in ``known_codes`` but not in ``codes`` is
        absent (a negative answer is grounded); outside it, nothing is said.
    facts : dict of str to Fact
        Numeric facts from truth or annotations (``heart_rate_bpm``, ``pr_ms``, ``qrs_ms``,
        ``qt_ms``, ``qtc_ms``, ``qrs_axis_deg``).
    ptbxl : tuple of str
        PTB-XL diagnostic superclasses (NORM, MI, STTC, CD, HYP).
    code15 : tuple of str
        CODE-15 classes (1dAVb, RBBB, LBBB, SB, ST, AF).
    label_origin : Origin
        Where ``codes`` came from.
    facts_complete : bool
        True when ``facts`` lists every defined value (simulator truth): a missing one is undefined
        (no PR in AF) and must not be filled in by a measurement.
    """

    record_id: str
    recording: Recording
    codes: tuple[str, ...]
    known_codes: frozenset[str]
    facts: dict[str, Fact] = field(default_factory=dict)
    ptbxl: tuple[str, ...] = ()
    code15: tuple[str, ...] = ()
    label_origin: Origin = "label_file"
    facts_complete: bool = False


class Source(Protocol):
    """A numbered collection of labelled records (see the module docstring)."""

    name: str
    skipped: int

    def __len__(self) -> int: ...

    def record(self, index: int) -> LabelledRecord: ...


def _ordered(codes: set[str]) -> tuple[str, ...]:
    return tuple(code for code in LABELS if code in codes)


# ---- simulator -----------------------------------------------------------------------------------
SIMULATOR_SCENARIOS: tuple[tuple[str, ...], ...] = (
    ("normal_ecg",), ("normal_ecg",), ("sinus_bradycardia",), ("sinus_tachycardia",), ("sinus_arrhythmia",),
    ("atrial_fibrillation",), ("atrial_flutter",), ("av_block_3",), ("av_block_1",), ("av_block_2_wenckebach",),
    ("av_block_2_mobitz2",), ("pac",), ("pvc",), ("rbbb",), ("lbbb",), ("lafb",), ("ivcd",),
    ("left_axis_deviation",), ("right_axis_deviation",), ("lvh",), ("low_voltage",), ("st_elevation_inferior",),
    ("st_elevation_anterior",), ("st_elevation_lateral",), ("st_depression",), ("t_inversion",), ("long_qt",),
    ("short_qt",), ("atrial_fibrillation", "rbbb"), ("sinus_bradycardia", "av_block_1"), ("lvh", "st_depression"),
    ("sinus_tachycardia", "pvc"), ("lbbb", "left_axis_deviation"), ("rbbb", "lafb"),
)
"""Label sets the simulator source cycles through at random (normal ECGs drawn twice as often)."""


class SimulatorSource:
    """Simulated records: record ``i`` draws a scenario and a config from ``(seed, i)``.

    Parameters
    ----------
    size : int
        How many distinct records the source holds.
    seed : int
        Seeds every draw.
    fs_hz : float
        Sampling rate in Hz.
    """

    name = "simulator"
    skipped = 0

    def __init__(self, size: int, seed: int, *, fs_hz: float) -> None:
        if size < 1:
            raise InputError(f"simulator size={size}; must be at least 1")
        self._size, self._seed, self._fs_hz = size, seed, fs_hz

    def __len__(self) -> int:
        return self._size

    def record(self, index: int) -> LabelledRecord:
        """Simulate record ``index`` (deterministic in ``(seed, index)``)."""
        from tools.simulate import sample_config, simulate

        rng = np.random.default_rng([self._seed, index, 11])
        scenario = SIMULATOR_SCENARIOS[int(rng.integers(len(SIMULATOR_SCENARIOS)))]
        config = sample_config(int(rng.integers(2**31)), fs_hz=self._fs_hz, labels=scenario,
                               noisy=bool(rng.uniform() < 0.3))
        sim = simulate(config)
        truth = sim.truth
        values = {"heart_rate_bpm": truth.heart_rate_bpm, "pr_ms": truth.pr_ms, "qrs_ms": truth.qrs_ms,
                  "qt_ms": truth.qt_ms, "qtc_ms": truth.qtc_bazett_ms, "qrs_axis_deg": truth.qrs_axis_deg}
        facts = {name: Fact(float(value), "truth") for name, value in values.items() if value is not None}
        return LabelledRecord(f"sim-{index:06d}", sim.recording, tuple(truth.labels), frozenset(LABELS), facts,
                              tuple(truth.ptbxl), tuple(truth.code15), "truth", facts_complete=True)


# ---- LUDB ------------------------------------------------------------------------------------------
LUDB_TO_CODES: tuple[tuple[str, str, str], ...] = (
    # (ludb.csv column, regular expression on one lower-cased entry, our code)
    ("Rhythms", r"^sinus rhythm", "sinus_rhythm"), ("Rhythms", r"^sinus bradycardia", "sinus_bradycardia"),
    ("Rhythms", r"^sinus tachycardia", "sinus_tachycardia"), ("Rhythms", r"^sinus arrhythmia", "sinus_arrhythmia"),
    ("Rhythms", r"^atrial fibrillation", "atrial_fibrillation"), ("Rhythms", r"^atrial flutter", "atrial_flutter"),
    ("Conduction abnormalities", r"^i degree av block", "av_block_1"),
    ("Conduction abnormalities", r"^iii degree av-block", "av_block_3"),
    ("Conduction abnormalities", r"^complete right bundle branch block", "rbbb"),
    ("Conduction abnormalities", r"^complete left bundle branch block", "lbbb"),
    ("Conduction abnormalities", r"^left anterior hemiblock", "lafb"),
    ("Conduction abnormalities", r"^non-specific intravintricular conduction delay", "ivcd"),
    ("Extrasystolies", r"^atrial extrasystole", "pac"), ("Extrasystolies", r"^ventricular extrasystole", "pvc"),
    ("Hypertrophies", r"^left ventricular hypertrophy", "lvh"),
    # LUDB's classes follow the Russian convention (left < 0°, normal 30-70°, horizontal 0-30°,
    # vertical 70-90°): only "right" and the three normal ones have an AHA equivalent.
    ("Electric axis of the heart", r"(normal|vertical|horizontal)$", "normal_axis"),
    ("Electric axis of the heart", r"right axis deviation$", "right_axis_deviation"),
)
_LUDB_STATED = frozenset(code for _, _, code in LUDB_TO_CODES)


class LudbSource:
    """LUDB records (``DIR/ludb.csv`` and ``DIR/data/N.hea``), labelled and annotated by cardiologists."""

    name = "ludb"

    def __init__(self, root: Path) -> None:
        table = root / "ludb.csv"
        if not table.is_file():
            raise InputError(f"LUDB folder {root} has no ludb.csv")
        with open(table, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.DictReader(handle) if (root / "data" / f"{row['ID']}.hea").is_file()]
        labelled = [(row["ID"], _ludb_codes(row)) for row in sorted(rows, key=lambda r: int(r["ID"]))]
        self._root = root
        self._rows = [(rid, codes) for rid, codes in labelled if codes]
        self.skipped = len(labelled) - len(self._rows)
        if not self._rows:
            raise InputError(f"LUDB folder {root}: no record with a label we can map ({len(labelled)} records read)")

    def __len__(self) -> int:
        return len(self._rows)

    def record(self, index: int) -> LabelledRecord:
        """LUDB record number ``index`` (in ID order), with fiducial-based rate and intervals."""
        from tools.ludb import ludb_reference, read_ludb_annotations

        rid, codes = self._rows[index]
        stem = self._root / "data" / rid
        recording = read_record(stem.with_suffix(".hea"))
        reference = ludb_reference(read_ludb_annotations(stem), recording.fs_hz)
        facts = {name: Fact(float(reference[name]), "cardiologist_fiducials")
                 for name in ("pr_ms", "qrs_ms", "qt_ms") if np.isfinite(reference[name])}
        r_s = np.array([beat["r"] for beat in reference["beats"]]) / recording.fs_hz
        if r_s.size >= 3:
            facts["heart_rate_bpm"] = Fact(60.0 / float(np.mean(np.diff(r_s))), "cardiologist_fiducials")
        if "qt_ms" in facts and "heart_rate_bpm" in facts:
            rr_s = 60.0 / float(facts["heart_rate_bpm"].value)
            facts["qtc_ms"] = Fact(float(facts["qt_ms"].value) / np.sqrt(rr_s), "cardiologist_fiducials")
        return _labelled(f"ludb-{rid}", recording, codes, _LUDB_STATED, facts)


def _ludb_codes(row: dict[str, str]) -> set[str]:
    codes = set()
    for column, pattern, code in LUDB_TO_CODES:
        entries = [entry.strip().lower() for entry in row.get(column, "").split("\n") if entry.strip()]
        if any(re.search(pattern, entry) for entry in entries):
            codes.add(code)
    # LUDB lists every finding it saw: sinus rhythm, a normal axis and nothing else is a normal ECG.
    if "sinus_rhythm" in codes and not any(row.get(column, "").strip() for column in (
            "Conduction abnormalities", "Extrasystolies", "Hypertrophies", "Cardiac pacing", "Ischemia",
            "Non-specific repolarization abnormalities", "Other states")) and "normal_axis" in codes:
        codes.add("normal_ecg")
    return codes


def _labelled(record_id: str, recording: Recording, codes: set[str], stated: frozenset[str],
              facts: dict[str, Fact], ptbxl: set[str] | None = None) -> LabelledRecord:
    return LabelledRecord(record_id, recording, _ordered(codes), stated, facts,
                          tuple(sorted(ptbxl if ptbxl is not None else ptbxl_superclasses(codes))),
                          tuple(sorted(code15_classes(codes))), "label_file")


# ---- generic WFDB folder ----------------------------------------------------------------------------
class WfdbFolderSource:
    """Every ``*.hea`` under a folder, labelled by ``labels.csv`` or a ``# labels:`` header comment."""

    name = "wfdb"

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise InputError(f"wfdb folder {root} does not exist")
        headers = sorted(root.rglob("*.hea"))
        if not headers:
            raise InputError(f"wfdb folder {root} holds no .hea record")
        table = _labels_csv(root / "labels.csv") if (root / "labels.csv").is_file() else {}
        rows = []
        for header in headers:
            key = header.relative_to(root).with_suffix("").as_posix()
            text = table.get(key, table.get(header.stem)) or _header_labels(header)
            if text is not None:
                rows.append((key, _codes(text, f"labels of {key}")))
        self._root = root
        self._rows = [(key, codes) for key, codes in rows if codes]
        self.skipped = len(headers) - len(self._rows)
        if not self._rows:
            raise InputError(f"wfdb folder {root}: none of its {len(headers)} records has labels "
                             "(give labels.csv with columns record,labels or a '# labels: code;code' header line)")

    def __len__(self) -> int:
        return len(self._rows)

    def record(self, index: int) -> LabelledRecord:
        key, codes = self._rows[index]
        recording = read_record(self._root / f"{key}.hea")
        return _labelled(f"wfdb-{key.replace('/', '_')}", recording, codes, frozenset(LABELS), {})


def _labels_csv(path: Path) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"record", "labels"} <= set(reader.fieldnames):
            raise InputError(f"{path} needs columns record,labels; found {reader.fieldnames}")
        return {row["record"].strip(): row["labels"] for row in reader if row["labels"] and row["labels"].strip()}


def _header_labels(header: Path) -> str | None:
    for line in header.read_text(encoding="utf-8", errors="replace").splitlines():
        match = re.match(r"#\s*labels\s*:\s*(.*)$", line.strip(), flags=re.IGNORECASE)
        if match and match.group(1).strip():
            return match.group(1)
    return None


def _codes(text: str, where: str) -> set[str]:
    codes = {part.strip() for part in re.split(r"[;,]", text) if part.strip()}
    for code in codes:
        try:
            label(code)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    return codes


# ---- PTB-XL ----------------------------------------------------------------------------------------
PTBXL_TO_CODES: dict[str, str] = {
    "NORM": "normal_ecg", "SR": "sinus_rhythm", "SBRAD": "sinus_bradycardia", "STACH": "sinus_tachycardia",
    "SARRH": "sinus_arrhythmia", "AFIB": "atrial_fibrillation", "AFLT": "atrial_flutter", "3AVB": "av_block_3",
    "1AVB": "av_block_1", "CRBBB": "rbbb", "CLBBB": "lbbb", "LAFB": "lafb", "IVCD": "ivcd", "PAC": "pac",
    "PVC": "pvc", "LVH": "lvh", "LVOLT": "low_voltage", "LNGQT": "long_qt", "STD_": "st_depression",
    "INVT": "t_inversion",
}
"""PTB-XL SCP statement -> our code, only where the meaning is the same (PTB-XL's MI statements are
infarcts, mostly old, not ST elevation, so they map to no code; their superclass MI is kept)."""


class PtbxlSource:
    """PTB-XL as distributed on PhysioNet; ``high_rate`` picks records500 (500 Hz), else records100 (100 Hz)."""

    name = "ptbxl"

    def __init__(self, root: Path, *, high_rate: bool = True) -> None:
        database, statements = root / "ptbxl_database.csv", root / "scp_statements.csv"
        for path in (database, statements):
            if not path.is_file():
                raise InputError(f"PTB-XL folder {root} has no {path.name}")
        superclass = _ptbxl_superclasses(statements)
        column = "filename_hr" if high_rate else "filename_lr"
        rows, read = [], 0
        with open(database, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                read += 1
                scp = _scp_codes(row.get("scp_codes", ""), row.get("ecg_id", "?"))
                codes = {PTBXL_TO_CODES[code] for code in scp if code in PTBXL_TO_CODES}
                classes = {superclass[code] for code in scp if code in superclass}
                if (codes or classes) and (root / f"{row[column]}.hea").is_file():
                    rows.append((row["ecg_id"], row[column], codes, classes))
        self._root, self._rows = root, rows
        self.skipped = read - len(rows)
        if not rows:
            raise InputError(f"PTB-XL folder {root}: no record with both a mappable scp_code and its "
                             f"{column} file ({read} rows read)")

    def __len__(self) -> int:
        return len(self._rows)

    def record(self, index: int) -> LabelledRecord:
        ecg_id, filename, codes, classes = self._rows[index]
        recording = read_record(self._root / f"{filename}.hea")
        return _labelled(f"ptbxl-{ecg_id}", recording, codes, frozenset(PTBXL_TO_CODES.values()), {}, classes)


def _ptbxl_superclasses(path: Path) -> dict[str, str]:
    """SCP code -> diagnostic superclass, for the statements PTB-XL marks diagnostic."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        first = reader.fieldnames[0] if reader.fieldnames else ""
        return {row[first].strip(): row["diagnostic_class"].strip() for row in reader
                if row.get("diagnostic", "").strip() in ("1", "1.0") and row.get("diagnostic_class", "").strip()}


def _scp_codes(text: str, ecg_id: str) -> dict[str, float]:
    try:
        value = ast.literal_eval(text) if text.strip() else {}
    except (ValueError, SyntaxError):
        raise InputError(f"PTB-XL ecg_id={ecg_id}: scp_codes={text!r} is not a dict literal") from None
    if not isinstance(value, dict):
        raise InputError(f"PTB-XL ecg_id={ecg_id}: scp_codes={text!r} is not a dict literal")
    return value


# ---- dispatch --------------------------------------------------------------------------------------
def open_source(spec: str, *, seed: int, size: int, fs_hz: float = 500.0) -> Source:
    """The source named by ``spec``: ``simulator``, ``ludb[:DIR]``, ``wfdb:DIR`` or ``ptbxl:DIR``.

    ``size`` and ``fs_hz`` (Hz) apply to the simulator only.

    Raises
    ------
    InputError
        On an unknown kind, a missing folder, or a folder without any labelled record.
    """
    kind, _, where = spec.partition(":")
    if kind == "simulator" and not where:
        return SimulatorSource(size, seed, fs_hz=fs_hz)
    if kind == "ludb":
        return LudbSource(Path(where) if where else DEFAULT_LUDB)
    if kind in ("wfdb", "ptbxl") and where:
        root = Path(where)
        if not root.is_dir():
            raise InputError(f"--source {spec!r}: folder {root} does not exist")
        return WfdbFolderSource(root) if kind == "wfdb" else PtbxlSource(root)
    raise InputError(f"--source {spec!r}; allowed: simulator, ludb[:DIR], wfdb:DIR, ptbxl:DIR")

