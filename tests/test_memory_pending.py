"""Traces never block a caller that only asks: trace.request / series.traces_ready with an executor that
finishes when the test says so, and the CLI (no executor) unchanged."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from contextlib import contextmanager

import pytest

from lora_core.memory import trace
from lora_core.memory.series import compare_methods, methods_for, traces_ready
from lora_core.memory.setup import TrainingSetup
from lora_core.spec import LoraSpec
from tests.test_trace_pool import TINY  # the tiny Llama the trace-pool tests trace


class Manual:
    """An executor whose work runs only when the test calls finish()."""

    def __init__(self):
        self.queued: list[tuple[object, tuple, Future]] = []
        self.submitted = 0

    def submit(self, fn, *args):
        self.submitted += 1
        f = Future()
        self.queued.append((fn, args, f))
        return f

    def cancel(self) -> None:
        """What a stopped pool does to queued work (the core then forgets those traces)."""
        queued, self.queued = self.queued, []
        for _fn, _args, f in queued:
            f.cancel()

    def finish(self) -> None:
        queued, self.queued = self.queued, []
        for fn, args, f in queued:
            try:
                f.set_result(fn(*args))
            except Exception as exc:  # handed to the future, as an executor does
                f.set_exception(exc)


@contextmanager
def manual_executor():
    """Traces go to a Manual executor for the block; the previous executor comes back after it."""
    saved = trace._EXECUTOR
    ex = Manual()
    trace.trace_in(ex)
    try:
        yield ex
    finally:
        ex.cancel()
        trace.trace_in(saved)


@pytest.fixture
def executor():
    with manual_executor() as ex:
        yield ex


def _config(layers: int) -> dict:
    return dict(TINY, num_hidden_layers=layers)  # a depth no other test uses: a key not cached yet


def test_request_is_false_until_the_trace_ends_and_submits_once(executor):
    config, spec, setup = _config(7), LoraSpec(r=2), TrainingSetup(device="cpu")
    assert trace.request(config, spec, setup) is False
    assert trace.request(config, spec, setup) is False  # asked again: still the one trace in flight
    assert executor.submitted == 1
    executor.finish()
    assert trace.request(config, spec, setup) is True
    assert trace.request(config, LoraSpec(r=64), setup) is True  # the rank is not part of the key
    assert trace.live_model(config, spec, setup).layers == 7
    assert executor.submitted == 1


def test_a_blocking_caller_reuses_the_trace_in_flight(executor):
    config, spec, setup = _config(9), LoraSpec(r=2), TrainingSetup(device="cpu")
    assert trace.request(config, spec, setup) is False
    ((fn, args, future),) = executor.queued
    future.set_result(fn(*args))  # the worker finishes while the page waits
    assert trace.live_model(config, spec, setup).layers == 9
    assert executor.submitted == 1


def test_traces_ready_asks_for_every_method_at_once(executor):
    config, spec = _config(11), LoraSpec(r=4, target_modules=("q_proj", "v_proj"))
    setup = TrainingSetup(device="cpu")
    assert traces_ready(config, spec, setup) is False
    assert executor.submitted == len(methods_for(setup)) == 2  # full and lora, queued together
    executor.finish()
    assert traces_ready(config, spec, setup.replace(batch=8, seq=300)) is True  # batch and seq: same traces
    before = executor.submitted
    compare_methods(config, spec, setup)
    assert executor.submitted == before  # nothing traced again, nothing waited for


def test_a_failed_trace_is_ready_and_every_reader_sees_its_error_until_it_expires(executor, monkeypatch):
    config, spec, setup = _config(13), LoraSpec(r=2), TrainingSetup(device="cpu")
    assert trace.request(config, spec, setup) is False
    ((_fn, _args, future),) = executor.queued
    executor.queued.clear()
    future.set_exception(ValueError("bad trace"))
    assert trace.request(config, spec, setup) is True  # ready: the estimate will say what went wrong
    for _ in range(2):  # two sessions on the same combination: both see the error, neither traces again
        with pytest.raises(ValueError, match="bad trace"):
            trace.live_model(config, spec, setup)
        assert trace.request(config, spec, setup) is True
    assert executor.submitted == 1
    now = trace.time.monotonic()
    monkeypatch.setattr(trace.time, "monotonic", lambda: now + trace.FAILED_TTL_S + 1)
    assert trace.request(config, spec, setup) is False  # expired: asked again, traced again
    assert executor.submitted == 2


def test_a_key_that_kills_the_worker_twice_is_refused_not_respawned(executor):
    from concurrent.futures import BrokenExecutor

    from lora_core.errors import LoraLabError

    config, spec, setup = _config(27), LoraSpec(r=2), TrainingSetup(device="cpu")
    for _attempt in range(2):
        assert trace.request(config, spec, setup) is False
        ((_fn, _args, future),) = executor.queued
        executor.queued.clear()
        future.set_exception(BrokenExecutor("worker killed"))
    assert trace.request(config, spec, setup) is True  # no third worker: the page shows the error, polls end
    with pytest.raises(LoraLabError, match="stopped twice"):
        trace.live_model(config, spec, setup)
    assert executor.submitted == 2


def test_the_queue_bound_holds(executor, monkeypatch):
    # An earlier test's real trace still in flight would hold one of the places (seen once on a loaded
    # machine: this test then submitted 1, not 2); start from none.
    trace.clear_cache()
    monkeypatch.setattr(trace, "_MAX_RUNNING", 2)
    setup = TrainingSetup(device="cpu")
    asked = [trace.request(_config(n), LoraSpec(r=2), setup) for n in (21, 23, 25)]
    assert asked == [False, False, False] and executor.submitted == 2  # the third waits for a place
    executor.finish()
    assert trace.request(_config(25), LoraSpec(r=2), setup) is False and executor.submitted == 3


def test_a_cancelled_trace_is_asked_for_again(executor):
    config, spec, setup = _config(15), LoraSpec(r=2), TrainingSetup(device="cpu")
    assert trace.request(config, spec, setup) is False
    ((_fn, _args, future),) = executor.queued
    executor.queued.clear()
    future.cancel()  # the idle worker was stopped with it queued
    assert trace.request(config, spec, setup) is False
    assert executor.submitted == 2


def test_without_an_executor_request_traces_now():
    saved = trace._EXECUTOR
    trace.trace_in(None)
    try:
        assert trace.request(_config(17), LoraSpec(r=2), TrainingSetup(device="cpu")) is True
        assert traces_ready(_config(17), LoraSpec(r=2), TrainingSetup(device="cpu")) is True
    finally:
        trace.trace_in(saved)


def test_cli_estimates_without_a_worker(tmp_path, capsys):
    from lora_core.cli import main

    path = tmp_path / "config.json"
    path.write_text(json.dumps(_config(19)))
    saved = trace._EXECUTOR
    trace.trace_in(None)  # as in the CLI's process, which never sets one (an app test here may have)
    try:
        assert main(["memory", "--config", str(path), "--method", "lora", "--device", "cpu", "--json"]) == 0
    finally:
        trace.trace_in(saved)
    out = json.loads(capsys.readouterr().out)
    assert out


# --- the page: it never waits for a trace -------------------------------------------------------------------

# Inputs no other page test uses, so their traces are not cached in this process yet.
PAGE_QUERY = {
    "mem_preset": "qwen2.5-0.5b",
    "mem_targets": "q_proj,k_proj",
    "mem_ckpt": "true",
    "mem_attention": "eager",
    "mem_seq": "128",
}


@pytest.fixture
def page_executor():
    """The app's own executor swapped for a Manual one (configure_once first, so it cannot swap it back)."""
    from lora_ui import runtime

    runtime.configure_once()
    for thread in threading.enumerate():  # a server-start prewarm must not submit to the test's executor
        if thread.name == "trace-prewarm":
            thread.join(timeout=60)
    with manual_executor() as ex:
        yield ex


def test_the_page_shows_the_exact_parts_while_tracing_then_the_estimate(app_test, page_executor):
    from tests.pending import MEMORY_PENDING, pending

    at = app_test(page="memory", query=PAGE_QUERY)
    assert not at.exception, at.exception
    assert pending(at) and any(i.value in MEMORY_PENDING for i in at.info)
    assert not at.metric  # nothing traced yet: no peak shown
    assert page_executor.submitted == 2  # full and lora at once (bf16 QLoRA traces as the LoRA model)
    shown = " ".join(m.value for m in at.markdown)
    assert "Weights" in shown and "Optimizer states" in shown  # the exact parts, at once
    assert at.text_input(key="mem_targets").value == "q_proj,k_proj"  # the inputs are drawn and usable
    assert any("LoraConfig(" in c.value for c in at.code)
    # The solver's bound inputs stay drawn (an undrawn bound widget would leave the URL).
    at.selectbox(key="mem_solve_gpu").set_value("NVIDIA A100 80GB").run()
    assert pending(at) and at.selectbox(key="mem_solve_gpu").value == "NVIDIA A100 80GB"

    at.number_input(key="mem_batch").set_value(2).run()  # still pending: the rerun ends at once
    assert not at.exception, at.exception
    assert pending(at)
    assert page_executor.submitted == 2  # the same traces, not asked for twice

    page_executor.finish()
    at.run()  # what the poller's st.rerun(scope="app") does
    assert not at.exception, at.exception
    assert not pending(at)
    assert at.metric, "the estimate is drawn once the traces are in"
    assert len(at.get("plotly_chart")) == 3


def test_the_page_in_telugu_while_tracing(app_test, page_executor):
    from lora_ui.strings import memory as strings

    at = app_test(page="memory", query={**PAGE_QUERY, "mem_targets": "q_proj,o_proj", "lang": "te"})
    assert not at.exception, at.exception
    assert [i.value for i in at.info] == [strings.TE["tracing"]]


def test_a_typo_in_the_targets_is_an_error_not_a_pending_trace(app_test, page_executor):
    at = app_test(page="memory", query={**PAGE_QUERY, "mem_targets": "no_such_module"})
    assert not at.exception, at.exception
    assert at.error and not at.info
    assert page_executor.submitted == 0  # checked before any trace is asked for


def test_the_learn_gallery_says_computing_then_shows_the_figures(app_test, page_executor):
    from lora_ui import keys
    from lora_ui.scenarios import MEMORY_IDS, SCENARIOS, figures_ready
    from tests.pending import pending

    trace.clear_cache()  # the memory cards' traces, whatever earlier tests left
    at = app_test(page="learn")
    at.toggle(key=keys.LEARN_FIGS).set_value(True).run()
    assert not at.exception, at.exception
    assert pending(at)
    cards_waiting = [c.value for c in at.caption if c.value == "Computing with lora_core…"]
    assert len(cards_waiting) == len(MEMORY_IDS)
    assert "4,194,304" in [m.value for m in at.metric]  # the cards that need no trace show their figures now
    page_executor.finish()
    assert all(figures_ready(s.id) for s in SCENARIOS)
    at.run()
    assert not at.exception, at.exception
    assert not pending(at)
    assert "37,748,736" in [m.value for m in at.metric]  # GPT-3 175B at r=8 (LoRA paper Table 4)


def test_prewarm_asks_for_the_default_view_and_the_gallery(monkeypatch, executor):
    from lora_ui import scenarios
    from lora_ui.memory_inputs import default_view
    from lora_ui.trace_pool import prewarm

    trace.clear_cache()
    monkeypatch.delenv("LORA_LAB_TRACE_PREWARM", raising=False)
    monkeypatch.setenv("LORA_LAB_TRACE_WORKER", "1")
    thread = prewarm()
    thread.join(timeout=120)
    assert not thread.is_alive()
    queued = [args[0] for _fn, args, _f in executor.queued]
    config, spec, setup = default_view()
    page = [
        trace._key(config, None if m == "full" else spec, setup.replace(method=m)) for m in methods_for(setup)
    ]
    gallery = []
    for sid in scenarios.MEMORY_IDS:
        c, sp, st = scenarios._mem_scenario_inputs(scenarios.BY_ID[sid])
        gallery.append(trace._key(c, sp, st))
    # prewarm asks within the worker's queue bound; past it the rest would wait for a page to ask again
    assert len(set(page) | set(gallery)) <= trace._MAX_RUNNING, "prewarm asks for more than the queue holds"
    assert queued[: len(set(page))] == list(dict.fromkeys(page))  # the Memory page's default view first
    assert set(queued) == set(page) | set(gallery) and len(queued) == len(set(queued))  # each trace once


def test_prewarm_does_nothing_without_the_worker(monkeypatch, executor):
    from lora_ui.trace_pool import prewarm

    monkeypatch.delenv("LORA_LAB_TRACE_PREWARM", raising=False)  # tests/conftest.py turns it off for all
    monkeypatch.setenv("LORA_LAB_TRACE_WORKER", "0")
    assert prewarm() is None
    monkeypatch.setenv("LORA_LAB_TRACE_WORKER", "1")
    monkeypatch.setenv("LORA_LAB_TRACE_PREWARM", "0")
    assert prewarm() is None
    monkeypatch.delenv("LORA_LAB_TRACE_PREWARM")
    trace.trace_in(None)
    assert prewarm() is None  # no executor: it would trace in the server
    assert executor.submitted == 0
