"""Shared fixtures: the path to ../shared/data and a clean skip when it is absent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.loopback import free_port

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ECG_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data; skips the calling test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path} (set ECG_SHARED_DATA or run beside ../shared/data)")
    return path


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder (tests using it are skipped when it is absent)."""
    return shared_path()


@pytest.fixture(scope="session")
def ludb_measured() -> list[tuple[int, dict, Path, object]]:
    """Every LUDB record measured once with the default config: (id, labels from ludb.csv, record
    stem, Measurement); skipped when ../shared/data/ludb is absent."""
    from tools.ludb import ludb_labels
    from tools.measure import MeasureConfig, measure
    from tools.record_io import read_record

    root = shared_path("ludb")
    out = []
    for rec_id, labels in sorted(ludb_labels(root / "ludb.csv").items()):
        stem = root / "data" / str(rec_id)
        if stem.with_suffix(".hea").exists():
            out.append((rec_id, labels, stem, measure(read_record(stem.with_suffix(".hea")), MeasureConfig())))
    return out


SERVER_START_TIMEOUT_S = 240.0


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory) -> Path:
    """A tiny Hugging Face LLaVA-NeXT directory (random weights, local tokenizer), built once."""
    from models.tiny import build_tiny_hf

    return build_tiny_hf(tmp_path_factory.mktemp("tiny_hf"), seed=0)


@pytest.fixture(scope="session")
def served_tiny(tmp_path_factory, tiny_hf_dir):
    """Run a real ``transformers serve DIR`` for the tiny model on a free loopback port; yield
    (base URL, model directory)."""
    model_dir = tiny_hf_dir
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path_factory.mktemp("hf_cache")),
               OMP_NUM_THREADS="1", TRANSFORMERS_VERBOSITY="error")
    log_path = tmp_path_factory.mktemp("serve_log") / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("transformers")), "serve", str(model_dir),
             "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--dtype", "float32"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not ready after {SERVER_START_TIMEOUT_S:g} s: "
                            f"{log_path.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base, model_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
