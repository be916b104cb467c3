"""One fit, rank sweep, race or race sweep described by plain values, so that another process can run it.

The Fit page builds a `FitTask` (checking the cheap things at once, so a bad size shows an error without
waiting), and a worker process (lora_ui.workers) or, as a fallback, a thread runs `run_task`. Everything
in a task is a number, a string, a frozen dataclass or a numpy array (an uploaded target is parsed by the
page before it becomes one), and the result is a `FitPreview` of numpy arrays, a tuple of `SweepPoint`, a
`RaceResult` or a tuple of `RaceSweepPoint`: what crosses the process boundary is only our own plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from lora_core.errors import LoraLabError
from lora_core.fit.matrix import fit_matrix
from lora_core.fit.race import BASE_VARIANTS, VARIANT_NAMES, RaceResult, RaceSettings, race_sweep, run_race
from lora_core.fit.regression import RegressionSettings, run_regression
from lora_core.fit.results import FitPreview, preview
from lora_core.fit.settings import FitSettings
from lora_core.fit.sweep import SweepPoint, sweep_matrix, sweep_ranks, sweep_regression
from lora_core.fit.targets import TargetSettings
from lora_core.validate import choice

FIT, SWEEP = "fit", "sweep"
RACE, RACE_SWEEP = "race", "race_sweep"  # issue 15 §4: variants side by side (lora_core.fit.race)
KINDS = (FIT, SWEEP, RACE, RACE_SWEEP)


class Hooks(Protocol):
    """What a running task reports to and asks of whoever runs it (a FitJob, or a worker's pipe)."""

    def record(self, step: int, loss: float) -> None: ...
    def record_lane(self, lane: int, step: int, loss: float) -> None: ...  # a race's variant number `lane`
    def set_floor(self, floor: float) -> None: ...
    def should_stop(self) -> bool: ...


@dataclass(frozen=True, eq=False)
class FitTask:
    """A fit (FIT), rank sweep (SWEEP), race (RACE) or race by rank (RACE_SWEEP) of exactly one source:
    target, generated or regression. A race or race sweep also has `race`."""

    kind: str  # one of KINDS
    settings: FitSettings
    target: np.ndarray | None = None  # (rows, cols) float32: an uploaded ΔW, already parsed
    generated: TargetSettings | None = None  # a matrix-mode target to generate
    regression: RegressionSettings | None = None  # regression mode's data to make
    race: RaceSettings | None = None  # the variants of a RACE or RACE_SWEEP

    def __post_init__(self) -> None:
        choice("task", self.kind, KINDS)
        if sum(x is not None for x in (self.target, self.generated, self.regression)) != 1:
            raise ValueError("a FitTask has exactly one of target, generated, regression")
        for part in (self.generated, self.regression):
            if part is not None:
                part.check()
        if (self.race is not None) != (self.kind in (RACE, RACE_SWEEP)):
            raise ValueError("a race or race sweep, and only they, have race settings")
        if self.race is not None:
            self.race.check(regression=self.regression is not None)
            based = [c for c in self.race.variants if c in BASE_VARIANTS]
            if based and self.settings.r > min(self.regression.d_in, self.regression.d_out):
                raise LoraLabError(
                    "fit.race.rank",
                    names=tuple(VARIANT_NAMES[c] for c in based),
                    limit=min(self.regression.d_in, self.regression.d_out),
                    r=self.settings.r,
                )

    @property
    def total_steps(self) -> int:
        return self.settings.steps if self.kind in (FIT, RACE) else 0

    def matrix(self) -> torch.Tensor:
        """The matrix-mode target. # (rows, cols) float32"""
        if self.target is not None:
            return torch.from_numpy(np.ascontiguousarray(self.target, dtype=np.float32))
        return self.generated.make(self.settings.seed)

    def __call__(self, hooks: Hooks) -> FitPreview | tuple[SweepPoint, ...] | RaceResult | tuple:
        return run_task(self, hooks)


def run_task(task: FitTask, hooks: Hooks) -> FitPreview | tuple[SweepPoint, ...] | RaceResult | tuple:
    """Run a task, reporting each step's loss and the floor through `hooks`; stop when hooks.should_stop()."""
    settings = task.settings
    if task.kind in (RACE, RACE_SWEEP):
        source = task.matrix() if task.regression is None else task.regression.make(settings.seed)
        if task.kind == RACE_SWEEP:
            return race_sweep(source, settings, task.race, should_stop=hooks.should_stop)
        return run_race(
            source,
            settings,
            task.race,
            record=hooks.record_lane,
            on_floor=hooks.set_floor,
            should_stop=hooks.should_stop,
        )
    if task.regression is None:
        target = task.matrix()
        if task.kind == SWEEP:
            return sweep_matrix(
                target, sweep_ranks(min(target.shape)), settings, should_stop=hooks.should_stop
            )
        res = fit_matrix(
            target, settings, callback=hooks.record, should_stop=hooks.should_stop, on_floor=hooks.set_floor
        )
        return preview(res)
    regression = task.regression
    if task.kind == SWEEP:
        ranks = sweep_ranks(min(regression.d_in, regression.d_out))
        data = regression.make(settings.seed)
        return sweep_regression(data, ranks, settings, should_stop=hooks.should_stop)
    res = run_regression(
        regression.samples,
        regression.d_in,
        regression.d_out,
        settings,
        shift=regression.shift,
        shift_rank=regression.shift_rank,
        callback=hooks.record,
        should_stop=hooks.should_stop,
        on_floor=hooks.set_floor,
    )
    return preview(res)
