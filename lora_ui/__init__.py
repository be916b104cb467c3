"""Streamlit-side helpers: translation, widget keys and links, chart builders, display helpers, the Fit race
panel, the server launcher and the server-side workers (docs/architecture.md lists each module). Pages import
from here; lora_core never does."""
