"""lora_core.memory.series: the methods compared and the curves when the estimator refuses a method."""

import pytest

from lora_core.errors import LoraLabError
from lora_core.memory import TrainingSetup
from lora_core.memory.series import compare_methods, peak_series
from lora_core.presets import load_preset
from lora_core.spec import LoraSpec


def test_compare_leaves_out_a_method_the_estimator_refuses_but_raises_for_the_chosen_one():
    """Mixtral with all-linear: LoRA reaches the fused expert tensors (refused by the memory estimator), full
    fine-tuning has no adapter. The chart compares what can be estimated; the chosen method's refusal shows."""
    config, spec = load_preset("mixtral-8x7b"), LoraSpec(r=16, target_modules="all-linear")
    full = TrainingSetup(method="full", precision="bf16")
    assert list(compare_methods(config, spec, full, replay=False)) == ["full"]
    assert list(peak_series(config, spec, full, "seq", [512, 1024])) == ["full"]
    with pytest.raises(LoraLabError, match="fused MoE expert"):
        compare_methods(config, spec, full.replace(method="lora"), replay=False)
    with pytest.raises(LoraLabError, match="fused MoE expert"):
        peak_series(config, spec, full.replace(method="lora"), "seq", [512])
