"""Our own LoRA/DoRA injection, built so that autograd saves what PEFT 0.21.2's saves.

The estimator traces the adapted model on the meta device (trace.py). What that trace sees is decided by the
modules' forward code, so this file rebuilds PEFT's modules op for op rather than loosely: the same wrappers,
parameter names and order, dtypes, requires_grad flags, casts, detaches and arithmetic. Parameter counts
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

import torch
import torch.nn.functional as F
from torch import nn

from lora_core.errors import LoraLabError

ADAPTER = "default"  # PEFT's adapter name (peft_model.py get_peft_model(adapter_name="default"))
# cast_adapter_dtype upcasts these to float32 (tuners_utils.py 2722: {float16, bfloat16}, plus float8 kinds).
_UPCAST = {torch.float16, torch.bfloat16}
for _name in ("float8_e4m3fn", "float8_e5m2"):  # tuners_utils.py 2725 UPCAST_DTYPES, where torch has them
    if getattr(torch, _name, None) is not None:
        _UPCAST.add(getattr(torch, _name))


def adapter_dtype(base_dtype: torch.dtype) -> torch.dtype:
    """Adapters are first moved to the base layer's float dtype (tuners_utils.py 2183-2210
    `_move_adapter_to_device_of_base_layer`), then `autocast_adapter_dtype=True` upcasts 16-bit ones to fp32
    (tuners_utils.py 2705-2745 `cast_adapter_dtype`)."""
    if not (base_dtype.is_floating_point or base_dtype.is_complex):
        return torch.float32  # nn.Linear's default, left as created
    return torch.float32 if base_dtype in _UPCAST else base_dtype


def _transpose(weight: torch.Tensor, fan_in_fan_out: bool) -> torch.Tensor:
    """other.py 1311-1317, verbatim: a Parameter comes back as a *new* Parameter (a leaf that requires grad)."""
    if not fan_in_fan_out:
        return weight
    if isinstance(weight, nn.Parameter):
        return nn.Parameter(weight.T)
    return weight.T


class DoraLinearLayer(nn.Module):
    """dora.py 61-166: the magnitude vector `weight` (out_features,) and DoRA's extra output."""

    def __init__(self, fan_in_fan_out: bool):
        super().__init__()
        self.fan_in_fan_out = fan_in_fan_out

    def get_weight_norm(self, weight, lora_weight, scaling):
        # dora.py 94-99: ||W + s * B A|| per output row (W transposed first for Conv1D / Embedding)
        weight = _transpose(weight, self.fan_in_fan_out)
        weight = weight + scaling * lora_weight
        return torch.linalg.norm(weight, dim=1).to(weight.dtype)

    def get_lora_weight(self, lora_A, lora_B):
        # dora.py 101-107: B A through the modules' forward on an identity, (out, in)
        x_eye = torch.eye(lora_A.weight.shape[1], device=lora_A.weight.device, dtype=lora_A.weight.dtype)
        return lora_B(lora_A(x_eye)).T

    def init_magnitude(self, base_layer, lora_A_weight, lora_B_weight, scaling, dtype) -> None:
        # dora.py 109-139 update_layer: magnitude = ||W + s * B A||; B = 0 at init, so ||W|| (then fp32, see
        # adapter_dtype). On the meta device only the shape (out_features,) exists.
        weight = base_layer.weight
        out = _transpose(weight.detach(), self.fan_in_fan_out).shape[0]
        if weight.device.type == "meta":
            norm = torch.empty(out, device="meta", dtype=dtype)
        else:
            with torch.no_grad():
                lora_weight = lora_B_weight.float() @ lora_A_weight.float()
                norm = self.get_weight_norm(weight.detach().float(), lora_weight, scaling).to(dtype)
        self.weight = nn.Parameter(norm, requires_grad=True)

    def forward(self, x, *, lora_A, lora_B, scaling, base_layer, base_result=None):
        # dora.py 141-170, line for line (no caching: cache_decorator skips it in training mode)
        lora_weight = self.get_lora_weight(lora_A=lora_A, lora_B=lora_B)
        lora_weight = lora_weight.to(x.dtype)
        magnitude = self.weight
        weight = base_layer.weight  # dequantize_module_weight: a plain weight comes back as is
        weight = weight.to(x.dtype)
        weight_norm = self.get_weight_norm(weight=weight, lora_weight=lora_weight.detach(), scaling=scaling)
        weight_norm = weight_norm.detach()  # DoRA paper sec. 4.3: the norm is a constant for backward
        mag_norm_scale = (magnitude / weight_norm).view(1, -1)
        lora_result = lora_B(lora_A(x))
        if base_result is not None:
            bias = base_layer.bias
            if bias is not None:
                base_result = base_result - bias
        else:  # pragma: no cover - only with dropout > 0, which our spec never sets
            base_result = F.linear(x, _transpose(weight, self.fan_in_fan_out))
        return (mag_norm_scale - 1) * base_result + mag_norm_scale * lora_result * scaling


class DoraEmbeddingLayer(DoraLinearLayer):
    """dora.py 184-211."""

    def get_lora_weight(self, lora_A, lora_B):
        return (lora_A @ lora_B).T  # dora.py 186

    def forward(self, x, *, lora_A, lora_B, scaling, base_layer, embed_fn):
        lora_weight = self.get_lora_weight(lora_A, lora_B)
        magnitude = self.weight
        weight = base_layer.weight
        weight_norm = self.get_weight_norm(weight=weight, lora_weight=lora_weight.detach(), scaling=scaling)
        weight_norm = weight_norm.detach()
        mag_norm_scale = magnitude / weight_norm
        result_dora = mag_norm_scale * (embed_fn(x, lora_A) @ lora_B) * scaling
        return mag_norm_scale, result_dora


class _LoraLayer(nn.Module):
    """layer.py 128-156 LoraLayer.__init__: submodules registered in PEFT's order, so parameter names and their
    order are PEFT's: base_layer, lora_A, lora_B, lora_embedding_A/B, lora_magnitude_vector."""

    def __init__(self, base_layer: nn.Module, r: int, alpha: float):
        super().__init__()
        self.base_layer = base_layer
        self.lora_dropout = nn.ModuleDict(
            {ADAPTER: nn.Identity()}
        )  # lora_dropout=0.0 -> nn.Identity (layer.py 254)
        self.lora_A = nn.ModuleDict({})
        self.lora_B = nn.ModuleDict({})
        self.lora_embedding_A = nn.ParameterDict({})
        self.lora_embedding_B = nn.ParameterDict({})
        self.lora_magnitude_vector = nn.ModuleDict({})
        self.r = r
        self.scaling = alpha / r  # layer.py 280: lora_alpha / r (no rsLoRA)

    # tuners_utils.py 1943-1961: transformers code reads e.g. T5's `self.wo.weight.dtype` through the wrapper
    @property
    def weight(self):
        return self.base_layer.weight

    @property
    def bias(self):
        return self.base_layer.bias

    def _cast_input_dtype(self, x, dtype):
        return x if x.dtype == dtype else x.to(dtype=dtype)  # tuners_utils.py 2220-2235


class LoraLinear(_LoraLayer):
    """layer.py 910-1126 `Linear` (also for transformers' Conv1D: fan_in_fan_out, layer.py 2757-2763)."""

    def __init__(self, base_layer, in_features, out_features, r, alpha, use_dora, fan_in_fan_out):
        super().__init__(base_layer, r, alpha)
        self.fan_in_fan_out = fan_in_fan_out
        w = base_layer.weight
        dtype = adapter_dtype(w.dtype)
        # layer.py 262-263: A (r, in) with nn.Linear's kaiming init, B (out, r) zeros (reset_lora_parameters)
        self.lora_A[ADAPTER] = nn.Linear(in_features, r, bias=False, device=w.device, dtype=dtype)
        self.lora_B[ADAPTER] = nn.Linear(r, out_features, bias=False, device=w.device, dtype=dtype)
        if w.device.type != "meta":
            nn.init.zeros_(self.lora_B[ADAPTER].weight)
        if use_dora:  # variants.py 138-167 DoraLinearVariant.init
            dora = DoraLinearLayer(fan_in_fan_out=fan_in_fan_out)
            dora.init_magnitude(
                base_layer, self.lora_A[ADAPTER].weight, self.lora_B[ADAPTER].weight, self.scaling, dtype
            )
            self.lora_magnitude_vector[ADAPTER] = dora

    def forward(self, x, *args, **kwargs):
        # layer.py 1087-1118
        result = self.base_layer(x, *args, **kwargs)
        torch_result_dtype = result.dtype
        lora_A = self.lora_A[ADAPTER]
        lora_B = self.lora_B[ADAPTER]
        dropout = self.lora_dropout[ADAPTER]
        x = self._cast_input_dtype(x, lora_A.weight.dtype)
        if ADAPTER not in self.lora_magnitude_vector:  # vanilla LoRA
            result = result + lora_B(lora_A(dropout(x))) * self.scaling
        else:
            result = self._dora_forward(x, result, lora_A, lora_B, dropout)
        return result.to(torch_result_dtype)

    def _dora_forward(self, x, result, lora_A, lora_B, dropout):
        # variants.py 229-257 DoraLinearVariant.forward, as its own function as in PEFT: its locals (the old
        # `result`, held as base_result) are freed when it returns, before the final cast of the caller.
        if isinstance(dropout, nn.Identity) or not self.training:
            base_result = result
        else:  # pragma: no cover - dropout > 0 only
            x = dropout(x)
            base_result = None
        return result + self.lora_magnitude_vector[ADAPTER](
            x,
            lora_A=lora_A,
            lora_B=lora_B,
            scaling=self.scaling,
            base_layer=self.base_layer,
            base_result=base_result,
        )


class LoraEmbedding(_LoraLayer):
    """layer.py 1150-1541 `Embedding`: lora_embedding_A (r, V), lora_embedding_B (H, r) as bare Parameters."""

    def __init__(self, base_layer, r, alpha, use_dora):
        super().__init__(base_layer, r, alpha)
        w = base_layer.weight
        dtype = adapter_dtype(w.dtype)
        num_embeddings, embedding_dim = w.shape  # (V, H)
        a = torch.empty((r, num_embeddings), device=w.device, dtype=dtype)
        b = torch.empty((embedding_dim, r), device=w.device, dtype=dtype)
        if w.device.type != "meta":  # layer.py 390-392: A zeros, B normal
            nn.init.zeros_(a)
            nn.init.normal_(b)
        self.lora_embedding_A[ADAPTER] = nn.Parameter(a)
        self.lora_embedding_B[ADAPTER] = nn.Parameter(b)
        if use_dora:  # variants.py 261-273 DoraEmbeddingVariant.init: fan_in_fan_out=True
            dora = DoraEmbeddingLayer(fan_in_fan_out=True)
            dora.init_magnitude(base_layer, a, b, self.scaling, dtype)
            self.lora_magnitude_vector[ADAPTER] = dora

    def _embed(self, input, weight):
        # layer.py 1464-1485
        base = self.base_layer
        return F.embedding(
            input,
            weight,
            padding_idx=base.padding_idx,
            max_norm=base.max_norm,
            norm_type=base.norm_type,
            scale_grad_by_freq=base.scale_grad_by_freq,
            sparse=base.sparse,
        )

    def _get_embed_scale(self):
        # tuners_utils.py 1905-1935 (e.g. Gemma3's scaled embedding multiplies in its forward)
        base = self.base_layer
        scale = getattr(base, "embed_scale", None)
        if isinstance(scale, (int, float)):
            return torch.tensor(scale, device=base.weight.device, dtype=base.weight.dtype)
        if isinstance(scale, torch.Tensor) and scale.numel() == 1:
            return scale
        return None

    def forward(self, x, *args, **kwargs):
        # layer.py 1487-1537 (no input cast here, as in PEFT)
        result = self.base_layer(x, *args, **kwargs)
        torch_result_dtype = result.dtype
        embed_scale = self._get_embed_scale()
        if ADAPTER not in self.lora_magnitude_vector:  # vanilla LoRA
            embedding_A = self.lora_embedding_A[ADAPTER].T  # (V, r)
            embedding_B = self.lora_embedding_B[ADAPTER].T  # (r, H)
            after_A = self._embed(x, embedding_A)  # (B, S, r)
            adapter_output = (after_A @ embedding_B) * self.scaling  # (B, S, H)
            if embed_scale is not None:
                adapter_output = adapter_output * embed_scale.to(adapter_output.dtype)
            result = result + adapter_output
        else:
            result = self._dora_forward(x, result)
        return result.to(torch_result_dtype)

    def _dora_forward(self, x, result):
        # variants.py 335-364 DoraEmbeddingVariant.forward (its own frame, as in PEFT)
        embedding_A = self.lora_embedding_A[ADAPTER].T
        embedding_B = self.lora_embedding_B[ADAPTER].T
        mag_norm_scale, dora_result = self.lora_magnitude_vector[ADAPTER](
            x,
            lora_A=embedding_A,
            lora_B=embedding_B,
            scaling=self.scaling,
            base_layer=self.base_layer,
            embed_fn=self._embed,
        )
        embed_scale = self._get_embed_scale()
        if embed_scale is not None:
            dora_result = dora_result * embed_scale.to(dora_result.dtype)
        return mag_norm_scale * result + dora_result


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
    wrappers = [m for m in model.modules() if isinstance(m, _LoraLayer)]
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
        if isinstance(target, (_LoraLayer, nn.ModuleDict, nn.ModuleList, nn.ParameterDict)):
            # other.py 343-358 check_module: PEFT raises TypeError for these
            raise LoraLabError(f"modules_to_save cannot wrap {key} ({type(target).__name__})")
        _replace(model, key, ModulesToSaveWrapper(target))
        done.append(key)
        found |= {m for m in names if key.endswith(m)}
    missing = [m for m in names if m not in found]
    if missing:
        raise LoraLabError(f"modules_to_save {missing[0]!r} matches no module of {type(model).__name__}")


__all__ = [
    "ADAPTER",
    "LoraEmbedding",
    "LoraLinear",
    "ModulesToSaveWrapper",
    "adapter_dtype",
    "inject_adapters",
]
