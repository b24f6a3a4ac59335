"""Small test sets written in exactly ECGBench's formats, with pages from our renderer.

Two layouts, as :mod:`training.ecgbench.loader` reads them:

- ``"hf"``: ``OUT/<config>/test-00000-of-00001.parquet`` with the distribution's columns ``id``,
  ``image_path``, ``image`` (struct of ``bytes`` and ``path``) and ``conversations`` (a list of
  ``{from, value}``; ``value`` a list of strings for ECG-QA; ``{question, answer}`` turns for Arena),
  plus the ``huggingface`` schema metadata ``datasets`` uses to decode the image column;
- ``"pulse"``: ``OUT/<config>.json`` (``{id, image, conversations}`` rows) and the images under
  ``OUT/images/<image_path>``, as PULSE's preparation script writes them.

Questions and answers are synthetic but shaped like the real ones (label codes separated by
semicolons, lettered options, ECG-QA's "Options: ..." line); the labels are drawn at random, so
these sets test formats and scoring, not clinical truth. Deterministic for a given seed.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from tools.errors import InputError
from tools.recording import Recording
from training.ecgbench.subsets import SubsetSpec, subset_spec

__all__ = ["render_fixture_images", "fixture_rows", "write_fixture_set"]

_LABEL_NAMES = {
    "NORM": "normal ECG", "MI": "myocardial infarction", "STTC": "ST/T change", "CD": "conduction disturbance",
    "HYP": "hypertrophy", "1dAVb": "1st degree av block", "RBBB": "right bundle branch block",
    "LBBB": "left bundle branch block", "SB": "sinus bradycardia", "ST": "sinus tachycardia",
    "AF": "atrial fibrillation", "I-AVB": "first-degree atrioventricular block", "PAC": "premature atrial contraction",
    "PVC": "premature ventricular contraction", "STD": "ST-segment depression", "STE": "ST-segment elevation",
}
_DIAGNOSES = ("sinus rhythm", "sinus bradycardia", "sinus tachycardia", "atrial fibrillation", "atrial flutter",
              "right bundle branch block", "left bundle branch block", "first-degree AV block",
              "left ventricular hypertrophy", "T-wave inversion", "premature ventricular complexes",
              "left axis deviation")
_ECGQA = (("Does this ECG show symptoms of non-diagnostic t abnormalities?", ("yes", "no", "not sure")),
          ("Which leads show st depression?", ("lead i", "lead ii", "lead v5", "lead v6", "none")),
          ("What kind of noise does this ECG show?", ("baseline drift", "static noise", "burst noise", "none")))
_ECGQA_TAIL = "Only answer based on the given Options without any explanation."


def render_fixture_images(recordings: Sequence[Recording], *, dpi: int = 100) -> list[bytes]:
    """PNG pages of ``recordings`` drawn by :func:`tools.render.render` (3x4 + II, red grid).

    ``dpi`` below the default 200 keeps fixtures small and fast; the layout is unchanged.
    """
    from PIL import Image

    from tools.render import RenderConfig, render

    pages = []
    for recording in recordings:
        buffer = io.BytesIO()
        Image.fromarray(render(recording, RenderConfig(dpi=dpi)).image).save(buffer, format="PNG")
        pages.append(buffer.getvalue())
    return pages


def _multilabel(spec: SubsetSpec, rng: random.Random) -> tuple[str, str]:
    options = ", ".join(f"{code}({_LABEL_NAMES[code]})" for code in spec.labels)
    question = (f"As part of a heart health assessment, examine the ECG, identify all fitting options from the "
                f"provided list, and enumerate them using semicolon: {options}. "
                f"Only answer based on the given options without any explanation.")
    if spec.name == "code15" and rng.random() < 0.3:
        return question, rng.choice(("NORM", "ABNORMAL"))
    pool = [code for code in spec.labels if code != "NORM"]
    chosen = ["NORM"] if "NORM" in spec.labels and rng.random() < 0.3 else rng.sample(pool, rng.randint(1, 2))
    return question, "; ".join(f"{code}({_LABEL_NAMES[code]})" if spec.name == "code15" else code
                               for code in sorted(chosen, key=spec.labels.index))


def _mcq(spec: SubsetSpec, rng: random.Random) -> tuple[str, str]:
    choices = rng.sample(_DIAGNOSES, len(spec.letters))
    lines = "\n".join(f"{letter}. {choice}" for letter, choice in zip(spec.letters, choices, strict=True))
    correct = rng.randrange(len(spec.letters))
    question = (f"Which of the following best describes this ECG?\n{lines}\n"
                f"Answer with the option's letter from the given choices directly.")
    answer = spec.letters[correct] if spec.name == "mmmu-ecg" else f"{spec.letters[correct]}. {choices[correct]}"
    return question, answer


def _conversations(spec: SubsetSpec, rng: random.Random, index: int) -> list[dict[str, Any]]:
    if spec.kind == "arena":
        finding = rng.choice(_DIAGNOSES)
        return [{"question": "<image>\nWhat are the main findings in this ECG?", "answer": f"The ECG shows {finding}."},
                {"question": "What could cause these findings?", "answer": f"Common causes of {finding} include "
                 "structural heart disease, medication effects and electrolyte disturbances."}]
    if spec.kind == "ecgqa":
        question, options = _ECGQA[index % len(_ECGQA)]
        answer = rng.sample(options, 1)
        prompt = f"<image>\nQuestion: {question}\nOptions: {', '.join(options)}\n\n{_ECGQA_TAIL}"
        return [{"from": "human", "value": [prompt]}, {"from": "gpt", "value": answer}]
    if spec.kind == "multilabel":
        question, answer = _multilabel(spec, rng)
    elif spec.kind == "mcq":
        question, answer = _mcq(spec, rng)
    else:
        question = "Please write a clinical report based on this ECG image."
        answer = f"{rng.choice(_DIAGNOSES).capitalize()}, normal axis, otherwise normal ECG."
    return [{"from": "human", "value": f"<image>\n{question}"}, {"from": "gpt", "value": answer}]


def fixture_rows(subset: str, n_items: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """``n_items`` rows of ``subset`` (without images): ``id``, ``image_path``, ``conversations``.

    Raises
    ------
    InputError
        If ``n_items`` < 1 or the subset is unknown.
    """
    if n_items < 1:
        raise InputError(f"n_items must be >= 1, got {n_items}")
    spec = subset_spec(subset)
    rng = random.Random(f"{seed}:{spec.name}")
    return [{"id": f"{spec.config}-{index:05d}", "image_path": f"{spec.image_dir}/{index:05d}_hr-0.png",
             "conversations": _conversations(spec, rng, index)} for index in range(n_items)]


def write_fixture_set(out_dir: str | Path, subset: str, images: Sequence[bytes], n_items: int, *,
                      layout: Literal["hf", "pulse"] = "hf", seed: int = 0) -> Path:
    """Write ``n_items`` items of ``subset`` under ``out_dir``; return the file holding the rows.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created).
    subset : str
        Subset name.
    images : sequence of bytes
        Encoded pages, used in turn (item k gets ``images[k % len(images)]``).
    n_items : int
        Rows to write.
    layout : {"hf", "pulse"}
        The distribution's parquet layout or PULSE's JSON + images layout.
    seed : int
        Seed of the synthetic questions and answers.

    Raises
    ------
    InputError
        If ``images`` is empty or ``layout`` unknown.
    """
    if not images:
        raise InputError("images must hold at least one encoded page")
    spec = subset_spec(subset)
    rows = fixture_rows(spec.name, n_items, seed=seed)
    out_dir = Path(out_dir)
    if layout == "pulse":
        for index, row in enumerate(rows):
            target = out_dir / "images" / row["image_path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(images[index % len(images)])
        path = out_dir / f"{spec.config}.json"
        path.write_text(json.dumps([{"id": r["id"], "image": r["image_path"], "conversations": r["conversations"]}
                                    for r in rows], indent=4, ensure_ascii=False), encoding="utf-8")
        return path
    if layout != "hf":
        raise InputError(f"layout must be 'hf' or 'pulse', got {layout!r}")
    return _write_parquet(out_dir / spec.config / "test-00000-of-00001.parquet", spec, rows, images)


def _write_parquet(path: Path, spec: SubsetSpec, rows: list[dict[str, Any]], images: Sequence[bytes]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    string = {"dtype": "string", "_type": "Value"}
    if spec.kind == "arena":
        turn_type = pa.struct([("question", pa.string()), ("answer", pa.string())])
        turn_feature = {"question": string, "answer": string}
    else:
        value_type = pa.list_(pa.string()) if spec.kind == "ecgqa" else pa.string()
        turn_type = pa.struct([("from", pa.string()), ("value", value_type)])
        turn_feature = {"from": string, "value": [string] if spec.kind == "ecgqa" else string}
    schema = pa.schema([("id", pa.string()), ("image_path", pa.string()),
                        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                        ("conversations", pa.list_(turn_type))])
    features = {"id": string, "image_path": string, "image": {"_type": "Image"}, "conversations": [turn_feature]}
    schema = schema.with_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    table = pa.Table.from_pylist([{**row, "image": {"bytes": images[i % len(images)],
                                                    "path": Path(row["image_path"]).name}}
                                  for i, row in enumerate(rows)], schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=100)  # the distribution's image row groups hold 100 rows
    return path
