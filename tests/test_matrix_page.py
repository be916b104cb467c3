"""Matrix page: figure builders checked directly, the page through AppTest."""

import pytest

from lora_core.arch import inventory
from lora_core.matrix import break_even_rank, matrix_cost
from lora_core.presets import PRESETS, load_preset
from lora_ui.matrix_charts import layout_rects, params_vs_rank_figure, rank_axis, shapes_figure

SHAPE_LABELS = {"title": "t", "W": "W {d}x{k}={n}", "B": "B {d}x{r}={n}", "A": "A {r}x{k}={n}"}
CURVE_LABELS = {n: n for n in ("title", "x", "y", "lora", "full")} | {
    "break_even": "be {be}",
    "current": "r {r}",
}


@pytest.mark.parametrize("d,k,r", [(10_000, 10_000, 8), (4096, 11008, 64), (3, 5, 2)])
def test_shapes_are_to_scale(d, k, r):
    w, b, a = layout_rects(d, k, r)
    area = {rect.name: abs((rect.x1 - rect.x0) * (rect.y1 - rect.y0)) for rect in (w, b, a)}
    assert area == {"W": d * k, "B": d * r, "A": r * k}
    assert w.x1 <= b.x0 and b.x1 <= a.x0  # side by side, no overlap
    fig = shapes_figure(matrix_cost(d, k, r), SHAPE_LABELS)
    assert len(fig.layout.shapes) == 3
    assert fig.layout.yaxis.scaleanchor == "x"  # equal units on both axes
    texts = [ann.text for ann in fig.layout.annotations]
    assert f"B {d:,}x{r:,}={d * r:,}" in texts


def test_params_curve_marks_full_break_even_and_current_rank():
    cost = matrix_cost(4096, 4096, 64)
    ranks = rank_axis(cost, 8192)
    assert 64 in ranks and ranks[-1] >= cost.break_even_rank
    fig = params_vs_rank_figure(cost, ranks, CURVE_LABELS)
    lora, full, current = fig.data
    assert list(lora.y) == [(4096 + 4096) * r for r in ranks]
    assert set(full.y) == {4096 * 4096}
    assert tuple(current.x) == (64,) and tuple(current.y) == (cost.lora_params,)
    assert [s.x0 for s in fig.layout.shapes] == [cost.break_even_rank]


def projections(preset):
    """The shapes of a preset's linear layers but its output head (vocabulary-sized, not a projection)."""
    config = load_preset(preset)
    modules = inventory(config).modules
    return [m.shape for m in modules if m.kind in ("linear", "conv1d") and config["vocab_size"] not in m.shape]


def _metric(at, label_start):
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def test_defaults_are_the_seed_example(app_test):
    at = app_test(page="matrix")
    assert not at.exception
    assert _metric(at, "Full fine-tuning") == "100,000,000"
    assert _metric(at, "LoRA trains") == "160,000"
    assert _metric(at, "LoRA / full") == "0.16 %"


def test_rank_slider_changes_the_numbers_and_warns_past_break_even(app_test):
    at = app_test(page="matrix")
    at.slider(key="d").set_value(100)
    at.slider(key="k").set_value(100)
    at.slider(key="r").set_value(4).run()
    assert not at.exception
    assert _metric(at, "LoRA trains") == f"{(100 + 100) * 4:,}"
    assert not at.warning
    at.slider(key="r").set_value(51).run()  # break-even is 100*100/200 = 50
    assert _metric(at, "LoRA trains") == f"{(100 + 100) * 51:,}"
    assert len(at.warning) == 1


def test_query_params_restore_the_view(app_test):
    at = app_test(page="matrix", query={"d": "4096", "k": "4096", "r": "32"})
    assert not at.exception
    assert at.slider(key="r").value == 32
    # The sliders' own ranges (pages/matrix.py SLIDER_*), as their comment says: every projection of the shipped
    # presets but GPT-3's fits the side slider, and the rank slider reaches break-even for sides up to 16,384.
    side, rank = at.slider(key="d").max, at.slider(key="r").max
    assert (at.slider(key="k").max, side, rank) == (side, 32_768, 8_192)
    widest = {p: max(max(shape) for shape in projections(p)) for p in PRESETS}
    assert {p for p, w in widest.items() if w > side} == {"gpt3-175b"}
    assert rank == break_even_rank(16_384, 16_384)  # the largest break-even of any d, k up to 16,384
    assert _metric(at, "LoRA trains") == f"{(4096 + 4096) * 32:,}"
