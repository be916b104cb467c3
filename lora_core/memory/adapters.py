"""Our own LoRA/DoRA injection, built so that autograd saves what PEFT 0.21.2's saves.

The estimator traces the adapted model on the meta device (trace.py). What that trace sees is decided by the
modules' forward code, so this file (injection, modules_to_save) and lora_layers.py (the LoRA/DoRA layers)
rebuild PEFT's modules op for op rather than loosely: the same wrappers, parameter names and order,
dtypes, requires_grad flags, casts, detaches and arithmetic. Parameter counts
never come from here (lora_core/params.py); PEFT itself is only the test oracle
(tests/test_memory_adapters.py compares the traced bytes of this injection and of `get_peft_model`, op by
op, on GQA Llama, GPT-2 and Qwen2, LoRA and DoRA, fp32, bf16 and amp-bf16).

Line references are to the installed peft 0.21.2: layer.py = peft/tuners/lora/layer.py, dora.py =
peft/tuners/lora/dora.py, variants.py = peft/tuners/lora/variants.py, tuners_utils.py =
peft/tuners/tuners_utils.py, other.py = peft/utils/other.py, peft_model.py = peft/peft_model.py.

Not covered: fused MoE expert tensors (PEFT's ParamWrapper, target_parameters); lora_dropout > 0 (our spec
has no dropout: PEFT's default 0.0 gives nn.Identity, layer.py 254-257).
"""

from __future__ import annotations

import copy

from torch import nn

from lora_core.errors import LoraLabError
from lora_core.memory.lora_layers import ADAPTER, LoraEmbedding, LoraLayerBase, LoraLinear


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


def _wrap(module: nn.Module, name: str, spec) -> nn.Module:
    """layer.py 2735-2765 dispatch_default: Embedding, Linear, transformers' Conv1D (fan_in_fan_out)."""
    if isinstance(module, nn.Embedding):
        return LoraEmbedding(module, spec.r, spec.alpha, spec.use_dora)
    if isinstance(module, nn.Linear):
        return LoraLinear(
            module, module.in_features, module.out_features, spec.r, spec.alpha, spec.use_dora, False
        )
    if isinstance(module, _conv1d_class()):
        in_features, out_features = module.weight.shape  # Conv1D stores (in, out): GPT-2's transposed weight
        return LoraLinear(module, in_features, out_features, spec.r, spec.alpha, spec.use_dora, True)
    raise LoraLabError(
        f"{name} is a {type(module).__name__}; LoRA wraps Linear, Conv1D and Embedding modules"
    )


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, leaf, new)


def inject_adapters(model: nn.Module, spec, config: dict) -> nn.Module:
    """Adapt `model` in place as `get_peft_model(model, LoraConfig(...), autocast_adapter_dtype=True)` would,
    and return it (the transformers model itself, not a PeftModel: its forward is PEFT's pass-through).
    `config` is the config.json the model was built from (target names come from its inventory).

    Steps in PEFT's order (tuners_utils.py inject_adapter, peft_model.py 170-185): wrap the targets, freeze all
    but the adapters, apply `bias`, wrap modules_to_save, then (with checkpointing) make the input embeddings'
    output require grad.
    """
    from lora_core.params import count_params

    targets = count_params(
        config, spec
    ).targets  # our target resolution (tests/test_params_peft.py: = PEFT's)
    moe = [t.name for t in targets if t.kind in ("moe_experts", "router")]
    if moe:
        raise LoraLabError(
            "the memory estimator does not model LoRA on fused MoE expert tensors (PEFT target_parameters) "
            f"such as {moe[0]}; target the attention projections instead"
        )
    for t in targets:
        _replace(model, t.name, _wrap(model.get_submodule(t.name), t.name, spec))

    # tuners_utils.py 506-541 _mark_only_adapters_as_trainable: everything but the adapters frozen ...
    wrappers = [m for m in model.modules() if isinstance(m, LoraLayerBase)]
    adapter_params = set()
    for w in wrappers:
        for sub in (w.lora_A, w.lora_B, w.lora_embedding_A, w.lora_embedding_B, w.lora_magnitude_vector):
            adapter_params |= {id(p) for p in sub.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in adapter_params)  # adapters: set_adapter(inference_mode=False) trains them
    # ... then the biases: "all" every parameter named bias, "lora_only" those of adapted layers
    if spec.bias == "all":
        for n, p in model.named_parameters():
            if n == "bias" or n.endswith(".bias"):
                p.requires_grad_(True)
    elif spec.bias == "lora_only":
        for w in wrappers:
            if getattr(w.base_layer, "bias", None) is not None:
                w.base_layer.bias.requires_grad_(True)

    if spec.modules_to_save:
        _wrap_modules_to_save(model, spec.modules_to_save)

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
        if isinstance(target, (LoraLayerBase, nn.ModuleDict, nn.ModuleList, nn.ParameterDict)):
            # other.py 343-358 check_module: PEFT raises TypeError for these
            raise LoraLabError(f"modules_to_save cannot wrap {key} ({type(target).__name__})")
        _replace(model, key, ModulesToSaveWrapper(target))
        done.append(key)
        found |= {m for m in names if key.endswith(m)}
    missing = [m for m in names if m not in found]
    if missing:
        raise LoraLabError(f"modules_to_save {missing[0]!r} matches no module of {type(model).__name__}")


__all__ = ["ModulesToSaveWrapper", "inject_adapters"]
