"""Speed of the caching-allocator model (lora_core/memory/allocator.py, allocator_replay.py) on ~10^4 events.

    python benchmarks/allocator_replay.py [--preset llama-3-70b --preset gpt3-175b ...]

The events are a synthetic training step of a 32-layer transformer (activations of a few MiB to tens of
MiB, small tensors of a few KiB, everything of the step freed in reverse), 10,000+ events. Reported: the best
of 5 replays in ms, the cost per event in microseconds, and the ratio to a baseline measured in the same
process: a plain Python loop over the same events that only keeps a dict of live sizes (the least any replay
must do). Ratios travel between machines better than milliseconds; the machine may be shared.

Then, per preset, the replay a Memory change sends a worker (lora_ui/workers/replay.py) when it leaves the
precomputed grid: the page's first view at rank 32. `reserve.replay_job` (run_codes and the coded path,
allocator_coded.run_coded) against the general path on the same run in the same process (run_events' tuples
through CachingAllocator.malloc/free, one call per event), best of 5 each, alternating.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lora_core.memory.allocator_config import AllocatorConfig, MiB
from lora_core.memory.allocator_replay import Alloc, Free, replay


def step_events(layers: int = 32, seq: int = 512, seed: int = 0) -> list:
    rng = random.Random(seed)
    events, live = [], []
    for layer in range(layers):
        for k in range(160):  # saved activations and small temporaries of one layer
            size = rng.choice([seq * 4096 * 2, seq * 11008 * 2, seq * 32, rng.randint(1, 64 * 1024)])
            name = (layer, k)
            events.append(Alloc(name, size))
            if rng.random() < 0.6:
                events.append(Free(name))
            else:
                live.append(name)
    events += [Free(name) for name in reversed(live)]
    return events


def baseline(events) -> None:
    sizes: dict = {}
    for ev in events:
        if len(ev) == 1:
            sizes.pop(ev[0])
        else:
            sizes[ev[0]] = ev[1]


def best_of(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def preset_rows(names: list[str], rank: int = 32) -> None:
    from lora_core.memory import reserve
    from lora_core.memory.allocator_replay import CachingAllocator, _run_quiet, _settle
    from lora_core.memory.events import run_events
    from lora_core.presets import load_preset
    from lora_ui.memory_inputs import DEFAULT_TARGETS, default_setup, memory_spec

    def general(job) -> object:
        warmup, steady = run_events(job.plan, job.parts, job.batch, job.seq, job.r)
        alloc, live = CachingAllocator(job.allocator), {}
        return _settle(alloc, lambda i: _run_quiet(alloc, warmup if i == 0 else steady, live), 8)

    for name in names:
        job = reserve.find(load_preset(name), memory_spec(DEFAULT_TARGETS, rank), default_setup())
        if not isinstance(job, reserve.ReplayJob):
            print(f"{name}: known without a replay (the grid or this process's cache)")
            continue
        warmup, steady = run_events(job.plan, job.parts, job.batch, job.seq, job.r)
        answer, run = reserve.replay_job(job), general(job)
        assert answer.reserved == run.max_reserved, "the coded path and the general one disagree"
        coded, slow = [], []
        for _ in range(5):
            coded.append(best_of(lambda job=job: reserve.replay_job(job), 1))
            slow.append(best_of(lambda job=job: general(job), 1))
        events = len(warmup) + (len(run.steps) - 1) * len(steady)
        print(
            f"{name:14s} rank {rank}: {events} events in {len(run.steps)} steps; replay_job {min(coded) * 1e3:6.1f} ms"
            f" ({min(coded) / events * 1e6:.2f} us/event), general path {min(slow) * 1e3:6.1f} ms:"
            f" x{min(slow) / min(coded):.2f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", action="append", help="a preset whose off-grid replay to time (repeatable)")
    args = ap.parse_args()
    events = step_events()
    base = best_of(lambda: baseline(events))
    print(f"{len(events)} events; baseline loop {base * 1e3:.2f} ms")
    configs = {
        "default": AllocatorConfig(),
        "expandable_segments": AllocatorConfig(expandable_segments=True),
        "max_split_size_mb:128": AllocatorConfig(max_split_size=128 * MiB),
        "capacity 4 GiB (OOM path)": AllocatorConfig(capacity=4096 * MiB),
    }
    for name, cfg in configs.items():
        t = best_of(lambda cfg=cfg: replay(events, cfg))
        r = replay(events, cfg)
        print(
            f"{name:28s} {t * 1e3:7.1f} ms  {t / len(events) * 1e6:5.2f} us/event  x{t / base:5.1f} baseline"
            f"  (peak allocated {r.peak_allocated / MiB:.0f} MiB, reserved {r.peak_reserved / MiB:.0f} MiB)"
        )
    preset_rows(args.preset or ["llama-3.2-1b", "llama-3-8b", "llama-3-70b", "gpt3-175b"])


if __name__ == "__main__":
    main()
