#!/usr/bin/env python
"""A Memory change to a recipe nobody has traced yet, as the page runs it, with its replay built and run in the
page's process or carried by the trace job (lora_core/memory/trace_jobs.py `TraceJob.replay`).

Both ways run in the same process, with the same two trace and two replay workers (lora_ui.workers), on
presets and recipes the precomputed archive does not hold (DoRA, bias, both; every preset below 48 layers):
1. "replay in the page": the trace workers trace; then the page builds the chosen method's step plan
   (reserve.find) and sends it to a replay worker (ReplayRunner.prefetch), computes the fast path of the three
   methods (compare_methods) and waits for the replay (estimate_memory);
2. "replay with the trace" (the page now): the trace job carries the chosen setup; the worker hands the traces
   over, then replays it while the page computes the fast path, and the page waits for that answer.
Each recipe is asked for both ways, one after the other, with this process's caches emptied in between (the
server's: traced steps, parameter lists, step plans, replays), in alternating order (a worker's meta-op cache
makes a recipe's second trace cheaper: each way comes second on half the recipes). Reported per way: the wall
time of the change (median, p95, max) and the CPU the page's own thread spent on it (`time.thread_time`: the
interpreter time every other visitor of that server waits for).

    python benchmarks/trace_then_replay.py [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PRESETS = [
    "llama-2-7b", "llama-2-13b", "llama-3-8b", "llama-3.2-1b", "mistral-7b", "qwen2.5-0.5b", "qwen2.5-7b",
    "gemma-7b", "phi-3-mini", "gpt2", "t5-base",
]  # fmt: skip
RECIPES = [{"dora": True}, {"bias": "all"}, {"dora": True, "bias": "all"}, {"bias": "lora_only"}]
WAYS = ("replay in the page", "replay with the trace")
WARM_UP = "gemma-2b"  # not timed (below)


def forget() -> None:
    """Empty what this process keeps of traces and replays (the workers keep their own)."""
    from lora_core.memory import parameters, reserve, trace

    trace.clear_cache()
    parameters._BUILT.clear()
    parameters._GIVEN.clear()
    parameters.base_param_infos.cache_clear()
    reserve._PLANS.clear()
    reserve._REPLAYS.clear()


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the rows and the summary here")
    args = ap.parse_args(argv)

    from lora_core.memory import estimate_memory
    from lora_core.memory.series import compare_methods, compared_methods
    from lora_core.presets import load_preset
    from lora_ui.memory_inputs import DEFAULT_RANK, DEFAULT_TARGETS, default_setup, memory_spec
    from lora_ui.workers.replay import ReplayRunner
    from lora_ui.workers.trace import TraceRunner

    tracer, replays = TraceRunner(), ReplayRunner()
    tracer.warm()
    replays.warm()
    while tracer.workers < tracer.max_workers or replays.workers < replays.max_workers:
        time.sleep(0.1)
    setup = default_setup()

    def change(config, spec, way):  # pages/memory.py results_ui, without the drawing
        setups = [setup.replace(method=m) for m in compared_methods(setup, spec)]
        tracing = tracer.trace(config, spec, setups, replay=setup if way == WAYS[1] else None)
        if not tracing.replay:
            replays.prefetch(config, spec, setup)
        compare_methods(config, spec, setup, replay=False)
        tracing.wait()
        return tracing.traces, estimate_memory(config, spec, setup, replayer=replays)

    for i, way in enumerate(WAYS):  # untimed: this process's first estimate and replay pay for first uses
        change(load_preset(WARM_UP), memory_spec(DEFAULT_TARGETS, DEFAULT_RANK, **RECIPES[i]), way)
    rows = []
    for p, name in enumerate(PRESETS):
        config = load_preset(name)
        for i, recipe in enumerate(RECIPES):
            for way in WAYS if (i + p) % 2 == 0 else WAYS[::-1]:
                forget()
                spec = memory_spec(DEFAULT_TARGETS, DEFAULT_RANK, **recipe)
                cpu, t0 = time.thread_time(), time.perf_counter()
                traced, estimate = change(config, spec, way)
                wall, cpu = time.perf_counter() - t0, time.thread_time() - cpu
                row = {"preset": name, "recipe": recipe, "way": way, "traced": traced, "wall_s": wall, "cpu_s": cpu}
                rows.append({**row, "reserved_source": estimate.reserved_source})
                print(
                    f"{name:13s} {json.dumps(recipe):34s} {way:22s} traced {traced}  {1e3 * wall:5.0f} ms wall"
                    f"  {1e3 * cpu:4.0f} ms page CPU  reserved by {estimate.reserved_source}",
                    flush=True,
                )
    tracer.close()
    replays.close()
    summary = {}
    print(
        "\n| way | changes | wall p50 / p95 / max ms | page thread CPU p50 / p95 / max ms |\n|---|---|---|---|"
    )
    for way in WAYS:
        mine = [r for r in rows if r["way"] == way and r["traced"]]
        wall = [1e3 * r["wall_s"] for r in mine]
        cpu = [1e3 * r["cpu_s"] for r in mine]
        summary[way] = {"changes": len(mine), "wall_ms": [statistics.median(wall), p95(wall), max(wall)],
                        "cpu_ms": [statistics.median(cpu), p95(cpu), max(cpu)]}  # fmt: skip
        print(f"| {way} | {len(mine)} | {' / '.join(f'{x:.0f}' for x in summary[way]['wall_ms'])} | "
              f"{' / '.join(f'{x:.0f}' for x in summary[way]['cpu_ms'])} |")  # fmt: skip
    if args.json:
        when = time.strftime("%Y-%m-%d %H:%M")
        Path(args.json).write_text(json.dumps({"when": when, "load": os.getloadavg(), "rows": rows,
                                               "summary": summary}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
