"""The first visitor of a just-started server sees the app's own navigation from the first paint.

Streamlit's pages/-directory mode would first send a sidebar built from file names (app, fit, learn, ...)
and only replace it once app.py reached st.navigation (lora_ui/serve.py explains why, and turns it off).
A MutationObserver installed before any page script records every state the sidebar navigation ever
shows, so a state that lasted a few milliseconds counts as much as the last one.
"""

from __future__ import annotations

from pathlib import Path

from lora_ui import serve
from lora_ui.i18n import tr
from tests.browser.conftest import no_exception, streamlit_server, wait_idle

# The names Streamlit's pages/ mode shows: the entry script and each file in pages/, without ".py".
RAW_NAMES = {"app", *(Path(p).stem for p in serve.page_files())}
# app.py's navigation, in order: (translation key, Material icon).
NAV = [
    ("common.nav.learn", "school"),
    ("common.nav.matrix", "grid_on"),
    ("common.nav.model", "account_tree"),
    ("common.nav.memory", "memory"),
    ("common.nav.fit", "show_chart"),
]

RECORD_NAV = """
window.__navStates = [];
new MutationObserver(() => {
  const nav = document.querySelector('[data-testid=stSidebarNav]');
  if (!nav) return;
  const items = [...nav.querySelectorAll('[data-testid=stSidebarNavLink]')].map(a => {
    const icon = a.querySelector('[data-testid=stIconMaterial]');
    const label = a.querySelector('[data-testid=stMarkdownContainer]') || a;
    return [label.innerText.trim(), icon ? icon.innerText.trim() : ''];
  });
  const last = window.__navStates[window.__navStates.length - 1];
  if (!last || JSON.stringify(last) !== JSON.stringify(items)) window.__navStates.push(items);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def first_visit(browser, base: str, query: str, screenshot: Path) -> list[list[list[str]]]:
    """Open the home page as the server's first visitor; returns every navigation state drawn."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.add_init_script(RECORD_NAV)
    page.goto(f"{base}/?{query}")
    page.wait_for_selector("[data-testid=stSidebarNavLink]")
    page.screenshot(path=str(screenshot))  # the first paint with a navigation in it
    page.wait_for_selector("[data-testid='stMain'] h1")
    wait_idle(page)
    states = page.evaluate("window.__navStates")
    assert no_exception(page)
    page.close()
    return states


def test_a_fresh_servers_first_visitor_sees_the_apps_navigation_in_telugu(browser, tmp_path):
    log = tmp_path / "server.log"
    with streamlit_server(log) as base:
        # The launcher warms up before the server exists: health said ok only after the warm-up line.
        assert "LoRA Lab: warm in" in log.read_text()
        states = first_visit(browser, base, "lang=te", tmp_path / "first-paint.png")
    want = [[tr(key, lang="te"), icon] for key, icon in NAV]
    assert states, "no sidebar navigation was drawn"
    for items in states:
        labels = {label for label, _ in items}
        assert not labels & RAW_NAMES, f"file names in the navigation: {items}"
        assert items == want, items
