"""weights, gradients and optimizer bytes equal what a real CPU training step holds.

The reference is the step itself: the recipe's model with random weights, adapted by PEFT itself
(tests/peft_oracle.py, not our injection), a forward/backward and an AdamW step, then the storage bytes of parameters, .grad tensors and optimizer states (shared storage once).
AdamW's `step` counters are 0-dim fp32 tensors that torch keeps on the CPU unless fused/capturable
(torch/optim/adam.py `_init_group`): not GPU memory, so not in optimizer_bytes; asserted below.
"""

import pytest
import torch

from lora_core.memory import TrainingSetup
from lora_core.memory.recipe import build_training_model, forward_loss, make_optimizer
from lora_core.memory.states import state_bytes
from lora_core.spec import LoraSpec
from tests.memory_configs import CONFIGS, TARGETS
from tests.peft_oracle import peft_adapt


def storage_bytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        storage = t.untyped_storage()
        if storage.data_ptr() in seen:
            continue
        seen.add(storage.data_ptr())
        total += storage.nbytes()
    return total


def real_step(config, spec, setup):
    """One step as PEFT documents it (AdaLoRA: `update_and_allocate` after optimizer.step(), adalora/model.py
    328-347): bytes of the weights (parameters and VeRA's projection buffers), gradients and optimizer states
    (with AdaLoRA's rank-allocator tensors)."""
    model = build_training_model(config, spec, setup, device="cpu", adapt=peft_adapt)
    opt = make_optimizer(model.parameters(), setup)
    ids = torch.randint(0, config["vocab_size"], (2, 8))
    loss = forward_loss(model, ids, setup)
    loss.backward()
    opt.step()
    params = list(model.parameters())
    buffers = [b for n, b in model.named_buffers() if ".vera_" in n]
    grads = [p.grad for p in params if p.grad is not None]
    states, steps = [], []
    for state in opt.state.values():
        for name, t in state.items():
            (steps if name == "step" else states).append(t)
    for t in steps:  # the counters: 0-dim fp32 on the CPU
        assert t.dim() == 0 and t.dtype == torch.float32
    adapter = setup.adapter_spec(spec)
    if adapter is not None and adapter.adapter == "adalora":
        model.base_model.update_and_allocate(0)
        ra = model.base_model.rankallocator
        states += [*ra.ipt.values(), *ra.exp_avg_ipt.values(), *ra.exp_avg_unc.values()]
    return storage_bytes(params + buffers), storage_bytes(grads), storage_bytes(states), model


CASES = [
    (arch, method, precision, dora)
    for arch in CONFIGS
    for method, dora in (("full", False), ("lora", False), ("lora", True))
    for precision in ("fp32", "bf16", "amp-bf16")
]


@pytest.mark.parametrize("arch,method,precision,dora", CASES)
def test_state_bytes_equal_a_real_step(arch, method, precision, dora):
    config = CONFIGS[arch]
    spec = LoraSpec(r=4, alpha=8, target_modules=TARGETS[arch], use_dora=dora)
    setup = TrainingSetup(method=method, precision=precision, device="cpu")
    weights, grads, states, _ = real_step(config, spec, setup)
    est = state_bytes(config, setup.adapter_spec(spec), setup)
    assert est.weights_bytes == weights
    assert est.gradients_bytes == grads
    assert est.optimizer_bytes == states


def test_adapters_are_fp32_on_a_bf16_base():
    """PEFT autocast_adapter_dtype=True: the bf16 model's adapters are fp32 (so 4 bytes per value)."""
    config = CONFIGS["llama-gqa"]
    spec = LoraSpec(r=4, target_modules=("q_proj", "v_proj"))
    setup = TrainingSetup(method="lora", precision="bf16", device="cpu")
    _, _, _, model = real_step(config, spec, setup)
    dtypes = {str(p.dtype) for n, p in model.named_parameters() if "lora_" in n}
    assert dtypes == {"torch.float32"}
    est = state_bytes(config, spec, setup)
    # q_proj (64 -> 64) and v_proj (64 -> 2*16=32) per layer, 2 layers: r*(in+out) each, 4 bytes
    assert est.adapter_bytes == 4 * 2 * (4 * (64 + 64) + 4 * (64 + 32))


def test_trainable_count_matches_params_api():
    from lora_core.params import count_params

    config = CONFIGS["qwen2"]
    spec = LoraSpec(r=4, target_modules=("q_proj", "v_proj"), bias="lora_only")
    est = state_bytes(config, spec, TrainingSetup(method="lora", precision="fp32"))
    assert est.trainable_params == count_params(config, spec).trainable_params


def test_sgd_and_momentum_states():
    config = CONFIGS["gpt2"]
    for opt, factor in (("sgd", 0), ("sgd-momentum", 1)):
        setup = TrainingSetup(method="full", precision="fp32", optimizer=opt, device="cpu")
        _, grads, states, _ = real_step(config, None, setup)
        assert states == factor * grads
        assert state_bytes(config, None, setup).optimizer_bytes == states


FAMILY = [
    ("llama-gqa", "vera", dict(r=4)),
    ("gpt2", "vera", dict(r=4, bias="vera_only", save_projection=False)),
    ("llama-gqa", "loha", dict(r=4, rank_pattern={"v_proj": 2})),
    ("qwen2", "lokr", dict(r=2)),  # w2 factored at rank 2 (hidden 64: whole from r = 4)
    ("llama-gqa", "lokr", dict(r=4, decompose_both=True)),
    ("gpt2", "ia3", dict(feedforward_modules=("c_attn",))),
    ("qwen2", "ia3", dict()),
    ("llama-gqa", "adalora", dict(init_r=4)),
    ("gpt2", "adalora", dict(init_r=3, bias="lora_only")),
    ("llama-gqa", "lora", dict(r=4, rank_pattern={"q_proj": 8}, alpha_pattern={"v_proj": 2}, use_rslora=True)),
]
FAMILY_CASES = [(arch, adapter, i, precision) for i, (arch, adapter, _) in enumerate(FAMILY)
                for precision in ("fp32", "bf16", "amp-bf16")]  # fmt: skip


@pytest.mark.parametrize("arch,adapter,case,precision", FAMILY_CASES)
def test_family_state_bytes_equal_a_real_step(arch, adapter, case, precision):
    from lora_core.family.specs import make_spec

    config = CONFIGS[arch]
    spec = make_spec(adapter, target_modules=TARGETS[arch], **FAMILY[case][2])
    setup = TrainingSetup(method="lora", precision=precision, device="cpu")
    weights, grads, states, _ = real_step(config, spec, setup)
    est = state_bytes(config, spec, setup)
    assert est.weights_bytes == weights
    assert est.gradients_bytes == grads
    assert est.optimizer_bytes == states


@pytest.mark.parametrize(
    "arch,adapter,kw",
    [
        ("llama-gqa", "lora", dict(r=4, target_modules=("embed_tokens", "q_proj"), bias="all")),
        ("qwen2", "lora", dict(r=4, target_modules=("q_proj",), modules_to_save=("lm_head",), use_dora=True)),
        ("llama-gqa", "vera", dict(r=4, target_modules=("q_proj", "down_proj"))),
        ("gpt2", "vera", dict(r=4, target_modules=("c_attn",), save_projection=False)),
        ("llama-gqa", "adalora", dict(init_r=4, target_modules=("q_proj", "v_proj"))),
        ("llama-gqa", "lokr", dict(r=2, target_modules=("q_proj", "lm_head"))),
    ],
)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_checkpoint_bytes_are_what_peft_saves(arch, adapter, kw, precision):
    """checkpoint_bytes against PEFT's own adapter state dict (what save_pretrained writes): the memory
    estimate's, read off the built model, and the Model page's, from the counts (lora_core/family/checkpoint.py,
    with the base dtype the config names)."""
    from peft import get_peft_model_state_dict

    from lora_core.family.checkpoint import checkpoint_size
    from lora_core.family.specs import make_spec

    config = dict(CONFIGS[arch], torch_dtype={"fp32": "float32", "bf16": "bfloat16"}[precision])
    spec = make_spec(adapter, **kw)
    setup = TrainingSetup(method="lora", precision=precision, device="cpu")
    model = build_training_model(config, spec, setup, device="cpu", adapt=peft_adapt)
    saved = sum(t.nbytes for t in get_peft_model_state_dict(model).values())
    assert state_bytes(config, spec, setup).checkpoint_bytes == saved
    assert checkpoint_size(config, spec).nbytes == saved
