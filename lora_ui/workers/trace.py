"""Activation traces off the server's interpreter: the Memory page's traces run in worker processes.

Why. A recipe the precomputed archive does not hold (another adapter type, DoRA, a bias or modules_to_save
setting, an uploaded config) is traced when the page first asks for it: 80-190 ms of Python per traced
step for the 7B presets with DoRA in a warm process (our measurement), and a Memory change asks for up to
three (full fine-tuning, the adapter, the adapter on a 4-bit base).
In the script thread that holds the server's interpreter lock, so every other student's rerun on that server
waits with it; with two replicas of 30 students those runs were the Memory page's slowest (0.9-1.25 s, of
which 0.38-0.62 s the trace's own CPU; docs/load.md "Round 7"). In a worker process the trace runs on the
other core while the visitor's script thread waits on a pipe, which releases the lock.

How.
- `TraceRunner.trace(config, spec, setups, replay)`: the page calls it first with the setups its charts ask for;
  it starts the traces the core does not know yet (lora_core.memory.trace_jobs), waits for them, and hands
  each answer to the core (trace_jobs.remember_trace), so the page's own core calls trace nothing. Jobs of one key
  in flight are shared between visitors; at most `max_workers` run at once (lora_ui.workers.jobs). `replay`:
  the chosen setup, whose caching-allocator replay the worker that traces it runs next, after it has handed
  the trace over (the jobs' follow-up): its step plan is built there, not in the page's thread, and the page
  draws the methods' chart and the curves meanwhile, then waits (`Tracing.wait`) before its replayed numbers.
  A visitor who shares another's job in flight gets that visitor's replay; when it is not theirs (another
  batch, say), or no worker took the job, `Tracing.replay` is False and the page starts its replay itself.
- A job takes an idle worker or none: while no worker is ready (being started, after a quiet spell or a
  worker's death), the core traces in the page's thread as without workers, rather than make a visitor wait
  seconds for a start. A worker that dies or answers with an error (a recipe refused late, say): nothing is
  handed over, and the core traces in the page's thread (the same answer, or the same error); a key that
  failed is not sent to a worker again.
- Workers import torch, transformers and the presets' model classes before they are ready (several seconds of
  CPU), so they are started with the server's warm-up (lora_ui/serve.py) and kept (IDLE_S).
- LORA_LAB_TRACE_PROCESSES=0: no process; the core traces in the calling thread (`make check`).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass

import streamlit as st

from lora_core.memory import trace_jobs
from lora_core.memory.trace_jobs import Traced, TraceJob
from lora_ui.workers.jobs import JobRunner, log
from lora_ui.workers.trace_worker import start_trace_worker

ENV_PROCESSES = "LORA_LAB_TRACE_PROCESSES"  # "0": the core traces in the calling thread, no process started
# One per core of the 2-core classroom server: a Memory change asks for up to three traces (full fine-tuning
# when the grid lacks it, the adapter, and under autocast the adapter on a 4-bit base), two of them side by
# side. Two replicas on two cores hold four (docs/load.md "Round 7" measures what they cost).
MAX_WORKERS = 2
FAILED_KEPT = 64  # keys whose worker trace failed, not sent again (ours: a class meets a handful)
# Each worker holds torch, transformers and the model classes (~370 MB, our measurement) and takes 7-9 s of one
# core to start (trace_worker.warm), so the warm-up starts them and they are kept for the server's life: given
# back after ten quiet minutes, as they were, a class coming later than that started them again on its first
# Memory visit, 14-18 s of CPU in its first minute (docs/load.md "Round 9"). LORA_LAB_TRACE_WORKER_IDLE_S=
# <seconds>: give idle workers back after that long.
IDLE_S = float(os.environ.get("LORA_LAB_TRACE_WORKER_IDLE_S", "inf"))
# A trace's bound in a worker: past it the worker is stopped and the core traces in the page's thread
# (ours: a preset traces in under a second, an uploaded config of a few hundred layers in a few seconds).
JOB_CAP_S = 120.0


class TraceRunner(JobRunner):
    """Runs `trace_jobs.TraceJob`s in worker processes and hands their answers to the core's caches."""

    kind = "trace"
    follow_up = True  # the worker replays the chosen setup after it has handed its trace over
    start_on_demand = False  # an idle worker or none: a start takes seconds, a trace in the page a fraction of one

    def __init__(self, max_workers: int = MAX_WORKERS, processes: bool = True, idle_s: float = IDLE_S):
        super().__init__(
            start_trace_worker,
            max_workers=max_workers,
            processes=processes,
            idle_s=idle_s,
            job_cap_s=JOB_CAP_S,
            fallback="the page traces in the server",
        )
        self._failed_keys: OrderedDict[str, None] = OrderedDict()

    def trace(self, config: dict, spec, setups, replay=None) -> Tracing:
        """Trace in workers what the core would trace for these setups (none when workers are off or none is
        idle), and wait for the traces. `replay` (one of the setups): the worker tracing it then replays it,
        unless that replay is known (`Tracing.replay`; the caller waits for it with `Tracing.wait`). Never
        raises: whatever is not handed over is traced (and replayed) in the caller's process as without
        workers."""
        if not self.use_processes or not self.workers:
            return Tracing(0)
        try:
            jobs = [job for job in trace_jobs.trace_jobs(config, spec, setups, replay) if job.key not in self._failed_keys]
            started: list[tuple[TraceJob, Future]] = [(job, f) for job in jobs if (f := self.start(job))]
            running = {f: self.running(f) for _, f in started}  # another visitor's job when shared in flight
            traces, pending = 0, []
            for job, f in started:
                if self.first_answer(f) is None:  # no worker took it, or it failed: the page traces it
                    continue
                traces += 1
                ran = running[f]
                if job.replay is not None and ran is not None and ran.replay == job.replay:
                    pending.append(f)  # a worker that handed its trace over replays our setup
            return Tracing(traces, tuple(pending))
        except Exception:  # a head start only: the core traces what is missing and meets the same problem
            log.exception("trace workers failed; the page traces in the server")
            return Tracing(0)

    def _failed(self, job: TraceJob, message: str) -> None:
        with self._lock:
            self._failed_keys[job.key] = None
            while len(self._failed_keys) > FAILED_KEPT:
                self._failed_keys.popitem(last=False)
        log.warning("trace worker failed (%s); the page traces this recipe in the server from now on", message)

    def _known(self, job: TraceJob) -> Traced | None:
        return None  # trace_jobs left out what the core knows; a job that ended meanwhile is traced again

    def _here(self, job: TraceJob) -> None:
        return None  # the page's core call traces in its own thread when it needs the answer

    def _remember(self, job: TraceJob, answer: Traced) -> Traced:
        trace_jobs.remember_trace(job, answer)
        return answer

    def _then(self, job: TraceJob, more) -> None:
        if more:  # the replay of job.replay (none when its layers do not repeat, or it failed)
            trace_jobs.remember_replays(more)


@dataclass(frozen=True)
class Tracing:
    """What `TraceRunner.trace` handed over: how many traces, and the jobs still replaying the chosen setup."""

    traces: int
    pending: tuple[Future, ...] = ()

    @property
    def replay(self) -> bool:
        """A worker that handed its trace over replays the chosen setup (or has, by now): the caller need not
        start that replay itself."""
        return bool(self.pending)

    def wait(self) -> None:
        """Wait for the chosen setup's replay; whatever did not come is replayed by the caller's estimate."""
        for future in self.pending:
            try:
                future.result()
            except Exception:  # logged by the runner; the estimate replays it itself
                pass


@st.cache_resource(show_spinner=False)
def _runner() -> TraceRunner:
    return TraceRunner(processes=os.environ.get(ENV_PROCESSES, "1").strip() != "0")


def get_tracer() -> TraceRunner:
    """The process-wide runner, created once by st.cache_resource and shared by every session."""
    return _runner()
