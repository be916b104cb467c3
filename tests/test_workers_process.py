"""The worker-process helper (lora_ui/workers/process.py): a pool reaps idle workers when it has an idle
limit (the app's pools keep theirs unless an operator sets one), and no worker outlives its server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import psutil
import pytest

from lora_ui.workers import process
from lora_ui.workers.fit_worker import serve
from lora_ui.workers.process import WorkerPool, WorkerProcess

pytestmark = pytest.mark.server  # worker processes

BOUND_S = 120  # generous bound for waits on a busy machine (a worker imports torch); never a timing assertion
ROOT = Path(__file__).resolve().parents[1]


def wait_for(cond, what):
    deadline = time.monotonic() + BOUND_S
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_worker_runs_niced_and_the_pool_reaps_it_when_idle(monkeypatch):
    """The reaper thread alone (nobody calls reap) stops a parked worker once it has idled idle_s."""
    monkeypatch.setattr(process, "REAP_EVERY_S", 0.05)
    pool = WorkerPool(lambda: WorkerProcess(serve), idle_s=0.3)  # WorkerProcess's default: niced by NICE
    try:
        worker = pool.take()  # none idle: a new one
        me = psutil.Process()
        child = psutil.Process(worker.pid)
        assert child.ppid() == os.getpid() and child.nice() == min(me.nice() + process.NICE, 19)
        pool.park(worker)
        assert pool.idle == 1 and pool.take() is worker  # parked workers are reused
        pool.park(worker)
        wait_for(lambda: pool.idle == 0, "the reaper")
        wait_for(lambda: not worker.alive, "the worker to quit")
        assert worker.process.exitcode == 0  # it was asked to quit, not killed
    finally:
        pool.close()


def test_the_pools_keep_their_workers_for_the_servers_life_unless_told(monkeypatch):
    """The warm-up starts every pool's workers and they stay (a class may come long after the start; reaped
    after 30 s, a class 45 s after health ok paid for new ones: docs/load.md "Round 9"); an operator's
    LORA_LAB_*_WORKER_IDLE_S still gives idle ones back."""
    names = ("LORA_LAB_FIT_WORKER_IDLE_S", "LORA_LAB_REPLAY_WORKER_IDLE_S", "LORA_LAB_TRACE_WORKER_IDLE_S")
    code = "from lora_ui.workers import fit, replay, trace; print(fit.IDLE_S, replay.IDLE_S, trace.IDLE_S)"
    env = {k: v for k, v in os.environ.items() if k not in names}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=BOUND_S)
    assert out.stdout.split() == ["inf", "inf", "inf"], out.stderr
    told = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**env, **dict.fromkeys(names, "30")}, capture_output=True,
        text=True, timeout=BOUND_S,
    )  # fmt: skip
    assert told.stdout.split() == ["30.0", "30.0", "30.0"], told.stderr

    class Stub:
        quits = 0

        def quit(self):
            Stub.quits += 1

    monkeypatch.setattr(process, "REAP_EVERY_S", 3600.0)  # no reaper thread run during the test
    kept, told_pool = WorkerPool(Stub, idle_s=float("inf")), WorkerPool(Stub, idle_s=30.0)
    kept.park(Stub())
    told_pool.park(Stub())
    later = types.SimpleNamespace(monotonic=lambda: 1e12, sleep=time.sleep)  # a very long quiet spell later
    monkeypatch.setattr(process, "time", later)
    assert kept.reap() == 0 and kept.idle == 1 and Stub.quits == 0
    assert told_pool.reap() == 1 and told_pool.idle == 0 and Stub.quits == 1


# A stand-in server: two fit workers, one busy with a task that never ends and one idle after its task,
# when the server is killed (SIGKILL: no atexit, no shutdown, no `quit` message).
_SERVER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from lora_ui.workers.fit import FitRunner
from tests.fit_gate import GateTask

folder = sys.argv[2]
runner = FitRunner(max_running=2, processes=True)
done, busy = GateTask(folder, "idle"), GateTask(folder, "busy")
jobs = [runner.submit(done), runner.submit(busy)]
while not (done.started() and busy.started()):
    time.sleep(0.01)
done.open()
while jobs[0].active:
    time.sleep(0.01)
print("ready", flush=True)
time.sleep(600)
"""


def exited(proc: psutil.Process) -> bool:
    """Gone, or a zombie (on a machine whose init does not reap orphans)."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_workers_quit_when_their_server_is_killed(tmp_path):
    from tests.fit_gate import GateTask

    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(ROOT), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    workers = []
    try:
        assert server.stdout.readline().strip() == "ready"
        workers = [psutil.Process(GateTask(str(tmp_path), name).pid()) for name in ("idle", "busy")]
        assert workers[0].pid != workers[1].pid
        assert all(w.is_running() and w.ppid() == server.pid for w in workers)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        for w in workers:
            wait_for(lambda w=w: exited(w), f"worker {w.pid} to quit")
    finally:
        server.kill()
        for w in workers:
            if not exited(w):
                w.kill()  # the test failed: leave no orphan behind


def _write_marker() -> None:  # a worker's ready hook (module level: a spawned child imports it by name)
    Path(os.environ["LORA_LAB_TEST_MARKER"]).write_text(str(os.getpid()))


def test_a_workers_warm_up_runs_before_it_says_ready(tmp_path, monkeypatch):
    marker = tmp_path / "warm"
    monkeypatch.setenv("LORA_LAB_TEST_MARKER", str(marker))
    worker = WorkerProcess(serve, ready=_write_marker)
    try:
        assert marker.read_text() == str(worker.pid)  # written by the worker before the constructor returned
    finally:
        worker.quit()


def test_fit_and_trace_workers_warm_up_before_they_are_ready():
    from lora_ui.workers import fit_worker, trace_worker

    calls = []
    original = process.WorkerProcess.__init__

    def spy(self, main, *args, ready=None, **kwargs):
        calls.append(ready)
        raise RuntimeError("not started in this test")

    process.WorkerProcess.__init__ = spy
    try:
        for start in (fit_worker.start_fit_worker, trace_worker.start_trace_worker):
            with pytest.raises(RuntimeError):
                start()
    finally:
        process.WorkerProcess.__init__ = original
    assert calls == [fit_worker.warm, trace_worker.warm]
