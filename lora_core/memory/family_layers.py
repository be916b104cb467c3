"""PEFT 0.21.2's other adapter layers (VeRA, LoHa, LoKr, IA3, AdaLoRA), rebuilt op for op for tracing.

As lora_layers.py does for LoRA and DoRA: the same submodules and parameter names in PEFT's order, the same
dtypes and requires_grad flags, and the same forward arithmetic, so that autograd saves what PEFT's layers
save (tests/test_memory_adapters.py compares the two op by op). Only the training path is rebuilt (one
adapter, active, unmerged, dropout 0: PEFT's defaults); merging, several adapters and the Conv layers are not.

File:line references are to peft/tuners/ of the installed peft 0.21.2: vera/layer.py, loha/layer.py,
lokr/layer.py, ia3/layer.py, adalora/layer.py, adalora/model.py, tuners_utils.py, _buffer_dict.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lora_core.memory.lora_layers import ADAPTER, adapter_dtype

# PEFT's config defaults that decide the training step's ops (peft 0.21.2):
MODULE_DROPOUT = 0.0  # LoHa/LoKr `module_dropout` (loha/config.py, lokr/config.py): the adapter always runs
ORTH_REG_WEIGHT = 0.5  # AdaLoraConfig.orth_reg_weight (adalora/config.py): the regularizer always runs
PROJECTION_PRNG_KEY = 0  # VeraConfig.projection_prng_key (vera/config.py)


class BufferDict(nn.Module):
    """_buffer_dict.py BufferDict: tensors registered as buffers under their keys (persistent: saved or not)."""

    def __init__(self, persistent: bool):
        super().__init__()
        self.persistent = persistent

    def __getitem__(self, key):
        return self._buffers[key]

    def __setitem__(self, key, tensor) -> None:
        self.register_buffer(key, tensor, persistent=self.persistent)

    def __contains__(self, key) -> bool:
        return key in self._buffers


class _Layer(nn.Module):
    """What every PEFT tuner layer shares: the wrapped `base_layer` and its weight/bias seen through it
    (tuners_utils.py 1943-1961), and the input cast (tuners_utils.py 2220-2235)."""

    adapter_names: tuple[str, ...] = ()  # the containers holding this type's adapter tensors

    @property
    def weight(self):
        return self.base_layer.weight

    @property
    def bias(self):
        return self.base_layer.bias

    def _cast_input_dtype(self, x, dtype):
        return x if x.dtype == dtype else x.to(dtype=dtype)

    def _param(self, *shape, dtype, requires_grad: bool = True) -> nn.Parameter:
        """An adapter tensor as PEFT leaves it: made on the CPU in fp32, moved to the base layer's device and
        float dtype (tuners_utils.py 2183-2210), 16-bit upcast to fp32 (tuners_utils.py 2705-2745)."""
        device = self.base_layer.weight.device
        return nn.Parameter(torch.empty(shape, device=device, dtype=dtype), requires_grad=requires_grad)


def _dims(base_layer, fan_in_fan_out: bool) -> tuple[int, int]:
    """tuners_utils.py 167-196 `_get_in_out_features`: (in, out); transformers' Conv1D stores (in, out)."""
    if fan_in_fan_out:
        in_features, out_features = base_layer.weight.shape
        return in_features, out_features
    return base_layer.in_features, base_layer.out_features


# --- VeRA -----------------------------------------------------------------------------------------------


def vera_projections(r: int, max_in: int, max_out: int, device, base_dtype, persistent: bool):
    """vera/model.py 147-160 `_init_vera_A_vera_B`: the shared frozen vera_A (r, max in) and vera_B (max out, r),
    sized by the largest targeted layer (model.py 113-145 `_find_dim`), as buffers; saved with the adapter when
    save_projection (`persistent`). Kaiming-uniform from a fixed seed (model.py 49-80 `_kaiming_init`)."""
    dtype = adapter_dtype(base_dtype)  # moved to the base dtype by the first layer, then upcast, like the rest
    a, b = BufferDict(persistent), BufferDict(persistent)
    if torch.device(device).type == "meta":
        a[ADAPTER] = torch.empty((r, max_in), device=device, dtype=dtype)
        b[ADAPTER] = torch.empty((max_out, r), device=device, dtype=dtype)
        return a, b
    gen = torch.Generator(device="cpu").manual_seed(PROJECTION_PRNG_KEY)
    for holder, shape in ((a, (r, max_in)), (b, (max_out, r))):
        bound = math.sqrt(3.0) * math.sqrt(2) / math.sqrt(shape[1])  # fan_in = shape[1], gain sqrt(2)
        holder[ADAPTER] = torch.empty(shape).uniform_(-bound, bound, generator=gen).to(device, dtype)
    return a, b


class VeraLinear(_Layer):
    """vera/layer.py 30-133 VeraLayer and 142-289 Linear (nn.Linear, or transformers' Conv1D)."""

    adapter_names = ("vera_lambda_b", "vera_lambda_d")

    def __init__(self, base_layer, vera_A: BufferDict, vera_B: BufferDict, r: int, fan_in_fan_out: bool):
        super().__init__()
        self.base_layer = base_layer
        self.in_features, self.out_features = _dims(base_layer, fan_in_fan_out)
        self.vera_dropout = nn.ModuleDict({ADAPTER: nn.Identity()})  # vera_dropout=0.0 (layer.py 82-85)
        dtype = adapter_dtype(base_layer.weight.dtype)
        self.vera_lambda_b = nn.ParameterDict({ADAPTER: self._param(self.out_features, dtype=dtype)})  # layer.py 89
        self.vera_lambda_d = nn.ParameterDict({ADAPTER: self._param(r, dtype=dtype)})  # layer.py 90
        self.vera_A = vera_A  # layer.py 93-94: references to the shared buffers, registered after the lambdas
        self.vera_B = vera_B
        if base_layer.weight.device.type != "meta":  # layer.py 135-139 reset_vera_parameters
            with torch.no_grad():
                self.vera_lambda_d[ADAPTER].fill_(0.1)  # d_initial (vera/config.py)
                self.vera_lambda_b[ADAPTER].zero_()

    def forward(self, x, *args, **kwargs):
        # layer.py 253-289, one active adapter
        previous_dtype = x.dtype
        result = self.base_layer(x, *args, **kwargs)
        orig_dtype = result.dtype
        lambda_d = self.vera_lambda_d[ADAPTER]
        lambda_b = self.vera_lambda_b[ADAPTER]
        vera_A = self.vera_A[ADAPTER]
        vera_B = self.vera_B[ADAPTER]
        sliced_A = vera_A[:, : self.in_features].to(x.device)  # (r, in): a view of the shared (r, max in)
        sliced_B = vera_B[: self.out_features, :].to(x.device)  # (out, r)
        dropout = self.vera_dropout[ADAPTER]
        x = self._cast_input_dtype(x, lambda_d.dtype)
        result = result + lambda_b * F.linear(lambda_d * F.linear(dropout(x), sliced_A), sliced_B)
        result = result.to(orig_dtype)
        return result.to(previous_dtype)


# --- LoHa -----------------------------------------------------------------------------------------------


class HadaWeight(torch.autograd.Function):
    """loha/layer.py 366-386 (from LyCORIS): ΔW = (w1a @ w1b) * (w2a @ w2b) * scale, own backward."""

    @staticmethod
    def forward(ctx, w1a, w1b, w2a, w2b, scale=None):
        ctx.save_for_backward(w1a, w1b, w2a, w2b, scale)
        return ((w1a @ w1b) * (w2a @ w2b)) * scale  # (out, in)

    @staticmethod
    def backward(ctx, grad_out):
        (w1a, w1b, w2a, w2b, scale) = ctx.saved_tensors
        grad_out = grad_out * scale
        temp = grad_out * (w2a @ w2b)
        grad_w1a = temp @ w1b.T
        grad_w1b = w1a.T @ temp

        temp = grad_out * (w1a @ w1b)
        grad_w2a = temp @ w2b.T
        grad_w2b = w2a.T @ temp

        del temp
        return grad_w1a, grad_w1b, grad_w2a, grad_w2b, None


class _Lycoris(_Layer):
    """lycoris_utils.py 60-85 LycorisLayer and the training forward LoHa and LoKr share (loha/layer.py 221-245,
    lokr/layer.py 289-313): ΔW is built whole, (out, in), and applied with F.linear."""

    def __init__(self, base_layer, scaling: float):
        super().__init__()
        self.base_layer = base_layer
        self.scaling = scaling  # alpha / r (loha/layer.py 130, lokr/layer.py 189)
        self.in_features, self.out_features = base_layer.in_features, base_layer.out_features

    def get_delta_weight(self):
        raise NotImplementedError

    def forward(self, x, *args, **kwargs):
        previous_dtype = x.dtype
        result = self.base_layer(x, *args, **kwargs)
        # loha/layer.py 241 (lokr/layer.py 309): the module-dropout draw happens on every training step
        if (not self.training) or (self.training and torch.rand(1) > MODULE_DROPOUT):
            result = result + self._get_delta_activations(x)
        return result.to(previous_dtype)

    def _get_delta_activations(self, input):
        # loha/layer.py 266-273, lokr/layer.py 336-343 (rank_dropout=0.0: no rank-dropout mask)
        delta_weight = self.get_delta_weight()
        input = self._cast_input_dtype(input, delta_weight.dtype)
        return F.linear(input, delta_weight)


class LoHaLinear(_Lycoris):
    """loha/layer.py 27-181 LoHaLayer (Linear branch) and 248-273 Linear."""

    adapter_names = ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2")

    def __init__(self, base_layer, r: int, scaling: float):
        super().__init__(base_layer, scaling)
        for name in self.adapter_names:  # layer.py 37-42: six dicts, in this order
            setattr(self, name, nn.ParameterDict({}))
        dtype = adapter_dtype(base_layer.weight.dtype)
        out_f, in_f = self.out_features, self.in_features
        self.hada_w1_a[ADAPTER] = self._param(out_f, r, dtype=dtype)  # layer.py 67-71
        self.hada_w1_b[ADAPTER] = self._param(r, in_f, dtype=dtype)
        self.hada_w2_a[ADAPTER] = self._param(out_f, r, dtype=dtype)
        self.hada_w2_b[ADAPTER] = self._param(r, in_f, dtype=dtype)
        if base_layer.weight.device.type != "meta":  # layer.py 73-86: w2_b zero, so ΔW = 0 at the start
            for name in ("hada_w1_a", "hada_w1_b", "hada_w2_a"):
                nn.init.kaiming_uniform_(getattr(self, name)[ADAPTER], a=math.sqrt(5))
            nn.init.zeros_(self.hada_w2_b[ADAPTER])

    def get_delta_weight(self):
        # layer.py 183-219 (no CP tensors for Linear); the scale is a fresh CPU scalar tensor each call
        weight = HadaWeight.apply(
            self.hada_w1_a[ADAPTER],
            self.hada_w1_b[ADAPTER],
            self.hada_w2_a[ADAPTER],
            self.hada_w2_b[ADAPTER],
            torch.tensor(self.scaling),
        )
        return weight.reshape(self.base_layer.weight.shape)


# --- LoKr -----------------------------------------------------------------------------------------------


class LoKrLinear(_Lycoris):
    """lokr/layer.py 27-254 LoKrLayer (Linear branch) and 316-343 Linear. `tensors`: the (name, shape) pairs
    lora_core/family/shapes.py `lokr_tensors` gives for this layer (full w1/w2 or their rank-r factors)."""

    adapter_names = ("lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2")

    def __init__(self, base_layer, tensors, scaling: float):
        super().__init__(base_layer, scaling)
        for name in self.adapter_names:  # layer.py 45-51: seven dicts, in this order
            setattr(self, name, nn.ParameterDict({}))
        dtype = adapter_dtype(base_layer.weight.dtype)
        for t in tensors:  # layer.py 65-109 create_adapter_parameters, in its order (w1 side, then w2)
            getattr(self, t.name)[ADAPTER] = self._param(*t.shape, dtype=dtype)
        if base_layer.weight.device.type != "meta":  # layer.py 111-125 reset_adapter_parameters
            for name in self.adapter_names:
                if ADAPTER in getattr(self, name):
                    nn.init.kaiming_uniform_(getattr(self, name)[ADAPTER], a=math.sqrt(5))
            zero = "lokr_w1" if ADAPTER in self.lokr_w1 else "lokr_w1_a"
            nn.init.zeros_(getattr(self, zero)[ADAPTER])

    def get_delta_weight(self):
        # layer.py 256-287
        if ADAPTER in self.lokr_w1:
            w1 = self.lokr_w1[ADAPTER]  # (a, c)
        else:
            w1 = self.lokr_w1_a[ADAPTER] @ self.lokr_w1_b[ADAPTER]
        if ADAPTER in self.lokr_w2:
            w2 = self.lokr_w2[ADAPTER]  # (b, d)
        else:
            w2 = self.lokr_w2_a[ADAPTER] @ self.lokr_w2_b[ADAPTER]
        weight = _make_kron(w1, w2, self.scaling)  # (a*b, c*d) = (out, in)
        return weight.reshape(self.base_layer.weight.shape)


def _make_kron(w1, w2, scale=1.0):
    """lokr/layer.py 497-503 `make_kron` (Linear: 2-D factors)."""
    w2 = w2.contiguous()
    rebuild = torch.kron(w1, w2)
    return rebuild * scale


# --- IA3 ------------------------------------------------------------------------------------------------


class IA3Linear(_Layer):
    """ia3/layer.py 28-70 IA3Layer and 78-199 Linear (nn.Linear, or transformers' Conv1D)."""

    adapter_names = ("ia3_l",)

    def __init__(self, base_layer, is_feedforward: bool, fan_in_fan_out: bool):
        super().__init__()
        self.base_layer = base_layer
        self.is_feedforward = is_feedforward
        self.in_features, self.out_features = _dims(base_layer, fan_in_fan_out)
        dtype = adapter_dtype(base_layer.weight.dtype)
        # layer.py 62-66: (1, in) scales a feedforward module's input, (out, 1) any other module's output
        shape = (1, self.in_features) if is_feedforward else (self.out_features, 1)
        self.ia3_l = nn.ParameterDict({ADAPTER: self._param(*shape, dtype=dtype)})
        if base_layer.weight.device.type != "meta":
            nn.init.constant_(self.ia3_l[ADAPTER], 1.0)  # layer.py 72-75

    def forward(self, x, *args, **kwargs):
        # layer.py 172-199, line for line (`1 * vector` makes a new tensor, as in PEFT)
        dtype = previous_dtype = x.dtype
        ia3_scaling = 1
        dtype = self.ia3_l[ADAPTER].dtype
        ia3_scaling *= self.ia3_l[ADAPTER].flatten()
        if self.is_feedforward:
            x = x.to(dtype)
            interm = (x * ia3_scaling).to(previous_dtype)
            result = self.base_layer(interm, *args, **kwargs)
        else:
            result = self.base_layer(x, *args, **kwargs)
            result_dtype = result.dtype
            result = (result * ia3_scaling).to(result_dtype)
        return result


# --- AdaLoRA --------------------------------------------------------------------------------------------


class SVDLinear(_Layer):
    """adalora/layer.py 37-97 AdaLoraLayer (on lora/layer.py's LoraLayer) and 99-197 SVDLinear.

    `ranknum_trains`: PEFT creates ranknum (1,) on the CPU with requires_grad=False (layer.py 81-84), then moves
    it to the base layer's device and dtype (layer.py 89; tuners_utils.py 2206-2210). Unless that move is a
    no-op (a float32 model on the CPU), it returns a new tensor, which the ParameterDict wraps in a fresh
    nn.Parameter, so requires_grad=True (torch/nn/modules/container.py ParameterDict.__setitem__): on a GPU, or
    on a 16-bit CPU model, ranknum trains. (Checked against PEFT on both in tests/test_memory_adapters.py.)"""

    adapter_names = ("lora_A", "lora_B", "lora_E")

    def __init__(self, base_layer, r: int, scaling: float, fan_in_fan_out: bool, ranknum_trains: bool):
        super().__init__()
        self.base_layer = base_layer
        self.in_features, self.out_features = _dims(base_layer, fan_in_fan_out)
        # lora/layer.py 128-146 LoraLayer.__init__ registers these first; AdaLoraLayer replaces lora_A/lora_B by
        # ParameterDicts in place (same position) and adds lora_E and ranknum (adalora/layer.py 44-49)
        self.lora_dropout = nn.ModuleDict({ADAPTER: nn.Identity()})  # lora_dropout=0.0 (layer.py 61-66)
        self.lora_A = nn.ParameterDict({})
        self.lora_B = nn.ParameterDict({})
        self.lora_embedding_A = nn.ParameterDict({})
        self.lora_embedding_B = nn.ParameterDict({})
        self.lora_magnitude_vector = nn.ModuleDict()
        self.lora_E = nn.ParameterDict({})
        self.ranknum = nn.ParameterDict({})
        self.scaling = scaling  # lora_alpha (layer.py 85)
        dtype = adapter_dtype(base_layer.weight.dtype)
        self.lora_A[ADAPTER] = self._param(r, self.in_features, dtype=dtype)  # layer.py 69: right singular vectors
        self.lora_E[ADAPTER] = self._param(r, 1, dtype=dtype)  # layer.py 71: singular values
        self.lora_B[ADAPTER] = self._param(self.out_features, r, dtype=dtype)  # layer.py 73: left singular vectors
        self.ranknum[ADAPTER] = self._param(1, dtype=dtype, requires_grad=ranknum_trains)  # layer.py 81-89
        if base_layer.weight.device.type != "meta":  # layer.py 92-96 reset_lora_parameters
            with torch.no_grad():
                self.ranknum[ADAPTER].fill_(float(r))
                nn.init.zeros_(self.lora_E[ADAPTER])
                nn.init.normal_(self.lora_A[ADAPTER], mean=0.0, std=0.02)
                nn.init.normal_(self.lora_B[ADAPTER], mean=0.0, std=0.02)

    def forward(self, x, *args, **kwargs):
        # layer.py 175-197, one active adapter
        result = self.base_layer(x, *args, **kwargs)
        lora_A = self.lora_A[ADAPTER]
        lora_B = self.lora_B[ADAPTER]
        lora_E = self.lora_E[ADAPTER]
        dropout = self.lora_dropout[ADAPTER]
        scaling = self.scaling
        ranknum = self.ranknum[ADAPTER] + 1e-5
        x = self._cast_input_dtype(x, lora_A.dtype)
        result += (dropout(x) @ (lora_A * lora_E).T @ lora_B.T) * scaling / ranknum
        return result


def adalora_orthogonal_regularization(model, args, kwargs, outputs):
    """adalora/model.py 229-257 AdaLoraModel.forward, after the model's forward: the loss gains
    orth_reg_weight x the mean over lora_A / lora_B of ||P Pᵀ - I||_F (r x r each). A forward hook on the
    adapted model (register_forward_hook(with_kwargs=True)), so the step runs these ops as PEFT's does."""
    if (getattr(outputs, "loss", None) is not None) and isinstance(outputs.loss, torch.Tensor):
        regu_loss = 0
        num_param = 0
        for n, p in model.named_parameters():
            if ("lora_A" in n or "lora_B" in n) and ADAPTER in n:
                para_cov = p @ p.T if "lora_A" in n else p.T @ p  # (r, r)
                eye = torch.eye(*para_cov.size(), out=torch.empty_like(para_cov))
                eye.requires_grad = False
                num_param += 1
                regu_loss += torch.norm(para_cov - eye, p="fro")
        if num_param > 0:
            regu_loss = regu_loss / num_param
        else:
            regu_loss = 0
        outputs.loss += ORTH_REG_WEIGHT * regu_loss
    return None
