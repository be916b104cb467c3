"""Fit page: train a rank-r LoRA live and compare it with the floor (lora_core.fit does the work).

The fit runs in a worker process from lora_ui.workers.fit (bounded across sessions); this page reads the
controls into the core's dataclasses (FitSettings, and TargetSettings or RegressionSettings), submits a job,
and redraws its progress from a `run_every` fragment, so other widgets never cancel it. The job (losses
included) lives in session state, so any rerun redraws it.
"""

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from lora_ui.i18n import join_sentences, tr
from lora_ui.routing import ensure_routed

ensure_routed()

st.title(tr("fit.title"))
st.caption(tr("fit.intro"))

from lora_core import fit
from lora_core.errors import LoraLabError
from lora_ui import fit_charts
from lora_ui import keys as K
from lora_ui.fit_live import FIRST_WAIT_S, LIVE_POINTS, REDRAW_S, ask, show_queued
from lora_ui.fit_race import race_section
from lora_ui.widgets import show_chart, show_error
from lora_ui.workers.fit import get_runner, session_alive_check

# Two inputs end below the core's bounds (fit.MAX_NOISE, fit.MAX_LR, which the CLI takes), on purpose: noise up
# to 10 x the signal (past it the target is noise), and a learning rate up to 1 (past it the default fit stops
# converging: lora_core/fit/settings.py MAX_LR).
PAGE_MAX_NOISE = 10.0
PAGE_MAX_LR = 1.0
MODES = ("matrix", "regression")
SOURCES = ("generated", "upload")

# Choice widgets bound to the URL show their raw tokens: Streamlit 1.67 writes the *formatted* option into
# the URL, so a translated format_func would make links depend on the language. The translated meaning is
# the caption under each. Nothing below validates or computes: a FitTask checks its parts when Train is
# pressed, so a bad size shows an error then, and the page keeps working.


def mode_ui() -> str:
    """matrix or regression."""
    mode = st.radio(tr("fit.mode"), MODES, key=K.FIT_MODE, bind="query-params", horizontal=True)
    st.caption(tr(f"fit.mode.{mode}"))
    return mode


def target_ui(columns) -> fit.TargetSettings | UploadedFile | None:
    """Matrix mode's target: a generated one's settings, or the visitor's file (None until one is given)."""
    c1, c2, c3, c4 = columns
    source = c1.radio(tr("fit.source"), SOURCES, key=K.FIT_SOURCE, bind="query-params")
    c1.caption(tr(f"fit.source.{source}"))
    if source == "upload":
        return st.file_uploader(
            tr("fit.upload"),
            type=list(fit.NUMERIC_KINDS),  # numeric arrays only (issue 6); the CLI also reads images
            key=K.FIT_UPLOAD,
        )
    rows = c2.number_input(
        tr("fit.rows"), 1, fit.MAX_SIDE, fit.DEFAULT_ROWS, key=K.FIT_ROWS, bind="query-params"
    )
    cols = c2.number_input(
        tr("fit.cols"), 1, fit.MAX_SIDE, fit.DEFAULT_COLS, key=K.FIT_COLS, bind="query-params"
    )
    true_rank = c3.number_input(
        tr("fit.true_rank"), 1, fit.MAX_SIDE, fit.DEFAULT_TRUE_RANK, key=K.FIT_K, bind="query-params"
    )
    profile = c3.selectbox(
        tr("fit.profile"),
        fit.PROFILES,
        index=fit.PROFILES.index(fit.DEFAULT_PROFILE),
        key=K.FIT_PROFILE,
        bind="query-params",
    )
    c3.caption(tr(f"fit.profile.{profile}"))
    noise = c4.number_input(
        tr("fit.noise"),
        0.0,
        PAGE_MAX_NOISE,
        fit.DEFAULT_NOISE,
        step=0.01,
        help=tr("fit.noise_help"),
        key=K.FIT_NOISE,
        bind="query-params",
    )
    return fit.TargetSettings(rows=rows, cols=cols, true_rank=true_rank, profile=profile, noise=noise)


def regression_ui(columns) -> fit.RegressionSettings:
    """Regression mode's data: the seed's experiment at the chosen size."""
    c1, c2, c3, _ = columns
    samples = c1.number_input(
        tr("fit.samples"), 1, fit.MAX_SAMPLES, fit.DEFAULT_SAMPLES, key=K.FIT_SAMPLES, bind="query-params"
    )
    d_in = c2.number_input(
        tr("fit.d_in"), 1, fit.MAX_SIDE, fit.DEFAULT_D_IN, key=K.FIT_ROWS, bind="query-params"
    )
    d_out = c2.number_input(
        tr("fit.d_out"), 1, fit.MAX_SIDE, fit.DEFAULT_D_OUT, key=K.FIT_COLS, bind="query-params"
    )
    shift = c3.selectbox(tr("fit.shift"), fit.SHIFTS, key=K.FIT_SHIFT, bind="query-params")
    c3.caption(tr(f"fit.shift.{shift}"))
    shift_rank = c3.number_input(tr("fit.shift_rank"), 1, fit.MAX_SIDE, 1, key=K.FIT_K, bind="query-params")
    return fit.RegressionSettings(samples=samples, d_in=d_in, d_out=d_out, shift=shift, shift_rank=shift_rank)


def settings_ui(default_r: int) -> fit.FitSettings:
    """How to train. The widgets' bounds lie within FitSettings' own, so building it never raises."""
    d1, d2, d3, d4, d5 = st.columns(5)
    r = d1.number_input(tr("fit.r"), 1, fit.MAX_RANK, default_r, key=K.FIT_R, bind="query-params")
    alpha = d2.number_input(
        tr("fit.alpha"), 0.01, fit.MAX_FIT_ALPHA, fit.DEFAULT_ALPHA, key=K.FIT_ALPHA, bind="query-params"
    )
    steps = d3.number_input(
        tr("fit.steps"), 1, fit.MAX_STEPS, fit.DEFAULT_STEPS, step=100, key=K.FIT_STEPS, bind="query-params"
    )
    lr = d4.number_input(
        tr("fit.lr"), 1e-5, PAGE_MAX_LR, fit.DEFAULT_LR, step=0.005, format="%.4f", key=K.FIT_LR, bind="query-params"
    )
    seed = d5.number_input(tr("fit.seed"), 0, fit.MAX_SEED, 0, key=K.FIT_SEED, bind="query-params")
    converge = st.checkbox(
        tr("fit.converge"), True, help=tr("fit.converge_help"), key=K.FIT_CONVERGE, bind="query-params"
    )
    return fit.FitSettings(r=r, alpha=alpha, steps=steps, lr=lr, seed=seed, converge=converge)


Source = fit.TargetSettings | fit.RegressionSettings | UploadedFile | None


def task_of(
    kind: str, settings: fit.FitSettings, source: Source, race: fit.RaceSettings | None = None
) -> fit.FitTask:
    """The fit, sweep or race to run, as plain values (FitTask checks the sizes: a bad one shows an error at
    once).

    An upload is parsed here, in the script (never in the worker), into a numpy array; a generated target
    and the regression data are made by the worker."""
    if isinstance(source, fit.RegressionSettings):
        return fit.FitTask(kind, settings, regression=source, race=race)
    if isinstance(source, fit.TargetSettings):
        return fit.FitTask(kind, settings, generated=source, race=race)
    if source is None:
        raise LoraLabError("app.upload_needed")
    target = fit.parse_target(source.name, source.getvalue(), fit.NUMERIC_KINDS)  # (rows, cols) float32
    return fit.FitTask(kind, settings, target=target.numpy(), race=race)


def loss_labels() -> dict:
    return {k: tr(f"fit.chart.{k}") for k in ("title", "x", "y", "loss", "floor")}


def draw_live(job) -> None:
    """Progress, Stop, and the loss curve of a queued or running job."""
    st.button(tr("fit.stop"), key=K.FIT_STOP, icon=":material/stop:", on_click=job.cancel)
    if show_queued(job):
        return
    losses = list(job.losses)  # a snapshot: the worker keeps appending
    step = max(len(losses) - 1, 0)
    loss = f"{losses[-1]:.4g}" if losses else "-"
    st.progress(
        min(step / max(job.total_steps, 1), 1.0),
        text=tr("fit.progress", step=step, total=job.total_steps, loss=loss),
    )
    placeholder = st.empty()
    if losses:
        with placeholder.container():
            show_chart(
                fit_charts.loss_chart(losses, job.floor, loss_labels(), max_points=LIVE_POINTS),
                "fit_loss",
                key="fit_live_chart",
            )


@st.fragment(run_every=REDRAW_S)
def live_panel() -> None:
    job = st.session_state.get(K.FIT_JOB)
    if job is None:
        return
    draw_live(job)
    if not job.active:
        st.rerun()  # the fit ended: one full rerun draws the results and stops this polling


def draw_results(job) -> None:
    if job.error is not None:
        show_error(job.error)
        return
    result = job.result
    if result is None:  # cancelled while queued, or before the first step
        st.info(tr("fit.stopped", step=job.step))
        return
    p = result.payload
    st.subheader(tr("fit.results"))
    cols = st.columns(5)
    gap = (p["final_loss"] - p["optimal_loss"]) / p["optimal_loss"] if p["optimal_loss"] > 0 else 0.0
    cols[0].metric(tr("fit.metric.final"), f"{p['final_loss']:.4g}")
    cols[1].metric(tr("fit.metric.floor"), f"{p['optimal_loss']:.4g}")
    cols[2].metric(tr("fit.metric.gap"), f"{100 * gap:.2f} %")
    cols[3].metric(tr("fit.metric.steps"), f"{p['steps']:,}")
    cols[4].metric(tr("fit.metric.seconds"), f"{p['seconds']:.2f}")
    reason = tr(f"fit.reason.{p['stop_reason']}", tolerance=f"{100 * fit.FLOOR_TOLERANCE:g} %")
    stopped = tr("fit.stop_reason", reason=reason)
    st.caption(join_sentences(stopped, tr("fit.floor_note")))  # two sentences, a full stop between
    show_chart(
        fit_charts.loss_chart(p["losses"], p["optimal_loss"], loss_labels()), "fit_loss", key="fit_loss_chart"
    )
    heat = {k: tr(f"fit.heat.{k}") for k in ("target", "learned", "difference")}
    st.markdown(f"**{tr('fit.heat.title')}**")
    show_chart(
        fit_charts.heatmaps(result.target, result.learned, heat),
        "fit_heatmaps",
        key="fit_heat",
    )
    if tuple(result.target.shape) != (p["rows"], p["cols"]):
        st.caption(tr("fit.heat.caption"))
    sig = {k: tr(f"fit.sigma.{k}") for k in ("title", "x", "y", "target", "learned", "rank")}
    show_chart(
        fit_charts.sigma_chart(result.target_sigma, result.learned_sigma, p["r"], sig),
        "fit_sigma",
        key="fit_sigma",
    )
    st.subheader(tr("fit.merge.title"))
    st.write(tr("fit.merge.text"))
    st.metric(tr("fit.merge.metric"), f"{p['merge_max_abs_diff']:.2g}")


def sweep_section(settings: fit.FitSettings, source: Source) -> None:
    st.subheader(tr("fit.sweep.title"))
    st.caption(tr("fit.sweep.caption"))
    sweep = st.session_state.get(K.FIT_SWEEP_JOB)
    busy = sweep is not None and sweep.active
    st.button(tr("fit.sweep.button"), key=K.FIT_SWEEP, disabled=busy, on_click=ask, args=(K.FIT_SWEEP_ASKED,))
    if st.session_state.pop(K.FIT_SWEEP_ASKED, False) and not busy:
        try:
            task = task_of(fit.SWEEP, settings, source)
        except LoraLabError as exc:
            show_error(exc)
            return
        sweep = get_runner().submit(task, alive=session_alive_check())
        st.session_state[K.FIT_SWEEP_JOB] = sweep
    if sweep is None:
        return
    if sweep.active:
        sweep_poll()
    elif sweep.error is not None:
        show_error(sweep.error)
    elif sweep.result:
        pts = sweep.result
        labels = {k: tr(f"fit.sweep.{k}") for k in ("title", "x", "y", "loss", "floor")}
        fig = fit_charts.sweep_chart(
            [q.r for q in pts], [q.final_loss for q in pts], [q.floor for q in pts], labels
        )
        show_chart(fig, "fit_rank_sweep", key="fit_sweep_chart")


@st.fragment(run_every=REDRAW_S)
def sweep_poll() -> None:
    sweep = st.session_state.get(K.FIT_SWEEP_JOB)
    if sweep is None or not sweep.active:
        st.rerun()
    if not show_queued(sweep):
        st.progress(0.5, text=tr("fit.sweep.button"))


mode = mode_ui()
columns = st.columns(4)
if mode == "matrix":
    source = target_ui(columns)
    settings = settings_ui(default_r=fit.DEFAULT_R)
else:
    source = regression_ui(columns)
    settings = settings_ui(default_r=fit.DEFAULT_REG_R)
if not st.session_state.get("_fit_warmed"):  # once per visitor: a class idling on this page spawns nothing
    st.session_state["_fit_warmed"] = True
    get_runner().warm()  # a worker process starts while the student sets up the fit
job = st.session_state.get(K.FIT_JOB)
busy = job is not None and job.active
st.button(
    tr("fit.train"),
    key=K.FIT_TRAIN,
    type="primary",
    disabled=busy,
    icon=":material/play_arrow:",
    on_click=ask,
    args=(K.FIT_TRAIN_ASKED,),
)
if st.session_state.pop(K.FIT_TRAIN_ASKED, False) and not busy:
    try:
        task = task_of(fit.FIT, settings, source)
    except LoraLabError as exc:
        show_error(exc)
    else:
        job = get_runner().submit(task, total_steps=task.total_steps, alive=session_alive_check())
        st.session_state[K.FIT_JOB] = job
        st.session_state.pop(K.FIT_SWEEP_ASKED, None)  # a sweep click belonged to the previous fit
        # A default fit is done in a fraction of a second: wait that long and draw its results in this
        # run, rather than a live panel whose first poll (REDRAW_S) and rerun would come after it ended.
        job.wait(FIRST_WAIT_S)

if job is None:
    st.info(tr("fit.no_fit"))
elif job.active:
    live_panel()
else:
    draw_results(job)
    if job.result is not None:
        sweep_section(settings, source)

# The race (issue 15 §4): the same target and settings, several variants side by side
st.divider()
race_section(settings, source, mode, task_of)
