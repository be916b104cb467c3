"""Our injection (lora_core/memory/adapters.py) against PEFT 0.21.2 itself, the oracle, for every type.

For each case both models are built by the same recipe on the meta device, one adapted by our injection,
one by `get_peft_model(..., autocast_adapter_dtype=True)`. Then:
- the parameters agree: names (PEFT's `base_model.model.` prefix removed), shapes, dtypes, requires_grad,
  in the same order; so do the adapter buffers (VeRA's shared projections);
- the traced step agrees to the byte, op by op: the live bytes after every op of the forward and backward
  (activations autograd saved, temporaries, gradients as they appear) and the gradient bytes.
"""

import numpy as np
import pytest

from lora_core.memory import TrainingSetup, recipe
from lora_core.memory.live_bytes import trace_step
from lora_core.spec import LoraSpec
from tests.memory_configs import CONFIGS, GPT2, LLAMA_GQA, QWEN2, TARGETS
from tests.peft_oracle import peft_adapt

B, S = 2, 8  # traced shape (tiny: the comparison is op by op, so any shape shows a difference)


def _params(model):
    return [
        (n.removeprefix("base_model.model."), tuple(p.shape), p.dtype, p.requires_grad)
        for n, p in model.named_parameters()
    ]


def _adapter_buffers(model):
    return [
        (n.removeprefix("base_model.model."), tuple(b.shape), b.dtype)
        for n, b in model.named_buffers()
        if ".vera_" in n
    ]


def assert_same_as_peft(config, spec, setup):
    ours = recipe.build_training_model(config, spec, setup)
    ref = recipe.build_training_model(config, spec, setup, adapt=peft_adapt)
    assert _params(ours) == _params(ref)
    assert _adapter_buffers(ours) == _adapter_buffers(ref)
    got, want = trace_step(ours, setup, B, S), trace_step(ref, setup, B, S)
    assert got.forward_end == want.forward_end
    np.testing.assert_array_equal(got.live, want.live)
    np.testing.assert_array_equal(got.grads, want.grads)
    return got


# Every precision with and without checkpointing, across LoRA and DoRA (6 combinations), on each architecture.
RECIPES = [
    (False, "fp32", False),
    (False, "bf16", True),
    (False, "amp-bf16", False),
    (True, "fp32", True),
    (True, "bf16", False),
    (True, "amp-bf16", True),
]
MAIN = [(arch, dora, precision, ckpt) for arch in CONFIGS for dora, precision, ckpt in RECIPES]


@pytest.mark.parametrize("arch,dora,precision,ckpt", MAIN)
def test_saved_bytes_equal_peft(arch, dora, precision, ckpt):
    spec = LoraSpec(r=4, alpha=8, target_modules=TARGETS[arch], use_dora=dora)
    setup = TrainingSetup(method="lora", precision=precision, grad_checkpointing=ckpt)
    assert_same_as_peft(CONFIGS[arch], spec, setup)


BF16, AMP_CKPT = ("bf16", False), ("amp-bf16", True)
EXTRA = [
    # all-linear leaves the output head out; bias="all" trains every bias; lm_head copied
    (LLAMA_GQA, dict(target_modules="all-linear", bias="all", modules_to_save=("lm_head",)), AMP_CKPT),
    # LoRA on an Embedding (lora_embedding_A/B), with and without DoRA
    (LLAMA_GQA, dict(target_modules=("embed_tokens", "q_proj")), BF16),
    (LLAMA_GQA, dict(target_modules=("embed_tokens", "o_proj"), use_dora=True), AMP_CKPT),
    # GPT-2: transposed Conv1D weights, biases of adapted layers, embedding
    (GPT2, dict(target_modules=("c_attn", "c_fc", "wte"), bias="lora_only", use_dora=True), BF16),
    (GPT2, dict(target_modules="all-linear", bias="all"), AMP_CKPT),
    # Qwen2: q/k/v biases, tied embeddings; the tied embedding copied by modules_to_save
    (
        QWEN2,
        dict(
            target_modules=("q_proj", "k_proj", "v_proj"), bias="lora_only", modules_to_save=("embed_tokens",)
        ),
        AMP_CKPT,
    ),
    (QWEN2, dict(target_modules="all-linear", use_dora=True, modules_to_save=("lm_head",)), BF16),
]


@pytest.mark.parametrize("config,kw,recipe_", EXTRA)
def test_targets_biases_embeddings_and_saved_modules_equal_peft(config, kw, recipe_):
    precision, ckpt = recipe_
    spec = LoraSpec(r=4, alpha=16, **kw)
    setup = TrainingSetup(method="lora", precision=precision, grad_checkpointing=ckpt)
    assert_same_as_peft(config, spec, setup)


def test_cpu_device_emulation_and_eager_attention_equal_peft():
    spec = LoraSpec(r=4, target_modules=("q_proj", "v_proj"), use_dora=True)
    for setup in (
        TrainingSetup(method="lora", precision="fp32", device="cpu"),
        TrainingSetup(method="qlora", precision="bf16", attention="eager"),
    ):
        assert_same_as_peft(LLAMA_GQA, spec, setup)


def test_real_cpu_model_matches_peft_initialisation_rules():
    """On real tensors: B starts at zero (the adapted model equals the base model) and DoRA's magnitude is
    the row norm of W, as PEFT initialises them (layer.py reset_lora_parameters, dora.py update_layer)."""
    import torch

    spec = LoraSpec(r=4, target_modules=("c_attn",), use_dora=True)
    setup = TrainingSetup(method="lora", precision="fp32", device="cpu")
    model = recipe.build_training_model(GPT2, spec, setup, device="cpu")
    layer = model.transformer.h[0].attn.c_attn
    assert torch.count_nonzero(layer.lora_B["default"].weight) == 0
    w = layer.base_layer.weight  # Conv1D: (in, out)
    torch.testing.assert_close(layer.lora_magnitude_vector["default"].weight, torch.linalg.norm(w.T, dim=1))
    ids = torch.randint(0, GPT2["vocab_size"], (B, S))
    base = recipe.build_training_model(
        GPT2, None, TrainingSetup(method="full", precision="fp32"), device="cpu"
    )
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, base(input_ids=ids).logits)


def test_moe_expert_targets_are_a_clear_error():
    import json

    from lora_core.errors import LoraLabError
    from lora_core.presets import __file__ as presets_init

    path = presets_init.replace("__init__.py", "mixtral-8x7b.json")
    with open(path) as f:
        config = json.load(f)
    config.update(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4)
    config.update(num_key_value_heads=2, head_dim=16, vocab_size=128, num_local_experts=4)
    setup = TrainingSetup(method="lora", precision="bf16")
    with pytest.raises(LoraLabError, match="MoE expert"):
        recipe.build_training_model(config, LoraSpec(r=4, target_modules=("w1", "w3", "w2")), setup)
    recipe.build_training_model(config, LoraSpec(r=4, target_modules=("q_proj", "v_proj")), setup)


# --- the rest of the family: VeRA, LoHa, LoKr, IA3, AdaLoRA; LoRA with rank/alpha patterns and rsLoRA ---------

FAMILY_RECIPES = [("fp32", False), ("bf16", True), ("amp-bf16", False)]


def family_specs(arch: str):
    """Each type on the architecture's usual targets (LoHa and LoKr wrap nn.Linear only: not GPT-2's Conv1D)."""
    targets = TARGETS[arch]
    out = [
        ("vera", dict(r=4)),
        ("ia3", dict(feedforward_modules=(targets[-1],))),
        ("adalora", dict(init_r=4)),
    ]
    if arch != "gpt2":
        # LoKr at hidden 64 = 8 x 8: w2 is whole from r = 4 on (max(8, 8) / 2), factored into rank r below
        out += [("loha", dict(r=4)), ("lokr", dict(r=4)), ("lokr", dict(r=2))]
    return out


FAMILY = [(arch, i, rec) for arch in CONFIGS for i in range(len(family_specs(arch))) for rec in FAMILY_RECIPES]


@pytest.mark.parametrize("arch,case,recipe_", FAMILY)
def test_family_saved_bytes_equal_peft(arch, case, recipe_):
    from lora_core.family.specs import make_spec

    adapter, kw = family_specs(arch)[case]
    precision, ckpt = recipe_
    spec = make_spec(adapter, target_modules=TARGETS[arch], **kw)
    setup = TrainingSetup(method="lora", precision=precision, grad_checkpointing=ckpt)
    assert_same_as_peft(CONFIGS[arch], spec, setup)


FAMILY_EXTRA = [
    # LoRA: per-module rank and alpha, rsLoRA; with DoRA on top
    (LLAMA_GQA, "lora", dict(target_modules="all-linear", rank_pattern={"q_proj": 8, "down_proj": 2},
                             alpha_pattern={"v_proj": 32}, use_rslora=True), BF16),
    (GPT2, "lora", dict(target_modules=("c_attn", "c_fc"), rank_pattern={"c_fc": 6}, use_dora=True), AMP_CKPT),
    # VeRA: biases of the adapted Conv1D layers; projections left out of the checkpoint (buffers non-persistent)
    (GPT2, "vera", dict(r=8, target_modules=("c_attn", "c_proj"), bias="vera_only", save_projection=False), BF16),
    # LoHa / LoKr: per-module rank; LoKr factoring w1 too (decompose_both), and a chosen factor
    (LLAMA_GQA, "loha", dict(r=4, target_modules="all-linear", rank_pattern={"down_proj": 2}), AMP_CKPT),
    (QWEN2, "lokr", dict(r=2, target_modules=("q_proj", "up_proj"), decompose_both=True), BF16),
    (LLAMA_GQA, "lokr", dict(r=3, target_modules=("o_proj", "gate_proj"), decompose_factor=4), AMP_CKPT),
    # IA3 on every linear, the MLP's down projection scaled at its input; AdaLoRA training every bias
    (LLAMA_GQA, "ia3", dict(target_modules="all-linear", feedforward_modules=("down_proj",)), AMP_CKPT),
    (QWEN2, "adalora", dict(init_r=3, target_modules=("q_proj", "k_proj", "v_proj"), bias="all",
                            modules_to_save=("lm_head",)), BF16),
]  # fmt: skip


@pytest.mark.parametrize("config,adapter,kw,recipe_", FAMILY_EXTRA)
def test_family_patterns_biases_and_factors_equal_peft(config, adapter, kw, recipe_):
    from lora_core.family.specs import make_spec

    precision, ckpt = recipe_
    spec = make_spec(adapter, **kw)
    setup = TrainingSetup(method="lora", precision=precision, grad_checkpointing=ckpt)
    assert_same_as_peft(config, spec, setup)


MEMORY_FORMS = [
    (LLAMA_GQA, "lora", dict(r=4, alpha=64, target_modules=("q_proj", "v_proj"), alpha_pattern={"v_proj": 3},
                             use_rslora=True)),
    (LLAMA_GQA, "loha", dict(r=4, alpha=1, target_modules=("q_proj", "v_proj"), alpha_pattern={"q_proj": 50})),
    (QWEN2, "adalora", dict(init_r=4, target_r=2, alpha=2, total_step=7, target_modules=("q_proj",))),
]  # fmt: skip


@pytest.mark.parametrize("config,adapter,kw", MEMORY_FORMS)
def test_the_settings_memory_drops_change_no_op(config, adapter, kw):
    """lora_core/memory/family.py `for_memory` drops alpha, alpha_pattern, rsLoRA, AdaLoRA's target_r and
    total_step: PEFT's own step with and without them is the same, op by op."""
    from lora_core.family.specs import make_spec
    from lora_core.memory.family import for_memory

    spec = make_spec(adapter, **kw)
    plain = for_memory(config, spec)
    assert plain != spec
    setup = TrainingSetup(method="lora", precision="amp-bf16", grad_checkpointing=True)
    got = trace_step(recipe.build_training_model(config, spec, setup, adapt=peft_adapt), setup, B, S)
    want = trace_step(recipe.build_training_model(config, plain, setup, adapt=peft_adapt), setup, B, S)
    np.testing.assert_array_equal(got.live, want.live)
    np.testing.assert_array_equal(got.grads, want.grads)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_adalora_ranknum_trains_unless_made_in_place(precision):
    """PEFT's ranknum is frozen only where its move to the model's device and dtype is a no-op (an fp32 model
    on the CPU); otherwise the ParameterDict re-wraps it as a trainable Parameter. Ours follows the same rule
    (family_layers.SVDLinear), here against PEFT on real CPU models, and on the meta device (standing for a
    GPU) it trains."""
    from lora_core.family.specs import make_spec

    spec = make_spec("adalora", init_r=2, target_modules=("q_proj",))
    setup = TrainingSetup(method="lora", precision=precision, device="cpu")
    ours = recipe.build_training_model(LLAMA_GQA, spec, setup, device="cpu")
    ref = recipe.build_training_model(LLAMA_GQA, spec, setup, device="cpu", adapt=peft_adapt)
    assert _params(ours) == _params(ref)
    flags = {p.requires_grad for n, p in ours.named_parameters() if ".ranknum." in n}
    assert flags == {precision != "fp32"}
    meta = recipe.build_training_model(LLAMA_GQA, spec, setup.replace(device="cuda"))
    assert {p.requires_grad for n, p in meta.named_parameters() if ".ranknum." in n} == {True}
