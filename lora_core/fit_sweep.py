"""The rank sweep: final loss against r beside the floor, to show that rank beyond the change buys nothing.

Each rank is a short fit on the same target (or the same regression data, whose precompute is shared),
so the sweep stays cheap: at most SWEEP_POINTS ranks, each stopping when it converges to its own floor
(lora_core.fit_trainer) and after SWEEP_MAX_STEPS Adam steps at most.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from lora_core import fit_regression as reg
from lora_core.fit import FitSettings, StopFlag, train
from lora_core.fit_targets import eckart_young_floor, singular_values
from lora_core.fit_trainer import STOP_CANCELLED, init_lora

SWEEP_POINTS = 8  # ranks tried at most
SWEEP_MAX_STEPS = 600  # per rank, a guard; ranks up to the true rank converge well inside it (docs/fit.md)


@dataclass(frozen=True)
class SweepPoint:
    r: int  # LoRA rank tried
    final_loss: float  # loss after the short fit
    floor: float  # best rank-r loss


def sweep_ranks(max_rank: int) -> tuple[int, ...]:
    """1, 2, 3, 4, 6, 8, 12, 16, ... up to max_rank, at most SWEEP_POINTS of them."""
    out, r = [], 1
    while r <= max_rank and len(out) < SWEEP_POINTS:
        out.append(r)
        r = r + 1 if r < 4 else r + r // 2
    return tuple(out)


def _settings(settings: FitSettings, r: int) -> FitSettings:
    # alpha / r held at the fit's scaling, so each rank starts from the same effective step size
    return replace(
        settings,
        r=r,
        alpha=settings.scaling * r,
        steps=min(settings.steps, SWEEP_MAX_STEPS),
        target_loss=None,  # every rank trains until it converges to its own floor (or its cap): the points compare
    )


def _sweep(
    ranks: tuple[int, ...],
    settings: FitSettings,
    shape: tuple[int, int],
    seed_offset: int,
    loss: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor],
    floor: Callable[[int], float],
    final: Callable[[torch.Tensor, torch.Tensor, float], float],
    should_stop: StopFlag,
) -> tuple[SweepPoint, ...]:
    """A short fit per rank: lora_B (shape[0], r), lora_A (r, shape[1]); `final` scores each one."""
    points = []
    for r in ranks:
        st = _settings(settings, r)
        s = st.scaling
        best = floor(r)
        lora_A, lora_B = init_lora(*shape, r, torch.Generator().manual_seed(st.seed + seed_offset))
        out = train(st, lambda a, b, s=s: loss(a, b, s), lora_A, lora_B, floor=best, should_stop=should_stop)
        if out.stop_reason == STOP_CANCELLED:
            break
        points.append(SweepPoint(r, final(lora_A, lora_B, s), best))
    return tuple(points)


def sweep_matrix(
    target: torch.Tensor, ranks: tuple[int, ...], settings: FitSettings, should_stop: StopFlag = None
) -> tuple[SweepPoint, ...]:
    rows, cols = target.shape
    sigma = singular_values(target)

    def loss(a: torch.Tensor, b: torch.Tensor, s: float) -> torch.Tensor:
        return ((target - s * (b @ a)) ** 2).sum() / (rows * cols)  # (rows, cols) residual

    def floor(r: int) -> float:
        return eckart_young_floor(sigma, r, rows * cols)

    def final(a: torch.Tensor, b: torch.Tensor, s: float) -> float:
        return float(((target.double() - s * (b @ a).double()) ** 2).sum()) / (rows * cols)

    return _sweep(ranks, settings, (rows, cols), 0, loss, floor, final, should_stop)


def sweep_regression(
    data: reg.RegressionData, ranks: tuple[int, ...], settings: FitSettings, should_stop: StopFlag = None
) -> tuple[SweepPoint, ...]:
    d_in, d_out = data.theta.shape
    problem = reg.WhitenedProblem(data.X, data.y, data.theta)  # built once for every rank

    def floor(r: int) -> float:
        return problem.floor(r, settings.seed)

    def final(a: torch.Tensor, b: torch.Tensor, s: float) -> float:
        return problem.direct_loss(data.X, a, b, s)

    # +1: the regression fit's init stream (lora_core.fit.fit_regression)
    return _sweep(ranks, settings, (d_out, d_in), 1, problem.loss, floor, final, should_stop)
