"""Plotly figures built in one go and without Plotly's property-by-property validation.

Charts here are redrawn on every rerun of a shared classroom server, so their build cost is every student's
latency. `go.Figure(data, layout)` validates and coerces each property through plotly's validator classes:
7.2 ms for the Matrix page's rank curve against 1.7 ms with `_validate=False`, the switch plotly's own
BaseFigure.__init__ reads (plotly 7.1, basedatatypes.py; our measurement in one process, 20 builds each,
2026-11-23; the pages' before/after server times are in docs/load.md, "Round 3").
What we skip is only the check: tests/test_plotly_fast.py builds every chart both ways and requires the
validated figure to accept ours unchanged, so a misspelt property still fails a test.

Handing a figure to `st.plotly_chart` costs about as much again: Streamlit calls `Figure.to_dict()`, which
deep-copies the data and layout and walks them for numpy arrays before `plotly.io.to_json` serialises them.
`for_streamlit()` gives it a figure whose `to_dict()` is the data and layout as they are (about 1 ms less per
chart: 1.0-1.4 ms against 0.2-0.3 ms to serialise each of our charts; docs/load.md, "Round 4"). The JSON
Streamlit sends is the same; tests/test_plotly_fast.py compares them for every chart.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.basedatatypes import BaseFigure

_FAST = "_lora_lab_unvalidated"  # marks figures built here (a private name: BaseFigure lets those through)


def figure(data: list[dict], layout: dict) -> go.Figure:
    """A Figure from trace dicts (each with its "type") and a layout dict, unvalidated (see module doc)."""
    fig = go.Figure(data=data, layout=layout, _validate=False)
    setattr(fig, _FAST, True)
    return fig


class _Serialisable(BaseFigure):
    """What `st.plotly_chart` needs of a figure built here: `to_dict()`, without Plotly's deep copy.

    BaseFigure.__init__ is deliberately not called (it would rebuild the figure); Streamlit only checks that
    this is a BaseFigure and calls to_dict() (streamlit 1.67 plotly_chart -> plotly.tools.
    return_figure_from_figure_or_data, which does exactly that for a BaseFigure)."""

    def __init__(self, figure_dict: dict) -> None:
        self._dict = figure_dict

    def to_dict(self) -> dict:
        return self._dict


def for_streamlit(fig):
    """The argument to give `st.plotly_chart` for `fig`: a cheap stand-in when `figure()` built it from
    plain lists and dicts (see the module doc), else `fig` itself (figures built through Plotly's validated
    classes, or with frames: Plotly's own path)."""
    if not getattr(fig, _FAST, False) or fig.frames:
        return fig
    return _Serialisable({"data": fig._data, "layout": fig._layout})
