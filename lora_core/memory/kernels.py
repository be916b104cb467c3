"""What the GPU (or CPU) would run, emulated on the meta device: the attention kernel and autocast.

On the meta device PyTorch picks its math attention (which keeps the s x s probabilities, and upcasts
bf16 to fp32) and autocast does not exist. Real devices differ, so while tracing we intercept two things
with a TorchFunctionMode (thread-local: concurrent sessions are not affected):

1. `F.scaled_dot_product_attention`: replaced by a stand-in autograd Function that saves exactly what the
   kernel the device would choose saves for backward (PyTorch `tools/autograd/derivatives.yaml`):
   - flash (CUDA, fp16/bf16, no explicit mask; `_scaled_dot_product_flash_attention`) and the CPU flash
     kernel (`_scaled_dot_product_flash_attention_for_cpu`, which torch 2.13 picks on CPU when dropout is 0;
     checked with saved_tensors_hooks in tests/test_memory_activations.py): query, key, value, output and a
     logsumexp of shape (B, H, S) in fp32.
   - memory-efficient (CUDA, fp32 or with a mask; `_efficient_attention_forward`): the same, plus the mask.
   - math: the real decomposition (`aten._scaled_dot_product_attention_math` via the meta kernel).
   The backward allocates grad_q/k/v; CUDA flash also an fp32 dq accumulator (flash-attn 2
   `mha_bwd`: dq_accum (B, S, H, D) fp32; the rounding of S to 128 is ignored).
2. autocast (amp-* recipes): the ops on PyTorch's autocast lists are cast as autocast would
   (torch/amp docs "Autocast Op Reference"; CUDA and CPU lists differ, both are listed below). The cast of a
   leaf parameter that requires grad is cached for the whole forward, as autocast's `cached_cast` does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_F_SDPA = F.scaled_dot_product_attention


def patch_transformers_for_meta() -> None:
    """transformers checks position_ids for packed sequences with `.all()`, a data-dependent read that a meta
    tensor cannot answer. Our traced inputs are never packed, so for meta tensors the answer is "not packed"
    (None); real tensors still take transformers' own code. Idempotent; behaviour-preserving off meta."""
    import transformers.masking_utils as mu

    original = mu.find_packed_sequence_indices
    if getattr(original, "_lora_lab_meta_safe", False):
        return

    def find_packed_sequence_indices(position_ids, *args, **kwargs):
        if isinstance(position_ids, torch.Tensor) and position_ids.is_meta:
            return None
        return original(position_ids, *args, **kwargs)

    find_packed_sequence_indices._lora_lab_meta_safe = True
    mu.find_packed_sequence_indices = find_packed_sequence_indices
    _patch_moe_grouped_mm_for_meta()


def _patch_moe_grouped_mm_for_meta() -> None:
    """transformers 5.23 runs fused MoE experts (Mixtral) through torch's grouped_mm whenever torch has one
    (transformers/integrations/moe.py `_can_use_grouped_mm`), but torch 2.13's meta kernel accepts only bf16
    (torch/_meta_registrations.py, `_meta_grouped_mm_common`: "Expected inputs of BF16 type"), so an fp32 or
    amp recipe could not be traced. For meta tensors of another dtype we take transformers' own fallback,
    `grouped_mm_fallback` (same output (S, out) and the same saved input and weight for backward);
    real tensors keep transformers' choice."""
    try:
        import transformers.integrations.moe as moe
    except ImportError:  # pragma: no cover - a transformers without fused MoE experts
        return
    original = moe._can_use_grouped_mm
    if getattr(original, "_lora_lab_meta_safe", False):
        return

    def _can_use_grouped_mm(input, weight, offs):
        if isinstance(weight, torch.Tensor) and weight.is_meta and weight.dtype != torch.bfloat16:
            return False
        return original(input, weight, offs)

    _can_use_grouped_mm._lora_lab_meta_safe = True
    moe._can_use_grouped_mm = _can_use_grouped_mm


def attention_kernel(device: str, compute_dtype: torch.dtype, dropout: float, has_mask: bool) -> str:
    """The SDPA backend PyTorch 2.13 selects (aten/src/ATen/native/transformers/sdp_utils*.cpp)."""
    if device == "cpu":
        # CPU flash needs dropout 0 (sdp_utils_cpp.cpp check_for_dropout); else the math path.
        return "flash" if dropout == 0.0 else "math"
    if compute_dtype in (torch.float16, torch.bfloat16) and not has_mask:
        return "flash_cuda"  # flash needs fp16/bf16 and no arbitrary mask (sdp_utils.cpp check_dtypes_low_precision)
    return "efficient"


class _FlashLike(torch.autograd.Function):
    """Saves (q, k, v, out, logsumexp[, mask]) like the fused kernels; computes nothing (meta tensors)."""

    @staticmethod
    def forward(ctx, q, k, v, mask, cuda_flash):
        b, h, s = q.shape[0], q.shape[1], q.shape[2]  # q: (B, H, S, D)
        out = q.new_empty((*q.shape[:-1], v.shape[-1]))  # (B, H, S, Dv)
        lse = q.new_empty((b, h, s), dtype=torch.float32)  # (B, H, S) fp32 logsumexp
        ctx.cuda_flash = cuda_flash
        if mask is not None:
            ctx.save_for_backward(q, k, v, out, lse, mask)
        else:
            ctx.save_for_backward(q, k, v, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v = ctx.saved_tensors[:3]
        if ctx.cuda_flash:
            # flash-attn 2 backward: dq accumulator (B, S, H, D) in fp32, freed when backward returns
            ctx.dq_accum = q.new_empty(q.shape, dtype=torch.float32)
            del ctx.dq_accum
        return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v), None, None


# Ops autocast runs in the lower precision (fp16/bf16): PyTorch "Autocast Op Reference".
_LOWER_CUDA = {
    F.linear, torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm, torch.Tensor.mm,
    torch.bmm, torch.Tensor.bmm, torch.baddbmm, torch.Tensor.baddbmm, torch.addmm, torch.Tensor.addmm,
    torch.addbmm, torch.addmv, torch.mv, F.conv1d, F.conv2d, _F_SDPA,
}  # fmt: skip
_LOWER_CPU = _LOWER_CUDA - {torch.addmv, torch.mv}
# Ops autocast runs in fp32. CUDA's list includes softmax, log_softmax, layer_norm, pow, rsqrt, sum, ...;
# CPU's list does not (it has the losses: nll_loss, cross_entropy, mse_loss, ...).
_FP32_CUDA = {
    F.softmax, torch.softmax, torch.Tensor.softmax, F.log_softmax, torch.log_softmax, torch.Tensor.log_softmax,
    F.layer_norm, F.group_norm, torch.pow, torch.Tensor.pow, torch.rsqrt, torch.Tensor.rsqrt, torch.exp,
    torch.Tensor.exp, torch.sum, torch.Tensor.sum, F.cross_entropy, F.nll_loss, F.mse_loss, torch.norm,
    torch.Tensor.norm, torch.cumsum, torch.Tensor.cumsum,
}  # fmt: skip
_FP32_CPU = {F.cross_entropy, F.nll_loss, F.mse_loss}


class DeviceEmulation(TorchFunctionMode):
    """Attention kernel + autocast of the modelled device, for a forward/backward on meta tensors."""

    def __init__(self, device: str, compute_dtype: torch.dtype, autocast: bool):
        super().__init__()
        patch_transformers_for_meta()
        self.device = device
        self.compute_dtype = compute_dtype
        self.autocast = autocast
        self.cache: dict[int, torch.Tensor] = {}  # id(leaf param) -> its cast copy, for the forward
        self.in_backward = False
        self.lower = _LOWER_CPU if device == "cpu" else _LOWER_CUDA
        self.fp32 = _FP32_CPU if device == "cpu" else _FP32_CUDA

    def end_forward(self) -> None:
        """Autocast clears its cast cache when the outermost autocast block exits (end of forward)."""
        self.cache.clear()

    def backward(self, loss) -> None:
        """loss.backward() with this mode still active (Tensor.backward would pop it: checkpointing recomputes
        the forward inside backward, and that recompute must see the same autocast and kernels)."""
        from torch.autograd.variable import Variable

        grad = torch.ones_like(loss)
        self.in_backward = True
        try:
            Variable._execution_engine.run_backward(
                (loss,), (grad,), False, False, (), allow_unreachable=True, accumulate_grad=True
            )
        finally:
            self.in_backward = False

    def _autocasting(self) -> bool:
        """Autocast is on in the forward. In backward only inside a checkpoint's recompute, which re-enters the
        forward's autocast under enable_grad (torch/utils/checkpoint.py 1181 and 1671-1688); the Python backward
        of a custom autograd Function (LoHa's HadaWeight) runs with grad off and the caller's autocast state,
        which is off: loss.backward() is called outside the autocast block (torch.amp docs)."""
        return self.autocast and (not self.in_backward or torch.is_grad_enabled())

    def _cast(self, x, dtype):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dtype == dtype:
            return x
        if x.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            return x
        if x.is_leaf and x.requires_grad:  # autocast caches casts of leaf params that require grad
            key = id(x)
            if key not in self.cache:
                self.cache[key] = x.to(dtype)
            return self.cache[key]
        return x.to(dtype)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        autocast = self._autocasting() if self.autocast else False
        if autocast and func in self.lower:
            args = tuple(self._cast(a, self.compute_dtype) for a in args)
            kwargs = {k: self._cast(v, self.compute_dtype) for k, v in kwargs.items()}
        elif autocast and func in self.fp32 and "dtype" not in kwargs:
            args = tuple(self._cast(a, torch.float32) if a is args[0] else a for a in args)
        if func is _F_SDPA:
            return self._sdpa(*args, **kwargs)
        return func(*args, **kwargs)

    def _sdpa(self, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        kernel = attention_kernel(self.device, q.dtype, float(dropout_p), attn_mask is not None)
        # enable_gqa: "only supported by flash attention and the math kernel on CUDA" (F.scaled_dot_product_
        # attention docs, torch >= 2.5), so memory-efficient attention with GQA falls back to math.
        if kernel == "math" or (kernel == "efficient" and enable_gqa):
            return _F_SDPA(
                q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale,
                enable_gqa=enable_gqa,
            )  # fmt: skip
        mask = attn_mask if kernel == "efficient" else None
        return _FlashLike.apply(q, k, v, mask, kernel == "flash_cuda")
