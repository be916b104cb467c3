"""`streamlit run` (our app.py as `make run` starts it: lora_ui/serve.py), logging the server-side cost of every
script run (used by benchmarks/page_cost.py).

    LORA_LAB_RUN_LOG=runs.jsonl python benchmarks/timed_server.py run app.py --server.port 8501

Every script run (full or fragment) appends one JSON line: wall and thread CPU seconds spent in
`exec_func_with_error_handling` (the script or fragment body, on the session's script thread), the page's
script hash and the run's fragment ids. The thread time is the page's own cost, free of network effects.

LORA_LAB_NODELAY=1 also sets TCP_NODELAY on the server's accepted sockets. Streamlit 1.67 binds its listening
socket itself (`socket.socket(family=...)` in streamlit/web/server/starlette/starlette_server.py), so the
socket's proto is 0 and asyncio's `_set_nodelay` (which checks `sock.proto == IPPROTO_TCP`) skips it: the
server's small websocket writes then wait for the client's delayed ACK (40 ms on Linux) whenever a client
sends its next request within a few hundred ms of the last reply. See docs/load.md.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

_lock = threading.Lock()


def _install_timing(path: str) -> None:
    from streamlit.runtime.scriptrunner import script_runner

    original = script_runner.exec_func_with_error_handling

    def timed(func, ctx):
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            return original(func, ctx)
        finally:
            row = {
                "wall_s": time.perf_counter() - w0,
                "thread_s": time.thread_time() - c0,
                "page_script_hash": getattr(ctx, "page_script_hash", ""),
                "fragment_ids": list(getattr(ctx, "fragment_ids_this_run", None) or []),
                "end": time.time(),
            }
            with _lock, open(path, "a") as fh:
                fh.write(json.dumps(row) + "\n")

    script_runner.exec_func_with_error_handling = timed


def _install_nodelay() -> None:
    from asyncio import base_events

    def set_nodelay(sock) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    base_events._set_nodelay = set_nodelay


def run_as_make_run_does(argv: list[str]) -> int:
    """`run app.py ...` for our app goes through lora_ui/serve.py (warmed up, as `make run` starts it);
    any other script (the baseline app) through Streamlit's own CLI."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from lora_ui import serve

    if argv[:1] == ["run"] and len(argv) > 1 and Path(argv[1]).resolve() == serve.APP:
        return serve.serve(argv[2:])
    from streamlit.web.cli import main

    sys.argv = ["streamlit", *argv]
    return main()


if __name__ == "__main__":
    if os.environ.get("LORA_LAB_RUN_LOG"):
        _install_timing(os.environ["LORA_LAB_RUN_LOG"])
    if os.environ.get("LORA_LAB_NODELAY") == "1":
        _install_nodelay()
    sys.exit(run_as_make_run_does(sys.argv[1:]))
