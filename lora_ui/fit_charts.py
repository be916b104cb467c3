"""Chart builders for the Fit page: data and already-translated labels in, a Plotly figure out."""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go

from lora_ui.plotly_fast import figure

MAX_POINTS = (
    600  # a live chart sends at most this many points per redraw (every REDRAW_S = 0.5 s, lora_ui/fit_live.py)
)
# heatmaps: make_subplots' default gap between columns (plotly/_subplots.py: horizontal_spacing = 0.2 / cols)
_HEAT_COLS = 3
_HEAT_SPACING = 0.2 / _HEAT_COLS
# colorscale="RdBu" as Plotly's validation writes it: plotly.colors.diverging.RdBu at evenly spaced stops
_RDBU = [[i / (len(pc.diverging.RdBu) - 1), c] for i, c in enumerate(pc.diverging.RdBu)]
TINY = 1e-12  # log axes cannot show 0: losses and floors are clipped to this for drawing only


def _layout(labels: dict[str, str], height: int = 340, **extra) -> dict:
    """The Fit charts' common layout: translated title and axis titles, fixed height, room for the legend."""
    return {
        "title": {"text": labels["title"]},
        "xaxis": {"title": {"text": labels["x"]}},
        "yaxis": {"title": {"text": labels["y"]}},
        "height": height,
        "margin": {"t": 50, "b": 40},
        **extra,
    }


def thin(values: Sequence[float], max_points: int = MAX_POINTS) -> tuple[list[int], list[float]]:
    """(steps, values) with at most max_points, always keeping the first and the last."""
    n = len(values)
    if n <= max_points:
        idx = list(range(n))
    else:
        idx = sorted(set(np.linspace(0, n - 1, max_points).round().astype(int).tolist()))
    return idx, [max(float(values[i]), TINY) for i in idx]


def loss_chart(
    losses: Sequence[float], floor: float | None, labels: dict[str, str], max_points: int = MAX_POINTS
) -> go.Figure:
    """Loss against step on a log scale, with the rank-r floor as a dashed line (at most max_points points).

    labels: title, x, y, loss, floor.
    """
    steps, values = thin(losses, max_points)
    # Redrawn every REDRAW_S per running fit on the shared server: built in one go (lora_ui/plotly_fast.py).
    traces = [{"type": "scatter", "x": steps, "y": values, "mode": "lines", "name": labels["loss"]}]
    if floor is not None:
        last = max(steps[-1] if steps else 1, 1)
        traces.append(
            {"type": "scatter", "x": [0, last], "y": [max(floor, TINY)] * 2, "mode": "lines",
             "name": labels["floor"], "line": {"dash": "dash", "color": "firebrick"}}
        )  # fmt: skip
    layout = _layout(labels, height=360, legend={"orientation": "h", "y": -0.2})
    layout["yaxis"]["type"] = "log"
    return figure(traces, layout)


def heatmaps(target: np.ndarray, learned: np.ndarray, labels: dict[str, str]) -> go.Figure:
    """Target ΔW, learned ΔW and their difference side by side, on one colour scale centred at 0.

    labels: target, learned, difference.

    Built as plain dicts (plotly_fast.figure): `make_subplots` and three validated `go.Heatmap`s took ~30 ms
    for the default fit's 64 x 48 matrices (~145 ms the first time in a process), on every Fit page run that
    shows a result; 1.4-1.7 ms now (ours, 2026-11-29, one process; docs/load.md "Round 9"). The figure is
    the one they made: three x axes side by side (make_subplots' default spacing, 0.2 / cols), the subplot
    titles as its annotations, every y axis reversed, the matrices as Plotly's own typed arrays
    (tests/test_fit_charts.py compares both specs).
    """
    target, learned = np.asarray(target, dtype=float), np.asarray(learned, dtype=float)
    diff = target - learned
    bound = float(max(np.abs(target).max(initial=0.0), np.abs(learned).max(initial=0.0), 1e-12))
    width = (1 - (_HEAT_COLS - 1) * _HEAT_SPACING) / _HEAT_COLS
    traces, layout = [], {"annotations": [], "height": 340, "margin": {"t": 50, "b": 20}}
    names = (labels["target"], labels["learned"], labels["difference"])
    for i, (m, name) in enumerate(zip((target, learned, diff), names, strict=True)):
        n = "" if i == 0 else str(i + 1)  # plotly's axis names: x, x2, x3
        start = i * (width + _HEAT_SPACING)
        traces.append(
            {
                "type": "heatmap", "z": _typed(m), "zmin": -bound, "zmax": bound, "colorscale": _RDBU,
                "reversescale": True, "showscale": i == _HEAT_COLS - 1, "xaxis": f"x{n}", "yaxis": f"y{n}",
            }
        )  # fmt: skip
        layout[f"xaxis{n}"] = {"anchor": f"y{n}", "domain": [start, start + width]}
        layout[f"yaxis{n}"] = {"anchor": f"x{n}", "autorange": "reversed", "domain": [0.0, 1.0]}
        layout["annotations"].append(
            {
                "font": {"size": 16}, "showarrow": False, "text": name, "x": start + width / 2, "xanchor": "center",
                "xref": "paper", "y": 1.0, "yanchor": "bottom", "yref": "paper",
            }
        )  # fmt: skip
    return figure(traces, layout)


def _typed(m: np.ndarray) -> dict:
    """A float64 matrix as Plotly's typed-array spec: what plotly.py's to_dict makes of a numpy array
    (_plotly_utils/utils.py to_typed_array_spec), base64 instead of one JSON number per entry."""
    m = np.ascontiguousarray(m, dtype="<f8")
    return {
        "dtype": "f8",
        "bdata": base64.b64encode(m.tobytes()).decode("ascii"),
        "shape": ", ".join(map(str, m.shape)),
    }


def sigma_chart(
    target_sigma: Sequence[float], learned_sigma: Sequence[float], r: int, labels: dict[str, str]
) -> go.Figure:
    """Singular values of target and learned ΔW by index, with a line at r.

    labels: title, x, y, target, learned, rank.
    """
    shown = max(2 * r, 10)
    nonzero = sum(1 for s in target_sigma if s > 1e-9 * max(target_sigma[0] if target_sigma else 1, 1e-30))
    shown = min(max(shown, nonzero + 2), len(target_sigma)) if target_sigma else 0
    idx = list(range(1, shown + 1))
    traces = [
        {"type": "bar", "x": idx, "y": list(target_sigma[:shown]), "name": labels["target"], "opacity": 0.6},
        {
            "type": "bar",
            "x": idx,
            "y": list(learned_sigma[:shown]),
            "name": labels["learned"],
            "opacity": 0.9,
        },
    ]
    # What add_vline(x, line_dash="dot", annotation_text=...) builds: a line across the y domain, labelled
    # at its top right, placed in the layout once.
    layout = _layout(labels, barmode="overlay")
    layout["shapes"] = [
        {"type": "line", "xref": "x", "x0": r + 0.5, "x1": r + 0.5, "yref": "y domain", "y0": 0, "y1": 1,
         "line": {"dash": "dot"}}
    ]  # fmt: skip
    layout["annotations"] = [
        {"text": labels["rank"], "showarrow": False, "xref": "x", "x": r + 0.5, "xanchor": "left",
         "yref": "y domain", "y": 1, "yanchor": "top"}
    ]  # fmt: skip
    return figure(traces, layout)


def sweep_chart(
    ranks: Sequence[int], finals: Sequence[float], floors: Sequence[float], labels: dict[str, str]
) -> go.Figure:
    """Final loss of a short fit at each rank beside the floor; log scale.

    labels: title, x, y, loss, floor.
    """
    traces = [
        {"type": "scatter", "x": list(ranks), "y": [max(f, TINY) for f in floors], "mode": "lines",
         "name": labels["floor"], "line": {"dash": "dash", "color": "firebrick"}},
        {"type": "scatter", "x": list(ranks), "y": [max(f, TINY) for f in finals], "mode": "markers",
         "name": labels["loss"]},
    ]  # fmt: skip
    layout = _layout(labels)
    layout["yaxis"]["type"] = "log"
    return figure(traces, layout)


def race_chart(
    curves: Sequence[tuple[str, Sequence[float]]],
    floor: float | None,
    labels: dict[str, str],
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """A race's loss curves on one log chart, one per variant (name, losses), and the rank-r floor dashed.

    Each curve keeps at most max_points // len(curves) points, so a live redraw sends no more than one
    fit's chart does. labels: title, x, y, floor.
    """
    per_curve = max(max_points // max(len(curves), 1), 2)
    traces, last = [], 1
    for name, losses in curves:
        steps, values = thin(losses, per_curve)
        last = max(last, steps[-1] if steps else 1)
        traces.append({"type": "scatter", "x": steps, "y": values, "mode": "lines", "name": name})
    if floor is not None:
        traces.append(
            {"type": "scatter", "x": [0, last], "y": [max(floor, TINY)] * 2, "mode": "lines",
             "name": labels["floor"], "line": {"dash": "dash", "color": "firebrick"}}
        )  # fmt: skip
    layout = _layout(labels, height=380, legend={"orientation": "h", "y": -0.2})
    layout["yaxis"]["type"] = "log"
    return figure(traces, layout)


def race_sweep_chart(
    series: Sequence[tuple[str, Sequence[int], Sequence[float]]],
    floor: tuple[Sequence[int], Sequence[float]],
    labels: dict[str, str],
) -> go.Figure:
    """The race by rank: each variant's loss after a fixed number of steps against r (name, ranks, losses),
    with the rank-r floor dashed; both axes log (r doubles). labels: title, x, y, floor."""
    traces = [
        {"type": "scatter", "x": list(ranks), "y": [max(v, TINY) for v in losses], "mode": "lines+markers",
         "name": name}
        for name, ranks, losses in series
    ]  # fmt: skip
    ranks, floors = floor
    traces.append(
        {"type": "scatter", "x": list(ranks), "y": [max(f, TINY) for f in floors], "mode": "lines",
         "name": labels["floor"], "line": {"dash": "dash", "color": "firebrick"}}
    )  # fmt: skip
    layout = _layout(labels, height=380, legend={"orientation": "h", "y": -0.25})
    layout["yaxis"]["type"] = "log"
    layout["xaxis"]["type"] = "log"
    layout["xaxis"]["dtick"] = math.log10(2)  # a tick at every doubling: 1, 2, 4, ...
    return figure(traces, layout)
