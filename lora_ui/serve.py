"""The server `make run` starts: LoRA Lab warmed up first, then Streamlit's own `streamlit run app.py`.

    python -m lora_ui.serve --server.port 8501 --server.address 127.0.0.1   # any `streamlit run` options

Why warm up before serving. A just-started `streamlit run app.py` answers its health check within a
couple of seconds, but the first page a visitor opens then imports torch, transformers, the presets' model
classes, plotly and pandas and draws its first figures: 8-13 s on our 2-core machine, for one visitor or
for a class arriving together (docs/load.md, "Cold start"). Here that work is done before the server
exists: Streamlit's health endpoint answers "ok" as soon as its Runtime has started
(streamlit/web/server/starlette/starlette_routes.py `create_health_routes` ->
`Runtime.is_ready_for_browser_connection`), and the Runtime and the listening socket are only created
inside `streamlit.web.bootstrap.run`, which the CLI calls after this module's `warm_up()` has returned.
So "healthy" means "warm".

What is warm afterwards (all in this process, which then becomes the server):
- torch and transformers, with `lora_ui.runtime.configure_once()` applied (threads, the first gc.freeze);
- every preset's config parsed, its transformers model class imported and its inventory built
  (`lora_core.arch.inventory`, cached per config), and transformers' Auto classes imported;
- every page of app.py's navigation run once, in English and in Telugu, with its default inputs, through
  Streamlit's AppTest: Streamlit's elements, plotly, pandas and the pages' own modules are imported, and
  the `st.cache_data` / module caches hold the default views (global caches live in the process, not in
  a Runtime, so the server's sessions find them). Every page having run, `runtime.freeze_when_warm`
  freezes the heap here too, before any visitor;
- the Memory page's trace workers (lora_ui/workers/trace.py) started beside those steps, and waited for: each
  imports torch, transformers and the model classes before it is ready.

The first paint. Streamlit 1.67 still has its old "pages/ directory" mode: while
`PagesManager.uses_pages_directory` is true (it is set on the first PagesManager a process makes, because
pages/ exists beside app.py), a script run calls `_mpa_v1`, which sends a navigation built from the file
names (app, fit, learn, matrix, memory, model) before it runs app.py
(streamlit/runtime/scriptrunner/script_runner.py, `_mpa_v1`; runtime/pages_manager.py). Only
`st.navigation` turns the flag off, so every visitor who arrives before the first run reaches it sees
those names. `serve()` turns it off before the server starts: every session then runs app.py directly,
and the first navigation a browser receives is app.py's own, titled in the visitor's language.

Starting one from another process (the browser tests, the benchmarks): `started(cmd, port=...)` runs a
server command from the repository root and waits until its health endpoint says ok (`wait_healthy`, also
for several servers or a proxy in front of them); `free_port()` picks a loopback port for it.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lora_ui.i18n import LANGS

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
PAGES_DIR = ROOT / "pages"
# One page run on a cold 2-core machine under load takes seconds (imports); this bound only stops a hung
# warm-up from keeping the server down for ever.
PAGE_TIMEOUT_S = 300.0


def command(python: str = sys.executable, *options: str) -> list[str]:
    """The command `make run` runs (Makefile `run`); tests and benchmarks start servers with it."""
    return [python, "-m", "lora_ui.serve", *options]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(
    base_url: str, procs: list[subprocess.Popen], timeout: float = 120.0, *, poll_s: float = 0.3, log: Path | None = None
) -> float:
    """Until `base_url`/_stcore/health says ok, then time.perf_counter() at that answer; RuntimeError if one of
    `procs` (the server, or the servers and the proxy in front of them) exits first, or after `timeout` seconds.
    `log`: named in the error."""
    see = f"; see {log}" if log is not None else ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{Path(str(p.args[0])).name} exited early with status {p.returncode}{see}")
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter()
        except OSError:
            pass
        time.sleep(poll_s)
    raise RuntimeError(f"{base_url} did not become healthy within {timeout:.0f} s{see}")


@dataclass(frozen=True)
class Started:
    url: str  # http://127.0.0.1:<port>
    proc: subprocess.Popen
    healthy_after_s: float  # from starting the process to the first health "ok"


@contextmanager
def started(
    cmd: list[str], *, port: int, log: Path | None = None, env: dict | None = None, timeout: float = 240.0,
    poll_s: float = 0.3, cwd: Path = ROOT,
):  # fmt: skip
    """Run `cmd` (a server for 127.0.0.1:`port`) from `cwd` (the repository root: .streamlit/config.toml
    applies), with full errors and unbuffered output into `log`; yields a `Started` once its health endpoint
    says ok; stops it afterwards (terminate, then kill)."""
    env = dict(os.environ if env is None else env, STREAMLIT_CLIENT_SHOW_ERROR_DETAILS="full", PYTHONUNBUFFERED="1")
    with open(log or os.devnull, "ab") as fh:  # the child keeps its own copy of the file descriptor
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        healthy_at = wait_healthy(base, [proc], timeout, poll_s=poll_s, log=log)
        yield Started(base, proc, healthy_at - t0)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _log(msg: str) -> None:
    print(f"  LoRA Lab: {msg}", flush=True)


def warm_presets() -> list[str]:
    """Parse every preset, import its transformers model class and build its inventory, then import
    transformers' Auto classes. Returns the problems seen (a preset that failed), empty when all built."""
    from lora_core import arch, presets

    problems = []
    for name in presets.PRESETS:
        try:
            arch.inventory(presets.load_preset(name))
        except Exception as exc:  # the Model and Memory pages show it to whoever picks that preset
            problems.append(f"preset {name}: {type(exc).__name__}: {exc}")
    # An uploaded config whose architecture transformers does not name goes through the Auto classes
    # (arch._resolve_class). transformers' lazy top-level module is not safe to use from several threads
    # while it is first filled: on a plain `streamlit run`, 19 of 20 visitors opening /memory together got
    # "module 'transformers' has no attribute 'AutoModelForCausalLM'" (benchmarks/cold_start.py; docs/load.md
    # "Cold start"). Imported after the presets: building a model imports transformers.processing_utils,
    # which replaces sys.modules["transformers"] with a fresh lazy module (its direct_transformers_import).
    import transformers

    for auto in arch._AUTO_CLASSES:
        getattr(transformers, auto)
    return problems


def page_files() -> list[str]:
    """The pages app.py routes to (pages/*.py), as AppTest.switch_page takes them."""
    return sorted(f"pages/{p.name}" for p in PAGES_DIR.glob("*.py") if not p.name.startswith("_"))


def warm_pages(langs: tuple[str, ...] = LANGS) -> list[str]:
    """Run every page once per language with its default inputs, as a first visitor would open it.
    Returns the problems seen (a page that raised), empty when all ran."""
    from streamlit.testing.v1 import AppTest

    def app_test(lang: str) -> AppTest:
        # AppTest writes its session state from this (non-script) thread, which Streamlit logs as a
        # "missing ScriptRunContext" warning meant for scripts run in bare mode: not ours to show.
        with _quiet_logger("streamlit.runtime.scriptrunner_utils.script_run_context"):
            at = AppTest.from_file(str(APP), default_timeout=PAGE_TIMEOUT_S)
        at.query_params["lang"] = lang
        return at

    problems: list[str] = []
    for lang in langs:
        at = app_test(lang)
        for page in [None, *page_files()]:  # None: the default page, as "/" opens it
            try:
                if page is not None:
                    at.switch_page(page)
                at.run()
            except Exception as exc:  # a hung or broken page must not keep the server from starting
                problems.append(f"{page or 'app.py'} ({lang}): {type(exc).__name__}: {exc}")
                at = app_test(lang)
                continue
            if at.exception:
                problems.append(f"{page or 'app.py'} ({lang}): {at.exception[0].message}")
    return problems


@contextmanager
def _quiet_logger(name: str):
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


WORKER_POLL_S = 0.05  # how often the warm-up looks whether its workers are ready (ours: they take seconds)


def start_trace_workers():
    """Start the Memory page's trace workers (lora_ui/workers/trace.py): each imports torch, transformers and the
    presets' model classes, seconds of CPU that no visitor's first trace should wait for. None when that fails
    (the page then traces in the server)."""
    try:
        from lora_ui.workers.trace import get_tracer

        with _quiet_logger("streamlit"):
            tracer = get_tracer()  # outside a script run: Streamlit notes that it has no runtime yet
        tracer.warm()
        return tracer
    except Exception as exc:  # the server still starts (warm_up's promise)
        _log(f"trace workers not started: {type(exc).__name__}: {exc}")
        return None


def page_runners() -> list:
    """The worker runners the pages start workers for (lora_ui.workers: the Fit page's fit runner, the Memory
    page's replay and trace runners), as the pages get them."""
    from lora_ui.workers.fit import get_runner
    from lora_ui.workers.replay import get_replayer
    from lora_ui.workers.trace import get_tracer

    with _quiet_logger("streamlit"):  # outside a script run: Streamlit notes that it has no runtime yet
        return [get_runner(), get_replayer(), get_tracer()]


def wait_for_workers(tracer) -> list[str]:
    """Wait until the worker processes the warm-up started are ready, bounded by their start timeout: the trace
    workers (start_trace_workers) and those the page runs started (fit workers, replay workers). A worker still
    importing torch when the first visitors come takes the CPU their first pages need (`make load`, 2026-11-29:
    two fit workers started by the Fit page's warm-up run were still importing torch at health ok, and the
    visitors who arrived in the next 0.8 s waited 0.3-0.6 s for their first page, against 0.1-0.4 s)."""
    from lora_ui.workers.process import START_TIMEOUT_S

    try:
        runners = page_runners()
    except Exception as exc:  # the server still starts (warm_up's promise)
        return [f"workers: {type(exc).__name__}: {exc}"]
    deadline = time.monotonic() + START_TIMEOUT_S
    while any(r.starting for r in runners) and time.monotonic() < deadline:
        time.sleep(WORKER_POLL_S)
    if tracer is None or (tracer.processes and not tracer.use_processes):
        return ["trace workers: none started (the Memory page traces in the server)"]
    return []


def warm_up() -> None:
    """Import and build what a first page view needs (see the module docstring). Prints one line with the
    time of each step, and one per failure (the server still starts: the page concerned shows the error)."""
    t0 = time.perf_counter()
    from lora_core.presets import PRESETS
    from lora_ui import runtime

    runtime.configure_once()
    tracer = start_trace_workers()  # in the background, beside the steps below
    t1 = time.perf_counter()
    problems = warm_presets()
    t2 = time.perf_counter()
    problems += warm_pages()
    t3 = time.perf_counter()
    problems += wait_for_workers(tracer)
    t4 = time.perf_counter()
    _log(
        f"warm in {t4 - t0:.1f} s (torch and transformers {t1 - t0:.1f} s, {len(PRESETS)} presets {t2 - t1:.1f} s,"
        f" every page in {' and '.join(LANGS)} {t3 - t2:.1f} s, worker processes {t4 - t3:.1f} s more)"
    )
    for p in problems:
        _log(f"warm-up failed, serving anyway: {p}")


def serve(options: list[str]) -> int:
    """`streamlit run app.py <options>` in this process, warmed up between reading its configuration and
    starting its server (so the warm-up sees the same options the server will). Returns the exit status."""
    from streamlit.web import bootstrap, cli

    start_server = bootstrap.run  # the CLI's last step: creates the Runtime, binds the socket, serves

    def warm_then_start(*args, **kwargs):
        from streamlit.runtime.pages_manager import PagesManager

        warm_up()
        PagesManager.uses_pages_directory = False  # no file-name navigation, ever (module docstring)
        return start_server(*args, **kwargs)

    bootstrap.run = warm_then_start
    sys.argv = ["streamlit", "run", str(APP), *options]  # what Streamlit reports as its command line
    try:
        cli.main(args=sys.argv[1:], prog_name="streamlit")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))
