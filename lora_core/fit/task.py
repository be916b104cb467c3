"""One fit or rank sweep described by plain values, so that another process can run it.

The Fit page builds a `FitTask` (checking the cheap things at once, so a bad size shows an error without
waiting), and a worker process (lora_ui.workers) or, as a fallback, a thread runs `run_task`. Everything
in a task is a number, a string, a frozen dataclass or a numpy array (an uploaded target is parsed by the
page before it becomes one), and the result is a `FitPreview` of numpy arrays or a tuple of `SweepPoint`:
what crosses the process boundary is only our own plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from lora_core.fit.matrix import fit_matrix
from lora_core.fit.regression import RegressionSettings, run_regression
from lora_core.fit.results import FitPreview, preview
from lora_core.fit.settings import FitSettings
from lora_core.fit.sweep import SweepPoint, sweep_matrix, sweep_ranks, sweep_regression
from lora_core.fit.targets import TargetSettings
from lora_core.validate import choice

FIT, SWEEP = "fit", "sweep"


class Hooks(Protocol):
    """What a running task reports to and asks of whoever runs it (a FitJob, or a worker's pipe)."""

    def record(self, step: int, loss: float) -> None: ...
    def set_floor(self, floor: float) -> None: ...
    def should_stop(self) -> bool: ...


@dataclass(frozen=True, eq=False)
class FitTask:
    """A fit (kind FIT) or a rank sweep (kind SWEEP) of exactly one source: target, generated or regression."""

    kind: str  # FIT or SWEEP
    settings: FitSettings
    target: np.ndarray | None = None  # (rows, cols) float32: an uploaded ΔW, already parsed
    generated: TargetSettings | None = None  # a matrix-mode target to generate
    regression: RegressionSettings | None = None  # regression mode's data to make

    def __post_init__(self) -> None:
        choice("task", self.kind, (FIT, SWEEP))
        if sum(x is not None for x in (self.target, self.generated, self.regression)) != 1:
            raise ValueError("a FitTask has exactly one of target, generated, regression")
        for part in (self.generated, self.regression):
            if part is not None:
                part.check()

    @property
    def total_steps(self) -> int:
        return self.settings.steps if self.kind == FIT else 0

    def matrix(self) -> torch.Tensor:
        """The matrix-mode target. # (rows, cols) float32"""
        if self.target is not None:
            return torch.from_numpy(np.ascontiguousarray(self.target, dtype=np.float32))
        return self.generated.make(self.settings.seed)

    def __call__(self, hooks: Hooks) -> FitPreview | tuple[SweepPoint, ...]:
        return run_task(self, hooks)


def run_task(task: FitTask, hooks: Hooks) -> FitPreview | tuple[SweepPoint, ...]:
    """Run a task, reporting each step's loss and the floor through `hooks`; stop when hooks.should_stop()."""
    settings = task.settings
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
