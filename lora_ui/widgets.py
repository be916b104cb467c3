"""Display helpers every page uses, so exports and errors look and work the same everywhere."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from lora_core.errors import LoraLabError
from lora_ui.i18n import tr
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


def show_error(exc: Exception) -> None:
    """A user-facing error (LoraLabError) as st.error; the rest of the page keeps rendering."""
    message = str(exc) if isinstance(exc, LoraLabError) else f"{type(exc).__name__}: {exc}"
    st.error(tr("common.error_prefix", message=markdown_literal(message)), icon=":material/error:")


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
