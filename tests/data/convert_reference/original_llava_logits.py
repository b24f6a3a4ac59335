"""Oracle for tests/test_convert.py: logits of the ORIGINAL LLaVA code (llava-torch) on a tiny checkpoint.

Run once, in a throwaway venv with llava-torch and its era's transformers (see
docs/converter-equivalence.md for the exact commands); NOT collected by pytest and never imported
by the project. It loads the checkpoint the way ``llava.model.builder.load_pretrained_model`` does
for a LLaVA model (same calls, but float32 instead of its hard-coded float16 and no accelerate
device map), preprocesses the image with ``llava.mm_utils.process_images`` (anyres), builds the
prompt with ``conv_templates["llava_v1"]`` and ``tokenizer_image_token``, and runs one forward pass.

Usage: python original_llava_logits.py CHECKPOINT_DIR IMAGE_PNG QUESTION OUT_NPZ FULL_NPZ
"""

import sys

import numpy as np
import torch
from llava.constants import IMAGE_TOKEN_INDEX
from llava.conversation import conv_templates
from llava.mm_utils import process_images, tokenizer_image_token
from llava.model import LlavaLlamaForCausalLM
from PIL import Image
from transformers import AutoTokenizer

N_IMAGE_POSITIONS = 24  # image positions sampled (evenly) for the compact reference
PIXEL_STRIDE = 101  # every 101st pixel value kept in the compact reference


def main(checkpoint, image_png, question, out_npz, full_npz):
    torch.manual_seed(0)
    # As load_pretrained_model's "llava" branch: slow tokenizer, LlavaLlamaForCausalLM, then the tower.
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, use_fast=False)
    model = LlavaLlamaForCausalLM.from_pretrained(checkpoint, low_cpu_mem_usage=False, torch_dtype=torch.float32)
    model.resize_token_embeddings(len(tokenizer))
    tower = model.get_vision_tower()
    if not tower.is_loaded:
        tower.load_model()
    model.eval()

    image = Image.open(image_png).convert("RGB")
    pixel_values = process_images([image], tower.image_processor, model.config).to(torch.float32)
    conv = conv_templates["llava_v1"].copy()
    conv.append_message(conv.roles[0], "<image>\n" + question)
    conv.append_message(conv.roles[1], None)
    prompt = conv.get_prompt()
    input_ids = tokenizer_image_token(prompt, tokenizer, IMAGE_TOKEN_INDEX, return_tensors="pt")[None]
    with torch.no_grad():
        logits = model(input_ids=input_ids, images=pixel_values, image_sizes=[image.size]).logits[0]

    n_text = input_ids.shape[1] - 1
    n_image = logits.shape[0] - n_text
    start = int((input_ids[0] == IMAGE_TOKEN_INDEX).nonzero()[0, 0])
    image_positions = np.linspace(start, start + n_image - 1, N_IMAGE_POSITIONS).round().astype(int)
    text_positions = np.concatenate([np.arange(0, start), np.arange(start + n_image, logits.shape[0])])
    positions = np.unique(np.concatenate([image_positions, text_positions]))
    flat_pixels = pixel_values.flatten().numpy()
    np.savez_compressed(
        out_npz,
        prompt=np.array(prompt),
        input_ids=input_ids[0].numpy(),
        n_image_tokens=np.array(n_image),
        pixel_shape=np.array(pixel_values.shape),
        pixel_sample=flat_pixels[::PIXEL_STRIDE],
        positions=positions,
        logits=logits[positions].numpy(),
    )
    np.savez_compressed(full_npz, input_ids=input_ids[0].numpy(), pixel_values=pixel_values.numpy(), logits=logits.numpy())
    print(f"prompt={prompt!r}")
    print(f"input_ids={input_ids.shape[1]} tokens, image tokens={n_image}, pixel_values={tuple(pixel_values.shape)}")
    print(f"logits {tuple(logits.shape)}; last-position argmax={int(logits[-1].argmax())}")


if __name__ == "__main__":
    main(*sys.argv[1:])
