"""Traces run elsewhere: which traces a caller would run, one computed from plain data, the answer handed back.

`live_model` (trace.py) traces on a miss in the caller's thread. A server can instead ask `trace_jobs` which
traces a page's setups would run (none for what this process knows, its caches or the precomputed archive,
nor for a recipe the estimator refuses; setups that share a traced step share one job), compute each with
`run_trace_job` in another process (a job and its answer are plain data: a config dict, frozen dataclasses,
numpy arrays), and hand the answer to this process's caches with `remember_trace`; the caller's own
live_model, reserve plan and state bytes then trace nothing and build no model. lora_ui/workers/trace.py does
this for the Memory page; docs/memory.md "Speed" says why.

A job may also carry the setup whose caching-allocator replay the caller asks for next (`replay`): the other
process hands the trace back first, then replays that setup where the traced steps already are
(`replay_traced`), and the caller keeps the answer with `remember_replays`. The caller's thread then neither
builds the replay's step plan (55-78 ms for the 7B-13B presets with DoRA) nor sends it to a replay worker
(540-730 kB pickled); our measurement, 2026-11-29 (benchmarks/trace_then_replay.py times the page's change).
"""

from __future__ import annotations

from dataclasses import dataclass

from lora_core.errors import LoraLabError
from lora_core.memory import reserve
from lora_core.memory.family import check_recipe, for_memory
from lora_core.memory.reserve import Reserve
from lora_core.memory.setup import TrainingSetup
from lora_core.memory.trace import CACHE, RECORDS, TracedSteps, build_traced_steps, cache_key, record_key


@dataclass(frozen=True)
class TraceJob:
    """A trace `live_model` would run now, as plain data (the config dict, the frozen spec and setups).
    `run_trace_job` computes it from the job alone (the caches it reads only save time), so a caller may run it
    in another process (the server does: lora_ui.workers.trace) and hand the answer back with `remember_trace`."""

    key: str  # record_key
    config: dict
    spec: object  # setup.adapter_spec(spec): None for full fine-tuning
    setup: TrainingSetup
    # setups that share this traced step (QLoRA without autocast shares LoRA's) but whose parameter lists
    # differ: the state bytes read those too
    also: tuple[TrainingSetup, ...] = ()
    # a setup of this traced step whose caching-allocator replay the caller asks for next (the Memory page's
    # chosen method): `replay_traced` replays it right after the trace, where the traced steps already are
    replay: TrainingSetup | None = None


@dataclass(frozen=True)
class Traced:
    """A TraceJob's answer: the traced steps, and the parameter lists of the job's setups
    ((parameters.built_key, parameters.base_param_infos) pairs), so that the state bytes build no model."""

    steps: TracedSteps
    params: tuple[tuple[str, tuple], ...]


def trace_jobs(config: dict, spec, setups, replay: TrainingSetup | None = None) -> list[TraceJob]:
    """The traces `live_model` would run for these setups, one per traced step: none for what this process
    knows (its caches, the precomputed archive) nor for a recipe the estimator refuses (live_model raises that
    error itself). `replay`: one of the setups, whose replay (reserve.find) the job tracing it also runs when
    this process does not know it yet."""
    from lora_core.memory import precomputed

    wanted: dict[str, list[TrainingSetup]] = {}
    for setup in setups:
        try:
            check_recipe(for_memory(config, setup.adapter_spec(spec)), setup)
            key = record_key(config, spec, setup)
            ckey = cache_key(config, spec, setup)
        except LoraLabError:
            continue
        if key in wanted:
            wanted[key].append(setup)
            continue
        steps = RECORDS.get(key)
        if ckey in CACHE or (steps is not None and steps.records[0] is not None):
            continue
        known = precomputed.live_model(ckey)
        if known is not None:  # decoded once: kept where live_model looks first
            CACHE.put(ckey, known)
            continue
        wanted[key] = [setup]
    replay_in = None
    if replay is not None and reserve.replays(replay.adapter_spec(spec), replay):
        try:
            if reserve.known(reserve.replay_key(config, spec, replay)) is None:
                replay_in = record_key(config, spec, replay)
        except LoraLabError:
            pass
    return [
        TraceJob(key, config, first.adapter_spec(spec), first, tuple(rest), replay if key == replay_in else None)
        for key, (first, *rest) in wanted.items()
    ]


def run_trace_job(job: TraceJob) -> Traced:
    """Trace the job's recipe at both depths (what live_model does on a miss), and read its parameter lists."""
    from lora_core.memory.parameters import base_param_infos, built_key

    steps = build_traced_steps(job.config, job.spec, job.setup)
    keys = dict.fromkeys(built_key(job.config, s.adapter_spec(job.spec), s) for s in (job.setup, *job.also))
    return Traced(steps, tuple((k, base_param_infos(k)) for k in keys))


def replay_traced(job: TraceJob, traced: Traced) -> tuple[tuple[str, Reserve], ...]:
    """job.replay's caching-allocator replay, in the process that has just traced it (what reserve.find and
    replay_job do on a miss, with the traced steps kept here first): ((reserve.replay_key, its answer),), or ()
    when the job carries none or its layers do not repeat (the caller's estimate says so itself)."""
    if job.replay is None:
        return ()
    remember_trace(job, traced)
    try:
        found = reserve.find(job.config, job.spec, job.replay)
    except LoraLabError:  # DepthError
        return ()
    if isinstance(found, Reserve):  # known here already (the precomputed archive)
        return ((reserve.replay_key(job.config, job.spec, job.replay), found),)
    return ((found.key, reserve.replay_job(found)),)


def remember_trace(job: TraceJob, traced: Traced) -> None:
    """Keep a job's answer (computed elsewhere) for the next live_model, reserve plan and state bytes here."""
    from lora_core.memory.parameters import remember_base

    RECORDS.put(job.key, traced.steps)
    for key, infos in traced.params:
        remember_base(key, infos)


def remember_replays(replays: tuple[tuple[str, Reserve], ...]) -> None:
    """Keep replay_traced's answers (computed elsewhere) for the next reserve.find here."""
    for key, answer in replays:
        reserve.remember_key(key, answer)
