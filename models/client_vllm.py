"""Ask a LLaVA-NeXT model through vLLM's offline engine (``vllm.LLM``) in this process.

Only where ``vllm`` is installed (a CUDA machine); constructing the client elsewhere raises
ModelUnavailableError. Concurrent asks are gathered into one ``LLM.generate`` call per batch
(vLLM schedules the batch itself) in a worker thread, through the same queue as the transformers
backend. Prompts come from the model's chat template, as in the other backends; the template's
leading BOS text is dropped because vLLM adds the BOS token when it tokenizes a text prompt.
"""

from __future__ import annotations

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

__all__ = ["VLLMClientConfig", "VLLMClient", "vllm_available"]


def vllm_available() -> bool:
    """True when the ``vllm`` package can be imported here."""
    from importlib.util import find_spec

    return find_spec("vllm") is not None


class VLLMClientConfig(BaseModel):
    """Engine settings for the offline vLLM backend.

    Attributes
    ----------
    model_dir : Path
        A Hugging Face LlavaNext directory (the output of ``ecg-agent convert``).
    dtype : str
        Weight dtype; ``"auto"`` keeps the checkpoint's (bfloat16 for a converted PULSE).
    max_model_len : int
        Context length in tokens; 4096 is PULSE's training length (an anyres image takes up to
        about 2,900 of them).
    gpu_memory_utilization : float
        Fraction of GPU memory vLLM may take for weights and KV cache.
    max_batch_size : int
        Most questions handed to one ``generate`` call.
    seed : int
        Engine seed (only matters when sampling).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_dir: Path
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    max_model_len: int = Field(4096, ge=256)
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0)
    max_batch_size: int = Field(64, ge=1, le=4096)
    seed: int = 0


class VLLMClient(InProcessClient):
    """An :class:`~models.client.MLLMClient` on vLLM's offline engine.

    Raises
    ------
    ModelUnavailableError
        If ``vllm`` is not installed.
    CheckpointError
        If vLLM cannot load ``model_dir``.
    """

    def __init__(self, config: VLLMClientConfig) -> None:
        if not vllm_available():
            raise ModelUnavailableError("backend 'vllm' needs the vllm package (pip install vllm on a CUDA "
                                        "machine); use hf:DIR or an http:// server instead")
        from vllm import LLM

        self.config = config
        try:
            self.llm = LLM(model=str(config.model_dir), dtype=config.dtype, max_model_len=config.max_model_len,
                           gpu_memory_utilization=config.gpu_memory_utilization, seed=config.seed,
                           limit_mm_per_prompt={"image": 1})
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"vLLM cannot load model_dir {str(config.model_dir)!r}: {exc}") from None
        self._tokenizer = self.llm.get_tokenizer()
        self._runner = BatchRunner(self._generate_batch, config.max_batch_size)

    @property
    def name(self) -> str:
        """``vllm:DIR``."""
        return f"vllm:{self.config.model_dir}"

    async def aclose(self) -> None:
        """Refuse further asks and drop the engine."""
        self._runner.close()
        self.llm = None

    def _prompt(self, question: str) -> str:
        prompt = self._tokenizer.apply_chat_template(chat_messages(question), add_generation_prompt=True,
                                                     tokenize=False)
        bos = self._tokenizer.bos_token or ""
        return prompt[len(bos):] if bos and prompt.startswith(bos) else prompt

    def _generate_batch(self, requests: list[tuple[Any, str]], params: GenerationParams
                        ) -> list[ModelAnswer | ModelError]:
        from vllm import SamplingParams

        if self.llm is None:
            return [ModelUnavailableError("the vLLM client is closed") for _ in requests]
        sampling = SamplingParams(max_tokens=params.max_new_tokens, temperature=params.temperature,
                                  top_p=params.top_p if not params.greedy else 1.0)
        prompts = [{"prompt": self._prompt(question), "multi_modal_data": {"image": image}}
                   for image, question in requests]
        start_s = time.perf_counter()
        outputs = self.llm.generate(prompts, sampling, use_tqdm=False)
        latency_s = time.perf_counter() - start_s
        return [self._answer(output, latency_s) for output in outputs]

    def _answer(self, output: Any, latency_s: float) -> ModelAnswer | ModelError:
        completion = output.outputs[0]
        try:
            text = require_text(completion.text, f"vLLM model {self.config.model_dir}")
        except ModelError as exc:
            return exc
        return ModelAnswer(text=text, model=str(Path(self.config.model_dir)), latency_s=latency_s,
                           prompt_tokens=len(output.prompt_token_ids or []),
                           completion_tokens=len(completion.token_ids),
                           finish_reason=completion.finish_reason, raw={"request_id": output.request_id})
