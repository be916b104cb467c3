"""Fit chart builders, tested as figures (no browser)."""

import numpy as np

from lora_ui import fit_charts

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
    assert np.allclose(fig.data[2].z, 0.1 * t)
    sig = {"title": "s", "x": "i", "y": "σ", "target": "T", "learned": "L", "rank": "r"}
    fig = fit_charts.sigma_chart([3.0, 2.0, 1.0, 0.0], [3.0, 2.0, 0.0, 0.0], 2, sig)
    assert len(fig.data) == 2 and len(fig.data[0].x) == 4
    fig = fit_charts.sweep_chart([1, 2, 4], [0.5, 0.1, 0.1], [0.5, 0.1, 0.1], LOSS)
    assert fig.layout.yaxis.type == "log" and len(fig.data) == 2
