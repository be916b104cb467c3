"""At ?lang=te a reader meets Telugu: the Memory page, and the Fit page after a fit, show no Latin word
outside the glossary's short list (issue 16, "nothing left half-translated").

Every text node of the page's main block is read as Chromium draws it (chart titles, legends and table
headers included), except what is code by design: `code` spans and code blocks (the PEFT snippet), and the
options of radios bound to the URL, whose codes are the URL values (docs/i18n.md); each code's Telugu
label is the caption drawn under it, which is checked. Names of GPUs and presets are data, not words.
"""

from __future__ import annotations

import re

from lora_core.memory.gpus import GPUS
from lora_core.memory.setup import ATTENTIONS, OPTIMIZERS, PRECISIONS, SHARDINGS
from lora_core.presets import PRESETS
from lora_ui.i18n import tr
from lora_ui.strings.glossary import latin_words
from tests.browser.conftest import no_exception, open_app, wait_for_count, wait_idle

NAMES = tuple(g.name for g in GPUS) + tuple(PRESETS)
# Option codes a reader should meet only as the options themselves: those their English label does not
# repeat (zero3 is "ZeRO-3 (...)", sdpa is "SDPA: ...", amp-bf16 is "Mixed precision: ..."). A code with a
# digit passes latin_words() as an identifier, so these are looked for by name.
CODED = (
    ("precision", PRECISIONS),
    ("optimizer", OPTIMIZERS),
    ("attention", ATTENTIONS),
    ("sharding", SHARDINGS),
)
RAW_CODES = tuple(
    code for group, codes in CODED for code in codes if code not in tr(f"memory.{group}.{code}", lang="en")
)
RAW_CODE = r"(?<![\w-])(" + "|".join(re.escape(c) for c in RAW_CODES) + r")(?![\w-])"

# Text nodes of the main block, except code, the URL-bound radios' option codes and icon ligatures.
TEXTS_JS = """() => {
  const skip = "code, pre, [data-testid=stCode], [data-testid=stRadioOption], [data-testid=stIconMaterial]";
  const root = document.querySelector("[data-testid='stMainBlockContainer']");
  const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const out = [];
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const t = n.nodeValue.trim();
    if (t && !n.parentElement.closest(skip)) out.push(t);
  }
  return out;
}"""


def latin_on_page(page) -> dict[str, list[str]]:
    """{text node: its Latin words outside the allow-list, and raw option codes}, for those that have any."""
    texts = page.evaluate(TEXTS_JS)
    assert sum(len(t) for t in texts) > 500, texts  # the page is drawn (a blank page would pass)
    found = {t: latin_words(t, NAMES) + re.findall(RAW_CODE, t) for t in texts}
    return {t: words for t, words in found.items() if words}


def test_memory_page_in_telugu_has_no_english(page, app_server):
    query = "lang=te&mem_preset=qwen2.5-0.5b&mem_seq=256&mem_gpus=2&mem_sharding=zero3"
    open_app(page, app_server, "memory", query)
    page.wait_for_selector("[data-testid='stMetric']", timeout=120_000)
    wait_for_count(page, ".js-plotly-plot", 3)  # the charts' titles and legends are text too
    page.get_by_role("button", name=tr("memory.solve_button", lang="te")).click()  # the solver, when asked
    page.wait_for_selector("[data-testid='stAlertContentSuccess']", timeout=60_000)  # the solver's answer
    wait_idle(page)
    assert no_exception(page)
    assert not latin_on_page(page)
    # zero3 is said in words in the sentence that names it (memory.per_gpu)
    assert page.get_by_text(tr("memory.sharding.zero3", lang="te")).count() >= 1


def test_fit_page_after_training_in_telugu_has_no_english(page, app_server):
    open_app(page, app_server, "fit", "lang=te&fit_rows=16&fit_cols=12&fit_k=3&fit_r=2&fit_steps=200")
    page.get_by_role("button", name=tr("fit.train", lang="te")).click()
    page.wait_for_selector("[data-testid='stMetric']", timeout=120_000)  # the fit ended: results drawn
    wait_for_count(page, ".js-plotly-plot", 3)  # loss, heatmaps, singular values
    page.get_by_text(tr("fit.merge.title", lang="te")).wait_for()
    wait_idle(page)
    assert no_exception(page)
    assert not latin_on_page(page)
