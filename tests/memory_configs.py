"""Tiny configs shared by the memory tests: random weights, nothing downloaded. A fixture module, not named
test_*: it holds no tests."""

LLAMA_GQA = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 112,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,  # grouped-query attention: 2 KV heads for 4 query heads
    "vocab_size": 128,
    "max_position_embeddings": 256,
    "tie_word_embeddings": False,
}
GPT2 = {
    "model_type": "gpt2",
    "architectures": ["GPT2LMHeadModel"],
    "n_embd": 64,
    "n_layer": 2,
    "n_head": 4,
    "vocab_size": 128,
    "n_positions": 256,
    # dropout off: CPU flash attention needs dropout 0 (else torch uses the math kernel; both are modelled)
    "attn_pdrop": 0.0,
    "resid_pdrop": 0.0,
    "embd_pdrop": 0.0,
}
QWEN2 = {
    "model_type": "qwen2",
    "architectures": ["Qwen2ForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 128,
    "max_position_embeddings": 256,
    "tie_word_embeddings": True,  # as Qwen2.5-0.5B: one tensor for embeddings and head
}
CONFIGS = {"llama-gqa": LLAMA_GQA, "gpt2": GPT2, "qwen2": QWEN2}
TARGETS = {"llama-gqa": ("q_proj", "v_proj"), "gpt2": ("c_attn",), "qwen2": ("q_proj", "k_proj", "v_proj")}
