"""Shared fixtures: the path to ../shared/data and a clean skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__import__("os").environ.get("ECG_SHARED_DATA", REPO.parent / "shared" / "data"))


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
