"""The caching-allocator model against allocation sequences worked out by hand from the rules it cites.

Each expected number is written as the rule that produces it (lora_core/memory/allocator.py names the line
of c10/cuda/CUDACachingAllocator.cpp). Two tests replay the exact sequences of PyTorch's own CUDA tests
(test/test_cuda.py at pytorch/pytorch 000e43cd: test_allocator_settings and test_max_split_expandable), whose
numbers pass on CUDA in PyTorch's CI.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lora_core.memory.allocator_config import AllocatorConfig, KiB, MiB, allocation_size, round_size
from lora_core.memory.allocator_replay import (
    Alloc,
    EmptyCache,
    Free,
    predict_max_reserved,
    replay,
    reserved_over_steps,
)

EXPANDABLE = AllocatorConfig(expandable_segments=True)


# -- rounding, pools and segment sizes ------------------------------------------------------------------
def test_round_size():
    assert round_size(1) == 512  # kMinBlockSize
    assert round_size(512) == 512
    assert round_size(513) == 2 * 512
    assert round_size(1000) == 2 * 512
    assert round_size(10 * MiB + 1) == 10 * MiB + 512  # no 2 MiB rounding of the block, only of the segment


def test_allocation_size():
    assert allocation_size(512) == 2 * MiB  # small pool: 2 MiB segments
    assert allocation_size(1 * MiB) == 2 * MiB  # 1 MiB is still small (size <= kSmallSize)
    assert allocation_size(1 * MiB + 512) == 20 * MiB  # large, < 10 MiB: a 20 MiB segment
    assert allocation_size(10 * MiB - 512) == 20 * MiB
    assert allocation_size(10 * MiB) == 10 * MiB  # >= 10 MiB: rounded up to 2 MiB
    assert allocation_size(11 * MiB) == 12 * MiB


def test_small_request_takes_a_2mib_segment():
    r = replay([Alloc("a", 1)])
    assert r.final_allocated == 512
    assert r.final_reserved == 2 * MiB
    assert r.segments == 1


def test_small_requests_pack_into_2mib_segments():
    """Four 512 KiB tensors split one 2 MiB segment (remainders >= 512 B split in the small pool); the fifth
    needs a second segment."""
    r = replay([Alloc(i, 512 * KiB) for i in range(4)])
    assert r.final_allocated == 4 * 512 * KiB
    assert r.final_reserved == 2 * MiB
    r = replay([Alloc(i, 512 * KiB) for i in range(5)])
    assert r.final_reserved == 2 * 2 * MiB
    assert r.segments == 2


def test_small_and_large_pools_do_not_share():
    """A freed 2 MiB small segment cannot serve a 1.5 MiB (large pool) request."""
    r = replay([Alloc("s", 1 * MiB), Free("s"), Alloc("l", 3 * MiB // 2)])
    assert r.final_reserved == 2 * MiB + 20 * MiB
    assert r.final_allocated == 3 * MiB // 2


def test_large_request_splits_a_20mib_segment():
    size = round_size(1 * MiB + 1)  # 1 MiB + 512
    r = replay([Alloc("a", 1 * MiB + 1)])
    assert r.final_allocated == size
    assert r.final_reserved == 20 * MiB


def test_large_remainder_of_1mib_or_less_is_not_split():
    """19.5 MiB takes a 20 MiB segment (>= 10 MiB, rounded to 2 MiB); the 0.5 MiB left is not > kSmallSize,
    so the whole block is handed out and counted as allocated."""
    r = replay([Alloc("a", 39 * MiB // 2)])
    assert r.final_allocated == 20 * MiB
    assert r.peak_requested == 39 * MiB // 2


# -- split, reuse, merge ---------------------------------------------------------------------------------
def test_best_fit_reuse_without_split():
    """a, b split one 20 MiB segment; c (3 MiB) best-fits a's freed 4 MiB block, whose 1 MiB remainder is not
    split: c counts 4 MiB."""
    r = replay([Alloc("a", 4 * MiB), Alloc("b", 4 * MiB), Free("a"), Alloc("c", 3 * MiB)])
    assert r.final_reserved == 20 * MiB
    assert r.final_allocated == 4 * MiB + 4 * MiB


def test_free_blocks_merge_inside_a_segment():
    """a and b free back into one 20 MiB block, which then holds an 18 MiB tensor."""
    r = replay([Alloc("a", 4 * MiB), Alloc("b", 4 * MiB), Free("a"), Free("b"), Alloc("c", 18 * MiB)])
    assert r.final_reserved == 20 * MiB
    assert r.final_allocated == 18 * MiB


def test_blocks_never_merge_across_segments():
    """Two free 12 MiB segments cannot hold 24 MiB: a third segment is allocated."""
    r = replay([Alloc("a", 12 * MiB), Alloc("b", 12 * MiB), Free("a"), Free("b"), Alloc("c", 24 * MiB)])
    assert r.final_reserved == 12 * MiB + 12 * MiB + 24 * MiB
    assert r.segments == 3


def test_cached_memory_stays_reserved_until_empty_cache():
    r = replay([Alloc("a", 12 * MiB), Free("a")])
    assert (r.final_allocated, r.final_reserved) == (0, 12 * MiB)
    r = replay([Alloc("a", 12 * MiB), Alloc("b", 4 * MiB), Free("a"), EmptyCache()])
    # the 12 MiB segment is unsplit and free: released; b's 20 MiB segment is in use
    assert r.final_reserved == 20 * MiB
    assert r.peak_reserved == 12 * MiB + 20 * MiB


def test_zero_byte_tensors_allocate_nothing():
    r = replay([Alloc("empty", 0), Free("empty")])
    assert r.peak_reserved == 0


# -- max_split_size_mb and the out-of-memory path ----------------------------------------------------------
def test_oversize_blocks_are_not_split_or_reused_for_smaller_requests():
    cfg = AllocatorConfig.from_env("max_split_size_mb:40")
    r = replay([Alloc("a", 50 * MiB), Free("a"), Alloc("b", 30 * MiB)], cfg)
    assert r.final_reserved == 50 * MiB + 30 * MiB  # 30 < 40 cannot take the oversize 50 MiB block
    r = replay([Alloc("a", 50 * MiB), Free("a"), Alloc("c", 45 * MiB)], cfg)
    assert r.final_reserved == 50 * MiB  # 45 >= 40 takes it: 50 < 45 + 20 (max_non_split_rounding)
    assert r.final_allocated == 50 * MiB  # not split: the whole block is allocated
    r = replay([Alloc("a", 70 * MiB), Free("a"), Alloc("c", 45 * MiB)], cfg)
    assert r.final_reserved == 70 * MiB + 46 * MiB  # 70 >= 45 + 20: a new segment (45 rounded to 2 MiB)


def test_oom_frees_cached_segments_and_retries():
    """Capacity 100 MiB: 60 MiB does not fit beside a cached 50 MiB segment; malloc frees the cache and
    retries (num_alloc_retries = 1)."""
    for cfg in (
        AllocatorConfig(capacity=100 * MiB),
        AllocatorConfig(capacity=100 * MiB, max_split_size=40 * MiB),
    ):
        r = replay([Alloc("a", 50 * MiB), Free("a"), Alloc("b", 60 * MiB)], cfg)
        assert r.oom_event is None
        assert r.final_reserved == 60 * MiB
        assert r.alloc_retries == 1


def test_max_split_expandable_sequence_from_pytorch_ci():
    """test_cuda.py test_max_split_expandable with expandable_segments off: per-process limit 120 MiB,
    max_split_size_mb:40. Three 40 MiB tensors fill it and a fourth is out of memory; after freeing them,
    120 MiB fits because release_available_cached_blocks frees the three oversize segments first."""
    cfg = AllocatorConfig(max_split_size=40 * MiB, capacity=120 * MiB)
    r = replay([Alloc(i, 40 * MiB) for i in range(4)], cfg)
    assert r.oom_event == 3
    r = replay(
        [Alloc(i, 40 * MiB) for i in range(3)] + [Free(i) for i in range(3)] + [Alloc("big", 120 * MiB)], cfg
    )
    assert r.oom_event is None
    assert r.final_reserved == 120 * MiB
    assert r.alloc_retries == 0  # the oversize release sufficed; release_cached_blocks was not needed


# -- roundup_power2_divisions: PyTorch's own numbers ------------------------------------------------------
def power2_div(size, div_factor):
    """test_cuda.py test_allocator_settings' expected size (copied from there)."""
    pow2 = 1
    while pow2 < size:
        pow2 = pow2 * 2
    if pow2 == size:
        return pow2
    step = pow2 / 2 / div_factor
    ret = pow2 / 2
    while ret < size:
        ret = ret + step
    return ret


def test_allocator_settings_sequence_from_pytorch_ci():
    """test_cuda.py test_allocator_settings: 21 Mi floats (84 MiB) allocate exactly 84 MiB; with
    roundup_power2_divisions:4, power2_div(84 MiB, 4) = 96 MiB; with [64:8,...] (8 divisions for 64-128 MiB,
    2 for 256-512 MiB) 88 MiB, and 100 Mi floats (400 MiB) 512 MiB."""
    nbytes, nbytes_big = 4 * 21 * MiB, 4 * 100 * MiB
    assert replay([Alloc("x", nbytes)]).final_allocated == nbytes
    cfg4 = AllocatorConfig.from_env("roundup_power2_divisions:4")
    assert replay([Alloc("y", nbytes)], cfg4).final_allocated == power2_div(nbytes, 4) == 96 * MiB
    # [64:8,128:2,256:2,512:2,1024:1,>:1]: one entry per power-of-2 interval from 1 MiB
    divs = (8,) * 7 + (2, 2, 2) + (1,) * 6
    cfg = AllocatorConfig(roundup_power2_divisions=divs)
    assert replay([Alloc("w", nbytes)], cfg).final_allocated == power2_div(nbytes, 8) == 88 * MiB
    assert replay([Alloc("v", nbytes_big)], cfg).final_allocated == power2_div(nbytes_big, 2) == 512 * MiB


# -- expandable segments ---------------------------------------------------------------------------------
def test_expandable_segments_map_pages():
    """Small pool pages are 2 MiB, large pool pages 20 MiB: 4 + 4 + 30 MiB need two large pages, where
    fixed segments need a 20 MiB and a 30 MiB one."""
    events = [Alloc("s", 1), Alloc("a", 4 * MiB), Alloc("b", 4 * MiB), Alloc("c", 30 * MiB)]
    r = replay(events, EXPANDABLE)
    assert r.final_reserved == 2 * MiB + 2 * 20 * MiB
    assert r.segments == 0  # torch's segment count leaves expandable segments out
    assert replay(events).final_reserved == 2 * MiB + 20 * MiB + 30 * MiB


def test_expandable_segment_grows_into_freed_space():
    events = [Alloc("a", 30 * MiB), Free("a"), Alloc("b", 32 * MiB)]
    assert replay(events, EXPANDABLE).final_reserved == 2 * 20 * MiB
    assert replay(events).final_reserved == 30 * MiB + 32 * MiB


def test_expandable_empty_cache_unmaps_whole_free_pages():
    """a (30 MiB) and b (3 MiB) sit in two mapped 20 MiB pages; with a freed, only the first page is free
    as a whole, and only it is unmapped."""
    r = replay([Alloc("a", 30 * MiB), Alloc("b", 3 * MiB), Free("a"), EmptyCache()], EXPANDABLE)
    assert r.final_reserved == 20 * MiB
    r = replay([Alloc("a", 30 * MiB), Free("a"), EmptyCache()], EXPANDABLE)
    assert (r.final_reserved, r.segments) == (0, 0)


def test_expandable_splits_down_to_512_bytes():
    """should_split with expandable segments: remainders >= 512 B are split even in the large pool."""
    r = replay([Alloc("a", 39 * MiB // 2)], EXPANDABLE)
    assert r.final_allocated == 39 * MiB // 2


# -- steps: fragmentation, warm-up and steady state -------------------------------------------------------
def activations(seq_mib: int, step: int, n: int = 3):
    """A toy step: n activations of seq_mib MiB each (padded to the batch's longest sequence), freed."""
    return [Alloc((step, i), seq_mib * MiB) for i in range(n)] + [Free((step, i)) for i in range(n)]


def test_varying_sequence_lengths_grow_reserved():
    """Each new longest batch needs segments of a new size (12 MiB segments cannot hold 14 MiB tensors and
    never merge): 3 x 12, then + 3 x 14, then reuse, then + 3 x 16. Expandable segments grow to the
    largest step instead: ceil(3 x 16 / 20) pages."""
    seqs = [12, 14, 12, 16]
    run = reserved_over_steps(activations(s, k) for k, s in enumerate(seqs))
    assert [s.reserved_after for s in run.steps] == [
        3 * 12 * MiB,
        3 * (12 + 14) * MiB,
        3 * (12 + 14) * MiB,
        3 * (12 + 14 + 16) * MiB,
    ]
    assert [s.new_device_allocs for s in run.steps] == [3, 3, 0, 3]
    run = reserved_over_steps((activations(s, k) for k, s in enumerate(seqs)), EXPANDABLE)
    pages = [-(-3 * max(seqs[: k + 1]) // 20) for k in range(len(seqs))]
    assert [s.reserved_after for s in run.steps] == [p * 20 * MiB for p in pages]
    assert run.max_reserved == 3 * 20 * MiB


def test_predict_max_reserved_settles_after_warmup():
    """Warm-up allocates weights (kept) and the step's activations; identical steady steps reuse the cache."""
    weights = [Alloc(("w", i), 16 * MiB) for i in range(2)]
    run = predict_max_reserved(weights + activations(12, 0), activations(12, 1))
    assert run.settled
    assert len(run.steps) == 2  # warm-up + one steady step that took nothing new
    assert run.max_reserved == 2 * 16 * MiB + 3 * 12 * MiB
    assert run.max_allocated == 2 * 16 * MiB + 3 * 12 * MiB


def test_a_full_device_releases_the_cache_or_runs_out():
    """Capacity 64 MiB: the third 14 MiB tensor does not fit beside the cached 12 MiB segments; malloc frees
    them and retries, so the step ends with only 3 x 14 MiB reserved (peak 64 MiB). With 40 MiB the step
    cannot fit at all."""
    steps = [activations(12, 0), activations(14, 1)]
    run = reserved_over_steps(steps, AllocatorConfig(capacity=64 * MiB))
    assert run.oom_step is None
    assert run.steps[1].reserved_after == 3 * 14 * MiB
    assert run.max_reserved == 3 * 12 * MiB + 2 * 14 * MiB
    run = reserved_over_steps(steps, AllocatorConfig(capacity=40 * MiB))
    assert run.oom_step == 1
    assert not run.settled


# -- bad input -------------------------------------------------------------------------------------------
def test_bad_input():
    with pytest.raises(ValueError, match="not allocated"):
        replay([Free("nope")])
    with pytest.raises(ValueError, match="twice"):
        replay([Alloc("a", 1), Alloc("a", 1)])
    with pytest.raises(ValueError, match="20 MiB"):
        AllocatorConfig(max_split_size=10 * MiB)
    with pytest.raises(ValueError, match="not modelled"):
        AllocatorConfig.from_env("garbage_collection_threshold:0.5")
    with pytest.raises(ValueError, match="powers of 2"):
        AllocatorConfig(roundup_power2_divisions=3)
    assert AllocatorConfig.from_env("expandable_segments:True").expandable_segments


# -- invariants ------------------------------------------------------------------------------------------
sizes = st.one_of(st.integers(0, 2 * MiB), st.integers(2 * MiB, 80 * MiB))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(st.tuples(st.booleans(), sizes, st.integers(0, 1)), min_size=1, max_size=60),
    expandable=st.booleans(),
    split_max=st.sampled_from([None, 20 * MiB, 64 * MiB]),
)
def test_invariants(ops, expandable, split_max):
    """reserved >= allocated >= what was asked, at every event; all freed -> allocated 0; empty_cache then
    leaves nothing reserved; fixed segments are multiples of 2 MiB."""
    events, live, k = [], [], 0
    for is_free, nbytes, stream in ops:
        if is_free and live:
            events.append(Free(live.pop(nbytes % len(live))))
        else:
            events.append(Alloc(k, nbytes, stream))
            live.append(k)
            k += 1
    cfg = AllocatorConfig(expandable_segments=expandable, max_split_size=split_max)
    r = replay(events, cfg)
    assert all(res >= a >= 0 for a, res in zip(r.allocated, r.reserved, strict=True))
    assert r.peak_reserved >= r.peak_allocated >= r.peak_requested
    assert r.peak_reserved % (2 * MiB) == 0
    done = replay([*events, *(Free(i) for i in live), EmptyCache()], cfg)
    assert done.final_allocated == 0
    assert done.final_reserved == 0
    assert done.segments == 0


def _state(alloc):
    free = {k: [(size, addr) for size, addr, _ in v] for k, v in alloc._free.items() if v}
    return (alloc.allocated, alloc.reserved, alloc.requested, alloc.peak_allocated, alloc.peak_reserved,
            alloc.peak_requested, alloc.segments, alloc.device_allocs, free)  # fmt: skip


def _both(*steps):
    """The allocator's state after the steps through the general path (malloc/free per event) and through the
    coded one (code_events, run_coded: one call per step, the state carried between them)."""
    from lora_core.memory.allocator import CachingAllocator
    from lora_core.memory.allocator_coded import code_events, rounded_sizes, run_coded
    from lora_core.memory.allocator_replay import _run

    general, coded = CachingAllocator(), CachingAllocator()
    _run(general, [ev for step in steps for ev in step], {}, [], [])  # malloc/free, one call per event
    slots: dict = {}
    codes = [code_events(step, slots) for step in steps]
    live: list = [None] * len(slots)
    for code in codes:
        run_coded(coded, code, rounded_sizes(code), live)  # the inlined default-configuration path the estimate uses
    return _state(general), _state(coded)


def _events(ops):
    events, live = [], []
    for i, (pick, size, do_free) in enumerate(ops):
        if do_free and live:
            events.append(Free(live.pop(pick % len(live))))
        else:
            events.append(Alloc(i, size))
            live.append(i)
    return events


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 64 * MiB), st.booleans()), max_size=120),
    st.integers(0, 120),
)
def test_the_inlined_default_path_equals_the_general_one(ops, cut):
    events = [*_events(ops), Alloc("after", 3 * MiB), Free("after")]
    general, coded = _both(events[:cut], events[cut:])
    assert general == coded


def test_the_inlined_path_on_a_real_training_run():
    from lora_core.memory import TrainingSetup, reserve
    from lora_core.memory.events import run_events
    from lora_core.spec import LoraSpec
    from tests.memory_configs import LLAMA_GQA

    spec, setup = LoraSpec(r=4), TrainingSetup(method="lora", batch=2, seq=64)
    warmup, steady = run_events(reserve._plan(LLAMA_GQA, spec, setup), reserve.run_parts(LLAMA_GQA, spec, setup), 2, 64, 4)
    general, coded = _both(warmup, steady, steady)
    assert general == coded


def _coded_calls(monkeypatch) -> list:
    """Count the steps the coded path runs (so a test knows which path answered)."""
    from lora_core.memory import allocator_replay

    calls: list = []
    real = allocator_replay.run_coded

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(allocator_replay, "run_coded", counting)
    return calls


def test_predict_max_reserved_codes_only_what_the_inlined_path_models(monkeypatch):
    """A step with EmptyCache or a second stream, a size the coded path does not round, or a configuration
    other than the default goes through the general path; the default configuration's answer is the same
    either way."""
    from lora_core.memory import allocator_coded, allocator_replay

    calls = _coded_calls(monkeypatch)
    weights = [Alloc(("w", i), 16 * MiB) for i in range(2)]
    warmup, steady = weights + activations(12, 0), activations(12, 1)
    assert allocator_coded.code_events([EmptyCache()], {}) is None
    assert allocator_coded.code_events([Alloc("a", 1, 1)], {}) is None
    slots: dict = {}
    code = allocator_coded.code_events(warmup, slots)
    assert allocator_coded.decode(code) == [(slots[ev[0]], ev[1]) if len(ev) > 1 else (slots[ev[0]],) for ev in warmup]

    coded = predict_max_reserved(warmup, steady)
    assert len(calls) == len(coded.steps) == 2  # the warm-up and one settled steady step, both coded
    general = predict_max_reserved(warmup, [*steady, EmptyCache()])  # same bytes: the cache empties at the end
    assert coded.max_reserved == general.max_reserved == 2 * 16 * MiB + 3 * 12 * MiB
    streamed = predict_max_reserved(warmup, [Alloc(ev[0], ev[1], 1) if len(ev) > 1 else ev for ev in steady])
    assert streamed.max_reserved == coded.max_reserved + 3 * 12 * MiB  # the other stream's pool: new segments
    split = AllocatorConfig(max_split_size=64 * MiB)  # not the default: predict_coded decodes
    slots = {}
    w, s = allocator_coded.code_events(warmup, slots), allocator_coded.code_events(steady, slots)
    assert allocator_replay.predict_coded(w, s, len(slots), split) == predict_max_reserved(warmup, steady, split)
    # one-shot iterables: the general path reads what the coded one declined
    once = predict_max_reserved(iter(warmup), iter([*steady, EmptyCache()]))
    assert once == general
    assert len(calls) == 2  # none of these ran coded
    # sizes numpy's int64 would not round exactly: the general path, which rounds Python's integers
    huge = predict_max_reserved([Alloc("a", 2**63 - 1)], [])
    assert huge.max_reserved == -(-(2**63 - 1) // (2 * MiB)) * 2 * MiB
    assert len(calls) == 2


def test_the_coded_path_refuses_bad_input_by_event(monkeypatch):
    calls = _coded_calls(monkeypatch)
    with pytest.raises(ValueError, match="event 1: free of 'nope', which is not allocated"):
        predict_max_reserved([Alloc("a", 1), Free("nope")], [])
    with pytest.raises(ValueError, match="event 1: 'a' is allocated twice"):
        predict_max_reserved([Alloc("a", 0), Alloc("a", 1)], [])
    assert len(calls) == 2  # both found by the coded path
    # a negative size goes to the general path, which reports the first bad event in order
    with pytest.raises(ValueError, match="event 1: 'a' is allocated twice"):
        predict_max_reserved([Alloc("a", 1), Alloc("a", 1), Alloc("b", -5)], [])
    with pytest.raises(ValueError, match="event 1: negative size -5"):
        predict_max_reserved([Alloc("a", 1), Alloc("b", -5)], [])
    assert len(calls) == 2
