"""Matrix page figures: a to-scale drawing of W beside B and A, and trainable params against rank.

Builders take numbers and already-translated labels and return Plotly figures, so they are tested without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go

from lora_core.matrix import MatrixCost
from lora_ui.plotly_fast import figure

W_COLOR = "#9aa5b1"  # frozen: grey
B_COLOR = "#e4572e"  # trained: warm
A_COLOR = "#f3a712"


@dataclass(frozen=True)
class Rect:
    name: str
    x0: float
    y0: float
    x1: float
    y1: float


def layout_rects(d: int, k: int, r: int) -> list[Rect]:
    """W (d rows x k cols), then B (d x r), then A (r x k), side by side in one coordinate system.

    One unit = one matrix entry, so areas are to scale. Rows run downwards (y is negative).
    """
    gap = max(d, k) * 0.08
    x_b = k + gap
    x_a = x_b + r + gap
    return [
        Rect("W", 0, 0, k, -d),
        Rect("B", x_b, 0, x_b + r, -d),
        Rect("A", x_a, 0, x_a + k, -r),
    ]


def shapes_figure(cost: MatrixCost, labels: dict[str, str]) -> go.Figure:
    """W, B and A drawn to scale. labels: title, W, B, A (format fields: d, k, r, n)."""
    d, k, r = cost.d, cost.k, cost.r
    rects = layout_rects(d, k, r)
    colors = {"W": W_COLOR, "B": B_COLOR, "A": A_COLOR}
    counts = {"W": d * k, "B": d * r, "A": r * k}
    # Shapes and labels go into the layout in one go: add_shape/add_annotation re-validate the figure's
    # whole shapes and annotations tuples on every call (docs/load.md, "Where the time goes").
    shapes, annotations = [], []
    for rect in rects:
        shapes.append(
            {
                "type": "rect",
                "x0": rect.x0,
                "y0": rect.y0,
                "x1": rect.x1,
                "y1": rect.y1,
                "fillcolor": colors[rect.name],
                "opacity": 0.85,
                # A thin matrix (r << d) is still drawn to scale; the outline keeps it visible.
                "line": {"color": colors[rect.name], "width": 2},
            }
        )
        # B's label goes under it: B and W sit side by side and their labels would collide on top.
        below = rect.name == "B"
        annotations.append(
            {
                "x": (rect.x0 + rect.x1) / 2,
                "y": rect.y1 if below else 0,
                "yshift": -8 if below else 8,
                "text": labels[rect.name].format(
                    d=f"{d:,}", k=f"{k:,}", r=f"{r:,}", n=f"{counts[rect.name]:,}"
                ),
                "showarrow": False,
                "yanchor": "top" if below else "bottom",
            }
        )
    right = rects[-1].x1
    layout = {
        "title": {"text": labels["title"]},
        "height": 420,
        "margin": {"l": 10, "r": 10, "t": 60, "b": 10},
        "showlegend": False,
        "xaxis": {"visible": False, "range": [-0.02 * right, right * 1.02]},
        "yaxis": {
            "visible": False,
            "scaleanchor": "x",
            "scaleratio": 1,
            "range": [-d * 1.15, max(d, k) * 0.12],
        },
        "shapes": shapes,
        "annotations": annotations,
    }
    return figure([], layout)


def rank_axis(cost: MatrixCost, max_rank: int, points: int = 96) -> list[int]:  # ~80 distinct after rounding
    """Ranks to plot: 1..max(2 * break-even, current r), about `points` of them, always including r.

    Spaced geometrically: on the chart's log y axis (d+k)*r is a log curve of r, steep at small ranks and
    nearly flat at large ones, so evenly spaced points would waste most of them where nothing bends. Every
    point is exact; fewer points only make the redraw cheaper (the chart is rebuilt on every slider move).
    """
    top = int(min(max_rank, max(2 * cost.break_even_rank, 2 * cost.r, 16)))
    ratio = top ** (1 / max(points - 1, 1))
    ranks = {1, top, cost.r}
    x = 1.0
    for _ in range(points):
        ranks.add(min(top, round(x)))
        x *= ratio
    return sorted(ranks)


def params_vs_rank_figure(cost: MatrixCost, ranks: list[int], labels: dict[str, str]) -> go.Figure:
    """LoRA's (d+k)*r against r, full fine-tuning's d*k as a line, break-even and the current r marked.

    labels: title, x, y, lora, full, break_even, current (format fields: r, be).
    """
    d, k = cost.d, cost.k
    traces = [
        {
            "type": "scatter",
            "x": ranks,
            "y": [(d + k) * r for r in ranks],
            "mode": "lines",
            "name": labels["lora"],
            "line": {"color": B_COLOR},
        },
        {
            "type": "scatter",
            "x": [ranks[0], ranks[-1]],
            "y": [d * k, d * k],
            "mode": "lines",
            "name": labels["full"],
            "line": {"color": W_COLOR, "dash": "dash"},
        },
        {
            "type": "scatter",
            "x": [cost.r],
            "y": [cost.lora_params],
            "mode": "markers",
            "name": labels["current"].format(r=cost.r),
            "marker": {"size": 12, "color": B_COLOR, "line": {"color": "black", "width": 1}},
        },
    ]
    shapes, annotations = [], []
    if cost.break_even_rank <= ranks[-1]:
        # What add_vline(annotation_position="top left") builds, placed in the layout once (add_vline
        # re-validates the whole figure: ~180 ms per call under load, docs/load.md). The x axis is linear.
        be = cost.break_even_rank
        shapes.append(
            {"type": "line", "xref": "x", "x0": be, "x1": be, "yref": "y domain", "y0": 0, "y1": 1,
             "line": {"color": "black", "dash": "dot"}}
        )  # fmt: skip
        annotations.append(
            {"text": labels["break_even"].format(be=f"{be:,.1f}"), "showarrow": False, "xref": "x",
             "x": be, "xanchor": "right", "yref": "y domain", "y": 1, "yanchor": "top"}
        )  # fmt: skip
    layout = {
        "title": {"text": labels["title"]},
        "xaxis": {"title": {"text": labels["x"]}},
        "yaxis": {"title": {"text": labels["y"]}, "type": "log"},
        "height": 420,
        "legend": {"orientation": "h", "y": -0.2},
        "margin": {"l": 10, "r": 10, "t": 60, "b": 10},
        "shapes": shapes,
        "annotations": annotations,
    }
    return figure(traces, layout)
