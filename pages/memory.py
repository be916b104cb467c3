"""Memory page (stub)."""

import streamlit as st

from lora_ui.i18n import tr

st.title(tr("memory.title"))
