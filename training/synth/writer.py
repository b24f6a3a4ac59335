"""Write a synthesized dataset folder: ``images/``, ``data.json``, ``dataset_card.json``, ``README.md``
and ``synth_config.json`` (the resolved configuration).

``data.json`` is one JSON list with one record per line (valid JSON, yet grep- and diff-friendly),
keys in a fixed order and floats written by Python's shortest round-trip repr, so the same seed
gives byte-identical files.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools.errors import InputError
from training.synth.card import CardCounts, card_markdown
from training.synth.dataset import SynthConfig, synthesize
from training.synth.rewrite import TextLLM, rewrite_records
from training.synth.sources import Source, open_source

__all__ = ["build_dataset"]

_REWRITE_BATCH_PAGES = 256  # pages whose answers go to the rewrite LLM together (bounded memory)


def _batches(pages: Iterator[tuple[list[dict[str, Any]], int]], size: int) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """Concatenate the records (and unanswerable counts) of ``size`` pages at a time."""
    records: list[dict[str, Any]] = []
    unanswerable = count = 0
    for page_records, page_unanswerable in pages:
        records += page_records
        unanswerable += page_unanswerable
        count += 1
        if count == size:
            yield records, unanswerable
            records, unanswerable, count = [], 0, 0
    if count:
        yield records, unanswerable


def _write_records(config: SynthConfig, source: Source, out_dir: Path, path: Path, counts: CardCounts,
                   llm: TextLLM | None) -> tuple[int, dict[str, int] | None]:
    """Stream the records to ``path`` as a JSON list, one record per line; return (unanswerable, rewrite counts)."""
    unanswerable, rewrite = 0, ({"sent": 0, "kept": 0, "rejected": 0} if llm is not None else None)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("[")
        for records, batch_unanswerable in _batches(synthesize(config, source, out_dir), _REWRITE_BATCH_PAGES):
            unanswerable += batch_unanswerable
            if llm is not None and rewrite is not None:
                records, batch_rewrite = asyncio.run(rewrite_records(records, llm))
                rewrite = {key: rewrite[key] + batch_rewrite[key] for key in rewrite}
            for record in records:
                handle.write(("\n" if counts.n_samples == 0 else ",\n")
                             + json.dumps(record, ensure_ascii=False, separators=(",", ":")))
                counts.add(record)
        handle.write("\n]\n")
    return unanswerable, rewrite


def build_dataset(config: SynthConfig, source_spec: str, out_dir: Path, *, simulator_fs_hz: float,
                  llm: TextLLM | None = None) -> dict[str, Any]:
    """Synthesize ``config.n_samples`` conversations from ``source_spec`` into ``out_dir``; return the card.

    Records are streamed to ``data.json.partial`` and renamed ``data.json`` when complete, so memory
    stays bounded and an interrupted run never leaves a truncated ``data.json``.

    Parameters
    ----------
    config : SynthConfig
    source_spec : str
        ``simulator``, ``ludb[:DIR]``, ``wfdb:DIR`` or ``ptbxl:DIR`` (see :mod:`training.synth.sources`).
    out_dir : Path
        Output folder (created; an existing ``data.json`` in it is an error, nothing is overwritten).
    simulator_fs_hz : float
        Sampling rate in Hz of simulated records.
    llm : TextLLM, optional
        Rephrases the free-text answers (:func:`training.synth.rewrite.rewrite_records`).

    Raises
    ------
    InputError
        Unknown or empty source, no labelled record, an output folder that already holds a dataset,
        or no conversation that could be grounded.
    """
    if (out_dir / "data.json").exists():
        raise InputError(f"output folder {out_dir} already holds data.json; choose an empty folder")
    source = open_source(source_spec, seed=config.seed, size=config.n_pages, fs_hz=simulator_fs_hz)
    out_dir.mkdir(parents=True, exist_ok=True)
    partial, counts = out_dir / "data.json.partial", CardCounts()
    unanswerable, rewrite = _write_records(config, source, out_dir, partial, counts, llm)
    if counts.n_samples == 0:
        partial.unlink()
        raise InputError(f"--source {source_spec!r} with families {list(config.families)}: no conversation "
                         "could be grounded on any record")
    partial.replace(out_dir / "data.json")
    settings = {"source": source_spec, **config.model_dump(mode="json"), "simulator_fs_hz": simulator_fs_hz}
    card = counts.card(config=settings, skipped_records=source.skipped, unanswerable=unanswerable,
                       n_source_records=len(source), rewrite=rewrite)
    (out_dir / "dataset_card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    (out_dir / "README.md").write_text(card_markdown(card), encoding="utf-8")
    (out_dir / "synth_config.json").write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return card
