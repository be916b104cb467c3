"""Shareable links: the bad-parameter check, the copy-link URL, and restoring every page from its URL."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lora_ui import keys
from lora_ui.share import _quoted, bad_params, build_url, denotes, link_params

# --- denotes: read a URL value the way Streamlit 1.67 reads it -------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "expected"),
    [
        (["32"], 32, True),
        (["32.0"], 32, True),
        (["3.5"], 3, True),  # Streamlit truncates for an int widget, and so do we
        (["abc"], 8, False),
        (["99999"], 8, False),  # out of range: Streamlit fell back to the default
        (["nan"], 8, False),
        (["1e400"], 8, False),
        (["0.5"], 0.5, True),
        (["true"], True, True),
        (["TRUE"], True, True),
        (["yes"], False, False),
        (["qlora"], "qlora", True),
        (["QLoRA"], "qlora", False),
        (["q_proj", "v_proj"], ["q_proj", "v_proj"], True),
        (["k_proj", "bogus"], ["k_proj"], False),  # Streamlit dropped part of it
        ([], 8, False),
    ],
)
def test_denotes(raw, value, expected):
    assert denotes(raw, value) is expected


@given(st.lists(st.text(), max_size=4), st.one_of(st.integers(), st.floats(), st.booleans(), st.text()))
def test_denotes_never_raises(raw, value):
    assert denotes(raw, value) in (True, False)


@given(st.dictionaries(st.text(max_size=8), st.lists(st.text(max_size=30), max_size=3), max_size=5))
def test_bad_params_never_raises_and_only_judges_widgets(raw):
    state = {"r": 8, "lang": "en", "targets": ["q_proj"]}
    names = bad_params(raw, state)
    assert set(names) <= set(raw) & set(state)


def test_bad_params_ignores_private_and_unknown_names():
    assert (
        bad_params({"_share_last_page": ["x"], "utm": ["y"], "r": ["8"]}, {"_share_last_page": "", "r": 8})
        == []
    )


@given(st.text())
def test_quoted_text_cannot_carry_markdown_or_links(text):
    out = _quoted([text])
    assert not re.search(r"[`*_\[\]()<>#!|\\~:/]", out)
    assert len(out) <= 41


# --- the link ----------------------------------------------------------------------------------------------


def test_build_url_encodes_and_repeats():
    pairs = [("preset", "llama-2-7b"), ("targets", "q_proj"), ("targets", "v_proj"), ("lang", "te")]
    assert (
        build_url("http://host:8501", "model", pairs)
        == "http://host:8501/model?preset=llama-2-7b&targets=q_proj&targets=v_proj&lang=te"
    )
    assert build_url("", "matrix", []) == "/matrix"
    assert build_url("http://host/", "", [("lang", "te")]) == "http://host/?lang=te"
    assert "%E0%B0" in build_url("", "x", [("q", "తెలుగు")])  # Telugu survives copy-paste


def test_link_params_keep_only_widget_values():
    raw = {"r": ["32"], "utm_source": ["mail"], "_share_last_page": ["x"]}
    assert link_params(raw, {"r": 32, "_share_last_page": "matrix"}) == [("r", "32")]


def test_link_params_follow_the_widget_when_the_url_lags_it():
    """A fast fragment rerun can read the query string from before the last move: the widget's value wins."""
    assert link_params({"r": ["18"]}, {"r": 19}) == [("r", "19")]
    assert link_params({"r": ["19.0"]}, {"r": 19}) == [("r", "19.0")]  # same value: the URL's text kept
    assert link_params({"f": ["false"]}, {"f": True}) == [("f", "true")]
    assert link_params({"m": ["a"]}, {"m": ["a", "b"]}) == [("m", "a"), ("m", "b")]
    assert link_params({"lr": ["0.1"]}, {"lr": 0.01}) == [("lr", "0.01")]


# --- every page, from its URL -------------------------------------------------------------------------------

# Each page's keys, read from lora_ui/keys.py by prefix: the suite grows as pages add their keys there.
PAGE_PREFIXES = {"learn": "LEARN_", "matrix": "MATRIX_", "model": "MODEL_", "memory": "MEM_", "fit": "FIT_"}
WIDGET_KINDS = (
    "slider", "number_input", "select_slider", "selectbox", "radio", "multiselect", "checkbox", "toggle",
    "text_input", "pills", "segmented_control",
)  # fmt: skip


def page_keys(page: str) -> list[str]:
    prefix = PAGE_PREFIXES[page]
    return [v for k, v in vars(keys).items() if k.startswith(prefix) and isinstance(v, str)]


def find_widget(at, key):
    for kind in WIDGET_KINDS:
        try:
            elements = getattr(at, kind)
        except AttributeError:
            continue
        for el in elements:
            if getattr(el, "key", None) == key:
                return kind, el
    return None, None


def other_value(kind, el):
    """A valid value different from the widget's current (default) one, as URL text and as a value."""
    value = el.value
    if isinstance(value, bool):
        return str(not value).lower(), (not value)
    if isinstance(value, int):
        lo = getattr(el, "min", None)
        hi = getattr(el, "max", None)
        new = value + 1 if hi is None or value + 1 <= hi else value - 1
        if lo is not None and new < lo:
            return None
        return str(new), new
    options = [o for o in getattr(el, "options", []) or []]
    if kind in ("selectbox", "radio") and len(options) > 1:
        current = el.format_func(value) if hasattr(el, "format_func") else str(value)
        others = [o for o in options if o != current]
        return (others[0], None) if others else None
    return None


_SHAREABLE: dict[str, list] = {}


def shareable_keys(app_test, page):
    """(key, kind, default, another value as URL text, that value) for each URL-bound input of the page, read
    off the page opened with no parameters; the same for every test of this module, so read once."""
    if page not in _SHAREABLE:
        at = app_test(page=page)
        out = []
        for key in page_keys(page):
            kind, el = find_widget(at, key)
            if el is None:
                continue
            new = other_value(kind, el)
            if new is not None:
                out.append((key, kind, el.value, *new))
        _SHAREABLE[page] = out
    return _SHAREABLE[page]


def open_once(app_test, page, query):
    """Open `page` from a link. The Learn page is the default page, so the visitor's first run is on it;
    a second run (the fixture's switch_page) would be a rerun, after the note has been shown."""
    return app_test(query=query) if page == "learn" else app_test(page=page, query=query)


@pytest.mark.parametrize("page", list(PAGE_PREFIXES))
def test_every_shareable_input_restores_from_the_url(app_test, page):
    cases = shareable_keys(app_test, page)
    assert cases, f"no URL-bound inputs with keys in keys.py on the {page} page"
    for key, _kind, _default, text, expected in cases:
        at = app_test(page=page, query={key: text})
        assert not at.exception, (key, at.exception)
        _, el = find_widget(at, key)
        if expected is not None:
            assert el.value == expected, (key, text, el.value)
        else:  # an option given by its label: the widget now shows that label
            assert str(el.value) == text or el.format_func(el.value) == text, (key, text, el.value)
        assert not at.warning or all(key not in w.value for w in at.warning)


def assert_default_and_one_note(at, cases, junk):
    """Every input of `cases` given `junk` shows its default, and one note names it."""
    assert not at.exception, (junk, at.exception)
    for key, _kind, default, *_ in cases:
        _, el = find_widget(at, key)
        assert el.value == default, (key, junk, el.value)
        if junk == "":  # ?r= means "cleared": Streamlit treats it as absent for non-clearable widgets
            continue
        notes = [w.value for w in at.warning if f"“{key}”" in w.value]
        assert len(notes) == 1, (key, junk, [w.value for w in at.warning])


def number_and_choice_keys(app_test, page):
    cases = [c for c in shareable_keys(app_test, page) if c[1] != "text_input"]
    assert cases, f"no URL-bound number or choice inputs on the {page} page"
    return cases


@pytest.mark.parametrize("page", list(PAGE_PREFIXES))
def test_a_malformed_value_gives_the_default_and_a_note(app_test, page):
    """One bad parameter at a time (the others absent)."""
    cases = number_and_choice_keys(app_test, page)
    for case in cases:
        assert_default_and_one_note(open_once(app_test, page, {case[0]: "abc"}), [case], "abc")


@pytest.mark.parametrize("page", list(PAGE_PREFIXES))
@pytest.mark.parametrize("junk", ["abc", "-4", "9" * 30, "<b>x</b>", "", "1e400"])
def test_a_link_of_malformed_values_gives_every_default_and_a_note_each(app_test, page, junk):
    """Every number and choice parameter of the page bad at once, in one link: each input shows its default
    and has its own note (one run per page and kind of junk, not one per parameter)."""
    cases = number_and_choice_keys(app_test, page)
    assert_default_and_one_note(open_once(app_test, page, {c[0]: junk for c in cases}), cases, junk)


def test_matrix_link_box_carries_the_restored_rank(app_test):
    at = app_test(page="matrix", query={keys.MATRIX_R: "32"})
    assert at.slider(key=keys.MATRIX_R).value == 32
    (link,) = [c.value for c in at.sidebar.code]
    assert link.startswith("/matrix?") and "r=32" in link


def test_learn_note_for_a_bad_rank(app_test):
    at = open_once(app_test, "learn", {keys.LEARN_R: "many"})
    assert at.slider(key=keys.LEARN_R).value == 8
    assert any("“learn_r”" in w.value and "many" in w.value for w in at.warning)
