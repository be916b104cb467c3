"""Fits off the script thread and out of the server process, at most a few at once across every session.

Why not in the script thread. A fit runs for seconds. In the script thread, a click on a widget outside
its fragment would start a full rerun that interrupts it, and a click on a Stop button inside the fragment
would wait for it (Streamlit 1.67 queues a fragment's own reruns behind the running one:
`_fragment_run_should_not_preempt_script` in streamlit/runtime/scriptrunner_utils/script_requests.py).
So each fit is a `FitJob`; the page only polls it from a `run_every` fragment.

Why a worker process. In a thread of the server a fit shares the interpreter lock with every student's
rerun: it crawled and it slowed the reruns (docs/fit.md "Worker processes"). So each job gets a small
controller thread here (it mostly sleeps in `poll`), and the training runs in a worker process
(lora_ui.workers.fit_worker) from a lazily started pool (lora_ui.workers.process.WorkerPool), reused across
fits. The losses stream back through a pipe. If no process can be started, fits run in the controller
thread instead, and a log line says so.

Why a semaphore. One process serves the whole class on 2 cores; `FitRunner` lets `max_running` jobs
train while the rest wait in order, each seeing its place in the queue and able to cancel. The pool
holds at most `max_running` workers. The page gets one runner per process from `st.cache_resource`.

Session gone. A job also stops when its session leaves: the page passes `alive()`, which asks the
runtime whether the session is still active (`Runtime.instance().is_active_session(session_id)`,
thread-safe in 1.67; a closed tab or a dropped websocket makes it false). A job waits GONE_GRACE_S
before giving up, so a brief reconnect keeps the fit.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from lora_core.errors import LoraLabError
from lora_core.fit import MAX_FIT_SECONDS
from lora_ui.workers.fit_worker import WorkerDied, start_fit_worker
from lora_ui.workers.process import PoolRunner, WorkerPool, WorkerProcess

log = logging.getLogger(__name__)

DEFAULT_MAX_RUNNING = 2  # one per core on the 2-core classroom server (fits run with 1 torch thread)
ENV_MAX_RUNNING = "LORA_LAB_MAX_FITS"
# "0": the server's fits run in threads of its own process, as in the fallback below, and no worker process is
# started. `make check` sets it (its page tests start no process: tests/test_workers_fit_processes.py and
# `make test` run the worker processes); a server should leave it unset.
ENV_PROCESSES = "LORA_LAB_FIT_PROCESSES"
POLL_S = 0.1  # how often a queued job re-checks its cancel flag and its session
ALIVE_EVERY_S = 0.5  # how often a running job asks the runtime whether its session is still there
GONE_GRACE_S = 5.0  # a session missing this long cancels its job (a reconnect within it does not)
# The GIL hand-off interval while fits run. Every torch op releases the GIL; with another thread busy in
# Python (script reruns, the server), the default 5 ms interval makes the fit wait up to 5 ms per op to get
# it back (the "convoy effect"): measured 300 default steps in 14.8 s beside a busy thread, 1.4 s at 0.5 ms
# (docs/fit.md "Threads and the GIL"). Process-wide, so it is set once, when the runner is created.
SWITCH_INTERVAL_S = 0.0005
# A job's wall-clock cap in the runner, over the trainer's own (FitSettings.max_seconds, per rank in a
# sweep): past it the worker is asked to stop, and killed if it does not answer within CANCEL_GRACE_S.
JOB_CAP_S = MAX_FIT_SECONDS + 60.0
CANCEL_GRACE_S = 10.0
# Idle workers are kept for the server's life (238 MB each, torch imported: our measurement, docs/load.md
# "Round 9"). The warm-up starts one per slot (lora_ui/serve.py), so they are in the server's RSS at health ok
# (issue 6's "RSS back within 15 % of its start" holds), and a class finds them however long after the start
# it comes. Reaped after 30 s idle, as they were, a class arriving 45 s after health ok paid for new ones at
# its first Fit visits and Train presses (docs/load.md "Round 9"). LORA_LAB_FIT_WORKER_IDLE_S=<seconds>: give
# idle workers back after that long.
IDLE_S = float(os.environ.get("LORA_LAB_FIT_WORKER_IDLE_S", "inf"))

QUEUED, RUNNING, DONE, ERROR, CANCELLED = "queued", "running", "done", "error", "cancelled"
_ids = itertools.count(1)


def _always_alive() -> bool:
    return True


@dataclass(eq=False)
class FitJob:
    """One fit's live state, written by its worker thread and read by the page."""

    id: int = field(default_factory=lambda: next(_ids))
    state: str = QUEUED
    total_steps: int = 0
    losses: list[float] = field(default_factory=list)  # appended by the worker (list.append is atomic)
    lanes: list[list[float]] = field(default_factory=list)  # a race: each variant's losses, in order
    floor: float | None = None
    result: Any = None
    error: Exception | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    alive: Callable[[], bool] = _always_alive
    submitted: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0  # seconds the fit has trained (reported by the worker)
    in_process: bool = False  # ran in a worker process (False: in a thread, the fallback)
    finished_at: float | None = None
    ended: threading.Event = field(default_factory=threading.Event)  # set once the job is no longer active
    _gone_since: float | None = None
    _alive_checked: float = 0.0

    # The trainer's hooks -------------------------------------------------------------------------
    def record(self, step: int, loss: float) -> None:
        self.losses.append(loss)

    def record_lane(self, lane: int, step: int, loss: float) -> None:
        """A race's variant number `lane` evaluated its loss (lanes are numbered from 0, in order)."""
        while len(self.lanes) <= lane:
            self.lanes.append([])
        self.lanes[lane].append(loss)

    def set_floor(self, floor: float) -> None:
        self.floor = floor

    def should_stop(self) -> bool:
        """The Stop button, or a session that has been gone for GONE_GRACE_S."""
        if self.cancel_event.is_set():
            return True
        now = time.monotonic()
        if now - self._alive_checked >= ALIVE_EVERY_S:
            self._alive_checked = now
            if self.alive():
                self._gone_since = None
            else:
                self._gone_since = self._gone_since or now
        if self._gone_since is not None and now - self._gone_since >= GONE_GRACE_S:
            self.cancel_event.set()
            return True
        return False

    # For the page --------------------------------------------------------------------------------
    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def active(self) -> bool:
        return self.state in (QUEUED, RUNNING)

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the job to end; True if it has."""
        return self.ended.wait(timeout)

    @property
    def step(self) -> int:
        """Steps taken so far (a race: by its furthest variant)."""
        taken = [len(self.losses), *(len(lane) for lane in self.lanes)]
        return max(max(taken) - 1, 0)


class FitRunner(PoolRunner):
    """A bounded pool of fit slots shared by all sessions; jobs beyond it wait in submission order.

    With processes=True (the app's runner) each job's work runs in a worker process, so it must be
    picklable with plain data (a lora_core.fit.FitTask); with processes=False, or when no worker can
    be started, it runs in the job's own thread. Either way `work(hooks)` calls hooks.record(step, loss),
    hooks.set_floor(floor) and polls hooks.should_stop().
    """

    def __init__(
        self,
        max_running: int = DEFAULT_MAX_RUNNING,
        *,
        processes: bool = False,
        idle_s: float = IDLE_S,
        start_worker: Callable[[], WorkerProcess] = start_fit_worker,
    ):
        if max_running < 1:
            raise LoraLabError("app.max_running", max_running=max_running)
        self.max_running = max_running
        self.processes = processes
        self._lock = threading.Condition()
        self._running: set[int] = set()
        self._queue: list[int] = []  # job ids waiting, oldest first
        # at most max_running workers: one per running job, taken from the pool and parked after the job
        self._pool = WorkerPool(start_worker, idle_s, fallback="fits run in threads of the server")

    def submit(self, work: Callable[[Any], Any], *, total_steps: int = 0, alive=_always_alive) -> FitJob:
        """Start `work` once a slot is free (in a worker process or a thread); return the job at once."""
        import torch

        job = FitJob(total_steps=total_steps, alive=alive)
        with self._lock:
            self._queue.append(job.id)
        # For the thread fallback: torch's intra-op thread count is per OS thread under OpenMP, so a new thread
        # starts at the core count, not at what the app configured (lora_ui.runtime.configure_once). Measured
        # on the 2-core machine: ~20x slower with 2 threads than with 1 (docs/fit.md "Threads").
        threads = torch.get_num_threads()
        threading.Thread(
            target=self._run, args=(job, work, threads), name=f"fit-{job.id}", daemon=True
        ).start()
        return job

    def position(self, job: FitJob) -> int:
        """1 for the next job to start, 2 behind it, ...; 0 when not waiting."""
        with self._lock:
            return self._queue.index(job.id) + 1 if job.id in self._queue else 0

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._queue)

    def _free_slots(self) -> int:
        """warm() starts a worker per free fit slot, so that Train need not wait for one (spawning a worker and
        importing torch takes seconds on the 2-core server); the page calls it on render. One warm worker
        was not enough: three students pressing Train together on a fresh server waited 2-8 s for the
        second fit's worker, 0.4 s with both warm (benchmarks/load_test.py; docs/load.md)."""
        return self.max_running - self.running

    def _acquire(self, job: FitJob) -> bool:
        """Wait for a free slot and our turn; False when the job was cancelled while waiting."""
        with self._lock:
            while True:
                if job.should_stop():
                    self._queue.remove(job.id)
                    self._lock.notify_all()
                    return False
                if len(self._running) < self.max_running and self._queue[0] == job.id:
                    self._queue.pop(0)
                    self._running.add(job.id)
                    job.state = RUNNING  # under the lock: `running` and the job's state agree
                    self._lock.notify_all()
                    return True
                self._lock.wait(POLL_S)

    def _release(self, job: FitJob) -> None:
        with self._lock:
            self._running.discard(job.id)
            self._lock.notify_all()

    def _run(self, job: FitJob, work: Callable[[Any], Any], threads: int) -> None:
        if not self._acquire(job):
            job.state, job.finished_at = CANCELLED, time.monotonic()
            job.ended.set()
            return
        try:
            worker = self._pool.take_or_none() if self.use_processes else None
            if worker is None:
                self._run_here(job, work, threads)
            else:
                job.in_process = True
                self._run_in(worker, job, work)
        except Exception as exc:  # shown to the user by the page; a job must never end silently
            job.error, job.state = exc, ERROR
        finally:
            job.finished_at = time.monotonic()
            job.ended.set()
            self._release(job)

    def _run_here(self, job: FitJob, work: Callable[[Any], Any], threads: int) -> None:
        import torch

        torch.set_num_threads(threads)  # this thread only (see submit)
        job.result = work(job)
        job.state = CANCELLED if job.cancel_event.is_set() else DONE

    def _run_in(self, worker: WorkerProcess, job: FitJob, task: Any) -> None:
        """Send the task to the worker and relay its messages into the job until it answers
        (the server's side of lora_ui.workers.fit_worker's protocol)."""
        if not worker.send(("run", job.id, task)):
            raise WorkerDied("app.worker_died", exit_code=worker.stop())
        started = time.monotonic()
        cancel_sent: float | None = None
        while True:
            try:
                msg = worker.receive(POLL_S)
            except (EOFError, OSError):
                raise WorkerDied("app.worker_died", exit_code=worker.stop()) from None
            now = time.monotonic()
            if cancel_sent is None and (job.should_stop() or now - started > JOB_CAP_S):
                job.cancel_event.set()
                worker.send(("cancel", job.id))
                cancel_sent = now
            if cancel_sent is not None and now - cancel_sent > CANCEL_GRACE_S:
                worker.stop()  # it did not answer the cancel: end it, its slot and a new worker follow
                job.state = CANCELLED
                return
            if msg is None or msg[1] != job.id:
                continue
            kind = msg[0]
            if kind == "progress":
                job.losses.extend(msg[2])
                job.elapsed = msg[3]
            elif kind == "lanes":  # a race: (lane, loss) pairs in the order they were evaluated
                for lane, loss in msg[2]:
                    job.record_lane(lane, 0, loss)
                job.elapsed = msg[3]
            elif kind == "floor":
                job.floor = msg[2]
            else:
                if kind == "done":
                    job.result, job.elapsed = msg[2], msg[3]
                    job.state = CANCELLED if job.cancel_event.is_set() else DONE
                else:  # "error": (user_error, the LoraLabError or another exception's message)
                    job.error = msg[3] if msg[2] else RuntimeError(msg[3])
                    job.state = ERROR
                if self.processes:
                    self._pool.park(worker)
                else:  # closed meanwhile: keep nothing
                    worker.quit()
                return


def max_running_from_env() -> int:
    """LORA_LAB_MAX_FITS (default 2): how many fits may train at once on this server."""
    raw = os.environ.get(ENV_MAX_RUNNING, "")
    try:
        return max(1, int(raw)) if raw.strip() else DEFAULT_MAX_RUNNING
    except ValueError:
        return DEFAULT_MAX_RUNNING


def session_alive_check() -> Callable[[], bool]:
    """A thread-safe `alive()` for the current Streamlit session (always True outside a server, e.g. AppTest)."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return _always_alive
    session_id = ctx.session_id
    runtime = Runtime.instance()
    return lambda: runtime.is_active_session(session_id)


@st.cache_resource(show_spinner=False, max_entries=4)
def _runner(max_running: int) -> FitRunner:
    import sys

    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))  # for the thread fallback
    return FitRunner(max_running, processes=os.environ.get(ENV_PROCESSES, "1").strip() != "0")


def get_runner() -> FitRunner:
    """The process-wide runner, created once by st.cache_resource and shared by every session."""
    return _runner(max_running_from_env())
