"""The traced activation model: exact fit at an untraced shape, depth extrapolation, kernels, checkpointing."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lora_core.memory import TrainingSetup, estimate_memory, recipe
from lora_core.memory.live_bytes import trace_step
from lora_core.memory.trace import live_model
from lora_core.spec import LoraSpec
from tests.test_memory_configs import GPT2, LLAMA_GQA, QWEN2

SPEC = LoraSpec(r=4, target_modules=("q_proj", "v_proj"))


def direct(config, spec, setup, b, s):
    model = recipe.build_training_model(config, spec, setup, device="meta")
    t = trace_step(model, setup, b, s)
    f = t.forward_end
    return np.array([t.live[: f + 1].max(), t.live[f], t.live[f + 1 :].max(), t.live[-1]])


@pytest.mark.parametrize(
    "config,setup",
    [
        (LLAMA_GQA, TrainingSetup(method="lora", precision="bf16")),
        (LLAMA_GQA, TrainingSetup(method="lora", precision="amp-bf16", grad_checkpointing=True)),
        (GPT2, TrainingSetup(method="full", precision="fp32", attention="eager")),
        (QWEN2, TrainingSetup(method="lora", precision="fp32", device="cpu")),
    ],
)
def test_fit_and_depth_extrapolation_match_a_direct_trace(config, setup):
    """A 5-layer model at (b=5, s=40, r=6): neither the shape nor the depth was traced for the fit."""
    deep = recipe.with_layers(config, 5)
    spec = LoraSpec(r=6, target_modules=SPEC.target_modules) if setup.method != "full" else None
    want = direct(deep, spec, setup, 5, 40)
    got = live_model(deep, spec or SPEC, setup).phases(5, 40, 6)
    np.testing.assert_allclose(list(got.values()), want, rtol=0, atol=0.5)


def test_cpu_sdpa_saves_no_s_squared_tensor():
    """torch 2.13 on CPU with dropout 0 runs flash attention: saved q, k, v, out and a (B, H, S) logsumexp."""
    q, k, v = (torch.randn(2, 4, 16, 8, requires_grad=True) for _ in range(3))
    shapes = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: shapes.append(tuple(t.shape)) or t, lambda t: t):
        F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert (2, 4, 16) in shapes
    assert all(s[-2:] != (16, 16) for s in shapes)


def test_eager_grows_quadratically_sdpa_linearly():
    setup = TrainingSetup(method="lora", precision="bf16")
    coef = {}
    for attention in ("sdpa", "eager"):
        lm = live_model(LLAMA_GQA, SPEC, setup.replace(attention=attention))
        # the b*s^2 live-bytes coefficient of every candidate peak at depth 2 (no b*s^2 storage: no such term)
        rows = np.concatenate([c[:, 0] for c in lm.peaks[0]])
        coef[attention] = rows[:, lm.terms.index((1, 2, 0))] if (1, 2, 0) in lm.terms else np.zeros(1)
    assert not coef["sdpa"].any()
    assert coef["eager"].max() > 0


def test_checkpointing_saves_activations():
    setup = TrainingSetup(method="lora", precision="bf16", batch=4, seq=256)
    plain = estimate_memory(LLAMA_GQA, SPEC, setup)
    ckpt = estimate_memory(LLAMA_GQA, SPEC, setup.replace(grad_checkpointing=True))
    assert ckpt.activations_bytes < plain.activations_bytes


def test_big_vocabulary_loss_is_fp32():
    """The causal-LM loss upcasts logits to fp32: at the end of forward at least B*S*V*4 bytes are alive."""
    config = dict(LLAMA_GQA, vocab_size=4096)
    e = estimate_memory(config, SPEC, TrainingSetup(method="lora", precision="bf16", batch=2, seq=64))
    assert e.activations_bytes >= 2 * 64 * 4096 * 4


@pytest.mark.slow
def test_7b_preset_traces():
    from lora_core.presets import load_preset

    e = estimate_memory(load_preset("llama-2-7b"), SPEC, TrainingSetup(method="lora", batch=1, seq=512))
    # bf16 base: 2 bytes per parameter of Llama-2-7B's 6.74 B (Touvron et al. 2023), adapters on top
    assert 2 * 6.7e9 < e.weights_bytes < 2 * 6.8e9
    assert e.peak_bytes > e.weights_bytes + e.activations_bytes
