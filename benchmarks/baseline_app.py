"""The floor: a one-slider Streamlit app. benchmarks/load_test.py drives it with the same load as LoRA Lab,
so every latency we report for our pages sits next to what Streamlit itself costs on the same machine."""

import streamlit as st

x = st.slider("x", 0, 100, 50, key="x")
st.write(f"x squared is {x * x}")
