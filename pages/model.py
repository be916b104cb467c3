"""Model page: exact trainable-parameter counts for a PEFT adapter config on a real architecture, and the LoRA
family side by side on the same modules."""

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
from lora_core.family import ADAPTERS
from lora_core.family.compare import FamilySettings, compare_family
from lora_core.family.specs import SPEC_CLASSES
from lora_core.params import count_params
from lora_core.presets import PRESETS, load_preset, source
from lora_core.spec import ALL_LINEAR, MAX_OFFERED_RANK, default_targets
from lora_core.validate import MAX_ALPHA

DEFAULT_PRESET = "llama-2-7b"  # PEFT's famous 4,194,304 at r=8 on q_proj, v_proj
BIASES = ("none", "lora_only", "all")  # PEFT LoraConfig.bias


ADAPTER_LABELS = {a: cls.label for a, cls in SPEC_CLASSES.items()}  # "vera" -> "VeRA"


@st.cache_data(max_entries=64, show_spinner=False)
def cached_count(config_json: str, spec):
    import json

    return count_params(json.loads(config_json), spec)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_family(config_json: str, settings: FamilySettings):
    import json

    return compare_family(json.loads(config_json), settings)


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
                    "file.too_large", name=upload.name, size=upload.size, limit=MAX_CONFIG_BYTES
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


def spec_ui(config: dict):
    """The adapter type and its settings: the chosen type's spec, and the settings every type shares (the
    family table's)."""
    inv = inventory(config)
    options = [ALL_LINEAR, *inv.target_names]
    default = list(default_targets(inv.model_type, inv.target_names))
    current = st.session_state.get(keys.MODEL_TARGETS)
    if current is not None and (not current or not set(current) <= set(options)):
        # Another architecture was picked: its module names differ, so start from its PEFT defaults.
        st.session_state[keys.MODEL_TARGETS] = default
    ff_now = st.session_state.get(keys.MODEL_FEEDFORWARD)
    if ff_now and not set(ff_now) <= set(inv.target_names):
        st.session_state[keys.MODEL_FEEDFORWARD] = []
    c0, c1, c2, c3 = st.columns([1, 3, 1, 1])
    adapter = c0.selectbox(
        tr("family.adapter"), ADAPTERS, key=keys.MODEL_ADAPTER, bind="query-params", help=tr("family.adapter_help")
    )
    targets = c1.multiselect(
        tr("model.targets"),
        options,
        default=default,
        key=keys.MODEL_TARGETS,
        bind="query-params",
        help=tr("model.targets_help"),
    )
    r = c2.number_input(
        tr("model.rank"), 1, MAX_OFFERED_RANK, 8, key=keys.MODEL_RANK, bind="query-params", disabled=adapter == "ia3",
        help=tr("family.rank_help"),
    )  # fmt: skip
    alpha = c3.number_input(
        tr("model.alpha"), 1, MAX_ALPHA, 8, key=keys.MODEL_ALPHA, bind="query-params",
        disabled=adapter in ("vera", "ia3"),
    )  # fmt: skip
    st.caption(tr(f"family.trains.{adapter}"))
    c1, c2, c3, c4 = st.columns([1, 1, 2, 2])
    no_bias = adapter in ("loha", "lokr", "ia3")
    bias = c1.selectbox(tr("model.bias"), BIASES, key=keys.MODEL_BIAS, bind="query-params", disabled=no_bias)
    if no_bias:
        c1.caption(tr("family.no_bias", adapter=ADAPTER_LABELS[adapter]))
    else:
        c1.caption(tr(f"model.bias.{bias}"))  # the code's meaning (the code itself is the URL value)
        if adapter == "vera" and bias == "lora_only":
            c1.caption(tr("family.vera_bias"))
    dora = c2.checkbox(tr("model.dora"), False, key=keys.MODEL_DORA, bind="query-params", disabled=adapter != "lora")
    rslora = c2.checkbox(
        tr("family.rslora"), False, key=keys.MODEL_RSLORA, bind="query-params", disabled=adapter != "lora",
        help=tr("family.rslora_help"),
    )  # fmt: skip
    save_options = sorted({m.name.rsplit(".", 1)[-1] for m in inv.modules if m.params} - {""})
    save = c3.multiselect(tr("model.save"), save_options, key=keys.MODEL_SAVE, bind="query-params")
    feedforward = c4.multiselect(
        tr("family.feedforward"), list(inv.target_names), key=keys.MODEL_FEEDFORWARD, bind="query-params",
        disabled=adapter != "ia3", help=tr("family.feedforward_help"),
    )  # fmt: skip
    settings = FamilySettings(
        r=int(r),
        alpha=int(alpha),
        target_modules=ALL_LINEAR if ALL_LINEAR in targets else tuple(targets),
        bias=bias,
        modules_to_save=tuple(save),
        feedforward_modules=tuple(feedforward),
    )
    row = ("dora" if dora else "rslora" if rslora else "lora") if adapter == "lora" else adapter
    return settings.spec(row), settings


def fmt_bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.2f} {unit}"
    return f"{n:,} B"


def family_ui(config_json: str, settings: FamilySettings, chosen: str) -> None:
    """Every adapter type on the same modules: counts, share, checkpoint, what its update can express."""
    st.subheader(tr("family.table_header"))
    rows = []
    for row in cached_family(config_json, settings):
        name = tr(f"family.row.{row.key}") + (" ◀" if row.key == chosen else "")
        if row.spec is None:
            label = ADAPTER_LABELS.get(row.key, tr(f"family.row.{row.key}"))
            cells = ("–", "–", "–", tr("family.unavailable", adapter=label))
        else:
            cells = (
                f"{row.trainable_params:,}",
                f"{row.trainable_percent:.4f} %",
                fmt_bytes(row.checkpoint_bytes),
                tr(f"family.expresses.{row.key}"),
            )
        rows.append(dict(zip([tr(f"family.col.{c}") for c in FAMILY_COLS], (name, *cells), strict=True)))
    show_table(pd.DataFrame(rows), "lora-family", key="model_family_csv")
    st.caption(tr("family.table_caption"))


FAMILY_COLS = ("type", "trainable", "share", "checkpoint", "expresses")


st.title(tr("model.title"))
st.write(tr("model.intro"))


@st.fragment
def calculator() -> None:
    """Preset, upload, LoRA settings and the counts. A fragment: a change here reruns only this part
    (not app.py, the sidebar or the title), most of what a student does on this page; see docs/load.md."""
    config = model_ui()
    try:
        spec, settings = spec_ui(config)
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

    family_ui(canonical_json(config), settings, chosen=spec.adapter if spec.adapter != "lora" else _lora_row(spec))

    st.subheader(tr("model.snippet_header"))
    st.code(spec.peft_snippet(), language="python")
    share.link_box("model")  # a fragment rerun leaves the sidebar alone: refresh the link to this view


def _lora_row(spec) -> str:
    return "dora" if spec.use_dora else "rslora" if spec.use_rslora else "lora"


calculator()
