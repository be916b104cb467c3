"""Inside a trace worker process: trace recipes (lora_core.memory.trace.TraceJob) from the server's pipe and send
each answer back (trace.Traced: the traced steps and the recipe model's parameter list).

A trace builds the recipe's model on the meta device and records one training step at depths 2 and 3:
0.1-0.6 s of one core for the presets (DoRA and encoder-decoders the most; docs/memory_speed.md), all of it
Python holding the interpreter lock. In the server's own process every other student's rerun waits for that
lock: in `make load` with two replicas of 30 students each, the Memory runs that traced took 0.38-0.62 s of
the server's thread and 0.9-1.25 s of wall time, and they were the Memory page's slowest (docs/load.md,
"Round 7"). In a worker it runs on the other core. The worker imports torch, transformers and every preset's
model class, and runs one trace, before it says ready, so that no visitor's trace pays for them.
The process itself (spawn, parent watch, idle quit) is lora_ui.workers.process's; it runs at the server's
priority (a rerun waits for it).

Protocol: lora_ui.workers.jobs (kind "trace"). This module imports neither streamlit nor a page.
"""

from __future__ import annotations

from lora_ui.workers.process import WorkerProcess


def warm() -> None:
    """Import what a trace needs (transformers and every preset's model class: arch._resolve_class) and trace
    the Memory page's first recipe once, so that first-use costs fall here, before the worker is ready."""
    from lora_core import arch
    from lora_core.memory import trace
    from lora_core.presets import PRESETS, load_preset
    from lora_ui.memory_inputs import default_view

    for name in PRESETS:
        try:
            arch._resolve_class(load_preset(name))
        except Exception:  # the page shows that preset's problem to whoever picks it
            continue
    config, spec, setup = default_view()
    trace.run_trace_job(trace.TraceJob("warm", config, setup.adapter_spec(spec), setup))


def main(conn) -> None:
    """The worker's loop: one trace at a time until ("quit",) or the server's end of the pipe closes."""
    from lora_core.memory.trace import run_trace_job
    from lora_ui.workers.jobs import serve_jobs

    serve_jobs(conn, "trace", run_trace_job)


def start_trace_worker() -> WorkerProcess:
    # nice 0: a trace is part of a visitor's rerun (the script thread waits for it), as a replay is
    return WorkerProcess(main, name="lora-lab-trace", uses_torch=True, nice=0, ready=warm)
