"""Fit page: train a rank-r LoRA live and compare it with the floor (lora_core.fit does the work).

The fit runs in a worker process from lora_ui.fit_runner (bounded across sessions); this page reads the
controls, submits a job, and redraws its progress from a `run_every` fragment, so other widgets never
cancel it. The job (losses included) lives in session state, so any rerun redraws it.
"""

import streamlit as st

from lora_ui.i18n import join_sentences, tr
from lora_ui.routing import ensure_routed

ensure_routed()

st.title(tr("fit.title"))
st.caption(tr("fit.intro"))

from lora_core import fit as core
from lora_core.errors import LoraLabError
from lora_core.fit_regression import MAX_SAMPLES, SHIFTS
from lora_core.fit_targets import MAX_SIDE, NUMERIC_KINDS, PROFILES, parse_target
from lora_core.fit_task import FIT, SWEEP, FitTask, Generated, Regression
from lora_core.fit_trainer import FLOOR_TOLERANCE
from lora_ui import fit_charts
from lora_ui import keys as K
from lora_ui.fit_runner import QUEUED, get_runner, session_alive_check
from lora_ui.fit_worker import WorkerDied
from lora_ui.widgets import show_chart, show_error

# The live chart redraws at most this often, with at most LIVE_POINTS points: each poll of 30 students
# costs the shared server a rerun of the fragment and a Plotly figure (issue 4 asked ~0.2 s; on the 2-core
# server we chose 0.5 s, issue 6 "keep fits off the calculator's critical path").
REDRAW_S = 0.5
LIVE_POINTS = 200
MODES = ("matrix", "regression")
SOURCES = ("generated", "upload")


def controls_ui() -> dict:
    """The controls, as plain values (nothing is validated or computed here)."""
    # Choice widgets bound to the URL show their raw tokens: Streamlit 1.67 writes the *formatted*
    # option into the URL, so a translated format_func would make links depend on the language.
    # The translated meaning is the caption under each.
    mode = st.radio(tr("fit.mode"), MODES, key=K.FIT_MODE, bind="query-params", horizontal=True)
    st.caption(tr(f"fit.mode.{mode}"))
    spec: dict = {"mode": mode, "upload": None}
    c1, c2, c3, c4 = st.columns(4)
    if mode == "matrix":
        source = c1.radio(tr("fit.source"), SOURCES, key=K.FIT_SOURCE, bind="query-params")
        c1.caption(tr(f"fit.source.{source}"))
        spec["source"] = source
        if source == "upload":
            spec["upload"] = st.file_uploader(
                tr("fit.upload"),
                type=list(NUMERIC_KINDS),  # numeric arrays only (issue 6); the CLI also reads images
                key=K.FIT_UPLOAD,
            )
        else:
            spec["rows"] = c2.number_input(
                tr("fit.rows"), 1, MAX_SIDE, core.DEFAULT_ROWS, key=K.FIT_ROWS, bind="query-params"
            )
            spec["cols"] = c2.number_input(
                tr("fit.cols"), 1, MAX_SIDE, core.DEFAULT_COLS, key=K.FIT_COLS, bind="query-params"
            )
            spec["true_rank"] = c3.number_input(
                tr("fit.true_rank"), 1, MAX_SIDE, core.DEFAULT_TRUE_RANK, key=K.FIT_K, bind="query-params"
            )
            spec["profile"] = c3.selectbox(
                tr("fit.profile"),
                PROFILES,
                index=PROFILES.index(core.DEFAULT_PROFILE),
                key=K.FIT_PROFILE,
                bind="query-params",
            )
            c3.caption(tr(f"fit.profile.{spec['profile']}"))
            spec["noise"] = c4.number_input(
                tr("fit.noise"),
                0.0,
                10.0,
                core.DEFAULT_NOISE,
                step=0.01,
                help=tr("fit.noise_help"),
                key=K.FIT_NOISE,
                bind="query-params",
            )
        default_r = core.DEFAULT_R
    else:
        spec["samples"] = c1.number_input(
            tr("fit.samples"), 1, MAX_SAMPLES, core.DEFAULT_SAMPLES, key=K.FIT_SAMPLES, bind="query-params"
        )
        spec["rows"] = c2.number_input(
            tr("fit.d_in"), 1, MAX_SIDE, core.DEFAULT_D_IN, key=K.FIT_ROWS, bind="query-params"
        )
        spec["cols"] = c2.number_input(
            tr("fit.d_out"), 1, MAX_SIDE, core.DEFAULT_D_OUT, key=K.FIT_COLS, bind="query-params"
        )
        spec["shift"] = c3.selectbox(tr("fit.shift"), SHIFTS, key=K.FIT_SHIFT, bind="query-params")
        c3.caption(tr(f"fit.shift.{spec['shift']}"))
        spec["true_rank"] = c3.number_input(
            tr("fit.shift_rank"), 1, MAX_SIDE, 1, key=K.FIT_K, bind="query-params"
        )
        default_r = core.DEFAULT_REG_R
    d1, d2, d3, d4, d5 = st.columns(5)
    spec["r"] = d1.number_input(tr("fit.r"), 1, core.MAX_RANK, default_r, key=K.FIT_R, bind="query-params")
    spec["alpha"] = d2.number_input(
        tr("fit.alpha"), 0.01, 1e4, core.DEFAULT_ALPHA, key=K.FIT_ALPHA, bind="query-params"
    )
    spec["steps"] = d3.number_input(
        tr("fit.steps"), 1, core.MAX_STEPS, core.DEFAULT_STEPS, step=100, key=K.FIT_STEPS, bind="query-params"
    )
    spec["lr"] = d4.number_input(
        tr("fit.lr"), 1e-5, 1.0, core.DEFAULT_LR, step=0.005, format="%.4f", key=K.FIT_LR, bind="query-params"
    )
    spec["seed"] = d5.number_input(tr("fit.seed"), 0, 2**31 - 1, 0, key=K.FIT_SEED, bind="query-params")
    spec["converge"] = st.checkbox(
        tr("fit.converge"), True, help=tr("fit.converge_help"), key=K.FIT_CONVERGE, bind="query-params"
    )
    return spec


def settings_of(spec: dict) -> core.FitSettings:
    return core.FitSettings(
        r=spec["r"],
        alpha=spec["alpha"],
        steps=spec["steps"],
        lr=spec["lr"],
        seed=spec["seed"],
        converge=spec["converge"],
    )


def task_of(spec: dict, kind: str) -> FitTask:
    """The fit or sweep to run, as plain values (sizes checked here, so a bad one shows an error at once).

    An upload is parsed here, in the script (never in the worker), into a numpy array; a generated target
    and the regression data are made by the worker."""
    settings = settings_of(spec)
    if spec["mode"] == "regression":
        data = Regression(spec["samples"], spec["rows"], spec["cols"], spec["shift"], spec["true_rank"])
        return FitTask(kind, settings, regression=data)
    if spec.get("source") == "upload":
        upload = spec["upload"]
        if upload is None:
            raise LoraLabError(tr("fit.upload_needed"))
        target = parse_target(upload.name, upload.getvalue(), NUMERIC_KINDS).numpy()  # (rows, cols) float32
        return FitTask(kind, settings, target=target)
    gen = Generated(spec["rows"], spec["cols"], spec["true_rank"], spec["profile"], spec["noise"])
    return FitTask(kind, settings, generated=gen)


def loss_labels() -> dict:
    return {k: tr(f"fit.chart.{k}") for k in ("title", "x", "y", "loss", "floor")}


def ask(flag: str) -> None:
    """on_click of Train and Rank sweep: remember the click until the page acts on it.

    A button's return value is True for one script run only, and a run can end in st.rerun before the
    page reads it: `ensure_routed()` reruns on a process's first run, and AppTest starts every run that
    way (it resets PagesManager.uses_pages_directory, so the page file first runs without app.py). A
    callback runs once per click before the script, so the click survives any such rerun."""
    st.session_state[flag] = True


def draw_live(job) -> None:
    """Progress, Stop, and the loss curve of a queued or running job."""
    st.button(tr("fit.stop"), key=K.FIT_STOP, icon=":material/stop:", on_click=job.cancel)
    if job.state == QUEUED:
        runner = get_runner()
        st.info(
            tr("fit.queued", position=runner.position(job), running=runner.running),
            icon=":material/hourglass:",
        )
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


def show_job_error(exc: Exception) -> None:
    """A fit's error; a worker process that died shows a translated note (the page keeps working)."""
    show_error(LoraLabError(tr("fit.worker_died")) if isinstance(exc, WorkerDied) else exc)


def draw_results(job) -> None:
    if job.error is not None:
        show_job_error(job.error)
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
    reason = tr(f"fit.reason.{p['stop_reason']}", tolerance=f"{100 * FLOOR_TOLERANCE:g} %")
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


def sweep_section(spec: dict) -> None:
    st.subheader(tr("fit.sweep.title"))
    st.caption(tr("fit.sweep.caption"))
    sweep = st.session_state.get(K.FIT_SWEEP_JOB)
    busy = sweep is not None and sweep.active
    st.button(tr("fit.sweep.button"), key=K.FIT_SWEEP, disabled=busy, on_click=ask, args=(K.FIT_SWEEP_ASKED,))
    if st.session_state.pop(K.FIT_SWEEP_ASKED, False) and not busy:
        try:
            task = task_of(spec, SWEEP)
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
        show_job_error(sweep.error)
    elif sweep.result:
        pts = sweep.result
        labels = {k: tr(f"fit.sweep.{k}") for k in ("title", "x", "y", "loss", "floor")}
        fig = fit_charts.sweep_chart(
            [q.r for q in pts], [q.final_loss for q in pts], [q.floor for q in pts], labels
        )
        show_chart(fig, "fit_rank_sweep", key="fit_sweep_chart")


@st.fragment(run_every=0.5)
def sweep_poll() -> None:
    sweep = st.session_state.get(K.FIT_SWEEP_JOB)
    if sweep is None or not sweep.active:
        st.rerun()
    if sweep.state == QUEUED:
        runner = get_runner()
        st.info(
            tr("fit.queued", position=runner.position(sweep), running=runner.running),
            icon=":material/hourglass:",
        )
    else:
        st.progress(0.5, text=tr("fit.sweep.button"))


spec = controls_ui()
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
        task = task_of(spec, FIT)
    except LoraLabError as exc:
        show_error(exc)
    else:
        job = get_runner().submit(task, total_steps=task.total_steps, alive=session_alive_check())
        st.session_state[K.FIT_JOB] = job
        st.session_state.pop(K.FIT_SWEEP_ASKED, None)  # a sweep click belonged to the previous fit
        # A default fit is done in a fraction of a second: wait that long and draw its results in this
        # run, rather than a live panel whose first poll (REDRAW_S) and rerun would come after it ended.
        job.wait(REDRAW_S)

if job is None:
    st.info(tr("fit.no_fit"))
elif job.active:
    live_panel()
else:
    draw_results(job)
    if job.result is not None:
        sweep_section(spec)
