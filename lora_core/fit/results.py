"""What a fit returns: the loss history, the learned ΔW beside the target, and the merge check.

The merge check is the seed article's closing point (002): after training, W + ΔW can replace W, so the
adapted model costs no extra inference time. We show it numerically: on held-out inputs the merged layer
x (W + ΔW)^T and the unmerged one x W^T + s (x A^T) B^T agree to float32 rounding.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lora_core.fit.adapters import Adapter
from lora_core.fit.settings import FitSettings
from lora_core.fit.trainer import Callback, StopFlag, Training, TrainOutcome

HELD_OUT = 256  # held-out inputs for the merge check; any count shows it, 256 keeps it instant


@dataclass(frozen=True)
class FitResult:
    mode: str  # "matrix" or "regression"
    r: int  # LoRA rank
    alpha: float  # lora_alpha
    scaling: float  # alpha / r, as loralib and PEFT scale B @ A
    losses: tuple[float, ...]  # training loss before each step, then after the last
    final_loss: float  # recomputed directly after training (regression: on all n samples)
    optimal_loss: float  # the floor: best loss any rank-r update reaches (Eckart–Young)
    steps: int  # Adam steps taken
    seconds: float  # wall clock of the whole run: data, precompute, training, floor, merge check
    stop_reason: str  # target, floor, plateau, steps, time or cancelled (lora_core.fit.trainer.STOP_*)
    target_delta: torch.Tensor  # (rows, cols) the ΔW to learn
    learned_delta: torch.Tensor  # (rows, cols) s * B @ A (regression: s * A^T B^T, theta's orientation)
    target_sigma: tuple[float, ...]  # singular values of target_delta, largest first
    learned_sigma: tuple[float, ...]  # singular values of learned_delta (at most r are nonzero)
    base_weight: torch.Tensor  # (rows, cols) the frozen W, never modified
    merged_weight: torch.Tensor  # (rows, cols) W + learned ΔW
    merge_max_abs_diff: float  # max |merged - unmerged| over held-out outputs
    lora_A: torch.Tensor  # (r, in_features); VeRA: diag(d) vera_A
    lora_B: torch.Tensor  # (out_features, r); VeRA: diag(b) vera_B
    # The variant (issue 15 §4; lora_core.fit.adapters): defaults are plain LoRA
    scaling_rule: str = "standard"  # "standard" alpha / r, "rslora" alpha / sqrt(r)
    lr_ratio: float = 1.0  # LoRA+'s λ: B's learning rate over A's
    init: str = "gaussian"  # "gaussian", "pissa" or "olora"
    adapter: str = "lora"  # "lora" or "vera"
    trainable_params: int = 0  # values Adam trained: LoRA r (in + out), VeRA r + out
    # The best loss this variant can reach, when known: LoRA's is the floor; PiSSA's and OLoRA's that of their
    # residual base (the model's change can have rank 2r, so it may lie below the floor); VeRA's has no
    # closed form (None)
    reachable_floor: float | None = None

    @property
    def gap_to_floor(self) -> float:
        """(final - floor) / floor; inf when the floor is 0 and the loss is not."""
        if self.optimal_loss > 0:
            return (self.final_loss - self.optimal_loss) / self.optimal_loss
        return 0.0 if self.final_loss == 0 else float("inf")

    def payload(self) -> dict:
        """The CLI's --json keys (a public contract: add, never rename)."""
        return {
            "mode": self.mode,
            "final_loss": self.final_loss,
            "optimal_loss": self.optimal_loss,
            "steps": self.steps,
            "seconds": self.seconds,
            "losses": list(self.losses),
            "stop_reason": self.stop_reason,
            "r": self.r,
            "alpha": self.alpha,
            "target_sigma": list(self.target_sigma[: max(2 * self.r, 10)]),
            "learned_sigma": list(self.learned_sigma[: max(2 * self.r, 10)]),
            "merge_max_abs_diff": self.merge_max_abs_diff,
            # issue 15 §4: the variant, and what it trains and can reach
            "scaling_rule": self.scaling_rule,
            "scaling_factor": self.scaling,
            "lr_ratio": self.lr_ratio,
            "init": self.init,
            "adapter": self.adapter,
            "trainable_params": self.trainable_params,
            "reachable_floor": self.reachable_floor,
        }


@dataclass(eq=False)
class PreparedFit:
    """A fit set up and ready to train (lora_core.fit.matrix.prepare_matrix, regression.prepare_regression):
    `train` runs it to the end, `training` gives its loop to step by hand (a race steps several in turn),
    and `finish` turns the outcome into the FitResult."""

    settings: FitSettings
    adapter: Adapter
    loss_fn: Callable[..., torch.Tensor]  # loss_fn(*adapter.params)
    floor: float  # the task's rank-r floor (Eckart–Young; X-weighted in regression mode)
    reachable: float | None  # the best loss this variant can reach, if known: the convergence rule's floor
    finish: Callable[[TrainOutcome], FitResult]

    def training(self, callback: Callback = None) -> Training:
        s = self.settings
        return Training(
            self.loss_fn,
            self.adapter.params,
            steps=s.steps,
            lr=s.lr,
            lr_scales=self.adapter.lr_scales,
            target_loss=s.target_loss,
            floor=self.reachable,
            converge=s.converge,
            max_seconds=s.max_seconds,
            callback=callback,
        )

    def train(self, callback: Callback = None, should_stop: StopFlag = None) -> TrainOutcome:
        run = self.training(callback)
        while run.advance(should_stop) is None:
            pass
        return run.outcome()


def lowrank_sigma(left: torch.Tensor, right: torch.Tensor, length: int) -> tuple[float, ...]:
    """Singular values of left @ right^T (left (m, r), right (n, r)) without forming it, padded with zeros.

    With left = Q1 R1 and right = Q2 R2, left @ right^T = Q1 (R1 R2^T) Q2^T, so they are those of the
    r x r matrix R1 R2^T.
    """
    _, r1 = torch.linalg.qr(left.double())  # (r, r)
    _, r2 = torch.linalg.qr(right.double())  # (r, r)
    s = torch.linalg.svdvals(r1 @ r2.T).tolist()
    return tuple(s[:length]) + (0.0,) * max(0, length - len(s))


def merge_check(
    base_out_in: torch.Tensor,
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    scaling: float,
    generator: torch.Generator,
) -> float:
    """max |x (W + s B A)^T - (x W^T + s (x A^T) B^T)| on held-out x, for a layer with weight W (out, in)."""
    x = torch.randn(HELD_OUT, base_out_in.shape[1], generator=generator)  # (batch, in)
    merged = x @ (base_out_in + scaling * lora_B @ lora_A).T  # (batch, out): one matmul, as in deployment
    unmerged = x @ base_out_in.T + scaling * (x @ lora_A.T) @ lora_B.T  # (batch, out): base + adapter
    return float((merged - unmerged).abs().max())


def build_result(
    settings: FitSettings,
    out: TrainOutcome,
    started: float,
    adapter: Adapter,
    *,
    mode: str,
    final_loss: float,
    optimal_loss: float,
    reachable_floor: float | None,
    target: torch.Tensor,
    target_sigma: tuple[float, ...],
    learned: torch.Tensor,
    base: torch.Tensor,
    base_out_in: torch.Tensor,
    generator: torch.Generator,
    update_factors: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> FitResult:
    """Both modes' FitResult. `target`, `learned` (the model's change) and `base` (the original W) share one
    orientation; base_out_in (out, in) is the frozen weight the layer runs on (PiSSA / OLoRA: the residual).
    `update_factors` (left (m, q), right (n, q)), with left @ right^T the learned change, give its singular
    values (default: s B and A^T)."""
    s = adapter.scaling
    lora_A, lora_B = adapter.factors()  # (r, in), (out, r); VeRA: d A and b B
    left, right = update_factors if update_factors is not None else (s * lora_B, lora_A.T)
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
        # a product and its transpose have the same singular values, so one call serves both orientations
        learned_sigma=lowrank_sigma(left, right, len(target_sigma)),
        base_weight=base,
        merged_weight=base + learned,
        merge_max_abs_diff=merge_check(base_out_in, lora_A, lora_B, s, generator),
        lora_A=lora_A,
        lora_B=lora_B,
        scaling_rule=settings.scaling_rule,
        lr_ratio=settings.lr_ratio,
        init=settings.init,
        adapter=settings.adapter,
        trainable_params=adapter.trainable,
        reachable_floor=reachable_floor,
    )


def block_mean(m: torch.Tensor, max_side: int) -> torch.Tensor:
    """m shrunk to at most max_side per side by averaging blocks (for heatmaps), float32."""
    rows, cols = m.shape
    fr, fc = -(-rows // max_side), -(-cols // max_side)  # ceil: block height and width
    if fr == 1 and fc == 1:
        return m.to(torch.float32)
    pooled = torch.nn.functional.avg_pool2d(m[None, None].float(), (fr, fc), ceil_mode=True)
    return pooled[0, 0]


@dataclass(frozen=True)
class FitPreview:
    """What a page keeps of a FitResult: small, so 30 sessions hold little memory. Plain numbers and numpy
    arrays only, so it crosses a process boundary as plain data (lora_ui.workers.fit_worker)."""

    payload: dict  # FitResult.payload() plus shapes
    target: np.ndarray  # (<= max_side, <= max_side) float32 block means of the target ΔW
    learned: np.ndarray  # same for the learned ΔW
    target_sigma: tuple[float, ...]  # leading singular values
    learned_sigma: tuple[float, ...]


def preview(result: FitResult, max_side: int = 96, max_sigma: int = 64) -> FitPreview:
    rows, cols = result.target_delta.shape
    payload = result.payload() | {"rows": rows, "cols": cols, "scaling": result.scaling}
    return FitPreview(
        payload=payload,
        target=block_mean(result.target_delta, max_side).numpy(),
        learned=block_mean(result.learned_delta, max_side).numpy(),
        target_sigma=result.target_sigma[:max_sigma],
        learned_sigma=result.learned_sigma[:max_sigma],
    )
