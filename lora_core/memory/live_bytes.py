"""Live bytes of one traced training step: what is alive besides the weights after every op.

Build the recipe's model on the meta device, run a forward to the loss and a backward under a
TorchDispatchMode that adds every new tensor storage (deduplicated by storage, so views are free) and subtracts
it when Python frees it. That gives, for every op, the activations autograd saved so far, the op's
temporaries, and the gradients as backward creates them (tracked on their own, for sharding). trace.py fits
these, traced at a few small shapes, as polynomials in b, s and r (`basis`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from lora_core.memory import recipe
from lora_core.memory.setup import TrainingSetup


def basis(b, s, r):
    """The polynomial terms, vectorised over numpy arrays."""
    b, s, r = (np.asarray(v, dtype=np.float64) for v in (b, s, r))
    one = np.ones_like(b * s * r)
    return np.stack([one, b * one, s * one, b * s, s * s * one, b * s * s, r * one, r * b * s], axis=-1)


class _LiveBytes:
    """A TorchDispatchMode that keeps the live total of storages created inside it, op by op."""

    def __init__(self, known: set[int]):
        from torch.utils._python_dispatch import TorchDispatchMode

        outer = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                outer._record(out)
                return out

        self.mode = Mode()
        self.known = known
        self.refs: dict[int, object] = {}  # storage key -> weakref (alive storages)
        self.born: dict[int, tuple[int, int]] = {}  # storage key -> (op index, bytes), never removed
        self.live = 0
        self.timeline: list[int] = []

    def _free(self, key: int) -> None:
        if self.refs.pop(key, None) is not None:
            self.live -= self.born[key][1]

    def _record(self, out) -> None:
        import torch
        from torch.utils._pytree import tree_flatten

        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            st = t.untyped_storage()
            key = st._cdata
            if key in self.refs or key in self.known:
                continue
            nbytes = st.nbytes()
            self.live += nbytes
            self.born[key] = (len(self.timeline), nbytes)
            self.refs[key] = weakref.ref(st, lambda _r, k=key: self._free(k))
        self.timeline.append(self.live)


@dataclass(frozen=True)
class Trace:
    """Live bytes per op of one traced step (one shape, one depth)."""

    live: np.ndarray  # (ops,) bytes alive besides weights/optimizer state, after each op
    grads: np.ndarray  # (ops,) of which parameter gradients (they appear in backward and stay)
    forward_end: int  # index of the op that produced the loss


def trace_step(model, setup: TrainingSetup, b: int, s: int) -> Trace:
    """Forward to the loss and backward of a meta-device recipe model; what is alive after every op."""
    import torch

    from lora_core.memory.kernels import DeviceEmulation

    params = list(model.parameters())
    for p in params:
        p.grad = None
    known = {p.untyped_storage()._cdata for p in params}
    known |= {buf.untyped_storage()._cdata for buf in model.buffers()}
    tracker = _LiveBytes(known)
    emu = DeviceEmulation(setup.device, recipe.torch_dtype(setup.compute_dtype), setup.autocast)
    input_ids = torch.zeros((b, s), dtype=torch.long, device="meta")  # (B, S)
    with emu, tracker.mode:
        loss = recipe.forward_loss(model, input_ids, setup)
        emu.end_forward()
        forward_end = len(tracker.timeline) - 1
        emu.backward(loss)
        del loss
    live = np.asarray(tracker.timeline, dtype=np.float64)
    grads = np.zeros_like(live)
    for p in params:
        if p.grad is not None:
            key = p.grad.untyped_storage()._cdata
            if key in tracker.born:
                op, nbytes = tracker.born[key]
                grads[op] += nbytes
        p.grad = None
    return Trace(live=live, grads=np.cumsum(grads), forward_end=forward_end)
