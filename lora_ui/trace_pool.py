"""A worker process for the Memory page's activation traces, started on demand and stopped when idle.

A trace (lora_core/memory/trace.py) is seconds of Python dispatching meta-device ops: in the server process it
would hold the interpreter lock, and every other student's rerun would wait behind it (docs/load.md). In one
worker process it runs beside the server instead. The worker yields the CPU to the server (nice), uses one
torch thread, and quits after `LORA_LAB_TRACE_WORKER_IDLE_S` seconds without work, so a quiet server gives the
memory back. Arguments and results are our own cache keys (JSON text) and fitted coefficients (numpy
arrays), passed between our own processes; no user file is ever unpickled.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor

from lora_ui.fit_worker import NICE, bare_main

log = logging.getLogger(__name__)

# Seconds between a waiting page's checks for its traces (the Memory page, the Learn gallery). Ours: a trace
# takes seconds (docs/load.md, wait table: 6–11 s at p95), so polling every 0.75 s adds under a
# second to what the student waits, and a check is a fragment rerun that only asks the core, drawing nothing.
POLL_S = 0.75
# Seconds a worker waits for the next trace before it quits; ours, like the fit workers' idle time.
IDLE_S = float(os.environ.get("LORA_LAB_TRACE_WORKER_IDLE_S", "30"))


# Seconds between a worker's checks that the server that started it is still there; ours (an orphan lives
# at most this long).
PARENT_CHECK_S = 1.0


def _init(parent: int) -> None:
    """In the worker, before its first task. `parent`: the server's pid, passed in (if the server died before
    this runs, getppid() here would already name the new parent)."""
    try:
        os.nice(NICE)
    except OSError:  # not permitted here: run at normal priority
        pass
    threading.Thread(target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()
    import torch

    torch.set_num_threads(1)


def _exit_with_parent(parent: int) -> None:
    """Quit when the server process is gone (killed, crashed). Measured after a `make load` run: a replica
    server stopped mid-trace left its worker blocked for good writing the result into the executor's pipe
    (it holds that pipe's read end too, so the write never fails), keeping ~370 MB. The fit workers notice
    on their own connection (fit_worker.worker_main); a ProcessPoolExecutor worker does not."""
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent:  # re-parented to init or a subreaper: the server is gone
            os._exit(0)


class IdlePool:
    """One spawned worker process behind an Executor-like `submit`, shut down after `idle_s` idle."""

    def __init__(self, idle_s: float = IDLE_S):
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._busy = 0
        self._timer: threading.Timer | None = None

    def submit(self, fn, /, *args) -> Future:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            for attempt in (1, 2):  # a pool whose worker died is broken: replace it once
                if self._pool is None:
                    ctx = multiprocessing.get_context("spawn")  # never fork a threaded server
                    self._pool = ProcessPoolExecutor(
                        max_workers=1, mp_context=ctx, initializer=_init, initargs=(os.getpid(),)
                    )
                try:
                    with bare_main():  # the process starts inside submit (spawned on demand)
                        future = self._pool.submit(fn, *args)
                    break
                except Exception:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = None
                    if attempt == 2:
                        raise
            self._busy += 1
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future) -> None:
        with self._lock:
            self._busy -= 1
            if self._busy == 0 and self._pool is not None:
                self._timer = threading.Timer(self.idle_s, self._stop_if_idle)
                self._timer.daemon = True
                self._timer.start()

    def _stop_if_idle(self) -> None:
        with self._lock:
            if self._busy != 0 or self._pool is None:
                return
            pool, self._pool = self._pool, None
        pool.shutdown(wait=False, cancel_futures=True)
        log.info("trace worker idle for %.0f s: stopped", self.idle_s)

    @property
    def running(self) -> bool:
        return self._pool is not None

    def shutdown(self) -> None:
        with (
            self._lock
        ):  # take the pool out under the lock, wait for it outside (its callbacks take the lock)
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def prewarm() -> threading.Thread | None:
    """Ask the trace worker, in the background, for the traces a new visitor needs first: the Memory page's
    default view (lora_ui/memory_inputs.py) and the Learn gallery's memory cards. Returns at once; the
    traces queue in the niced worker (one at a time) and land in the core's cache. Nothing when traces run
    in this process (LORA_LAB_TRACE_WORKER=0, or no executor set) or LORA_LAB_TRACE_PREWARM=0."""
    from lora_core.memory import trace

    if (
        os.environ.get("LORA_LAB_TRACE_WORKER", "1") == "0"
        or os.environ.get("LORA_LAB_TRACE_PREWARM", "1") == "0"
    ):
        return None
    if trace.executor() is None:  # request() would trace right here, in the server: never at start
        return None
    thread = threading.Thread(target=_prewarm, name="trace-prewarm", daemon=True)
    thread.start()
    return thread


def _prewarm() -> None:
    try:
        from lora_core.memory.series import traces_ready
        from lora_ui.memory_inputs import default_view
        from lora_ui.scenarios import request_memory_figures

        traces_ready(*default_view())  # first in the queue: the page most visitors open
        request_memory_figures()
    except Exception:  # a warm-up must never take the server down; the pages ask again on their own
        log.exception("trace prewarm failed")
