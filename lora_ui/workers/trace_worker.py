"""Inside a trace worker process: trace recipes (lora_core.memory.trace_jobs.TraceJob) from the server's pipe and send
each answer back (trace_jobs.Traced: the traced steps and the recipe model's parameter list).

A trace builds the recipe's model on the meta device and records one training step at depths 2 and 3:
80-190 ms of one core per traced step for the 7B presets with DoRA in a warm process (our measurement), up
to three per Memory change, all of it Python holding the interpreter lock. In the server's own process every
other student's rerun waits for that lock: in `make load` with two replicas of 30 students each, the Memory
runs that traced took 0.38-0.62 s of the server's thread and 0.9-1.25 s of wall time, and they were the Memory
page's slowest (docs/load.md, "Round 7"). In a worker it runs on the other core. The worker imports torch, transformers and every preset's
model class, and traces each architecture once (`warm`), before it says ready, so that no visitor's trace pays
for first uses: ~7-9 s of one core and ~370 MB per worker (our measurement), which is why the server starts
its trace workers with its own warm-up and keeps them (lora_ui/workers/trace.py).
The process itself (spawn, parent watch, idle quit) is lora_ui.workers.process's; it runs at the server's
priority (a rerun waits for it).

Protocol: lora_ui.workers.jobs (kind "trace"; its follow-up is the replay a job may carry, trace_jobs.replay_traced).
This module imports neither streamlit nor a page.
"""

from __future__ import annotations

import sys

from lora_ui.workers.process import WorkerProcess


def warm() -> None:
    """Import what a trace needs (transformers and every preset's model class: arch._resolve_class), then trace
    each architecture once at the Memory page's first inputs, and the first view with DoRA on (also under
    autocast, for LoRA and QLoRA): a process's first trace of an architecture, an adapter layer or autocast
    costs up to four times the next one (our measurements, 2026-11-29: t5-base all-linear DoRA 599 ms, then
    258 ms; llama-3-8b DoRA at amp-bf16, LoRA and QLoRA, 1.01 s, then 0.24 s for qwen2.5-7b), and those
    first-use costs fall here, before the worker is ready, rather than on a visitor's change. The first of them
    also replays its recipe (a job may carry its chosen setup's replay: trace_jobs.TraceJob.replay)."""
    from lora_core import arch
    from lora_core.errors import LoraLabError
    from lora_core.memory import trace_jobs
    from lora_core.memory.trace import record_key
    from lora_core.presets import PRESETS, load_preset
    from lora_ui.memory_inputs import DEFAULT_RANK, DEFAULT_TARGETS, default_view, memory_spec

    config, spec, setup = default_view()
    dora = memory_spec(DEFAULT_TARGETS, DEFAULT_RANK, dora=True)
    amp = setup.replace(precision="amp-bf16")  # autocast's first use
    recipes = [(config, dora, setup), (config, dora, amp), (config, dora, amp.replace(method="qlora"))]
    seen: set[str] = set()
    for name in PRESETS:
        preset = load_preset(name)
        try:
            arch._resolve_class(preset)
        except Exception:  # the page shows that preset's problem to whoever picks it
            continue
        if preset["model_type"] not in seen:
            seen.add(preset["model_type"])
            recipes.append((preset, spec, setup))
    for i, (preset, recipe_spec, recipe_setup) in enumerate(recipes):
        try:
            # the first one also replays, as a job may (the allocator model's first use); one is enough
            replay = recipe_setup if i == 0 else None
            key = record_key(preset, recipe_spec, recipe_setup)  # where the replay's step plan looks for the trace
            job = trace_jobs.TraceJob(key, preset, recipe_setup.adapter_spec(recipe_spec), recipe_setup, replay=replay)
            trace_jobs.replay_traced(job, trace_jobs.run_trace_job(job))
        except LoraLabError:  # a recipe the estimator refuses (Mixtral's fused experts): its page says so
            continue
        except Exception as exc:  # a head start only: a visitor's trace of it meets the problem and shows it
            print(f"trace worker warm-up: {preset.get('model_type')}: {type(exc).__name__}: {exc}", file=sys.stderr)


def main(conn) -> None:
    """The worker's loop: one trace at a time until ("quit",) or the server's end of the pipe closes."""
    from lora_core.memory.trace_jobs import replay_traced, run_trace_job
    from lora_ui.workers.jobs import serve_jobs

    serve_jobs(conn, "trace", run_trace_job, then=replay_traced)


def start_trace_worker() -> WorkerProcess:
    # nice 0: a trace is part of a visitor's rerun (the script thread waits for it), as a replay is
    return WorkerProcess(main, name="lora-lab-trace", uses_torch=True, nice=0, ready=warm)
