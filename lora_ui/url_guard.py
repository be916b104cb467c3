"""Drop query parameters that would crash a widget before any widget reads them.

Streamlit 1.67 seeds widgets bound with bind="query-params" from the URL and falls back to the default on
ValueError/TypeError/IndexError (runtime/state/session_state.py, `_seed_widget_from_url`), but an integer
st.number_input given `?key=inf` (or `1e309`, or a 5,000-digit number) raises OverflowError from
`int(float("inf"))` in NumberInputSerde.deserialize, and the page shows an exception instead of rendering.
A shared link must never do that, so app.py calls `drop_non_finite_numbers()` first, on every run: such a
parameter is removed, and the widget starts at its default, as for any other unusable value.
"""

from __future__ import annotations

import math

import streamlit as st


def non_finite_number(text: str) -> bool:
    """True for text that parses as a float but is not finite: inf, -Infinity, nan, 1e309, 9 x 5000."""
    try:
        return not math.isfinite(float(text))
    except (ValueError, OverflowError):
        return False


def drop_non_finite_numbers() -> dict[str, list[str]]:
    """Remove every query parameter with a non-finite number among its values; return them, {key: values}.

    Widgets seed from the query string the page was opened with (QueryParams._initial_query_params), not
    from st.query_params, so the parameter goes from both; Streamlit's own `remove_param` is what its
    seeding uses to clear an invalid value, and it also tells the browser to drop it from the URL.
    """
    bad = {
        k: list(st.query_params.get_all(k))
        for k in list(st.query_params.keys())
        if any(map(non_finite_number, st.query_params.get_all(k)))
    }
    if not bad:
        return bad
    from streamlit.runtime.state import get_session_state

    with get_session_state().query_params() as qp:
        initial = getattr(qp, "_initial_query_params", {})
        for key in bad:
            qp.remove_param(key)
            initial.pop(key, None)
    return bad
