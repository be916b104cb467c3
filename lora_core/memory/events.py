"""A training step at the real depth as the allocation/free sequence the CUDA caching allocator sees.

trace.py keeps, for depths 2 and 3, every storage the traced step created: the op after which it is born, the
op before which it is gone, and its size as a polynomial in (b, s, r). Replayed in op order, these births and
deaths are the step's sequence of `Alloc`/`Free` events (allocator_replay.py). At op k the frees of storages gone
before op k come first, then the allocations of op k's outputs: an op allocates its outputs before Python can
drop its inputs, and the traced step frees nothing inside an op.

The real model has L layers. The 3-layer trace is the 2-layer one with one layer's forward and backward ops
inserted, so it holds everything the L-layer sequence needs, once live_bytes' layer marks say where each layer
runs (forward entry and exit, start of backward):

    3 layers:  head | F0 | F1 | F2 | middle | B2 | B1 | tail (B0 ...)
    L layers:  head | F0 | F1 x (L-2) | F2 | middle | B2 | B1 x (L-2) | tail

Layer 1 is the generic layer (a layer with a layer on each side); its ops run L - 2 times, as layers 1 ..
L - 2 (backward in reverse). A storage born in a layer dies relative to it: in the same layer, the next one
(its output, read by the next layer's residual add or saved by its norm) or the previous one (the gradient of
its input, read by the previous layer's backward); so a storage of copy t that died in layer 1 + k of the
3-layer trace dies in layer t + k. Storages born outside the layers (embeddings, rotary tables, the loss) keep
their place, shifted by the inserted ops; a death of theirs inside layer 0, 1 or 2 stays in layer 0, 1 or
L - 1 (the first layer, the first generic copy, the last layer). tests/test_memory_events.py compares this
with direct traces of 4- and 5-layer models, storage by storage.

Around the traced forward and backward, `run_events` adds what the trace does not create: the parameters
(and QLoRA's NF4 storage), the cuBLAS workspaces (one per thread: forward on the main thread, backward on
autograd's device thread), the optimizer states (created in the first optimizer.step()), the step's
temporaries (optimizer_step.py) and zero_grad(set_to_none=True), which frees the gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lora_core.errors import LoraLabError

if TYPE_CHECKING:  # annotations only: a process that replays plans (lora_ui.workers.replay) never imports torch
    from lora_core.memory.live_bytes import StepRecord

_OUT = -1  # no layer / no stack


class DepthError(LoraLabError):
    """The traced layers do not repeat op for op: the real depth's sequence cannot be derived."""


@dataclass(frozen=True)
class _Stack:
    """One stack's pieces of the 3-layer op sequence, as op-index ranges [start, stop)."""

    fwd: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]  # layers 0 (with gap), 1 (with gap), 2
    bwd: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]  # layers 0 (as long as 1), 1, 2


def _stacks(rec: StepRecord) -> list[_Stack]:
    if not rec.layers:
        raise DepthError("memory.depth_no_stack")
    out = []
    for marks in rec.layers:
        fs, fe, bs = marks.forward_start, marks.forward_end, marks.backward_start
        if len(fs) != 3 or any(v is None for v in (*fs, *fe, *bs)):
            raise DepthError("memory.depth_unseen")
        if fe[1] - fs[1] != fe[2] - fs[2] or not fs[0] < fs[1] < fs[2] < fe[2]:
            raise DepthError("memory.depth_forwards_differ")
        if not bs[2] < bs[1] < bs[0] or bs[1] - bs[2] != bs[0] - bs[1]:
            raise DepthError("memory.depth_backwards_differ")
        nb = bs[0] - bs[1]
        out.append(
            _Stack(
                fwd=((fs[0], fs[1]), (fs[1], fs[2]), (fs[2], fe[2])),
                bwd=((bs[0], min(bs[0] + nb, rec.ops)), (bs[1], bs[0]), (bs[2], bs[1])),
            )
        )
    return out


@dataclass(frozen=True)
class DepthPlan:
    """Where every storage of an L-layer step is born and dies, in op-order keys, and which traced storage
    it copies (its size and kind). Keys: an allocation at op k is 2k, a free after op k is 2k + 1."""

    template: np.ndarray  # (storages,) int: index into the 3-layer (or the traced) record
    alloc_key: np.ndarray  # (storages,) int
    free_key: np.ndarray  # (storages,) int; the last op's free key for storages alive to the end
    at_end: np.ndarray  # (storages,) bool: alive when backward ends (gradients, the loss)
    backward_key: int  # 2 x the first backward op: where backward's cuBLAS workspace is first needed
    end_key: int  # the free key after the last op


def _locate(stacks: list[_Stack], op: int) -> tuple[int, int, int, int]:
    """(stack, layer, direction 0 fwd / 1 bwd, offset) of the piece holding `op`; (-1, -1, -1, op) outside."""
    for si, stack in enumerate(stacks):
        for direction, pieces in ((0, stack.fwd), (1, stack.bwd)):
            for layer, (a, b) in enumerate(pieces):
                if a <= op < b:
                    return si, layer, direction, op - a
    return _OUT, _OUT, _OUT, op


def plan_depth(rec3: StepRecord, layers: int) -> DepthPlan:
    """The L-layer step's storages from the 3-layer record (see the module docstring)."""
    if layers < 3:
        raise ValueError("plan_depth builds 3 layers or more; use the 2-layer record itself")
    stacks = _stacks(rec3)
    extra = layers - 3  # generic copies beyond the traced one
    n_fwd = [stack.fwd[1][1] - stack.fwd[1][0] for stack in stacks]
    n_bwd = [stack.bwd[1][1] - stack.bwd[1][0] for stack in stacks]

    def shift(op: int) -> int:
        """Ops inserted before an op outside the layer pieces (or at a piece's start)."""
        out = 0
        for stack, nf, nb in zip(stacks, n_fwd, n_bwd, strict=True):
            if op >= stack.fwd[2][0]:
                out += extra * nf
            if op >= stack.bwd[0][0]:
                out += extra * nb
        return out

    def piece_start(si: int, layer: int, direction: int) -> int:
        """First op of layer `layer` (0 .. L-1) of stack si at depth L."""
        stack = stacks[si]
        if direction == 0:
            if layer == 0:
                a = stack.fwd[0][0]
                return a + shift(a)
            if layer == layers - 1:
                a = stack.fwd[2][0]
                return a + shift(a)
            a = stack.fwd[1][0]
            return a + shift(a) + (layer - 1) * n_fwd[si]
        if layer == 0:
            a = stack.bwd[0][0]
            return a + shift(a)
        if layer == layers - 1:
            a = stack.bwd[2][0]
            return a + shift(a)
        a = stack.bwd[1][0]
        return a + shift(a) + (layers - 2 - layer) * n_bwd[si]

    def absolute_layer(layer: int) -> int:  # a traced layer seen from outside it: first, first generic, last
        return (0, 1, layers - 1)[layer]

    ops = rec3.ops
    ops_l = ops + sum(extra * (nf + nb) for nf, nb in zip(n_fwd, n_bwd, strict=True))
    templates, allocs, frees, ends = [], [], [], []
    for i, (birth, death) in enumerate(zip(rec3.births.tolist(), rec3.deaths.tolist(), strict=True)):
        at_end = death >= ops
        bs, bl, bd, bo = _locate(stacks, birth)
        if at_end:
            d_loc = None
        else:
            d_loc = _locate(stacks, death - 1)  # freed after op death - 1
        copies = range(1, layers - 1) if bl == 1 else (None,)
        for t in copies:
            if bs == _OUT:
                b_pos = birth + shift(birth)
            else:
                b_layer = t if bl == 1 else absolute_layer(bl)
                b_pos = piece_start(bs, b_layer, bd) + bo
            if d_loc is None:
                f_pos = ops_l - 1
            else:
                ds, dl, dd, do = d_loc
                if ds == _OUT:
                    f_pos = (death - 1) + shift(death - 1)
                else:
                    if ds == bs and bl == 1:
                        target = t + dl - 1  # relative to the generic copy
                    elif ds == bs and bl == 2 and dl == 1:
                        target = layers - 2  # the last layer's storage read by the layer before it
                    else:
                        target = absolute_layer(dl)
                    if not 0 <= target < layers:
                        raise DepthError("memory.depth_outlives")
                    size = (n_fwd if dd == 0 else n_bwd)[ds]
                    if 0 < target < layers - 1 and do >= size:
                        raise DepthError("memory.depth_dies_late")
                    f_pos = piece_start(ds, target, dd) + do
            if f_pos < b_pos:
                raise DepthError("memory.depth_dies_early")
            templates.append(i)
            allocs.append(2 * b_pos)
            frees.append(2 * f_pos + 1)
            ends.append(at_end)
    backward = rec3.forward_end + 1
    return DepthPlan(
        template=np.asarray(templates, dtype=np.int64),
        alloc_key=np.asarray(allocs, dtype=np.int64),
        free_key=np.asarray(frees, dtype=np.int64),
        at_end=np.asarray(ends, dtype=bool),
        backward_key=2 * (backward + shift(backward)),
        end_key=2 * (ops_l - 1) + 1,
    )


def plan_traced(rec: StepRecord) -> DepthPlan:
    """The traced depth's own storages (no layers inserted)."""
    n = len(rec.births)
    at_end = rec.deaths >= rec.ops
    return DepthPlan(
        template=np.arange(n, dtype=np.int64),
        alloc_key=2 * rec.births.astype(np.int64),
        free_key=np.where(at_end, 2 * (rec.ops - 1) + 1, 2 * (rec.deaths.astype(np.int64) - 1) + 1),
        at_end=at_end,
        backward_key=2 * (rec.forward_end + 1),
        end_key=2 * (rec.ops - 1) + 1,
    )


# -- sizes ----------------------------------------------------------------------------------------------------
def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


@dataclass(frozen=True)
class SizeTable:
    """Each traced storage's bytes as integer polynomial coefficients over shared monomials."""

    terms: tuple[tuple[int, int, int], ...]  # (i, j, k): b^i s^j r^k
    coef: np.ndarray  # (storages, terms) int64
    seq_round: np.ndarray  # (storages,) int64

    def sizes(self, b: int, s: int, r: int) -> np.ndarray:
        """(storages,) int64 bytes at (b, s, r), each with its kernel's rounded sequence length."""
        out = np.zeros(len(self.coef), dtype=np.int64)
        for m in np.unique(self.seq_round).tolist():
            sm = _round_up(s, m)
            basis = np.array([b**i * sm**j * r**k for i, j, k in self.terms], dtype=np.int64)
            rows = self.seq_round == m
            out[rows] = self.coef[rows] @ basis
        return out


def size_table(polys: list[dict], seq_round: np.ndarray | None) -> SizeTable:
    terms = sorted({t for p in polys for t in p})
    index = {t: n for n, t in enumerate(terms)}
    coef = np.zeros((len(polys), len(terms)), dtype=np.int64)
    for row, poly in enumerate(polys):
        for t, c in poly.items():
            coef[row, index[t]] = c
    rounds = seq_round if seq_round is not None else np.ones(len(polys), dtype=np.int64)
    return SizeTable(tuple(terms), coef, np.asarray(rounds, dtype=np.int64))


# -- one step and a run -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepPlan:
    """Everything about one traced recipe at the real depth that does not depend on (b, s, r)."""

    depth: DepthPlan
    sizes: SizeTable
    grads: np.ndarray  # (storages,) bool: a parameter's gradient
    order: np.ndarray  # (2 * storages,) int: event order, allocations (< storages) and frees interleaved by key


def step_plan(steps, layers: int, held: tuple[np.ndarray, np.ndarray]) -> StepPlan:
    """The event plan of one step at depth `layers` from trace.TracedSteps (2 or 3: a traced record itself).
    held: per traced depth, which storages the recipe holds (trace._held)."""
    (rec2, rec3), (polys2, polys3) = steps.records, steps.polys
    if layers == 2:
        rec, polys, keep_rows, depth = rec2, polys2, held[0], plan_traced(rec2)
    else:
        rec, polys, keep_rows = rec3, polys3, held[1]
        depth = plan_traced(rec3) if layers == 3 else plan_depth(rec3, layers)
    keep = keep_rows[depth.template]
    depth = DepthPlan(
        template=depth.template[keep],
        alloc_key=depth.alloc_key[keep],
        free_key=depth.free_key[keep],
        at_end=depth.at_end[keep],
        backward_key=depth.backward_key,
        end_key=depth.end_key,
    )
    keys = np.concatenate([depth.alloc_key, depth.free_key])
    # stable: at one key, allocations in birth order; frees in any order (the allocator's state after a set of
    # frees does not depend on their order: neighbours merge either way)
    order = np.argsort(keys, kind="stable")
    return StepPlan(depth, size_table(polys, rec.seq_round), rec.grads[depth.template], order)


@dataclass(frozen=True)
class RunParts:
    """What `run_events` adds around the traced steps, in bytes per tensor, in allocation order."""

    params: tuple[int, ...]  # every parameter / NF4 storage on the device, in the order they are allocated
    states: tuple[int, ...]  # optimizer states, created in the first optimizer.step()
    step_temps: tuple  # optimizer_step events (Alloc/Free) of one optimizer.step()
    workspaces: tuple[int, int]  # cuBLAS workspace of the forward's and of the backward's thread


def step_events(plan: StepPlan, b: int, s: int, r: int, *, workspaces: tuple[int, int] = (0, 0)) -> list:
    """One training step's forward and backward as allocator events (tuples: (id, nbytes) allocations, (id,)
    frees); the gradients stay allocated (ids ('g', i)). Non-zero `workspaces` are created (ids 'ws0', 'ws1')
    at the first forward and the first backward allocation, as cuBLAS does on first use."""
    depth = plan.depth
    sizes = plan.sizes.sizes(b, s, r)[depth.template].tolist()
    n = len(sizes)
    grad = plan.grads.tolist()
    at_end = depth.at_end.tolist()
    alloc_key = depth.alloc_key.tolist()
    ws0, ws1 = workspaces[0] > 0, workspaces[1] > 0
    events: list = []
    append = events.append
    for idx in plan.order.tolist():
        if idx < n:
            if ws0:
                append(("ws0", workspaces[0]))
                ws0 = False
            if ws1 and alloc_key[idx] >= depth.backward_key:
                append(("ws1", workspaces[1]))
                ws1 = False
            append((("g", idx) if grad[idx] else idx, sizes[idx]))
        elif not at_end[idx - n]:
            append((idx - n,))
    if ws1:
        append(("ws1", workspaces[1]))
    events += [(i,) for i in range(n) if at_end[i] and not grad[i]]  # the loss and the like, after backward
    return events


def run_events(plan: StepPlan, parts: RunParts, b: int, s: int, r: int) -> tuple[list, list]:
    """(warm-up step, steady step) events: the warm-up allocates the parameters first and the optimizer states
    in its optimizer.step(); every step ends with the optimizer's temporaries and zero_grad(set_to_none=True),
    which frees the gradients."""
    grad, at_end = plan.grads.tolist(), plan.depth.at_end.tolist()
    zero_grad = [(("g", i),) for i in range(len(grad)) if grad[i] and at_end[i]]
    optimizer = [((("opt", ev[0]),) if len(ev) == 1 else (("opt", ev[0]), ev[1])) for ev in parts.step_temps]
    warmup = [(("p", i), n) for i, n in enumerate(parts.params)]
    warmup += step_events(plan, b, s, r, workspaces=parts.workspaces)
    warmup += [(("s", i), n) for i, n in enumerate(parts.states)]
    warmup += optimizer + zero_grad
    steady = step_events(plan, b, s, r) + optimizer + zero_grad
    return warmup, steady


def run_codes(plan: StepPlan, parts: RunParts, b: int, s: int, r: int):
    """run_events as Coded steps (allocator_coded.Coded), built with numpy instead of a tuple per event: the
    same sequence with each id as a slot (the parameters, the optimizer states, the optimizer's temporaries,
    the two workspaces, then the step's storages, a gradient in its storage's slot). Returns (warm-up,
    steady, number of slots); tests/test_memory_events.py checks it against run_events."""
    from lora_core.memory.allocator_coded import Coded

    depth = plan.depth
    n = len(depth.template)
    sizes = plan.sizes.sizes(b, s, r)[depth.template]
    n_params, n_states = len(parts.params), len(parts.states)
    opt_slot: dict = {}
    for ev in parts.step_temps:
        opt_slot.setdefault(ev[0], n_params + n_states + len(opt_slot))
    ws0 = n_params + n_states + len(opt_slot)
    ws1, first = ws0 + 1, ws0 + 2  # the step's storage i is slot first + i

    order = plan.order
    is_alloc = order < n
    idx = np.where(is_alloc, order, order - n)
    kept = is_alloc | ~depth.at_end[idx]
    is_alloc, idx = is_alloc[kept], idx[kept]
    ops = np.where(is_alloc, first + idx, ~(first + idx))
    nbytes = np.where(is_alloc, sizes[idx], 0)
    gone = np.flatnonzero(depth.at_end & ~plan.grads)  # the loss and the like, after backward
    zero_grad = np.flatnonzero(plan.grads & depth.at_end)
    optimizer = [
        (opt_slot[ev[0]], ev[1]) if len(ev) > 1 else (~opt_slot[ev[0]], 0) for ev in parts.step_temps
    ]

    def step(ops: np.ndarray, nbytes: np.ndarray, before: list, after: list) -> Coded:
        o = [op for op, _ in before] + ops.tolist() + (~(first + gone)).tolist()
        o += [op for op, _ in after] + [op for op, _ in optimizer] + (~(first + zero_grad)).tolist()
        nb = [x for _, x in before] + nbytes.tolist() + [0] * len(gone)
        nb += [x for _, x in after] + [x for _, x in optimizer] + [0] * len(zero_grad)
        return Coded(o, nb)

    # the warm-up's workspaces: cuBLAS's forward one before the step's first allocation, the backward one
    # before its first allocation at or after the backward's start (at the step's end if none is)
    w_ops, w_bytes = ops, nbytes
    spots, slots, sizes_ws = [], [], []
    allocs = np.flatnonzero(is_alloc)
    if parts.workspaces[0] > 0 and len(allocs):
        spots.append(int(allocs[0]))
        slots.append(ws0)
        sizes_ws.append(parts.workspaces[0])
    if parts.workspaces[1] > 0:
        late = allocs[depth.alloc_key[idx[allocs]] >= depth.backward_key]
        spots.append(int(late[0]) if len(late) else len(ops))
        slots.append(ws1)
        sizes_ws.append(parts.workspaces[1])
    if spots:
        w_ops = np.insert(ops, spots, slots)
        w_bytes = np.insert(nbytes, spots, sizes_ws)
    params = [(i, size) for i, size in enumerate(parts.params)]
    states = [(n_params + i, size) for i, size in enumerate(parts.states)]
    warmup = step(w_ops, w_bytes, params, states)
    steady = step(ops, nbytes, [], [])
    return warmup, steady, first + n
