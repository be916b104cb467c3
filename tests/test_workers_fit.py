"""The cross-session fit runner: at most N fits train at once, the rest queue in order, cancel cleanly."""

from __future__ import annotations

import threading
import time

import pytest

from lora_core.errors import LoraLabError
from lora_ui.workers import fit as workers_fit
from lora_ui.workers.fit import CANCELLED, DONE, ERROR, QUEUED, RUNNING, FitRunner
from tests.fit_gate import GateTask

BOUND_S = 120  # generous bound for waits on a busy machine (workers import torch); never a timing assertion


def wait_for(cond, what):
    deadline = time.monotonic() + BOUND_S
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def gated_work(gate: threading.Event, started: list):
    def work(job):
        started.append(job.id)
        while not gate.wait(0.01):
            if job.should_stop():
                return None
        return job.id

    return work


@pytest.mark.parametrize(
    "processes", [False, pytest.param(True, marks=pytest.mark.server)], ids=["threads", "worker-processes"]
)
def test_third_fit_waits_while_two_run_then_runs(tmp_path, processes):
    runner = FitRunner(max_running=2, processes=processes)
    tasks = [GateTask(str(tmp_path), str(i), result=i) for i in range(3)]
    jobs = [runner.submit(t) for t in tasks]
    wait_for(lambda: runner.running == 2, "two running fits")
    assert [j.state for j in jobs] == [RUNNING, RUNNING, QUEUED]
    assert runner.position(jobs[2]) == 1 and runner.waiting == 1
    assert not tasks[2].started()
    tasks[0].open()  # the first fit ends: its slot goes to the third
    wait_for(lambda: jobs[2].state == RUNNING, "the third fit to start")
    wait_for(lambda: jobs[0].state == DONE, "the first fit to end")
    assert jobs[0].result == 0
    tasks[1].open()
    tasks[2].open()
    wait_for(lambda: all(j.state == DONE for j in jobs), "all fits")
    assert [j.result for j in jobs] == [0, 1, 2]
    assert all(j.in_process == processes for j in jobs)
    wait_for(
        lambda: runner.running == 0 and runner.waiting == 0, "the slots freed"
    )  # freed after the state flips
    runner.close()


def test_a_queued_fit_can_be_cancelled_and_never_runs():
    runner = FitRunner(max_running=1)
    gate = threading.Event()
    started: list[int] = []
    first = runner.submit(gated_work(gate, started))
    wait_for(lambda: first.state == RUNNING, "first fit")
    second = runner.submit(gated_work(gate, started))
    second.cancel()
    wait_for(lambda: second.state == CANCELLED, "cancel while queued")
    assert second.id not in started
    first.cancel()  # a running fit sees should_stop() and returns
    wait_for(lambda: first.state == CANCELLED, "cancel while running")
    wait_for(lambda: runner.running == 0, "the slot freed")  # freed just after the state flips


def test_a_fit_whose_session_left_is_cancelled(monkeypatch):
    monkeypatch.setattr(workers_fit, "GONE_GRACE_S", 0.0)
    monkeypatch.setattr(workers_fit, "ALIVE_EVERY_S", 0.0)
    runner = FitRunner(max_running=1)
    alive = threading.Event()
    alive.set()
    job = runner.submit(gated_work(threading.Event(), []), alive=alive.is_set)
    wait_for(lambda: job.state == RUNNING, "the fit to start")
    alive.clear()  # the browser tab closed
    wait_for(lambda: job.state == CANCELLED, "cancel after the session left")


def test_errors_are_kept_for_the_page():
    runner = FitRunner(max_running=1)

    def boom(job):
        raise LoraLabError("bad target")

    job = runner.submit(boom)
    wait_for(lambda: not job.active, "the failing fit")
    assert job.state == ERROR and "bad target" in str(job.error)
    wait_for(lambda: runner.running == 0, "the slot freed")  # freed just after the state flips


def test_max_running_from_env(monkeypatch):
    monkeypatch.setenv(workers_fit.ENV_MAX_RUNNING, "3")
    assert workers_fit.max_running_from_env() == 3
    monkeypatch.setenv(workers_fit.ENV_MAX_RUNNING, "lots")
    assert workers_fit.max_running_from_env() == workers_fit.DEFAULT_MAX_RUNNING
    with pytest.raises(LoraLabError):
        FitRunner(0)


def test_the_real_session_check_cancels_fits_when_the_websocket_drops(monkeypatch):
    """session_alive_check() as pages/fit.py wires it, against Streamlit's own session manager: a dropped
    websocket (disconnect_session) makes Runtime.is_active_session false, and after the grace period the
    session's running fit and its queued one both end cancelled and free their slots."""
    from types import SimpleNamespace
    from unittest.mock import MagicMock

    import streamlit.runtime.scriptrunner as scriptrunner
    from streamlit.runtime import Runtime
    from streamlit.runtime.session_manager import ActiveSessionInfo
    from streamlit.runtime.websocket_session_manager import WebsocketSessionManager

    monkeypatch.setattr(workers_fit, "GONE_GRACE_S", 0.0)
    monkeypatch.setattr(workers_fit, "ALIVE_EVERY_S", 0.0)
    sessions = WebsocketSessionManager(MagicMock(), MagicMock(), MagicMock(), None)
    sessions._active_session_info_by_id["tab-1"] = ActiveSessionInfo(MagicMock(), MagicMock())
    runtime = object.__new__(Runtime)  # a Runtime's shell: is_active_session asks its session manager
    runtime._session_mgr = sessions
    monkeypatch.setattr(Runtime, "_instance", runtime)  # Runtime.exists() and Runtime.instance() see it
    monkeypatch.setattr(
        scriptrunner, "get_script_run_ctx", lambda *a, **k: SimpleNamespace(session_id="tab-1")
    )

    alive = workers_fit.session_alive_check()
    assert alive is not workers_fit._always_alive and alive()
    runner = FitRunner(max_running=1)
    gate = threading.Event()
    started: list[int] = []
    running = runner.submit(gated_work(gate, started), alive=alive)
    wait_for(lambda: running.state == RUNNING, "the fit to start")
    queued = runner.submit(gated_work(gate, started), alive=alive)
    assert queued.state == QUEUED and runner.waiting == 1

    sessions.disconnect_session("tab-1")  # what the server does when the tab's websocket closes
    assert not alive()
    wait_for(lambda: running.state == CANCELLED and queued.state == CANCELLED, "both fits cancelled")
    wait_for(lambda: runner.running == 0 and runner.waiting == 0, "the slots freed")  # just after the states
    assert started == [running.id]  # the queued fit never ran
    gate.set()


def test_wait_returns_when_the_job_ends_and_not_before():
    """The page waits up to FIRST_WAIT_S for a quick fit to end, to draw its results in the same run."""
    runner = FitRunner(max_running=1)
    gate = threading.Event()
    job = runner.submit(gated_work(gate, []))
    wait_for(lambda: job.state == RUNNING, "the fit to start")
    assert job.wait(0.05) is False and job.active
    gate.set()
    assert job.wait(BOUND_S) is True and job.state == DONE
    queued_then_cancelled = FitRunner(max_running=1)
    blocker = queued_then_cancelled.submit(gated_work(threading.Event(), []))
    wait_for(lambda: blocker.state == RUNNING, "the blocking fit")
    waiting = queued_then_cancelled.submit(gated_work(threading.Event(), []))
    waiting.cancel()
    assert waiting.wait(BOUND_S) is True and waiting.state == CANCELLED  # ended while queued
    blocker.cancel()
    assert blocker.wait(BOUND_S) is True
