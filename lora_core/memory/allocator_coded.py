"""The caching-allocator replay's fast path: the default configuration's malloc and free inlined over
integer-coded steps.

A `Coded` step is a list of ops (slot >= 0 allocates that slot, ~slot frees it) and each op's bytes, instead
of a tuple per event with a hashable id: events.run_codes builds one from a step plan with numpy, and
code_events from `Alloc`/`Free` events. `run_coded` applies one step to a CachingAllocator (allocator.py) by
the same rules as its malloc/free, without the branches the default configuration never takes; sizes are
rounded once per step (`rounded_sizes`). allocator_replay.py runs whole runs through it, and through the
general path whatever it does not model; tests/test_memory_allocator.py checks the two agree.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lora_core.memory.allocator import Block, CachingAllocator, Segment
from lora_core.memory.allocator_config import (
    MIN_BLOCK_SIZE,
    MIN_LARGE_ALLOC,
    ROUND_LARGE,
    SMALL_BUFFER,
    SMALL_SIZE,
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


def rounded_sizes(step: Coded) -> list | None:
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


def run_coded(alloc: CachingAllocator, step: Coded, rounded: list, live: list, names: Sequence | None = None) -> None:
    """allocator_replay._run_quiet for the default configuration on a Coded step, malloc and free inlined: the same rules as
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
