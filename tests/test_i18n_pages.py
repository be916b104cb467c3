"""Every page in Telugu, in AppTest: after the sidebar switch, the page's own words (title, headers,
widget labels, metric labels, captions, table headers, chart titles and axis titles) are Telugu, with
only the technical terms tests/test_i18n.py allows left in Latin script."""

from __future__ import annotations

import json
import re

import pytest

from tests.test_i18n import PAGES, TELUGU
from tests.test_i18n import leftover_english as _leftover


def leftover_english(text: str) -> list[str]:
    """As tests/test_i18n.py, but a quoted paper title (“LoRA: Low-Rank Adaptation…”) stays as published."""
    return _leftover(re.sub(r"“[^”]*”", " ", text))


LABELLED = (
    "slider", "number_input", "select_slider", "selectbox", "radio", "multiselect", "checkbox", "toggle",
    "text_input", "button", "metric",
)  # fmt: skip


def visible_words(at) -> dict[str, list[str]]:
    """The page's own words by kind (values and table cells are data: preset and GPU names stay)."""
    main = at.main
    out: dict[str, list[str]] = {
        "title": [t.value for t in main.title],
        "header": [h.value for h in main.header] + [h.value for h in main.subheader],
        "caption": [c.value for c in main.caption],
        "table header": [str(c) for df in main.dataframe for c in df.value.columns],
    }
    for kind in LABELLED:
        out[kind] = [el.label for el in getattr(main, kind) if getattr(el, "label", None)]
    charts = []
    for chart in main.get("plotly_chart"):
        spec = json.loads(chart.proto.spec).get("layout", {})
        for part in ("title", "xaxis", "yaxis"):
            item = spec.get(part, {})
            title = item.get("title", item) if part != "title" else item
            text = title.get("text") if isinstance(title, dict) else None
            if text:
                charts.append(text)
    out["chart"] = charts
    return out


CASES = list(PAGES)


@pytest.mark.parametrize("page", CASES)
def test_page_text_is_telugu_after_the_switch(app_test, page):
    at = app_test(page=page, timeout=300)
    at.sidebar.radio(key="lang").set_value("te").run(timeout=300)
    assert not at.exception, at.exception
    words = visible_words(at)
    assert words["title"] and TELUGU.search(words["title"][0])
    english = {
        kind: [(text, leftover_english(text)) for text in texts if leftover_english(text)]
        for kind, texts in words.items()
    }
    english = {k: v for k, v in english.items() if v}
    assert not english, f"{page}: English left on screen: {english}"
    # Something in each kind the page has is Telugu (not merely free of English).
    for kind in ("title", "header", "table header", "chart"):
        if words[kind]:
            assert any(TELUGU.search(t) for t in words[kind]), (page, kind, words[kind])
    assert any(TELUGU.search(t) for kind in LABELLED for t in words[kind]), (page, "labels")
