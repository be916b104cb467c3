"""Activation traces in worker processes (lora_ui/workers/trace.py): the core's trace jobs (which traces a page
would run, an answer handed over from elsewhere), a worker's answer equal to this thread's, one trace per key in
flight, the fallbacks, and the Memory page tracing there instead of in its script thread."""

from __future__ import annotations

import os
import time

import pytest

from lora_core.errors import LoraLabError
from lora_core.memory import TrainingSetup, estimate_memory, parameters, recipe, reserve
from lora_core.memory import trace as T
from lora_core.memory import trace_jobs as J
from lora_core.memory.series import compare_methods
from lora_core.spec import LoraSpec
from lora_ui import keys
from lora_ui.workers import trace as trace_mod
from lora_ui.workers.replay import ReplayRunner
from lora_ui.workers.trace import TraceRunner
from tests.memory_configs import LLAMA_GQA

DORA = LoraSpec(r=4, target_modules=("q_proj", "v_proj"), use_dora=True)
AMP = TrainingSetup(precision="amp-bf16", batch=2, seq=48)
SETUPS = [AMP.replace(method=m) for m in ("full", "lora", "qlora")]


def forget() -> None:
    """Empty every cache a trace fills in this process."""
    T.clear_cache()
    parameters._BUILT.clear()
    parameters._GIVEN.clear()
    parameters.base_param_infos.cache_clear()
    reserve._PLANS.clear()
    reserve._REPLAYS.clear()


def no_trace_here(monkeypatch) -> None:
    """From now on, any trace or model build in this process fails the test (worker processes are unpatched)."""

    def here(*args, **kwargs):
        raise AssertionError("traced in this process")

    monkeypatch.setattr(T, "build_traced_steps", here)
    monkeypatch.setattr(recipe, "build_training_model", here)


# -- the core: which traces, and an answer from elsewhere ------------------------------------------------------
def test_trace_jobs_name_each_traced_step_once_and_nothing_known_or_refused():
    forget()
    jobs = J.trace_jobs(LLAMA_GQA, DORA, [*SETUPS, AMP.replace(method="lora")])
    assert [j.setup.method for j in jobs] == ["full", "lora", "qlora"]  # autocast QLoRA traces its own step
    bf16 = [TrainingSetup(method=m, batch=2, seq=48) for m in ("lora", "qlora")]
    (shared,) = J.trace_jobs(LLAMA_GQA, DORA, bf16)  # the same stand-in, two parameter lists
    assert shared.setup == bf16[0] and shared.also == (bf16[1],)
    loha_4bit = TrainingSetup(method="qlora")
    with pytest.raises(LoraLabError):
        T.check_recipe(_loha(), loha_4bit)  # refused: no job, live_model raises it itself
    assert J.trace_jobs(LLAMA_GQA, _loha(), [loha_4bit]) == []
    T.live_model(LLAMA_GQA, DORA, SETUPS[1])
    assert [j.setup.method for j in J.trace_jobs(LLAMA_GQA, DORA, SETUPS)] == ["full", "qlora"]


def _through_a_pipe(obj):
    """What the other end of a worker's pipe receives (multiprocessing Connection.send and recv)."""
    from multiprocessing import Pipe

    ours, theirs = Pipe()
    try:
        ours.send(obj)
        return theirs.recv()
    finally:
        ours.close()
        theirs.close()


def _loha():
    from lora_core.family.specs import make_spec

    return make_spec("loha", r=4, alpha=8, target_modules=("q_proj", "v_proj"))


def test_an_answer_handed_over_serves_the_estimates_without_a_trace_here(monkeypatch):
    forget()
    expected = compare_methods(LLAMA_GQA, DORA, AMP, replay=True)
    forget()
    jobs = J.trace_jobs(LLAMA_GQA, DORA, SETUPS)
    answers = [_through_a_pipe(J.run_trace_job(job)) for job in jobs]
    forget()
    for job, answer in zip(jobs, answers, strict=True):
        J.remember_trace(job, answer)
    no_trace_here(monkeypatch)
    assert compare_methods(LLAMA_GQA, DORA, AMP, replay=True) == expected  # live bytes, states and replays
    assert J.trace_jobs(LLAMA_GQA, DORA, SETUPS) == []


def no_replay_here(monkeypatch) -> None:
    """From now on, building a replay's step plan or replaying in this process fails the test."""

    def here(*args, **kwargs):
        raise AssertionError("replayed in this process")

    monkeypatch.setattr(reserve, "_plan", here)
    monkeypatch.setattr(reserve, "replay_job", here)


def test_the_chosen_replay_rides_with_the_job_that_traces_it():
    forget()
    jobs = J.trace_jobs(LLAMA_GQA, DORA, SETUPS, replay=SETUPS[1])
    assert [(j.setup.method, j.replay) for j in jobs] == [("full", None), ("lora", SETUPS[1]), ("qlora", None)]
    bf16 = [TrainingSetup(method=m, batch=2, seq=48) for m in ("lora", "qlora")]
    (shared,) = J.trace_jobs(LLAMA_GQA, DORA, bf16, replay=bf16[1])  # QLoRA's replay in LoRA's traced step
    assert shared.replay == bf16[1]
    sharded = [s.replace(sharding="zero3", gpus=2) for s in SETUPS]  # not replayed: the live peak stands
    assert all(j.replay is None for j in J.trace_jobs(LLAMA_GQA, DORA, sharded, replay=sharded[1]))
    reserve.remember_key(reserve.replay_key(LLAMA_GQA, DORA, SETUPS[1]), reserve.Reserve(1, 2, 2, 2, True))
    assert all(j.replay is None for j in J.trace_jobs(LLAMA_GQA, DORA, SETUPS, replay=SETUPS[1]))  # known


def test_a_replay_handed_over_after_its_trace_serves_the_estimate_without_a_replay_here(monkeypatch):
    forget()
    chosen = SETUPS[2]  # QLoRA under autocast: its own traced step
    expected = estimate_memory(LLAMA_GQA, DORA, chosen)  # traced, planned and replayed in this thread
    assert expected.reserved_source == "replay"
    forget()
    jobs = J.trace_jobs(LLAMA_GQA, DORA, SETUPS, replay=chosen)
    answers = [J.run_trace_job(job) for job in jobs]  # what a worker does: trace, then replay
    more = [_through_a_pipe(J.replay_traced(job, answer)) for job, answer in zip(jobs, answers, strict=True)]
    assert [len(m) for m in more] == [0, 0, 1]
    answers = [_through_a_pipe(answer) for answer in answers]
    forget()
    for job, answer, replays in zip(jobs, answers, more, strict=True):
        J.remember_trace(job, answer)
        J.remember_replays(replays)
    no_trace_here(monkeypatch)
    no_replay_here(monkeypatch)
    assert estimate_memory(LLAMA_GQA, DORA, chosen) == expected


# -- the runner and its workers ------------------------------------------------------------------------------
BOUND_S = 300  # a bound for starting workers on a busy machine, never a timing assertion


def ready(tracer: TraceRunner, workers: int = 1) -> TraceRunner:
    """Warm the runner and wait until `workers` of its workers are idle (a job takes an idle one or none) and
    no job is in flight (an earlier test's follow-ups have ended)."""
    settled(tracer)
    tracer.warm()
    deadline = time.monotonic() + BOUND_S
    while tracer.starting or tracer.workers < workers:
        assert time.monotonic() < deadline, "no trace worker started"
        time.sleep(0.05)
    return tracer


def settled(tracer: TraceRunner) -> None:
    """Wait until the runner's jobs have ended (their traces are handed over before their follow-ups)."""
    deadline = time.monotonic() + BOUND_S
    while tracer.in_flight:
        assert time.monotonic() < deadline, "trace jobs still in flight"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def runner():
    r = TraceRunner(max_workers=2, processes=True)
    yield r
    r.close()


@pytest.mark.server
def test_a_worker_traces_as_this_thread_does(runner, monkeypatch):
    forget()
    expected = {m: estimate_memory(LLAMA_GQA, DORA, s, replay=False) for m, s in zip("abc", SETUPS, strict=True)}
    forget()
    before, here = runner.in_workers, runner.here
    ready(runner, workers=2)
    assert runner.trace(LLAMA_GQA, DORA, SETUPS).traces == 3
    settled(runner)
    assert runner.in_workers == before + 3 and runner.here == here
    no_trace_here(monkeypatch)
    got = {m: estimate_memory(LLAMA_GQA, DORA, s, replay=False) for m, s in zip("abc", SETUPS, strict=True)}
    assert got == expected
    assert runner.trace(LLAMA_GQA, DORA, SETUPS).traces == 0 and runner.in_workers == before + 3  # known now


@pytest.mark.server
def test_the_worker_that_traced_the_chosen_setup_replays_it(runner, monkeypatch):
    forget()
    chosen = SETUPS[1]
    expected = estimate_memory(LLAMA_GQA, DORA, chosen)  # traced, planned and replayed in this thread
    forget()
    ready(runner, workers=2)
    tracing = runner.trace(LLAMA_GQA, DORA, SETUPS, replay=chosen)
    assert tracing.traces == 3 and tracing.replay  # the traces are here; the replay may still be running
    tracing.wait()
    no_trace_here(monkeypatch)
    no_replay_here(monkeypatch)
    assert estimate_memory(LLAMA_GQA, DORA, chosen) == expected
    assert not runner.trace(LLAMA_GQA, DORA, SETUPS, replay=chosen).replay  # nothing left to trace or replay


@pytest.mark.server
def test_a_replay_is_pending_only_when_the_job_that_runs_carries_ours(runner):
    forget()
    ready(runner, workers=2)
    ours = TrainingSetup(batch=2, seq=48)
    (job,) = J.trace_jobs(LLAMA_GQA, DORA, [ours.replace(batch=4)], replay=ours.replace(batch=4))
    other = runner.start(job)  # another visitor's change in flight: the same traced step, another batch
    tracing = runner.trace(LLAMA_GQA, DORA, [ours], replay=ours)  # shares it (or finds its trace kept, if it
    assert tracing.traces <= 1 and not tracing.replay  # ended meanwhile): the page starts its own replay
    other.result()
    forget()
    cold = TraceRunner(processes=True)  # no idle worker: the page traces and replays itself
    assert not cold.trace(LLAMA_GQA, DORA, [ours], replay=ours).replay
    cold.close()


@pytest.mark.server
def test_one_trace_per_key_in_flight(runner):
    forget()
    ready(runner)
    (job,) = J.trace_jobs(LLAMA_GQA, DORA, [TrainingSetup(batch=2, seq=48)])
    before = runner.in_workers
    first, second = runner.start(job), runner.start(job)  # microseconds apart; a trace takes tens of ms
    assert second is first
    assert first.result() is not None and runner.in_workers == before + 1


@pytest.mark.server
def test_a_worker_error_leaves_the_trace_and_its_error_to_the_page(runner, caplog):
    forget()
    ready(runner)
    broken = dict(LLAMA_GQA, hidden_act="no-such-activation")  # transformers refuses it when it builds
    setup = TrainingSetup(batch=2, seq=48)
    here, sent = runner.here, runner.in_workers
    assert runner.trace(broken, DORA, [setup]).traces == 0
    assert runner.here == here + 1 and "trace worker failed" in caplog.text
    with pytest.raises(Exception) as raised:
        estimate_memory(broken, DORA, setup, replay=False)
    assert type(raised.value).__name__ in caplog.text  # the error the worker met
    assert runner.trace(broken, DORA, [setup]).traces == 0 and runner.here == here + 1  # not sent again
    assert runner.use_processes and runner.in_workers == sent  # the workers serve on


def test_workers_off_start_nothing():
    forget()
    off = TraceRunner(processes=False)
    assert off.trace(LLAMA_GQA, DORA, SETUPS).traces == 0
    assert off.workers == 0 and off.starting == 0 and off.in_flight == 0
    off.close()


def test_without_an_idle_worker_the_page_traces_itself():
    forget()
    cold = TraceRunner(processes=True)  # nothing started: a visitor never waits for a worker's start
    assert cold.trace(LLAMA_GQA, DORA, SETUPS).traces == 0 and cold.workers == 0 and cold.starting == 0
    cold.close()


@pytest.mark.server
def test_a_trace_worker_runs_at_the_servers_priority():
    from lora_ui.workers.trace_worker import start_trace_worker

    worker = start_trace_worker()
    try:
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == os.getpriority(os.PRIO_PROCESS, 0)
        import psutil

        maps = {m.path for m in psutil.Process(worker.pid).memory_maps()}
        assert any("libtorch_cpu" in p for p in maps)  # torch imported before it said ready
    finally:
        worker.quit()


def _no_prefetch(*args, **kwargs):
    raise AssertionError("a replay prefetched while the trace worker replays it")


@pytest.mark.server
def test_the_memory_page_traces_in_a_worker_not_in_its_script_thread(app_test, monkeypatch):
    monkeypatch.setenv(trace_mod.ENV_PROCESSES, "1")
    trace_mod._runner.clear()
    try:
        forget()
        at = app_test(page="memory", query={keys.MEM_PRESET: "gpt2"})
        tracer = ready(trace_mod._runner())  # the page started its workers
        no_trace_here(monkeypatch)  # DoRA on gpt2 is no precomputed recipe
        no_replay_here(monkeypatch)  # nor is its replay: the worker that traced it replayed it
        monkeypatch.setattr(ReplayRunner, "prefetch", _no_prefetch)  # ... so nothing asked a replay worker for it
        at.checkbox(key=keys.MEM_DORA).check().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert at.metric and tracer.in_workers >= 1 and tracer.here == 0
    finally:
        trace_mod._runner().close()
        trace_mod._runner.clear()


def test_a_trace_worker_imports_no_streamlit():
    """What a trace worker imports before its first job: its module, the job protocol and the core."""
    import subprocess
    import sys

    code = (
        "import sys; import lora_ui.workers.trace_worker, lora_ui.workers.jobs, lora_core.memory.trace; "
        "assert 'streamlit' not in sys.modules, 'streamlit imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
