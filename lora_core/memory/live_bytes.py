"""One traced training step: every tensor storage it creates, when it is born and when Python frees it.

Build the recipe's model on the meta device, run a forward to the loss and a backward under a
TorchDispatchMode that sees every new tensor storage (deduplicated by storage, so views are free) and, through
a weak reference, the moment Python frees it. That gives, for every op, the activations autograd saved so far,
the op's temporaries, and the gradients as backward creates them (marked, for sharding). trace.py turns the
storages of one such step into exact polynomials in b, s and r.

Speed (a Memory page change waits for its traces: in a trace worker process on the server,
lora_ui/workers/trace.py, or in the caller's thread; docs/memory.md "Speed"): a meta-device op costs ~100 µs,
most of it PyTorch's Python meta kernels (torch/_refs, torch/_prims_common). Identical inputs give identical
outputs, and a transformer repeats the same ops on the same shapes in every layer, at both traced depths and in
every recipe of one architecture, so `_MetaOps` remembers the output shapes of functional ops and answers again
with `torch.empty_strided`: 2.0-3.7x less time per trace once a recipe's ops have been seen
(`python benchmarks/trace_speed.py`, 2026-11-29 16:13, four recipes).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from lora_core.memory import recipe
from lora_core.memory.setup import TrainingSetup

_META = torch.device("meta")
# Distinct (op, input shapes) remembered. One recipe of one architecture uses ~100-300 (2 and 3 layers);
# 100,000 covers every preset and recipe a class explores, at ~0.5 KB each (our measurement, docs/memory.md).
_META_OPS_MAX = 100_000


def _schema_is_functional(func) -> bool:
    """A functional op: mutates nothing and returns fresh tensors, none aliasing an input
    (torch/_C FunctionSchema: is_mutable, alias_info), so its outputs depend on its inputs' metadata alone."""
    schema = func._schema
    return (
        not schema.is_mutable
        and len(schema.returns) > 0
        and all(r.alias_info is None and str(r.type) == "Tensor" for r in schema.returns)
    )


_PLAIN = (bool, int, float, str, torch.dtype, torch.device, torch.layout, torch.memory_format, type(None))


def _meta_key(value):
    """What a meta-device op's output shapes can depend on: tensor metadata and the non-tensor arguments."""
    if isinstance(value, torch.Tensor):
        if not value.is_meta:
            raise TypeError("not a meta tensor")
        return (value.dtype, value.shape, value.stride(), value.storage_offset())
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        return tuple([_meta_key(v) for v in value])
    raise TypeError(f"unhashable argument {type(value).__name__}")


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)


class _MetaOps:
    """Output metadata of functional meta-device ops, by input metadata (module-level, shared by every trace)."""

    def __init__(self) -> None:
        self.outputs: dict = {}
        self.functional: dict = {}

    def call(self, func, args, kwargs):
        functional = self.functional.get(func)
        if functional is None:
            functional = self.functional[func] = _schema_is_functional(func)
        if not functional:
            return func(*args, **kwargs)
        try:
            key = (func, _meta_key(args), _meta_key(tuple(sorted(kwargs.items())))) if kwargs else (func, _meta_key(args))
        except TypeError:
            return func(*args, **kwargs)
        known = self.outputs.get(key)
        if known is not None:
            outs = [torch.empty_strided(shape, stride, dtype=dtype, device=_META) for dtype, shape, stride in known]
            return outs[0] if len(outs) == 1 else tuple(outs)
        out = func(*args, **kwargs)
        outs = out if isinstance(out, tuple) else (out,)
        inputs = {t.untyped_storage()._cdata for t in _tensors((args, kwargs))}
        if any(isinstance(t, torch.Tensor) and t.untyped_storage()._cdata in inputs for t in outs):
            # aliases an input although its schema says not (aten._unsafe_view): never remembered
            self.functional[func] = False
            return out
        metas = []
        for t in outs:
            if not isinstance(t, torch.Tensor) or t.device != _META or t.storage_offset() != 0:
                return out
            again = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device=_META)
            if again.untyped_storage().nbytes() != t.untyped_storage().nbytes():
                return out  # a storage larger than its view: not remembered, always computed
            metas.append((t.dtype, tuple(t.shape), t.stride()))
        if len(self.outputs) >= _META_OPS_MAX:
            self.outputs.clear()
        self.outputs[key] = tuple(metas)
        return out


META_OPS = _MetaOps()


# Kinds of storages (StepRecord.kinds). Besides the tensors the step creates, a CUDA trace records where
# bitsandbytes' MatMul4Bit would hold a dequantized copy of a 4-bit weight (bitsandbytes/autograd/_functions.py
# MatMul4Bit: forward `F.linear(A, F.dequantize_4bit(B, quant_state).to(A.dtype).t(), bias)`; backward
# `torch.matmul(grad_output, F.dequantize_4bit(B, ctx.state).to(grad_output.dtype).t())`, only when A needs
# a gradient): that copy exists only for QLoRA, so it is recorded on the LoRA stand-in and kept apart by kind.
KIND_TENSOR = 0  # a storage the traced step created
KIND_DEQUANT = 1  # QLoRA: the weight dequantized to the compute dtype, alive across its matmul
# QLoRA with double quantization: dequantize_4bit first dequantizes the 8-bit absmax to an fp32 tensor of
# numel/64 values (bitsandbytes/functional.py dequantize_4bit: `absmax = dequantize_blockwise(...)`). It dies
# before the matmul; recording it alive across the matmul with the weight over-states the peak by at most
# numel/16 bytes (3 % of the dequantized weight).
KIND_DQ_ABSMAX = 2


@dataclass(frozen=True)
class LayerMarks:
    """Where each layer of one stack of identical layers (a decoder's `layers`, GPT-2's `h`, T5's two
    `block` lists) runs in the op sequence: op indices at its forward's entry and exit and at the start of
    its backward (the autograd node that produced its output is about to run). None: not seen."""

    forward_start: tuple[int | None, ...]
    forward_end: tuple[int | None, ...]
    backward_start: tuple[int | None, ...]


@dataclass(frozen=True)
class StepRecord:
    """The storages one traced step created, in order of birth."""

    births: np.ndarray  # (storages,) int: index of the op after which each storage is first alive
    deaths: np.ndarray  # (storages,) int: index of the first op after which it is gone (ops: alive to the end)
    nbytes: np.ndarray  # (storages,) int: its size at the traced shape
    grads: np.ndarray  # (storages,) bool: a parameter's .grad (kept after backward; sharded by ZeRO-2/3)
    ops: int  # ops recorded
    forward_end: int  # index of the op that produced the loss
    # (storages,) int: 1, or the multiple the kernel rounds the sequence length up to in this buffer's size
    # (kernels.py: flash backward 128, memory-efficient logsumexp 32); the size is evaluated at the rounded s
    seq_round: np.ndarray | None = None
    kinds: np.ndarray | None = None  # (storages,) int: KIND_TENSOR, KIND_DEQUANT, KIND_DQ_ABSMAX
    layers: tuple[LayerMarks, ...] = ()  # one per stack of layers, in the order their forwards start


class _Recorder:
    """A TorchDispatchMode that records the birth and death of every storage created inside it."""

    def __init__(self, known: set[int], emu=None):
        outer = self

        class Mode(TorchDispatchMode):
            @classmethod
            def _should_skip_dynamo(cls) -> bool:
                # Our __torch_dispatch__ never runs under torch.compile; PyTorch's opt-out
                # (torch/utils/_python_dispatch.py, TorchDispatchMode._should_skip_dynamo) saves a
                # torch._disable_dynamo wrapper on every op.
                return False

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                with torch._C.DisableTorchFunction():  # our bookkeeping is not traced (kernels.py's mode)
                    out = META_OPS.call(func, args, kwargs or {})
                    outer.record(out)
                return out

        self.mode = Mode()
        self.known = known  # storages that exist before the step (parameters, buffers)
        self.alive: dict[int, int] = {}  # storage key -> index in births
        self.refs: list[weakref.ref] = []
        self.births: list[int] = []
        self.deaths: list[int] = []
        self.nbytes: list[int] = []
        self.rounds: list[int] = []
        self.kinds: list[int] = []
        self.emu = emu  # the DeviceEmulation: its `seq_round` tags the buffers it allocates
        self.ops = 0

    def _free(self, key: int) -> None:
        i = self.alive.pop(key, None)
        if i is not None:
            self.deaths[i] = self.ops  # gone before the next op's entry

    def _add(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self.alive or key in self.known:
            return
        self.alive[key] = len(self.births)
        self.births.append(self.ops)
        self.deaths.append(-1)
        self.nbytes.append(storage.nbytes())
        self.rounds.append(self.emu.seq_round if self.emu is not None else 1)
        self.kinds.append(KIND_TENSOR)
        self.refs.append(weakref.ref(storage, lambda _r, k=key: self._free(k)))

    def phantoms(self, sized: list[tuple[int, int]]) -> list[int]:
        """Storages the traced code does not create but the modelled one would: (nbytes, kind) each, alive
        from the next op on until `release`."""
        out = []
        for nbytes, kind in sized:
            out.append(len(self.births))
            self.births.append(self.ops)
            self.deaths.append(-1)
            self.nbytes.append(nbytes)
            self.rounds.append(1)
            self.kinds.append(kind)
        return out

    def release(self, handles: list[int]) -> None:
        for i in handles:
            self.deaths[i] = max(self.ops, self.births[i] + 1)

    def record(self, out) -> None:
        if isinstance(out, torch.Tensor):
            self._add(out)
        elif isinstance(out, (tuple, list)):
            for t in out:
                if isinstance(t, torch.Tensor):
                    self._add(t)
                elif isinstance(t, (tuple, list)):
                    self.record(t)
        self.ops += 1


def layer_stacks(model, layers: int) -> list[torch.nn.ModuleList]:
    """The model's stacks of `layers` identical layers: ModuleLists of that length whose members share one
    class and hold parameters, outermost only (a decoder's `layers`; T5's encoder and decoder `block`)."""
    found: list[torch.nn.ModuleList] = []
    inside: set[int] = set()
    for module in model.modules():
        if id(module) in inside:
            continue
        if (
            isinstance(module, torch.nn.ModuleList)
            and len(module) == layers
            and len({type(m) for m in module}) == 1
            and any(True for _ in module[0].parameters())
        ):
            found.append(module)
            inside |= {id(m) for m in module.modules()}
    return found


class _LayerHooks:
    """Forward hooks that note where each layer's forward and backward start (LayerMarks). They read the
    op counter and register a pre-hook on the autograd node of the layer's output; they neither create nor
    keep tensors, so the traced storages are the same with or without them."""

    def __init__(self, rec: _Recorder, stacks: list[torch.nn.ModuleList]):
        self.rec = rec
        self.forward = True  # checkpointing re-runs layers inside backward: those runs are not marked
        self.marks = [[[None] * len(stack) for _ in range(3)] for stack in stacks]
        self.order: list[int] = []  # stacks in the order their first layer ran
        self.handles = []
        for si, stack in enumerate(stacks):
            for li, layer in enumerate(stack):
                self.handles.append(layer.register_forward_pre_hook(self._pre(si, li)))
                self.handles.append(layer.register_forward_hook(self._post(si, li)))

    def _pre(self, si, li):
        def hook(_module, _args):
            if self.forward and self.marks[si][0][li] is None:
                self.marks[si][0][li] = self.rec.ops
                if si not in self.order:
                    self.order.append(si)

        return hook

    def _post(self, si, li):
        def hook(_module, _args, output):
            if not self.forward or self.marks[si][1][li] is not None:
                return
            self.marks[si][1][li] = self.rec.ops
            out = output[0] if isinstance(output, (tuple, list)) and output else output
            if isinstance(out, torch.Tensor) and out.grad_fn is not None:

                def started(_grads):
                    if self.marks[si][2][li] is None:
                        self.marks[si][2][li] = self.rec.ops

                out.grad_fn.register_prehook(started)

        return hook

    def result(self) -> tuple[LayerMarks, ...]:
        for h in self.handles:
            h.remove()
        return tuple(LayerMarks(*(tuple(m) for m in self.marks[si])) for si in self.order)


def record_step(
    model, setup: TrainingSetup, b: int, s: int, *, layers: int = 0, quantized: dict[int, int] | None = None
) -> StepRecord:
    """Forward to the loss and backward of a meta-device recipe model: every storage it creates.

    layers: the model's depth, to mark where its layers run (0: no marks). quantized: id(weight) -> numel
    of the frozen Linear weights bitsandbytes would hold in 4 bits (CUDA traces: dequantize phantoms)."""
    from lora_core.memory.kernels import DeviceEmulation

    params = list(model.parameters())
    for p in params:
        p.grad = None
    known = {p.untyped_storage()._cdata for p in params}
    known |= {buf.untyped_storage()._cdata for buf in model.buffers()}
    emu = DeviceEmulation(setup.device, recipe.torch_dtype(setup.compute_dtype), setup.autocast)
    rec = _Recorder(known, emu)
    emu.recorder, emu.quantized = rec, dict(quantized or {})
    hooks = _LayerHooks(rec, layer_stacks(model, layers)) if layers else None
    input_ids = torch.zeros((b, s), dtype=torch.long, device=_META)  # (B, S)
    with emu, rec.mode:
        loss = recipe.forward_loss(model, input_ids, setup)
        emu.end_forward()
        forward_end = rec.ops - 1
        if hooks is not None:
            hooks.forward = False
        emu.backward(loss)
        del loss
    marks = hooks.result() if hooks is not None else ()
    # A freed storage's address can be reused by a later one: a gradient is the storage alive under its key.
    grads = np.zeros(len(rec.births), dtype=bool)
    for p in params:
        if p.grad is not None and (i := rec.alive.get(p.grad.untyped_storage()._cdata)) is not None:
            grads[i] = True
    for p in params:
        p.grad = None
    deaths = np.asarray(rec.deaths, dtype=np.int64)
    deaths[deaths < 0] = rec.ops
    return StepRecord(
        births=np.asarray(rec.births, dtype=np.int64),
        deaths=deaths,
        nbytes=np.asarray(rec.nbytes, dtype=np.int64),
        grads=grads,
        ops=rec.ops,
        forward_end=forward_end,
        seq_round=np.asarray(rec.rounds, dtype=np.int64),
        kinds=np.asarray(rec.kinds, dtype=np.int64),
        layers=marks,
    )


def per_op(record: StepRecord, values: np.ndarray) -> np.ndarray:
    """Sum of `values` (one row per storage, any trailing shape) over the storages alive after each op."""
    delta = np.zeros((record.ops + 1, *values.shape[1:]), dtype=values.dtype)
    np.add.at(delta, record.births, values)
    np.subtract.at(delta, record.deaths, values)
    return np.cumsum(delta[:-1], axis=0)


@dataclass(frozen=True)
class Trace:
    """Live bytes per op of one traced step (one shape, one depth)."""

    live: np.ndarray  # (ops,) bytes alive besides weights/optimizer state, after each op
    grads: np.ndarray  # (ops,) of which parameter gradients (they appear in backward and stay)
    forward_end: int  # index of the op that produced the loss


def trace_step(model, setup: TrainingSetup, b: int, s: int) -> Trace:
    """Live bytes after every op of one step at this very shape (the tests' direct reference)."""
    rec = record_step(model, setup, b, s)
    live = per_op(rec, rec.nbytes).astype(np.float64)
    grads = per_op(rec, np.where(rec.grads, rec.nbytes, 0)).astype(np.float64)
    return Trace(live=live, grads=grads, forward_end=rec.forward_end)
