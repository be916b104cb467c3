"""PEFT as the reference: the real `get_peft_model` on the recipe's model (tests and benchmarks only).

lora_core adapts models with its own injection (lora_core/memory/adapters.py); PEFT is a dev dependency.
Pass `adapt=peft_adapt` to `recipe.build_training_model` to get the model PEFT itself builds.
`peft_config(spec)` maps any of our specs (LoraSpec, lora_core.family.specs) to the PEFT config it stands for;
`peft_counts(config, spec)` is the parameter-count oracle (tests/test_params_peft.py, test_params_family.py),
and `preset_cases` their parametrization, one case per preset and spec.

One meta-device artefact: AdaLoRA's `ranknum` is created with requires_grad=False (adalora/layer.py:81-84),
but on a meta model PEFT moves it with `item.to("meta")` (tuners_utils.py:2210-2212), which returns a plain
tensor that ParameterDict re-wraps as a new Parameter with requires_grad=True. On real weights it stays
frozen. `peft_counts` therefore leaves ranknum out of the meta model's trainable count
(tests/test_params_family.py checks the artefact, and every type on real CPU weights with no correction).
"""

from __future__ import annotations

import warnings


def _targets(spec):
    return spec.target_modules if isinstance(spec.target_modules, str) else list(spec.target_modules)


def adalora_task_type(model) -> str | None:
    """The PEFT task type an AdaLoRA user sets for this model (adalora/model.py 55-63: the example sets one).
    Only the task models run AdaLoraModel.forward and so its orthogonal regularizer; a plain PeftModel calls
    the base model directly (peft_model.py PeftModel.forward). PEFT has none for masked LMs."""
    if getattr(model.config, "is_encoder_decoder", False):
        return "SEQ_2_SEQ_LM"
    return "CAUSAL_LM" if model.can_generate() else None


def peft_config(spec, task_type=None):
    import peft

    saved = list(spec.modules_to_save) or None
    if spec.adapter == "lora":
        return peft.LoraConfig(
            r=spec.r,
            lora_alpha=spec.alpha,
            target_modules=_targets(spec),
            bias=spec.bias,
            use_dora=spec.use_dora,
            modules_to_save=saved,
            lora_dropout=0.0,  # PEFT default 0.0: nn.Identity on the adapter path
            rank_pattern=dict(spec.rank_pattern),
            alpha_pattern=dict(spec.alpha_pattern),
            use_rslora=spec.use_rslora,
        )
    if spec.adapter == "vera":
        return peft.VeraConfig(
            r=spec.r,
            target_modules=_targets(spec),
            bias=spec.bias,
            modules_to_save=saved,
            save_projection=spec.save_projection,
        )
    if spec.adapter in ("loha", "lokr"):
        extra = (
            dict(decompose_both=spec.decompose_both, decompose_factor=spec.decompose_factor)
            if spec.adapter == "lokr"
            else {}
        )
        cls = peft.LoHaConfig if spec.adapter == "loha" else peft.LoKrConfig
        return cls(
            r=spec.r,
            alpha=spec.alpha,
            target_modules=_targets(spec),
            modules_to_save=saved,
            rank_pattern=dict(spec.rank_pattern),
            alpha_pattern=dict(spec.alpha_pattern),
            **extra,
        )
    if spec.adapter == "ia3":
        return peft.IA3Config(
            target_modules=_targets(spec),
            feedforward_modules=list(spec.feedforward_modules),
            modules_to_save=saved,
        )
    if spec.adapter == "adalora":
        return peft.AdaLoraConfig(
            init_r=spec.init_r,
            target_r=spec.target_r,
            lora_alpha=spec.alpha,
            total_step=spec.total_step,
            target_modules=_targets(spec),
            bias=spec.bias,
            modules_to_save=saved,
            task_type=task_type,
        )
    raise ValueError(f"no PEFT config for {spec!r}")


def peft_adapt(model, spec, config=None):
    """`get_peft_model(model, LoraConfig(...), autocast_adapter_dtype=True)`, the recipe's `adapt=` hook."""
    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = adalora_task_type(model) if spec.adapter == "adalora" else None
        return get_peft_model(model, peft_config(spec, task), autocast_adapter_dtype=True)


def peft_model(model, spec):
    """`get_peft_model(model, peft_config(spec))`, without the warnings PEFT gives on these models (tied
    embeddings, fan_in_fan_out, AdaLoRA's r): expected here."""
    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_peft_model(model, peft_config(spec))


def peft_counts(config: dict, spec) -> tuple[int, int]:
    """The oracle: PEFT's (trainable, all) on a fresh meta-device model, less the meta-only trainable ranknum
    (module docstring)."""
    from lora_core.arch import build_meta_model

    pm = peft_model(build_meta_model(config), spec)
    trainable, total = pm.get_nb_trainable_parameters()
    meta_ranknum = sum(p.numel() for n, p in pm.named_parameters() if ".ranknum." in n and p.requires_grad)
    return trainable - meta_ranknum, total


def preset_cases(specs_for, fast: set[str]) -> list:
    """One pytest case (preset, spec index) per preset and spec of `specs_for(preset)`; presets outside `fast`
    are marked slow (the 7B-and-up models take seconds each on the meta device)."""
    import pytest

    from lora_core.presets import PRESETS

    return [
        pytest.param(p, i, marks=() if p in fast else pytest.mark.slow, id=f"{p}-{spec.adapter}-{i}")
        for p in PRESETS
        for i, spec in enumerate(specs_for(p))
    ]
