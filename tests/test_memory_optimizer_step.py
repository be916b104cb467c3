"""optimizer_step.py against torch's own optimizer code: the temporaries one step allocates, measured.

The reference runs torch 2.13's functional AdamW/SGD (torch.optim.adam.adam, torch.optim.sgd.sgd) on CPU
tensors under a TorchDispatchMode that counts every new tensor storage until Python frees it, and compares
the peak with the model. The foreach ops run their per-tensor CPU path here; each output is one new tensor,
as on CUDA. 0-dim tensors are not counted: with capturable=False the `step` counters and the
`torch.tensor(1.0)` added to them are CPU tensors on a GPU too (torch/optim/adam.py:166-175, 681-684).
"""

from __future__ import annotations

import weakref

import pytest
import torch
from torch.optim.adam import adam
from torch.optim.optimizer import Optimizer
from torch.optim.sgd import sgd
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from lora_core.memory.optimizer_step import (
    adamw_step_events,
    adamw_step_temp_bytes,
    default_impl,
    sgd_step_temp_bytes,
)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class PeakNewStorage(TorchDispatchMode):
    """Live bytes of the storages created inside the mode (views are free); their peak."""

    def __init__(self, known: set[int]):
        super().__init__()
        self.known = known
        self.refs: dict[int, object] = {}
        self.live = self.peak = 0

    def _free(self, key: int, nbytes: int) -> None:
        if self.refs.pop(key, None) is not None:
            self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.dim() == 0:
                continue
            storage = t.untyped_storage()
            key = storage._cdata
            if key in self.known or key in self.refs:
                continue
            n = storage.nbytes()
            self.live += n
            self.peak = max(self.peak, self.live)
            self.refs[key] = weakref.ref(storage, lambda _r, k=key, n=n: self._free(k, n))
        return out


def _tensors(params):
    gen = torch.Generator().manual_seed(0)
    out = []
    for numel, dtype in params:
        out.append(torch.rand(numel, generator=gen).to(DTYPES[dtype]) + 0.5)
    return out


def _state(params):
    """Parameters, gradients and steady-state AdamW states (step counters on the CPU, as default)."""
    ps, gs = _tensors(params), _tensors(params)
    exp_avgs = [torch.rand_like(p) for p in ps]
    exp_avg_sqs = [torch.rand_like(p) for p in ps]
    steps = [torch.tensor(3.0) for _ in ps]
    return ps, gs, exp_avgs, exp_avg_sqs, steps


def _known(*lists) -> set[int]:
    return {t.untyped_storage()._cdata for tensors in lists for t in tensors}


def measured_adam(params, impl, weight_decay=1e-2, decoupled=True, maximize=False, amsgrad=False):
    ps, gs, m, v, steps = _state(params)
    vmax = [torch.rand_like(p) for p in ps] if amsgrad else []
    mode = PeakNewStorage(_known(ps, gs, m, v, vmax))
    with mode:
        adam(
            ps,
            gs,
            m,
            v,
            vmax,
            steps,
            foreach=impl == "foreach",
            fused=impl == "fused",
            amsgrad=amsgrad,
            beta1=0.9,
            beta2=0.999,
            lr=1e-3,
            weight_decay=weight_decay,
            eps=1e-8,
            maximize=maximize,
            decoupled_weight_decay=decoupled,
        )
    return mode.peak


def torch_group_order(params) -> list[str]:
    """The order torch's foreach code visits the dtype groups of these parameters."""
    keys = Optimizer._group_tensors_by_device_and_dtype([_tensors(params)]).keys()
    return [str(dtype).removeprefix("torch.") for _, dtype in keys]


F32, BF16, F16 = "float32", "bfloat16", "float16"
ONE_GROUP = [(1000, F32), (37, F32), (4096, F32), (1, F32), (640, F32)]
TWO_GROUPS = [(1000, F32), (3000, BF16), (37, F32), (5000, BF16), (129, F32)]
THREE_GROUPS = [(1000, F16), (3000, BF16), (800, F32), (20, F16), (2500, F32)]


@pytest.mark.parametrize(
    "params", [ONE_GROUP, TWO_GROUPS, THREE_GROUPS], ids=["fp32", "fp32+bf16", "3-dtypes"]
)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"weight_decay": 0.0},
        {"decoupled": False},
        {"maximize": True},
        {"amsgrad": True},
        {"maximize": True, "decoupled": False},
    ],
    ids=["adamw", "no-wd", "adam-wd", "maximize", "amsgrad", "adam-wd-maximize"],
)
@pytest.mark.parametrize("impl", ["foreach", "single", "fused"])
def test_adam_temporaries_equal_torch(params, options, impl):
    measured = measured_adam(params, impl, **options)
    order = torch_group_order(params) if impl == "foreach" else None
    assert adamw_step_temp_bytes(params, impl, group_order=order, **options) == measured


def test_foreach_default_order_is_an_upper_bound_and_exact_for_one_dtype():
    for params in (TWO_GROUPS, THREE_GROUPS):
        assert adamw_step_temp_bytes(params, "foreach") >= measured_adam(params, "foreach")
    assert adamw_step_temp_bytes(ONE_GROUP, "foreach") == measured_adam(ONE_GROUP, "foreach")


def test_foreach_peak_is_two_consecutive_sqrt_lists():
    """The formula the events encode: one group holds a full sqrt(exp_avg_sq) copy of itself; the next
    group's copy is made before the previous one is released."""
    nbytes = {g: sum(n * (4 if d == F32 else 2) for n, d in TWO_GROUPS if d == g) for g in (F32, BF16)}
    assert adamw_step_temp_bytes(TWO_GROUPS, "foreach") == nbytes[F32] + nbytes[BF16]
    assert adamw_step_temp_bytes(ONE_GROUP, "foreach") == 4 * sum(n for n, _ in ONE_GROUP)
    assert adamw_step_temp_bytes(ONE_GROUP, "fused") == 0


def test_single_tensor_peak_is_previous_denom_plus_two_copies():
    sizes = [4 * n for n, _ in ONE_GROUP]
    expected = max(prev + 2 * s for prev, s in zip([0, *sizes], sizes, strict=False))
    assert adamw_step_temp_bytes(ONE_GROUP, "single") == expected


def test_events_are_one_tensor_per_parameter():
    events = adamw_step_events(ONE_GROUP, "foreach")
    allocs = [e for e in events if len(e) == 3]
    assert [e.nbytes for e in allocs] == [4 * n for n, _ in ONE_GROUP]
    assert len(events) == 2 * len(ONE_GROUP)


def test_full_optimizer_step_matches():
    """torch.optim.AdamW(foreach=True).step() itself, after a first step created the states."""
    params = [torch.nn.Parameter(t) for t in _tensors(TWO_GROUPS)]
    opt = torch.optim.AdamW(params, foreach=True)
    for p in params:
        p.grad = torch.rand_like(p)
    opt.step()
    known = _known(params, [p.grad for p in params], [t for s in opt.state.values() for t in s.values()])
    mode = PeakNewStorage(known)
    with mode:
        opt.step()
    assert (
        adamw_step_temp_bytes(TWO_GROUPS, "foreach", group_order=torch_group_order(TWO_GROUPS)) == mode.peak
    )


def measured_sgd(params, impl, momentum=0.0, nesterov=False, weight_decay=0.0, maximize=False):
    ps, gs = _tensors(params), _tensors(params)
    bufs = [torch.rand_like(p) for p in ps] if momentum else [None] * len(ps)
    mode = PeakNewStorage(_known(ps, gs, [b for b in bufs if b is not None]))
    with mode:
        sgd(
            ps,
            gs,
            bufs,
            foreach=impl == "foreach",
            fused=impl == "fused",
            weight_decay=weight_decay,
            momentum=momentum,
            lr=0.1,
            dampening=0.0,
            nesterov=nesterov,
            maximize=maximize,
        )
    return mode.peak


@pytest.mark.parametrize("params", [ONE_GROUP, TWO_GROUPS], ids=["fp32", "fp32+bf16"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"weight_decay": 0.1},
        {"maximize": True},
        {"momentum": 0.9},
        {"momentum": 0.9, "nesterov": True},
        {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1, "maximize": True},
    ],
    ids=["plain", "wd", "maximize", "momentum", "nesterov", "all"],
)
@pytest.mark.parametrize("impl", ["foreach", "single"])
def test_sgd_temporaries_equal_torch(params, options, impl):
    order = torch_group_order(params) if impl == "foreach" else None
    assert sgd_step_temp_bytes(params, impl, group_order=order, **options) == measured_sgd(
        params, impl, **options
    )


def test_default_impl():
    """torch 2.13 defaults (optimizer.py:161-186): foreach on CUDA, the single-tensor loop on CPU."""
    assert default_impl("cuda") == "foreach"
    assert default_impl("cpu") == "single"
    assert default_impl("cuda", fused=True) == "fused"
    assert default_impl("cuda", foreach=False) == "single"
    assert default_impl("cuda", lr_is_tensor=True) == "single"
    assert default_impl("cuda", differentiable=True) == "single"


def test_default_impl_agrees_with_torch_on_cpu():
    from torch.optim.optimizer import _default_to_fused_or_foreach

    fused, foreach = _default_to_fused_or_foreach(_tensors(ONE_GROUP), differentiable=False, use_fused=False)
    assert (fused, foreach) == (False, False)
    assert default_impl("cpu") == "single"


def test_bad_input():
    with pytest.raises(ValueError, match="impl"):
        adamw_step_temp_bytes(ONE_GROUP, "apex")
    with pytest.raises(ValueError, match="dtype"):
        adamw_step_temp_bytes([(10, "int8")], "foreach")
    with pytest.raises(ValueError, match="group_order"):
        adamw_step_temp_bytes(TWO_GROUPS, "foreach", group_order=["float32"])
