"""One fit or rank sweep described by plain values, so that another process can run it.

The Fit page builds a `FitTask` (checking the cheap things at once, so a bad size shows an error without
waiting), and a worker process (lora_ui.fit_worker) or, as a fallback, a thread runs `run_task`. Everything
in a task is a number, a string, a frozen dataclass or a numpy array (an uploaded target is parsed by the
page before it becomes one), and the result is a `FitPreview` of numpy arrays or a tuple of `SweepPoint`:
what crosses the process boundary is only our own plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from lora_core.fit import matrix as core
from lora_core.fit import regression as reg
from lora_core.fit.results import FitPreview, preview
from lora_core.fit.sweep import SweepPoint, sweep_matrix, sweep_ranks, sweep_regression
from lora_core.fit.targets import MAX_SIDE, PROFILES, make_target
from lora_core.validate import choice, positive_float, positive_int

FIT, SWEEP = "fit", "sweep"


class Hooks(Protocol):
    """What a running task reports to and asks of whoever runs it (a FitJob, or a worker's pipe)."""

    def record(self, step: int, loss: float) -> None: ...
    def set_floor(self, floor: float) -> None: ...
    def should_stop(self) -> bool: ...


@dataclass(frozen=True)
class Generated:
    """A generated matrix-mode target (lora_core.fit_targets.make_target)."""

    rows: int
    cols: int
    true_rank: int
    profile: str
    noise: float

    def check(self) -> None:
        rows = positive_int("rows", self.rows, maximum=MAX_SIDE)
        cols = positive_int("cols", self.cols, maximum=MAX_SIDE)
        positive_int("true rank k", self.true_rank, maximum=min(rows, cols))
        choice("profile", self.profile, PROFILES)
        positive_float("noise", self.noise, maximum=100.0, allow_zero=True)


@dataclass(frozen=True)
class Regression:
    """The regression experiment's data (lora_core.fit_regression.make_regression_data)."""

    samples: int
    d_in: int
    d_out: int
    shift: str
    shift_rank: int

    def check(self) -> None:
        reg.check_sizes(self.samples, self.d_in, self.d_out)
        choice("shift", self.shift, reg.SHIFTS)


@dataclass(frozen=True, eq=False)
class FitTask:
    """A fit (kind FIT) or a rank sweep (kind SWEEP) of exactly one source: target, generated or regression."""

    kind: str
    settings: core.FitSettings
    target: np.ndarray | None = None  # (rows, cols) float32: an uploaded ΔW, already parsed
    generated: Generated | None = None
    regression: Regression | None = None

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
        g = self.generated
        return make_target(g.rows, g.cols, g.true_rank, g.profile, g.noise, self.settings.seed)

    def __call__(self, hooks: Hooks) -> FitPreview | tuple[SweepPoint, ...]:
        return run_task(self, hooks)


def run_task(task: FitTask, hooks: Hooks) -> FitPreview | tuple[SweepPoint, ...]:
    """Run a task, reporting each step's loss and the floor through `hooks`; stop when hooks.should_stop()."""
    st = task.settings
    if task.regression is None:
        target = task.matrix()
        if task.kind == SWEEP:
            return sweep_matrix(target, sweep_ranks(min(target.shape)), st, should_stop=hooks.should_stop)
        res = core.fit_matrix(
            target, st, callback=hooks.record, should_stop=hooks.should_stop, on_floor=hooks.set_floor
        )
        return preview(res)
    r = task.regression
    if task.kind == SWEEP:
        data = reg.make_regression_data(r.samples, r.d_in, r.d_out, r.shift, r.shift_rank, st.seed)
        ranks = sweep_ranks(min(r.d_in, r.d_out))
        return sweep_regression(data, ranks, st, should_stop=hooks.should_stop)
    res = core.run_regression(
        r.samples,
        r.d_in,
        r.d_out,
        st,
        shift=r.shift,
        shift_rank=r.shift_rank,
        callback=hooks.record,
        should_stop=hooks.should_stop,
        on_floor=hooks.set_floor,
    )
    return preview(res)
