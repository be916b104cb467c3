"""LoRA Lab: the router. Every page lives in pages/; shared UI helpers in lora_ui/; the math in lora_core/."""

import streamlit as st

from lora_ui import runtime, share, url_guard
from lora_ui.i18n import language_selector, tr

runtime.configure_once()
st.set_page_config(page_title="LoRA Lab", page_icon=":material/tune:", layout="wide")
raw_query = share.capture_query()  # before any URL-bound widget reads (and cleans) the URL
# ?r=1e400 would crash an integer number_input (see url_guard). The dropped values are kept until the page
# whose widget they were meant for has run, so that it can name them in its "link value not used" note.
dropped = st.session_state.setdefault("_url_dropped", {})
dropped.update(url_guard.drop_non_finite_numbers())
raw_query = {**dropped, **raw_query}
language_selector()

PAGES = [
    st.Page(
        "pages/learn.py",
        title=tr("common.nav.learn"),
        icon=":material/school:",
        url_path="learn",
        default=True,
    ),
    st.Page("pages/matrix.py", title=tr("common.nav.matrix"), icon=":material/grid_on:", url_path="matrix"),
    st.Page("pages/model.py", title=tr("common.nav.model"), icon=":material/account_tree:", url_path="model"),
    st.Page("pages/memory.py", title=tr("common.nav.memory"), icon=":material/memory:", url_path="memory"),
    st.Page("pages/fit.py", title=tr("common.nav.fit"), icon=":material/show_chart:", url_path="fit"),
]

page = st.navigation(PAGES)
share.open_link_slot()  # the link box's place; pages' fragments redraw it when their inputs move
notes = st.container()  # notes about a shared link's bad values appear above the page
page.run()
share.report_bad_params(raw_query, page.url_path, notes)
for key in [k for k in dropped if k in st.session_state]:  # reported (or not) by the page that owns it
    del dropped[key]
share.link_box(page.url_path)
runtime.freeze_when_warm(page.url_path, [p.url_path for p in PAGES])  # once: see its docstring
