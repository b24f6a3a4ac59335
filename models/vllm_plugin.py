"""vLLM plugin: serve ``llava_next_flat`` checkpoints (PULSE's ``mm_patch_merge_type="flat"``) with vLLM.

vLLM calls :func:`register` in every process it starts, through the ``vllm.general_plugins`` entry
point that installing ecg-agent in vLLM's environment declares. It registers the flat config and
processor with transformers (:mod:`models.llava_flat`) and the model with vLLM's ``ModelRegistry``.
The model is vLLM's own LLaVA-NeXT with two changes, both from :mod:`models.llava_flat` so the
in-process and vLLM backends cannot drift apart:

- image features are packed by :func:`models.llava_flat.pack_flat` (base view then tiles, no
  unpadding, no newline embedding), after dropping batch-padding views
  (:func:`models.llava_flat.anyres_view_count`);
- the number of ``<image>`` placeholders is :func:`models.llava_flat.flat_feature_count`.

Written against vLLM's LLaVA-NeXT implementation with the multimodal-processor API (vLLM >= 0.8:
``LlavaNextProcessingInfo``, ``_process_image_pixels``, ``_process_image_input``); vLLM is not
installable in this project's CI, so this module is import-guarded and only its packing code is
tested here (tests/test_convert.py). ``VLLM_AVAILABLE`` says whether vLLM was found.
"""

from __future__ import annotations

# Importing models.llava_flat also registers llava_next_flat with transformers' Auto classes,
# which vLLM uses to read config.json and build the processor.
from models.llava_flat import anyres_view_count, flat_feature_count, pack_flat

__all__ = ["ARCHITECTURE", "VLLM_AVAILABLE", "register"]

ARCHITECTURE = "LlavaNextFlatForConditionalGeneration"

try:
    from vllm.model_executor.models.llava import LlavaDummyInputsBuilder
    from vllm.model_executor.models.llava_next import (
        LlavaNextForConditionalGeneration,
        LlavaNextMultiModalProcessor,
        LlavaNextProcessingInfo,
    )
    from vllm.multimodal import MULTIMODAL_REGISTRY
except ImportError:
    VLLM_AVAILABLE = False
else:
    VLLM_AVAILABLE = True

    class LlavaNextFlatProcessingInfo(LlavaNextProcessingInfo):
        """Placeholder count of the flat layout (vLLM's base class counts spatial_unpad tokens)."""

        def get_num_image_tokens(self, *, image_width: int, image_height: int, **_: object) -> int:
            config = self.get_hf_config()
            vision = config.vision_config
            return flat_feature_count((image_height, image_width), config.image_grid_pinpoints,
                                      vision.image_size, vision.patch_size)  # fmt: skip

    @MULTIMODAL_REGISTRY.register_processor(
        LlavaNextMultiModalProcessor, info=LlavaNextFlatProcessingInfo, dummy_inputs=LlavaDummyInputsBuilder
    )
    class LlavaNextFlatForVllm(LlavaNextForConditionalGeneration):
        """vLLM's LLaVA-NeXT with flat packing and no ``image_newline`` parameter."""

        def __init__(self, *, vllm_config, prefix: str = "") -> None:
            super().__init__(vllm_config=vllm_config, prefix=prefix)
            # A flat checkpoint has no newline embedding, and vLLM fails on parameters left unloaded.
            del self.image_newline

        def _process_image_input(self, image_input):
            if image_input["type"] == "image_embeds":
                return [image_input["data"]]
            config = self.config
            per_image = self._process_image_pixels(image_input)
            counts = [anyres_view_count(size, config.image_grid_pinpoints, config.vision_config.image_size)
                      for size in image_input["image_sizes"]]  # fmt: skip
            packed, _ = pack_flat([features[:n] for features, n in zip(per_image, counts)])
            return packed


def register() -> None:
    """Entry point of vLLM's ``vllm.general_plugins`` group; a no-op when vLLM is absent."""
    if not VLLM_AVAILABLE:
        return
    from vllm import ModelRegistry

    if ARCHITECTURE not in ModelRegistry.get_supported_archs():
        ModelRegistry.register_model(ARCHITECTURE, LlavaNextFlatForVllm)
