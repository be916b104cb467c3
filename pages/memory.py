"""Memory page: will this fine-tune fit? Per-component memory of a training step, full vs LoRA vs QLoRA.

Every input change answers with the complete estimate in the same rerun: a recipe nobody has asked for yet is
traced once, in a fraction of a second, in a trace worker process (lora_ui/workers/trace.py; in this thread when
none is idle) while the rerun waits; an uploaded architecture the first time in up to a few seconds, under a
spinner. A new point's caching-allocator replay runs in a replay worker process while the page draws.
"""

import json

import pandas as pd
import streamlit as st

from lora_core.errors import LoraLabError
from lora_core.family import ADAPTERS
from lora_core.family.specs import SPEC_CLASSES
from lora_core.memory import GiB, TrainingSetup
from lora_core.memory.gpus import CARD_SIZES_GB, GPUS, gpu
from lora_core.memory.setup import (
    ATTENTIONS,
    MAX_BATCH,
    MAX_GPUS,
    MAX_SEQ,
    METHODS,
    OPTIMIZERS,
    PRECISIONS,
    SHARDINGS,
)
from lora_core.memory.solver import VARIABLES, SolverQuestion
from lora_core.presets import PRESETS, load_preset
from lora_core.spec import BIAS_CHOICES, MAX_OFFERED_RANK, LoraSpec
from lora_ui import keys
from lora_ui.i18n import tr
from lora_ui.memory_charts import curves_figure, methods_figure, with_point
from lora_ui.memory_inputs import (
    DEFAULT_PRESET,
    DEFAULT_RANK,
    DEFAULT_TARGETS,
    MEMORY_ALPHA,
    default_setup,
    memory_spec,
)
from lora_ui.routing import ensure_routed
from lora_ui.widgets import show_chart, show_error, show_table
from lora_ui.workers.replay import get_replayer
from lora_ui.workers.trace import Tracing, get_tracer

ensure_routed()

RANKS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
SEQS = (128, 256, 512, 1024, 2048, 4096, 8192)
_CACHE = 32  # distinct inputs kept per server process (each entry is a few KB of numbers)
ADAPTER_LABELS = {a: cls.label for a, cls in SPEC_CLASSES.items()}  # "vera" -> "VeRA"
DEFAULT = default_setup()


@st.cache_data(max_entries=_CACHE, show_spinner=False)
def compare_cached(config_json: str, spec: LoraSpec, setup: TrainingSetup):
    """The three methods on the fast path (the methods chart, like the curves: docs/memory.md "Speed")."""
    from lora_core.memory.series import compare_methods

    return compare_methods(json.loads(config_json), spec, setup, replay=False)


@st.cache_data(max_entries=_CACHE, show_spinner=False)
def estimate_cached(config_json: str, spec: LoraSpec, setup: TrainingSetup):
    """The chosen method's estimate with the caching-allocator replay: the headline and the fits table."""
    from lora_core.memory import estimate_memory

    return estimate_memory(json.loads(config_json), spec, setup, replayer=get_replayer())


@st.cache_data(max_entries=_CACHE, show_spinner=False)
def series_cached(config_json: str, spec: LoraSpec, setup: TrainingSetup, variable: str, values: tuple):
    from lora_core.memory.series import peak_series

    return peak_series(json.loads(config_json), spec, setup, variable, values)


@st.cache_data(max_entries=_CACHE, show_spinner=False)
def solve_cached(config_json: str, spec: LoraSpec, setup: TrainingSetup, question: SolverQuestion):
    from lora_core.memory.solver import largest_fitting

    card = gpu(question.gpu)
    return largest_fitting(
        json.loads(config_json), spec, setup, card.bytes, question.variable, gpu=card, replayer=get_replayer()
    )


def traced_already(config: dict, spec: LoraSpec, setup: TrainingSetup) -> bool:
    """Whether every method's activation model is in the core's cache (then no spinner is needed)."""
    from lora_core.memory.series import methods_for
    from lora_core.memory.trace import is_cached

    return all(is_cached(config, spec, setup.replace(method=m)) for m in methods_for(setup, spec))


# Option widgets bound to the URL show their codes as options (full / lora / qlora, preset / upload,
# batch / seq / rank) and the translation as each option's caption: Streamlit 1.67 writes a bound widget's
# *formatted* option into the URL, so a translating format_func would make ?mem_method=qlora (the Learn
# page's scenario links) invalid and the Telugu link differ from the English one.


def model_ui() -> dict | None:
    """The model's config: a preset's, or the visitor's config.json (None until one is given)."""
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
        return load_preset(name)
    from lora_core.config import MAX_CONFIG_BYTES, parse_config

    upload = c2.file_uploader(tr("memory.upload"), type=["json"], key=keys.MEM_UPLOAD)
    if upload is None:
        st.info(tr("memory.upload_missing"))
        return None
    if upload.size > MAX_CONFIG_BYTES:
        raise LoraLabError("file.too_large", name=upload.name, size=upload.size, limit=MAX_CONFIG_BYTES)
    return parse_config(upload.getvalue())


def lora_ui():
    """The adapter: its PEFT type and the settings that type has (the others stay drawn, disabled: a bound
    widget that is not drawn leaves the URL)."""
    c0, c1, c2, c3 = st.columns([1, 2, 1, 1])
    adapter = c0.selectbox(
        tr("family.adapter"), ADAPTERS, key=keys.MEM_ADAPTER, bind="query-params", help=tr("family.adapter_help")
    )
    targets = c1.text_input(
        tr("memory.targets"),
        DEFAULT_TARGETS,
        key=keys.MEM_TARGETS,
        bind="query-params",
        help=tr("memory.targets_help"),
    )
    r = c2.number_input(
        tr("memory.rank"), 1, MAX_OFFERED_RANK, DEFAULT_RANK, key=keys.MEM_RANK, bind="query-params",
        disabled=adapter == "ia3", help=tr("family.rank_help"),
    )  # fmt: skip
    dora = c3.checkbox(tr("memory.dora"), False, key=keys.MEM_DORA, bind="query-params", disabled=adapter != "lora")
    rslora = c3.checkbox(
        tr("family.rslora"), False, key=keys.MEM_RSLORA, bind="query-params", disabled=adapter != "lora",
        help=tr("family.rslora_help"),
    )  # fmt: skip
    st.caption(tr(f"family.trains.{adapter}"))
    c1, c2 = st.columns([1, 2])
    no_bias = adapter in ("loha", "lokr", "ia3")
    bias = c1.selectbox(
        tr("memory.bias"), BIAS_CHOICES, key=keys.MEM_BIAS, bind="query-params", help=tr("memory.bias_help"),
        disabled=no_bias,
    )  # fmt: skip
    if no_bias:
        c1.caption(tr("family.no_bias", adapter=ADAPTER_LABELS[adapter]))
    else:
        c1.caption(tr(f"model.bias.{bias}"))  # the code's meaning (the code itself is the URL value)
        if adapter == "vera" and bias == "lora_only":
            c1.caption(tr("family.vera_bias"))
    saved = c2.text_input(
        tr("memory.save"), "", key=keys.MEM_SAVE, bind="query-params", help=tr("memory.save_help")
    )
    c1, c2 = st.columns(2)
    rank_pattern = c1.text_input(
        tr("family.rank_pattern"), "", key=keys.MEM_RANK_PATTERN, bind="query-params",
        disabled=adapter not in ("lora", "loha", "lokr"), help=tr("family.rank_pattern_help"),
    )  # fmt: skip
    feedforward = c2.text_input(
        tr("family.feedforward"), "", key=keys.MEM_FEEDFORWARD, bind="query-params", disabled=adapter != "ia3",
        help=tr("family.feedforward_help"),
    )  # fmt: skip
    if adapter in ("loha", "lokr"):
        st.caption(tr("family.no_4bit_note", adapter=ADAPTER_LABELS[adapter]))
    elif adapter != "lora":
        st.caption(tr("family.methods_note", adapter=ADAPTER_LABELS[adapter]))
    return memory_spec(
        targets, int(r), bool(dora), bias, saved,
        adapter=adapter, rank_pattern=rank_pattern, rslora=bool(rslora), feedforward=feedforward,
    )  # fmt: skip


def setup_ui() -> TrainingSetup:
    """The training step, validated by TrainingSetup (a bad shared link lands in show_error)."""
    st.subheader(tr("memory.training_header"))
    c1, c2, c3 = st.columns(3)
    method = c1.radio(
        tr("memory.method"),
        METHODS,
        index=METHODS.index(DEFAULT.method),
        captions=[tr(f"memory.method.{m}") for m in METHODS],
        key=keys.MEM_METHOD,
        bind="query-params",
    )
    precision = c2.selectbox(
        tr("memory.precision"), PRECISIONS, index=PRECISIONS.index(DEFAULT.precision), key=keys.MEM_PRECISION,
        bind="query-params", help=tr("memory.precision_help"),
    )  # fmt: skip
    c2.caption(tr(f"memory.precision.{precision}"))  # the code's meaning (the code itself is the URL value)
    optimizer = c3.selectbox(
        tr("memory.optimizer"), OPTIMIZERS, index=OPTIMIZERS.index(DEFAULT.optimizer), key=keys.MEM_OPTIMIZER,
        bind="query-params",
    )  # fmt: skip
    c3.caption(tr(f"memory.optimizer.{optimizer}"))
    c1, c2, c3, c4 = st.columns(4)
    batch = c1.number_input(
        tr("memory.batch"), 1, MAX_BATCH, DEFAULT.batch, key=keys.MEM_BATCH, bind="query-params"
    )
    seq = c2.number_input(
        tr("memory.seq"), 1, MAX_SEQ, DEFAULT.seq, step=128, key=keys.MEM_SEQ, bind="query-params"
    )
    ckpt = c3.checkbox(tr("memory.ckpt"), DEFAULT.grad_checkpointing, key=keys.MEM_CKPT, bind="query-params")
    attention = c4.radio(
        tr("memory.attention"), ATTENTIONS, index=ATTENTIONS.index(DEFAULT.attention), key=keys.MEM_ATTENTION,
        bind="query-params", horizontal=True, help=tr("memory.attention_help"),
    )  # fmt: skip
    c4.caption(tr(f"memory.attention.{attention}"))
    c1, c2 = st.columns(2)
    gpus = c1.number_input(tr("memory.gpus"), 1, MAX_GPUS, DEFAULT.gpus, key=keys.MEM_GPUS, bind="query-params")
    sharding = c2.selectbox(
        tr("memory.sharding"), SHARDINGS, index=SHARDINGS.index(DEFAULT.sharding), key=keys.MEM_SHARDING,
        bind="query-params",
    )  # fmt: skip
    c2.caption(tr(f"memory.sharding.{sharding}"))
    return TrainingSetup(
        method=method,
        precision=precision,
        optimizer=optimizer,
        batch=int(batch),
        seq=int(seq),
        grad_checkpointing=bool(ckpt),
        attention=attention,
        gpus=int(gpus),
        sharding=sharding,
    )


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
    st.caption(band_text())
    if setup.gpus > 1:
        st.caption(tr("memory.per_gpu", sharding=tr(f"memory.sharding.{setup.sharding}"), gpus=setup.gpus))


def band_text() -> str:
    """The GPU validation's band and the margin "Fits on" uses (lora_core/memory/uncertainty.py)."""
    from lora_core.memory.uncertainty import gpu_band

    band = gpu_band()
    if not band.rows:
        return tr("memory.band_none")
    low, high, margin = band.percent()
    return tr("memory.band", rows=band.rows, low=f"{low:+.1f}", high=f"{high:+.1f}", margin=f"{margin:.1f}")


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
        why = "reserved_rounded" if name == "reserved" and e.reserved_source != "replay" else name
        with cols[i % 4]:
            st.markdown(f"**{tr(f'memory.comp.{name}')}**: {tr('memory.gib', v=fmt_gib(value))}")
            st.caption(tr(f"memory.why.{why}", **fmt))


def methods_chart_ui(estimates) -> None:
    from lora_core.memory.series import SEGMENTS, segments

    method_names = {m: tr(f"memory.method.{m}") for m in estimates}
    bars = {method_names[m]: segments(e) for m, e in estimates.items()}
    seg_labels = {s: tr(f"memory.seg.{s}") for s in SEGMENTS}
    labels = {"title": tr("memory.chart_methods_title"), "y": tr("memory.chart_y"), "card": tr("memory.card")}
    show_chart(
        methods_figure(bars, seg_labels, CARD_SIZES_GB, labels), "memory-by-method", key="mem_chart_methods"
    )


def fits_ui(current) -> None:
    from lora_core.memory.series import fits_on

    st.subheader(tr("memory.fits_header"))
    fits = fits_on(current)  # the replayed estimate of the chosen method
    rows = [
        {
            tr("memory.col.gpu"): f.gpu.name,
            tr("memory.col.vendor_gb"): f.gpu.vendor_gb,
            tr("memory.col.capacity"): f.gpu.total_mib,
            tr("memory.col.fits"): tr(f"memory.{f.verdict}"),
            tr("memory.col.headroom"): round(f.headroom_bytes / GiB, 2),
        }
        for f in fits
    ]
    show_table(pd.DataFrame(rows), "memory-fits-on", key="mem_fits_csv")
    st.caption(tr("memory.fits_caption", margin=f"{100 * fits[0].margin:.1f}"))


def curves_ui(config_json: str, spec: LoraSpec, setup: TrainingSetup, estimates) -> None:
    method_names = {m: tr(f"memory.method.{m}") for m in estimates}
    c1, c2 = st.columns(2)
    # Each curve is cached without the input it sweeps (the rank curve does not depend on the current rank,
    # nor the sequence curve on the current sequence length), so moving that input is a cache hit.
    with c1:
        series = series_cached(config_json, spec.with_rank(RANKS[0]), setup, "rank", RANKS)
        labels = {
            "title": tr("memory.chart_rank_title"), "x": tr("memory.chart_rank_x"), "y": tr("memory.chart_y"),
            "card": tr("memory.card"), "current": tr("memory.current"),
        }  # fmt: skip
        fig = curves_figure(list(RANKS), series, method_names, CARD_SIZES_GB, labels, current=spec.rank)
        show_chart(fig, "memory-vs-rank", key="mem_chart_rank")
        if spec.rank is None:
            st.caption(tr("family.rank_none"))
    with c2:
        grid = series_cached(config_json, spec, setup.replace(seq=SEQS[0]), "seq", SEQS)
        here = {m: e.device_total_bytes for m, e in estimates.items()}  # the current seq, computed above
        seqs, series = with_point(list(SEQS), grid, setup.seq, here)
        labels = {
            "title": tr("memory.chart_seq_title"), "x": tr("memory.chart_seq_x"), "y": tr("memory.chart_y"),
            "card": tr("memory.card"), "current": tr("memory.current"),
        }  # fmt: skip
        fig = curves_figure(seqs, series, method_names, CARD_SIZES_GB, labels, current=setup.seq)
        show_chart(fig, "memory-vs-seq", key="mem_chart_seq")


def solver_inputs_ui() -> SolverQuestion:
    """The solver's GPU and variable. Drawn whenever the page has inputs (also when the estimate failed): a
    bound widget that is not drawn leaves the URL, and a link copied meanwhile would lose the student's choice."""
    st.subheader(tr("memory.solver_header"))
    c1, c2 = st.columns(2)
    names = [g.name for g in GPUS]
    name = c1.selectbox(tr("memory.solve_gpu"), names, index=names.index("NVIDIA RTX 4090"), key=keys.MEM_SOLVE_GPU, bind="query-params")  # fmt: skip
    variable = c2.radio(
        tr("memory.solve_var"), VARIABLES, captions=[tr(f"memory.var.{v}") for v in VARIABLES],
        key=keys.MEM_SOLVE_VAR, bind="query-params", horizontal=True,
    )  # fmt: skip
    return SolverQuestion(gpu=name, variable=variable)


def solver_ui(config_json: str, spec: LoraSpec, setup: TrainingSetup, question: SolverQuestion) -> None:
    name, variable = question.gpu, question.variable
    card = gpu(name)
    sol = solve_cached(config_json, spec, setup, question)
    fmt = {
        "var": tr(f"memory.var.{variable}"),
        "gpu": name,
        "cap": fmt_gib(card.bytes),
        "used": fmt_gib(sol.used_bytes),
        "margin": f"{100 * sol.margin:.1f}",
    }
    if sol.value == 0:
        st.warning(tr("memory.solve_none", **fmt))
    elif sol.capped:
        st.success(tr("memory.solve_capped", value=sol.value, **fmt))
    else:
        st.success(tr("memory.solve_result", value=sol.value, **fmt))


@st.fragment
def solver_fragment(config_json: str, spec: LoraSpec, setup: TrainingSetup) -> None:
    """The reverse question, answered when asked: each answer replays the caching allocator at least once
    (90-250 ms for the 7B-13B presets, 200-300 ms for the 70B ones: docs/memory.md "Speed"), too much to pay on every change of the
    page. A fragment: choosing the GPU or pressing the button reruns only this part. The answer stays shown
    while the question (model, spec, setup, GPU, variable) is the one asked."""
    asked = solver_inputs_ui()
    variable = asked.variable
    if variable == "rank" and setup.method == "full":  # questions without an answer say so at once
        st.info(tr("memory.solve_rank_full"))
        return
    if variable == "rank" and spec.rank is None:
        st.info(tr("family.solve_rank_none", adapter=ADAPTER_LABELS[spec.adapter]))
        return
    question = (hash(config_json), spec, setup, asked)
    # Recorded by on_click, before the run: a button's True lasts one run, and a run can end in a rerun.
    st.button(
        tr("memory.solve_button"), key=keys.MEM_SOLVE_RUN, icon=":material/search:",
        on_click=st.session_state.__setitem__, args=(keys.MEM_SOLVE_ASKED, question),
    )  # fmt: skip
    if st.session_state.get(keys.MEM_SOLVE_ASKED) != question:
        st.caption(tr("memory.solve_hint"))
        return
    try:
        solver_ui(config_json, spec, setup, asked)
    except LoraLabError as exc:
        show_error(exc)


def results_ui(config: dict, spec: LoraSpec, setup: TrainingSetup) -> None:
    config_json = json.dumps(config, sort_keys=True)
    # Presets answer in a fraction of a second; an uploaded architecture's first trace takes a few seconds.
    replays, tracer = get_replayer(), get_tracer()
    replays.warm()  # a worker ready for the next change's replay
    tracer.warm()  # started with the server (lora_ui/serve.py); again after a quiet spell
    traced = traced_already(config, spec, setup)
    tracing = Tracing(0)
    with st.spinner(None if traced else tr("memory.tracing")):
        # A recipe the core has not traced yet is traced in a worker process (lora_ui/workers/trace.py), so
        # that the other visitors' reruns do not wait for it; the core calls below then trace nothing. That
        # worker then replays the chosen method (its step plan built there, not in this thread).
        if not traced:
            from lora_core.memory.series import compared_methods

            setups = [setup.replace(method=m) for m in compared_methods(setup, spec)]
            tracing = tracer.trace(config, spec, setups, replay=setup)
        # The chosen method's caching-allocator replay, when not known yet, runs in a worker process (the trace
        # worker's, else lora_ui/workers/replay.py's) while this thread computes and draws the fast path's
        # parts: the methods' chart and the curves. The headline, the components and the fits table, which
        # state the replayed numbers, are drawn last, into their places above and between (the same page, the
        # same run).
        if not tracing.replay:
            replays.prefetch(config, spec, setup)
        estimates = compare_cached(config_json, spec, setup)
    head, charts = st.container(), st.container()
    with charts:
        try:
            methods_chart_ui(estimates)
        except LoraLabError as exc:
            show_error(exc)
        fits = st.container()
        try:
            curves_ui(config_json, spec, setup, estimates)
        except LoraLabError as exc:
            show_error(exc)
    tracing.wait()
    current = estimate_cached(config_json, spec, setup)
    with head:
        summary_ui(current, setup)
        components_ui(current, setup)
    with fits:
        fits_ui(current)
    solver_fragment(config_json, spec, setup)  # its inputs are drawn once per run, from here on


def snippet_ui(spec, setup: TrainingSetup) -> None:
    spec = setup.adapter_spec(spec)
    if spec is not None:  # the adapter these figures assume, to paste into a training script
        st.subheader(tr("memory.snippet_header"))
        if hasattr(spec, "alpha"):  # VeRA and IA3 have no alpha
            st.caption(tr("memory.snippet_note", alpha=MEMORY_ALPHA))
        st.code(spec.peft_snippet(), language="python")


def page() -> None:
    st.title(tr("memory.title"))
    st.write(tr("memory.intro"))
    try:
        config = model_ui()
        spec = lora_ui()
        setup = setup_ui()
    except LoraLabError as exc:  # a bad shared link or upload: the inputs above stay usable
        show_error(exc)
        solver_inputs_ui()
        return
    if config is None:
        solver_inputs_ui()
        return
    try:
        results_ui(config, spec, setup)
    except LoraLabError as exc:
        show_error(exc)
        solver_inputs_ui()
        return
    snippet_ui(spec, setup)


page()
