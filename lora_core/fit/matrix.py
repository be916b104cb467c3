"""Matrix mode: fit (alpha/r) B A to a target ΔW (rows, cols) directly.

loss = ||ΔW - (alpha/r) B A||_F^2 / (rows * cols); its floor is the Eckart–Young one (lora_core.fit.targets).
The target is given (an upload, a file) or generated (`run_matrix`). The frozen base W only serves the
merge check (lora_core.fit.results): the loss never reads it.
"""

from __future__ import annotations

import math
import time

import torch

from lora_core.errors import LoraLabError
from lora_core.fit.results import FitResult, build_result
from lora_core.fit.settings import (
    DEFAULT_COLS,
    DEFAULT_NOISE,
    DEFAULT_PROFILE,
    DEFAULT_ROWS,
    DEFAULT_TRUE_RANK,
    FitSettings,
)
from lora_core.fit.targets import MAX_SIDE, eckart_young_floor, make_target, singular_values
from lora_core.fit.trainer import Callback, FloorHook, StopFlag, init_lora, train


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
        raise LoraLabError("fit.target_too_large", rows=rows, cols=cols, limit=MAX_SIDE)
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
    return build_result(
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
    """Generate a target (lora_core.fit.targets.make_target) and fit it; `seconds` includes the generation."""
    started = time.perf_counter()
    settings = settings or FitSettings()
    target = make_target(rows, cols, true_rank, profile, noise, settings.seed)
    return fit_matrix(
        target, settings, callback=callback, should_stop=should_stop, on_floor=on_floor, started=started
    )
