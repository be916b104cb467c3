"""PEFT as the reference: the real `get_peft_model` on the recipe's model (tests and benchmarks only).

lora_core adapts models with its own injection (lora_core/memory/adapters.py); PEFT is a dev dependency.
Pass `adapt=peft_adapt` to `recipe.build_training_model` to get the model PEFT itself builds.
"""

from __future__ import annotations

import warnings


def peft_config(spec):
    from peft import LoraConfig

    targets = spec.target_modules if isinstance(spec.target_modules, str) else list(spec.target_modules)
    return LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        target_modules=targets,
        bias=spec.bias,
        use_dora=spec.use_dora,
        modules_to_save=list(spec.modules_to_save) or None,
        lora_dropout=0.0,  # PEFT default 0.0: nn.Identity on the adapter path
    )


def peft_adapt(model, spec, config=None):
    """`get_peft_model(model, LoraConfig(...), autocast_adapter_dtype=True)`, the recipe's `adapt=` hook."""
    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_peft_model(model, peft_config(spec), autocast_adapter_dtype=True)
