"""Caching-allocator replays in worker processes (lora_ui/workers/replay.py): the same answers as a replay in
the server's thread, one replay per key in flight, the fallbacks, a worker without torch, and the Memory
page's replays running there instead of in its script thread."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from lora_core.memory import TrainingSetup, estimate_memory, reserve
from lora_ui import keys
from lora_ui.workers import replay as replay_mod
from lora_ui.workers.replay import ReplayRunner
from tests.memory_configs import LLAMA_GQA
from tests.test_memory_reserve import SPEC

pytestmark = pytest.mark.server  # worker processes


@pytest.fixture(scope="module")
def runner():
    r = ReplayRunner(max_workers=2, processes=True)
    yield r
    r.close()


def fresh_job(batch: int, **setup) -> reserve.ReplayJob:
    """A job no cache of this process holds."""
    reserve._REPLAYS.clear()
    job = reserve.find(LLAMA_GQA, SPEC, TrainingSetup(batch=batch, seq=48, **setup))
    assert isinstance(job, reserve.ReplayJob)
    return job


@pytest.mark.parametrize("setup", [{}, {"method": "qlora"}, {"method": "full", "optimizer": "sgd-momentum"}])
def test_a_worker_replays_a_job_as_this_thread_does(runner, setup):
    job = fresh_job(3, **setup)
    here_before, workers_before = runner.here, runner.in_workers
    answer = runner(job)
    assert answer == reserve.replay_job(job)
    assert runner.in_workers == workers_before + 1 and runner.here == here_before
    assert reserve.find(LLAMA_GQA, SPEC, TrainingSetup(batch=3, seq=48, **setup)) == answer  # kept here


def test_one_replay_per_key_in_flight(runner):
    job = fresh_job(6)
    before = runner.in_workers
    first, second = runner.start(job), runner.start(job)
    # the same future, or (if the replay ended between the two calls) the answer it kept
    assert second is first or (second.done() and second.result() == first.result())
    assert first.result() == runner(job) == reserve.replay_job(job)
    assert runner.in_workers == before + 1  # the call after the replay ended found the answer kept


def test_the_page_prefetch_and_the_estimate_share_one_replay(runner):
    reserve._REPLAYS.clear()
    setup = TrainingSetup(batch=7, seq=48)
    before = runner.in_workers
    runner.prefetch(LLAMA_GQA, SPEC, setup)
    e = estimate_memory(LLAMA_GQA, SPEC, setup, replayer=runner)
    assert e.reserved_source == "replay" and runner.in_workers == before + 1
    reserve._REPLAYS.clear()
    assert estimate_memory(LLAMA_GQA, SPEC, setup) == e


def test_prefetch_starts_nothing_when_nothing_is_replayed(runner):
    reserve._REPLAYS.clear()
    before = runner.in_workers
    runner.prefetch(LLAMA_GQA, SPEC, TrainingSetup(batch=3, seq=48, gpus=2, sharding="zero2"))
    runner.prefetch(LLAMA_GQA, SPEC, TrainingSetup(batch=3, seq=48, precision="fp32", device="cpu"))
    assert runner.in_flight == 0 and runner.in_workers == before


def test_a_job_that_fails_in_a_worker_is_replayed_here_and_fails_the_same(runner):
    job = replace(fresh_job(3), batch=-4)  # negative sizes: the replay refuses them
    with pytest.raises(ValueError, match="negative size"):
        reserve.replay_job(job)
    here = runner.here
    with pytest.raises(ValueError, match="negative size"):
        runner(job)
    assert runner.here == here + 1
    good, in_workers = fresh_job(5), runner.in_workers
    assert runner(good) == reserve.replay_job(good)
    assert runner.in_workers == in_workers + 1 and runner.here == here + 1  # the workers serve on


def test_without_workers_the_calling_thread_replays():
    off = ReplayRunner(processes=False)
    job = fresh_job(3)
    assert off.start(job) is None
    assert off(job) == reserve.replay_job(job) and off.here == 1 and off.in_workers == 0
    assert off.workers == 0 and off.starting == 0
    off.close()


def test_a_worker_that_cannot_start_leaves_the_replay_to_this_thread(caplog):
    failing = ReplayRunner()

    def cannot_start():
        raise RuntimeError("no processes here")

    failing._pool._start = cannot_start
    job = fresh_job(3)
    assert failing(job) == reserve.replay_job(job)
    assert failing.here == 1 and not failing.use_processes  # the server replays for process.RETRY_S
    assert "could not start" in caplog.text
    failing.close()


def test_idle_workers_quit(runner):
    runner.warm()
    deadline = time.monotonic() + 120  # a bound for a busy machine, never a timing assertion
    while runner.starting or not runner.workers:
        assert time.monotonic() < deadline, "no worker started"
        time.sleep(0.01)
    assert runner.reap(idle_s=0.0) >= 1 and runner.workers == 0
    job, in_workers, here = fresh_job(2), runner.in_workers, runner.here
    assert runner(job) == reserve.replay_job(job)
    assert runner.in_workers == in_workers + 1 and runner.here == here  # a fresh worker was started for it


def test_a_replay_worker_never_imports_torch():
    """What a replay worker imports: its module, and the modules of the job it unpickles."""
    code = (
        "import sys; import lora_ui.workers.replay_worker, lora_core.memory.reserve, lora_core.memory.events; "
        "assert 'torch' not in sys.modules, 'torch imported'; assert 'streamlit' not in sys.modules, 'streamlit'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_memory_page_replays_in_a_worker_not_in_its_script_thread(app_test, monkeypatch):
    def not_here(job):
        raise AssertionError("a replay ran in the server process")

    monkeypatch.setenv(replay_mod.ENV_PROCESSES, "1")
    monkeypatch.setattr(reserve, "replay_job", not_here)  # workers import their own, unpatched
    replay_mod._runner.clear()
    try:
        reserve._REPLAYS.clear()
        at = app_test(page="memory", query={keys.MEM_PRESET: "gpt2", keys.MEM_BATCH: "3"})
        assert not at.exception and not at.error, [e.value for e in at.error]
        page_runner = replay_mod._runner()
        assert page_runner.in_workers >= 1 and page_runner.here == 0
        at.number_input(key=keys.MEM_BATCH).set_value(5).run()
        assert not at.exception and not at.error and at.metric
        assert page_runner.in_workers >= 2 and page_runner.here == 0
    finally:
        replay_mod._runner().close()
        replay_mod._runner.clear()


def test_a_replay_worker_runs_at_the_servers_priority():
    """A rerun waits for its replay: a niced replay worker would starve behind busy servers."""
    from lora_ui.workers.replay_worker import start_replay_worker

    worker = start_replay_worker()
    try:
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        worker.quit()
