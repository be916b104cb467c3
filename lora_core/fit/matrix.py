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
from lora_core.fit.adapters import make_adapter
from lora_core.fit.results import FitResult, PreparedFit, build_result
from lora_core.fit.settings import (
    DEFAULT_COLS,
    DEFAULT_NOISE,
    DEFAULT_PROFILE,
    DEFAULT_ROWS,
    DEFAULT_TRUE_RANK,
    FitSettings,
)
from lora_core.fit.targets import MAX_SIDE, eckart_young_floor, make_target, singular_values
from lora_core.fit.trainer import Callback, FloorHook, StopFlag, TrainOutcome


def prepare_matrix(
    target: torch.Tensor,
    settings: FitSettings,
    *,
    base: torch.Tensor | None = None,
    sigma: torch.Tensor | None = None,
    started: float | None = None,
) -> PreparedFit:
    """Set up a fit of s B A (or VeRA's diag(b) B diag(d) A) to `target` (rows, cols), ready to train.

    `base` is the frozen W for the merge demo only (random if None): the loss never reads it, so init pissa /
    olora, which start from it, are refused. `sigma` is the target's singular values, if known (a race
    computes them once)."""
    started = time.perf_counter() if started is None else started
    rows, cols = target.shape
    if rows > MAX_SIDE or cols > MAX_SIDE:
        raise LoraLabError("fit.target_too_large", rows=rows, cols=cols, limit=MAX_SIDE)
    g = torch.Generator().manual_seed(settings.seed)
    if base is None:
        base = torch.randn(rows, cols, generator=g) / math.sqrt(cols)  # (out, in) like nn.Linear's scale
    target = target.to(torch.float32)
    entries = rows * cols
    sigma = singular_values(target) if sigma is None else sigma
    floor = eckart_young_floor(sigma, settings.r, entries)
    adapter = make_adapter(settings, rows, cols, g)  # no base: init pissa / olora are refused here
    s = adapter.scaling

    def loss_fn(*params: torch.Tensor) -> torch.Tensor:
        lora_A, lora_B = adapter.factors(*params)  # (r, cols), (rows, r)
        return ((target - s * (lora_B @ lora_A)) ** 2).sum() / entries  # (rows, cols) residual

    # LoRA can reach the Eckart–Young floor; VeRA's reach has no closed form: only the plateau rule stops it
    reachable = floor if adapter.kind == "lora" else None

    def finish(out: TrainOutcome) -> FitResult:
        lora_A, lora_B = adapter.factors()
        learned = s * (lora_B @ lora_A)  # (rows, cols)
        final = float(((target.double() - learned.double()) ** 2).sum()) / entries  # recomputed, float64
        return build_result(
            settings,
            out,
            started,
            adapter,
            mode="matrix",
            final_loss=final,
            optimal_loss=floor,
            reachable_floor=reachable,
            target=target,
            target_sigma=tuple(sigma.tolist()),
            learned=learned,
            base=base,
            base_out_in=base,
            generator=g,
        )

    return PreparedFit(settings, adapter, loss_fn, floor, reachable, finish)


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
    """Fit s B A (or VeRA's diag(b) B diag(d) A) to `target` (rows, cols); see prepare_matrix."""
    prepared = prepare_matrix(target, settings, base=base, started=started)
    if on_floor is not None:
        on_floor(prepared.floor)  # before training, so a live chart can draw the floor line at once
    return prepared.finish(prepared.train(callback=callback, should_stop=should_stop))


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
