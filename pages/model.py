"""Model page: exact trainable-parameter counts for a PEFT LoRA config on a real architecture."""

import pandas as pd
import streamlit as st

from lora_core.errors import LoraLabError
from lora_ui import keys, share
from lora_ui.i18n import tr
from lora_ui.model_charts import params_by_module_figure
from lora_ui.routing import ensure_routed
from lora_ui.widgets import markdown_literal, show_chart, show_error, show_table

ensure_routed()

from lora_core.arch import canonical_json, inventory
from lora_core.config import MAX_CONFIG_BYTES, depth_and_width, parse_config
from lora_core.params import count_params
from lora_core.presets import PRESETS, load_preset, source
from lora_core.spec import ALL_LINEAR, LoraSpec, default_targets

DEFAULT_PRESET = "llama-2-7b"  # PEFT's famous 4,194,304 at r=8 on q_proj, v_proj
MAX_RANK = 1024  # PEFT accepts any r; past ~1024 LoRA stops being "low rank" for every preset we ship
BIASES = ("none", "lora_only", "all")  # PEFT LoraConfig.bias


@st.cache_data(max_entries=64, show_spinner=False)
def cached_count(config_json: str, spec: LoraSpec):
    import json

    return count_params(json.loads(config_json), spec)


def model_ui() -> dict:
    c1, c2 = st.columns([1, 2])
    name = c1.selectbox(
        tr("model.preset"),
        PRESETS,
        index=PRESETS.index(DEFAULT_PRESET),
        key=keys.MODEL_PRESET,
        bind="query-params",
    )
    layers, width = depth_and_width(load_preset(name))
    c1.caption(tr("model.preset_caption", source=source(name), layers=layers, width=width))
    upload = c2.file_uploader(tr("model.upload"), type=["json"], key=keys.MODEL_UPLOAD)
    if upload is not None:
        try:
            if upload.size > MAX_CONFIG_BYTES:
                raise LoraLabError(
                    f"{upload.name} is {upload.size:,} bytes; the limit is {MAX_CONFIG_BYTES:,}"
                )
            config = parse_config(upload.getvalue())
            inv = inventory(config)
            # Both come from the visitor's file: shown as typed, never as markdown.
            c2.success(
                tr(
                    "model.using_upload",
                    name=markdown_literal(upload.name),
                    arch=markdown_literal(inv.architecture),
                )
            )
            return config
        except LoraLabError as exc:
            show_error(exc)
    return load_preset(name)


def spec_ui(config: dict) -> LoraSpec:
    inv = inventory(config)
    options = [ALL_LINEAR, *inv.target_names]
    default = list(default_targets(inv.model_type, inv.target_names))
    current = st.session_state.get(keys.MODEL_TARGETS)
    if current is not None and (not current or not set(current) <= set(options)):
        # Another architecture was picked: its module names differ, so start from its PEFT defaults.
        st.session_state[keys.MODEL_TARGETS] = default
    c1, c2, c3 = st.columns([3, 1, 1])
    targets = c1.multiselect(
        tr("model.targets"),
        options,
        default=default,
        key=keys.MODEL_TARGETS,
        bind="query-params",
        help=tr("model.targets_help"),
    )
    r = c2.number_input(tr("model.rank"), 1, MAX_RANK, 8, key=keys.MODEL_RANK, bind="query-params")
    alpha = c3.number_input(tr("model.alpha"), 1, 100_000, 8, key=keys.MODEL_ALPHA, bind="query-params")
    c1, c2, c3 = st.columns([1, 1, 3])
    bias = c1.selectbox(tr("model.bias"), BIASES, key=keys.MODEL_BIAS, bind="query-params")
    c1.caption(tr(f"model.bias.{bias}"))  # the code's meaning (the code itself is the URL value)
    dora = c2.checkbox(tr("model.dora"), False, key=keys.MODEL_DORA, bind="query-params")
    save_options = sorted({m.name.rsplit(".", 1)[-1] for m in inv.modules if m.params} - {""})
    save = c3.multiselect(tr("model.save"), save_options, key=keys.MODEL_SAVE, bind="query-params")
    target_modules = ALL_LINEAR if ALL_LINEAR in targets else tuple(targets)
    return LoraSpec(
        r=int(r),
        alpha=int(alpha),
        target_modules=target_modules,
        bias=bias,
        use_dora=dora,
        modules_to_save=tuple(save),
    )


st.title(tr("model.title"))
st.write(tr("model.intro"))


@st.fragment
def calculator() -> None:
    """Preset, upload, LoRA settings and the counts. A fragment: a change here reruns only this part
    (not app.py, the sidebar or the title), most of what a student does on this page; see docs/load.md."""
    config = model_ui()
    try:
        spec = spec_ui(config)
        result = cached_count(canonical_json(config), spec)
    except LoraLabError as exc:
        show_error(exc)
        share.link_box("model")
        return

    c1, c2, c3, c4 = st.columns(4)
    c1.metric(tr("model.metric_trainable"), f"{result.trainable_params:,}")
    c2.metric(tr("model.metric_total"), f"{result.total_params:,}")
    c3.metric(tr("model.metric_percent"), f"{result.trainable_percent:.4f} %")
    c4.metric(tr("model.metric_base"), f"{result.base_params:,}")

    st.subheader(tr("model.table_header"))
    table = pd.DataFrame(
        [
            {
                tr("model.col_module"): m.name,
                tr("model.col_kind"): m.kind,
                tr("model.col_shape"): " × ".join(str(s) for s in m.shape),
                tr("model.col_count"): m.count,
                tr("model.col_lora"): m.lora_params,
            }
            for m in result.modules
        ]
    )
    show_table(table, "lora-model-modules", key="model_csv")
    if result.modules:
        fig = params_by_module_figure(
            [m.name for m in result.modules],
            [m.lora_params for m in result.modules],
            {"title": tr("model.chart_title"), "x": tr("model.chart_x")},
        )
        show_chart(fig, "lora-params-by-module", key="model_chart")

    st.subheader(tr("model.snippet_header"))
    st.code(spec.peft_snippet(), language="python")
    share.link_box("model")  # a fragment rerun leaves the sidebar alone: refresh the link to this view


calculator()
