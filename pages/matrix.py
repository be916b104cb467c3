"""Matrix page: one weight matrix W (d x k), full fine-tuning against rank-r LoRA."""

import streamlit as st

from lora_core.matrix import MatrixShape
from lora_ui import keys, share
from lora_ui.i18n import tr
from lora_ui.matrix_charts import params_vs_rank_figure, rank_axis, shapes_figure
from lora_ui.routing import ensure_routed
from lora_ui.widgets import show_chart, show_error

ensure_routed()

# The sliders' ranges: this page's own, narrower than what matrix_cost accepts (MAX_DIM) so that a drag moves
# in useful steps. 32,768 covers every projection of the shipped presets up to the 70B models' (Llama's MLP
# is 28,672 wide), not GPT-3's 49,152-wide MLP; the rank reaches 8,192, the break-even rank d*k/(d+k) of
# d = k = 16,384 and past that of any smaller d, k (the seed's 10,000 x 10,000 breaks even at 5,000).
# tests/test_matrix_page.py checks both.
SLIDER_MAX_SIDE = 32_768
SLIDER_MAX_RANK = 8_192
# The seed's worked example (seeds/000): a 10,000 x 10,000 matrix at rank 8.
DEFAULT_D, DEFAULT_K, DEFAULT_R = 10_000, 10_000, 8


def inputs_ui() -> MatrixShape:
    c1, c2, c3 = st.columns(3)
    d = c1.slider(
        tr("matrix.d"),
        1,
        SLIDER_MAX_SIDE,
        DEFAULT_D,
        key=keys.MATRIX_D,
        bind="query-params",
        help=tr("matrix.d_help"),
    )
    k = c2.slider(
        tr("matrix.k"),
        1,
        SLIDER_MAX_SIDE,
        DEFAULT_K,
        key=keys.MATRIX_K,
        bind="query-params",
        help=tr("matrix.k_help"),
    )
    r = c3.slider(
        tr("matrix.r"),
        1,
        SLIDER_MAX_RANK,
        DEFAULT_R,
        key=keys.MATRIX_R,
        bind="query-params",
        help=tr("matrix.r_help"),
    )
    return MatrixShape(d=d, k=k, r=r)


def metrics_ui(cost) -> None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(tr("matrix.metric_full"), f"{cost.full_params:,}")
    c2.metric(
        tr("matrix.metric_lora"),
        f"{cost.lora_params:,}",
        delta=tr("matrix.delta_fewer", n=f"{cost.full_params - cost.lora_params:,}")
        if not cost.past_break_even
        else None,
        delta_color="normal",
    )
    c3.metric(tr("matrix.metric_percent"), f"{cost.percent:.4g} %")
    c4.metric(
        tr("matrix.metric_break_even"),
        f"{cost.break_even_rank:,.1f}",
        help=tr("matrix.metric_break_even_help"),
    )
    st.caption(
        tr(
            "matrix.formula",
            d=f"{cost.d:,}",
            k=f"{cost.k:,}",
            r=f"{cost.r:,}",
            full=f"{cost.full_params:,}",
            lora=f"{cost.lora_params:,}",
        )
    )


st.title(tr("matrix.title"))
st.write(tr("matrix.intro"))


@st.fragment
def calculator() -> None:
    """Sliders, numbers and both charts. A fragment: moving a slider reruns only this (not app.py, the
    sidebar or the text above), which is most of what a student does here; see docs/load.md."""
    shape = inputs_ui()
    try:
        cost = shape.cost()
    except Exception as exc:  # widgets bound the values; this guards a bad shared link all the same
        show_error(exc)
        share.link_box("matrix")
        return
    metrics_ui(cost)
    if cost.past_break_even:
        st.warning(
            tr("matrix.past_break_even", r=f"{cost.r:,}", be=f"{cost.break_even_rank:,.1f}"),
            icon=":material/warning:",
        )
    elif cost.r > min(cost.d, cost.k):
        st.info(tr("matrix.rank_exceeds", r=f"{cost.r:,}", m=f"{min(cost.d, cost.k):,}"))

    shape_labels = {
        "title": tr("matrix.shapes_title"),
        **{n: tr(f"matrix.shape_{n}") for n in ("W", "B", "A")},
    }
    show_chart(shapes_figure(cost, shape_labels), "lora-matrix-shapes", key="matrix_shapes")
    st.caption(tr("matrix.shapes_caption"))

    curve_labels = {
        n: tr(f"matrix.curve_{n}") for n in ("title", "x", "y", "lora", "full", "break_even", "current")
    }
    show_chart(
        params_vs_rank_figure(cost, rank_axis(cost, SLIDER_MAX_RANK), curve_labels),
        "lora-params-vs-rank",
        key="matrix_curve",
    )
    share.link_box("matrix")  # a fragment rerun leaves the sidebar alone: refresh the link to this view


calculator()
