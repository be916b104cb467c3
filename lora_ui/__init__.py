"""Streamlit-side helpers: translation, widget keys, chart builders. Pages import from here; lora_core never does."""
