"""Caching-allocator replays off the server's interpreter: the Memory page's replays run in worker processes.

Why. A Memory estimate off the precomputed archive (a batch, sequence, rank or optimizer the archive does not
hold) replays PyTorch's caching allocator over three training steps: tens of thousands of events in Python,
50-300 ms of one core by the model's depth. Run in the script thread, it holds the server's interpreter lock,
and with a class on the server every other student's rerun waits for it (`make load`, 30 students, one
process: Memory reruns p95 1.8-2.5 s, against 282 ms before the replay existed; docs/load.md Round 5). In a
worker process it runs on the other core, and the visitor's script thread waits on a pipe, which releases
the lock.

How.
- `ReplayRunner.prefetch(config, spec, setup)`: the page calls it first, so that the chosen method's replay
  runs while the page computes the three methods' fast path; `ReplayRunner` itself is the `replayer` that
  lora_core.memory.estimate_memory (and the solver) hands a job to, and it waits for the job in flight with
  the same key instead of starting another.
- At most `max_workers` replays at once (one per core), one per key in flight (lora_ui.workers.jobs).
- A worker that cannot start, dies, or answers with an error: the job is replayed in the server instead
  (in the runner's thread; the same answer, the old cost), and workers are tried again process.RETRY_S later.
- Answers go into lora_core's replay cache (reserve.remember) in this process, so the page's own
  `reserve.find` finds them.
- LORA_LAB_REPLAY_PROCESSES=0: replays run in the calling thread, no process is started (`make check`).

Workers need no torch (lora_ui/workers/replay_worker.py); the server's warm-up starts them and they are kept
(IDLE_S); the Memory page calls `warm()` on every render, so a student on the page finds one started after a
worker was lost.
"""

from __future__ import annotations

import os

import streamlit as st

from lora_core.errors import LoraLabError
from lora_core.memory import reserve
from lora_core.memory.reserve import ReplayJob, Reserve
from lora_core.memory.setup import TrainingSetup
from lora_ui.workers.jobs import JobRunner, log
from lora_ui.workers.replay_worker import start_replay_worker

ENV_PROCESSES = "LORA_LAB_REPLAY_PROCESSES"  # "0": replay in the calling thread, start no process
MAX_WORKERS = 2  # one per core of the 2-core classroom server (a replay is one core's work)
# Idle workers are kept for the server's life (~40 MB each: numpy and lora_core, no torch; our measurement,
# docs/load.md): the warm-up starts them, so they are in the RSS at health ok, and a class coming later finds
# them (reaped after 30 s, as they were, they were started again in the middle of a class: docs/load.md
# "Round 9"). LORA_LAB_REPLAY_WORKER_IDLE_S=<seconds>: give idle workers back after that long.
IDLE_S = float(os.environ.get("LORA_LAB_REPLAY_WORKER_IDLE_S", "inf"))
# A replay's bound in a worker: past it the worker is stopped and the job replayed here (ours: the deepest
# preset, 96 layers, replays in ~0.3 s; an uploaded config of a few hundred layers in a few seconds).
JOB_CAP_S = 120.0


class ReplayRunner(JobRunner):
    """Runs `reserve.ReplayJob`s in worker processes; a `reserve.Replayer` (call it with a job)."""

    kind = "replay"

    def __init__(self, max_workers: int = MAX_WORKERS, processes: bool = True, idle_s: float = IDLE_S):
        super().__init__(
            start_replay_worker,
            max_workers=max_workers,
            processes=processes,
            idle_s=idle_s,
            job_cap_s=JOB_CAP_S,
            fallback="replays run in the server",
        )

    def __call__(self, job: ReplayJob) -> Reserve:
        """The job's answer: from the replay in flight for its key, else from a new one (a worker's when
        workers are on, else this thread's)."""
        future = self.in_flight_future(job.key) or self.start(job)
        if future is None:
            self._count(here=True)
            return reserve.replay_job(job)
        return future.result()

    def prefetch(self, config: dict, spec, setup: TrainingSetup) -> None:
        """Start the replay estimate_memory(config, spec, setup) will ask for, unless it is known already or
        there is none (sharding, CPU, AdaLoRA, layers that do not repeat: the estimate says so itself)."""
        if not self.use_processes:
            return
        spec = setup.adapter_spec(spec)
        if not reserve.replays(spec, setup):
            return
        try:
            found = reserve.find(config, spec, setup)
        except LoraLabError:  # DepthError, a refused recipe: estimate_memory raises or reports it
            return
        except Exception:  # a head start only: the estimate meets the same problem and shows it
            log.exception("replay prefetch failed; the estimate replays when it asks")
            return
        if isinstance(found, ReplayJob):
            self.start(found)

    def _known(self, job: ReplayJob) -> Reserve | None:
        return reserve.known(job.key)

    def _here(self, job: ReplayJob) -> Reserve:
        return reserve.replay_job(job)

    def _remember(self, job: ReplayJob, answer: Reserve) -> Reserve:
        return reserve.remember(job, answer)


@st.cache_resource(show_spinner=False)
def _runner() -> ReplayRunner:
    return ReplayRunner(processes=os.environ.get(ENV_PROCESSES, "1").strip() != "0")


def get_replayer() -> ReplayRunner:
    """The process-wide runner, created once by st.cache_resource and shared by every session."""
    return _runner()
