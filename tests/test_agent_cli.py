"""The agent's command line: demo, interpret, ask, batch; exit codes; the report schema file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main
from agent.report import GroundedReport
from tools.record_io import write_record
from tools.simulate import SimulationConfig, simulate

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def record_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "ecg.npz"
    write_record(simulate(SimulationConfig(fs_hz=500, seed=31, heart_rate_bpm=52, rhythm="sinus_bradycardia")).recording, path)
    return path


def test_report_schema_file_is_current():
    committed = json.loads((REPO / "docs" / "report.schema.json").read_text())
    assert committed == GroundedReport.model_json_schema(), "regenerate with: python -m agent.report > docs/report.schema.json"


@pytest.mark.slow
def test_demo_writes_json_html_and_markdown_reports(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--threads", str(tmp_path / "t.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "HTML report" in out and (tmp_path / "demo_ecg.png").is_file()
    report = GroundedReport.model_validate_json((tmp_path / "demo_report.json").read_text())
    assert report.input.kind == "image" and report.measurements is not None
    codes = {s.code for s in report.statements}
    assert {"av_block_1", "rbbb"} <= codes, f"the demo's known abnormalities were not found: {codes}"
    assert "<html>" in (tmp_path / "demo_report.html").read_text()


def test_interpret_then_ask_on_the_same_thread(tmp_path, record_file, capsys):
    output = tmp_path / "report.json"
    threads = tmp_path / "threads.sqlite"
    assert main(["interpret", str(record_file), "--format", "json", "-o", str(output), "--threads", str(threads)]) == 0
    report = json.loads(output.read_text())
    assert report["measurements"]["rhythm"]["label"] == "sinus_bradycardia"
    assert main(["ask", report["thread_id"], "what is the heart rate?", "--threads", str(threads)]) == 0
    assert "heart_rate_bpm" in capsys.readouterr().out


def test_unreachable_model_still_gives_a_report(tmp_path, record_file, capsys):
    code = main(["interpret", str(record_file), "--mllm", "http://127.0.0.1:9/v1", "--format", "md",
                 "--threads", str(tmp_path / "t.sqlite")])
    assert code == 0
    out = capsys.readouterr().out
    assert "tools alone" in out and "Sinus bradycardia" in out


@pytest.mark.parametrize("argv, words", [
    (["interpret", "no/such/file.png"], "no such input file"),
    (["interpret", "{record}", "--tools", "digitizer,magic"], "unknown tool"),
    (["interpret", "{record}", "--mllm", "ftp://x"], "not understood"),
    (["ask", "nothread", "why?"], "no interpreted ECG"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, record_file, capsys, argv, words):
    argv = [a.replace("{record}", str(record_file)) for a in argv] + ["--threads", str(tmp_path / "t.sqlite")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_batch_is_resumable_and_keeps_failures(tmp_path, record_file):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        (folder / f"r{i}.npz").write_bytes(record_file.read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    results = tmp_path / "out" / "results.jsonl"
    argv = ["batch", str(folder), "-o", str(results), "--threads", str(tmp_path / "t.sqlite")]
    assert main(argv) == 0
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(lines) == 3 and {Path(line["source"]).name for line in lines} == {"r0.npz", "r1.npz", "broken.png"}
    broken = next(line for line in lines if line["source"].endswith("broken.png"))
    assert broken["report"]["refused"]
    assert main(argv) == 0  # the re-run finds everything done
    assert len(results.read_text().splitlines()) == 3


def test_console_script_exit_code_and_help():
    script = Path(sys.executable).parent / "ecg-agent"
    done = subprocess.run([str(script), "interpret", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--mllm" in done.stdout and "--tools" in done.stdout
    done = subprocess.run([str(script), "interpret", "missing.png"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("ecg-agent: error:")
