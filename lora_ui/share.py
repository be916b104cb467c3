"""Shareable links: the "copy link" box and the note for a malformed link parameter.

Every page binds its inputs to the URL (`bind="query-params"`, keys in lora_ui/keys.py), so the URL *is*
the view. Two gaps remain, and this module fills them:

1. Streamlit silently drops a bound value it cannot use (`?r=abc`, `?r=-4`, a rank above the slider's
   maximum, `?lang=xx`, an unknown option) and shows the widget's default. We want the default PLUS a
   visible note. `capture_query()` snapshots the raw URL before any widget reads it; after the page ran,
   `report_bad_params()` compares each raw value with the value the widget actually took. A value that
   does not denote the widget's value was dropped (or, for a multiselect, partly dropped): we say so.
   Comparing against the rendered widget, rather than against a second copy of every range, means the
   check can never drift from the widgets' own min/max/options.
2. A one-click "copy link": `link_box()` shows the current URL in `st.code`, whose copy button copies it
   (no HTML, so nothing a visitor typed into the URL can inject markup).

Both run from app.py around `page.run()` (see docs/i18n.md for the exact lines). Nothing here raises on
any input: a value we cannot interpret is reported or skipped, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlencode

import streamlit as st

from lora_ui.i18n import tr

# Session-state key (not a widget, never in a URL) remembering the page of the previous run, so the check
# runs once per page visit: only a page's first run seeds widgets from the URL.
_LAST_PAGE = "_share_last_page"
# Session-state key holding this run's sidebar slot for the link box (open_link_slot).
_LINK_SLOT = "_share_link_slot"
# A note quotes at most this many characters of what the visitor put in the URL.
_MAX_QUOTED = 40

RawQuery = dict[str, list[str]]


def capture_query() -> RawQuery:
    """The URL's query parameters as {name: [values]}, before any widget consumes or cleans them.

    Call it first thing in app.py, before the language switch (itself a URL-bound widget)."""
    try:
        return {key: list(st.query_params.get_all(key)) for key in st.query_params}
    except Exception:  # a query string Streamlit could not parse is simply empty
        return {}


def _as_number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except (ValueError, AttributeError):
        return None
    return value if math.isfinite(value) else None


def denotes(raw: list[str], value: object) -> bool:
    """Whether the URL values `raw` mean the widget value `value`, read the way Streamlit reads them.

    Streamlit parses numbers with float() and truncates for integer widgets (?r=3.5 gives 3), takes the
    last of repeated single values, matches options by their text, and reads booleans as true/false.
    Anything we cannot compare (dates, colours) counts as denoting, so it is never reported falsely."""
    values = [v for v in raw if isinstance(v, str)]
    if isinstance(value, (list, tuple)):
        wanted = [v for v in values if v != ""]
        if len(wanted) != len(value):
            return False
        return all(denotes([w], item) for w, item in zip(wanted, value, strict=True))
    if not values:
        return False
    last = values[-1]
    if isinstance(value, bool):
        return last.strip().lower() == str(value).lower()
    if isinstance(value, int):
        number = _as_number(last)
        return number is not None and abs(number) < 2**63 and int(number) == value
    if isinstance(value, float):
        number = _as_number(last)
        return number is not None and math.isclose(number, value, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(value, str):
        return last == value
    return True


def bad_params(raw: Mapping[str, list[str]], state: Mapping[str, object]) -> list[str]:
    """Names of URL parameters whose value a widget (found by key in `state`) did not take.

    Parameters no widget uses, and private names (leading underscore), are ignored."""
    bad = []
    for name, values in raw.items():
        if name.startswith("_") or name not in state:
            continue
        try:
            ok = denotes(list(values), state[name])
        except Exception:  # never crash on a visitor's URL
            ok = False
        if not ok:
            bad.append(name)
    return bad


def _quoted(values: Iterable[str]) -> str:
    """A visitor's text made safe to show inside a markdown note: short, no markup characters."""
    text = ", ".join(values)
    # Letters, digits and a little punctuation only: no markdown, no URL (":" and "/" are dropped).
    text = "".join(ch for ch in text if ch.isalnum() or ch in " .,-+%=")
    return text[:_MAX_QUOTED] + ("…" if len(text) > _MAX_QUOTED else "")


def first_run_of_page(page: str) -> bool:
    """True on the first run after arriving on `page` (a new session, a link, or the navigation)."""
    first = st.session_state.get(_LAST_PAGE) != page
    st.session_state[_LAST_PAGE] = page
    return first


def report_bad_params(raw: Mapping[str, list[str]], page: str, where=None) -> list[str]:
    """After the page ran: a warning for each link parameter its widget could not use. Returns the names.

    Runs only on the first run of a page visit (later runs come from the visitor's own clicks, and a
    slider with on_change="ignore" may legitimately be ahead of Python in the URL)."""
    if not first_run_of_page(page):
        return []
    state = {key: st.session_state[key] for key in raw if key in st.session_state}
    names = bad_params(raw, state)
    target = where if where is not None else st
    for name in names:
        target.warning(
            tr("common.bad_param", name=name, value=_quoted(raw[name])), icon=":material/link_off:"
        )
    return names


def _as_url(value: object) -> list[str] | None:
    """A widget value the way a bound widget writes it into the URL; None for what we do not write."""
    if isinstance(value, bool):
        return [str(value).lower()]
    if isinstance(value, (int, str)):
        return [str(value)]
    if isinstance(value, float) and math.isfinite(value):
        return [repr(value)]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def link_params(raw: Mapping[str, list[str]], state: Mapping[str, object]) -> list[tuple[str, str]]:
    """The (name, value) pairs of a shareable link: the URL's parameters that a widget on this run owns.

    A URL value that no longer denotes its widget's value is replaced by the widget's: in quick fragment
    reruns Streamlit 1.67 can hand a run the query string from before the last move (a slider moved eight
    steps showed 19 while st.query_params still said 18; reproduced in Chromium), and the link would lag."""
    pairs: list[tuple[str, str]] = []
    for name, values in raw.items():
        if name.startswith("_") or name not in state:
            continue
        value = state[name]
        if not denotes(values, value):
            values = _as_url(value) or values
        pairs.extend((name, v) for v in values)
    return pairs


def build_url(base: str, page: str, pairs: list[tuple[str, str]]) -> str:
    """base + /page + ?query, with the query percent-encoded (Telugu and spaces survive a copy-paste)."""
    base = base.rstrip("/")
    path = f"{base}/{quote(page)}" if page else f"{base}/"
    query = urlencode(pairs, quote_via=quote)
    return f"{path}?{query}" if query else path


# The app's page paths (app.py). The default page answers at "/" (Streamlit gives it url_path ""), yet a
# visitor may be at /learn; either way the link's base is everything before the page segment.
PAGE_PATHS = ("learn", "matrix", "model", "memory", "fit")


def current_url(page: str) -> str:
    """The link to the view on screen now: this page with every widget value that differs from its
    default (Streamlit keeps defaults out of the URL). Relative when the browser's address is unknown."""
    try:
        base = (st.context.url or "").rstrip("/")
    except Exception:
        base = ""
    # st.context.url ends with the page's path; keep only scheme://host[:port][/prefix].
    last = base.rsplit("/", 1)[-1] if "://" in base and base.count("/") > 2 else ""
    if last and (last == page or last in PAGE_PATHS):
        base = base[: -len(last) - 1]
    pairs = link_params(capture_query(), st.session_state)
    return build_url(base, page, pairs)


def open_link_slot() -> None:
    """Reserve the sidebar's place for the link box (app.py, every full run, before the page runs).

    A page's inputs live in `st.fragment`s, and a fragment rerun runs neither app.py nor the rest of the
    page: the box must be redrawn by the fragment itself, into this slot (an `st.empty` replaces what it
    holds, so redraws never pile up). The slot is per session and per full run, like the page's elements."""
    st.session_state[_LINK_SLOT] = st.sidebar.empty()


def link_box(page: str, where=None) -> str:
    """The sidebar's "link to this view" box: the URL in st.code, copied with one click on its icon.

    Drawn into the slot from open_link_slot() when there is one (so a fragment can refresh it), else into
    `where` or the sidebar. Pages call it at the end of each fragment that holds URL-bound inputs."""
    url = current_url(page)
    slot = st.session_state.get(_LINK_SLOT) if where is None else None
    target = slot.container() if slot is not None else (where if where is not None else st.sidebar)
    target.caption(tr("common.share_caption"))
    target.code(url, language=None, wrap_lines=True)
    return url
