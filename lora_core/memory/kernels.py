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
   The backward allocates grad_q/k/v. CUDA flash (PyTorch's bundled flash-attn 2, aten/src/ATen/native/
   transformers/cuda/flash_attn/flash_api.cpp `mha_bwd`, signature in torch 2.13's installed flash_api.h:52)
   then allocates, in this order and alive until it returns: softmax_d fp32 (B, H, round128(S)), dq_accum
   fp32 (B, round128(S), H, round32(D)) and, with grouped-query attention (fewer key/value heads),
   dk_expanded and dv_expanded (B, S, H_q, D) in q's dtype, summed into dk, dv at the end.
   The memory-efficient kernel's logsumexp is (B, H, round32(S)) fp32 (kAlignLSE = 32: torch 2.13's
   include/ATen/native/transformers/cuda/mem_eff_attention/kernel_forward.h:114, and torch/_meta_registrations.py
   `meta__scaled_dot_product_efficient_attention`); its backward workspace is not modelled.
   A size rounded up to a multiple of 128 or 32 rows is not a polynomial in S: the stand-in allocates it at the
   traced S and tags it (`seq_round`), and the allocator replay (events.py) evaluates it at the rounded S.
2. autocast (amp-* recipes): the ops on PyTorch's autocast lists are cast as autocast would. CUDA's lists are
   torch 2.13's include/ATen/autocast_mode.h (AT_FORALL_LOWER_PRECISION_FP lines 820-853, AT_FORALL_FP32
   855-914, AT_FORALL_FP32_SET_OPT_DTYPE 916-927), mapped to the Python functions that reach them; CPU's are
   those the CPU validation rows measure (docs/validation.md). The cast of a leaf parameter that requires
   grad is cached for the whole forward, as autocast's `cached_cast` does; every floating tensor argument of
   an fp32-list op is cast (cached_cast applies to all tensor arguments).
"""

from __future__ import annotations

import contextlib

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


# Rounding multiples of the sequence length in kernel buffers (see the module docstring).
FLASH_SEQ_ROUND = 128  # flash_api.cpp mha_bwd: seqlen_q_rounded = round_multiple(seqlen_q, 128)
FLASH_HEAD_ROUND = 32  # flash_api.cpp mha_bwd: head_size_rounded = round_multiple(head_size, 32)
EFFICIENT_LSE_ROUND = 32  # kernel_forward.h:114 kAlignLSE


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


class _FlashLike(torch.autograd.Function):
    """Saves (q, k, v, out, logsumexp[, mask]) like the fused kernels; computes nothing (meta tensors)."""

    @staticmethod
    def forward(ctx, q, k, v, mask, kernel, emu):
        b, h, s = q.shape[0], q.shape[1], q.shape[2]  # q: (B, H, S, D)
        out = q.new_empty((*q.shape[:-1], v.shape[-1]))  # (B, H, S, Dv)
        with emu.rounded(EFFICIENT_LSE_ROUND if kernel == "efficient" else 1):
            lse = q.new_empty((b, h, s), dtype=torch.float32)  # (B, H, S) fp32 logsumexp
        ctx.kernel, ctx.emu = kernel, emu
        if mask is not None:
            ctx.save_for_backward(q, k, v, out, lse, mask)
        else:
            ctx.save_for_backward(q, k, v, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v = ctx.saved_tensors[:3]
        grads = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        if ctx.kernel == "flash_cuda":
            b, h, s, d = q.shape  # (B, H, S, D)
            with ctx.emu.rounded(FLASH_SEQ_ROUND):
                softmax_d = q.new_empty((b, h, s), dtype=torch.float32)  # (B, H, round128(S)) fp32
                dq_accum = q.new_empty((b, s, h, _round_up(d, FLASH_HEAD_ROUND)), dtype=torch.float32)
            expanded = ()
            if k.shape[1] != h:  # grouped-query attention: (B, S_k, H_q, D) in q's dtype, then summed
                expanded = (q.new_empty((b, k.shape[2], h, d)), q.new_empty((b, v.shape[2], h, v.shape[3])))
            del softmax_d, dq_accum, expanded  # freed when mha_bwd returns
        return *grads, None, None, None


# Ops autocast runs in the lower precision (fp16/bf16).
# CUDA: AT_FORALL_LOWER_PRECISION_FP (torch 2.13 include/ATen/autocast_mode.h:820-853): the convolutions,
# prelu, addmm, addmv, addr, matmul, einsum, mm, mv, linalg_vecdot, linear, addbmm, baddbmm, bmm,
# chain_matmul, linalg_multi_dot, the RNN cells and scaled_dot_product_attention.
_LOWER_CUDA = {
    F.linear, torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm, torch.Tensor.mm,
    torch.bmm, torch.Tensor.bmm, torch.baddbmm, torch.Tensor.baddbmm, torch.addmm, torch.Tensor.addmm,
    torch.addbmm, torch.Tensor.addbmm, torch.addmv, torch.Tensor.addmv, torch.mv, torch.Tensor.mv, torch.addr,
    torch.Tensor.addr, torch.einsum, torch.chain_matmul, torch.linalg.multi_dot, torch.linalg.vecdot,
    F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d, F.prelu,
    _F_SDPA,
}  # fmt: skip
# CPU: the lists the CPU validation rows measure exactly (docs/validation.md); kept as they were.
_LOWER_CPU = {
    F.linear, torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm, torch.Tensor.mm,
    torch.bmm, torch.Tensor.bmm, torch.baddbmm, torch.Tensor.baddbmm, torch.addmm, torch.Tensor.addmm,
    torch.addbmm, F.conv1d, F.conv2d, _F_SDPA,
}  # fmt: skip
# Ops autocast runs in fp32. CUDA: AT_FORALL_FP32 (autocast_mode.h:855-914) and AT_FORALL_FP32_SET_OPT_DTYPE
# (916-927: softmax, log_softmax, sum, prod, cumsum, cumprod and the vector/matrix norms get dtype=float32,
# which converts the input first, as the cast below does). The losses reach nll_loss / mse_loss / ...;
# cross_entropy is log_softmax + nll_loss.
_FP32_CUDA = {
    torch.acos, torch.asin, torch.cosh, torch.erfinv, torch.exp, torch.expm1, torch.log, torch.log10,
    torch.log2, torch.log1p, torch.reciprocal, torch.rsqrt, torch.sinh, torch.tan, torch.pow,
    torch.Tensor.acos, torch.Tensor.asin, torch.Tensor.cosh, torch.Tensor.erfinv, torch.Tensor.exp,
    torch.Tensor.expm1, torch.Tensor.log, torch.Tensor.log10, torch.Tensor.log2, torch.Tensor.log1p,
    torch.Tensor.reciprocal, torch.Tensor.rsqrt, torch.Tensor.sinh, torch.Tensor.tan, torch.Tensor.pow,
    F.softplus, F.layer_norm, F.rms_norm, F.group_norm, torch.cosine_similarity, F.cosine_similarity,
    F.poisson_nll_loss, F.cosine_embedding_loss, F.nll_loss, F.hinge_embedding_loss, F.kl_div, F.l1_loss,
    F.smooth_l1_loss, F.huber_loss, F.mse_loss, F.margin_ranking_loss, F.multilabel_margin_loss,
    F.soft_margin_loss, F.triplet_margin_loss, F.multi_margin_loss, F.binary_cross_entropy_with_logits,
    torch.dist, torch.cdist, torch.renorm, torch.logsumexp, torch.Tensor.logsumexp, F.cross_entropy,
    # AT_FORALL_FP32_SET_OPT_DTYPE
    torch.prod, torch.Tensor.prod, F.softmax, torch.softmax, torch.Tensor.softmax, F.log_softmax,
    torch.log_softmax, torch.Tensor.log_softmax, torch.cumprod, torch.Tensor.cumprod, torch.cumsum,
    torch.Tensor.cumsum, torch.linalg.vector_norm, torch.linalg.matrix_norm, torch.sum, torch.Tensor.sum,
    torch.norm, torch.Tensor.norm,
}  # fmt: skip
_FP32_CPU = {F.cross_entropy, F.nll_loss, F.mse_loss}
# Autograd nodes between F.linear's output and its matmul (a 3-d input is flattened, multiplied, viewed back),
# and the matmul nodes whose backward computes the input's gradient with the (dequantized) weight.
_VIEW_NODES = {"ViewBackward0", "UnsafeViewBackward0", "ReshapeAliasBackward0", "AsStridedBackward0"}
_MATMUL_NODES = {"MmBackward0", "AddmmBackward0", "BmmBackward0", "MatmulBackward0"}


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
        self.seq_round = 1  # read by the recorder: the sequence rounding of the buffer being allocated
        self.recorder = None  # live_bytes._Recorder, for the QLoRA dequantize phantoms
        self.quantized: dict[int, int] = {}  # id(frozen Linear weight) -> numel, held in 4 bits under QLoRA

    @contextlib.contextmanager
    def rounded(self, multiple: int):
        """Buffers allocated inside have a sequence dimension the kernel rounds up to `multiple`."""
        before, self.seq_round = self.seq_round, multiple
        try:
            yield
        finally:
            self.seq_round = before

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
            if self.device == "cpu":  # as the CPU validation rows measure (their losses take one float input)
                args = tuple(self._cast(a, torch.float32) if a is args[0] else a for a in args)
            else:
                args = tuple(self._cast(a, torch.float32) for a in args)
        if func is _F_SDPA:
            return self._sdpa(*args, **kwargs)
        if self.quantized and (func is F.linear or func is torch.addmm):
            # F.linear(x, weight); GPT-2's Conv1D: torch.addmm(bias, x, weight) (transformers pytorch_utils.py)
            if func is F.linear:
                weight = args[1] if len(args) > 1 else kwargs.get("weight")
            else:
                weight = args[2] if len(args) > 2 else kwargs.get("mat2")
            numel = self.quantized.get(id(weight))
            if numel is not None:
                return self._dequantized_linear(func, args, kwargs, numel, weight.element_size())
        return func(*args, **kwargs)

    def _dequantized_linear(self, func, args, kwargs, numel: int, itemsize: int):
        """F.linear on a weight bitsandbytes would hold in NF4: the dequantized copy (numel x compute dtype, and
        the fp32 absmax of double quantization) is alive across the matmul in forward, and again across the
        input-gradient matmul in backward (live_bytes.KIND_DEQUANT)."""
        from lora_core.memory import live_bytes as lb

        def dequant():
            from lora_core.memory.states import NF4_BLOCK

            sized = [(numel * itemsize, lb.KIND_DEQUANT), (-(-numel // NF4_BLOCK) * 4, lb.KIND_DQ_ABSMAX)]
            return self.recorder.phantoms(sized)

        held = dequant()
        out = func(*args, **kwargs)
        self.recorder.release(held)
        node = out.grad_fn
        while node is not None and type(node).__name__ in _VIEW_NODES:  # to the matmul's own node
            node = node.next_functions[0][0] if node.next_functions else None
        if node is not None and type(node).__name__ in _MATMUL_NODES:
            pending: list[list[int]] = []
            node.register_prehook(lambda _grads: pending.append(dequant()))
            node.register_hook(lambda _gi, _go: self.recorder.release(pending.pop()) if pending else None)
        return out

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
        return _FlashLike.apply(q, k, v, mask, kernel, self)
