"""Plotly figures of the Memory page: pure functions from bytes (core) and translated labels to figures.

The y axes are in GiB (2**30 bytes). Card sizes are vendors' GB (10**9 bytes), drawn where they fall on
the GiB axis and labelled in GB, so "80 GB" sits at 74.5 GiB.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from lora_ui.plotly_fast import figure

GIB = 2**30
GB = 10**9
COLORS = {
    "base_weights": "#4C78A8",
    "adapters": "#F58518",
    "optimizer": "#54A24B",
    "live": "#E45756",
    "overhead": "#BAB0AC",
}
LINE_COLORS = {"full": "#4C78A8", "lora": "#F58518", "qlora": "#54A24B"}


def gib(n_bytes: float) -> float:
    return n_bytes / GIB


def with_point(
    x: list[int], series: dict[str, list[int]], x0: int, values: dict[str, int]
) -> tuple[list[int], dict[str, list[int]]]:
    """The curves with one more point (x0, values[key]) in x order; an x0 already on the grid keeps its y."""
    if x0 in x:
        return list(x), {key: list(ys) for key, ys in series.items()}
    i = sum(1 for v in x if v < x0)
    xs = [*x[:i], x0, *x[i:]]
    return xs, {key: [*ys[:i], values[key], *ys[i:]] for key, ys in series.items()}


def card_lines(card_sizes_gb, ymax_gib: float, label: str) -> tuple[list[dict], list[dict]]:
    """Dotted full-width lines at vendors' card sizes within reach of the data (plus the next one up).

    Returns (shapes, annotations) as plain dicts, put into the layout once: Plotly's add_hline re-validates
    every shape and annotation already in the figure, which cost ~90 ms per chart (docs/load.md)."""
    shown = [g for g in card_sizes_gb if g * GB / GIB <= ymax_gib * 1.05]
    bigger = [g for g in card_sizes_gb if g * GB / GIB > ymax_gib * 1.05]
    shown += bigger[:1]
    shapes, annotations = [], []
    for g in shown:
        y = g * GB / GIB
        # What add_hline(annotation_position="top left") builds: a line across the x domain, its label
        # above the line at the left edge.
        shapes.append(
            {"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y,
             "line": {"dash": "dot", "color": "#555"}}
        )  # fmt: skip
        annotations.append(
            {"text": label.format(gb=g), "showarrow": False, "xref": "x domain", "x": 0, "xanchor": "left",
             "yref": "y", "y": y, "yanchor": "bottom"}
        )  # fmt: skip
    return shapes, annotations


def methods_figure(
    bars: dict[str, dict[str, int]], segment_labels: dict[str, str], card_sizes_gb, labels: dict[str, str]
) -> go.Figure:
    """Stacked bars, one per method, segments in bytes; labels: title, y, card ("{gb} GB card")."""
    names = list(bars)
    segments = list(next(iter(bars.values()))) if bars else []
    traces = [
        {
            "type": "bar",
            "name": segment_labels.get(seg, seg),
            "x": names,
            "y": [gib(bars[n][seg]) for n in names],
            **({"marker": {"color": COLORS[seg]}} if seg in COLORS else {}),
            "hovertemplate": "%{x}: %{y:.2f} GiB<extra>" + segment_labels.get(seg, seg) + "</extra>",
        }
        for seg in segments
    ]
    top = max((gib(sum(b.values())) for b in bars.values()), default=1.0)
    shapes, annotations = card_lines(card_sizes_gb, top, labels["card"])
    layout = {
        "barmode": "stack",
        "title": {"text": labels["title"]},
        "yaxis": {"title": {"text": labels["y"]}},
        "legend": {"orientation": "h", "y": -0.15},
        "margin": {"t": 60, "b": 40},
        "shapes": shapes,
        "annotations": annotations,
    }
    return figure(traces, layout)


def curves_figure(
    x: list[int],
    series: dict[str, list[int]],
    series_labels: dict[str, str],
    card_sizes_gb,
    labels: dict[str, str],
    *,
    log_x: bool = True,
    current: int | None = None,
) -> go.Figure:
    """Lines of bytes against x (rank or sequence length), one per method; labels: title, x, y, card, current."""
    traces = [
        {
            "type": "scatter",
            "x": x,
            "y": [gib(v) for v in ys],
            "mode": "lines+markers",
            "name": series_labels.get(key, key),
            **({"line": {"color": LINE_COLORS[key]}} if key in LINE_COLORS else {}),
            "hovertemplate": "%{x}: %{y:.2f} GiB<extra>" + series_labels.get(key, key) + "</extra>",
        }
        for key, ys in series.items()
    ]
    top = max((gib(max(v)) for v in series.values() if v), default=1.0)
    shapes, annotations = card_lines(card_sizes_gb, top, labels["card"])
    if current is not None and current > 0:
        # A dashed line at the current value across the y domain, labelled at its top. On a log axis shapes
        # take data values but annotations take log10 of them (Plotly's layout.annotations.x reference;
        # plotly.py issue 4012: add_vline's label was drawn at 10**x, off the chart).
        shapes.append(
            {"type": "line", "xref": "x", "x0": current, "x1": current, "yref": "y domain", "y0": 0, "y1": 1,
             "line": {"dash": "dash", "color": "#888"}}
        )  # fmt: skip
        annotations.append(
            {"text": labels["current"], "showarrow": False, "xref": "x",
             "x": math.log10(current) if log_x else current, "xanchor": "left",
             "yref": "y domain", "y": 1, "yanchor": "top"}
        )  # fmt: skip
    layout = {
        "title": {"text": labels["title"]},
        "xaxis": {"title": {"text": labels["x"]}, "type": "log" if log_x else "linear"},
        "yaxis": {"title": {"text": labels["y"]}},
        "legend": {"orientation": "h", "y": -0.2},
        "margin": {"t": 60, "b": 40},
        "shapes": shapes,
        "annotations": annotations,
    }
    return figure(traces, layout)
