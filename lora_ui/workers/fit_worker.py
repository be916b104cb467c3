"""Inside a fit worker process: run FitTasks from the server's pipe, stream their losses back.

Fits train outside the Streamlit process, so they never hold its GIL (on the 2-core classroom server a fit
in a thread of the server reached 50-100 steps/s against ~1000 in a plain process, and every rerun waited
behind it: docs/fit.md "Worker processes"). The process itself (spawn, nice, one torch thread, parent
watch, idle quit) is lora_ui.workers.process's.

Protocol (one duplex Pipe per worker; only our own plain data crosses it: numbers, strings, frozen
dataclasses, numpy arrays; never anything read from a user's file):
    parent -> worker   ("run", job_id, FitTask) | ("cancel", job_id) | ("quit",)
    worker -> parent   ("ready", pid) once, then per task:
                       ("floor", job_id, floor)
                       ("progress", job_id, [loss, ...], elapsed_s)  batched, at most every FLUSH_S
                       ("lanes", job_id, [(lane, loss), ...], elapsed_s)  a race's, batched likewise
                       ("done", job_id, result, elapsed_s) | ("error", job_id, user_error, detail)
                       detail: the LoraLabError itself (code and parameters), or another exception's message

The server's side of the exchange is lora_ui.workers.fit (FitRunner._run_in). This module imports
neither streamlit nor a page, so a spawned worker starts with torch and lora_core only.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from lora_core.errors import LoraLabError
from lora_ui.workers.process import NICE, WorkerProcess

FLUSH_S = 0.05  # a worker sends its new losses at most this often (20 messages/s, whatever the step rate)
CHECK_S = 0.02  # a worker reads its pipe (a cancel, the server gone) at most this often while it trains
# A fit runs at the server's priority for its first INTERACTIVE_S, then at NICE below it. The Fit page waits
# this long for a fit to end and draws its results in the same run (lora_ui/fit_live.py FIRST_WAIT_S): a
# default fit ends within it (0.03-0.09 s quiet), and at NICE from its start it crawled behind busy servers
# (beside two busy processes: p50 0.72 s, max 4.9 s, against 0.066 s at full priority;
# benchmarks/fit_contention.py); a long fit yields the CPU to the reruns after it. Linux only: there a
# thread's nice is its own (setpriority on the thread id), so each fit runs in a fresh thread of the worker
# at the worker's priority, and the worker's main thread lowers that thread alone; elsewhere the whole
# worker runs at NICE from its start, as before.
INTERACTIVE_S = 1.0
PER_THREAD_NICE = sys.platform.startswith("linux")


class WorkerDied(LoraLabError):
    """The worker process running a fit ended without answering (killed, out of memory, crashed)."""


class _PipeHooks:
    """The task's hooks inside the worker: losses and the floor go up the pipe; cancel comes down it."""

    def __init__(self, conn, job_id: int):
        self.conn, self.job_id = conn, job_id
        self.started = time.perf_counter()
        self._buffer: list[float] = []
        self._lanes: list[tuple[int, float]] = []  # a race's (lane, loss) pairs
        self._flushed = self._checked = 0.0
        self.cancelled = self.parent_gone = False

    def record(self, step: int, loss: float) -> None:
        self._buffer.append(loss)
        now = time.perf_counter()
        if now - self._flushed >= FLUSH_S:
            self.flush(now)

    def record_lane(self, lane: int, step: int, loss: float) -> None:
        self._lanes.append((lane, loss))
        now = time.perf_counter()
        if now - self._flushed >= FLUSH_S:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        if self._buffer and not self.parent_gone:
            self._send(("progress", self.job_id, self._buffer, now - self.started))
            self._buffer = []
        if self._lanes and not self.parent_gone:
            self._send(("lanes", self.job_id, self._lanes, now - self.started))
            self._lanes = []
        self._flushed = now

    def set_floor(self, floor: float) -> None:
        self._send(("floor", self.job_id, floor))

    def should_stop(self) -> bool:
        now = time.perf_counter()
        if self.cancelled or self.parent_gone or now - self._checked < CHECK_S:
            return self.cancelled or self.parent_gone
        self._checked = now
        try:
            while self.conn.poll():
                msg = self.conn.recv()
                if msg[0] == "cancel" and msg[1] == self.job_id:
                    self.cancelled = True
                elif msg[0] == "quit":
                    self.parent_gone = True
        except (EOFError, OSError):  # the server went away: stop and let the worker exit
            self.parent_gone = True
        return self.cancelled or self.parent_gone

    def _send(self, msg) -> None:
        try:
            self.conn.send(msg)
        except (BrokenPipeError, OSError):
            self.parent_gone = True


def demote(thread: threading.Thread) -> None:
    """Lower a thread's priority by NICE (Linux: nice is per thread, set on its thread id; a process may lower
    the priority of its own threads, never raise it again without privileges)."""
    try:
        tid = thread.native_id
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + NICE))
    except (OSError, TypeError):  # not permitted here, or the thread has ended; the fit runs on
        pass


class _Quiet:
    """The warm-up fit's hooks: nothing goes up the pipe, nothing stops it."""

    def record(self, step: int, loss: float) -> None:
        pass

    def record_lane(self, lane: int, step: int, loss: float) -> None:
        pass

    def set_floor(self, floor: float) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def warm() -> None:
    """The Fit page's default fit, once, before the worker says ready: the first fit in a fresh worker pays
    for lazy imports and first calls, and that first fit is a student's Train (benchmarks/fit_first.py,
    2026-11-29 15:31: the first fit, submit to end, median 99 ms in a cold worker, 53 ms in a warm one; the
    second 55 and 49 ms)."""
    from lora_core.fit import FIT, FitSettings, FitTask, TargetSettings

    FitTask(FIT, FitSettings(), generated=TargetSettings())(_Quiet())  # errors: process._child reports them


def start_fit_worker() -> WorkerProcess:
    """A new fit worker, warm and ready for its first task (raises when none can be started). At the server's
    priority on Linux (each fit lowers its own thread after INTERACTIVE_S), else at NICE."""
    return WorkerProcess(serve, name="lora-lab-fit", nice=0 if PER_THREAD_NICE else NICE, ready=warm)


def serve(conn) -> None:
    """In the worker, after lora_ui.workers.process's setup: run tasks until told to quit or orphaned."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the server is gone
        if msg[0] == "quit":
            return
        if msg[0] != "run":
            continue  # a late cancel for a task that already ended
        _, job_id, task = msg
        hooks = _PipeHooks(conn, job_id)
        replies: list = []
        if PER_THREAD_NICE:  # a fresh thread at the worker's priority, lowered if it runs past INTERACTIVE_S
            thread = threading.Thread(target=_run, args=(task, hooks, job_id, replies), name="fit-task")
            thread.start()
            thread.join(INTERACTIVE_S)
            if thread.is_alive():  # from here: also a long torch call that never asks should_stop
                demote(thread)
                thread.join()
        else:
            _run(task, hooks, job_id, replies)
        if hooks.parent_gone:
            return
        hooks._send(replies[0] if replies else ("error", job_id, False, "the fit ended without an answer"))


def _run(task, hooks: _PipeHooks, job_id: int, replies: list) -> None:
    try:
        result = task(hooks)
        hooks.flush()
        replies.append(("done", job_id, result, time.perf_counter() - hooks.started))
    except LoraLabError as exc:
        hooks.flush()
        replies.append(("error", job_id, True, exc))  # pickled as its code and parameters (errors.py)
    except Exception as exc:  # reported to the page; the worker stays up for the next fit
        hooks.flush()
        replies.append(("error", job_id, False, f"{type(exc).__name__}: {exc}"))
