"""Fits in worker processes: start, stream, cancel, caps, a killed worker, the freed slot, the fallback.

One runner (two workers at most) serves the whole module, as one serves the whole server: workers are
started lazily and reused, so only the first tests pay for starting them.
"""

from __future__ import annotations

import logging
import os
import signal
import time

import numpy as np
import pytest

from lora_core.errors import Clause, LoraLabError
from lora_core.fit import (
    FIT,
    SWEEP,
    FitPreview,
    FitSettings,
    FitTask,
    RegressionSettings,
    TargetSettings,
    sweep_ranks,
)
from lora_ui.fit_live import FIRST_WAIT_S
from lora_ui.workers import fit as workers_fit
from lora_ui.workers import fit_worker
from lora_ui.workers.fit import CANCELLED, DONE, ERROR, RUNNING, FitRunner
from lora_ui.workers.fit_worker import WorkerDied
from lora_ui.workers.process import NICE
from tests.fit_gate import FailingTask, GateTask, NiceProbe

pytestmark = pytest.mark.server  # worker processes

BOUND_S = 120  # generous bound for waits on a busy machine (a worker imports torch); never a timing assertion


def wait_for(cond, what):
    deadline = time.monotonic() + BOUND_S
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def runner():
    r = FitRunner(max_running=2, processes=True)
    yield r
    r.close()


def tiny_fit(steps: int = 20, kind: str = FIT) -> FitTask:
    """Exactly `steps` Adam steps (converge=False: no stop at the floor), so every count below is known."""
    settings = FitSettings(r=2, steps=steps, converge=False)
    return FitTask(kind, settings, generated=TargetSettings(12, 10, 3, "geometric", 0.0))


def test_a_fit_runs_in_a_worker_and_streams_its_losses(runner):
    runner.warm()  # as the page does on render: a worker per fit slot, started in the background
    wait_for(lambda: runner.workers == 2, "the warm workers")
    runner.warm()  # idempotent: never more than the slots
    assert runner.workers == 2
    job = runner.submit(tiny_fit(20), total_steps=20)
    wait_for(lambda: not job.active, "the fit")
    assert job.state == DONE and job.in_process, job.error
    assert len(job.losses) == 20 + 1  # streamed in batches: the loss before each step, and after the last
    assert job.floor is not None and job.floor >= 0
    assert isinstance(job.result, FitPreview) and isinstance(job.result.target, np.ndarray)
    assert job.result.payload["steps"] == 20
    assert job.result.payload["losses"] == pytest.approx(job.losses)
    assert runner.running == 0 and runner.workers >= 1  # the worker waits for the next fit


def test_regression_and_sweep_come_back_as_plain_data(runner):
    reg = FitTask(FIT, FitSettings(r=1, steps=10), regression=RegressionSettings(60, 8, 6, "ones", 1))
    sweep = tiny_fit(10, SWEEP)
    jobs = [runner.submit(reg, total_steps=10), runner.submit(sweep)]
    wait_for(lambda: not any(j.active for j in jobs), "the fits")
    assert [j.state for j in jobs] == [DONE, DONE], [j.error for j in jobs]
    assert jobs[0].result.payload["mode"] == "regression"
    assert tuple(p.r for p in jobs[1].result) == sweep_ranks(min(12, 10))


def test_workers_are_reused_and_bounded(runner, tmp_path):
    tasks = [GateTask(str(tmp_path), str(i)) for i in range(4)]
    jobs = [runner.submit(t) for t in tasks]
    for t in tasks:
        wait_for(t.started, f"task {t.name}")
        t.open()
    wait_for(lambda: not any(j.active for j in jobs), "the tasks")
    pids = {t.pid() for t in tasks}
    assert len(pids) <= runner.max_running and os.getpid() not in pids
    assert runner.workers <= runner.max_running


def test_idle_workers_quit_and_a_new_one_starts_when_needed(runner):
    runner.warm()  # this test alone (or first on its xdist worker) has no worker from an earlier fit
    # every warm worker started (one still starting would be idle after the reap), none running
    wait_for(lambda: runner.running == 0 and runner.starting == 0 and runner.workers >= 1, "an idle worker")
    assert runner.reap(idle_s=0.0) >= 1  # reaped (an operator's LORA_LAB_FIT_WORKER_IDLE_S does this)
    assert runner.workers == 0
    job = runner.submit(tiny_fit(5), total_steps=5)
    wait_for(lambda: not job.active, "a fit on a fresh worker")
    assert job.state == DONE and job.in_process


def test_stop_cancels_a_running_fit_and_keeps_its_partial_result(runner):
    job = runner.submit(tiny_fit(20_000), total_steps=20_000)
    wait_for(lambda: len(job.losses) > 5, "the first steps")
    job.cancel()
    wait_for(lambda: not job.active, "the stop")
    assert job.state == CANCELLED and job.error is None
    assert job.result is not None and job.result.payload["stop_reason"] == "cancelled"
    assert job.result.payload["steps"] < 20_000


def test_a_queued_fit_can_be_cancelled_and_never_runs(tmp_path):
    one = FitRunner(max_running=1, processes=True)
    first, second = GateTask(str(tmp_path), "a"), GateTask(str(tmp_path), "b")
    j1 = one.submit(first)
    wait_for(lambda: j1.state == RUNNING, "first fit")
    j2 = one.submit(second)
    j2.cancel()
    wait_for(lambda: j2.state == CANCELLED, "cancel while queued")
    assert not second.started()
    j1.cancel()
    wait_for(lambda: j1.state == CANCELLED, "cancel while running")
    wait_for(lambda: one.running == 0, "the slot freed")  # freed just after the state flips
    one.close()


def test_the_runner_caps_a_job_that_runs_too_long(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(workers_fit, "JOB_CAP_S", 0.3)
    job = runner.submit(GateTask(str(tmp_path), "never"))  # never opened: only the cap ends it
    wait_for(lambda: not job.active, "the cap")
    assert job.state == CANCELLED
    wait_for(lambda: runner.running == 0, "the slot freed")  # freed just after the state flips


def test_a_fit_whose_session_left_is_cancelled(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(workers_fit, "GONE_GRACE_S", 0.0)
    monkeypatch.setattr(workers_fit, "ALIVE_EVERY_S", 0.0)
    here = {"alive": True}
    job = runner.submit(GateTask(str(tmp_path), "left"), alive=lambda: here["alive"])
    wait_for(lambda: job.state == RUNNING, "the fit to start")
    here["alive"] = False  # the browser tab closed
    wait_for(lambda: job.state == CANCELLED, "cancel after the session left")


def test_a_killed_worker_is_a_clean_error_and_frees_its_slot(runner, tmp_path):
    task = GateTask(str(tmp_path), "victim")
    job = runner.submit(task)
    wait_for(task.started, "the task to start")
    os.kill(task.pid(), signal.SIGKILL)
    wait_for(lambda: not job.active, "the runner to notice")
    assert job.state == ERROR and isinstance(job.error, WorkerDied)
    assert isinstance(job.error, LoraLabError)  # shown by the page as an st.error, never a traceback
    wait_for(lambda: runner.running == 0, "the slot freed")  # freed just after the state flips
    after = runner.submit(tiny_fit(5), total_steps=5)  # the slot is free and a new worker takes it
    wait_for(lambda: not after.active, "the next fit")
    assert after.state == DONE and after.in_process


def test_a_user_error_in_the_worker_is_kept_for_the_page(runner):
    bad = FitTask(FIT, FitSettings(r=2, steps=5), target=np.full((3, 3), np.nan, dtype=np.float32))
    job = runner.submit(bad)
    wait_for(lambda: not job.active, "the failing fit")
    assert job.state == ERROR and isinstance(job.error, (LoraLabError, RuntimeError))
    wait_for(lambda: runner.running == 0, "the slot freed")  # freed just after the state flips


def test_a_user_error_crosses_the_pipe_with_its_code_and_parameters(runner):
    """The page shows the error in the visitor's language, so the worker sends the error itself (pickled as
    its code and parameters), not its English."""
    params = {"label": "IA3", "setting": "r", "why": Clause("why.ia3_r")}
    job = runner.submit(FailingTask("family.no_setting", tuple(params.items())))
    wait_for(lambda: not job.active, "the failing task")
    assert job.state == ERROR and job.in_process
    assert type(job.error) is LoraLabError
    assert (job.error.code, job.error.params) == ("family.no_setting", params)
    assert str(job.error) == "IA3 takes no r: IA3 trains one vector per module and has no rank"


def test_fits_run_in_threads_when_no_worker_can_start(caplog):
    def broken():
        raise OSError("no processes here")

    one = FitRunner(max_running=1, processes=True, start_worker=broken)
    with caplog.at_level(logging.WARNING, logger="lora_ui.workers.process"):
        job = one.submit(tiny_fit(5), total_steps=5)
        wait_for(lambda: not job.active, "the fit in a thread")
    assert job.state == DONE and not job.in_process
    assert len(job.losses) == 5 + 1
    assert any("could not start" in r.getMessage() for r in caplog.records)
    assert not one.use_processes  # later fits go straight to threads for a while, then try processes again
    one._pool._retry_at = 0.0
    assert one.use_processes


def test_a_fit_runs_at_the_servers_priority_for_its_first_second_then_yields():
    """Default fits end within INTERACTIVE_S at full priority; a long one lowers its own thread, and the next
    fit starts at full priority again (fresh thread). Where nice is not per thread (not Linux), the whole
    worker runs at NICE from its start."""
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    low = min(19, ours + NICE)
    start = ours if fit_worker.PER_THREAD_NICE else low
    worker = fit_worker.start_fit_worker()
    try:
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == start
        for job_id, run_s in ((1, fit_worker.INTERACTIVE_S + 0.3), (2, 0.05)):
            assert worker.send(("run", job_id, NiceProbe(run_s)))
            msg = None
            while msg is None or msg[0] != "done":
                msg = worker.receive(BOUND_S)
                assert msg is not None, "no answer from the fit worker"
            first, last = msg[2]
            assert first == start
            assert last == (low if run_s > fit_worker.INTERACTIVE_S else start)
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == start  # the worker itself was never lowered
        assert fit_worker.INTERACTIVE_S == FIRST_WAIT_S  # the page waits as long as a fit runs at full priority
    finally:
        worker.quit()
