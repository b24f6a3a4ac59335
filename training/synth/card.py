"""The dataset card: counts per family and form, source, label and fact origin, as JSON and Markdown.

Counts are accumulated record by record (:class:`CardCounts`), so a dataset of millions of
conversations is described without holding it in memory.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["CardCounts", "card_markdown"]


class CardCounts:
    """Running counts over the records of one dataset (LLaVA JSON dicts of :mod:`training.synth.dataset`)."""

    def __init__(self) -> None:
        self.counters: dict[str, Counter] = {name: Counter() for name in (
            "by_family", "by_form", "by_family_form", "turns_by_family_form", "turns_by_task", "by_source",
            "by_label", "facts_by_origin")}
        self.n_samples = self.n_turns = self.with_reasoning = 0
        self.images: dict[str, bool] = {}
        self.record_ids: set[str] = set()

    def add(self, record: dict[str, Any]) -> None:
        """Count one record."""
        c = self.counters
        self.n_samples += 1
        self.n_turns += len(record["turns"])
        self.with_reasoning += bool(record["reasoning"])
        self.images[record["image"]] = record["augmented"]
        self.record_ids.add(record["record_id"])
        c["by_family"][record["family"]] += 1
        c["by_form"][record["form"]] += 1
        c["by_family_form"][f"{record['family']}/{record['form']}"] += 1
        c["turns_by_family_form"].update(f"{t['family']}/{t['form']}" for t in record["turns"])
        c["turns_by_task"].update(t["task"] for t in record["turns"])
        c["by_source"][record["source"]] += 1
        c["by_label"].update(record["labels"])
        c["facts_by_origin"].update(g["origin"] for g in record["grounding"])

    def card(self, *, config: dict[str, Any], skipped_records: int, unanswerable: int, n_source_records: int,
             rewrite: dict[str, int] | None) -> dict[str, Any]:
        """The card as a JSON-ready dict.

        ``skipped_records``: source records left out for lack of a label; ``unanswerable``:
        conversations not written because no task could be grounded on their record; ``rewrite``:
        the rewrite pass's counts, or None when it did not run.
        """
        augmented = sum(self.images.values())
        return {
            "format": "LLaVA JSON (ECGInstruct): id, image, conversations [{from: human|gpt, value}]",
            "config": config,
            "n_samples": self.n_samples, "n_turns": self.n_turns, "n_images": len(self.images),
            "n_augmented_images": augmented, "n_standard_images": len(self.images) - augmented,
            "n_source_records_used": len(self.record_ids), "n_source_records_available": n_source_records,
            "skipped_unlabelled_records": skipped_records, "unanswerable_samples": unanswerable,
            "with_reasoning": self.with_reasoning,
            **{name: dict(sorted(counter.items())) for name, counter in self.counters.items()},
            "rewrite": rewrite,
        }


def _table(title: str, counts: dict[str, int], total: int) -> list[str]:
    lines = [f"### {title}", "", "| | count | % |", "|---|---:|---:|"]
    lines += [f"| {key} | {value} | {100.0 * value / max(total, 1):.1f} |" for key, value in counts.items()]
    return lines + [""]


def card_markdown(card: dict[str, Any]) -> str:
    """The card as a Markdown page (README.md of the dataset folder)."""
    config = card["config"]
    n = card["n_samples"]
    lines = [
        "# Synthetic ECG instruction data (ECGInstruct-style)", "",
        f"Made by `ecg-agent synth --source {config['source']} -n {config['n_samples']} --seed {config['seed']}`. "
        f"{n} conversations ({card['n_turns']} question-answer turns) on {card['n_images']} page images "
        f"({card['n_standard_images']} standard, {card['n_augmented_images']} augmented), drawn from "
        f"{card['n_source_records_used']} of {card['n_source_records_available']} labelled source records.", "",
        "Format: `data.json` is a JSON list of LLaVA records (`id`, `image` relative to this folder, "
        "`conversations` with `<image>` once, in the first human turn), as ECGInstruct. Extra keys: `family`, "
        "`form`, `reasoning`, `turns`, `source`, `record_id`, `labels`, `augmented`, `page`, `grounding` "
        "(every stated fact with its origin).", "",
        f"Left out: {card['skipped_unlabelled_records']} source records without a usable label; "
        f"{card['unanswerable_samples']} conversations no task could ground on their record.", "",
        f"With step-by-step reasoning: {card['with_reasoning']} conversations.", "",
    ]
    if card["rewrite"] is not None:
        rewrite = card["rewrite"]
        lines += [f"LLM rewrite: {rewrite['sent']} answers sent, {rewrite['kept']} rephrasings kept, "
                  f"{rewrite['rejected']} rejected (numbers changed).", ""]
    lines += ["## Counts", ""]
    lines += _table("Per family", card["by_family"], n) + _table("Per form", card["by_form"], n)
    lines += _table("Per family and form", card["by_family_form"], n)
    lines += _table("Turns per task", card["turns_by_task"], card["n_turns"])
    lines += _table("Per source", card["by_source"], n) + _table("Per label (conversations)", card["by_label"], n)
    lines += _table("Facts per origin", card["facts_by_origin"], sum(card["facts_by_origin"].values()))
    lines += ["## Provenance", "",
              "Answers are written from ground truth (simulator truth; LUDB labels and cardiologist fiducials; "
              "PTB-XL labels) and, where the source has no such value, from `ecg-agent measure`. LUDB: "
              "Kalyakulina et al., IEEE Access 2020 (ODC-By 1.0). PTB-XL: Wagner et al., Sci Data 2020 (CC-BY 4.0).",
              ""]
    return "\n".join(lines)
