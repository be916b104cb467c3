"""The traced activation model: exact fit at an untraced shape, depth extrapolation, kernels, checkpointing."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lora_core.memory import TrainingSetup, estimate_memory, recipe
from lora_core.memory.live_bytes import trace_step
from lora_core.memory.trace import live_model
from lora_core.spec import LoraSpec
from tests.memory_configs import GPT2, LLAMA_GQA, QWEN2

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
    spec = setup.adapter_spec(LoraSpec(r=6, target_modules=SPEC.target_modules))
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


FAMILY_FITS = [
    # (config, adapter, settings, setup); each at r=6 on a 5-layer model, at (b=5, s=40): untraced
    (LLAMA_GQA, "vera", dict(r=6), TrainingSetup(method="lora", precision="bf16")),
    (GPT2, "vera", dict(r=6, target_modules=("c_attn",)), TrainingSetup(method="lora", precision="amp-bf16")),
    (LLAMA_GQA, "loha", dict(r=6, rank_pattern={"v_proj": 2}), TrainingSetup(method="lora", precision="amp-bf16")),
    (QWEN2, "ia3", dict(feedforward_modules=("v_proj",)), TrainingSetup(method="lora", precision="bf16")),
    (LLAMA_GQA, "adalora", dict(init_r=6), TrainingSetup(method="lora", precision="amp-bf16", grad_checkpointing=True)),
    (GPT2, "adalora", dict(init_r=6, target_modules=("c_attn",)), TrainingSetup(method="lora", precision="fp32")),
    # LoKr, hidden 64 = 8 x 8: w2 factored at ranks 1-3 (traced at its own rank), whole from 4 on (one trace)
    (LLAMA_GQA, "lokr", dict(r=3), TrainingSetup(method="lora", precision="bf16")),
    (LLAMA_GQA, "lokr", dict(r=6), TrainingSetup(method="lora", precision="amp-bf16")),
    (LLAMA_GQA, "lora", dict(r=6, rank_pattern={"q_proj": 2}, use_rslora=True, use_dora=True),
     TrainingSetup(method="lora", precision="bf16", grad_checkpointing=True)),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(FAMILY_FITS)))
def test_family_polynomials_match_a_direct_trace(case):
    """Every adapter type's live bytes, derived from the 2- and 3-layer traces (trace.py, factored per storage;
    checked at a second shape, as for any config that is not a preset), against a direct trace of a 5-layer
    model at a shape and rank that were not traced."""
    from lora_core.family.specs import make_spec

    config, adapter, kw, setup = FAMILY_FITS[case]
    kw = {"target_modules": ("q_proj", "v_proj"), **kw}
    spec = make_spec(adapter, **kw)
    deep = recipe.with_layers(config, 5)
    want = direct(deep, spec, setup, 5, 40)
    r = spec.rank or 1
    got = live_model(deep, spec, setup).phases(5, 40, r)
    np.testing.assert_allclose(list(got.values()), want, rtol=0, atol=0.5)


def test_lokr_ranks_on_one_side_share_a_trace():
    """LoKr's form is fixed once every factor is whole (lora_core/memory/family.py): ranks 4 and 9 on the
    64-wide model answer from one trace; ranks 2 and 3 (w2 factored into rank r) each have their own."""
    from lora_core.family.specs import make_spec
    from lora_core.memory.trace import cache_key

    setup = TrainingSetup(method="lora", precision="bf16")
    keys = {r: cache_key(LLAMA_GQA, make_spec("lokr", r=r), setup) for r in (2, 3, 4, 9)}
    assert keys[4] == keys[9]
    assert len({keys[2], keys[3], keys[4]}) == 3


def test_a_rank_pattern_that_differs_by_layer_is_refused():
    from lora_core.errors import LoraLabError

    spec = LoraSpec(r=4, target_modules=("q_proj", "v_proj"), rank_pattern={"layers.0.self_attn.q_proj": 16})
    with pytest.raises(LoraLabError, match="different ranks in different layers"):
        estimate_memory(LLAMA_GQA, spec, TrainingSetup(method="lora"))
    # the same rank in every layer is fine, whatever the keys look like (this one names a layer the 2- and
    # 3-layer traces do not have: the estimator rewrites the keys per module name pattern)
    deep = recipe.with_layers(LLAMA_GQA, 5)
    same = LoraSpec(r=4, target_modules=("q_proj", "v_proj"), rank_pattern={"layers.4.self_attn.q_proj": 16,
                                                                              "q_proj": 16})  # fmt: skip
    plain = LoraSpec(r=4, target_modules=("q_proj", "v_proj"), rank_pattern={"q_proj": 16})
    setup = TrainingSetup(method="lora", batch=2, seq=32)
    assert estimate_memory(deep, same, setup) == estimate_memory(deep, plain, setup)


def test_autocast_stays_out_of_a_custom_functions_backward_but_not_out_of_a_recompute():
    """Real autocast is off while loss.backward() runs (it is called outside the autocast block), so the Python
    backward of a custom autograd Function (LoHa's HadaWeight) computes in its tensors' dtype; a checkpoint's
    recompute re-enters the forward's autocast (torch/utils/checkpoint.py). The emulation must do both."""
    from torch.utils.checkpoint import checkpoint, set_checkpoint_early_stop

    from lora_core.memory.kernels import DeviceEmulation

    seen = []
    phase = ["forward"]

    class Product(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a @ b

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            grad_a = grad.float() @ b.T
            seen.append(("function backward", grad_a.dtype))
            return grad_a, a.T @ grad.float()

    def block(x, w):
        y = (x * 3) @ w  # saves x * 3, which the backward recomputes
        seen.append((phase[0], y.dtype))  # forward, then the recompute during backward
        return y

    a, b, c = (torch.empty(4, 4, device="meta", requires_grad=True) for _ in range(3))
    emu = DeviceEmulation("cuda", torch.bfloat16, autocast=True)
    with emu:
        out = Product.apply(a, b)
        with set_checkpoint_early_stop(False):  # the recompute runs to the end of block: `seen` sees it
            y = checkpoint(block, out.float(), c, use_reentrant=False)
            emu.end_forward()
            phase[0] = "recompute"
            emu.backward(y.float().sum())
    assert out.dtype == torch.bfloat16
    assert seen == [("forward", torch.bfloat16), ("recompute", torch.bfloat16), ("function backward", torch.float32)]
