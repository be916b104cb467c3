"""Real-browser fixtures: one streamlit server and one headless Debian Chromium per test session.

Playwright's own browser download fails here, so Playwright drives /usr/bin/chromium (make test installs it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

import pytest

from lora_ui import serve

CHROMIUM = os.environ.get("LORA_LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@contextlib.contextmanager
def streamlit_server(log_path: Path | None = None):
    """The app as `make run` starts it (lora_ui/serve.py: warmed up, then `streamlit run app.py`), on a free
    loopback port, with full errors; yields the base URL once healthy, stops it after. The launcher warms up
    first: ~10 s on an idle 2-core machine, several times that while the rest of the suite runs beside it."""
    port = serve.free_port()
    cmd = serve.command(sys.executable, "--server.port", str(port), "--server.address", "127.0.0.1")
    cmd += ["--server.headless", "true"]
    with serve.started(cmd, port=port, log=log_path, timeout=240.0) as server:
        yield server.url


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """Base URL of one app server (as `make run` starts it) shared by the session's browser tests."""
    with streamlit_server(tmp_path_factory.mktemp("server") / "streamlit.log") as base:
        yield base


@pytest.fixture(scope="session")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's chromium (make test does) to run the browser tests"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def open_app(page, base_url: str, path: str = "", query: str = ""):
    """Open a page of the app and wait until Streamlit has finished running the script."""
    url = f"{base_url}/{path}" + (f"?{query}" if query else "")
    page.goto(url)
    page.wait_for_selector("[data-testid='stApp']")
    wait_idle(page)
    # A fresh server's first run can end (and the status widget vanish) before the page's title is drawn.
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
    return page


def wait_idle(page, timeout: float = 30_000):
    """Wait for the app's status widget to stop showing 'Running'."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout
    )
    page.wait_for_timeout(200)


def no_exception(page) -> bool:
    return page.locator("[data-testid='stException']").count() == 0


def wait_for_metrics(page, values: list[str], first: bool = False, timeout: float = 60_000) -> None:
    """Wait until every text in `values` is shown as an st.metric value (a busy or cold server draws late);
    with first=True, until they are the page's first metrics, in that order."""
    page.wait_for_function(
        "([want, first]) => { const v = [...document.querySelectorAll('[data-testid=stMetricValue]')]"
        ".map(e => e.innerText.trim()); return first ? want.every((w, i) => v[i] === w)"
        " : want.every(w => v.includes(w)); }",
        arg=[values, first],
        timeout=timeout,
    )


def wait_for_count(page, selector: str, at_least: int, timeout: float = 60_000) -> None:
    """Wait until `selector` matches at least `at_least` elements (charts render after the script ends)."""
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length >= n", arg=[selector, at_least], timeout=timeout
    )
