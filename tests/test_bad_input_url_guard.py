"""The URL guard: a non-finite number in a shared link never reaches a widget."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lora_ui.url_guard import non_finite_number

SCRIPT = """
import streamlit as st
from lora_ui.url_guard import drop_non_finite_numbers
if st.session_state.get("guard", True):
    drop_non_finite_numbers()
st.number_input("n", 1, 64, 8, key="n", bind="query-params")
st.slider("s", 1, 64, 8, key="s", bind="query-params")
"""


@pytest.mark.parametrize("text", ["inf", "-inf", "Infinity", "nan", "NaN", "1e309", "-1e309", "9" * 5000])
def test_non_finite_numbers_are_recognised(text):
    assert non_finite_number(text)


@pytest.mark.parametrize("text", ["", "8", "-1", "1e308", "1.5", "abc", "q_proj,v_proj", "٣", "1_000"])
def test_everything_else_is_left_alone(text):
    assert not non_finite_number(text)


@pytest.mark.parametrize("value", ["inf", "1e309", "9" * 5000, "nan"])
def test_guard_keeps_the_page_rendering(value):
    at = AppTest.from_string(SCRIPT)
    at.query_params["n"] = value
    at.query_params["s"] = "12"
    at.run()
    assert not at.exception
    assert at.number_input(key="n").value == 8  # the default
    assert at.slider(key="s").value == 12  # other parameters are kept


def test_without_the_guard_streamlit_raises():
    """Documents the Streamlit 1.67 bug the guard exists for; if this starts failing, the guard can go."""
    at = AppTest.from_string(SCRIPT)
    at.session_state["guard"] = False
    at.query_params["n"] = "inf"
    at.run()
    assert at.exception
