"""Option widgets whose labels are translated but whose URL value is a language-independent code.

Streamlit 1.67's `bind="query-params"` writes an option widget's *formatted* label into the URL
(RadioSerde/SelectboxSerde serialise to `format_func(option)`, and `_seed_widget_from_url` accepts only
those labels). With a translating format_func that breaks shared links: `?mem_method=qlora` (the Learn
page's scenarios) is dropped, and the Telugu URL differs from the English one. So, as the sidebar's
language switch does (lora_ui/i18n.py `language_selector`), these widgets are not bound: the code in the
URL seeds the widget, and the widget writes its code back.

- The widget's own key is private and per language (`_mem_method_te`). A language switch therefore makes
  a fresh widget, seeded from the URL, instead of a widget whose browser state holds the other
  language's label (which Streamlit would not recognise and would reset to the default).
- `st.session_state[key]` holds the chosen code under the URL name, so lora_ui/share.py's copy-link box
  and its "link value not used" note see the same value a bound widget would give them.
- As with bound widgets, the default stays out of the URL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from lora_ui.i18n import current_lang


def widget_key(key: str, lang: str | None = None) -> str:
    """The private widget key behind URL name `key` in `lang` (default: this session's language)."""
    return f"_{key}_{lang or current_lang()}"


def coded_choice(
    widget: Callable,
    label: str,
    codes: Sequence[str],
    labels: Callable[[str], str],
    *,
    key: str,
    default: str,
    **kwargs,
) -> str:
    """Render `widget` (st.radio, st.selectbox, or a column's) over `codes`, shown as `labels(code)`.

    Returns the chosen code. `key` is the URL query-parameter name (lora_ui/keys.py)."""
    codes = list(codes)
    requested = st.query_params.get(key)
    start = requested if requested in codes else default
    shown = {code: labels(code) for code in codes}  # fixed for this run, whatever the language does later
    code = widget(
        label, codes, index=codes.index(start), format_func=shown.__getitem__, key=widget_key(key), **kwargs
    )
    st.session_state[key] = code
    if code == default:
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != code:
        st.query_params[key] = code
    return code
