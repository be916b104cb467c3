"""Model page (stub)."""

import streamlit as st

from lora_ui.i18n import tr
from lora_ui.routing import ensure_routed

ensure_routed()

st.title(tr("model.title"))
