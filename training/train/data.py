"""Instruction data for training: LLaVA/ECGInstruct JSON records -> padded model batches.

A record is ``{"id", "image", "conversations": [{"from": "human", "value": "<image>\\n..."},
{"from": "gpt", "value": "..."}, ...]}`` (human and gpt alternate, the image is in the first human
turn). Each conversation is written with the llava_v1 chat template (``models/chat_template.jinja``,
the one inference uses, so training and serving see the same tokens) and labelled so that only the
assistant's answers and their ``</s>`` count in the loss, as LLaVA's ``preprocess_v1`` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict

from tools.errors import InputError

__all__ = [
    "IGNORE_INDEX",
    "InstructDataset",
    "InstructRecord",
    "chat_messages",
    "check_images",
    "collate",
    "encode_conversation",
    "read_records",
]

IGNORE_INDEX = -100  # label of tokens outside the loss (torch cross-entropy's ignore_index)
_IMAGE = "<image>"
_ROLES = {"human": "user", "gpt": "assistant"}


class InstructRecord(BaseModel):
    """One training item: an image (path relative to the image folder) and a conversation."""

    model_config = ConfigDict(frozen=True)

    id: str
    image: str
    turns: tuple[tuple[str, str], ...]  # (question, answer) pairs; "<image>" already removed


def _parse_record(raw: Any, where: str) -> InstructRecord:
    if not isinstance(raw, dict) or not isinstance(raw.get("conversations"), list):
        raise InputError(f"{where}: expected an object with a 'conversations' list")
    if not isinstance(raw.get("image"), str) or not raw["image"]:
        raise InputError(f"{where}: 'image' must be a non-empty path (records without an image are not supported)")
    messages = raw["conversations"]
    if len(messages) < 2 or len(messages) % 2:
        raise InputError(f"{where}: conversations must hold human/gpt pairs, got {len(messages)} turns")
    turns = []
    for i in range(0, len(messages), 2):
        pair = messages[i : i + 2]
        if [m.get("from") if isinstance(m, dict) else None for m in pair] != ["human", "gpt"]:
            raise InputError(f"{where}: turns {i}-{i + 1} must be from 'human' then 'gpt'")
        question, answer = (str(m.get("value", "")) for m in pair)
        if i == 0 and _IMAGE not in question:
            raise InputError(f"{where}: the first human turn must contain '<image>'")
        if question.count(_IMAGE) > (i == 0) or _IMAGE in answer:
            raise InputError(f"{where}: '<image>' must appear once, in the first human turn")
        question = question.replace(_IMAGE, "").strip()
        if not question or not answer.strip():
            raise InputError(f"{where}: empty question or answer in turns {i}-{i + 1}")
        turns.append((question, answer.strip()))
    return InstructRecord(id=str(raw.get("id", where)), image=raw["image"], turns=tuple(turns))


def read_records(path: Path) -> list[InstructRecord]:
    """Read a LLaVA JSON file (a list of records) or JSONL file (one record per line).

    Raises
    ------
    InputError
        Missing file, corrupt JSON (with the line), no records, or a record that is not a
        human/gpt conversation with one image (named by its index and id).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"training data {path}: cannot read ({exc.strerror})") from None
    try:
        if path.suffix == ".jsonl":
            raws = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            raws = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"training data {path}: corrupt JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(raws, list) or not raws:
        raise InputError(f"training data {path}: no records (expected a non-empty JSON list of LLaVA records)")
    return [_parse_record(raw, f"{path.name} record {i} (id {raw.get('id') if isinstance(raw, dict) else '?'})")
            for i, raw in enumerate(raws)]


def check_images(records: Sequence[InstructRecord], image_dir: Path) -> None:
    """Fail before training when any record's image file is missing (names the first few)."""
    missing = [r.image for r in records if not (image_dir / r.image).is_file()]
    if missing:
        raise InputError(f"{len(missing)} of {len(records)} images missing under {image_dir}, "
                         f"e.g. {', '.join(missing[:3])}")


def chat_messages(turns: Sequence[tuple[str, str]], upto: int, *, with_answer: bool) -> list[dict]:
    """Chat messages for the first ``upto`` turns (the last without its answer unless ``with_answer``)."""
    messages: list[dict] = []
    for i, (question, answer) in enumerate(turns[:upto]):
        content = [{"type": "image"}, {"type": "text", "text": question}] if i == 0 else question
        messages.append({"role": "user", "content": content})
        if with_answer or i < upto - 1:
            messages.append({"role": "assistant", "content": answer})
    return messages


def encode_conversation(record: InstructRecord, processor: Any) -> tuple[str, list[tuple[int, int]]]:
    """The templated text of ``record`` and the character spans of its answers (answer + ``</s>``).

    Spans are found by rendering each prefix with the generation prompt, so they hold exactly what
    the model must produce after ``ASSISTANT:``.
    """
    render = processor.apply_chat_template
    full = render(chat_messages(record.turns, len(record.turns), with_answer=True), tokenize=False)
    spans = []
    for n in range(1, len(record.turns) + 1):
        prompt = render(chat_messages(record.turns, n, with_answer=False), tokenize=False, add_generation_prompt=True)
        through = render(chat_messages(record.turns, n, with_answer=True), tokenize=False)
        if not full.startswith(prompt) or not full.startswith(through):
            raise InputError(f"record {record.id}: the chat template does not render turns as a prefix")
        spans.append((len(prompt), len(through)))
    return full, spans


class InstructDataset(torch.utils.data.Dataset):
    """Records -> ``{"input_ids", "labels", "pixel_values", "image_sizes"}`` (one item, unpadded).

    ``<image>`` is expanded to the processor's image-token count; labels are IGNORE_INDEX outside
    the answers. Sequences longer than ``max_length_tokens`` are cut at the end (answers past the cut
    leave the loss), as LLaVA truncates at ``model_max_length``.
    """

    def __init__(self, records: Sequence[InstructRecord], image_dir: Path, processor: Any, max_length_tokens: int):
        self.records, self.image_dir, self.processor = list(records), Path(image_dir), processor
        self.max_length_tokens = max_length_tokens

    def __len__(self) -> int:
        return len(self.records)

    def load_image(self, record: InstructRecord):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(self.image_dir / record.image) as image:
                return image.convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise InputError(f"record {record.id}: cannot read image {record.image} ({exc})") from None

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        record = self.records[index]
        text, spans = encode_conversation(record, self.processor)
        encoded = self.processor(text=text, images=self.load_image(record), add_special_tokens=False,
                                 return_offsets_mapping=True, return_tensors="pt")
        input_ids = encoded["input_ids"][0]
        offsets = encoded["offset_mapping"][0]
        # The processor expands "<image>" in the text before tokenizing, so offsets are in that
        # longer text; every answer comes after the image.
        n_image = int((input_ids == self.processor.tokenizer.convert_tokens_to_ids(_IMAGE)).sum())
        shift = (n_image - 1) * len(_IMAGE)
        in_answer = torch.zeros(len(input_ids), dtype=torch.bool)
        for start, end in ((a + shift, b + shift) for a, b in spans):
            in_answer |= (offsets[:, 0] >= start) & (offsets[:, 1] <= end) & (offsets[:, 1] > offsets[:, 0])
        labels = torch.where(in_answer, input_ids, IGNORE_INDEX)
        keep = self.max_length_tokens
        return {"input_ids": input_ids[:keep], "labels": labels[:keep],
                "pixel_values": encoded["pixel_values"][0], "image_sizes": encoded["image_sizes"][0]}


def collate(items: Sequence[dict[str, torch.Tensor]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of items into a batch; views of images with fewer anyres tiles are zero-padded.

    Returns ``input_ids``, ``attention_mask``, ``labels`` (B, T), ``pixel_values`` (B, V, 3, H, W)
    and ``image_sizes`` (B, 2), the inputs of ``LlavaNextForConditionalGeneration.forward``.
    """
    length = max(len(item["input_ids"]) for item in items)
    views = max(item["pixel_values"].shape[0] for item in items)
    batch = {
        "input_ids": torch.full((len(items), length), pad_token_id, dtype=torch.long),
        "attention_mask": torch.zeros((len(items), length), dtype=torch.long),
        "labels": torch.full((len(items), length), IGNORE_INDEX, dtype=torch.long),
        "pixel_values": torch.zeros((len(items), views, *items[0]["pixel_values"].shape[1:])),
        "image_sizes": torch.stack([item["image_sizes"] for item in items]),
    }
    for i, item in enumerate(items):
        n = len(item["input_ids"])
        batch["input_ids"][i, :n] = item["input_ids"]
        batch["attention_mask"][i, :n] = 1
        batch["labels"][i, :n] = item["labels"]
        batch["pixel_values"][i, : item["pixel_values"].shape[0]] = item["pixel_values"]
    return batch
