"""PEFT 0.21.2's LoRA/DoRA layers, rebuilt op for op for tracing (used by adapters.py).

Same wrappers, parameter names and order, dtypes, casts, detaches and arithmetic as PEFT, so autograd saves
the same tensors. Line references as in adapters.py: layer.py = peft/tuners/lora/layer.py, dora.py =
peft/tuners/lora/dora.py, variants.py = peft/tuners/lora/variants.py, tuners_utils.py =
peft/tuners/tuners_utils.py, other.py = peft/utils/other.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ADAPTER = "default"  # PEFT's adapter name (peft_model.py get_peft_model(adapter_name="default"))
# cast_adapter_dtype upcasts these to float32: float16 and bfloat16 (tuners_utils.py 2722) plus the float8
# kinds this torch has (tuners_utils.py 2725; peft/utils/constants.py 417 UPCAST_DTYPES).
_UPCAST = {torch.float16, torch.bfloat16}
for _name in ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu"):
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


class LoraLayerBase(nn.Module):
    """layer.py 128-156 LoraLayer.__init__: submodules registered in PEFT's order, so parameter names and their
    order are PEFT's: base_layer, lora_A, lora_B, lora_embedding_A/B, lora_magnitude_vector."""

    def __init__(self, base_layer: nn.Module, r: int, scaling: float):
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
        # layer.py 278-281: lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA; with alpha_pattern the module's
        # own alpha (lora_core.targeting.TargetModule.scaling)
        self.scaling = scaling

    # tuners_utils.py 1943-1961: transformers code reads e.g. T5's `self.wo.weight.dtype` through the wrapper
    @property
    def weight(self):
        return self.base_layer.weight

    @property
    def bias(self):
        return self.base_layer.bias

    def _cast_input_dtype(self, x, dtype):
        return x if x.dtype == dtype else x.to(dtype=dtype)  # tuners_utils.py 2220-2235


class LoraLinear(LoraLayerBase):
    """layer.py 910-1126 `Linear` (also for transformers' Conv1D: fan_in_fan_out, layer.py 2757-2763)."""

    def __init__(self, base_layer, in_features, out_features, r, scaling, use_dora, fan_in_fan_out):
        super().__init__(base_layer, r, scaling)
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


class LoraEmbedding(LoraLayerBase):
    """layer.py 1150-1541 `Embedding`: lora_embedding_A (r, V), lora_embedding_B (H, r) as bare Parameters."""

    def __init__(self, base_layer, r, scaling, use_dora):
        super().__init__(base_layer, r, scaling)
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
