"""Time the meta-device build, the inventory and count_params for the big presets.

    python benchmarks/bench_params.py

Prints seconds and the ratio to GPT-2 small measured in the same process (the baseline), so the figures
compare across machines. Each number is the best of 3 with the caches cleared in between.
"""

from __future__ import annotations

import time

from lora_core import arch
from lora_core.params import count_params
from lora_core.presets import load_preset
from lora_core.spec import LoraSpec

PRESETS = ("gpt2", "llama-2-7b", "llama-2-70b", "llama-3-70b", "mixtral-8x7b", "gpt3-175b")


def best_of(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        arch._cached_model.cache_clear()
        arch._cached_inventory.cache_clear()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    import transformers  # noqa: F401  (import time is not what we measure)

    spec = LoraSpec(r=16, target_modules="all-linear")
    rows = []
    for name in PRESETS:
        cfg = load_preset(name)
        build = best_of(lambda cfg=cfg: arch._cached_model(arch.canonical_json(cfg)))
        inv = best_of(lambda cfg=cfg: arch.inventory(cfg))
        count = best_of(lambda cfg=cfg: count_params(cfg, spec))
        rows.append((name, build, inv, count))
    base = rows[0]
    print(f"{'preset':14s} {'build s':>8s} {'+inventory s':>13s} {'+count s':>9s} {'count / gpt2':>13s}")
    for name, build, inv, count in rows:
        print(f"{name:14s} {build:8.3f} {inv:13.3f} {count:9.3f} {count / base[3]:13.1f}")


if __name__ == "__main__":
    main()
