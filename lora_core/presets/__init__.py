"""Real Hugging Face `config.json` files shipped with LoRA Lab, one per preset name.

Each `<name>.json` holds the values of the published config (the hub repo named in DESCRIPTIONS), with
`auto_map` (remote-code pointers) left out. `gpt3-175b` is GPT-3 175B written in GPT-2 form
(Brown et al. 2020, Table 2.1: d_model 12288, 96 layers, 96 heads, context 2048; GPT-2's BPE vocabulary).
"""

from __future__ import annotations

import json
from importlib import resources

from lora_core.errors import LoraLabError

# name -> one line: where the values come from and what is special about it. Display order.
DESCRIPTIONS: dict[str, str] = {
    "llama-2-7b": "meta-llama/Llama-2-7b-hf: 32 layers, d=4096, multi-head attention",
    "llama-2-13b": "meta-llama/Llama-2-13b-hf: 40 layers, d=5120",
    "llama-2-70b": "meta-llama/Llama-2-70b-hf: 80 layers, d=8192, grouped-query attention (8 KV heads)",
    "llama-3-8b": "meta-llama/Meta-Llama-3-8B: 32 layers, d=4096, GQA (8 KV heads), 128K vocabulary",
    "llama-3-70b": "meta-llama/Meta-Llama-3-70B: 80 layers, d=8192, GQA (8 KV heads)",
    "llama-3.2-1b": "meta-llama/Llama-3.2-1B: 16 layers, d=2048, tied embeddings",
    "llama-3.2-3b": "meta-llama/Llama-3.2-3B: 28 layers, d=3072, tied embeddings",
    "mistral-7b": "mistralai/Mistral-7B-v0.1: 32 layers, d=4096, GQA (8 KV heads)",
    "mixtral-8x7b": "mistralai/Mixtral-8x7B-v0.1: 8 experts per layer (fused expert tensors in transformers 5)",
    "qwen2.5-0.5b": "Qwen/Qwen2.5-0.5B: 24 layers, d=896, q/k/v biases, tied embeddings",
    "qwen2.5-7b": "Qwen/Qwen2.5-7B: 28 layers, d=3584, q/k/v biases",
    "gemma-2b": "google/gemma-2b: 18 layers, d=2048, one KV head, 256K vocabulary, tied embeddings",
    "gemma-7b": "google/gemma-7b: 28 layers, d=3072, head_dim 256, tied embeddings",
    "phi-3-mini": "microsoft/Phi-3-mini-4k-instruct: fused qkv_proj and gate_up_proj",
    "gpt2": "openai-community/gpt2: 124M, fused c_attn as a transposed Conv1D",
    "gpt2-medium": "openai-community/gpt2-medium: 355M",
    "gpt2-xl": "openai-community/gpt2-xl: 1.5B",
    "gpt3-175b": "GPT-3 175B in GPT-2 form (Brown et al. 2020, Table 2.1): 96 layers, d=12288",
    "bert-base": "google-bert/bert-base-uncased: encoder, query/key/value with biases",
    "roberta-base": "FacebookAI/roberta-base: encoder, 12 layers, d=768",
    "roberta-large": "FacebookAI/roberta-large: encoder, 24 layers, d=1024",
    "t5-base": "google-t5/t5-base: encoder-decoder, tied embeddings, no biases",
}
PRESETS: tuple[str, ...] = tuple(DESCRIPTIONS)


def source(name: str) -> str:
    """Where a preset's values come from: the Hugging Face repo id (or the paper, for GPT-3)."""
    return DESCRIPTIONS[name].split(":", 1)[0]


def load_preset(name: str) -> dict:
    """The parsed config.json of a preset (a fresh dict each call)."""
    if name not in DESCRIPTIONS:
        raise LoraLabError("preset.unknown", name=name, presets=tuple(PRESETS))
    text = resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)
