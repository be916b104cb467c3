"""Fit chart builders, tested as figures (no browser)."""

import base64
import json

import numpy as np
import plotly.graph_objects as go

from lora_ui import fit_charts
from lora_ui.plotly_fast import for_streamlit

LOSS = {"title": "T", "x": "step", "y": "loss", "loss": "Loss", "floor": "Floor"}


def test_loss_chart_is_log_scale_with_a_floor_line():
    fig = fit_charts.loss_chart([1.0, 0.5, 0.1, 0.0], 0.05, LOSS)
    assert fig.layout.yaxis.type == "log"
    assert [t.name for t in fig.data] == ["Loss", "Floor"]
    assert list(fig.data[1].y) == [0.05, 0.05]
    assert min(fig.data[0].y) > 0  # 0 is clipped for the log axis


def test_long_histories_are_thinned_keeping_both_ends():
    values = list(np.linspace(10, 1, 5000))
    steps, thinned = fit_charts.thin(values)
    assert len(steps) <= fit_charts.MAX_POINTS
    assert steps[0] == 0 and steps[-1] == 4999 and thinned[-1] == values[-1]


def test_heatmaps_sigma_and_sweep():
    t = np.eye(4)
    fig = fit_charts.heatmaps(t, 0.9 * t, {"target": "a", "learned": "b", "difference": "c"})
    assert [d.type for d in fig.data] == ["heatmap"] * 3
    z = fig.data[2].z  # Plotly's typed array: float64 bytes, base64
    assert z["shape"] == "4, 4"
    assert np.allclose(np.frombuffer(base64.b64decode(z["bdata"]), "<f8").reshape(4, 4), 0.1 * t)
    sig = {"title": "s", "x": "i", "y": "σ", "target": "T", "learned": "L", "rank": "r"}
    fig = fit_charts.sigma_chart([3.0, 2.0, 1.0, 0.0], [3.0, 2.0, 0.0, 0.0], 2, sig)
    assert len(fig.data) == 2 and len(fig.data[0].x) == 4
    fig = fit_charts.sweep_chart([1, 2, 4], [0.5, 0.1, 0.1], [0.5, 0.1, 0.1], LOSS)
    assert fig.layout.yaxis.type == "log" and len(fig.data) == 2


def test_heatmaps_are_the_figure_make_subplots_made():
    """The heatmaps are built as plain dicts (~30 ms -> 1.5 ms); Streamlit must be sent what make_subplots and
    three go.Heatmap traces made (the builder before, kept here as the reference)."""
    import plotly.io as pio
    from plotly.subplots import make_subplots

    rng = np.random.default_rng(0)
    target, learned = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    names = {"target": "T", "learned": "L", "difference": "D"}
    ref = make_subplots(rows=1, cols=3, subplot_titles=(names["target"], names["learned"], names["difference"]))
    bound = float(max(np.abs(target).max(), np.abs(learned).max()))
    for i, m in enumerate((target, learned, target - learned), start=1):
        heat = go.Heatmap(z=m, zmin=-bound, zmax=bound, colorscale="RdBu", reversescale=True, showscale=(i == 3))
        ref.add_trace(heat, row=1, col=i)
        ref.update_yaxes(autorange="reversed", row=1, col=i)
    ref.update_layout(height=340, margin={"t": 50, "b": 20})
    expected = json.loads(pio.to_json(ref, validate=False))
    fast = fit_charts.heatmaps(target, learned, names)
    sent = for_streamlit(fast)
    assert sent is not fast  # the fast path: no deep copy on the way to Streamlit
    assert json.loads(pio.to_json(sent.to_dict(), validate=False)) == expected
    validated = go.Figure(fast.to_dict())  # Plotly's validation accepts it unchanged
    assert json.loads(pio.to_json(validated, validate=False)) == expected


def test_race_chart_has_one_log_curve_per_variant_and_the_floor_within_one_charts_budget():
    curves = [("LoRA", list(np.linspace(1, 0.01, 3000))), ("VeRA", [1.0, 0.9, 0.0])]
    fig = fit_charts.race_chart(curves, 0.05, LOSS, max_points=200)
    assert fig.layout.yaxis.type == "log"
    assert [t.name for t in fig.data] == ["LoRA", "VeRA", "Floor"]
    assert sum(len(t.x) for t in fig.data[:2]) <= 200  # all curves together: one fit chart's points
    assert fig.data[0].x[-1] == 2999 and list(fig.data[2].x) == [0, 2999]  # the floor spans the longest
    assert min(fig.data[1].y) > 0  # 0 clipped for the log axis


def test_race_sweep_chart_is_log_log_with_the_floor_at_each_rank():
    series = [("LoRA", [1, 2, 4], [0.5, 0.2, 0.2]), ("rsLoRA", [1, 2, 4], [0.5, 0.1, 0.01])]
    fig = fit_charts.race_sweep_chart(series, ([1, 2, 4], [0.25, 0.06, 0.0]), LOSS)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert [t.name for t in fig.data] == ["LoRA", "rsLoRA", "Floor"]
    assert min(fig.data[2].y) > 0
