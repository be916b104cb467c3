"""The Memory page's trace worker: traces run in a spawned process and give the same fit; idle workers stop."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lora_core.memory import trace
from lora_core.memory.setup import TrainingSetup
from lora_core.spec import LoraSpec
from lora_ui.trace_pool import IdlePool

TINY = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 4,
    "vocab_size": 128,
}


def test_a_trace_in_the_worker_equals_one_here():
    key = trace._key(TINY, LoraSpec(r=4, target_modules=("q_proj", "v_proj")), TrainingSetup(device="cpu"))
    pool = IdlePool(idle_s=0.5)
    try:
        remote = pool.submit(trace.fit_live_model, key).result(timeout=300)
        assert pool.running
    finally:
        pool.shutdown()
    local = trace.fit_live_model(key)
    assert remote.layers == local.layers
    for a, b in zip(remote.live, local.live, strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_idle_worker_stops_and_a_new_one_starts_on_demand():
    pool = IdlePool(idle_s=0.2)
    try:
        assert pool.submit(abs, -3).result(timeout=300) == 3
        deadline = time.monotonic() + 30
        while pool.running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pool.running
        assert pool.submit(abs, -4).result(timeout=300) == 4
    finally:
        pool.shutdown()


def test_estimates_use_the_executor_and_fall_back_when_it_is_gone():
    class Gone:
        calls = 0

        def submit(self, fn, *args):
            Gone.calls += 1
            raise RuntimeError("cannot schedule new futures after shutdown")

    saved = trace._EXECUTOR
    trace.trace_in(Gone())
    try:
        model = trace.live_model(dict(TINY, num_hidden_layers=5), LoraSpec(r=2), TrainingSetup(device="cpu"))
    finally:
        trace.trace_in(saved)
    assert Gone.calls == 1  # the trace was offered to the executor, then ran here
    assert model.layers == 5


def test_a_trace_error_in_the_worker_is_not_run_again_here():
    class Failing:
        def submit(self, fn, *args):
            from concurrent.futures import Future

            f = Future()
            f.set_exception(ValueError("bad trace"))
            return f

    saved = trace._EXECUTOR
    trace.trace_in(Failing())
    try:
        with pytest.raises(ValueError, match="bad trace"):
            trace.live_model(dict(TINY, num_hidden_layers=6), LoraSpec(r=2), TrainingSetup(device="cpu"))
    finally:
        trace.trace_in(saved)


_ORPHAN_SCRIPT = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from lora_ui.trace_pool import IdlePool
pool = IdlePool(idle_s=600)
print(pool.submit(os.getpid).result(timeout=120), flush=True)
pool.submit(time.sleep, 600)  # the worker is busy when its server dies
time.sleep(600)
"""


def test_a_worker_quits_when_its_server_is_killed_mid_task():
    """A server killed while its trace worker works (SIGKILL: no atexit, no shutdown) leaves no orphan."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import psutil

    root = str(Path(__file__).resolve().parents[1])
    server = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT, root], stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        worker = psutil.Process(int(server.stdout.readline()))
        time.sleep(1.0)  # the sleep task has reached the worker
        assert worker.is_running() and worker.ppid() == server.pid
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        worker.wait(timeout=20)  # psutil.TimeoutExpired if it outlives its server
    finally:
        server.kill()
        if worker is not None and worker.is_running():
            worker.kill()  # the test failed: leave no orphan behind
