"""Resumable JSON Lines prediction files.

One prediction per line, appended and flushed as soon as it exists, so a crash loses at most the
line being written. Reading tolerates exactly that: an unparseable *last* line (an interrupted
write) is dropped and :func:`open_for_append` cuts it off before appending. Rows written by PULSE's
inference scripts (``question_id``/``id``, ``text``/``response``, Arena's ``predict_convs``) read
as well, so their outputs can be scored here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from tools.errors import InputError
from training.ecgbench.items import Prediction

__all__ = ["find_prediction_file", "read_predictions", "open_for_append", "append_prediction"]


def find_prediction_file(path: str | Path, config: str) -> Path:
    """``path`` itself, or, for a folder laid out as PULSE's inference scripts write it
    (``<SAVE_DIR>/<model>/<subset>/step-final.jsonl``), the subset's answer file in it.

    Parameters
    ----------
    path : str or Path
        A JSONL file, a ``<SAVE_DIR>/<model>`` folder, or its ``<subset>`` folder.
    config : str
        The subset's distribution name (``csn-test-no-cot``...), which PULSE uses as folder name.

    Raises
    ------
    InputError
        If ``path`` is a folder holding no answer file for the subset, or several candidates.
    """
    path = Path(path)
    if not path.is_dir():
        return path
    folder = path if path.name == config else path / config
    if (folder / "step-final.jsonl").is_file():
        return folder / "step-final.jsonl"
    candidates = sorted(folder.glob("*.jsonl")) if folder.is_dir() else sorted(path.glob(f"{config}*.jsonl"))
    if len(candidates) != 1:
        found = ", ".join(c.name for c in candidates) or "none"
        raise InputError(f"expected one answer file for {config} in {folder} (step-final.jsonl or a single "
                         f"*.jsonl), found {found}")
    return candidates[0]


def read_predictions(path: str | Path, subset: str) -> dict[str, Prediction]:
    """The predictions stored at ``path`` by id (later lines win); {} if the file does not exist.

    Raises
    ------
    InputError
        If a line other than the last is not JSON, or a row lacks an id or an answer text.
    """
    path = Path(path)
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    out: dict[str, Prediction] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # an interrupted write: that item runs again
            raise InputError(f"{path} line {number} is not valid JSON") from None
        prediction = _prediction(row, subset, f"{path} line {number}")
        out[prediction.id] = prediction
    return out


def _prediction(row: Any, subset: str, where: str) -> Prediction:
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object")
    item_id = row.get("question_id", row.get("id"))
    if not isinstance(item_id, str) or not item_id:
        raise InputError(f"{where}: field 'question_id' (or 'id') is missing")
    turns = row.get("predict_convs") or (row.get("response") if isinstance(row.get("response"), list) else None)
    answers = tuple(str(t.get("answer", t.get("response", ""))) for t in turns if isinstance(t, dict)) \
        if isinstance(turns, list) else ()
    text = row.get("text", row.get("response"))
    if not isinstance(text, str):
        if not answers:
            raise InputError(f"{where} (id {item_id!r}): field 'text' (or 'response') is missing")
        text = answers[-1]
    prompt = row.get("prompt", "")
    prompt = prompt.get("prompt", "") if isinstance(prompt, dict) else prompt
    meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
    return Prediction(id=item_id, subset=meta.get("subset") or subset, prompt=str(prompt), text=text,
                      turn_answers=answers, model=str(row.get("model_id", "")), scores=meta.get("scores"),
                      latency_s=meta.get("latency_s"))


def open_for_append(path: str | Path) -> IO[str]:
    """Open ``path`` for appending, first cutting off a partial last line left by a crash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            try:
                json.loads(tail)
                path.write_bytes(data + b"\n")  # complete, only the newline was lost
            except ValueError:
                path.write_bytes(data[:cut])
    return path.open("a", encoding="utf-8")


def append_prediction(handle: IO[str], prediction: Prediction) -> None:
    """Write one prediction as one line and flush it to the operating system."""
    handle.write(json.dumps(prediction.to_row(), ensure_ascii=False) + "\n")
    handle.flush()
