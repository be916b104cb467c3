"""The Fit page's race panel (issue 15 §4): choose variants, press Race, watch their curves against one floor.

A race is one job of the page's fit runner (lora_ui.workers.fit): its variants train in lockstep in one
worker (lora_core.fit.race), so a race takes one fit slot, like a fit, for at most the settings' time cap.
A session runs one race or race by rank at a time. The widgets read into a `lora_core.fit.RaceSettings`;
the page hands this module the fit's settings and source, and a `task_of` that turns them into a FitTask.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from lora_core import fit
from lora_core.errors import LoraLabError
from lora_ui import fit_charts
from lora_ui import keys as K
from lora_ui.fit_live import FIRST_WAIT_S, LIVE_POINTS, REDRAW_S, ask, show_queued
from lora_ui.i18n import join_sentences, tr
from lora_ui.widgets import show_chart, show_error, show_table
from lora_ui.workers.fit import get_runner, session_alive_check

TaskOf = Callable[..., fit.FitTask]  # pages/fit.py task_of(kind, settings, source, race=...)


def race_ui(mode: str) -> fit.RaceSettings:
    """The variants (by name, in the URL as ?fit_race=LoRA&fit_race=VeRA), LoRA+'s λ and VeRA's rank."""
    c1, c2, c3 = st.columns([3, 1, 1])
    variants = c1.multiselect(
        tr("fit.race.variants"),
        fit.VARIANTS,
        default=list(fit.DEFAULT_VARIANTS),
        # names, not translations: the same in every language, so links do not depend on it (docs/i18n.md)
        format_func=fit.VARIANT_NAMES.__getitem__,
        key=K.FIT_RACE_VARIANTS,
        bind="query-params",
    )
    lr_ratio = c2.number_input(
        tr("fit.race.lr_ratio"),
        0.01,
        fit.MAX_LR_RATIO,
        fit.DEFAULT_LR_RATIO,
        help=tr("fit.race.lr_ratio_help"),
        key=K.FIT_RACE_LR_RATIO,
        bind="query-params",
    )
    vera_r = c3.number_input(
        tr("fit.race.vera_r"),
        1,
        fit.MAX_RANK,
        None,
        placeholder=tr("fit.race.vera_r_same"),
        help=tr("fit.race.vera_r_help"),
        key=K.FIT_RACE_VERA_R,
        bind="query-params",
    )
    st.markdown("\n".join(f"- {tr(f'fit.race.variant.{code}')}" for code in variants))
    if mode == "matrix":
        st.caption(tr("fit.race.no_base"))
    return fit.RaceSettings(variants=tuple(variants), lr_ratio=lr_ratio, vera_r=vera_r)


def _busy() -> bool:
    """The session's race or race by rank is queued or running: one at a time per session."""
    return any(
        (job := st.session_state.get(key)) is not None and job.active
        for key in (K.FIT_RACE_JOB, K.FIT_RACE_SWEEP_JOB)
    )


def _refusal(mode: str, race: fit.RaceSettings) -> LoraLabError | None:
    """What the visitor must change before this race can run (None: nothing); shown in their language."""
    try:
        race.check(regression=mode != "matrix")
    except LoraLabError as exc:
        return exc
    return None


def _submit(kind: str, settings: fit.FitSettings, source, race: fit.RaceSettings, mode: str, task_of: TaskOf):
    """Start a race or race by rank; an error shows at once and nothing is submitted."""
    refusal = _refusal(mode, race)
    if refusal is not None:
        show_error(refusal)
        return None
    try:
        task = task_of(kind, settings, source, race=race)
    except LoraLabError as exc:
        show_error(exc)
        return None
    return get_runner().submit(task, total_steps=task.total_steps, alive=session_alive_check())


def _curves(lanes, codes, ranks, r) -> list[tuple[str, list[float]]]:
    """(legend name, losses) per lane; a lane at another rank than the race's says so."""
    return [
        (fit.VARIANT_NAMES[code] + ("" if rank == r else f" (r = {rank})"), list(losses))
        for code, rank, losses in zip(codes, ranks, lanes, strict=False)
    ]


def _chart_labels(r: int) -> dict:
    return {k: tr(f"fit.race.chart.{k}") for k in ("title", "x", "y")} | {
        "floor": tr("fit.race.chart.floor", r=r)
    }


@st.fragment(run_every=REDRAW_S)
def _live() -> None:
    job = st.session_state.get(K.FIT_RACE_JOB)
    if job is None:
        return
    st.button(tr("fit.race.stop"), key=K.FIT_RACE_STOP, icon=":material/stop:", on_click=job.cancel)
    if not show_queued(job):
        st.progress(
            min(job.step / max(job.total_steps, 1), 1.0),
            text=tr("fit.race.progress", step=job.step, total=job.total_steps),
        )
        lanes = [list(lane) for lane in job.lanes]  # a snapshot: the worker keeps appending
        race, settings = st.session_state[K.FIT_RACE_SETUP]
        if any(lanes):
            ranks = [fit.variant_settings(c, settings, race).r for c in race.variants]
            fig = fit_charts.race_chart(
                _curves(lanes, race.variants, ranks, settings.r),
                job.floor,
                _chart_labels(settings.r),
                max_points=LIVE_POINTS,
            )
            show_chart(fig, "fit_race", key="fit_race_live_chart")
    if not job.active:
        st.rerun()  # the race ended: one full rerun draws the results and stops this polling


def _gap_text(result: fit.RaceResult, lane: fit.RaceLane) -> str:
    """Above the floor, in % of it; when the floor is about zero (r reaches the shift), the loss itself."""
    start = lane.losses[0] if lane.losses else lane.final_loss
    if result.floor > 1e-9 * max(start, 1e-30):
        return f"{100 * result.gap(lane):,.2f} %"
    return f"+{lane.final_loss - result.floor:.3g}"


def _results(job) -> None:
    if job.error is not None:
        show_error(job.error)
        return
    result: fit.RaceResult | None = job.result
    if result is None:
        st.info(tr("fit.race.stopped"))
        return
    curves = _curves(
        [ln.losses for ln in result.lanes],
        [ln.variant for ln in result.lanes],
        [ln.r for ln in result.lanes],
        result.r,
    )
    show_chart(
        fit_charts.race_chart(curves, result.floor, _chart_labels(result.r)), "fit_race", key="fit_race_chart"
    )
    tolerance = f"{100 * fit.FLOOR_TOLERANCE:g} %"
    cols = {
        k: tr(f"fit.race.col.{k}") for k in ("variant", "r", "trained", "final", "gap", "steps", "reason")
    }
    table = pd.DataFrame(
        [
            {
                cols["variant"]: fit.VARIANT_NAMES[ln.variant],
                cols["r"]: ln.r,
                cols["trained"]: ln.trainable_params,
                cols["final"]: f"{ln.final_loss:.4g}",
                cols["gap"]: _gap_text(result, ln),
                cols["steps"]: ln.steps,
                cols["reason"]: tr(f"fit.reason.{ln.stop_reason}", tolerance=tolerance),
            }
            for ln in result.lanes
        ]
    )
    show_table(table, "fit_race", key="fit_race_csv")
    notes = [tr("fit.race.table_note")]
    vera, lora = result.lane("vera"), result.lane("lora")
    if vera is not None and lora is not None:
        notes.append(
            tr(
                "fit.race.vera_note",
                vera_r=vera.r,
                vera_n=f"{vera.trainable_params:,}",
                lora_n=f"{lora.trainable_params:,}",
                r=lora.r,
                ratio=f"{result.ratio(vera, lora):,.3g}",
            )
        )
    if any(ln.variant in fit.BASE_VARIANTS for ln in result.lanes):
        notes.append(tr("fit.race.base_note"))
    st.caption(join_sentences(*notes))


@st.fragment(run_every=REDRAW_S)
def _sweep_poll() -> None:
    job = st.session_state.get(K.FIT_RACE_SWEEP_JOB)
    if job is None or not job.active:
        st.rerun()
    if not show_queued(job):
        st.progress(0.5, text=tr("fit.race.sweep.running"))


def _sweep_results(job) -> None:
    if job.error is not None:
        show_error(job.error)
        return
    points: tuple[fit.RaceSweepPoint, ...] = job.result or ()
    if not points:
        return
    codes = list(dict.fromkeys(p.variant for p in points))
    series = [
        (
            fit.VARIANT_NAMES[c],
            [p.r for p in points if p.variant == c],
            [p.loss for p in points if p.variant == c],
        )
        for c in codes
    ]
    first = [p for p in points if p.variant == codes[0]]
    labels = {k: tr(f"fit.race.sweep.{k}", steps=fit.SWEEP_STEPS) for k in ("title", "x", "y", "floor")}
    fig = fit_charts.race_sweep_chart(series, ([p.r for p in first], [p.floor for p in first]), labels)
    show_chart(fig, "fit_race_by_rank", key="fit_race_sweep_chart")


def race_section(settings: fit.FitSettings, source, mode: str, task_of: TaskOf) -> None:
    """The race panel and the race by rank, below the fit on the Fit page."""
    st.subheader(tr("fit.race.title"))
    st.caption(tr("fit.race.intro"))
    race = race_ui(mode)
    busy = _busy()
    c1, c2 = st.columns(2)
    c1.button(
        tr("fit.race.button"),
        key=K.FIT_RACE,
        type="primary",
        disabled=busy,
        icon=":material/sprint:",
        on_click=ask,
        args=(K.FIT_RACE_ASKED,),
    )
    c2.button(
        tr("fit.race.sweep.button"),
        key=K.FIT_RACE_SWEEP,
        disabled=busy,
        icon=":material/stacked_line_chart:",
        on_click=ask,
        args=(K.FIT_RACE_SWEEP_ASKED,),
    )
    if st.session_state.pop(K.FIT_RACE_ASKED, False) and not busy:
        job = _submit(fit.RACE, settings, source, race, mode, task_of)
        if job is not None:
            st.session_state[K.FIT_RACE_JOB] = job
            st.session_state[K.FIT_RACE_SETUP] = (race, settings)  # what the live chart names
            job.wait(FIRST_WAIT_S)  # the default race ends in about a second: often drawn in this run
    elif st.session_state.pop(K.FIT_RACE_SWEEP_ASKED, False) and not busy:
        job = _submit(fit.RACE_SWEEP, settings, source, race, mode, task_of)
        if job is not None:
            st.session_state[K.FIT_RACE_SWEEP_JOB] = job
    job = st.session_state.get(K.FIT_RACE_JOB)
    if job is None:
        st.info(tr("fit.race.no_race"))
    elif job.active:
        _live()
    else:
        _results(job)
    sweep = st.session_state.get(K.FIT_RACE_SWEEP_JOB)
    if sweep is not None:
        st.markdown(f"**{tr('fit.race.sweep.title')}**")
        st.caption(tr("fit.race.sweep.caption", steps=fit.SWEEP_STEPS))
        if sweep.active:
            _sweep_poll()
        else:
            _sweep_results(sweep)
