"""Telugu in a real Chromium: every page at ?lang=te, the self-hosted font loads, and glyphs are not tofu.

The tofu check (docs/i18n.md): a font without Telugu draws every Telugu letter as the same .notdef box,
so all letters measure the same width. We launch a second Chromium whose fontconfig sees only a Latin font
folder (no system Telugu font, like a visitor's laptop without one), open the app, and measure single
letters on a canvas in the app's own font stack: they must differ in width and differ from .notdef
(U+0C0D is unassigned in the Telugu block). The same letters in DejaVu Sans (no Telugu) are the negative
control: all equal, proving the method sees tofu when it is there. A screenshot is saved for the eye.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, no_exception, open_app

# The Learn page is the default page: Streamlit serves it at "/" ("/learn" shows "Page not found").
PAGES = ["", "matrix", "model", "memory", "fit"]
TELUGU = re.compile(r"[\u0C00-\u0C7F]")
LATIN_FONT_DIRS = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation"]
LETTERS = ["క", "మ", "ఆ", "ఱ", "ఙ", "ో"]


MEASURE_JS = """([letters]) => {
  const width = (text, family) => {
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = `32px ${family}`;
    return ctx.measureText(text).width;
  };
  const family = getComputedStyle(document.querySelector('h1')).fontFamily;
  const faces = [];
  document.fonts.forEach(f => faces.push({family: f.family, weight: f.weight, status: f.status}));
  return {
    family, faces,
    app: letters.map(l => width(l, family)),
    notdef: width('\\u0C0D', family),
    control: letters.map(l => width(l, '"DejaVu Sans"')),
    check: document.fonts.check('32px "Noto Sans Telugu"', 'తెలుగు'),
  };
}"""


@pytest.mark.parametrize("path", PAGES)
def test_page_in_telugu(page, app_server, path):
    open_app(page, app_server, path, "lang=te")
    assert no_exception(page)
    page.wait_for_selector("h1")
    assert TELUGU.search(page.locator("h1").first.inner_text())
    main = page.locator("[data-testid='stMainBlockContainer']").inner_text()
    assert len(TELUGU.findall(main)) >= 3, main[:300]
    assert TELUGU.search(page.locator("[data-testid='stSidebar']").inner_text())


def test_self_hosted_font_is_served_and_loaded(page, app_server):
    fonts = []
    page.on("response", lambda r: fonts.append((r.status, r.url)) if "/app/static/fonts/" in r.url else None)
    open_app(page, app_server, "", "lang=te")
    page.wait_for_selector("h1")
    page.wait_for_function("() => document.fonts.status === 'loaded'")
    assert any(status == 200 and url.endswith("NotoSansTelugu-Regular.ttf") for status, url in fonts), fonts
    info = page.evaluate(MEASURE_JS, [LETTERS])
    ours = [f for f in info["faces"] if f["family"].strip('"') == "Noto Sans Telugu"]
    assert ours and all(f["status"] == "loaded" for f in ours if f["weight"] == "400"), info["faces"]
    assert info["check"]


@pytest.mark.slow
def test_telugu_glyphs_render_without_system_fonts(browser, app_server, tmp_path):
    latin = next((d for d in LATIN_FONT_DIRS if Path(d).is_dir()), None)
    if latin is None:
        pytest.skip("no Latin-only font folder to build a Telugu-free fontconfig from")
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd">'
        f"<fontconfig><dir>{latin}</dir><cachedir>{tmp_path}/cache</cachedir></fontconfig>"
    )
    env = dict(os.environ, FONTCONFIG_FILE=str(conf))
    # A second Chromium from the session's Playwright, seeing only the Latin fonts.
    bare = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=env)
    try:
        pg = bare.new_page(viewport={"width": 1280, "height": 720})
        open_app(pg, app_server, "", "lang=te")
        pg.wait_for_selector("h1")
        pg.wait_for_function("() => document.fonts.status === 'loaded'")
        info = pg.evaluate(MEASURE_JS, [LETTERS])
        shot = Path(os.environ.get("LORA_LAB_ARTIFACTS", tmp_path)) / "telugu-no-system-fonts.png"
        pg.screenshot(path=str(shot))
    finally:
        bare.close()
    # Negative control: a font without Telugu gives the same .notdef width for every letter.
    assert len(set(info["control"])) == 1, info
    # The app's font stack: real glyphs of different widths, none of them the .notdef box.
    assert len(set(info["app"])) >= 4, info
    assert sum(w == info["notdef"] for w in info["app"]) <= 1, info
