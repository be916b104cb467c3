"""Inside a replay worker process: run caching-allocator replays (lora_core.memory.reserve.ReplayJob) from the
server's pipe and send each answer back.

A replay walks every event of three training steps in Python (50-300 ms of one core for the presets,
docs/memory_speed.md). In the server's own process it holds the interpreter lock that every other student's
rerun waits for: `make load` measured the Memory page's reruns at p95 1.8-2.5 s with 30 students in one
process (docs/load.md, Round 5). In a worker it runs on the other core. A replay needs no torch (the job
carries the recipe's step plan, traced by the server), so the worker starts without it: a fraction of a
second and tens of MB. The process itself (spawn, parent watch, idle quit) is
lora_ui.workers.process's; it runs at the server's priority (a rerun waits for it).

Protocol (one duplex Pipe per worker; only our own plain data crosses it: frozen dataclasses, numpy arrays,
numbers, strings):
    parent -> worker   ("replay", job_id, ReplayJob) | ("quit",)
    worker -> parent   ("ready", pid) once, then per job ("done", job_id, Reserve) | ("error", job_id, message)

This module imports neither streamlit, nor a page, nor torch.
"""

from __future__ import annotations

from lora_ui.workers.process import WorkerProcess


def main(conn) -> None:
    """The worker's loop: one replay at a time until ("quit",) or the server's end of the pipe closes."""
    from lora_core.memory.reserve import replay_job
    from lora_ui.workers.jobs import serve_jobs

    serve_jobs(conn, "replay", replay_job)


def start_replay_worker() -> WorkerProcess:
    # nice 0: a replay is part of a visitor's rerun (the script thread waits for it), so it runs at the
    # server's own priority; a fit worker's nice (process.NICE) would let every busy server starve it.
    return WorkerProcess(main, name="lora-lab-replay", uses_torch=False, nice=0)
