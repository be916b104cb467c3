"""Fits off the script thread, at most a few at once across every session of the server.

Why a worker thread. A fit runs for seconds. If it ran in the script thread, a click on a widget
outside its fragment would start a full rerun that interrupts it, and a click on a Stop button inside
the fragment would wait for it (Streamlit 1.67 queues a fragment's own reruns behind the running one:
`_fragment_run_should_not_preempt_script` in streamlit/runtime/scriptrunner_utils/script_requests.py).
So each fit is a `FitJob` run by a daemon thread; the page only polls it from a `run_every` fragment.

Why a semaphore. One process serves the whole class on 2 cores; `FitRunner` lets `max_running` jobs
train while the rest wait in order, each seeing its place in the queue and able to cancel. The page gets
one runner per process from `st.cache_resource` (`get_runner`).

Session gone. A job also stops when its session leaves: the page passes `alive()`, which asks the
runtime whether the session is still active (`Runtime.instance().is_active_session(session_id)`,
thread-safe in 1.67; a closed tab or a dropped websocket makes it false). A job waits GONE_GRACE_S
before giving up, so a brief reconnect keeps the fit.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from lora_core.errors import LoraLabError

DEFAULT_MAX_RUNNING = 2  # one per core on the 2-core classroom server (fits run with 1 torch thread)
ENV_MAX_RUNNING = "LORA_LAB_MAX_FITS"
POLL_S = 0.1  # how often a queued job re-checks its cancel flag and its session
ALIVE_EVERY_S = 0.5  # how often a running job asks the runtime whether its session is still there
GONE_GRACE_S = 5.0  # a session missing this long cancels its job (a reconnect within it does not)
# The GIL hand-off interval while fits run. Every torch op releases the GIL; with another thread busy in
# Python (script reruns, the server), the default 5 ms interval makes the fit wait up to 5 ms per op to get
# it back (the "convoy effect"): measured 300 default steps in 14.8 s beside a busy thread, 1.4 s at 0.5 ms
# (docs/fit.md "Threads and the GIL"). Process-wide, so it is set once, when the runner is created.
SWITCH_INTERVAL_S = 0.0005

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
    floor: float | None = None
    result: Any = None
    error: Exception | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    alive: Callable[[], bool] = _always_alive
    submitted: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    _gone_since: float | None = None
    _alive_checked: float = 0.0

    # The trainer's hooks -------------------------------------------------------------------------
    def record(self, step: int, loss: float) -> None:
        self.losses.append(loss)

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

    @property
    def step(self) -> int:
        return max(len(self.losses) - 1, 0)


class FitRunner:
    """A bounded pool of fit slots shared by all sessions; jobs beyond it wait in submission order."""

    def __init__(self, max_running: int = DEFAULT_MAX_RUNNING):
        if max_running < 1:
            raise LoraLabError(f"at least one fit must be allowed to run, got {max_running}")
        self.max_running = max_running
        self._lock = threading.Condition()
        self._running: set[int] = set()
        self._queue: list[int] = []  # job ids waiting, oldest first

    def submit(self, work: Callable[[FitJob], Any], *, total_steps: int = 0, alive=_always_alive) -> FitJob:
        """Start `work(job)` on a daemon thread once a slot is free; return the job at once."""
        import torch

        job = FitJob(total_steps=total_steps, alive=alive)
        with self._lock:
            self._queue.append(job.id)
        # torch's intra-op thread count is per OS thread under OpenMP: a new thread starts at the core count,
        # not at what the app configured (lora_ui.runtime.configure_once) in the script thread. Measured on
        # the 2-core machine: the default fit ran ~20x slower in the server with 2 threads than with 1
        # (docs/fit.md "Threads"). So the worker adopts the submitting thread's setting.
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
                    self._lock.notify_all()
                    return True
                self._lock.wait(POLL_S)

    def _release(self, job: FitJob) -> None:
        with self._lock:
            self._running.discard(job.id)
            self._lock.notify_all()

    def _run(self, job: FitJob, work: Callable[[FitJob], Any], threads: int) -> None:
        import torch

        torch.set_num_threads(threads)  # this worker thread only (see submit)
        if not self._acquire(job):
            job.state, job.finished_at = CANCELLED, time.monotonic()
            return
        job.state = RUNNING
        try:
            job.result = work(job)
            job.state = CANCELLED if job.cancel_event.is_set() else DONE
        except Exception as exc:  # shown to the user by the page; a worker thread must never die silently
            job.error, job.state = exc, ERROR
        finally:
            job.finished_at = time.monotonic()
            self._release(job)


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

    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
    return FitRunner(max_running)


def get_runner() -> FitRunner:
    """The process-wide runner, created once by st.cache_resource and shared by every session."""
    return _runner(max_running_from_env())
