"""The training loop shared by both fit modes: Adam on (lora_A, lora_B) with live progress and stops.

The loop knows nothing about the problem: it gets `loss_fn(lora_A, lora_B) -> scalar` and returns
what happened. It stops at the first of: loss <= target, the step cap, the wall-clock cap, or
`should_stop()` (the page's Stop button, a session that went away). It never sets torch's thread
count: the app does that once at start (lora_ui.runtime.configure_once), the CLI and benchmark likewise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

# Adam's moment decays and epsilon: PyTorch's defaults (torch.optim.Adam), which the seed's optim_adam shares.
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
# The step size decays as a half cosine from lr to LR_FLOOR_FRACTION * lr over the step cap
# (Loshchilov & Hutter 2017, SGDR, without restarts). A constant step leaves Adam rattling around the
# minimum at about lr per entry; the decay lets it settle within 1 % of the floor (docs/fit.md, "Tuning").
LR_FLOOR_FRACTION = 0.01

STOP_TARGET = "target"  # loss <= target loss
STOP_STEPS = "steps"  # step cap reached
STOP_TIME = "time"  # wall-clock cap reached
STOP_CANCELLED = "cancelled"  # should_stop() said so


def init_lora(rows: int, cols: int, r: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """lora_A (r, cols) Kaiming-uniform and lora_B (rows, r) zeros, as loralib and PEFT initialise them.

    loralib `Linear.reset_parameters` and PEFT `LoraLayer.reset_lora_parameters(init_lora_weights=True)`
    both call `nn.init.kaiming_uniform_(lora_A, a=math.sqrt(5))` and `nn.init.zeros_(lora_B)`, so
    B @ A = 0 and training starts exactly at the frozen base. Here rows = out_features, cols = in_features.
    """
    lora_A = torch.empty(r, cols)  # (r, in)
    torch.nn.init.kaiming_uniform_(lora_A, a=math.sqrt(5), generator=generator)
    lora_B = torch.zeros(rows, r)  # (out, r)
    return lora_A.requires_grad_(True), lora_B.requires_grad_(True)


@dataclass(frozen=True)
class TrainOutcome:
    losses: tuple[float, ...]  # training loss before each step, then after the last one
    steps: int  # optimizer steps taken
    stop_reason: str  # one of the STOP_* values
    seconds: float  # wall clock of the loop alone


def lr_at(step: int, steps: int, lr: float) -> float:
    """Half-cosine decay from lr (step 0) to LR_FLOOR_FRACTION * lr (step `steps`)."""
    low = LR_FLOOR_FRACTION * lr
    return low + 0.5 * (lr - low) * (1.0 + math.cos(math.pi * min(step, steps) / max(steps, 1)))


def train_adam(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    *,
    steps: int,
    lr: float,
    target_loss: float | None = None,
    max_seconds: float = math.inf,
    callback: Callable[[int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainOutcome:
    """Adam on lora_A, lora_B in place. `callback(step, loss)` runs after every loss evaluation."""
    opt = torch.optim.Adam([lora_A, lora_B], lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS)
    start = time.perf_counter()
    losses: list[float] = []
    reason = STOP_STEPS
    step = 0
    while True:
        loss = loss_fn(lora_A, lora_B)
        value = float(loss.detach())
        losses.append(value)
        if callback is not None:
            callback(step, value)
        if target_loss is not None and value <= target_loss:
            reason = STOP_TARGET
            break
        if step >= steps:
            reason = STOP_STEPS
            break
        if time.perf_counter() - start > max_seconds:
            reason = STOP_TIME
            break
        if should_stop is not None and should_stop():
            reason = STOP_CANCELLED
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
    lora_A.requires_grad_(False)
    lora_B.requires_grad_(False)
    return TrainOutcome(
        losses=tuple(losses), steps=step, stop_reason=reason, seconds=time.perf_counter() - start
    )
