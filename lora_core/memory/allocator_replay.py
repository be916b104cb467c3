"""Replaying a training step's allocations through the caching-allocator model (allocator.py).

A step is a sequence of events: `Alloc(id, nbytes, stream)`, `Free(id)`, `EmptyCache()` (events.py and
optimizer_step.py build them from a traced step). `replay` runs one sequence on a fresh allocator and reports,
after every event, what torch.cuda.memory_allocated() and memory_reserved() would say, and their peaks;
`reserved_over_steps` and `predict_max_reserved` run several steps on one allocator (the cache carries over),
as a training loop does. `_run_coded` is the default configuration's malloc and free inlined over integer-coded
steps (`Coded`: slots instead of ids, sizes rounded once per op), for speed; tests/test_memory_allocator.py
checks it against the general path.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from lora_core.memory.allocator import Block, CachingAllocator, OutOfMemory, Segment
from lora_core.memory.allocator_config import (
    MIN_BLOCK_SIZE,
    MIN_LARGE_ALLOC,
    ROUND_LARGE,
    ROUNDUP_INTERVALS,
    SMALL_BUFFER,
    SMALL_SIZE,
    AllocatorConfig,
)


class Alloc(NamedTuple):
    """A tensor storage of `nbytes` allocated on `stream` (torch.empty(nbytes, dtype=uint8))."""

    id: Hashable
    nbytes: int
    stream: int = 0


class Free(NamedTuple):
    """The storage allocated as `id` is freed."""

    id: Hashable


class EmptyCache(NamedTuple):
    """torch.cuda.empty_cache(): every cached unsplit segment goes back to CUDA (cpp:2144-2148)."""


Event = Alloc | Free | EmptyCache


@dataclass(frozen=True)
class Replay:
    """Statistics of one replay, as torch.cuda reports them."""

    allocated: tuple[int, ...]  # memory_allocated() after each event
    reserved: tuple[int, ...]  # memory_reserved() after each event
    peak_allocated: int  # max_memory_allocated()
    peak_reserved: int  # max_memory_reserved()
    peak_requested: int  # peak of the unrounded live bytes ("requested_bytes.all.peak")
    segments: int  # cudaMalloc segments alive at the end ("segment.all.current"; not expandable ones)
    device_allocs: int  # cudaMalloc calls and page mappings ("num_device_alloc")
    alloc_retries: int  # "num_alloc_retries": malloc freed the whole cache and retried
    oom_event: int | None  # index of the event that ran out of memory (the replay stops there)

    @property
    def final_allocated(self) -> int:
        return self.allocated[-1] if self.allocated else 0

    @property
    def final_reserved(self) -> int:
        return self.reserved[-1] if self.reserved else 0


def _run(alloc: CachingAllocator, events: Iterable, live: dict, allocated: list, reserved: list) -> int | None:
    """Apply events; append the statistics after each. Returns the index of an out-of-memory event, or None."""
    malloc, free = alloc.malloc, alloc.free
    add_a, add_r = allocated.append, reserved.append
    for index, ev in enumerate(events):
        n = len(ev)
        if n == 1:  # Free(id)
            try:
                free(live.pop(ev[0]))
            except KeyError:
                raise ValueError(f"event {index}: free of {ev[0]!r}, which is not allocated") from None
        elif n == 0:  # EmptyCache()
            alloc.empty_cache()
        else:  # Alloc(id, nbytes, stream)
            if ev[0] in live:
                raise ValueError(f"event {index}: {ev[0]!r} is allocated twice")
            if ev[1] < 0:
                raise ValueError(f"event {index}: negative size {ev[1]}")
            try:
                live[ev[0]] = malloc(ev[1], ev[2] if n > 2 else 0)
            except OutOfMemory:
                return index
        add_a(alloc.allocated)
        add_r(alloc.reserved)
    return None


def _plain(config: AllocatorConfig) -> bool:
    """The default configuration: no expandable segments, no max_split_size, no capacity, no power-2 rounding."""
    divs = config.roundup_power2_divisions
    return (
        not config.expandable_segments
        and config.max_split_size is None
        and config.capacity is None
        and (divs == 0 or divs == (0,) * ROUNDUP_INTERVALS)
    )


_SMALL_POOL, _LARGE_POOL = (True, 0), (False, 0)  # the pools (small, stream) of stream 0, allocator.py's keys


@dataclass(frozen=True)
class Coded:
    """One step's events as the default configuration's fast path takes them: `ops` (slot >= 0 allocates
    that slot, ~slot frees it; a slot is one storage, reused from step to step) and each op's bytes (0 for a
    free). Only stream 0, no EmptyCache: code_events returns None for steps that have those."""

    ops: list
    nbytes: list


def code_events(events: Iterable, slots: dict) -> Coded | None:
    """`events` as a Coded step; `slots` maps each id to its slot and carries over between the steps of a run
    (a new id takes the next slot). None when an event is EmptyCache or on another stream than 0."""
    ops: list[int] = []
    nbytes: list[int] = []
    add_op, add_bytes = ops.append, nbytes.append
    get = slots.get
    for ev in events:
        n = len(ev)
        if n == 0 or (n > 2 and ev[2] != 0):
            return None
        slot = get(ev[0])
        if slot is None:
            slot = slots[ev[0]] = len(slots)
        if n == 1:
            add_op(~slot)
            add_bytes(0)
        else:
            add_op(slot)
            add_bytes(ev[1])
    return Coded(ops, nbytes)


def decode(step: Coded) -> list:
    """A Coded step as events (ids are the slots), for the general path."""
    return [(op, nb) if op >= 0 else (~op,) for op, nb in zip(step.ops, step.nbytes, strict=True)]


_CODED_MAX = 1 << 62  # sizes the coded path rounds in int64 without overflow (numpy's int64; our own bound)


def _rounded(step: Coded) -> list | None:
    """Each op's round_size of the default configuration (cpp:2585-2597), 0 for 0 bytes and for frees. None
    when a size is negative, not an integer, or too large for int64 arithmetic: the general path then runs
    the step, and raises (or rounds) at the event, in order, as it always has."""
    nb = np.asarray(step.nbytes)
    if len(nb) and (nb.dtype.kind not in "iu" or nb.min() < 0 or nb.max() >= _CODED_MAX):
        return None
    nb = nb.astype(np.int64, copy=False)
    size = np.maximum(-(-nb // MIN_BLOCK_SIZE) * MIN_BLOCK_SIZE, MIN_BLOCK_SIZE)
    size[nb == 0] = 0
    return size.tolist()


def _run_coded(alloc: CachingAllocator, step: Coded, rounded: list, live: list, names: Sequence | None = None) -> None:
    """_run_quiet for the default configuration on a Coded step, malloc and free inlined: the same rules as
    CachingAllocator.malloc/free (round_size, get_pool, get_allocation_size, best fit, should_split,
    free_block's merges) without the branches the default configuration never takes. `live[slot]` is the
    slot's block (None: not allocated; False: a 0-byte allocation, which has no block). `names[slot]` names a
    slot in error messages. Speed only: the estimate replays ~10^5 events for an 80-layer model;
    tests/test_memory_allocator.py checks it against the general path."""
    large_segment = alloc.config.large_segment_size
    free_lists = alloc._free
    small_list = free_lists.setdefault(_SMALL_POOL, [])
    large_list = free_lists.setdefault(_LARGE_POOL, [])
    allocated, requested = alloc.allocated, alloc.requested
    peak_a, peak_q = alloc.peak_allocated, alloc.peak_requested
    reserved, peak_r = alloc.reserved, alloc.peak_reserved
    segments, device_allocs = alloc.segments, alloc.device_allocs
    new_address = alloc._new_address
    spare: list = []  # blocks a merge absorbed, reused by later splits (a new Block costs more than its fields)
    nbytes = step.nbytes
    for index, op in enumerate(step.ops):
        if op < 0:  # free -> free_block -> try_merge_blocks (prev, then next) -> cache
            block = live[~op]
            if block is None:
                name = names[~op] if names is not None else ~op
                raise ValueError(f"event {index}: free of {name!r}, which is not allocated")
            live[~op] = None
            if block is False:
                continue
            allocated -= block.size
            requested -= block.requested
            block.allocated = False
            blocks = small_list if block.seg.key[0] else large_list
            prev = block.prev
            if prev is not None and not prev.allocated:
                del blocks[bisect_left(blocks, (prev.size, prev.addr))]
                block.addr = prev.addr
                block.size += prev.size
                block.prev = before = prev.prev
                if before is not None:
                    before.next = block
                spare.append(prev)
            nxt = block.next
            if nxt is not None and not nxt.allocated:
                del blocks[bisect_left(blocks, (nxt.size, nxt.addr))]
                block.size += nxt.size
                block.next = after = nxt.next
                if after is not None:
                    after.prev = block
                spare.append(nxt)
            insort(blocks, (block.size, block.addr, block))
            continue
        if live[op] is not None:
            name = names[op] if names is not None else op
            raise ValueError(f"event {index}: {name!r} is allocated twice")
        size = rounded[index]
        if not size:
            live[op] = False
            continue
        small = size <= SMALL_SIZE
        blocks = small_list if small else large_list
        i = bisect_left(blocks, (size, -1))
        if i < len(blocks):  # best fit
            block = blocks[i][2]
            del blocks[i]
        else:  # alloc_block: a new segment of get_allocation_size
            if small:
                seg_size = SMALL_BUFFER
            elif size < MIN_LARGE_ALLOC:
                seg_size = large_segment
            else:
                seg_size = -(-size // ROUND_LARGE) * ROUND_LARGE
            seg = Segment(new_address(seg_size), seg_size, _SMALL_POOL if small else _LARGE_POOL, False, seg_size)
            segments += 1
            device_allocs += 1
            reserved += seg_size
            if reserved > peak_r:
                peak_r = reserved
            block = Block(seg.base, seg_size, seg)
        remaining = block.size - size
        if remaining >= MIN_BLOCK_SIZE if small else remaining > SMALL_SIZE:  # should_split
            if spare:
                head = spare.pop()
                head.addr, head.size, head.seg = block.addr, size, block.seg
            else:
                head = Block(block.addr, size, block.seg)
            head.prev = before = block.prev
            head.next = block
            if before is not None:
                before.next = head
            block.prev = head
            block.addr += size
            block.size = remaining
            insort(blocks, (remaining, block.addr, block))
            block = head
        nb = nbytes[index]
        block.allocated = True
        block.requested = nb
        allocated += block.size
        requested += nb
        if allocated > peak_a:
            peak_a = allocated
        if requested > peak_q:
            peak_q = requested
        live[op] = block
    alloc.allocated, alloc.requested, alloc.peak_allocated, alloc.peak_requested = allocated, requested, peak_a, peak_q
    alloc.reserved, alloc.peak_reserved, alloc.segments, alloc.device_allocs = reserved, peak_r, segments, device_allocs


def _run_quiet(alloc: CachingAllocator, events: Iterable, live: dict) -> int | None:
    """_run without the per-event statistics (the peaks are kept by the allocator itself)."""
    malloc, free, pop = alloc.malloc, alloc.free, live.pop
    for index, ev in enumerate(events):
        n = len(ev)
        if n == 1:
            try:
                free(pop(ev[0]))
            except KeyError:
                raise ValueError(f"event {index}: free of {ev[0]!r}, which is not allocated") from None
        elif n == 0:
            alloc.empty_cache()
        else:
            if ev[0] in live:
                raise ValueError(f"event {index}: {ev[0]!r} is allocated twice")
            if ev[1] < 0:
                raise ValueError(f"event {index}: negative size {ev[1]}")
            try:
                live[ev[0]] = malloc(ev[1], ev[2] if n > 2 else 0)
            except OutOfMemory:
                return index
    return None


def replay(events: Iterable[Event], config: AllocatorConfig | None = None) -> Replay:
    """Replay `events` on a fresh allocator (a process that has not touched CUDA memory yet)."""
    alloc = CachingAllocator(config)
    allocated: list[int] = []
    reserved: list[int] = []
    oom = _run(alloc, events, {}, allocated, reserved)
    return Replay(
        allocated=tuple(allocated),
        reserved=tuple(reserved),
        peak_allocated=alloc.peak_allocated,
        peak_reserved=alloc.peak_reserved,
        peak_requested=alloc.peak_requested,
        segments=alloc.segments,
        device_allocs=alloc.device_allocs,
        alloc_retries=alloc.alloc_retries,
        oom_event=oom,
    )


@dataclass(frozen=True)
class StepStats:
    """One step of a run, with the peaks reset at its start (torch.cuda.reset_peak_memory_stats())."""

    peak_allocated: int
    peak_reserved: int
    reserved_after: int  # memory_reserved() when the step ends
    new_device_allocs: int  # cudaMalloc calls / page mappings during the step: 0 once the cache has settled


@dataclass(frozen=True)
class Run:
    """A run of training steps on one allocator: what max_memory_reserved() would say over all of it."""

    steps: tuple[StepStats, ...]
    max_allocated: int  # max_memory_allocated() over the run
    max_reserved: int  # max_memory_reserved() over the run
    oom_step: int | None  # the step that ran out of memory (the run stops there)

    @property
    def settled(self) -> bool:
        """The last step took no new memory from CUDA: later identical steps reuse the cache."""
        return bool(self.steps) and self.oom_step is None and self.steps[-1].new_device_allocs == 0


def reserved_over_steps(steps: Iterable[Sequence[Event]], config: AllocatorConfig | None = None) -> Run:
    """Replay the steps one after the other on one allocator (ids still allocated carry over between steps:
    weights, optimizer states). E.g. `reserved_over_steps(step_events(s) for s in seq_lens)` shows how the
    reserved memory grows when each batch is padded to a different length."""
    alloc = CachingAllocator(config)
    live: dict = {}
    stats: list[StepStats] = []
    max_alloc = max_res = 0
    oom_step = None
    for i, events in enumerate(steps):
        alloc.reset_peak()
        before = alloc.device_allocs
        a: list[int] = []
        r: list[int] = []
        oom = _run(alloc, events, live, a, r)
        stats.append(
            StepStats(alloc.peak_allocated, alloc.peak_reserved, alloc.reserved, alloc.device_allocs - before)
        )
        max_alloc, max_res = max(max_alloc, alloc.peak_allocated), max(max_res, alloc.peak_reserved)
        if oom is not None:
            oom_step = i
            break
    return Run(steps=tuple(stats), max_allocated=max_alloc, max_reserved=max_res, oom_step=oom_step)


def predict_max_reserved(
    warmup: Sequence[Event],
    steady: Sequence[Event],
    config: AllocatorConfig | None = None,
    max_steady_steps: int = 8,
) -> Run:
    """max_memory_reserved() of a run: one warm-up step (which also allocates the optimizer states), then
    identical steady-state steps until one of them takes no new memory from CUDA (`Run.settled`), at most
    `max_steady_steps` of them. The default configuration runs the steps coded (code_events, _run_coded)."""
    warmup, steady = list(warmup), list(steady)  # each is read twice when the coded path declines
    if _plain(config or AllocatorConfig()):
        slots: dict = {}
        warm, steps = code_events(warmup, slots), code_events(steady, slots)
        if warm is not None and steps is not None:
            rounded = _rounded(warm), _rounded(steps)
            if None not in rounded:
                return _predict_coded(warm, steps, rounded, len(slots), config, max_steady_steps, list(slots))
    alloc = CachingAllocator(config)
    live: dict = {}
    return _settle(alloc, lambda i: _run_quiet(alloc, warmup if i == 0 else steady, live), max_steady_steps)


def predict_coded(
    warmup: Coded,
    steady: Coded,
    slots: int,
    config: AllocatorConfig | None = None,
    max_steady_steps: int = 8,
    *,
    names: Sequence | None = None,
) -> Run:
    """predict_max_reserved of Coded steps over `slots` slots (events.run_codes builds them from a step plan
    without making a tuple per event). A configuration other than the default, or a size the coded path does
    not round (_rounded), runs them decoded through the general path."""
    rounded = _rounded(warmup), _rounded(steady)
    if not _plain(config or AllocatorConfig()) or None in rounded:
        alloc = CachingAllocator(config)
        warm, steps, live = decode(warmup), decode(steady), {}
        return _settle(alloc, lambda i: _run_quiet(alloc, warm if i == 0 else steps, live), max_steady_steps)
    return _predict_coded(warmup, steady, rounded, slots, config, max_steady_steps, names)


def _predict_coded(warmup, steady, rounded, slots: int, config, max_steady_steps: int, names) -> Run:
    alloc = CachingAllocator(config)
    live: list = [None] * slots
    return _settle(
        alloc,
        lambda i: _run_coded(alloc, warmup if i == 0 else steady, rounded[i > 0], live, names),
        max_steady_steps,
    )


def _settle(alloc: CachingAllocator, run_step, max_steady_steps: int) -> Run:
    """Step 0 (the warm-up), then steady steps until one takes no new memory from CUDA; `run_step(i)` applies
    step i to `alloc` and returns the index of an out-of-memory event or None."""
    stats: list[StepStats] = []
    max_alloc = max_res = 0
    for i in range(1 + max_steady_steps):
        alloc.reset_peak()
        before = alloc.device_allocs
        oom = run_step(i)
        step = StepStats(
            alloc.peak_allocated, alloc.peak_reserved, alloc.reserved, alloc.device_allocs - before
        )
        stats.append(step)
        max_alloc, max_res = max(max_alloc, alloc.peak_allocated), max(max_res, alloc.peak_reserved)
        if oom is not None:
            return Run(tuple(stats), max_alloc, max_res, oom_step=i)
        if i > 0 and step.new_device_allocs == 0:
            break
    return Run(tuple(stats), max_alloc, max_res, oom_step=None)
