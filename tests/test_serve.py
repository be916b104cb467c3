"""lora_ui/serve.py: what `make run` starts is warm before its server exists.

The server (Streamlit's Runtime, its socket, its health endpoint) is created by `streamlit.web.bootstrap.run`.
Here a child process replaces that function with a probe before calling `serve()`: the probe runs exactly
where the server would start, and reports what is imported and built at that moment.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lora_core import arch, presets
from lora_ui import serve

pytestmark = pytest.mark.server  # each test starts a process

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, sys
import streamlit.web.bootstrap as bootstrap

def probe(main_script_path, is_hello, args, flag_options, **kwargs):
    from streamlit.runtime import Runtime
    from streamlit.runtime.caching import cache_data_api
    from streamlit.runtime.pages_manager import PagesManager
    from lora_core import arch, presets

    stats = cache_data_api.get_data_cache_stats_provider().get_stats()
    cached = {s.cache_name: s.byte_length for group in stats.values() for s in group}
    from lora_ui import serve as served
    runners = served.page_runners()
    print("PROBE " + json.dumps({
        "workers_starting": [r.starting for r in runners],
        "workers_idle": [r.workers for r in runners],
        "script": main_script_path,
        "port": flag_options.get("server_port"),
        "modules": sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "transformers", "plotly", "pandas", "lora_ui"}),
        "model_modules": sorted({arch._resolve_class(presets.load_preset(n)).__module__ for n in presets.PRESETS}),
        "inventories": arch._cached_inventory.cache_info().currsize,
        "auto_classes": [n for n in arch._AUTO_CLASSES if n in vars(sys.modules["transformers"])],
        "cached": cached,
        "runtime_exists": Runtime.exists(),
        "uses_pages_directory": PagesManager.uses_pages_directory,
    }), flush=True)

bootstrap.run = probe
from lora_ui import serve
sys.exit(serve.serve(["--server.port", "8999", "--server.headless", "true"]))
"""


def test_the_server_starts_only_after_the_warm_up_built_the_first_views():
    r = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    warm = [i for i, line in enumerate(lines) if "LoRA Lab: warm in" in line]
    probe = [i for i, line in enumerate(lines) if line.startswith("PROBE ")]
    assert len(warm) == 1 and len(probe) == 1 and warm[0] < probe[0], r.stdout
    assert not [line for line in lines if "warm-up failed" in line], r.stdout
    seen = json.loads(lines[probe[0]].removeprefix("PROBE "))

    # It starts our app, with the options it was given, and no Runtime is left over from the warm-up.
    assert Path(seen["script"]) == ROOT / "app.py"
    assert seen["port"] == 8999
    assert seen["runtime_exists"] is False
    # The first paint is app.py's own navigation: the pages/ directory mode is off for every session.
    assert seen["uses_pages_directory"] is False
    # Imported: torch, transformers, plotly, pandas, the UI's modules and every preset's model class.
    modules = set(seen["modules"])
    assert {"torch", "transformers", "plotly", "pandas", "lora_ui.runtime", "lora_ui.i18n"} <= modules
    assert {"lora_ui.matrix_charts", "lora_ui.memory_charts", "lora_ui.model_charts"} <= modules
    assert set(seen["model_modules"]) <= modules
    assert seen["auto_classes"] == list(arch._AUTO_CLASSES)  # resolved once: an uploaded config may need them
    # Built: every preset's inventory, and the pages' cached results for their default views.
    assert seen["inventories"] >= len(presets.PRESETS)
    assert seen["cached"], "no st.cache_data entry: the pages did not run"
    assert all(size > 0 for size in seen["cached"].values())
    # The worker processes its page runs started (fit, replay, trace) are ready: none imports torch at a first page.
    assert seen["workers_starting"] == [0, 0, 0], seen
    assert all(n >= 1 for n in seen["workers_idle"]), seen


def test_the_warm_up_runs_every_page_of_the_navigation():
    """serve.page_files() is what app.py routes to: a new page is warmed without editing serve.py."""
    app = (ROOT / "app.py").read_text()
    routed = {f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py") if f'"pages/{p.name}"' in app}
    assert set(serve.page_files()) == routed
    assert len(routed) == 5


def test_a_preset_that_fails_to_build_is_reported_and_the_others_still_warm(monkeypatch):
    built = []
    monkeypatch.setattr(presets, "PRESETS", ("gpt2", "no-such-preset", "bert-base"))
    monkeypatch.setattr(arch, "_AUTO_CLASSES", ())
    monkeypatch.setattr(arch, "inventory", lambda config: built.append(config["model_type"]))
    problems = serve.warm_presets()
    assert built == ["gpt2", "bert"]
    assert len(problems) == 1 and problems[0].startswith("preset no-such-preset: LoraLabError")


def test_make_run_and_the_benchmarks_start_the_server_the_same_way():
    makefile = (ROOT / "Makefile").read_text()
    run_recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "$(PY) -m lora_ui.serve " in run_recipe
    assert serve.command("python", "--server.port", "1")[1:] == ["-m", "lora_ui.serve", "--server.port", "1"]


def test_started_yields_a_healthy_server_and_stops_it(tmp_path):
    """serve.started, what the browser tests and the benchmarks start servers with: a stand-in server that
    answers /_stcore/health after a moment (and only if it was asked to show full errors, as tests need); a
    server that dies first is an error naming its status."""
    port = serve.free_port()
    stand_in = (
        "import http.server, os, time; time.sleep(0.5)\n"
        "assert os.environ['STREAMLIT_CLIENT_SHOW_ERROR_DETAILS'] == 'full'\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200 if self.path == '/_stcore/health' else 404); self.end_headers()\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n"
    )
    with serve.started([sys.executable, "-c", stand_in], port=port, timeout=60, poll_s=0.05) as server:
        assert server.url == f"http://127.0.0.1:{port}" and server.healthy_after_s >= 0.5
        assert server.proc.poll() is None
    assert server.proc.poll() is not None  # stopped on the way out
    with pytest.raises(RuntimeError, match="exited early with status 3"):
        with serve.started([sys.executable, "-c", "raise SystemExit(3)"], port=serve.free_port(), timeout=60):
            pass
