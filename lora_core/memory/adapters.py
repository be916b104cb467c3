"""Our own adapter injection (LoRA, DoRA, VeRA, LoHa, LoKr, IA3, AdaLoRA), built so that autograd saves what
PEFT 0.21.2's saves.

The estimator traces the adapted model on the meta device (trace.py). What that trace sees is decided by the
modules' forward code, so this file (injection, modules_to_save), lora_layers.py (the LoRA/DoRA layers) and
family_layers.py (the other types) rebuild PEFT's modules op for op rather than loosely: the same wrappers,
parameter names and order, dtypes, requires_grad flags, casts, detaches and arithmetic. Which modules are
adapted, with which rank and scaling, comes from lora_core/targeting.py (its targets equal PEFT's); PEFT itself is
only the test oracle (tests/test_memory_adapters.py compares the traced bytes of this injection and of
`get_peft_model`, op by op, on GQA Llama, GPT-2 and Qwen2, every type, fp32, bf16 and amp-bf16).

Line references are to the installed peft 0.21.2: layer.py = peft/tuners/lora/layer.py, dora.py =
peft/tuners/lora/dora.py, variants.py = peft/tuners/lora/variants.py, tuners_utils.py =
peft/tuners/tuners_utils.py, other.py = peft/utils/other.py, peft_model.py = peft/peft_model.py.

Not covered: fused MoE expert tensors (PEFT's ParamWrapper, target_parameters); lora_dropout > 0 (our spec
has no dropout: PEFT's default 0.0 gives nn.Identity, layer.py 254-257).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from lora_core.errors import LoraLabError
from lora_core.memory import family_layers
from lora_core.memory.lora_layers import ADAPTER, LoraEmbedding, LoraLayerBase, LoraLinear

# Our tuner layers, one class per PEFT layer type.
WRAPPERS = (
    LoraLayerBase,
    family_layers.VeraLinear,
    family_layers.LoHaLinear,
    family_layers.LoKrLinear,
    family_layers.IA3Linear,
    family_layers.SVDLinear,
)


class ModulesToSaveWrapper(nn.Module):
    """other.py 598-680: the frozen original next to a trainable deep copy, which runs the forward."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.original_module = module
        self.modules_to_save = nn.ModuleDict({ADAPTER: copy.deepcopy(module)})  # other.py 651
        self.original_module.requires_grad_(False)  # other.py 659
        self.modules_to_save[ADAPTER].requires_grad_(True)  # other.py 665 _set_layer_requires_grad

    def forward(self, *args, **kwargs):
        return self.modules_to_save[ADAPTER](*args, **kwargs)  # other.py 615-618

    def __getattr__(self, name):
        # other.py 382-407: attributes the wrapper lacks come from the active copy (e.g. lm_head.weight)
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__["_modules"]
            return getattr(modules["modules_to_save"][ADAPTER], name)


def _conv1d_class():
    from transformers.pytorch_utils import Conv1D

    return Conv1D


def _wrap(module: nn.Module, t, spec, *, vera=None, ranknum_trains: bool = True) -> nn.Module:
    """The PEFT layer of `spec`'s type around `module`, sized by `t` (lora_core.targeting.TargetModule: this
    module's own rank, scaling and tensors, rank_pattern / alpha_pattern applied). Module dispatch: LoRA
    lora/layer.py 2735-2765 (Embedding, Linear, Conv1D with fan_in_fan_out); VeRA vera/model.py 230-268 and IA3
    ia3/model.py 77-151 (Linear, Conv1D); AdaLoRA adalora/model.py 159-227 (Linear, Conv1D); LoHa/LoKr
    lycoris_utils.py 222-261 (nn.Linear only)."""
    conv1d = isinstance(module, _conv1d_class())
    if not (isinstance(module, (nn.Linear, nn.Embedding)) or conv1d):  # targeting.py refuses these first
        raise LoraLabError(
            "memory.cannot_wrap", module=t.name, module_type=type(module).__name__, label=spec.label
        )
    adapter = spec.adapter
    if adapter == "lora":
        if isinstance(module, nn.Embedding):
            return LoraEmbedding(module, t.r, t.scaling, spec.use_dora)
        return LoraLinear(module, t.in_features, t.out_features, t.r, t.scaling, spec.use_dora, conv1d)
    if adapter == "vera":
        return family_layers.VeraLinear(module, *vera, t.r, conv1d)
    if adapter == "loha":
        return family_layers.LoHaLinear(module, t.r, t.scaling)
    if adapter == "lokr":
        return family_layers.LoKrLinear(module, t.tensors, t.scaling)
    if adapter == "ia3":
        return family_layers.IA3Linear(module, t.feedforward, conv1d)
    if adapter == "adalora":
        return family_layers.SVDLinear(module, t.r, t.scaling, conv1d, ranknum_trains)
    raise ValueError(f"unknown adapter type {adapter!r}")  # a bug: specs come from lora_core.family.specs


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, leaf, new)


def _adapter_parameters(wrappers) -> set[int]:
    """Everything on a tuner layer except its base layer (tuners_utils.py 1717-1760
    `_get_tuner_state_dict_key_prefixes`, used by `_mark_only_adapters_as_trainable`)."""
    out: set[int] = set()
    for w in wrappers:
        base = {id(p) for p in w.base_layer.parameters()}
        out |= {id(p) for p in w.parameters() if id(p) not in base}
    return out


def inject_adapters(model: nn.Module, spec, config: dict, *, device: str = "cuda") -> nn.Module:
    """Adapt `model` in place as `get_peft_model(model, XConfig(...), autocast_adapter_dtype=True)` would,
    and return it (the transformers model itself, not a PeftModel: its forward is PEFT's pass-through).
    `config` is the config.json the model was built from (target names come from its inventory); `device` the
    one the real model sits on when it is adapted (AdaLoRA's ranknum: family_layers.SVDLinear).

    Steps in PEFT's order (tuners_utils.py inject_adapter, peft_model.py 170-185): wrap the targets, freeze all
    but the adapters, apply `bias`, wrap modules_to_save, then (with checkpointing) make the input embeddings'
    output require grad. AdaLoRA also adds its orthogonal regularizer to the loss (adalora/model.py 229-257).
    """
    from lora_core.params import count_params

    targets = count_params(
        config, spec
    ).targets  # our target resolution (tests/test_params_peft.py, test_params_family.py: = PEFT's)
    moe = [t.name for t in targets if t.kind in ("moe_experts", "router")]
    if moe:
        raise LoraLabError("memory.moe_experts", module=moe[0])
    modules = {t.name: model.get_submodule(t.name) for t in targets}
    vera = _vera_projections(modules, spec) if spec.adapter == "vera" else None
    weight = next(iter(modules.values())).weight
    ranknum_trains = not (device == "cpu" and weight.dtype == torch.float32)  # family_layers.SVDLinear
    for t in targets:
        _replace(model, t.name, _wrap(modules[t.name], t, spec, vera=vera, ranknum_trains=ranknum_trains))

    # tuners_utils.py 506-543 _mark_only_adapters_as_trainable: everything but the adapters frozen (the adapters
    # keep the flag they were made with) ...
    wrappers = [m for m in model.modules() if isinstance(m, WRAPPERS)]
    adapter_params = _adapter_parameters(wrappers)
    for p in model.parameters():
        if id(p) not in adapter_params:
            p.requires_grad_(False)
    # ... then the biases: "all" every parameter named bias, "lora_only" / "vera_only" those of adapted layers
    if spec.bias == "all":
        for n, p in model.named_parameters():
            if n == "bias" or n.endswith(".bias"):
                p.requires_grad_(True)
    elif spec.bias.endswith("_only"):
        for w in wrappers:
            if getattr(w.base_layer, "bias", None) is not None:
                w.base_layer.bias.requires_grad_(True)

    if spec.modules_to_save:
        _wrap_modules_to_save(model, spec.modules_to_save)
    if spec.adapter == "adalora" and model.can_generate():
        # Only PEFT's task models (causal / seq2seq LM) run AdaLoraModel.forward; PEFT has no masked-LM task
        # type, and a plain PeftModel calls the base model directly (peft_model.py PeftModel.forward).
        model.register_forward_hook(family_layers.adalora_orthogonal_regularization, with_kwargs=True)

    # peft_model.py 184-185 and 728-741: `getattr(model, "is_gradient_checkpointing", True)` (transformers 5:
    # = is_activation_checkpointing) -> enable_input_require_grads(): the embeddings' output requires grad.
    checkpointing = getattr(model, "is_activation_checkpointing", None)
    if checkpointing is None:
        checkpointing = getattr(model, "is_gradient_checkpointing", True)
    if checkpointing:
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
        elif hasattr(model, "get_input_embeddings"):  # pragma: no cover - non-transformers models
            model.get_input_embeddings().register_forward_hook(lambda _m, _i, out: out.requires_grad_(True))
    return model


def _vera_projections(modules: dict[str, nn.Module], spec):
    """vera/model.py 113-160: one shared vera_A (r, largest in) and vera_B (largest out, r) for every layer."""
    max_in = max_out = 0
    for m in modules.values():
        if isinstance(m, _conv1d_class()):
            in_f, out_f = m.weight.shape  # Conv1D stores (in, out)
        else:
            in_f, out_f = m.in_features, m.out_features
        max_in, max_out = max(max_in, in_f), max(max_out, out_f)
    w = next(iter(modules.values())).weight
    return family_layers.vera_projections(spec.r, max_in, max_out, w.device, w.dtype, spec.save_projection)


def _wrap_modules_to_save(model: nn.Module, names: tuple[str, ...]) -> None:
    """other.py 1047-1133 _set_trainable: every module whose name ends with a listed name (plain suffix test,
    over named_modules(remove_duplicate=False), so a module shared under two names is wrapped twice); the
    outermost match only, as lora_core/params.py counts it."""
    keys = [k for k, _ in model.named_modules(remove_duplicate=False)]
    done: list[str] = []
    found = set()
    for key in keys:
        if not key or not any(key.endswith(m) for m in names):
            continue
        if any(key.startswith(d + ".") for d in done):
            continue
        target = model.get_submodule(key)
        if isinstance(target, (*WRAPPERS, nn.ModuleDict, nn.ModuleList, nn.ParameterDict)):
            # other.py 343-358 check_module: PEFT raises TypeError for these
            raise LoraLabError("memory.saved_cannot_wrap", module=key, module_type=type(target).__name__)
        _replace(model, key, ModulesToSaveWrapper(target))
        done.append(key)
        found |= {m for m in names if key.endswith(m)}
    missing = [m for m in names if m not in found]
    if missing:
        raise LoraLabError("memory.saved_unmatched", module=missing[0], model_class=type(model).__name__)


__all__ = ["ModulesToSaveWrapper", "inject_adapters"]
