"""The temporaries torch's optimizer step allocates, tensor by tensor, as allocator events.

`optimizer.step()` needs memory beyond the states for a moment: AdamW's foreach path computes
`sqrt(exp_avg_sq)` for a whole (device, dtype) group at once. This module writes the step as the sequence of
`Alloc`/`Free` events (allocator_replay.py) torch 2.13's code produces, so that the caching-allocator model can
round each tensor, and reads the peak of the raw bytes from it. The optimizer states themselves, the
gradients and the parameters exist before the step and are not part of these events.

Which implementation runs (torch/optim/adam.py `adam()`, lines 937-947 of torch 2.13.0): with `foreach` and
`fused` left at None, `_default_to_fused_or_foreach(params, differentiable, use_fused=False)`
(torch/optim/optimizer.py:161-186) picks foreach when every parameter is a plain tensor on a device with
foreach kernels (cuda, xpu, mtia, privateuse1: torch/utils/_foreach_utils.py:8-10; not cpu), never fused;
a Tensor `lr` without capturable turns foreach off again (adam.py:942-943). So AdamW defaults to
`_multi_tensor_adam` (foreach) on CUDA and `_single_tensor_adam` on CPU. Hugging Face transformers 5.23's
Trainer defaults to `optim="adamw_torch_fused"` with torch >= 2.8 (transformers/training_args.py:806-811),
i.e. `_fused_adam` on CUDA.

Line numbers below are of torch 2.13.0's installed torch/optim/adam.py and sgd.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from lora_core.memory.allocator_replay import Alloc, Event, Free
from lora_core.memory.setup import DTYPE_BYTES

Param = tuple[int, str]  # (numel, dtype name as in setup.DTYPE_BYTES) of one trainable tensor
IMPLS = ("foreach", "fused", "single")


def default_impl(
    device: str,
    *,
    foreach: bool | None = None,
    fused: bool | None = None,
    differentiable: bool = False,
    lr_is_tensor: bool = False,
    capturable: bool = False,
) -> str:
    """The AdamW/SGD implementation torch 2.13 runs for parameters on `device` ("cuda", "cpu", ...)."""
    if fused:
        return "fused"
    if foreach is None and fused is None:
        # optimizer.py:161-186 with use_fused=False (adam.py:937-943; sgd.py:279-284 the same)
        foreach = not differentiable and device in ("cuda", "xpu", "mtia")
        if foreach and lr_is_tensor and not capturable:
            foreach = False
    return "foreach" if foreach else "single"


def _nbytes(p: Param) -> int:
    numel, dtype = p
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(DTYPE_BYTES)}")
    if numel < 0:
        raise ValueError(f"negative numel {numel}")
    return numel * DTYPE_BYTES[dtype]


def _groups(params: Sequence[Param], order: Sequence[str] | None) -> list[list[int]]:
    """Parameters grouped by dtype (one device), as Optimizer._group_tensors_by_device_and_dtype does;
    within a group the parameters keep their order."""
    by_dtype: dict[str, list[int]] = {}
    for p in params:
        by_dtype.setdefault(p[1], []).append(_nbytes(p))
    if order is None:
        return list(by_dtype.values())
    if sorted(order) != sorted(by_dtype):
        raise ValueError(f"group_order {list(order)} must list the dtypes {sorted(by_dtype)} once each")
    return [by_dtype[d] for d in order]


def _peak(events: Sequence[Event]) -> int:
    sizes: dict = {}
    live = peak = 0
    for ev in events:
        if len(ev) == 1:
            live -= sizes.pop(ev[0])
        else:
            sizes[ev[0]] = ev[1]
            live += ev[1]
            peak = max(peak, live)
    return peak


def _foreach_adam_events(groups: list[list[int]], copy_grads: bool) -> list[Event]:
    """_multi_tensor_adam (adam.py:553-797), capturable=False, per (device, dtype) group:
    - maximize: `device_grads = torch._foreach_neg(device_grads)` (adam.py:675), or Adam's (not AdamW's)
      weight decay: `device_grads = torch._foreach_add(device_grads, device_params, ...)` (adam.py:697):
      a copy of the group's gradients, deleted after `_foreach_addcmul_` (`del device_grads`, adam.py:726);
    - `exp_avg_sq_sqrt = torch._foreach_sqrt(device_exp_avg_sqs)` (adam.py:790; of max_exp_avg_sqs with
      amsgrad, adam.py:788): one new tensor per parameter, in the parameter's dtype; the previous group's
      list is released only when this assignment rebinds the name, and the last one when the function returns.
    The other foreach ops are in place; bias corrections are Python floats when capturable=False
    (adam.py:770-778); the CPU `step` counters and the `torch.tensor(1.0)` added to them (adam.py:681-684) are
    host memory."""
    events: list[Event] = []
    prev: list[str] = []
    for g, sizes in enumerate(groups):
        if copy_grads:
            names = [f"grad_copy{g}.{i}" for i in range(len(sizes))]
            events += [Alloc(n, s) for n, s in zip(names, sizes, strict=True)]
            events += [Free(n) for n in names]
        names = [f"exp_avg_sq_sqrt{g}.{i}" for i in range(len(sizes))]
        events += [Alloc(n, s) for n, s in zip(names, sizes, strict=True)]
        events += [Free(n) for n in prev]
        prev = names
    events += [Free(n) for n in prev]
    return events


def _single_adam_events(sizes: list[int], maximize: bool, wd_copy: bool) -> list[Event]:
    """_single_tensor_adam (adam.py:347-550), capturable=False, for each parameter in order:
    - `grad = grads[i] if not maximize else -grads[i]` (adam.py:397) and, for Adam's weight decay,
      `grad = grad.add(param, alpha=weight_decay)` (adam.py:428): new tensors bound to `grad`, which frees the
      previous one only when rebound;
    - `denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)` (adam.py:544): the sqrt and the quotient
      exist together, then the sqrt dies; the previous parameter's `denom` dies when `denom` is rebound.
    All other updates are in place (lerp_, mul_, addcmul_, addcdiv_)."""
    events: list[Event] = []
    grad_held: str | None = None
    denom_held: str | None = None
    for i, s in enumerate(sizes):
        new_grad = None
        if maximize:
            new_grad = f"neg_grad{i}"
            events.append(Alloc(new_grad, s))
        old = grad_held
        grad_held = new_grad
        if old is not None:
            events.append(Free(old))
        if wd_copy:
            events.append(Alloc(f"wd_grad{i}", s))
            if grad_held is not None:
                events.append(Free(grad_held))
            grad_held = f"wd_grad{i}"
        events += [Alloc(f"sqrt{i}", s), Alloc(f"denom{i}", s), Free(f"sqrt{i}")]
        if denom_held is not None:
            events.append(Free(denom_held))
        denom_held = f"denom{i}"
    events += [Free(n) for n in (denom_held, grad_held) if n is not None]
    return events


def adamw_step_events(
    params: Sequence[Param],
    impl: str = "foreach",
    *,
    weight_decay: float = 1e-2,
    decoupled: bool = True,
    maximize: bool = False,
    amsgrad: bool = False,
    group_order: Sequence[str] | None = None,
) -> list[Event]:
    """The temporaries of one AdamW step (Adam with decoupled=False), as allocator events, in order.

    `params`: the (numel, dtype) of every parameter that has a gradient, in the optimizer's order.
    foreach groups parameters by dtype in a hash map (torch._C._group_tensors_by_device_and_dtype), whose
    order is not the order of first occurrence (tests/test_memory_optimizer_step.py shows it); with several
    dtypes and no `group_order`, the order with the highest peak is assumed (never an under-estimate).
    fused (`torch._fused_adamw_`) updates in place and allocates no temporaries on the device; with
    fused=True the `step` counters live on the device (adam.py:166-175), one 4-byte tensor per parameter,
    which is optimizer state, not a temporary. amsgrad changes the states, not the temporaries' sizes."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    del amsgrad  # same temporaries: the sqrt is of max_exp_avg_sqs instead (adam.py:542, 788)
    copy_grads = maximize or (weight_decay != 0 and not decoupled)
    if impl == "fused":
        for p in params:
            _nbytes(p)
        return []
    if impl == "single":
        return _single_adam_events(
            [_nbytes(p) for p in params], maximize, weight_decay != 0 and not decoupled
        )
    groups = _groups(params, group_order)
    if group_order is not None or len(groups) < 2:
        return _foreach_adam_events(groups, copy_grads)
    candidates = (_foreach_adam_events(list(order), copy_grads) for order in itertools.permutations(groups))
    return max(candidates, key=_peak)


def adamw_step_temp_bytes(params: Sequence[Param], impl: str = "foreach", **options) -> int:
    """Peak bytes of the AdamW step's temporaries (unrounded storage sizes) above the states, grads and
    parameters that exist before the step. Options as adamw_step_events."""
    return _peak(adamw_step_events(params, impl, **options))


def _single_sgd_events(
    sizes: list[int], maximize: bool, weight_decay: bool, momentum: bool, nesterov: bool
) -> list[Event]:
    """_single_tensor_sgd (sgd.py:321-380), steady state, for each parameter in order: `grad = -grads[i]`
    (maximize, sgd.py:344), `grad = grad.add(param, ...)` (weight decay, sgd.py:355) and
    `grad = grad.add(buf, ...)` (nesterov, sgd.py:367) are new tensors bound to `grad`, each freeing the one
    it replaces; `grad = buf` (momentum without nesterov, sgd.py:369) frees it without a new one."""
    events: list[Event] = []
    held: str | None = None

    def rebind(new: str | None, size: int) -> None:
        nonlocal held
        if new is not None:
            events.append(Alloc(new, size))
        if held is not None:
            events.append(Free(held))
        held = new

    for i, s in enumerate(sizes):
        rebind(f"neg_grad{i}" if maximize else None, s)
        if weight_decay:
            rebind(f"wd_grad{i}", s)
        if momentum:
            rebind(f"nesterov_grad{i}" if nesterov else None, s)
    if held is not None:
        events.append(Free(held))
    return events


def sgd_step_events(
    params: Sequence[Param],
    impl: str = "foreach",
    *,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    maximize: bool = False,
    group_order: Sequence[str] | None = None,
) -> list[Event]:
    """The temporaries of one steady-state SGD step (momentum buffers already exist), as allocator events.

    _multi_tensor_sgd (sgd.py:382-476): `device_grads = torch._foreach_neg(device_grads)` (maximize,
    sgd.py:422) or `torch._foreach_add(device_grads, device_params, ...)` (weight decay, sgd.py:429) copy the
    group's gradients (with both, the add is in place into the negated copy, sgd.py:427); the copy lives until
    `device_grads = bufs` (momentum without nesterov, sgd.py:464) or the loop rebinds `device_grads` for the
    next group (sgd.py:415), before that group allocates. Momentum and nesterov update in place
    (sgd.py:445-446, 462). fused (`torch._fused_sgd_`) allocates none."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    sizes = [_nbytes(p) for p in params]
    nesterov = nesterov and momentum != 0
    if impl == "fused":
        return []
    if impl == "single":
        return _single_sgd_events(sizes, maximize, weight_decay != 0, momentum != 0, nesterov)
    if not (maximize or weight_decay != 0):
        return []
    events: list[Event] = []
    for g, group in enumerate(_groups(params, group_order)):
        names = [f"sgd_grad{g}.{i}" for i in range(len(group))]
        events += [Alloc(n, s) for n, s in zip(names, group, strict=True)]
        events += [Free(n) for n in names]
    return events


def sgd_step_temp_bytes(params: Sequence[Param], impl: str = "foreach", **options) -> int:
    """Peak bytes of the SGD step's temporaries. Options as sgd_step_events."""
    return _peak(sgd_step_events(params, impl, **options))
