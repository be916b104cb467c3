"""Keep Streamlit's legacy multipage mode away from pages/.

Streamlit 1.67 decides per process, on the first script run, whether to run "v1" multipage apps: if a
`pages/` folder sits beside the entry script, that first run executes the requested page file directly,
without app.py (runtime/pages_manager.py, `uses_pages_directory`; runtime/scriptrunner/script_runner.py,
`_mpa_v1`). Only a call to st.navigation turns it off. So the first visitor of a fresh server who lands
on a shared link such as /matrix?r=32 would get the page without the router: no language switch, no
page titles. Every page calls `ensure_routed()` first; on that one run it switches the process to
st.navigation routing and reruns, which then goes through app.py as every later run does.
`make run` (lora_ui/serve.py) switches the mode off before its server starts, so there this guard never
fires; it stays for `streamlit run app.py` and AppTest, which start in the old mode.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_routed() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
