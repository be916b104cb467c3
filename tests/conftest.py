"""Shared fixtures. Browser fixtures live in tests/browser/conftest.py."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")

# AppTest and the served app must show errors in full to the tests (visitors see none; see .streamlit/config.toml).
os.environ.setdefault("STREAMLIT_CLIENT_SHOW_ERROR_DETAILS", "full")


@functools.cache
def components():
    """Streamlit's registry of installed custom components, discovered once per test process. AppTest 1.67
    discovers it afresh for each new AppTest (testing/v1/app_test.py `_run`: BidiComponentManager scans the
    metadata of every installed distribution, ~0.3 s, most of a page run here); the installed packages do
    not change during a session, and the app registers no component of its own."""
    from streamlit.components.v2.component_manager import BidiComponentManager

    manager = BidiComponentManager()
    manager.discover_and_register_components(start_file_watching=False)
    return manager


@pytest.fixture
def app_test(monkeypatch):
    """An AppTest factory starting from app.py, as a visitor does: app_test(page="matrix", query={...}).

    Pages trace in their own thread here (LORA_LAB_TRACE_PROCESSES=0, unless a test set it before): each trace
    worker takes seconds of CPU to start, and tests/test_workers_trace.py tests the Memory page with them."""
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    from lora_ui.workers.trace import ENV_PROCESSES

    monkeypatch.setenv(ENV_PROCESSES, os.environ.get(ENV_PROCESSES, "0"))

    def make(page: str | None = None, query: dict[str, str] | None = None, timeout: float = 60):
        # AppTest reads config options, not STREAMLIT_* variables: show full errors to the tests.
        config.set_option("client.showErrorDetails", "full")
        at = AppTest.from_file(APP, default_timeout=timeout)
        at._bidi_component_manager = components()  # what the first run would discover (components())
        for k, v in (query or {}).items():
            at.query_params[k] = v
        at.run()
        if page is not None:
            at.switch_page(f"pages/{page}.py")
            at.run()
        return at

    return make


def page_names() -> list[str]:
    """Every page app.py routes to (pages/*.py, as lora_ui.serve warms them up): a new page is tested by the
    page-wide tests without being listed there."""
    from lora_ui.serve import page_files

    return [Path(p).stem for p in page_files()]
