"""One job, one answer, in a worker process: what the Memory page's replay and trace runners share.

A `JobRunner` hands plain-data jobs (lora_core's frozen dataclasses: reserve.ReplayJob, trace_jobs.TraceJob) to
worker processes of a `WorkerPool` and keeps each answer in this process (the core's caches), so that the
page's own core call finds it:
- one job per key in flight: a second caller of the same key waits for the first one's answer;
- at most `max_workers` jobs at once (one per core), the rest wait their turn (FIFO);
- a worker that dies, answers with an error or runs past `job_cap_s`: `_here(job)` answers instead (the
  subclass decides: the replay runs in this process, a trace is left to the caller) and the next job takes
  or starts another worker; one that cannot start closes the pool for process.RETRY_S (its callers answer
  here meanwhile);
- `start_on_demand` False: a job takes an idle worker or none (it neither starts one nor waits for one being
  started: a trace worker takes seconds to start, its job a fraction of one);
- `follow_up` True: after its answer, a worker sends one more message about the job (`then`: a trace worker
  replays the recipe it has just traced). The answer is kept as soon as it comes (`_answered`; a caller waits
  for it with `first_answer`), the job ends when the follow-up has come (`_then`). A caller sharing a job in
  flight shares its follow-up too (`running` says which job that is).

`serve_jobs` is the worker's side of the protocol (one duplex Pipe per worker; only our own plain data
crosses it):
    parent -> worker   (kind, job_id, job) | ("quit",)
    worker -> parent   ("ready", pid) once, then per job ("done", job_id, answer) | ("error", job_id, message),
                       and after "done", with `then`: ("then", job_id, then(job, answer) or None if it raised)

This module imports neither streamlit nor a page: worker processes import it.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from lora_ui.workers.process import PoolRunner, WorkerPool, WorkerProcess

log = logging.getLogger(__name__)

POLL_S = 1.0  # how often a waiting job checks that its worker is still alive

_ids = itertools.count(1)


class _First:
    """A follow_up job (the one that runs: callers sharing its key share it) and its answer, handed over before
    the job ends."""

    def __init__(self, job):
        self.job = job
        self.future: Future | None = None  # set by start, before the job can run
        self.ready = threading.Event()  # set when the answer is handed over, or the job ended without one
        self.answer = None


def serve_jobs(conn, kind: str, work: Callable, then: Callable | None = None) -> None:
    """A worker's loop: answer one `kind` job at a time with work(job) until ("quit",) or the server's end of
    the pipe closes; with `then`, follow each answer with then(job, answer) (the runner's `follow_up`)."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the server is gone
            return
        if msg[0] == "quit":
            return
        if msg[0] != kind:
            continue
        _, job_id, job = msg
        try:
            answer = work(job)
            reply = ("done", job_id, answer)
        except Exception as exc:  # sent to the server, whose runner decides what to do instead
            reply = ("error", job_id, f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
            if then is not None and reply[0] == "done":
                try:
                    more = then(job, answer)
                except Exception:  # a follow-up is a head start only: the server computes what is missing
                    more = None
                conn.send(("then", job_id, more))
        except (BrokenPipeError, OSError):
            return


class JobRunner(PoolRunner):
    """Runs jobs with a `key` in worker processes (see the module docstring). A subclass names its `kind`
    and says what is known already (`_known`), what answers here (`_here`) and how an answer is kept
    (`_remember`)."""

    kind = "job"
    start_on_demand = True
    follow_up = False  # the worker sends ("then", job_id, ...) after each answer (see the module docstring)

    def __init__(
        self,
        start_worker: Callable[[], WorkerProcess],
        *,
        max_workers: int,
        processes: bool,
        idle_s: float,
        job_cap_s: float,
        fallback: str,
    ):
        self.max_workers = max_workers
        self.processes = processes
        self.job_cap_s = job_cap_s
        self._pool = WorkerPool(start_worker, idle_s, fallback=fallback)
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix=self.kind)
        self._lock = threading.Lock()
        self._inflight: dict[str, Future] = {}
        self._firsts: dict[Future, _First] = {}  # follow_up: the jobs in flight, their answers once handed over
        self._running = 0
        self.in_workers = 0  # jobs a worker answered
        self.here = 0  # jobs answered in this process (workers off, or a worker failed)

    # -- what a subclass says -----------------------------------------------------------------------------
    def _known(self, job):
        """The answer this process already has for job.key, else None."""
        raise NotImplementedError

    def _here(self, job):
        """The answer computed in this process (or None: the caller computes it when it asks)."""
        raise NotImplementedError

    def _remember(self, job, answer):
        """Keep the answer where this process's core finds it; returns it."""
        raise NotImplementedError

    def _failed(self, job, message: str) -> None:
        """The worker answered the job with an error (`message`); it was answered here instead."""
        log.warning("%s worker failed (%s); %s", self.kind, message, self._pool.fallback)

    def _then(self, job, more) -> None:
        """follow_up: what the worker sent after its answer (None: it had nothing, or it failed)."""

    # -- the runner ---------------------------------------------------------------------------------------
    def start(self, job) -> Future | None:
        """The job of job.key: the one in flight, the answer if one ended meanwhile, else started now; None
        when workers are off."""
        if not self.use_processes:
            return None
        with self._lock:
            future = self._inflight.get(job.key)
            if future is not None:
                return future
            answer = self._known(job)  # a job that ended since the caller looked: kept before it left
            if answer is not None:
                future = Future()
                future.set_result(answer)
                return future
            first = _First(job) if self.follow_up else None
            future = self._executor.submit(self._work, job, first)  # it waits for our lock before it starts
            self._inflight[job.key] = future
            if first is not None:
                first.future = future
                self._firsts[future] = first
            return future

    def running(self, future: Future):
        """follow_up: the job `future` (from `start`) runs, None once it has ended: another caller's job of the
        same key when `start` handed out the one in flight."""
        with self._lock:
            first = self._firsts.get(future)
        return None if first is None else first.job

    def first_answer(self, future: Future):
        """follow_up: the answer of the job `future` (from `start`) as soon as it is handed over, before its
        follow-up; None when there was none (the job failed, or ended here without one)."""
        with self._lock:
            first = self._firsts.get(future)
        if first is None:  # the job ended before we looked
            return future.result()
        future.add_done_callback(lambda _f: first.ready.set())  # a job that ends without an answer
        first.ready.wait()
        return first.answer if first.answer is not None else future.result()

    def in_flight_future(self, key: str) -> Future | None:
        with self._lock:
            return self._inflight.get(key)

    def _free_slots(self) -> int:
        with self._lock:
            return self.max_workers - self._running

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._inflight)

    def close(self) -> None:
        """Stop the idle workers; jobs in flight or queued end in the runner's threads (here, from now on)."""
        super().close()
        self._executor.shutdown(wait=False)

    def _count(self, here: bool) -> None:
        with self._lock:
            if here:
                self.here += 1
            else:
                self.in_workers += 1

    # -- inside the runner's threads ----------------------------------------------------------------------
    def _work(self, job, first: _First | None = None):
        with self._lock:
            self._running += 1
        try:
            answer = self._in_worker(job, first) if self.use_processes else None
            self._count(here=answer is None)
            if answer is None:
                answer = self._here(job)
            if first is not None and first.answer is not None:
                return first.answer  # kept when it came (_answered)
            # kept before the job leaves _inflight: a caller's next look finds one of them
            return None if answer is None else self._remember(job, answer)
        finally:
            with self._lock:
                self._running -= 1
                self._inflight.pop(job.key, None)
                if first is not None:
                    self._firsts.pop(first.future, None)

    def _in_worker(self, job, first: _First | None = None):
        """The worker's answer; None when there was no worker or it failed."""
        worker = self._pool.take_or_none() if self.start_on_demand else self._pool.take_idle()
        if worker is None:
            return None
        job_id = next(_ids)
        try:
            sent = worker.send((self.kind, job_id, job))
        except Exception as exc:  # the job would not pickle: a bug, but the answer still comes from here
            self._lost(worker, f"the job could not be sent: {exc!r}")
            return None
        if not sent:
            self._lost(worker, "the pipe was closed")
            return None
        msg = self._reply(worker, job_id)
        if msg is None:
            return None
        if msg[0] != "done":
            self._keep(worker)
            self._failed(job, msg[2])
            return None
        if self.follow_up:
            try:
                self._answered(msg[2], job, first)
                more = self._reply(worker, job_id)
                if more is None:  # the worker was lost after its answer, which stands
                    return msg[2]
                self._then(job, more[2] if more[0] == "then" else None)
            except Exception as exc:  # not kept here: a bug, but no worker is left outside the pool
                self._lost(worker, f"its answer could not be kept: {exc!r}")
                raise
        self._keep(worker)
        return msg[2]

    def _reply(self, worker: WorkerProcess, job_id: int):
        """The worker's next message about job_id; None when it died, sent what could not be read or ran past
        job_cap_s (it is stopped then)."""
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
                if time.monotonic() - started > self.job_cap_s:
                    self._lost(worker, f"no answer within {self.job_cap_s:.0f} s")
                    return None
                continue
            if msg[1] == job_id:
                return msg

    def _answered(self, answer, job, first: _First | None) -> None:
        """follow_up: keep the answer now, and wake whoever waits in first_answer."""
        answer = self._remember(job, answer)
        if first is not None:
            first.answer = answer
            first.ready.set()

    def _keep(self, worker: WorkerProcess) -> None:
        if self.processes:
            self._pool.park(worker)
        else:  # closed meanwhile: keep nothing
            worker.quit()

    def _lost(self, worker: WorkerProcess, why: str) -> None:
        log.warning("%s worker lost (%s, exit code %s); %s", self.kind, why, worker.stop(), self._pool.fallback)
