"""Speed of the caching-allocator model (lora_core/memory/allocator.py, allocator_replay.py) on ~10^4 events.

    python benchmarks/allocator_replay.py

The events are a synthetic training step of a 32-layer transformer (activations of a few MiB to tens of
MiB, small tensors of a few KiB, everything of the step freed in reverse), 10,000+ events. Reported: the best
of 5 replays in ms, the cost per event in microseconds, and the ratio to a baseline measured in the same
process: a plain Python loop over the same events that only keeps a dict of live sizes (the least any replay
must do). Ratios travel between machines better than milliseconds; the machine may be shared.
"""

from __future__ import annotations

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


def main() -> None:
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


if __name__ == "__main__":
    main()
