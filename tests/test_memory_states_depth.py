"""State bytes are read off a model of at most 3 layers (lora_core/memory/parameters.py, `base_param_infos`): the
third layer stands for layers 3..L. Against the parameters of the full-depth model, built layer by layer."""

import pytest

from lora_core.memory import TrainingSetup, recipe
from lora_core.memory.parameters import model_infos
from lora_core.memory.states import aggregate, state_bytes
from lora_core.presets import PRESETS, load_preset
from lora_core.spec import LoraSpec

RECIPES = [
    # QLoRA + DoRA on every linear, every bias trained, the output embedding trained in full: every kind of
    # tensor a spec adds (adapters, magnitudes, NF4-packed bases, trained biases, a modules_to_save copy).
    (TrainingSetup(method="qlora", precision="bf16", optimizer="paged-adamw-8bit"), "all-linear", True, "all"),
    (TrainingSetup(method="full", precision="amp-bf16"), None, False, "none"),
]
SAVE = {"bert-base": "cls"}  # BertForMaskedLM's head; the others call theirs lm_head


def spec_for(name: str, targets, dora: bool, bias: str):
    if targets is None:
        return None
    if name == "mixtral-8x7b":
        targets = "q_proj,k_proj,v_proj,o_proj"  # the estimator does not model LoRA on fused experts
    save = (SAVE.get(name, "lm_head"),)
    return LoraSpec(r=4, target_modules=targets, use_dora=dora, bias=bias, modules_to_save=save)


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("case", range(len(RECIPES)))
def test_three_built_layers_give_the_full_models_state_bytes(name, case):
    setup, targets, dora, bias = RECIPES[case]
    spec = spec_for(name, targets, dora, bias)
    full = recipe.build_training_model(load_preset(name), spec, setup)  # every layer, on the meta device
    want = aggregate(list(model_infos(full, setup, 1)), setup)
    assert state_bytes(load_preset(name), spec, setup) == want
