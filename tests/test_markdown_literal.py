"""Visitor text quoted in an error box is shown as typed: markdown_literal (lora_ui/widgets.py).

Checked with a CommonMark renderer (markdown-it-py, the parser Python's rich uses): the escaped text renders
to one paragraph holding exactly the original characters, with no link, emphasis, heading, code or image.
Streamlit's own extras ($..$ formulas, :red[..] directives, :emoji: shortcodes) start with `$` or `:`, which
are escaped too; that they render unescaped and not escaped was checked in Chromium (see show_error)."""

from __future__ import annotations

import html
import re

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from lora_ui.widgets import markdown_literal

_MD = MarkdownIt("commonmark")
_ONE_PARAGRAPH = re.compile(r"<p>(.*)</p>\n", re.S)

HOSTILE = [
    "[click](https://evil.example)",
    "![img](https://evil.example/x.png)",
    "# Session expired",
    "**bold** _it_ `code`",
    "a $x^2$ b :red[hi] :smile:",
    "<b>x</b> <script>alert(1)</script>",
    "\\[not a link\\](x)",
    "1. item",
    "- item",
    "> quote",
    "q_proj, v_proj",
    "&amp; &#60; &lt;",
]


def _shown(text: str) -> str:
    rendered = _MD.render(markdown_literal(text))
    m = _ONE_PARAGRAPH.fullmatch(rendered)
    assert m, rendered
    inner = m.group(1)
    assert not re.search(r"<(a|em|strong|h\d|code|img|ol|ul|blockquote)\b", inner), inner
    return html.unescape(inner)


def test_hostile_text_is_shown_as_typed():
    for text in HOSTILE:
        assert _shown(text) == text


def test_the_renderer_would_format_them_unescaped():
    """The check above can fail: the same texts, unescaped, do render as markup."""
    formatted = [t for t in HOSTILE if _MD.render(t) != f"<p>{html.escape(t, quote=False)}</p>\n"]
    assert len(formatted) >= 8, formatted


# Words of printable text joined by single spaces: one paragraph (newlines and runs of spaces are layout,
# which markdown may collapse; LoraLabError messages are one line).
_WORD = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF, exclude_categories=("Z", "C")),
    min_size=1,
    max_size=80,
)


@given(st.lists(_WORD, min_size=1, max_size=4).map(" ".join))
def test_any_one_line_text_is_shown_as_typed(text):
    assert _shown(text) == text
