"""Chart builders of the Memory page, tested directly (no browser)."""

from lora_ui.memory_charts import GB, GIB, curves_figure, methods_figure

LABELS = {"title": "T", "y": "GiB", "card": "{gb} GB card", "x": "rank", "current": "now"}


def test_methods_figure_stacks_segments_in_gib():
    bars = {
        "Full": {
            "base_weights": 2 * GIB,
            "adapters": 0,
            "optimizer": 4 * GIB,
            "live": GIB,
            "overhead": GIB // 2,
        },
        "LoRA": {
            "base_weights": 2 * GIB,
            "adapters": GIB // 4,
            "optimizer": 0,
            "live": GIB,
            "overhead": GIB // 2,
        },
    }
    fig = methods_figure(bars, {"base_weights": "base"}, (16, 24, 80), LABELS)
    assert fig.layout.barmode == "stack"
    assert next(t.name for t in fig.data) == "base"
    assert len(fig.data) == 5
    assert list(fig.data[2].y) == [4.0, 0.0]  # optimizer segment, GiB
    # card lines: the vendor's GB (1e9 bytes) placed on the GiB axis; 16 GB shown (above the 7.5 GiB top)
    ys = [s.y0 for s in fig.layout.shapes]
    assert ys == [16 * GB / GIB]
    texts = [a.text for a in fig.layout.annotations]
    assert texts == ["16 GB card"]


def test_curves_figure_lines_and_current_marker():
    fig = curves_figure(
        [1, 2, 4], {"lora": [GIB, 2 * GIB, 3 * GIB]}, {"lora": "LoRA"}, (16,), LABELS, current=2
    )
    assert fig.data[0].name == "LoRA"
    assert list(fig.data[0].y) == [1.0, 2.0, 3.0]
    assert fig.layout.xaxis.type == "log"
    assert any(a.text == "now" for a in fig.layout.annotations)


def test_current_marker_label_sits_on_the_line_on_a_log_axis():
    """Plotly places annotations on a log axis at log10(x) but shapes at x (plotly.py issue 4012)."""
    import math

    fig = curves_figure([1, 16, 256], {"lora": [GIB] * 3}, {}, (16,), LABELS, current=16)
    (line,) = [s for s in fig.layout.shapes if s.xref == "x"]
    (label,) = [a for a in fig.layout.annotations if a.text == "now"]
    assert line.x0 == 16
    assert label.x == math.log10(16)
    linear = curves_figure([1, 16, 256], {"lora": [GIB] * 3}, {}, (16,), LABELS, current=16, log_x=False)
    assert [a.x for a in linear.layout.annotations if a.text == "now"] == [16]


def test_card_lines_span_the_plot_width():
    fig = methods_figure({"LoRA": {"base_weights": GIB}}, {}, (16, 24), LABELS)
    assert [(s.xref, s.x0, s.x1) for s in fig.layout.shapes] == [("x domain", 0, 1)]


def test_with_point_inserts_in_order_and_keeps_grid_points():
    from lora_ui.memory_charts import with_point

    xs, series = with_point([128, 512, 2048], {"lora": [1, 3, 5]}, 1000, {"lora": 4})
    assert xs == [128, 512, 1000, 2048]
    assert series == {"lora": [1, 3, 4, 5]}
    assert with_point([128, 512], {"lora": [1, 3]}, 512, {"lora": 99}) == ([128, 512], {"lora": [1, 3]})
    assert with_point([128], {"lora": [1]}, 8, {"lora": 0}) == ([8, 128], {"lora": [0, 1]})
