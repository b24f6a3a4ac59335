"""Build an ECGInstruct-style dataset: page images plus LLaVA JSON conversations, in parallel.

Each image ("page") serves up to ``samples_per_image`` conversations, as ECGInstruct reuses one ECG
for several tasks. Page ``p`` draws everything (record, standard or augmented, the questions) from
generators seeded by ``(seed, p, ...)`` alone, so the output is byte-identical for a seed whatever
the number of worker processes.

Record format (ECGInstruct's LLaVA JSON, plus our keys, which LLaVA's loader ignores)::

    {"id": "simulator-0000012-1", "image": "images/0000/0000012.jpg",
     "conversations": [{"from": "human", "value": "<image>\\n..."}, {"from": "gpt", "value": "..."}, ...],
     "family": "basic", "form": "mcq", "reasoning": false, "turns": [{"task", "family", "form",
     "reasoning", "rewritable"}, ...], "source": "simulator", "record_id": "sim-000012",
     "labels": [...], "augmented": true, "page": {"dpi", "layout", "grid_colour", "distortions"},
     "grounding": [{"turn": 0, "fact": "heart_rate_bpm", "value": 71.8, "origin": "truth"}, ...]}
"""

from __future__ import annotations

import functools
import math
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from tools.config import FrozenConfig
from training.synth.pages import PageImage, draw_page
from training.synth.sources import LabelledRecord, Source
from training.synth.tasks import FAMILIES, FactBook, Turn, draw_turns

__all__ = ["SynthConfig", "PageResult", "record_index", "synthesize_page", "synthesize"]

_PAGES_PER_FOLDER = 10_000  # images/0000/ ... : ECGInstruct-scale sets stay listable


class SynthConfig(FrozenConfig):
    """What to synthesize (written next to the data as ``synth_config.json``).

    Attributes
    ----------
    n_samples : total conversations to write.
    seed : seeds every draw.
    workers : processes rendering pages (the output does not depend on it).
    augment_fraction : probability that a page is augmented (0..1; PULSE's set is about half).
    families : task families to draw from (basic, rhythm, morphology, report).
    samples_per_image : conversations per page image (1..16).
    reasoning_fraction : probability of asking for step-by-step reasoning where a task allows it.
    multi_turn_fraction : probability that a conversation has 2-3 turns.
    dpi : page resolution in dots per inch (ecg-image-kit's default is 200).
    image_format : "jpg" (fast, small) or "png".
    """

    n_samples: int = Field(ge=1, le=50_000_000)
    seed: int = Field(0, ge=0)
    workers: int = Field(1, ge=1, le=256)
    augment_fraction: float = Field(0.5, ge=0.0, le=1.0)
    families: tuple[str, ...] = FAMILIES
    samples_per_image: int = Field(4, ge=1, le=16)
    reasoning_fraction: float = Field(0.3, ge=0.0, le=1.0)
    multi_turn_fraction: float = Field(0.15, ge=0.0, le=1.0)
    dpi: int = Field(100, ge=50, le=300)
    image_format: Literal["jpg", "png"] = "jpg"

    @field_validator("families")
    @classmethod
    def _known_families(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [family for family in value if family not in FAMILIES]
        if unknown or not value:
            raise ValueError(f"unknown or no families {list(unknown or value)}; allowed: {', '.join(FAMILIES)}")
        return tuple(dict.fromkeys(value))

    @property
    def n_pages(self) -> int:
        return math.ceil(self.n_samples / self.samples_per_image)


@dataclass(frozen=True)
class PageResult:
    """What one page produced: its records, the encoded image (``path`` relative to the output) and
    how many of its conversations could not be grounded on the record."""

    records: list[dict[str, Any]]
    path: str
    image: bytes
    unanswerable: int


def record_index(config: SynthConfig, page: int, n_records: int) -> int:
    """The source record page ``page`` shows: a seeded permutation of the source, cycled."""
    return int(_order(config.seed, n_records)[page % n_records])


@functools.lru_cache(maxsize=4)
def _order(seed: int, n_records: int) -> np.ndarray:
    return np.random.default_rng([seed, 5]).permutation(n_records)


def synthesize_page(config: SynthConfig, source: Source, page: int) -> PageResult:
    """Render page ``page`` and draw its conversations (pure: no file is written)."""
    record = source.record(record_index(config, page, len(source)))
    page_rng = np.random.default_rng([config.seed, page, 1])
    augmented = bool(page_rng.uniform() < config.augment_fraction)
    image = draw_page(record.recording, page_rng, augmented=augmented, dpi=config.dpi,
                      image_format=config.image_format)
    path = f"images/{page // _PAGES_PER_FOLDER:04d}/{page:07d}.{image.suffix}"
    book = FactBook(record)
    count = min(config.samples_per_image, config.n_samples - page * config.samples_per_image)
    records, unanswerable = [], 0
    for k in range(count):
        rng = np.random.default_rng([config.seed, page, 2, k])
        turns = draw_turns(book, rng, families=config.families, reasoning_fraction=config.reasoning_fraction,
                           multi_turn_fraction=config.multi_turn_fraction)
        if not turns:
            unanswerable += 1
            continue
        records.append(_llava_record(f"{source.name}-{page:07d}-{k}", path, turns, source.name, record, image))
    return PageResult(records, path, image.data, unanswerable)


def _llava_record(sample_id: str, path: str, turns: list[Turn], source_name: str, record: LabelledRecord,
                  image: PageImage) -> dict[str, Any]:
    conversations = []
    for i, turn in enumerate(turns):
        conversations.append({"from": "human", "value": ("<image>\n" if i == 0 else "") + turn.question})
        conversations.append({"from": "gpt", "value": turn.answer})
    return {
        "id": sample_id, "image": path, "conversations": conversations,
        "family": turns[0].family, "form": turns[0].form if len(turns) == 1 else "multi_turn",
        "reasoning": any(t.reasoning for t in turns),
        "turns": [{"task": t.task, "family": t.family, "form": t.form, "reasoning": t.reasoning,
                   "rewritable": t.rewritable} for t in turns],
        "source": source_name, "record_id": record.record_id, "labels": list(record.codes),
        "augmented": image.augmented, "page": image.details,
        "grounding": [{"turn": i, **fact} for i, t in enumerate(turns) for fact in t.grounding],
    }


# ---- parallel driver -------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}
_PAGES_PER_WORKER_WINDOW = 64  # pages in flight per worker: bounds the results waiting in memory


def _init_worker(config: SynthConfig, source: Source, out_dir: Path) -> None:
    _WORKER.update(config=config, source=source, out_dir=out_dir)


def _run_page(page: int) -> tuple[list[dict[str, Any]], int]:
    result = synthesize_page(_WORKER["config"], _WORKER["source"], page)
    if result.records:  # an image no conversation refers to is not written
        target = _WORKER["out_dir"] / result.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(result.image)
    return result.records, result.unanswerable


def synthesize(config: SynthConfig, source: Source, out_dir: Path) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """Write every page image under ``out_dir/images/NNNN/``; yield (records, unanswerable) per page, in order.

    With ``config.workers`` > 1 pages are made in that many spawned processes (spawn, not fork: the
    parent may hold threads), a window of pages at a time so that memory stays bounded.
    """
    if config.workers == 1:
        _init_worker(config, source, out_dir)
        yield from map(_run_page, range(config.n_pages))
        return
    context = multiprocessing.get_context("spawn")
    window = _PAGES_PER_WORKER_WINDOW * config.workers
    with ProcessPoolExecutor(config.workers, mp_context=context, initializer=_init_worker,
                             initargs=(config, source, out_dir)) as pool:
        for start in range(0, config.n_pages, window):
            yield from pool.map(_run_page, range(start, min(start + window, config.n_pages)), chunksize=4)
