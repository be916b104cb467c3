"""The job protocol's follow-up (lora_ui/workers/jobs.py `follow_up`): a worker's answer is handed over as soon as
it comes, before the job ends with what the worker sends after it; a follow-up that fails, or a worker that dies
during one, leaves the answer standing."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lora_ui.workers.jobs import JobRunner
from lora_ui.workers.process import WorkerProcess

pytestmark = pytest.mark.server  # worker processes

BOUND_S = 120  # a bound for a worker's start on a busy machine, never a timing assertion


@dataclass(frozen=True)
class Toy:
    key: str


def _toy_main(conn, folder: str) -> None:  # a worker's main (module level: a spawned child imports it by name)
    from lora_ui.workers.jobs import serve_jobs

    def then(job: Toy, answer: str) -> str:
        if job.key == "boom":
            raise ValueError("the follow-up failed")
        if job.key == "die":
            os._exit(3)
        gate = Path(folder) / f"open-{job.key}"
        while not gate.exists():  # the follow-up runs until the test opens its gate
            time.sleep(0.01)
        return f"then {answer}"

    serve_jobs(conn, "toy", lambda job: f"answer {job.key}", then)


class ToyRunner(JobRunner):
    kind = "toy"
    follow_up = True

    def __init__(self, folder: str):
        super().__init__(
            lambda: WorkerProcess(_toy_main, folder, uses_torch=False, nice=0),
            max_workers=1,
            processes=True,
            idle_s=60,
            job_cap_s=BOUND_S,
            fallback="the test answers nothing",
        )
        self.kept: list[str] = []
        self.more: list[object] = []

    def _known(self, job):
        return None

    def _here(self, job):
        return None

    def _remember(self, job, answer):
        self.kept.append(answer)
        return answer

    def _then(self, job, more) -> None:
        self.more.append(more)


@pytest.fixture
def runner(tmp_path):
    r = ToyRunner(str(tmp_path))
    yield r
    r.close()


def test_the_answer_is_handed_over_before_the_follow_up_ends(runner, tmp_path):
    future = runner.start(Toy("a"))
    assert runner.first_answer(future) == "answer a"
    assert runner.kept == ["answer a"] and runner.more == []
    assert not future.done()  # the worker's follow-up waits for its gate
    (tmp_path / "open-a").touch()
    assert future.result(timeout=BOUND_S) == "answer a"
    assert runner.more == ["then answer a"] and runner.in_workers == 1 and runner.here == 0
    assert runner.kept == ["answer a"]  # kept once, when it came
    (tmp_path / "open-b").touch()
    second = runner.start(Toy("b"))  # the same worker, parked after its follow-up
    assert runner.first_answer(second) == "answer b" and second.result(timeout=BOUND_S) == "answer b"
    assert runner.more[-1] == "then answer b" and runner.in_workers == 2


def test_a_job_that_ended_is_answered_from_its_future(runner, tmp_path):
    future = runner.start(Toy("c"))
    assert runner.running(future) == Toy("c")
    (tmp_path / "open-c").touch()
    assert future.result(timeout=BOUND_S) == "answer c"
    assert runner.running(future) is None  # nothing left in flight
    assert runner.first_answer(future) == "answer c"  # the future answers


def test_a_second_caller_shares_the_job_in_flight_and_its_follow_up(runner, tmp_path):
    first = runner.start(Toy("e"))
    assert runner.start(Toy("e")) is first and runner.first_answer(first) == "answer e"
    (tmp_path / "open-e").touch()
    assert first.result(timeout=BOUND_S) == "answer e" and runner.more == ["then answer e"]
    assert runner.in_workers == 1


def test_a_failed_follow_up_or_a_worker_lost_in_one_leaves_the_answer(runner, tmp_path):
    boom = runner.start(Toy("boom"))
    assert boom.result(timeout=BOUND_S) == "answer boom" and runner.more == [None]
    die = runner.start(Toy("die"))
    assert die.result(timeout=BOUND_S) == "answer die" and runner.more == [None]  # no follow-up came
    (tmp_path / "open-d").touch()
    after = runner.start(Toy("d"))  # a new worker replaces the lost one
    assert after.result(timeout=BOUND_S) == "answer d" and runner.more[-1] == "then answer d"
    assert runner.in_workers == 3 and runner.here == 0
