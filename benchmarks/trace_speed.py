#!/usr/bin/env python
"""How much the meta-op output cache (lora_core/memory/live_bytes.py `_MetaOps`) saves a trace, in one process.

For each recipe, `trace.build_traced_steps` (both traced depths, what a Memory page change waits for) runs
REPS times with every functional meta op computed by PyTorch's meta kernels (the cache bypassed), then REPS
times with the cache as a trace finds it once the recipe's ops have been seen (a warm worker, or the second
visitor). Reported: the median seconds of each and their ratio.

    python benchmarks/trace_speed.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPS = 3
RECIPES = [  # (preset, targets, DoRA, method, precision)
    ("llama-3-8b", "all-linear", False, "lora", "bf16"),
    ("llama-3-8b", "all-linear", True, "lora", "bf16"),
    ("qwen2.5-7b", "all-linear", True, "qlora", "amp-bf16"),
    ("t5-base", "all-linear", False, "lora", "bf16"),
]


def main() -> int:
    import torch

    torch.set_num_threads(1)
    from lora_core.memory import live_bytes, trace
    from lora_core.presets import load_preset
    from lora_ui.memory_inputs import default_setup, memory_spec

    def timed(config, spec, setup) -> float:
        t0 = time.perf_counter()
        trace.build_traced_steps(config, spec, setup)
        return time.perf_counter() - t0

    cached = live_bytes.META_OPS.call
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, torch {torch.__version__}, 1 thread, median of {REPS} (s):")
    print("| recipe | meta kernels every time | cache warm | ratio |\n|---|---:|---:|---:|")
    for preset, targets, dora, method, precision in RECIPES:
        config = load_preset(preset)
        setup = default_setup().replace(method=method, precision=precision)
        spec = setup.adapter_spec(memory_spec(targets, 16, dora))
        live_bytes.META_OPS.call = lambda func, args, kwargs: func(*args, **kwargs)  # bypassed
        plain = statistics.median(timed(config, spec, setup) for _ in range(REPS))
        live_bytes.META_OPS.call = cached
        timed(config, spec, setup)  # the recipe's ops seen once
        warm = statistics.median(timed(config, spec, setup) for _ in range(REPS))
        name = f"{preset} {method} {precision}{' DoRA' if dora else ''}"
        print(f"| {name} | {plain:.3f} | {warm:.3f} | {plain / warm:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
