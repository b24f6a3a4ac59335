"""Read ECGBench subsets as distributed, and in the folder layout PULSE's scripts produce.

Accepted inputs for a subset (``<config>`` is the distribution's name, e.g. ``ptb-test``):

- the Hugging Face layout: ``DIR/<config>/test-*.parquet`` (or that folder, or one parquet file),
  columns ``id``, ``image_path``, ``image`` (struct of ``bytes`` and ``path``), ``conversations``;
- PULSE's layout: ``DIR/<config>.json`` (a list of ``{"id", "image", "conversations"}``, where
  ``image`` is a path under ``DIR/images``), or that JSON file itself; JSON Lines is read too.

``conversations`` is ``[{"from": "human", "value": "<image>\\n..."}, {"from": "gpt", "value":
...}]``; ECG-QA stores each ``value`` as a list of strings; ECG Arena stores a list of
``{"question", "answer"}`` turns. Rows are validated one by one: a missing field is an InputError
naming the row's id and the field.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools.errors import InputError
from training.ecgbench.items import BenchItem, ImageRef, Turn
from training.ecgbench.subsets import SubsetSpec, subset_spec

__all__ = ["load_items", "read_image", "find_subset_file"]

_IMAGE_MARKER = "<image>"


def find_subset_file(data: Path, spec: SubsetSpec) -> Path:
    """The file holding ``spec``'s rows under ``data`` (a folder or the file itself).

    Raises
    ------
    InputError
        If nothing matching either layout exists there.
    """
    data = Path(data)
    if data.is_file():
        return data
    candidates = [*sorted((data / spec.config).glob("*.parquet")), data / f"{spec.config}.json",
                  data / f"{spec.config}.jsonl", *sorted(data.glob(f"{spec.config}*.parquet"))]
    if data.name == spec.config:
        candidates[:0] = sorted(data.glob("*.parquet"))
    for path in candidates:
        if path.is_file():
            return path
    raise InputError(f"no ECGBench subset {spec.config!r} under {data}: expected {spec.config}/test-*.parquet "
                     f"(Hugging Face layout) or {spec.config}.json with images/ (PULSE layout)")


def load_items(data: str | Path, subset: str) -> list[BenchItem]:
    """Every item of ``subset`` found at ``data``, in file order.

    Parameters
    ----------
    data : str or Path
        A folder in either layout, or the subset's parquet/JSON/JSONL file.
    subset : str
        Our subset name or the distribution's config name.

    Raises
    ------
    InputError
        Unknown subset, no file, an unreadable file, no rows, a row missing a field or with a
        malformed conversation (the message names the row id and field), or duplicate ids.
    """
    spec = subset_spec(subset)
    path = find_subset_file(Path(data), spec)
    rows = _parquet_rows(path) if path.suffix == ".parquet" else _json_rows(path)
    items = [_item(row, index, spec, path) for index, row in rows]
    if not items:
        raise InputError(f"ECGBench subset {spec.name} at {path} has no rows")
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise InputError(f"ECGBench subset {spec.name} at {path}: id {item.id!r} appears twice")
        seen.add(item.id)
    return items


def _json_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
        rows = [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" \
            else json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(rows, list):
        raise InputError(f"{path} must hold a JSON list of rows, got {type(rows).__name__}")
    yield from enumerate(rows)


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows without image bytes (those are read on demand by :func:`read_image`)."""
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
        names = [name for name in table.schema_arrow.names if name != "image"]
        has_image = "image" in table.schema_arrow.names
        index = 0
        for batch in table.iter_batches(columns=names, batch_size=512):
            for row in batch.to_pylist():
                row["_parquet_image"] = has_image
                yield index, row
                index += 1
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise InputError(f"{path} is not a readable parquet file: {exc}") from None


def _item(row: Any, index: int, spec: SubsetSpec, path: Path) -> BenchItem:
    if not isinstance(row, dict):
        raise InputError(f"{path} row {index}: expected an object, got {type(row).__name__}")
    item_id = row.get("id")
    where = f"{path} row {index}" if not isinstance(item_id, str) or not item_id else f"{path} id {item_id!r}"
    if not isinstance(item_id, str) or not item_id:
        raise InputError(f"{where}: field 'id' is missing or not a non-empty string")
    turns, answer_list = _turns(row.get("conversations"), spec, where)
    image_path, image = _image(row, index, path, where)
    return BenchItem(id=item_id, subset=spec.name, image_path=image_path, image=image, turns=turns,
                     answer_list=answer_list)


def _image(row: dict[str, Any], index: int, path: Path, where: str) -> tuple[str, ImageRef]:
    if row.pop("_parquet_image", False):
        image_path = row.get("image_path")
        if not isinstance(image_path, str):
            raise InputError(f"{where}: field 'image_path' is missing")
        return image_path, ImageRef(parquet=path, row=index)
    image_path = row.get("image_path", row.get("image"))
    if not isinstance(image_path, str) or not image_path:
        raise InputError(f"{where}: field 'image' (a path under images/) is missing")
    return image_path, ImageRef(file=path.parent / "images" / image_path)


def _turns(conversations: Any, spec: SubsetSpec, where: str) -> tuple[tuple[Turn, ...], tuple[str, ...] | None]:
    if not isinstance(conversations, list) or not conversations:
        raise InputError(f"{where}: field 'conversations' is missing or empty")
    if spec.kind == "arena":
        if not all(isinstance(t, dict) and isinstance(t.get("question"), str) and isinstance(t.get("answer"), str)
                   for t in conversations):
            raise InputError(f"{where}: field 'conversations' must be a list of {{question, answer}} turns")
        return tuple(Turn(question=_strip_marker(t["question"]), answer=t["answer"]) for t in conversations), None
    if len(conversations) < 2 or not all(isinstance(t, dict) and "value" in t for t in conversations[:2]):
        raise InputError(f"{where}: field 'conversations' needs a human turn and a gpt turn with 'value'")
    question, answer = conversations[0]["value"], conversations[1]["value"]
    if spec.kind == "ecgqa":
        question = "".join(question) if isinstance(question, list) else question
        answers = tuple(answer) if isinstance(answer, list) else (answer,)
        if not all(isinstance(a, str) for a in answers):
            raise InputError(f"{where}: field 'conversations[1].value' must be a list of strings")
        answer_text = ", ".join(answers)
    else:
        answers, answer_text = None, answer
    if not isinstance(question, str) or not question.strip() or not isinstance(answer_text, str):
        raise InputError(f"{where}: field 'conversations' has a blank question or a non-string answer")
    return (Turn(question=_strip_marker(question), answer=answer_text),), answers


def _strip_marker(question: str) -> str:
    # PULSE's inference script removes "<image>\n" before templating; so do we.
    return question.replace(_IMAGE_MARKER + "\n", "").replace(_IMAGE_MARKER, "").strip()


def read_image(ref: ImageRef) -> bytes:
    """The encoded image bytes an :class:`ImageRef` points to.

    Raises
    ------
    InputError
        If the file is missing, or the parquet row has no image bytes.
    """
    if ref.data is not None:
        return ref.data
    if ref.file is not None:
        if not ref.file.is_file():
            raise InputError(f"image file {ref.file} does not exist")
        return ref.file.read_bytes()
    data = _parquet_image(ref.parquet, ref.row)
    if not data:
        raise InputError(f"{ref.parquet} row {ref.row}: field 'image' has no bytes")
    return data


def _parquet_image(path: Path, row: int) -> bytes | None:
    group, offset = _row_group_of(path, row)
    cell = _row_group_images(path, group)[offset]
    return cell.get("bytes") if isinstance(cell, dict) else cell


@functools.lru_cache(maxsize=8)
def _row_group_bounds(path: Path) -> tuple[int, ...]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    bounds, total = [], 0
    for group in range(meta.num_row_groups):
        total += meta.row_group(group).num_rows
        bounds.append(total)
    return tuple(bounds)


def _row_group_of(path: Path, row: int) -> tuple[int, int]:
    bounds = _row_group_bounds(path)
    for group, end in enumerate(bounds):
        if row < end:
            return group, row - (bounds[group - 1] if group else 0)
    raise InputError(f"{path} has {bounds[-1] if bounds else 0} rows; row {row} does not exist")


# Runners read items in file order, so consecutive rows share a row group: keep the last two.
@functools.lru_cache(maxsize=2)
def _row_group_images(path: Path, group: int) -> list[Any]:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read_row_group(group, columns=["image"]).column("image").to_pylist()
