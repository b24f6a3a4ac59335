"""Ask a LLaVA-NeXT model (PULSE converted to the Hugging Face format) in this process with transformers.

Concurrent asks are gathered into batches (left-padded, one ``generate`` call per batch) and run in a
worker thread so the event loop stays responsive; one batch is on the model at a time. The model's
own chat template (llava_v1 for PULSE) turns each question into its prompt. On a GPU the weights are
bfloat16 (as PULSE was trained), on the CPU float32.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.client import (
    BatchRunner,
    GenerationParams,
    InProcessClient,
    ModelAnswer,
    chat_messages,
    require_text,
)
from models.errors import CheckpointError, ModelError, ModelUnavailableError

__all__ = ["TransformersClientConfig", "TransformersClient", "resolve_device_dtype"]

DType = Literal["auto", "float32", "bfloat16", "float16"]


class TransformersClientConfig(BaseModel):
    """Which checkpoint, where to run it, how many questions to generate together.

    Attributes
    ----------
    model_dir : Path
        A Hugging Face LlavaNext directory (config, weights, processor with chat template),
        e.g. the output of ``ecg-agent convert``; flat-merge checkpoints load through
        :func:`models.convert.load_converted`.
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    dtype : str
        ``"auto"`` = bfloat16 on CUDA, float32 on CPU; or one of float32, bfloat16, float16.
    max_batch_size : int
        Most questions in one ``generate`` call. 8 fills an H100 decode step without long queues.
    kv_cache : str
        ``"static"`` preallocates the key/value cache for prompt + ``max_new_tokens``, so no decode
        step copies the cache (the default "dynamic" cache concatenates at every token, which
        dominated batch-8 decode on the CPU: see ``ecg-agent bench model``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_dir: Path
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    dtype: DType = "auto"
    max_batch_size: int = Field(8, ge=1, le=256)
    kv_cache: Literal["static", "dynamic"] = "static"


def resolve_device_dtype(device: str, dtype: DType) -> tuple[str, Any]:
    """The concrete ``(device, torch dtype)`` for the ``"auto"`` choices of the config.

    Raises
    ------
    ModelUnavailableError
        If CUDA is asked for but not available.
    """
    import torch

    cuda = torch.cuda.is_available()
    if device.startswith("cuda") and not cuda:
        raise ModelUnavailableError(f"device {device!r} requested but CUDA is not available here")
    device = ("cuda" if cuda else "cpu") if device == "auto" else device
    if dtype == "auto":
        return device, torch.bfloat16 if device.startswith("cuda") else torch.float32
    return device, getattr(torch, dtype)


class TransformersClient(InProcessClient):
    """An :class:`~models.client.MLLMClient` running the model in this process.

    Loading happens in the constructor (seconds for the tiny model, about a minute for the 7B one).

    Raises
    ------
    CheckpointError
        If ``model_dir`` is not a loadable image-text-to-text model with a processor.
    """

    def __init__(self, config: TransformersClientConfig) -> None:
        from models.convert import load_converted

        self.config = config
        self.device, self.dtype = resolve_device_dtype(config.device, config.dtype)
        try:
            self.model, self.processor = load_converted(config.model_dir, device=self.device,
                                                        dtype=str(self.dtype).removeprefix("torch."))
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"model_dir {str(config.model_dir)!r} is not a loadable LLaVA-NeXT "
                                  f"model with processor: {exc}") from None
        self._generation_defaults = copy.deepcopy(self.model.generation_config)
        eos = self._generation_defaults.eos_token_id
        self._eos_ids = frozenset(eos if isinstance(eos, list) else [eos])
        # Decoder-only batches are padded on the left so every row's next token sits at the end.
        self.processor.tokenizer.padding_side = "left"
        self._runner = BatchRunner(self._generate_batch, config.max_batch_size)

    @property
    def name(self) -> str:
        """``hf:DIR (device, dtype)``."""
        return f"hf:{self.config.model_dir} ({self.device}, {str(self.dtype).removeprefix('torch.')})"

    async def aclose(self) -> None:
        """Refuse further asks and drop the model (frees its memory once nothing else holds it)."""
        self._runner.close()
        self.model = None

    def prepare(self, requests: list[tuple[Any, str]]) -> Any:
        """Processor inputs (left-padded, on the model's device) for ``(PIL image, question)`` pairs."""
        prompts = [self.processor.apply_chat_template(chat_messages(question), add_generation_prompt=True,
                                                      tokenize=False) for _, question in requests]
        # The chat template already starts with the BOS token; the tokenizer must not add another.
        inputs = self.processor(images=[image for image, _ in requests], text=prompts, padding=True,
                                add_special_tokens=False, return_tensors="pt").to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        return inputs

    def generation_config(self, params: GenerationParams) -> Any:
        """The model's generation config with ``params`` applied (greedy unless temperature > 0)."""
        config = copy.deepcopy(self._generation_defaults)
        sampling = {"temperature": params.temperature, "top_p": params.top_p} if not params.greedy \
            else {"temperature": None, "top_p": None, "top_k": None}
        pad_id = self.processor.tokenizer.pad_token_id
        config.update(max_new_tokens=params.max_new_tokens, do_sample=not params.greedy,
                      cache_implementation="static" if self.config.kv_cache == "static" else None,
                      pad_token_id=config.eos_token_id if pad_id is None else pad_id, **sampling)
        return config

    def _generate_batch(self, requests: list[tuple[Any, str]], params: GenerationParams
                        ) -> list[ModelAnswer | ModelError]:
        import torch

        model = self.model  # aclose() may drop it meanwhile; this batch finishes with it
        if model is None:
            return [ModelUnavailableError("the in-process model client is closed") for _ in requests]
        start_s = time.perf_counter()
        try:
            generation_config = self.generation_config(params)
            inputs = self.prepare(requests)
            with torch.inference_mode():
                output = model.generate(**inputs, generation_config=generation_config)
        except torch.OutOfMemoryError as exc:
            reason = f"{self.device} out of memory for a batch of {len(requests)}: {str(exc).splitlines()[0]}"
            return [ModelUnavailableError(reason) for _ in requests]
        latency_s = time.perf_counter() - start_s
        new_tokens = output[:, inputs["input_ids"].shape[1]:].tolist()
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        return [self._answer(row, int(n_prompt), latency_s) for row, n_prompt in zip(new_tokens, prompt_tokens)]

    def _answer(self, token_ids: list[int], prompt_tokens: int, latency_s: float) -> ModelAnswer | ModelError:
        stop_at = next((i for i, token in enumerate(token_ids) if token in self._eos_ids), None)
        kept = token_ids if stop_at is None else token_ids[:stop_at]
        text = self.processor.tokenizer.decode(kept, skip_special_tokens=True)
        try:
            text = require_text(text, f"model {self.config.model_dir}")
        except ModelError as exc:
            return exc
        return ModelAnswer(text=text, model=str(self.config.model_dir), latency_s=latency_s,
                           prompt_tokens=prompt_tokens, completion_tokens=len(kept),
                           finish_reason="length" if stop_at is None else "stop",
                           raw={"token_ids": kept, "device": self.device, "dtype": str(self.dtype)})
