"""Display helpers every page uses, so exports and errors look and work the same everywhere."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from lora_core.errors import Clause, LoraLabError
from lora_ui.i18n import tables, tr
from lora_ui.plotly_fast import for_streamlit


def show_chart(fig, name: str, *, key: str | None = None) -> None:
    """A Plotly figure with the mode bar's PNG download button, named after the chart."""
    st.plotly_chart(
        for_streamlit(fig),
        width="stretch",
        key=key,
        config={
            "displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": name, "scale": 2},
        },
    )


def show_table(df: pd.DataFrame, name: str, *, key: str | None = None, **kwargs) -> None:
    """A dataframe with a CSV download button under it."""
    st.dataframe(df, width="stretch", hide_index=True, **kwargs)
    st.download_button(
        tr("common.download_csv"),
        # A callable: the CSV is made when a visitor clicks, not on every rerun (Streamlit 1.67 runs it on
        # the click, in its own thread; st.download_button's `data` docs).
        lambda: df.to_csv(index=False).encode("utf-8"),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=key or f"csv_{name}",
        on_click="ignore",
        icon=":material/download:",
    )


def error_text(exc: Exception, lang: str | None = None) -> str:
    """What `exc` says, in this session's language (or `lang`): a LoraLabError by its code and parameters
    (lora_ui/strings/errors.py), any other exception as its type and message. A code the table lacks (an
    error raised in the old style, with its English message as the code) shows as str(exc)."""
    if not isinstance(exc, LoraLabError):
        return f"{type(exc).__name__}: {exc}"
    if f"errors.{exc.code}" not in tables()["en"]:
        return str(exc)
    return _fill(exc.code, exc.params, lang)


def _fill(code: str, params: dict, lang: str | None) -> str:
    return tr(f"errors.{code}", lang, **{k: _param(v, lang) for k, v in params.items()})


def _param(value: object, lang: str | None) -> object:
    """A parameter for str.format in the visitor's language: a Clause filled in by its code, a tuple or list
    joined with ", " (as lora_core.errors.english does); numbers stay numbers, for the template's format."""
    if isinstance(value, Clause):
        return _fill(value.code, value.params, lang)
    if isinstance(value, (tuple, list)):
        return ", ".join(str(_param(v, lang)) for v in value)
    return value


def show_error(exc: Exception) -> None:
    """A user-facing error (LoraLabError) as st.error in the visitor's language; the rest of the page keeps
    rendering. The whole message is shown as typed (markdown_literal): parameters come from the visitor."""
    st.error(tr("common.error_prefix", message=markdown_literal(error_text(exc))), icon=":material/error:")


# Markdown, entity (&amp;), Streamlit directive (:red[..], :smile:) and LaTeX ($..$) punctuation: CommonMark renders a
# backslash-escaped ASCII punctuation character as itself (spec 0.31, "Backslash escapes").
_MARKDOWN_PUNCT = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:&])")


def markdown_literal(text: str) -> str:
    """`text` shown as typed inside st.error/st.markdown: a value from a visitor's URL or upload, quoted in an
    error, cannot format the box (headings, emphasis, coloured text, formulas, markdown links). Bare URLs
    are still auto-linked by Streamlit's markdown (GitHub-flavoured autolinks ignore escapes; checked in
    Chromium), as they are anywhere a visitor pastes one; the text itself is unchanged on screen, but on one
    line (runs of whitespace and line breaks become one space)."""
    # One line: a line break would let the next line start a heading ("===" under text), a list or a code block.
    return _MARKDOWN_PUNCT.sub(r"\\\1", " ".join(text.split()))
