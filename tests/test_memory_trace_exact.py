"""Activations from one traced shape per depth (lora_core/memory/trace.py): each storage's bytes factored by the
traced primes must give its size at a second traced shape, to the byte, on every preset and for every kind of
recipe (what a preset is then traced with: one shape). And extrapolating from 2 and 3 layers equals a direct
trace of the full-depth model."""

import numpy as np
import pytest

from lora_core.memory import TrainingSetup, recipe, trace
from lora_core.memory.live_bytes import trace_step
from lora_core.presets import PRESETS, load_preset
from lora_core.spec import LoraSpec

RECIPES = [
    (TrainingSetup(method="lora", precision="bf16"), "all-linear", False),
    (TrainingSetup(method="lora", precision="amp-bf16", grad_checkpointing=True, attention="eager"), None, True),
    (TrainingSetup(method="full", precision="fp32", attention="eager"), None, False),
    (TrainingSetup(method="qlora", precision="amp-fp16", grad_checkpointing=True), "all-linear", False),
]
# Targets every architecture has (PEFT's defaults for its model type), for the DoRA recipe.
DEFAULT_TARGETS = {"gpt2": "c_attn", "bert": "query,value", "roberta": "query,value", "t5": "q,v", "phi3": "qkv_proj"}


def spec_for(name: str, targets, dora: bool):
    config = load_preset(name)
    if targets is None:
        targets = DEFAULT_TARGETS.get(config["model_type"], "q_proj,v_proj")
    if name == "mixtral-8x7b" and targets == "all-linear":
        targets = "q_proj,k_proj,v_proj,o_proj"  # LoRA on fused experts is not modelled (docs/memory.md)
    return LoraSpec(r=8, alpha=16, target_modules=targets, use_dora=dora)


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("case", range(len(RECIPES)))
def test_one_shape_factoring_holds_at_a_second_shape(name, case):
    setup, targets, dora = RECIPES[case]
    spec = setup.adapter_spec(spec_for(name, targets, dora))
    config = load_preset(name)
    assert_factoring_holds(name, config, spec, setup)


def assert_factoring_holds(name, config, spec, setup):
    spec = trace.for_memory(config, spec)
    variable = trace.rank_is_variable(spec)
    first, second = trace._point(config, 0, variable), trace._point(config, 1, variable)
    for layers in trace._LAYERS:
        rec = trace._record(config, spec, setup, layers, first)
        other = trace._record(config, spec, setup, layers, second)
        assert trace._polynomials(rec, first, other, second) is not None, (name, layers)


# The other adapter types, each on the preset's default targets (LoHa and LoKr wrap nn.Linear only: not GPT-2's
# Conv1D): their storages (VeRA's (B, S, r), AdaLoRA's r x r regularizer, LoHa's and LoKr's whole ΔW) factor
# at the traced primes on every architecture too.
FAMILY = [
    ("vera", dict(r=8), TrainingSetup(method="lora", precision="bf16")),
    ("loha", dict(r=8), TrainingSetup(method="lora", precision="amp-bf16")),
    ("lokr", dict(r=4), TrainingSetup(method="lora", precision="bf16", grad_checkpointing=True)),
    ("ia3", dict(), TrainingSetup(method="qlora", precision="bf16")),
    ("adalora", dict(init_r=8), TrainingSetup(method="lora", precision="amp-bf16", grad_checkpointing=True)),
]


FAMILY_CASES = [
    (name, case)
    for name in PRESETS
    for case, (adapter, _, _) in enumerate(FAMILY)
    if not (adapter in ("loha", "lokr") and load_preset(name)["model_type"] == "gpt2")
]


@pytest.mark.slow
@pytest.mark.parametrize("name,case", FAMILY_CASES)
def test_one_shape_factoring_holds_for_every_adapter_type(name, case):
    from lora_core.family.specs import make_spec

    adapter, kw, setup = FAMILY[case]
    config = load_preset(name)
    targets = spec_for(name, None, False).target_modules
    assert_factoring_holds(name, config, make_spec(adapter, target_modules=targets, **kw), setup)


def direct_phases(config, spec, setup, b, s):
    t = trace_step(recipe.build_training_model(config, spec, setup), setup, b, s)
    f = t.forward_end
    return np.array([t.live[: f + 1].max(), t.live[f], t.live[f + 1 :].max(), t.live[-1]])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["llama-3.2-1b", "gpt2", "t5-base", "bert-base", "gemma-2b", "mixtral-8x7b"])
@pytest.mark.parametrize("case", range(3))
def test_depth_extrapolation_equals_a_full_depth_trace(name, case):
    setup, targets, dora = RECIPES[case]
    spec = setup.adapter_spec(spec_for(name, targets, dora))
    spec = spec and LoraSpec(r=6, alpha=16, target_modules=spec.target_modules, use_dora=spec.use_dora)
    config = load_preset(name)
    got = trace.build_live_model(config, spec, setup, check=False).phases(2, 40, 6)
    np.testing.assert_array_equal(list(got.values()), direct_phases(config, spec, setup, 2, 40))
