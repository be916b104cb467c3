"""Bad input, pages: a shared link can carry anything in its query string. Every page, with random and
hostile values for every key in lora_ui/keys.py (the widget keys are the query-param names), runs without an
exception, and keeps working for the next rerun."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lora_ui import keys
from tests.conftest import page_names

PAGES = page_names()
KEYS = sorted({v for k, v in vars(keys).items() if k.isupper() and isinstance(v, str)})

HOSTILE = [
    "",
    "nan",
    "-inf",
    "1e309",
    "-1",
    "0",
    "9" * 5000,  # int() refuses more than 4300 digits
    "1.5",
    "32768",  # in range for some keys (Matrix's d and k maximum), over it for others
    "1000000",  # in range for mem_seq (max 1,048,576) and alpha (max 10^9), far over every other maximum
    "٣",
    "true",
    "<script>alert(1)</script>",
    "../../../etc/passwd",
    "%00",
    "a" * 10_000,
    "q_proj,,v_proj,",
    "తెలుగు",
]

SETTINGS = settings(
    max_examples=6,
    deadline=None,
    # the app_test factory holds no state between calls, so reusing it across examples is safe
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def full_error_details():
    """AppTest reads .streamlit/config.toml but not STREAMLIT_* variables (only `streamlit run` maps those),
    so without this a failure here would show Streamlit's redacted message instead of the exception."""
    from streamlit import config

    old = config.get_option("client.showErrorDetails")
    config.set_option("client.showErrorDetails", "full")
    yield
    config.set_option("client.showErrorDetails", old)


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("variant", range(4))
def test_hostile_query_values(app_test, page, variant):
    """Each key gets a different hostile value; four rotations cover every value for every key."""
    n = len(HOSTILE)
    query = {k: HOSTILE[(i * 4 + variant) % n] for i, k in enumerate(KEYS)}
    at = app_test(page=page, query=query)
    assert_clean(at)
    at.run()  # the next rerun works too
    assert_clean(at)


@pytest.mark.parametrize("page", PAGES)
def test_random_query_values(app_test, page):
    @SETTINGS
    @given(
        st.dictionaries(st.sampled_from(KEYS), st.text(max_size=30) | st.sampled_from(HOSTILE), min_size=1)
    )
    def prop(query):
        assert_clean(app_test(page=page, query=query))

    prop()
