"""Memory page: will this fine-tune fit? Per-component memory of a training step, full vs LoRA vs QLoRA."""

import json
from dataclasses import astuple, replace

import pandas as pd
import streamlit as st

from lora_core.errors import LoraLabError
from lora_core.memory import GiB, TrainingSetup
from lora_core.memory.gpus import CARD_SIZES_GB, GPUS, gpu
from lora_core.memory.setup import ATTENTIONS, METHODS, OPTIMIZERS, PRECISIONS, SHARDINGS
from lora_core.presets import PRESETS, load_preset
from lora_ui import keys
from lora_ui.i18n import tr
from lora_ui.memory_charts import curves_figure, methods_figure, with_point
from lora_ui.memory_inputs import DEFAULT_PRESET, DEFAULT_RANK, DEFAULT_SETUP, DEFAULT_TARGETS, MEMORY_ALPHA
from lora_ui.memory_inputs import memory_spec as _memory_spec
from lora_ui.routing import ensure_routed
from lora_ui.trace_pool import POLL_S
from lora_ui.widgets import show_chart, show_error, show_table

ensure_routed()

RANKS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
SEQS = (128, 256, 512, 1024, 2048, 4096, 8192)
_CACHE = 32  # distinct inputs kept per server process (each entry is a few KB of numbers)


@st.cache_data(max_entries=_CACHE, show_spinner=False)
def compare_cached(config_json: str, spec_fields: tuple, setup_fields: tuple):
    from lora_core.memory.series import compare_methods

    return compare_methods(json.loads(config_json), _spec(spec_fields), TrainingSetup(*setup_fields))


@st.cache_data(max_entries=_CACHE, show_spinner=False)
def series_cached(config_json: str, spec_fields: tuple, setup_fields: tuple, variable: str, values: tuple):
    from lora_core.memory.series import peak_series

    return peak_series(
        json.loads(config_json), _spec(spec_fields), TrainingSetup(*setup_fields), variable, values
    )


@st.cache_data(max_entries=_CACHE, show_spinner=False)
def solve_cached(config_json: str, spec_fields: tuple, setup_fields: tuple, capacity: int, variable: str):
    from lora_core.memory.solver import largest_fitting

    return largest_fitting(
        json.loads(config_json), _spec(spec_fields), TrainingSetup(*setup_fields), capacity, variable
    )


def _spec(fields: tuple):
    targets, r, dora = fields
    return _memory_spec(targets, r, dora)


def traces_ready(config_json: str, spec_fields: tuple, setup_fields: tuple) -> bool:
    """Whether every estimate below answers at once; asks the trace worker for the missing traces."""
    from lora_core.memory.series import traces_ready as ready

    return ready(json.loads(config_json), _spec(spec_fields), TrainingSetup(*setup_fields))


@st.fragment(run_every=POLL_S)
def trace_poller(config_json: str, spec_fields: tuple, setup_fields: tuple) -> None:
    """Registered only while traces are pending: reruns the whole page once they are in (the ready page
    registers no timed fragment, so a browser stops polling)."""
    if traces_ready(config_json, spec_fields, setup_fields):
        st.rerun(scope="app")


def exact_parts(config: dict, spec, setup: TrainingSetup):
    """Weights, gradients and optimizer states per GPU: exact counts that need no trace. Computing them first
    also checks the targets against the model, so a typo shows its error at once and asks for no trace."""
    from lora_core.memory.sharding import shard
    from lora_core.memory.states import state_bytes

    return shard(state_bytes(config, None if setup.method == "full" else spec, setup), setup)


def pending_ui(parts) -> None:
    """Shown while the traces run: what needs none."""
    st.info(tr("memory.tracing"), icon=":material/hourglass_top:")
    cols = st.columns(3)
    for col, (name, value) in zip(
        cols,
        (("weights", parts.weights), ("gradients", parts.gradients), ("optimizer", parts.optimizer)),
        strict=True,
    ):
        col.markdown(f"**{tr(f'memory.comp.{name}')}**: {tr('memory.gib', v=fmt_gib(value))}")


# Option widgets bound to the URL show their codes as options (full / lora / qlora, preset / upload,
# batch / seq / rank) and the translation as each option's caption: Streamlit 1.67 writes a bound widget's
# *formatted* option into the URL, so a translating format_func would make ?mem_method=qlora (the Learn
# page's scenario links) invalid and the Telugu link differ from the English one.


def model_ui() -> tuple[str, dict] | None:
    st.subheader(tr("memory.model_header"))
    c1, c2 = st.columns([1, 2])
    sources = ("preset", "upload")
    source = c1.radio(
        tr("memory.source"),
        sources,
        captions=[tr(f"memory.source_{s}") for s in sources],
        key=keys.MEM_SOURCE,
        bind="query-params",
        horizontal=True,
    )
    if source == "preset":
        name = c2.selectbox(
            tr("memory.preset"),
            PRESETS,
            index=PRESETS.index(DEFAULT_PRESET),
            key=keys.MEM_PRESET,
            bind="query-params",
        )
        return name, load_preset(name)
    from lora_core.config import MAX_CONFIG_BYTES, parse_config

    upload = c2.file_uploader(tr("memory.upload"), type=["json"], key=keys.MEM_UPLOAD)
    if upload is None:
        st.info(tr("memory.upload_missing"))
        return None
    if upload.size > MAX_CONFIG_BYTES:
        raise LoraLabError(f"{upload.name} is {upload.size:,} bytes; the limit is {MAX_CONFIG_BYTES:,}")
    return upload.name, parse_config(upload.getvalue())


def lora_ui() -> tuple:
    c1, c2, c3 = st.columns([2, 1, 1])
    targets = c1.text_input(
        tr("memory.targets"),
        DEFAULT_TARGETS,
        key=keys.MEM_TARGETS,
        bind="query-params",
        help=tr("memory.targets_help"),
    )
    r = c2.number_input(tr("memory.rank"), 1, 4096, DEFAULT_RANK, key=keys.MEM_RANK, bind="query-params")
    dora = c3.checkbox(tr("memory.dora"), False, key=keys.MEM_DORA, bind="query-params")
    return targets, int(r), bool(dora)


def setup_ui() -> tuple:
    st.subheader(tr("memory.training_header"))
    c1, c2, c3 = st.columns(3)
    method = c1.radio(
        tr("memory.method"),
        METHODS,
        index=METHODS.index(DEFAULT_SETUP[0]),
        captions=[tr(f"memory.method.{m}") for m in METHODS],
        key=keys.MEM_METHOD,
        bind="query-params",
    )
    precision = c2.selectbox(
        tr("memory.precision"), PRECISIONS, index=PRECISIONS.index(DEFAULT_SETUP[1]), key=keys.MEM_PRECISION, bind="query-params",
        help=tr("memory.precision_help"),
    )  # fmt: skip
    c2.caption(tr(f"memory.precision.{precision}"))  # the code's meaning (the code itself is the URL value)
    optimizer = c3.selectbox(
        tr("memory.optimizer"), OPTIMIZERS, index=OPTIMIZERS.index(DEFAULT_SETUP[2]), key=keys.MEM_OPTIMIZER,
        bind="query-params",
    )  # fmt: skip
    c3.caption(tr(f"memory.optimizer.{optimizer}"))
    c1, c2, c3, c4 = st.columns(4)
    batch = c1.number_input(
        tr("memory.batch"), 1, 4096, DEFAULT_SETUP[3], key=keys.MEM_BATCH, bind="query-params"
    )
    seq = c2.number_input(
        tr("memory.seq"), 1, 1_048_576, DEFAULT_SETUP[4], step=128, key=keys.MEM_SEQ, bind="query-params"
    )
    ckpt = c3.checkbox(tr("memory.ckpt"), DEFAULT_SETUP[5], key=keys.MEM_CKPT, bind="query-params")
    attention = c4.radio(
        tr("memory.attention"), ATTENTIONS, index=ATTENTIONS.index(DEFAULT_SETUP[6]), key=keys.MEM_ATTENTION, bind="query-params", horizontal=True,
        help=tr("memory.attention_help"),
    )  # fmt: skip
    c4.caption(tr(f"memory.attention.{attention}"))
    c1, c2 = st.columns(2)
    gpus = c1.number_input(
        tr("memory.gpus"), 1, 1024, DEFAULT_SETUP[7], key=keys.MEM_GPUS, bind="query-params"
    )
    sharding = c2.selectbox(
        tr("memory.sharding"), SHARDINGS, index=SHARDINGS.index(DEFAULT_SETUP[8]), key=keys.MEM_SHARDING,
        bind="query-params",
    )  # fmt: skip
    c2.caption(tr(f"memory.sharding.{sharding}"))
    # TrainingSetup's field order: method, precision, optimizer, batch, seq, grad_checkpointing, attention,
    # gpus, sharding (the rest keep their defaults: double quantization on, CUDA kernels).
    return (method, precision, optimizer, int(batch), int(seq), bool(ckpt), attention, int(gpus), sharding)


def fmt_gib(n: int) -> str:
    return f"{n / GiB:,.2f}"


def fmt_size(n: int) -> str:
    return f"{n / GiB:,.2f} GiB" if n >= GiB else f"{n / 2**20:,.1f} MiB"


def summary_ui(e, setup: TrainingSetup) -> None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        tr("memory.metric_peak"),
        tr("memory.gib", v=fmt_gib(e.peak_bytes)),
        help=tr("memory.metric_peak_help"),
    )
    c2.metric(
        tr("memory.metric_total"),
        tr("memory.gib", v=fmt_gib(e.device_total_bytes)),
        help=tr("memory.metric_total_help"),
    )
    c3.metric(tr("memory.metric_trainable"), f"{e.trainable_params:,}")
    c4.metric(tr("memory.metric_checkpoint"), fmt_size(e.checkpoint_bytes))
    st.caption(tr("memory.phase", phase=tr(f"memory.phase.{e.phase}")))
    if setup.gpus > 1:
        st.caption(tr("memory.per_gpu", sharding=tr(f"memory.sharding.{setup.sharding}"), gpus=setup.gpus))


def components_ui(e, setup: TrainingSetup) -> None:
    st.subheader(tr("memory.components_header", method=tr(f"memory.method.{setup.method}")))
    parts = [
        ("weights", e.weights_bytes, {"dtype": setup.param_dtype}),
        ("adapter", e.adapter_bytes, {}),
        ("gradients", e.gradients_bytes, {}),
        ("optimizer", e.optimizer_bytes, {}),
        ("activations", e.activations_bytes, {}),
        ("peak", e.peak_bytes, {}),
        ("reserved", e.reserved_bytes, {}),
        ("context", e.cuda_context_bytes, {}),
    ]
    cols = st.columns(4)
    for i, (name, value, fmt) in enumerate(parts):
        with cols[i % 4]:
            st.markdown(f"**{tr(f'memory.comp.{name}')}**: {tr('memory.gib', v=fmt_gib(value))}")
            st.caption(tr(f"memory.why.{name}", **fmt))


def charts_ui(config_json, spec_fields, setup_fields, setup, estimates) -> None:
    from lora_core.memory.series import SEGMENTS, fits_on, segments

    method_names = {m: tr(f"memory.method.{m}") for m in estimates}
    bars = {method_names[m]: segments(e) for m, e in estimates.items()}
    seg_labels = {s: tr(f"memory.seg.{s}") for s in SEGMENTS}
    labels = {"title": tr("memory.chart_methods_title"), "y": tr("memory.chart_y"), "card": tr("memory.card")}
    show_chart(
        methods_figure(bars, seg_labels, CARD_SIZES_GB, labels), "memory-by-method", key="mem_chart_methods"
    )

    st.subheader(tr("memory.fits_header"))
    current = estimates[setup.method]
    rows = [
        {
            tr("memory.col.gpu"): f.gpu.name,
            tr("memory.col.vendor_gb"): f.gpu.vendor_gb,
            tr("memory.col.fits"): tr("memory.yes") if f.fits else tr("memory.no"),
            tr("memory.col.headroom"): round(f.headroom_bytes / GiB, 2),
        }
        for f in fits_on(current)
    ]
    show_table(pd.DataFrame(rows), "memory-fits-on", key="mem_fits_csv")
    st.caption(tr("memory.fits_caption"))

    c1, c2 = st.columns(2)
    # Each curve is cached without the input it sweeps (the rank curve does not depend on the current rank,
    # nor the sequence curve on the current sequence length), so moving that input is a cache hit.
    with c1:
        any_rank = (spec_fields[0], RANKS[0], spec_fields[2])
        series = series_cached(config_json, any_rank, setup_fields, "rank", RANKS)
        labels = {
            "title": tr("memory.chart_rank_title"), "x": tr("memory.chart_rank_x"), "y": tr("memory.chart_y"),
            "card": tr("memory.card"), "current": tr("memory.current"),
        }  # fmt: skip
        fig = curves_figure(list(RANKS), series, method_names, CARD_SIZES_GB, labels, current=spec_fields[1])
        show_chart(fig, "memory-vs-rank", key="mem_chart_rank")
    with c2:
        any_seq = astuple(replace(setup, seq=SEQS[0]))  # the curve's cache key, whatever the current seq
        grid = series_cached(config_json, spec_fields, any_seq, "seq", SEQS)
        here = {m: e.device_total_bytes for m, e in estimates.items()}  # the current seq, computed above
        seqs, series = with_point(list(SEQS), grid, setup.seq, here)
        labels = {
            "title": tr("memory.chart_seq_title"), "x": tr("memory.chart_seq_x"), "y": tr("memory.chart_y"),
            "card": tr("memory.card"), "current": tr("memory.current"),
        }  # fmt: skip
        fig = curves_figure(seqs, series, method_names, CARD_SIZES_GB, labels, current=setup.seq)
        show_chart(fig, "memory-vs-seq", key="mem_chart_seq")


def solver_inputs_ui() -> tuple[str, str]:
    """The solver's GPU and variable. Drawn while traces are pending too: a bound widget that is not drawn
    leaves the URL, and a link copied meanwhile would lose the student's choice."""
    st.subheader(tr("memory.solver_header"))
    c1, c2 = st.columns(2)
    names = [g.name for g in GPUS]
    name = c1.selectbox(tr("memory.solve_gpu"), names, index=names.index("NVIDIA RTX 4090"), key=keys.MEM_SOLVE_GPU, bind="query-params")  # fmt: skip
    variables = ("batch", "seq", "rank")
    variable = c2.radio(
        tr("memory.solve_var"), variables, captions=[tr(f"memory.var.{v}") for v in variables],
        key=keys.MEM_SOLVE_VAR, bind="query-params", horizontal=True,
    )  # fmt: skip
    return name, variable


def solver_ui(config_json, spec_fields, setup_fields, setup) -> None:
    name, variable = solver_inputs_ui()
    if variable == "rank" and setup.method == "full":
        st.info(tr("memory.solve_rank_full"))
        return
    card = gpu(name)
    sol = solve_cached(config_json, spec_fields, setup_fields, card.bytes, variable)
    fmt = {
        "var": tr(f"memory.var.{variable}"),
        "gpu": name,
        "cap": fmt_gib(card.bytes),
        "used": fmt_gib(sol.used_bytes),
    }
    if sol.value == 0:
        st.warning(tr("memory.solve_none", **fmt))
    elif sol.capped:
        st.success(tr("memory.solve_capped", value=sol.value, **fmt))
    else:
        st.success(tr("memory.solve_result", value=sol.value, **fmt))


def results_ui(config_json: str, spec_fields: tuple, setup_fields: tuple, setup: TrainingSetup) -> None:
    with st.spinner():
        estimates = compare_cached(config_json, spec_fields, setup_fields)
    current = estimates[setup.method]
    summary_ui(current, setup)
    components_ui(current, setup)
    try:
        charts_ui(config_json, spec_fields, setup_fields, setup, estimates)
        solver_ui(config_json, spec_fields, setup_fields, setup)
    except LoraLabError as exc:
        show_error(exc)


def snippet_ui(spec_fields: tuple, setup: TrainingSetup) -> None:
    if setup.method != "full":  # the adapter these figures assume, to paste into a training script
        st.subheader(tr("memory.snippet_header"))
        st.caption(tr("memory.snippet_note", alpha=MEMORY_ALPHA))
        st.code(_spec(spec_fields).peft_snippet(), language="python")


def page() -> None:
    st.title(tr("memory.title"))
    st.write(tr("memory.intro"))
    try:
        loaded = model_ui()
        spec_fields = lora_ui()
        setup_fields = setup_ui()
        if loaded is None:
            return
        _source, config = loaded
        config_json = json.dumps(config, sort_keys=True)
        setup = TrainingSetup(*setup_fields)  # validates; a bad shared link lands in show_error
        parts = exact_parts(config, _spec(spec_fields), setup)
        # Never wait for a trace here: while one runs in the worker, show what needs none and poll.
        if not traces_ready(config_json, spec_fields, setup_fields):
            pending_ui(parts)
            solver_inputs_ui()  # the answer comes with the traces
            trace_poller(config_json, spec_fields, setup_fields)
            snippet_ui(spec_fields, setup)
            return
        results_ui(config_json, spec_fields, setup_fields, setup)
    except LoraLabError as exc:
        show_error(exc)
        return
    snippet_ui(spec_fields, setup)


page()
