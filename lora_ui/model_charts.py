"""Model page figure: trainable LoRA values by module pattern (data in, Plotly figure out)."""

from __future__ import annotations

import plotly.graph_objects as go

from lora_ui.plotly_fast import figure


def params_by_module_figure(names: list[str], values: list[int], labels: dict[str, str]) -> go.Figure:
    """Horizontal bars, one per targeted module pattern. labels: title, x."""
    layout = {
        "title": {"text": labels["title"]},
        "xaxis": {"title": {"text": labels["x"]}},
        "yaxis": {"autorange": "reversed"},
        "height": max(260, 40 * len(names) + 120),
        "margin": {"l": 10, "r": 10, "t": 60, "b": 10},
    }
    bars = {"type": "bar", "x": values, "y": names, "orientation": "h", "marker": {"color": "#e4572e"}}
    return figure([bars], layout)
