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


def _run_ctx():
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return get_script_run_ctx(suppress_warning=True)


def _remember(lang: str) -> None:
    """Keep this run's language on the run's context. A Memory page run calls tr() ~80 times, and each
    st.session_state read goes through several locked layers: 815 reads took 39 ms in a cProfile of 10
    Memory runs under AppTest here (~50 us each, ~4 ms a run; our measurement, 2026-11-23).
    The entry is tied to the run by the identity of `ctx.cursors`, a dict Streamlit makes anew for every
    run (ScriptRunContext.reset); holding it keeps the old dict alive, so a new run can never match it."""
    ctx = _run_ctx()
    if ctx is not None:
        ctx._lora_lab_lang = (ctx.cursors, lang)


def current_lang() -> str:
    ctx = _run_ctx()
    remembered = getattr(ctx, "_lora_lab_lang", None)
    if remembered is not None and remembered[0] is ctx.cursors:
        return remembered[1]
    lang = st.session_state.get(LANG, DEFAULT_LANG)
    lang = lang if lang in LANGS else DEFAULT_LANG
    # Safe to remember only where the language cannot change later in this run: after the sidebar switch
    # has run (language_selector remembers it), or in a fragment rerun, which never runs the switch.
    if ctx is not None and ctx.fragment_ids_this_run:
        _remember(lang)
    return lang


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
    _remember(lang if lang in LANGS else DEFAULT_LANG)
    return lang


SENTENCE_ENDS = (".", "?", "!", "…", ":")


def join_sentences(*parts: str) -> str:
    """Table strings shown as one paragraph, in either language: each part ends a sentence (a full stop is
    added where it has no . ? ! … or :), one space between, empty parts dropped. Telugu ends sentences
    with the same full stop as English (the seed explainer and every Telugu table do)."""
    out = []
    for part in parts:
        part = part.strip()
        if part:
            out.append(part if part.endswith(SENTENCE_ENDS) else part + ".")
    return " ".join(out)
