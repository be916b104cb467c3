"""Replaying a training step's allocations through the caching-allocator model (allocator.py).

A step is a sequence of events: `Alloc(id, nbytes, stream)`, `Free(id)`, `EmptyCache()` (events.py and
optimizer_step.py build them from a traced step). `replay` runs one sequence on a fresh allocator and reports,
after every event, what torch.cuda.memory_allocated() and memory_reserved() would say, and their peaks;
`reserved_over_steps` and `predict_max_reserved` run several steps on one allocator (the cache carries over),
as a training loop does; the default configuration's runs go through allocator_coded.py's fast path (integer
slots instead of ids, malloc and free inlined), for speed; tests/test_memory_allocator.py checks it against
the general path.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from lora_core.memory.allocator import CachingAllocator, OutOfMemory
from lora_core.memory.allocator_coded import Coded, code_events, decode, rounded_sizes, run_coded
from lora_core.memory.allocator_config import ROUNDUP_INTERVALS, AllocatorConfig


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
    `max_steady_steps` of them. The default configuration runs the steps coded (allocator_coded.py)."""
    warmup, steady = list(warmup), list(steady)  # each is read twice when the coded path declines
    slots: dict = {}
    warm, steps = code_events(warmup, slots), code_events(steady, slots)
    if warm is not None and steps is not None:
        run = _predict_coded(warm, steps, len(slots), config, max_steady_steps, list(slots))
        if run is not None:
            return run
    return _predict_general(warmup, steady, config, max_steady_steps)


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
    not round (allocator_coded.rounded_sizes), runs them decoded through the general path."""
    run = _predict_coded(warmup, steady, slots, config, max_steady_steps, names)
    return run if run is not None else _predict_general(decode(warmup), decode(steady), config, max_steady_steps)


def _predict_coded(
    warmup: Coded, steady: Coded, slots: int, config, max_steady_steps: int, names: Sequence | None
) -> Run | None:
    """The run through allocator_coded.run_coded; None where the coded path does not model it."""
    rounded = rounded_sizes(warmup), rounded_sizes(steady)
    if not _plain(config or AllocatorConfig()) or None in rounded:
        return None
    alloc = CachingAllocator(config)
    live: list = [None] * slots
    return _settle(
        alloc,
        lambda i: run_coded(alloc, warmup if i == 0 else steady, rounded[i > 0], live, names),
        max_steady_steps,
    )


def _predict_general(warmup: list, steady: list, config, max_steady_steps: int) -> Run:
    """The run through CachingAllocator.malloc/free, one call per event."""
    alloc, live = CachingAllocator(config), {}
    return _settle(alloc, lambda i: _run_quiet(alloc, warmup if i == 0 else steady, live), max_steady_steps)


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
