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

import time

from lora_core.errors import LoraLabError
from lora_ui.workers.process import WorkerProcess

FLUSH_S = 0.05  # a worker sends its new losses at most this often (20 messages/s, whatever the step rate)
CHECK_S = 0.02  # a worker reads its pipe (a cancel, the server gone) at most this often while it trains


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


def start_fit_worker() -> WorkerProcess:
    """A new fit worker, ready for its first task (raises when none can be started)."""
    return WorkerProcess(serve, name="lora-lab-fit")


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
        try:
            result = task(hooks)
            hooks.flush()
            reply = ("done", job_id, result, time.perf_counter() - hooks.started)
        except LoraLabError as exc:
            hooks.flush()
            reply = ("error", job_id, True, exc)  # pickled as its code and parameters (errors.py)
        except Exception as exc:  # reported to the page; the worker stays up for the next fit
            hooks.flush()
            reply = ("error", job_id, False, f"{type(exc).__name__}: {exc}")
        if hooks.parent_gone:
            return
        hooks._send(reply)
