"""Fit worker processes: fits train outside the Streamlit process, so they never hold its GIL.

Why. In threads of the server, a fit and the other students' reruns take turns on one interpreter lock:
on the 2-core classroom server a fit reached 50-100 steps/s there against ~1000 in a plain process, and
every rerun waited behind it (docs/fit.md "Worker processes"). A worker process has its own interpreter.

Protocol (one duplex Pipe per worker; only our own plain data crosses it: numbers, strings, frozen
dataclasses, numpy arrays; never anything read from a user's file):
    parent -> worker   ("run", job_id, FitTask) | ("cancel", job_id) | ("quit",)
    worker -> parent   ("ready", pid) once, then per task:
                       ("floor", job_id, floor)
                       ("progress", job_id, [loss, ...], elapsed_s)  batched, at most every FLUSH_S
                       ("done", job_id, result, elapsed_s) | ("error", job_id, user_error, message)

This module imports neither streamlit nor the page, so a spawned worker starts with torch and lora_core
only. The parent side (`Worker`) is driven by lora_ui.fit_runner.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import types
from contextlib import contextmanager

from lora_core.errors import LoraLabError

NICE = 10  # workers yield the CPU to the server process (reruns first), `man 2 nice`
FLUSH_S = 0.05  # a worker sends its new losses at most this often (20 messages/s, whatever the step rate)
CHECK_S = 0.02  # a worker looks for a cancel message at most this often
START_TIMEOUT_S = 120.0  # spawn + `import torch` on a busy 2-core machine takes seconds; this is a bound
START_METHOD = os.environ.get(
    "LORA_LAB_FIT_START", "spawn"
)  # spawn or forkserver: never fork a threaded server


class WorkerDied(LoraLabError):
    """The worker process running a fit ended without answering (killed, out of memory, crashed)."""


class _PipeHooks:
    """The task's hooks inside the worker: losses and the floor go up the pipe; cancel comes down it."""

    def __init__(self, conn, job_id: int):
        self.conn, self.job_id = conn, job_id
        self.started = time.perf_counter()
        self._buffer: list[float] = []
        self._flushed = self._checked = 0.0
        self.cancelled = self.parent_gone = False

    def record(self, step: int, loss: float) -> None:
        self._buffer.append(loss)
        now = time.perf_counter()
        if now - self._flushed >= FLUSH_S:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        if self._buffer and not self.parent_gone:
            self._send(("progress", self.job_id, self._buffer, now - self.started))
            self._buffer = []
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


def worker_main(conn) -> None:
    """A worker's whole life: lower priority, one torch thread, then run tasks until told or orphaned."""
    try:
        os.nice(NICE)
    except OSError:  # not permitted on some systems; the fit still runs
        pass
    import torch

    torch.set_num_threads(1)  # one core per fit; the pool is at most one worker per core (fit_runner)
    conn.send(("ready", os.getpid()))
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
            reply = ("error", job_id, True, str(exc))
        except Exception as exc:  # reported to the page; the worker stays up for the next fit
            hooks.flush()
            reply = ("error", job_id, False, f"{type(exc).__name__}: {exc}")
        if hooks.parent_gone:
            return
        hooks._send(reply)


_START_LOCK = threading.Lock()


@contextmanager
def bare_main():
    """Let a spawned worker start without re-running the app.

    A spawned child first re-imports its parent's `__main__` (multiprocessing.spawn.get_preparation_data:
    by module name, or by `__file__`). In the server, `__main__` is whatever page script ran last:
    Streamlit's script runner puts a fresh module whose `__file__` is app.py into sys.modules["__main__"]
    on every run (streamlit/runtime/scriptrunner/script_runner.py, `_run_script`). Without this a worker
    would run the whole app in bare mode before its first fit. While the process starts, multiprocessing
    reads an empty stand-in instead (no file, no spec: nothing to re-import). Scripts run in their own
    module's namespace. Streamlit sets `__main__` from other threads without our lock: a run starting
    inside the (milliseconds) window leaves its module there, and we then leave it alone; the cost of that
    race is only a child that re-imports app.py in bare mode before it serves."""
    with _START_LOCK:
        saved = sys.modules["__main__"]
        stand_in = types.ModuleType("__main__")
        sys.modules["__main__"] = stand_in
        try:
            yield
        finally:
            if sys.modules.get("__main__") is stand_in:
                sys.modules["__main__"] = saved


class Worker:
    """The parent's handle on one worker process (used by one fit at a time)."""

    def __init__(self, context: str = START_METHOD, start_timeout: float = START_TIMEOUT_S):
        ctx = multiprocessing.get_context(context)
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=worker_main, args=(child,), name="lora-lab-fit", daemon=True)
        with bare_main():
            self.process.start()
        child.close()
        if not self.conn.poll(start_timeout):
            self.kill()
            raise RuntimeError(f"the fit worker did not start within {start_timeout:.0f} s")
        msg = self.conn.recv()
        if msg[0] != "ready":
            self.kill()
            raise RuntimeError(f"the fit worker sent {msg[0]!r} instead of 'ready'")
        self.pid = msg[1]

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def send(self, msg) -> bool:
        try:
            self.conn.send(msg)
            return True
        except (BrokenPipeError, OSError):
            return False

    def receive(self, timeout: float):
        """The next message, None if none came within timeout; raises EOFError when the worker is gone."""
        if self.conn.poll(timeout):
            return self.conn.recv()
        if not self.process.is_alive() and not self.conn.poll(0):
            raise EOFError("the fit worker exited")
        return None

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def quit(self) -> None:
        self.send(("quit",))
        self.process.join(2)
        self.kill()
