"""English and Telugu for every page, per session.

The language lives in st.session_state["lang"], bound to the URL as ?lang=en|te. Nothing here is
process-wide (no gettext.install, no translator named `_`): one student's language never leaks into
another student's session.
"""

from __future__ import annotations

import importlib
from functools import cache

import streamlit as st

from lora_ui.keys import LANG
from lora_ui.strings import AREAS

LANGS = ("en", "te")
LANG_NAMES = {"en": "English", "te": "తెలుగు"}
DEFAULT_LANG = "en"


@cache
def tables() -> dict[str, dict[str, str]]:
    """{"en": {"area.key": text}, "te": {...}}, built once per process (read-only afterwards)."""
    out: dict[str, dict[str, str]] = {lang: {} for lang in LANGS}
    for area in AREAS:
        module = importlib.import_module(f"lora_ui.strings.{area}")
        for lang, table in (("en", module.EN), ("te", module.TE)):
            for key, text in table.items():
                out[lang][f"{area}.{key}"] = text
    return out


def current_lang() -> str:
    lang = st.session_state.get(LANG, DEFAULT_LANG)
    return lang if lang in LANGS else DEFAULT_LANG


def tr(key: str, lang: str | None = None, **kwargs: object) -> str:
    """The text for `key` in this session's language; English if Telugu lacks it; the key if both do."""
    all_tables = tables()
    lang = lang or current_lang()
    text = all_tables[lang].get(key) or all_tables[DEFAULT_LANG].get(key) or key
    return text.format(**kwargs) if kwargs else text


def language_selector() -> str:
    """The sidebar switch, kept in the URL as ?lang=en|te. Call once per run, from app.py.

    Not bind="query-params": a bound radio keeps its *formatted* option in the URL (?lang=తెలుగు) and
    rejects ?lang=te. So the URL seeds the radio's starting index, and the radio writes the URL back."""
    requested = st.query_params.get(LANG)
    start = LANGS.index(requested) if requested in LANGS else LANGS.index(DEFAULT_LANG)
    lang = st.sidebar.radio(
        tr("common.language", lang=LANGS[start] if LANG not in st.session_state else None),
        LANGS,
        index=start,
        format_func=LANG_NAMES.__getitem__,
        key=LANG,
        horizontal=True,
    )
    if st.query_params.get(LANG) != lang:
        st.query_params[LANG] = lang
    return lang
