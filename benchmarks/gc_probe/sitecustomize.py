"""Garbage-collector pauses of the servers `load_test.py` starts (and their worker processes).

    PYTHONPATH=benchmarks/gc_probe LORA_LAB_GC_LOG=/tmp/gc python benchmarks/load_test.py --students 30 ...
    python benchmarks/gc_summary.py /tmp/gc

Python imports `sitecustomize` at start-up when it is on the path; this one does nothing unless
LORA_LAB_GC_LOG is set and the process is one the harness started (it sets STREAMLIT_CLIENT_SHOW_ERROR_DETAILS
for its servers only; worker processes inherit it). Each such process appends, per collection, the time, the
generation, the pause in ms (gc.callbacks "start" to "stop") and the objects collected to LOG.<pid>.
"""

import gc
import os
import sys
import time

_LOG = os.environ.get("LORA_LAB_GC_LOG")
if _LOG and os.environ.get("STREAMLIT_CLIENT_SHOW_ERROR_DETAILS"):
    _out = open(f"{_LOG}.{os.getpid()}", "a", buffering=1)
    _out.write(f"# pid {os.getpid()} ppid {os.getppid()} argv {' '.join(sys.argv)[:120]}\n")
    _start = [0.0]

    def _probe(phase: str, info: dict) -> None:
        if phase == "start":
            _start[0] = time.perf_counter()
            return
        ms = (time.perf_counter() - _start[0]) * 1000
        _out.write(f"{time.time():.3f} {info['generation']} {ms:.2f} {info['collected']}\n")

    gc.callbacks.append(_probe)
