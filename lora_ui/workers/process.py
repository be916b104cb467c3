"""Worker processes: how one starts, how it lives, when it quits. The one process helper of LoRA Lab.

Why processes. In threads of the server, core work and the other students' reruns take turns on one
interpreter lock: a fit crawled there and every rerun waited behind it (docs/fit.md "Worker processes"). A
worker process has its own interpreter. Every worker lives by the same rules:
- Spawned (or forkserver), never forked from the threaded server; `bare_main` keeps a spawned child from
  re-running the app's script before it serves.
- `os.nice(nice)`, NICE unless a visitor's rerun waits for the work (replays; fits lower their own thread
  after their first second: fit_worker.INTERACTIVE_S): the server process (reruns) gets the CPU first.
- One torch thread: a pool holds at most one worker per core.
- Parent watch: a worker talks to its server over one duplex Pipe, and reads it whenever it waits (blocked
  on it when idle, polling it while it works: lora_ui.workers.fit_worker). When the server dies, killed or
  crashed, the OS closes the server's end, the worker's next read gets EOF and the worker exits.
- Idle quit: `WorkerPool` keeps started workers for the next job and stops those idle longer than its
  idle_s. The app's pools keep theirs for the server's life by default (the warm-up starts them, so they are
  in the RSS at health ok: issue 6's "RSS back within 15 % of its start"); an operator's
  LORA_LAB_{FIT,REPLAY,TRACE}_WORKER_IDLE_S gives idle ones back after that many seconds.

Only our own plain data crosses a pipe (numbers, strings, frozen dataclasses, numpy arrays): never
anything read from a user's file.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
import time
import types
from collections.abc import Callable
from contextlib import contextmanager

log = logging.getLogger(__name__)

NICE = 10  # workers yield the CPU to the server process (reruns first), `man 2 nice`
# spawn + `import torch` (+ a worker's warm-up: a trace of every architecture, a fit) takes seconds on a busy
# 2-core machine (trace workers 7-9 s of CPU, our measurement); this is a bound
START_TIMEOUT_S = 120.0
START_METHOD = os.environ.get(
    "LORA_LAB_FIT_START", "spawn"
)  # spawn or forkserver: never fork a threaded server
# After a worker failed to start, the pool's callers do the work in the server for this long, then processes are
# tried again (ours: a busy machine can miss one start timeout without processes being impossible).
RETRY_S = 60.0
REAP_EVERY_S = 5.0  # how often a pool looks for workers idle too long (ours: an operator's idle_s, tens of seconds up)
# How long a worker asked to quit gets before it is killed: it leaves with os._exit as soon as it reads the
# message (12-22 ms when idle, our measurement); a niced worker on a loaded 2-core machine can wait seconds for the CPU
# (CI killed one that needed more than 2 s). Callers: the reaper thread, and a runner's close at shutdown (and a
# job's thread after it), never a visitor's run; `WorkerPool.close` asks every idle worker first, then waits.
QUIT_GRACE_S = 10.0
POLL_S = 0.1  # how often `WorkerPool.take` re-checks a worker being started in the background


def _child(
    main: Callable, conn, args: tuple, uses_torch: bool = True, nice: int = NICE, ready: Callable | None = None
) -> None:
    """A worker's life: lower priority (`nice`), one torch thread (for workers that use torch), `ready()` (its
    own warm-up, if any), say ready, then `main(conn, *args)` until it returns."""
    try:
        if nice:
            os.nice(nice)
    except OSError:  # not permitted on some systems; the work still runs
        pass
    if uses_torch:
        import torch

        torch.set_num_threads(1)  # one core per worker; a pool holds at most one worker per core
    if ready is not None:
        try:
            ready()
        except Exception as exc:  # a warm-up is a head start only: the worker serves without it
            print(f"lora-lab worker {os.getpid()}: warm-up failed ({type(exc).__name__}: {exc})", file=sys.stderr)
    conn.send(("ready", os.getpid()))
    main(conn, *args)
    # Leave at once: an interpreter's teardown with torch loaded takes ~0.5 s of CPU (our measurement), and a
    # niced worker on a busy machine can take several seconds to get it; a worker holds nothing to flush but
    # its standard streams, and its pipe end closes with it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


_START_LOCK = threading.Lock()


@contextmanager
def bare_main():
    """Let a spawned worker start without re-running the app.

    A spawned child first re-imports its parent's `__main__` (multiprocessing.spawn.get_preparation_data:
    by module name, or by `__file__`). In the server, `__main__` is whatever page script ran last:
    Streamlit's script runner puts a fresh module whose `__file__` is app.py into sys.modules["__main__"]
    on every run (streamlit/runtime/scriptrunner/script_runner.py, `_run_script`). Without this a worker
    would run the whole app in bare mode before its first job. While the process starts, multiprocessing
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


class WorkerProcess:
    """The server's handle on one worker process running `main(conn, *args)` (one job at a time).

    `main` must be a module-level function of a module that imports neither streamlit nor a page, so that
    a spawned worker starts with torch and lora_core only (lora_core only with uses_torch=False: a worker
    whose jobs never touch torch starts in a fraction of a second and holds tens of MB, not hundreds).
    `nice`: how much lower than the server the worker runs (NICE; 0 for work a visitor's rerun waits for).
    `ready`: a module-level function the worker runs before it says ready (its warm-up)."""

    def __init__(
        self,
        main: Callable,
        *args,
        name: str = "lora-lab-worker",
        context: str = START_METHOD,
        start_timeout: float = START_TIMEOUT_S,
        uses_torch: bool = True,
        nice: int = NICE,
        ready: Callable | None = None,
    ):
        ctx = multiprocessing.get_context(context)
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=_child, args=(main, child, args, uses_torch, nice, ready), name=name, daemon=True
        )
        with bare_main():
            self.process.start()
        child.close()  # the worker's end lives in the worker only: its exit is our EOF, ours is its EOF
        if not self.conn.poll(start_timeout):
            self.stop()
            raise RuntimeError(f"the worker did not start within {start_timeout:.0f} s")
        try:
            msg = self.conn.recv()
        except (EOFError, OSError):
            code = self.stop(grace_s=5)
            raise RuntimeError(f"the worker exited before it was ready (exit code {code})") from None
        if msg[0] != "ready":
            self.stop()
            raise RuntimeError(f"the worker sent {msg[0]!r} instead of 'ready'")
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
            raise EOFError("the worker exited")
        return None

    def stop(self, grace_s: float = 0.0) -> int | None:
        """Wait up to grace_s for the worker to exit, kill it if it has not, close the pipe; its exit code."""
        self.process.join(grace_s)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()
        return self.process.exitcode

    def quit(self) -> None:
        """Ask the worker to return from `main` (("quit",) on its pipe), and make sure it has."""
        self.send(("quit",))
        self.stop(grace_s=QUIT_GRACE_S)


class WorkerPool:
    """Started workers kept for the next jobs. `take` hands out an idle one or starts one; `park` takes it
    back; a reaper thread stops the workers idle longer than idle_s. `warm(n)` starts workers in the
    background ahead of the jobs, until n are idle or starting. The caller bounds how many are taken at once
    and asks for at most its bound minus those taken, and `take` waits for a starting worker rather than
    start another: the pool then never holds more workers than the caller's bound. A worker that cannot start
    closes the pool for RETRY_S (`available` is False, `take_or_none` answers None): the caller then does the
    work in the server, saying so once with `fallback` in the log."""

    def __init__(self, start: Callable[[], WorkerProcess], idle_s: float, fallback: str = "the server does the work"):
        self.idle_s = idle_s
        self._start = start
        self.fallback = fallback
        self._retry_at = 0.0  # monotonic time before which no worker is started (one failed to start)
        self._lock = threading.Condition()
        self._idle: list[tuple[WorkerProcess, float]] = []  # (worker, when it became idle), oldest first
        self._warming = 0  # workers being started by warm()
        self._reaper: threading.Thread | None = None

    @property
    def idle(self) -> int:
        """Idle workers kept for the next jobs."""
        with self._lock:
            return len(self._idle)

    @property
    def starting(self) -> int:
        """Workers warm() is starting in the background (not yet idle)."""
        with self._lock:
            return self._warming

    def warm(self, n: int = 1) -> None:
        """Start workers in the background until n are idle or starting."""
        with self._lock:
            more = max(0, n - len(self._idle) - self._warming)
            self._warming += more
        for _ in range(more):
            threading.Thread(target=self._warm, name="worker-warm", daemon=True).start()

    def _warm(self) -> None:
        worker = None
        try:
            worker = self._start()
        except Exception as exc:
            self.failed(exc)
        finally:
            with self._lock:
                self._warming -= 1
                if worker is not None:
                    self._park(worker)
                self._lock.notify_all()

    def take(self) -> WorkerProcess:
        """An idle worker that is still alive, or a new one (raises what starting one raises)."""
        with self._lock:
            while True:
                while self._idle:
                    worker, _ = self._idle.pop()
                    if worker.alive:
                        return worker
                    worker.stop()
                if not self._warming:
                    break
                # a starting worker will be ours: never more workers than the caller's bound
                self._lock.wait(POLL_S)
        return self._start()

    @property
    def available(self) -> bool:
        """Whether to use workers now: no start failed within the last RETRY_S."""
        return time.monotonic() >= self._retry_at

    def failed(self, exc: Exception) -> None:
        """A worker could not start: none is started for RETRY_S."""
        if self.available:
            log.warning("worker process could not start (%r); %s for the next %.0f s", exc, self.fallback, RETRY_S)
        self._retry_at = time.monotonic() + RETRY_S

    def take_idle(self) -> WorkerProcess | None:
        """An idle worker that is still alive, or None: never starts one nor waits for one starting."""
        with self._lock:
            while self._idle:
                worker, _ = self._idle.pop()
                if worker.alive:
                    return worker
                worker.stop()
        return None

    def take_or_none(self) -> WorkerProcess | None:
        """`take`, or None (and `failed`) when no worker can be started."""
        try:
            return self.take()
        except Exception as exc:
            self.failed(exc)
            return None

    def park(self, worker: WorkerProcess) -> None:
        """Keep a worker that finished its job for the next one."""
        with self._lock:
            self._park(worker)

    def _park(self, worker: WorkerProcess) -> None:  # with the lock held
        self._idle.append((worker, time.monotonic()))
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap_forever, name="worker-reaper", daemon=True)
            self._reaper.start()

    def reap(self, idle_s: float | None = None) -> int:
        """Stop the workers idle at least idle_s (default: the pool's); returns how many."""
        limit = self.idle_s if idle_s is None else idle_s
        now = time.monotonic()
        with self._lock:
            old = [w for w, since in self._idle if now - since >= limit]
            self._idle = [(w, since) for w, since in self._idle if now - since < limit]
        for worker in old:
            worker.quit()
        return len(old)

    def _reap_forever(self) -> None:
        while True:
            time.sleep(REAP_EVERY_S)
            self.reap()

    def close(self) -> None:
        """Stop the idle workers (taken ones are the caller's to park or stop)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker, _ in idle:  # all asked at once: the graces overlap
            worker.send(("quit",))
        for worker, _ in idle:
            worker.stop(grace_s=QUIT_GRACE_S)


class PoolRunner:
    """What a runner of jobs in a WorkerPool shows and does alike (lora_ui.workers.fit.FitRunner,
    lora_ui.workers.replay.ReplayRunner): `processes` False means the server does the work itself; the
    pool's idle and starting workers; warm up to the free slots; reap; close. A subclass sets `processes`
    and `_pool`, and says how many slots are free."""

    processes: bool
    _pool: WorkerPool

    def _free_slots(self) -> int:
        raise NotImplementedError

    @property
    def use_processes(self) -> bool:
        """Workers are on and none failed to start within the last RETRY_S."""
        return self.processes and self._pool.available

    @property
    def workers(self) -> int:
        """Idle worker processes kept for the next jobs."""
        return self._pool.idle

    @property
    def starting(self) -> int:
        """Worker processes being started in the background by warm()."""
        return self._pool.starting

    def warm(self) -> None:
        """Start workers in the background up to the free slots, so that a job need not wait for one."""
        if self.use_processes:
            self._pool.warm(max(0, self._free_slots()))

    def reap(self, idle_s: float | None = None) -> int:
        """Stop the workers idle at least idle_s (default: the pool's idle_s); returns how many."""
        return self._pool.reap(idle_s)

    def close(self) -> None:
        """Stop the idle workers; taken ones are stopped or parked by their jobs' ends."""
        self.processes = False
        self._pool.close()
