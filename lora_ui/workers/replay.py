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
- At most `max_workers` replays at once (one per core), the rest wait their turn in a queue (FIFO).
- A worker that cannot start, dies, or answers with an error: the job is replayed in the server instead
  (in the runner's thread; the same answer, the old cost), and workers are tried again process.RETRY_S later.
- Answers go into lora_core's replay cache (reserve.remember) in this process, so the page's own
  `reserve.find` finds them.
- LORA_LAB_REPLAY_PROCESSES=0: replays run in the calling thread, no process is started (`make check`).

Workers need no torch (lora_ui/workers/replay_worker.py) and quit after IDLE_S without a job; the Memory page
calls `warm()` on every render, so a student on the page finds one started.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import streamlit as st

from lora_core.errors import LoraLabError
from lora_core.memory import reserve
from lora_core.memory.reserve import ReplayJob, Reserve
from lora_core.memory.setup import TrainingSetup
from lora_ui.workers.process import PoolRunner, WorkerPool, WorkerProcess
from lora_ui.workers.replay_worker import start_replay_worker

log = logging.getLogger(__name__)

ENV_PROCESSES = "LORA_LAB_REPLAY_PROCESSES"  # "0": replay in the calling thread, start no process
MAX_WORKERS = 2  # one per core of the 2-core classroom server (a replay is one core's work)
# A worker without a job quits after this long (~40 MB each: numpy and lora_core, no torch; our measurement,
# docs/load.md), so a quiet server gives its memory back (issue 6: RSS within 15 % within a minute).
IDLE_S = float(os.environ.get("LORA_LAB_REPLAY_WORKER_IDLE_S", "30"))
POLL_S = 1.0  # how often a waiting job checks that its worker is still alive
# A replay's bound in a worker: past it the worker is stopped and the job replayed here (ours: the deepest
# preset, 96 layers, replays in ~0.3 s; an uploaded config of a few hundred layers in a few seconds).
JOB_CAP_S = 120.0

_ids = itertools.count(1)


class ReplayRunner(PoolRunner):
    """Runs `reserve.ReplayJob`s in worker processes; a `reserve.Replayer` (call it with a job)."""

    def __init__(self, max_workers: int = MAX_WORKERS, processes: bool = True, idle_s: float = IDLE_S):
        self.max_workers = max_workers
        self.processes = processes
        self._pool = WorkerPool(start_replay_worker, idle_s, fallback="replays run in the server")
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="replay")
        self._lock = threading.Lock()
        self._inflight: dict[str, Future] = {}
        self._running = 0
        self.in_workers = 0  # jobs a worker answered
        self.here = 0  # jobs replayed in this process (workers off, or a worker failed)

    # -- what the page calls ------------------------------------------------------------------------------
    def __call__(self, job: ReplayJob) -> Reserve:
        """The job's answer: from the replay in flight for its key, else from a new one (a worker's when
        workers are on, else this thread's)."""
        with self._lock:
            future = self._inflight.get(job.key)
        if future is None:
            future = self.start(job)
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

    def start(self, job: ReplayJob) -> Future | None:
        """The replay of job.key: the one in flight, the answer if one ended meanwhile, else started now; None
        when workers are off."""
        if not self.use_processes:
            return None
        with self._lock:
            future = self._inflight.get(job.key)
            if future is not None:
                return future
            answer = reserve.known(job.key)  # a replay that ended since the caller looked: kept before it left
            if answer is not None:
                future = Future()
                future.set_result(answer)
                return future
            future = self._executor.submit(self._replay, job)
            self._inflight[job.key] = future
            return future

    def _free_slots(self) -> int:
        with self._lock:
            return self.max_workers - self._running

    # -- state, for the page and the tests ----------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._inflight)

    def close(self) -> None:
        """Stop the idle workers; replays in flight or queued end in the runner's threads (here, from now on)."""
        super().close()
        self._executor.shutdown(wait=False)

    def _count(self, here: bool) -> None:
        with self._lock:
            if here:
                self.here += 1
            else:
                self.in_workers += 1

    # -- inside the runner's threads ----------------------------------------------------------------------
    def _replay(self, job: ReplayJob) -> Reserve:
        with self._lock:
            self._running += 1
        try:
            answer = self._in_worker(job) if self.use_processes else None
            self._count(here=answer is None)
            if answer is None:
                answer = reserve.replay_job(job)
            return reserve.remember(job, answer)  # before the job leaves _inflight: `find` sees one of them
        finally:
            with self._lock:
                self._running -= 1
                self._inflight.pop(job.key, None)

    def _in_worker(self, job: ReplayJob) -> Reserve | None:
        """The worker's answer; None when there was no worker or it failed (the caller replays here)."""
        worker = self._pool.take_or_none()
        if worker is None:
            return None
        job_id = next(_ids)
        try:
            sent = worker.send(("replay", job_id, job))
        except Exception as exc:  # the job would not pickle: a bug, but the answer still comes from here
            self._lost(worker, f"the job could not be sent: {exc!r}")
            return None
        if not sent:
            self._lost(worker, "the pipe was closed")
            return None
        started = time.monotonic()
        while True:
            try:
                msg = worker.receive(POLL_S)
            except (EOFError, OSError):
                self._lost(worker, "it exited")
                return None
            except Exception as exc:  # an answer that would not unpickle
                self._lost(worker, f"its answer could not be read: {exc!r}")
                return None
            if msg is None:
                if time.monotonic() - started > JOB_CAP_S:
                    self._lost(worker, f"no answer within {JOB_CAP_S:.0f} s")
                    return None
                continue
            if msg[1] != job_id:
                continue
            if self.processes:
                self._pool.park(worker)
            else:  # closed meanwhile: keep nothing
                worker.quit()
            if msg[0] == "done":
                return msg[2]
            log.warning("replay worker failed (%s); replaying here", msg[2])
            return None

    def _lost(self, worker: WorkerProcess, why: str) -> None:
        log.warning("replay worker lost (%s, exit code %s); replaying here", why, worker.stop())


@st.cache_resource(show_spinner=False)
def _runner() -> ReplayRunner:
    return ReplayRunner(processes=os.environ.get(ENV_PROCESSES, "1").strip() != "0")


def get_replayer() -> ReplayRunner:
    """The process-wide runner, created once by st.cache_resource and shared by every session."""
    return _runner()
