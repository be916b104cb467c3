"""A race through the fit runner (issue 15 §4): one job, one slot, its variants' losses streamed lane by lane,
in a worker process and in the thread fallback; Stop ends every variant."""

from __future__ import annotations

import time

import pytest

from lora_core.fit import (
    RACE,
    RACE_SWEEP,
    FitSettings,
    FitTask,
    RaceResult,
    RaceSettings,
    RegressionSettings,
    TargetSettings,
)
from lora_ui.workers.fit import CANCELLED, DONE, FitRunner

BOUND_S = 120  # generous bound for waits on a busy machine (a worker imports torch); never a timing assertion
VARIANTS = ("lora", "rslora", "lora_plus", "vera")


def wait_for(cond, what):
    deadline = time.monotonic() + BOUND_S
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def race_task(steps: int = 30, kind: str = RACE, **race) -> FitTask:
    """Exactly `steps` steps per variant (converge=False), so every count below is known."""
    settings = FitSettings(r=2, steps=steps, converge=False)
    return FitTask(
        kind,
        settings,
        generated=TargetSettings(12, 10, 3, "geometric", 0.0),
        race=RaceSettings(VARIANTS, **race),
    )


@pytest.mark.parametrize(
    "processes", [pytest.param(True, marks=pytest.mark.server), False], ids=["worker process", "thread"]
)
def test_a_race_is_one_job_that_streams_each_variants_losses(processes):
    runner = FitRunner(max_running=1, processes=processes)
    try:
        job = runner.submit(race_task(30, lr_ratio=4.0), total_steps=30)
        wait_for(lambda: runner.running == 1 or not job.active, "the race to start")
        wait_for(lambda: not job.active, "the race")
        assert job.state == DONE and job.in_process == processes, job.error
        assert isinstance(job.result, RaceResult)
        assert [lane.variant for lane in job.result.lanes] == list(VARIANTS)
        # every variant's losses came up the pipe (or the thread's hooks), one list per lane, in order
        assert [len(lane) for lane in job.lanes] == [30 + 1] * len(VARIANTS)
        for streamed, lane in zip(job.lanes, job.result.lanes, strict=True):
            assert streamed == pytest.approx(list(lane.losses))
        assert job.floor == job.result.floor and job.step == 30
        assert job.losses == []  # a race reports per lane only
    finally:
        runner.close()


@pytest.mark.server  # starts a worker process
def test_a_race_takes_one_slot_and_stop_ends_every_variant():
    runner = FitRunner(max_running=1, processes=True)
    try:
        long = race_task(20_000)
        job = runner.submit(long, total_steps=20_000)
        wait_for(lambda: job.lanes and all(len(lane) > 5 for lane in job.lanes), "the race to stream")
        assert runner.running == 1
        queued = runner.submit(race_task(5, RACE_SWEEP))  # the one slot is the race's
        time.sleep(0.3)
        assert runner.position(queued) == 1
        job.cancel()
        wait_for(lambda: not job.active, "the race to stop")
        assert job.state == CANCELLED
        assert {lane.stop_reason for lane in job.result.lanes} == {"cancelled"}
        wait_for(lambda: not queued.active, "the race by rank")
        assert queued.state == DONE and {p.variant for p in queued.result} == set(VARIANTS)
    finally:
        runner.close()


def test_a_regression_race_with_pissa_through_the_runner():
    runner = FitRunner(max_running=1, processes=False)
    try:
        task = FitTask(
            RACE,
            FitSettings(r=2, steps=50),
            regression=RegressionSettings(200, 12, 10, "principal", 2),
            race=RaceSettings(("lora", "pissa", "olora")),
        )
        job = runner.submit(task, total_steps=50)
        wait_for(lambda: not job.active, "the race")
        assert job.state == DONE, job.error
        assert job.result.mode == "regression" and job.result.lane("pissa").reachable_floor is not None
    finally:
        runner.close()
