"""Learn page, the app's home: LoRA in eight steps, a live worked example, links onward, classroom scenarios."""

import pandas as pd
import streamlit as st

from lora_core.errors import LoraLabError
from lora_core.matrix import matrix_cost
from lora_ui import keys, share
from lora_ui.i18n import current_lang, tr
from lora_ui.routing import ensure_routed
from lora_ui.scenarios import BY_ID, SCENARIOS, Headline, Scenario, format_headline, headlines
from lora_ui.widgets import show_error, show_table

ensure_routed()

# The seed explainer's matrix (seeds/000): 10,000 x 10,000, rank 8 -> 100,000,000 vs 160,000 (0.16 %).
EXAMPLE_D, EXAMPLE_K, EXAMPLE_R = 10_000, 10_000, 8
MAX_EXAMPLE_RANK = 256  # enough to show the count growing linearly; break-even for 10k x 10k is 5,000

# Bibliographic references are the same in every language (titles stay as published).
SOURCES = (
    "Hu et al., “LoRA: Low-Rank Adaptation of Large Language Models”, arXiv:2106.09685 (2021).",
    "Dettmers et al., “QLoRA: Efficient Finetuning of Quantized LLMs”, arXiv:2305.14314 (2023).",
)
# Section 9, the LoRA family: one paper per type, in the section's order.
FAMILY = ("lora", "rslora", "dora", "vera", "loha", "lokr", "ia3", "adalora", "loraplus")
FAMILY_SOURCES = (
    "Kalajdzievski, “A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA”, arXiv:2312.03732 (2023).",
    "Liu et al., “DoRA: Weight-Decomposed Low-Rank Adaptation”, ICML 2024, arXiv:2402.09353.",
    "Kopiczko et al., “VeRA: Vector-based Random Matrix Adaptation”, ICLR 2024, arXiv:2310.11454.",
    "Hyeon-Woo et al., “FedPara: Low-Rank Hadamard Product for Communication-Efficient Federated "
    "Learning”, ICLR 2022, arXiv:2108.06098.",
    "Yeh et al., “Navigating Text-To-Image Customization: From LyCORIS Fine-Tuning to Model Evaluation”, "
    "ICLR 2024, arXiv:2309.14859.",
    "Liu et al., “Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context Learning”, "
    "NeurIPS 2022, arXiv:2205.05638.",
    "Zhang et al., “Adaptive Budget Allocation for Parameter-Efficient Fine-Tuning” (AdaLoRA), ICLR 2023, "
    "arXiv:2303.10512.",
    "Hayou et al., “LoRA+: Efficient Low Rank Adaptation of Large Models”, ICML 2024, arXiv:2402.12354.",
)

# Where "Try it yourself" points: Memory gets the same Llama-2-7B q,v r=8 adapter as the Model link.
MEMORY_EXAMPLE = {keys.MEM_PRESET: "llama-2-7b", keys.MEM_TARGETS: "q_proj,v_proj", keys.MEM_RANK: "8"}


def section(key: str) -> None:
    st.subheader(tr(f"learn.{key}.h"))


def example_rank_ui() -> int:
    return st.slider(
        tr("learn.example.rank"),
        1,
        MAX_EXAMPLE_RANK,
        EXAMPLE_R,
        key=keys.LEARN_R,
        bind="query-params",
        help=tr("learn.example.rank_help"),
    )


def worked_example_table(cost) -> pd.DataFrame:
    """The three matrices of the example, with their shapes and counts (all from the core's result)."""
    yes, no = tr("learn.example.yes"), tr("learn.example.no")
    rows = [
        (tr("learn.example.row_w"), f"{cost.d:,} × {cost.k:,}", cost.full_params, no),
        (tr("learn.example.row_b"), f"{cost.d:,} × {cost.r:,}", cost.d * cost.r, yes),
        (tr("learn.example.row_a"), f"{cost.r:,} × {cost.k:,}", cost.r * cost.k, yes),
    ]
    cols = [tr(f"learn.example.col_{c}") for c in ("matrix", "shape", "params", "trained")]
    return pd.DataFrame(rows, columns=cols)


@st.fragment
def worked_example(next_slot) -> None:
    """The live example. A fragment: moving its rank reruns only this, not the long page around it (most of
    what a student does here; docs/load.md). What else shows the rank is drawn from here too, in every run:
    the onward links in `next_slot` (further down the page) and the sidebar's link to this view. Streamlit
    1.67 lets a fragment rerun write to a container outside it only if the full run's fragment wrote there
    too (StreamlitInvalidLayoutContextError otherwise), so the page creates the slot before calling this."""
    section("example")
    st.write(tr("learn.example.intro", d=f"{EXAMPLE_D:,}", k=f"{EXAMPLE_K:,}"))
    r = example_rank_ui()
    try:
        cost = matrix_cost(EXAMPLE_D, EXAMPLE_K, r)
    except Exception as exc:
        show_error(exc)
        with next_slot.container():  # every run writes the slot (see above)
            next_links(EXAMPLE_R)
        share.link_box("learn")
        return
    c1, c2, c3 = st.columns(3)
    c1.metric(tr("learn.example.metric_full"), f"{cost.full_params:,}")
    c2.metric(tr("learn.example.metric_lora"), f"{cost.lora_params:,}")
    c3.metric(tr("learn.example.metric_percent"), f"{cost.percent:.2f} %")
    st.write(
        tr(
            "learn.example.sentence",
            r=f"{cost.r:,}",
            d=f"{cost.d:,}",
            k=f"{cost.k:,}",
            b=f"{cost.d * cost.r:,}",
            a=f"{cost.r * cost.k:,}",
            lora=f"{cost.lora_params:,}",
            full=f"{cost.full_params:,}",
            pct=f"{cost.percent:.2f}",
        )
    )
    show_table(worked_example_table(cost), "learn-worked-example", key="learn_csv")
    st.caption(tr("learn.example.naming", d=f"{cost.d:,}", k=f"{cost.k:,}"))
    with next_slot.container():
        next_links(cost.r)
    share.link_box("learn")


def lang_param() -> dict[str, str]:
    return {keys.LANG: current_lang()}


def next_links(r: int) -> None:
    st.subheader(tr("learn.next.h"))
    st.write(tr("learn.next.intro"))
    matrix = {keys.MATRIX_D: str(EXAMPLE_D), keys.MATRIX_K: str(EXAMPLE_K), keys.MATRIX_R: str(r)}
    links = [
        ("pages/matrix.py", tr("learn.next.matrix", d=f"{EXAMPLE_D:,}", k=f"{EXAMPLE_K:,}", r=r), matrix),
        ("pages/model.py", tr("learn.next.model"), BY_ID["llama2_qv"].query()),
        ("pages/memory.py", tr("learn.next.memory"), MEMORY_EXAMPLE),
        ("pages/fit.py", tr("learn.next.fit"), BY_ID["seed_fit"].query()),
    ]
    icons = (":material/grid_on:", ":material/account_tree:", ":material/memory:", ":material/show_chart:")
    for (page, label, query), icon in zip(links, icons, strict=True):
        st.page_link(page, label=label, icon=icon, query_params={**query, **lang_param()})


# One entry per scenario, shared by every visitor (the memory ones trace their recipes once per process).
@st.cache_data(max_entries=len(SCENARIOS), show_spinner=False)
def scenario_headlines(scenario_id: str) -> tuple[Headline, ...]:
    return headlines(scenario_id)


def scenario_card(s: Scenario) -> None:
    with st.container(border=True):
        st.markdown(f"**{tr(f'learn.scenario.{s.id}.title')}**")
        st.write(tr(f"learn.scenario.{s.id}.body"))
        numbers: tuple[Headline, ...] = ()
        try:
            numbers = scenario_headlines(s.id)
        except LoraLabError as exc:  # a card that cannot compute says why; the gallery keeps rendering
            show_error(exc)
        for col, h in zip(st.columns(max(len(numbers), 1)), numbers, strict=False):
            col.metric(tr(f"learn.headline.{h.name}"), format_headline(h))
        st.caption(tr(f"learn.scenario.{s.id}.note"))
        st.page_link(
            s.page_file,
            label=tr("learn.scenario.open"),
            icon=":material/open_in_new:",
            query_params=s.query(current_lang()),
        )


def scenario_gallery() -> None:
    st.subheader(tr("learn.scenarios.h"))
    st.write(tr("learn.scenarios.intro"))
    cols = st.columns(2)
    for i, s in enumerate(SCENARIOS):
        with cols[i % 2]:
            scenario_card(s)


st.title(tr("learn.title"))
st.write(tr("learn.intro"))

section("problem")
st.write(tr("learn.problem.body"))

section("idea")
st.write(tr("learn.idea.body"))

section("rank")
st.write(tr("learn.rank.body"))

section("math")
st.write(tr("learn.math.body"))
st.latex(r"W' = W + \frac{\alpha}{r}\,B\,A")
st.caption(tr("learn.math.shapes"))
st.latex(r"B \in \mathbb{R}^{d \times r},\quad A \in \mathbb{R}^{r \times k},\quad r \ll \min(d, k)")
st.write(tr("learn.math.count"))
st.latex(r"d \cdot k \quad\longleftrightarrow\quad (d + k) \cdot r")

example_area = st.container()  # filled last (below), once the onward links' slot exists


section("analogy")
st.markdown(tr("learn.analogy.full"))
st.markdown(tr("learn.analogy.lora"))

section("merge")
st.write(tr("learn.merge.body"))
st.latex(r"W' = W + \frac{\alpha}{r}\,B\,A \qquad y = W'x")

section("qlora")
st.write(tr("learn.qlora.body"))
st.caption(f"{tr('learn.sources')}: " + " ".join(SOURCES))

section("family")
st.write(tr("learn.family.intro"))
for key in FAMILY:
    st.markdown(tr(f"learn.family.{key}"))
st.page_link(
    "pages/model.py",
    label=tr("learn.family.compare"),
    icon=":material/table_chart:",
    query_params={**BY_ID["llama2_qv"].query(), **lang_param()},
)
st.caption(f"{tr('learn.sources')}: " + " ".join((SOURCES[0], *FAMILY_SOURCES)))

st.divider()
next_slot = st.empty()  # the worked example's fragment draws the onward links here
st.divider()
with example_area:
    worked_example(next_slot)
scenario_gallery()
