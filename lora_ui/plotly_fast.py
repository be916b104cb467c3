"""Plotly figures built in one go and without Plotly's property-by-property validation.

Charts here are redrawn on every rerun of a shared classroom server, so their build cost is every student's
latency. `go.Figure(data, layout)` validates and coerces each property through plotly's validator classes:
7.2 ms for the Matrix page's rank curve against 1.7 ms with `_validate=False`, the switch plotly's own
BaseFigure.__init__ reads (plotly 7.1, basedatatypes.py; our measurement in one process, 20 builds each,
2026-11-23; the pages' before/after server times are in docs/load.md, "This round").
What we skip is only the check: tests/test_plotly_fast.py builds every chart both ways and requires the
validated figure to accept ours unchanged, so a misspelt property still fails a test.
"""

from __future__ import annotations

import plotly.graph_objects as go


def figure(data: list[dict], layout: dict) -> go.Figure:
    """A Figure from trace dicts (each with its "type") and a layout dict, unvalidated (see module doc)."""
    return go.Figure(data=data, layout=layout, _validate=False)
