"""Bad input, pages: valid extremes ("some students slide everything to the maximum", issue 6). On every page,
every number_input and slider the page draws is set to its own max_value, then to its own min_value, then
back to its default; each run ends without an exception and the page keeps working. A page may answer an
extreme with an st.error naming the problem (that is the page working, not a crash); none does today, so
EXPECTED_ERRORS is empty and a new one shows up here to be listed on purpose. Fit: Train is never pressed
(the widgets only), in both of its modes.

The Memory cases compute and show the figures at the extremes (a 1,048,576-token sequence times a batch of
4096 on 4096 GPUs at rank 4096) in the same run."""

from __future__ import annotations

import pytest

SMALL_MODEL = {"mem_preset": "qwen2.5-0.5b"}  # the smallest preset: the cheapest trace
CASES = [
    pytest.param("learn", {}, id="learn"),
    pytest.param("matrix", {}, id="matrix"),
    pytest.param("model", {}, id="model"),
    pytest.param("fit", {}, id="fit-matrix"),
    pytest.param("fit", {"fit_mode": "regression"}, id="fit-regression"),
    *(
        pytest.param("memory", {**SMALL_MODEL, "mem_solve_var": v}, id=f"memory-solve-{v}")
        for v in ("batch", "seq", "rank")
    ),
]
# (page, end) -> the st.error texts an extreme is allowed to show. Empty: every page takes its own extremes.
EXPECTED_ERRORS: dict[tuple[str, str], list[str]] = {}


@pytest.fixture(autouse=True)
def full_error_details():
    """As in tests/test_bad_input_pages.py: show the exception itself if one happens."""
    from streamlit import config

    old = config.get_option("client.showErrorDetails")
    config.set_option("client.showErrorDetails", "full")
    yield
    config.set_option("client.showErrorDetails", old)


def numeric(at) -> list:
    return [*at.number_input, *at.slider]


def bound(widget, end: str):
    """The widget's own min or max (None when it has none: left as it is)."""
    value = widget.max if end == "max" else widget.min
    if value is None:
        return None
    if isinstance(widget.value, int) and float(value).is_integer():
        return int(value)  # the proto holds doubles; an int widget takes an int
    return value


def set_all(at, end: str) -> None:
    """Two passes: a bound may depend on another widget (Matrix's rank slider follows d and k)."""
    for _ in range(2):
        for w in numeric(at):
            v = bound(w, end)
            if v is not None:
                w.set_value(v)
        at.run()
        assert_clean(at)


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def errors(at) -> list[str]:
    return [e.value for e in at.error]


@pytest.mark.parametrize(("page", "query"), CASES)
def test_every_widget_at_its_max_then_min_then_default(app_test, page, query):
    at = app_test(page=page, query=query)
    assert_clean(at)
    widgets = numeric(at)
    assert widgets, f"{page} draws no number_input or slider"
    defaults = {w.key: w.value for w in widgets}
    assert not errors(at), errors(at)

    for end in ("max", "min"):
        set_all(at, end)
        assert all(bound(w, end) in (None, w.value) for w in numeric(at)), "a widget did not take its bound"
        assert errors(at) == EXPECTED_ERRORS.get((page, end), []), errors(at)
        assert at.main.children, "the page drew nothing"
        at.run()  # the next rerun works too
        assert_clean(at)

    for w in numeric(at):
        if w.key in defaults:
            w.set_value(defaults[w.key])
    at.run()
    assert_clean(at)
    assert {w.key: w.value for w in numeric(at)} == defaults
    assert not errors(at), errors(at)  # back at the defaults, the page is as it started
