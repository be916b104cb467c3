"""Charts built without Plotly's validation (lora_ui/plotly_fast.py) must be ones validation accepts unchanged.

Every builder that uses `plotly_fast.figure` is rebuilt here through `go.Figure(fig.to_dict())`, which
validates every property (a misspelt key or a bad value raises), and both must serialise to the same JSON.
"""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from lora_core.matrix import matrix_cost
from lora_ui import fit_charts, matrix_charts, memory_charts, model_charts
from lora_ui.plotly_fast import figure, for_streamlit

LABELS = {
    n: n
    for n in (
        "title", "x", "y", "lora", "full", "break_even", "current", "W", "B", "A", "card", "loss", "floor",
        "target", "learned", "rank",
    )
}  # fmt: skip


def _builders():
    cost = matrix_cost(4096, 4096, 64)
    yield "matrix shapes", lambda: matrix_charts.shapes_figure(cost, LABELS)
    yield (
        "matrix curve",
        lambda: matrix_charts.params_vs_rank_figure(cost, matrix_charts.rank_axis(cost, 8192), LABELS),
    )
    yield "model bars", lambda: model_charts.params_by_module_figure(["q_proj", "v_proj"], [10, 20], LABELS)
    bars = {
        "LoRA": {"weights": 2**30, "activations": 2**29},
        "Full": {"weights": 2**31, "activations": 2**29},
    }
    yield "memory methods", lambda: memory_charts.methods_figure(bars, {"weights": "W"}, (24, 80), LABELS)
    series = {"lora": [2**30, 2**31], "full": [2**32, 2**33], "other": [1, 2]}
    yield "memory curves", lambda: memory_charts.curves_figure([8, 16], series, {}, (24,), LABELS, current=8)
    yield (
        "memory curves linear",
        lambda: memory_charts.curves_figure([8, 16], series, {}, (24,), LABELS, log_x=False, current=16),
    )
    yield "fit loss", lambda: fit_charts.loss_chart([1.0, 0.5, 0.1, 0.0], 0.05, LABELS)
    yield "fit loss no floor", lambda: fit_charts.loss_chart(list(np.linspace(1, 0, 2000)), None, LABELS)
    yield "fit sigma", lambda: fit_charts.sigma_chart([3.0, 2.0, 1.0, 0.0], [3.0, 2.0, 0.0, 0.0], 2, LABELS)
    yield "fit heatmaps", lambda: fit_charts.heatmaps(np.eye(3), np.zeros((3, 3)), {**LABELS, "difference": "d"})
    yield "fit sweep", lambda: fit_charts.sweep_chart([1, 2, 4], [0.5, 0.1, 0.1], [0.5, 0.1, 0.1], LABELS)


@pytest.mark.parametrize(("name", "build"), list(_builders()), ids=[n for n, _ in _builders()])
def test_validation_accepts_the_unvalidated_chart_unchanged(name, build):
    fig = build()
    validated = go.Figure(fig.to_dict())  # raises on any property Plotly does not know or accept
    assert json.loads(pio.to_json(validated, validate=False)) == json.loads(pio.to_json(fig, validate=False))


def test_a_misspelt_property_is_still_caught_by_validation():
    fig = figure([{"type": "scatter", "x": [1], "yy": [2]}], {"title": {"text": "t"}})
    with pytest.raises(ValueError, match="yy"):
        go.Figure(fig.to_dict())


def _sent(figure_or_data) -> dict:
    """The spec st.plotly_chart puts in its proto (streamlit 1.67 plotly_chart: the two calls it makes)."""
    import plotly.tools

    fig = plotly.tools.return_figure_from_figure_or_data(figure_or_data, validate_figure=True)
    return json.loads(pio.to_json(fig, validate=False))


@pytest.mark.parametrize(("name", "build"), list(_builders()), ids=[n for n, _ in _builders()])
def test_streamlit_is_sent_the_same_spec_without_the_deep_copy(name, build):
    fig = build()
    fast = for_streamlit(fig)
    assert fast is not fig  # every builder above takes the fast path
    assert _sent(fast) == _sent(fig)


def test_figures_not_built_here_go_to_streamlit_as_they_are():
    validated = go.Figure(go.Scatter(x=[1], y=[2]))
    assert for_streamlit(validated) is validated


def test_the_fast_spec_is_the_figure_not_a_snapshot():
    """Streamlit serialises at once; a figure changed after it is built (update_layout) is sent as changed."""
    fig = fit_charts.sweep_chart([1, 2], [0.5, 0.1], [0.5, 0.1], LABELS)
    fig.update_layout(height=123)
    assert _sent(for_streamlit(fig))["layout"]["height"] == 123
