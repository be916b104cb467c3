"""The live LoRA fit: learn a rank-r ΔW = (alpha/r) B A with Adam, and compare it with the best possible.

Two modes (issue 4):
- matrix: fit a target ΔW (rows, cols) directly; loss = ||ΔW - (alpha/r) B A||_F^2 / (rows * cols).
- regression: the seed article's experiment (002), see lora_core.fit_regression.

Both report the floor (Eckart–Young; X-weighted in regression mode), the loss history, the learned ΔW
and its singular values beside the target's, the merged W + ΔW and the merge check. A fit stops when it is done (within a small tolerance of the floor, or when the loss
has stopped improving; lora_core.fit_trainer), the step and time caps being guards. Callers pass
`callback(step, loss)` for live progress and `should_stop()` for cancellation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lora_core import fit_regression as reg
from lora_core.errors import LoraLabError
from lora_core.fit_results import FitResult, lowrank_sigma, merge_check
from lora_core.fit_targets import (
    MAX_SIDE,
    eckart_young_floor,
    make_target,
    singular_values,
)
from lora_core.fit_trainer import TrainOutcome, init_lora, train_adam
from lora_core.validate import positive_float, positive_int

# Defaults, tuned so that the default matrix fit ends within 1 % of the floor (tests/test_fit.py;
# docs/fit.md "Tuning"). The matrix is small enough to train live on one core in well under a second: it
# converges after about 200 steps (docs/fit.md "Stopping").
DEFAULT_ROWS = 64  # rows of ΔW (out_features)
DEFAULT_COLS = 48  # cols of ΔW (in_features)
DEFAULT_TRUE_RANK = 8  # rank k of the generated signal
DEFAULT_PROFILE = "geometric"  # singular values halve: each extra rank buys less
DEFAULT_NOISE = 0.05  # noise std per entry; the signal's entries have RMS 1
DEFAULT_R = 4  # LoRA rank r, below k: the fit stops at a visible floor
DEFAULT_ALPHA = 8.0  # lora_alpha; scaling alpha / r = 2 (PEFT's default lora_alpha is 8)
DEFAULT_STEPS = 1000  # Adam step cap: a guard; a default fit converges long before it
DEFAULT_LR = 0.02  # Adam step size at step 0, decayed by a half cosine (lora_core.fit_trainer)
DEFAULT_MAX_SECONDS = 120.0  # wall-clock cap of one fit

# Regression defaults: the seed's experiment at a classroom size (the benchmark runs the seed's own size).
DEFAULT_SAMPLES = 2000
DEFAULT_D_IN = 101
DEFAULT_D_OUT = 100
DEFAULT_REG_R = 1

MAX_RANK = 256  # r cap for a shared server; r beyond min(rows, cols) is allowed but buys nothing
MAX_STEPS = 20_000
MAX_FIT_SECONDS = 600.0


@dataclass(frozen=True)
class FitSettings:
    """How to train: rank, scaling, optimiser and stopping rules. Validated on construction."""

    r: int = DEFAULT_R  # LoRA rank
    alpha: float = DEFAULT_ALPHA  # lora_alpha; B A is scaled by alpha / r
    steps: int = DEFAULT_STEPS  # step cap
    lr: float = DEFAULT_LR  # Adam learning rate (peak of the cosine decay)
    seed: int = 0  # seeds the data, lora_A's init and the held-out inputs
    target_loss: float | None = None  # stop as soon as the loss is at most this
    max_seconds: float = DEFAULT_MAX_SECONDS  # wall-clock cap of the training loop
    converge: bool = True  # stop when done (floor or plateau, lora_core.fit_trainer); False: run to the cap

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "r", positive_int("rank r", self.r, maximum=MAX_RANK))
        set_(self, "alpha", positive_float("alpha", self.alpha, maximum=1e4))
        set_(self, "steps", positive_int("steps", self.steps, maximum=MAX_STEPS))
        set_(self, "lr", positive_float("learning rate", self.lr, maximum=10.0))
        set_(self, "seed", positive_int("seed", self.seed, minimum=0, maximum=2**31 - 1))
        if self.target_loss is not None:
            set_(self, "target_loss", positive_float("target loss", self.target_loss, allow_zero=True))
        set_(self, "max_seconds", positive_float("max seconds", self.max_seconds, maximum=MAX_FIT_SECONDS))
        if not isinstance(self.converge, bool):
            raise LoraLabError(f"converge must be True or False, got {self.converge!r}")

    @property
    def scaling(self) -> float:
        return self.alpha / self.r  # loralib / PEFT: scaling = lora_alpha / r


Callback = Callable[[int, float], None] | None
StopFlag = Callable[[], bool] | None
FloorHook = Callable[[float], None] | None


def train(
    settings: FitSettings,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    *,
    floor: float | None = None,
    callback: Callback = None,
    should_stop: StopFlag = None,
) -> TrainOutcome:
    """Adam on (lora_A, lora_B) under the settings' rules: target loss, convergence to `floor`, the caps."""
    return train_adam(
        loss_fn,
        lora_A,
        lora_B,
        steps=settings.steps,
        lr=settings.lr,
        target_loss=settings.target_loss,
        floor=floor,
        converge=settings.converge,
        max_seconds=settings.max_seconds,
        callback=callback,
        should_stop=should_stop,
    )


def _result(
    settings: FitSettings,
    out: TrainOutcome,
    started: float,
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    *,
    mode: str,
    final_loss: float,
    optimal_loss: float,
    target: torch.Tensor,
    target_sigma: tuple[float, ...],
    learned: torch.Tensor,
    base: torch.Tensor,
    base_out_in: torch.Tensor,
    generator: torch.Generator,
) -> FitResult:
    """Both modes' FitResult. `target`, `learned`, `base` share one orientation; base_out_in is (out, in)."""
    s = settings.scaling
    return FitResult(
        mode=mode,
        r=settings.r,
        alpha=settings.alpha,
        scaling=s,
        losses=out.losses,
        final_loss=final_loss,
        optimal_loss=optimal_loss,
        steps=out.steps,
        seconds=time.perf_counter() - started,
        stop_reason=out.stop_reason,
        target_delta=target,
        learned_delta=learned,
        target_sigma=target_sigma,
        # s B A and its transpose have the same singular values, so one call serves both orientations
        learned_sigma=lowrank_sigma(s * lora_B, lora_A.T, len(target_sigma)),
        base_weight=base,
        merged_weight=base + learned,
        merge_max_abs_diff=merge_check(base_out_in, lora_A, lora_B, s, generator),
        lora_A=lora_A,
        lora_B=lora_B,
    )


def fit_matrix(
    target: torch.Tensor,
    settings: FitSettings,
    *,
    base: torch.Tensor | None = None,
    callback: Callback = None,
    should_stop: StopFlag = None,
    on_floor: FloorHook = None,
    started: float | None = None,
) -> FitResult:
    """Fit (alpha/r) B A to `target` (rows, cols). `base` is the frozen W for the merge demo (random if None)."""
    started = time.perf_counter() if started is None else started
    rows, cols = target.shape
    if rows > MAX_SIDE or cols > MAX_SIDE:
        raise LoraLabError(f"the target is {rows} x {cols}; each side may be at most {MAX_SIDE}")
    g = torch.Generator().manual_seed(settings.seed)
    if base is None:
        base = torch.randn(rows, cols, generator=g) / math.sqrt(cols)  # (out, in) like nn.Linear's scale
    target = target.to(torch.float32)
    s = settings.scaling
    entries = rows * cols

    def loss_fn(lora_A: torch.Tensor, lora_B: torch.Tensor) -> torch.Tensor:
        return ((target - s * (lora_B @ lora_A)) ** 2).sum() / entries  # (rows, cols) residual

    sigma = singular_values(target)
    floor = eckart_young_floor(sigma, settings.r, entries)
    if on_floor is not None:
        on_floor(floor)  # before training, so a live chart can draw the floor line at once
    lora_A, lora_B = init_lora(rows, cols, settings.r, g)
    out = train(settings, loss_fn, lora_A, lora_B, floor=floor, callback=callback, should_stop=should_stop)
    learned = s * (lora_B @ lora_A)  # (rows, cols)
    final = float(((target.double() - learned.double()) ** 2).sum()) / entries  # recomputed, float64
    return _result(
        settings,
        out,
        started,
        lora_A,
        lora_B,
        mode="matrix",
        final_loss=final,
        optimal_loss=floor,
        target=target,
        target_sigma=tuple(sigma.tolist()),
        learned=learned,
        base=base,
        base_out_in=base,
        generator=g,
    )


def run_matrix(
    rows: int = DEFAULT_ROWS,
    cols: int = DEFAULT_COLS,
    true_rank: int = DEFAULT_TRUE_RANK,
    settings: FitSettings | None = None,
    *,
    profile: str = DEFAULT_PROFILE,
    noise: float = DEFAULT_NOISE,
    callback: Callback = None,
    should_stop: StopFlag = None,
    on_floor: FloorHook = None,
) -> FitResult:
    """Generate a target (see fit_targets.make_target) and fit it; `seconds` includes the generation."""
    started = time.perf_counter()
    settings = settings or FitSettings()
    target = make_target(rows, cols, true_rank, profile, noise, settings.seed)
    return fit_matrix(
        target, settings, callback=callback, should_stop=should_stop, on_floor=on_floor, started=started
    )


def fit_regression(
    data: reg.RegressionData,
    settings: FitSettings,
    *,
    callback: Callback = None,
    should_stop: StopFlag = None,
    on_floor: FloorHook = None,
    started: float | None = None,
) -> FitResult:
    """Train LoRA on (X, y) with the base W = theta frozen; see lora_core.fit_regression for the method."""
    started = time.perf_counter() if started is None else started
    X, theta = data.X, data.theta
    d_in, d_out = theta.shape
    g = torch.Generator().manual_seed(settings.seed + 1)  # +1: not the stream that drew the data
    problem = reg.WhitenedProblem(X, data.y, theta)
    s = settings.scaling
    floor = problem.floor(settings.r, settings.seed)
    if on_floor is not None:
        on_floor(floor)
    lora_A, lora_B = init_lora(d_out, d_in, settings.r, g)  # Linear(d_in -> d_out): A (r, d_in), B (d_out, r)
    loss_fn = lambda a, b: problem.loss(a, b, s)  # noqa: E731
    out = train(settings, loss_fn, lora_A, lora_B, floor=floor, callback=callback, should_stop=should_stop)
    return _result(
        settings,
        out,
        started,
        lora_A,
        lora_B,
        mode="regression",
        final_loss=problem.direct_loss(X, lora_A, lora_B, s),
        optimal_loss=floor,
        target=data.delta,
        target_sigma=tuple(data.delta_sigma.tolist()),
        learned=s * (lora_A.T @ lora_B.T),  # (d_in, d_out) theta's orientation
        base=theta,
        base_out_in=theta.T,
        generator=g,
    )


def run_regression(
    samples: int = DEFAULT_SAMPLES,
    d_in: int = DEFAULT_D_IN,
    d_out: int = DEFAULT_D_OUT,
    settings: FitSettings | None = None,
    *,
    shift: str = "ones",
    shift_rank: int = 1,
    callback: Callback = None,
    should_stop: StopFlag = None,
    on_floor: FloorHook = None,
) -> FitResult:
    """The seed's experiment end to end: make the data, train, report. `seconds` includes the data."""
    started = time.perf_counter()
    settings = settings or FitSettings(r=DEFAULT_REG_R)
    data = reg.make_regression_data(samples, d_in, d_out, shift, shift_rank, settings.seed)
    return fit_regression(
        data, settings, callback=callback, should_stop=should_stop, on_floor=on_floor, started=started
    )
