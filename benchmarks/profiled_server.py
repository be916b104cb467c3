"""`streamlit run`, with every script run under cProfile (used by `load_test.py --profile DIR`).

    python benchmarks/profiled_server.py run app.py --server.port 8501   # same arguments as `streamlit run`

Each script run (one per rerun, on the session's script thread) gets its own profiler; their statistics are
merged and written to $LORA_LAB_PROFILE (a .prof file, for `python -m pstats` or snakeviz) when the server
exits; SIGUSR1 starts over (the harness sends it after its warm-up visit, so imports and first-time cache
fills are left out). Only the scripts are profiled: Streamlit's own work outside a run (websocket, protobuf sends, the
post-run garbage collection) is not in the file, so compare the total with the harness's latency.
"""

from __future__ import annotations

import atexit
import cProfile
import os
import pstats
import signal
import sys
import threading

_lock = threading.Lock()
_stats: list[pstats.Stats] = []
_runs = [0]


def _install() -> None:
    from streamlit.runtime.scriptrunner import script_runner

    original = script_runner.exec_func_with_error_handling

    def profiled(func, ctx):
        prof = cProfile.Profile()
        prof.enable()
        try:
            return original(func, ctx)
        finally:
            prof.disable()
            with _lock:
                _runs[0] += 1
                if _stats:
                    _stats[0].add(prof)
                else:
                    _stats.append(pstats.Stats(prof))

    script_runner.exec_func_with_error_handling = profiled


def _reset(*_args) -> None:
    """SIGUSR1: forget what was profiled so far (the harness sends it after its warm-up visit)."""
    with _lock:
        _stats.clear()
        _runs[0] = 0


def _dump() -> None:
    out = os.environ.get("LORA_LAB_PROFILE")
    with _lock:
        if out and _stats:
            _stats[0].dump_stats(out)
            sys.stderr.write(f"profile of {_runs[0]} script runs written to {out}\n")


if __name__ == "__main__":
    _install()
    atexit.register(_dump)
    signal.signal(signal.SIGUSR1, _reset)
    from timed_server import run_as_make_run_does  # benchmarks/ is this script's sys.path[0]

    sys.exit(run_as_make_run_does(sys.argv[1:]))
