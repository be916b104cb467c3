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
# Text over several lines: shown on one line (a line break could start a heading, a list or a code block).
MULTILINE = ["Foo\n===", "a\n\n    x = 1", "x\n- item\n> quote", "t\r\n# h"]


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


def test_text_over_several_lines_is_one_line_of_plain_text():
    for text in MULTILINE:
        assert _MD.render(text) != f"<p>{html.escape(text, quote=False)}</p>\n"  # it would format
        assert _shown(text) == " ".join(text.split())


def test_the_renderer_would_format_them_unescaped():
    """The check above can fail: the same texts, unescaped, do render as markup."""
    formatted = [t for t in HOSTILE if _MD.render(t) != f"<p>{html.escape(t, quote=False)}</p>\n"]
    assert len(formatted) >= 8, formatted


# Any text of at least one visible character, line breaks, tabs and control characters included; it is
# shown as its words joined by single spaces.
_TEXT = st.text(
    alphabet=st.characters(max_codepoint=0x2FFF, exclude_categories=("Cs",)), max_size=120
).filter(
    lambda t: t.split() and "\x00" not in t  # markdown-it turns NUL into U+FFFD, as CommonMark says
)


@given(_TEXT)
def test_any_text_is_shown_as_its_words(text):
    assert _shown(text) == " ".join(text.split())
