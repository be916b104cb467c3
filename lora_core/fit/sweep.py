"""The rank sweep: final loss against r beside the floor, to show that rank beyond the change buys nothing.

Each rank is a short fit on the same target (or the same regression data, whose precompute is shared),
so the sweep stays cheap: at most SWEEP_POINTS ranks, each stopping when it converges to its own floor
(lora_core.fit.trainer) and after SWEEP_MAX_STEPS Adam steps at most.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from lora_core.fit.adapters import Adapter, make_adapter
from lora_core.fit.regression import RegressionData, WhitenedProblem
from lora_core.fit.settings import FitSettings
from lora_core.fit.targets import eckart_young_floor, singular_values
from lora_core.fit.trainer import STOP_CANCELLED, StopFlag, train

LossFn = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]  # loss(A_eff, B_eff, s)
FinalFn = Callable[[torch.Tensor, torch.Tensor, float], float]  # the loss recomputed after training

SWEEP_POINTS = 8  # ranks tried at most
SWEEP_MAX_STEPS = 600  # per rank, a guard; ranks up to the true rank converge well inside it (docs/fit.md)


@dataclass(frozen=True)
class SweepPoint:
    r: int  # LoRA rank tried
    final_loss: float  # loss after the short fit
    floor: float  # best rank-r loss


def sweep_ranks(max_rank: int) -> tuple[int, ...]:
    """1, 2, 3, 4, then r + r // 2 each time (6, 9, 13, 19, 28, ...), up to max_rank, at most SWEEP_POINTS."""
    out, r = [], 1
    while r <= max_rank and len(out) < SWEEP_POINTS:
        out.append(r)
        r = r + 1 if r < 4 else r + r // 2
    return tuple(out)


def _rank_settings(settings: FitSettings, r: int) -> FitSettings:
    # alpha chosen so that the scale s is the fit's at every rank (alpha / r, or alpha / sqrt(r) with rsLoRA),
    # so each rank starts from the same effective step size
    per_alpha = math.sqrt(r) if settings.scaling_rule == "rslora" else r
    return replace(
        settings,
        r=r,
        alpha=settings.scaling * per_alpha,
        steps=min(settings.steps, SWEEP_MAX_STEPS),
        target_loss=None,  # every rank trains until it converges to its own floor (or its cap): the points compare
    )


def _short_fits(
    ranks: tuple[int, ...],
    settings: FitSettings,
    shape: tuple[int, int],
    seed_offset: int,
    problem: Callable[[int, Adapter], tuple[LossFn, float, float | None, FinalFn]],
    base: torch.Tensor | None,
    should_stop: StopFlag,
) -> tuple[SweepPoint, ...]:
    """A short fit per rank of the settings' variant, for a layer of shape (out, in) = `shape`.

    `problem(r, adapter)` gives that rank's (loss(A, B, s), floor, reachable floor, final(A, B, s))."""
    points = []
    for r in ranks:
        rank_settings = _rank_settings(settings, r)
        g = torch.Generator().manual_seed(rank_settings.seed + seed_offset)
        adapter = make_adapter(rank_settings, *shape, g, base=base)
        s = adapter.scaling
        loss, best, reachable, final = problem(r, adapter)
        out = train(
            rank_settings,
            lambda *p, loss=loss, adapter=adapter, s=s: loss(*adapter.factors(*p), s),
            *adapter.params,
            lr_scales=adapter.lr_scales,
            floor=reachable,
            should_stop=should_stop,
        )
        if out.stop_reason == STOP_CANCELLED:
            break
        points.append(SweepPoint(r, final(*adapter.factors(), s), best))
    return tuple(points)


def sweep_matrix(
    target: torch.Tensor, ranks: tuple[int, ...], settings: FitSettings, should_stop: StopFlag = None
) -> tuple[SweepPoint, ...]:
    rows, cols = target.shape
    sigma = singular_values(target)

    def loss(a: torch.Tensor, b: torch.Tensor, s: float) -> torch.Tensor:
        return ((target - s * (b @ a)) ** 2).sum() / (rows * cols)  # (rows, cols) residual

    def final(a: torch.Tensor, b: torch.Tensor, s: float) -> float:
        return float(((target.double() - s * (b @ a).double()) ** 2).sum()) / (rows * cols)

    def problem(r: int, adapter: Adapter):
        best = eckart_young_floor(sigma, r, rows * cols)
        return loss, best, best if adapter.kind == "lora" else None, final

    return _short_fits(ranks, settings, (rows, cols), 0, problem, None, should_stop)


def sweep_regression(
    data: RegressionData, ranks: tuple[int, ...], settings: FitSettings, should_stop: StopFlag = None
) -> tuple[SweepPoint, ...]:
    d_in, d_out = data.theta.shape
    whitened = WhitenedProblem(data.X, data.y, data.theta)  # built once for every rank

    def problem(r: int, adapter: Adapter):
        best = whitened.floor(r, settings.seed)
        run, reachable = whitened, best
        if adapter.residual is not None:  # PiSSA / OLoRA: the frozen base is the residual
            run = whitened.rebased(data.X, data.theta, adapter.residual.T)
            reachable = run.floor(r, settings.seed)
        if adapter.kind == "vera":
            reachable = None  # no closed form: the plateau rule stops it

        def final(a: torch.Tensor, b: torch.Tensor, s: float) -> float:
            return run.direct_loss(data.X, a, b, s)

        return run.loss, best, reachable, final

    # +1: the regression fit's init stream (lora_core.fit.regression.fit_regression)
    return _short_fits(ranks, settings, (d_out, d_in), 1, problem, data.theta.T, should_stop)
