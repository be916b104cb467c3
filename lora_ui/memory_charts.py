"""Plotly figures of the Memory page: pure functions from bytes (core) and translated labels to figures.

The y axes are in GiB (2**30 bytes). Card sizes are vendors' GB (10**9 bytes), drawn where they fall on
the GiB axis and labelled in GB, so "80 GB" sits at 74.5 GiB.
"""

from __future__ import annotations

import plotly.graph_objects as go

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


def _card_lines(fig: go.Figure, card_sizes_gb, ymax_gib: float, label: str) -> None:
    """Dotted lines at vendors' card sizes that are within reach of the data (plus the next one up)."""
    shown = [g for g in card_sizes_gb if g * GB / GIB <= ymax_gib * 1.05]
    bigger = [g for g in card_sizes_gb if g * GB / GIB > ymax_gib * 1.05]
    shown += bigger[:1]
    for g in shown:
        fig.add_hline(
            y=g * GB / GIB,
            line_dash="dot",
            line_color="#555",
            annotation_text=label.format(gb=g),
            annotation_position="top left",
        )


def methods_figure(
    bars: dict[str, dict[str, int]], segment_labels: dict[str, str], card_sizes_gb, labels: dict[str, str]
) -> go.Figure:
    """Stacked bars, one per method, segments in bytes; labels: title, y, card ("{gb} GB card")."""
    fig = go.Figure()
    names = list(bars)
    segments = list(next(iter(bars.values()))) if bars else []
    for seg in segments:
        fig.add_bar(
            name=segment_labels.get(seg, seg),
            x=names,
            y=[gib(bars[n][seg]) for n in names],
            marker_color=COLORS.get(seg),
            hovertemplate="%{x}: %{y:.2f} GiB<extra>" + segment_labels.get(seg, seg) + "</extra>",
        )
    top = max((gib(sum(b.values())) for b in bars.values()), default=1.0)
    _card_lines(fig, card_sizes_gb, top, labels["card"])
    fig.update_layout(
        barmode="stack",
        title=labels["title"],
        yaxis_title=labels["y"],
        legend={"orientation": "h", "y": -0.15},
        margin={"t": 60, "b": 40},
    )
    return fig


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
    fig = go.Figure()
    for key, ys in series.items():
        fig.add_scatter(
            x=x,
            y=[gib(v) for v in ys],
            mode="lines+markers",
            name=series_labels.get(key, key),
            line={"color": LINE_COLORS.get(key)},
            hovertemplate="%{x}: %{y:.2f} GiB<extra>" + series_labels.get(key, key) + "</extra>",
        )
    top = max((gib(max(v)) for v in series.values() if v), default=1.0)
    _card_lines(fig, card_sizes_gb, top, labels["card"])
    if current is not None:
        fig.add_vline(x=current, line_dash="dash", line_color="#888", annotation_text=labels["current"])
    fig.update_layout(
        title=labels["title"],
        xaxis_title=labels["x"],
        yaxis_title=labels["y"],
        xaxis_type="log" if log_x else "linear",
        legend={"orientation": "h", "y": -0.2},
        margin={"t": 60, "b": 40},
    )
    return fig
