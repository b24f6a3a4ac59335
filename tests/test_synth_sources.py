"""Synthesis sources: PTB-XL scp_codes mapping (on a fabricated PTB-XL-shaped folder), a labelled WFDB
folder, LUDB's labels and cardiologist fiducials, and their bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tools.errors import InputError
from tools.record_io import write_record
from tools.simulate import sample_config, simulate
from training.synth.dataset import SynthConfig
from training.synth.sources import LudbSource, PtbxlSource, WfdbFolderSource, open_source
from training.synth.writer import build_dataset

_STATEMENTS = [  # (code, diagnostic, diagnostic_class, rhythm): a few rows of PTB-XL's scp_statements.csv
    ("NORM", "1.0", "NORM", ""), ("IMI", "1.0", "MI", ""), ("CRBBB", "1.0", "CD", ""), ("LVH", "1.0", "HYP", ""),
    ("SR", "", "", "1.0"), ("AFIB", "", "", "1.0"), ("NDT", "1.0", "STTC", ""),
]


def _write_ptbxl(root: Path, rows: list[tuple[int, str]], missing_file: int | None = None) -> None:
    """A PTB-XL-shaped folder: ptbxl_database.csv, scp_statements.csv, records500/00000/<id>_hr."""
    with open(root / "scp_statements.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "description", "diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass"])
        for code, diagnostic, klass, rhythm in _STATEMENTS:
            writer.writerow([code, code.lower(), diagnostic, "", rhythm, klass, ""])
    with open(root / "ptbxl_database.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ecg_id", "patient_id", "scp_codes", "filename_lr", "filename_hr", "strat_fold"])
        for ecg_id, scp in rows:
            stem = f"records500/00000/{ecg_id:05d}_hr"
            writer.writerow([ecg_id, 100 + ecg_id, scp, f"records100/00000/{ecg_id:05d}_lr", stem, 1])
            if ecg_id != missing_file:
                recording = simulate(sample_config(ecg_id, fs_hz=500.0)).recording
                write_record(recording, root / f"{stem}.hea")


@pytest.fixture(scope="module")
def ptbxl(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ptbxl")
    _write_ptbxl(root, [(1, "{'NORM': 100.0, 'SR': 0.0}"), (2, "{'IMI': 50.0, 'CRBBB': 100.0, 'SR': 0.0}"),
                        (3, "{'XYZ': 100.0}"), (4, "{'AFIB': 0.0, 'LVH': 50.0}"), (5, "{'NORM': 100.0}")],
                 missing_file=5)
    return root


def test_ptbxl_maps_scp_codes_and_superclasses(ptbxl):
    source = PtbxlSource(ptbxl)
    assert len(source) == 3 and source.skipped == 2  # unmappable XYZ, and record 5 without its file
    normal, rbbb, af = (source.record(i) for i in range(3))
    assert (normal.record_id, normal.codes, normal.ptbxl) == ("ptbxl-1", ("sinus_rhythm", "normal_ecg"), ("NORM",))
    # IMI is an infarct statement: superclass MI, but no code of ours (not ST elevation).
    assert rbbb.codes == ("sinus_rhythm", "rbbb") and rbbb.ptbxl == ("CD", "MI") and rbbb.code15 == ("RBBB",)
    assert af.codes == ("atrial_fibrillation", "lvh") and af.ptbxl == ("HYP",) and set(af.code15) == {"AF"}
    assert normal.recording.fs_hz == 500.0 and normal.recording.signal_mv.shape == (5000, 12)
    assert not normal.facts  # no truth values: rate and intervals come from our measurement


def test_ptbxl_dataset_grounds_rates_on_measurement(ptbxl, tmp_path):
    card = build_dataset(SynthConfig(n_samples=12, seed=0, families=("basic", "morphology")), f"ptbxl:{ptbxl}",
                         tmp_path / "out", simulator_fs_hz=500.0)
    assert card["skipped_unlabelled_records"] == 2 and card["n_source_records_available"] == 3
    records = json.loads((tmp_path / "out" / "data.json").read_text())
    origins = {(g["fact"], g["origin"]) for r in records for g in r["grounding"]}
    assert all(origin == "measurement" for fact, origin in origins if fact.endswith(("_ms", "_bpm", "_deg")))
    assert all(origin == "label_file" for fact, origin in origins if fact in ("labels", "ptbxl", "code15"))


def test_ptbxl_bad_folders(tmp_path):
    with pytest.raises(InputError, match="ptbxl_database.csv"):
        PtbxlSource(tmp_path)
    _write_ptbxl(tmp_path, [(1, "{'XYZ': 100.0}")])
    with pytest.raises(InputError, match="no record"):
        PtbxlSource(tmp_path)
    (tmp_path / "ptbxl_database.csv").write_text("ecg_id,scp_codes,filename_hr\n7,not a dict,x\n")
    with pytest.raises(InputError, match="ecg_id=7"):
        PtbxlSource(tmp_path)


def test_wfdb_folder_labels_from_csv_and_header(tmp_path):
    for name, labels in (("a", ["atrial_fibrillation"]), ("b", []), ("c", ["lbbb"])):
        write_record(simulate(sample_config(3, fs_hz=500.0, labels=labels)).recording, tmp_path / f"{name}.hea")
    (tmp_path / "labels.csv").write_text("record,labels\na,atrial_fibrillation\n")
    with open(tmp_path / "c.hea", "a") as handle:
        handle.write("# labels: lbbb; left_axis_deviation\n")
    source = open_source(f"wfdb:{tmp_path}", seed=0, size=1)
    assert isinstance(source, WfdbFolderSource) and len(source) == 2 and source.skipped == 1
    assert source.record(0).codes == ("atrial_fibrillation",)
    assert source.record(1).codes == ("lbbb", "left_axis_deviation") and source.record(1).code15 == ("LBBB",)
    (tmp_path / "labels.csv").write_text("record,labels\na,atrial_fib\n")
    with pytest.raises(InputError, match="atrial_fib"):
        WfdbFolderSource(tmp_path)


def test_no_groundable_conversation_is_input_error(tmp_path):
    write_record(simulate(sample_config(1, fs_hz=500.0, labels=["lvh"])).recording, tmp_path / "r.hea")
    (tmp_path / "labels.csv").write_text("record,labels\nr,lvh\n")
    with pytest.raises(InputError, match="no conversation could be grounded"):
        build_dataset(SynthConfig(n_samples=4, families=("rhythm",)), f"wfdb:{tmp_path}", tmp_path / "out",
                      simulator_fs_hz=500.0)
    assert not (tmp_path / "out" / "data.json").exists() and not (tmp_path / "out" / "data.json.partial").exists()


@pytest.mark.shared_data
def test_ludb_labels_and_cardiologist_fiducials():
    root = shared_path("ludb")
    source = LudbSource(root)
    assert len(source) + source.skipped == 150 and len(source) >= 140
    first = source.record(0)  # LUDB 1: sinus bradycardia, LAD (Russian convention: not mapped), LVH
    assert first.record_id == "ludb-1" and first.codes == ("sinus_bradycardia", "lvh")
    rate = first.facts["heart_rate_bpm"]
    assert rate.origin == "cardiologist_fiducials" and 40.0 <= float(rate.value) < 60.0
    assert 60.0 <= float(first.facts["qrs_ms"].value) <= 130.0 and first.facts["pr_ms"].origin == "cardiologist_fiducials"


def test_ludb_without_table_is_input_error(tmp_path):
    with pytest.raises(InputError, match="ludb.csv"):
        open_source(f"ludb:{tmp_path}", seed=0, size=1)
