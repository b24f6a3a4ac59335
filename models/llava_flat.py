"""LLaVA-NeXT with ``mm_patch_merge_type="flat"``: PULSE-7B's actual image-token layout.

The original LLaVA code has two ways of packing the anyres views of one image into tokens:

- ``spatial_unpad`` (LLaVA-1.6's release default, and all Hugging Face ``LlavaNext`` does): tiles
  re-assembled into one grid, the padding cropped away, a learned newline embedding after each row;
- ``flat`` (what PULSE's training code leaves in its config): the base view's patch features, then
  each tile's, concatenated in processor order, nothing removed, nothing added.

A ``flat`` checkpoint run through plain ``LlavaNext`` would see a different number of tokens in a
different order than it was trained on, so this module provides a variant with its own
``model_type`` (``llava_next_flat``): loading it with plain ``LlavaNext`` fails loudly instead of
running silently wrong. Importing this module registers the config, model and processor with the
transformers Auto classes; :mod:`models.vllm_plugin` shares :func:`pack_flat` and
:func:`flat_feature_count` with vLLM.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageTextToText,
    AutoProcessor,
    LlavaNextConfig,
    LlavaNextForConditionalGeneration,
    LlavaNextModel,
    LlavaNextProcessor,
)
from transformers.image_processing_utils import select_best_resolution
from transformers.models.llava_next.modeling_llava_next import LlavaNextPreTrainedModel

__all__ = [
    "FLAT_MODEL_TYPE",
    "pack_flat",
    "anyres_view_count",
    "flat_feature_count",
    "LlavaNextFlatConfig",
    "LlavaNextFlatModel",
    "LlavaNextFlatForConditionalGeneration",
    "LlavaNextFlatProcessor",
]

FLAT_MODEL_TYPE = "llava_next_flat"


def pack_flat(image_features: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Concatenate each image's views (base view first, then tiles) into one token sequence.

    Parameters
    ----------
    image_features : sequence of Tensor, each (n_views, tokens_per_view, hidden)
        Projected patch features of one image per item, padding views already removed.

    Returns
    -------
    packed : list of Tensor, each (n_views * tokens_per_view, hidden)
        The original LLaVA ``flat`` layout: ``x.flatten(0, 1)``.
    lengths : Tensor of int64, (n_images,)
        Token count of each packed image.
    """
    packed = [feature.flatten(0, 1) for feature in image_features]
    lengths = torch.tensor([p.shape[0] for p in packed], dtype=torch.long)
    return packed, lengths


def anyres_view_count(
    image_size_hw: Sequence[int], grid_pinpoints: Sequence[Sequence[int]], tower_image_px: int
) -> int:
    """Views LLaVA's anyres processing makes of an image of ``image_size_hw`` (height, width) px.

    One base view plus ``(best_h / tower_image_px) * (best_w / tower_image_px)`` tiles, where
    ``(best_h, best_w)`` is the resolution from ``grid_pinpoints`` ([height, width] pairs) that LLaVA
    selects for the image. Processors pad a batch to its largest view count; this is the real one.
    """
    height, width = (int(v) for v in image_size_hw)
    best_h, best_w = select_best_resolution((height, width), [list(p) for p in grid_pinpoints])
    return 1 + (best_h // tower_image_px) * (best_w // tower_image_px)


def flat_feature_count(
    image_size_hw: Sequence[int], grid_pinpoints: Sequence[Sequence[int]], tower_image_px: int, patch_px: int
) -> int:
    """Number of image tokens the flat layout gives an image of ``image_size_hw`` (height, width) px.

    Each view contributes ``(tower_image_px / patch_px) ** 2`` patch tokens (the CLS token dropped,
    as ``mm_vision_select_feature="patch"``).
    """
    return anyres_view_count(image_size_hw, grid_pinpoints, tower_image_px) * (tower_image_px // patch_px) ** 2


class LlavaNextFlatConfig(LlavaNextConfig):
    """``LlavaNextConfig`` of a checkpoint trained with ``mm_patch_merge_type="flat"``."""

    model_type = FLAT_MODEL_TYPE


class LlavaNextFlatModel(LlavaNextModel):
    """``LlavaNextModel`` packing image features flat; it has no ``image_newline`` parameter."""

    config_class = LlavaNextFlatConfig

    def __init__(self, config: LlavaNextFlatConfig):
        super().__init__(config)
        # Flat packing never uses it; keeping it would add a weight that no checkpoint provides.
        del self.image_newline
        self.image_newline = None

    def pack_image_features(self, image_features, image_sizes, vision_feature_select_strategy, image_newline=None):
        return pack_flat(image_features)


class LlavaNextFlatForConditionalGeneration(LlavaNextForConditionalGeneration):
    """``LlavaNextForConditionalGeneration`` whose inner model is :class:`LlavaNextFlatModel`."""

    config_class = LlavaNextFlatConfig

    def __init__(self, config: LlavaNextFlatConfig):
        # Skip LlavaNextForConditionalGeneration.__init__, which would build a non-flat model first.
        LlavaNextPreTrainedModel.__init__(self, config)
        self.model = LlavaNextFlatModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()


class LlavaNextFlatProcessor(LlavaNextProcessor):
    """``LlavaNextProcessor`` that inserts as many ``<image>`` tokens as :func:`pack_flat` yields."""

    def _get_number_of_features(self, orig_height: int, orig_width: int, height: int, width: int) -> int:
        pinpoints = self.image_processor.image_grid_pinpoints
        count = flat_feature_count((orig_height, orig_width), pinpoints, height, self.patch_size)
        # The caller subtracts one for the dropped CLS token when the strategy is "default".
        return count + self.num_additional_image_tokens


try:  # transformers >= 5 maps saved key layouts per model_type; 4.x reads the classic layout as is
    from transformers.conversion_mapping import (
        get_checkpoint_conversion_mapping,
        register_checkpoint_conversion_mapping,
    )
except ImportError:
    pass
else:
    # Same weight layout as llava_next (classic llava-hf keys: language_model.*, vision_tower.*, ...).
    llava_next_layout = get_checkpoint_conversion_mapping("llava_next")
    register_checkpoint_conversion_mapping(FLAT_MODEL_TYPE, llava_next_layout, overwrite=True)
AutoConfig.register(FLAT_MODEL_TYPE, LlavaNextFlatConfig, exist_ok=True)
AutoModel.register(LlavaNextFlatConfig, LlavaNextFlatModel, exist_ok=True)
AutoModelForImageTextToText.register(LlavaNextFlatConfig, LlavaNextFlatForConditionalGeneration, exist_ok=True)
AutoProcessor.register(LlavaNextFlatConfig, LlavaNextFlatProcessor, exist_ok=True)
