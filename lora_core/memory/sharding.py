"""Per-GPU shares of the training state under ZeRO (Rajbhandari et al. 2020, arXiv 1910.02054) and FSDP.

ZeRO-1 partitions optimizer states over N data-parallel GPUs, ZeRO-2 also gradients, ZeRO-3 also the
parameters (ZeRO paper, Figure 1: 4Ψ + 12Ψ/N ... down to 16Ψ/N for mixed-precision Adam). FSDP's
FULL_SHARD is ZeRO-3 for memory. Activations are not sharded: each GPU runs its own micro-batch.
ZeRO-3/FSDP must gather a layer's full parameters to use it: we keep the unsharded root (embeddings, head)
plus two layers (the current one and the prefetched next one: FSDP forward/backward prefetch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lora_core.memory.setup import TrainingSetup
from lora_core.memory.states import StateBytes


@dataclass(frozen=True)
class Shares:
    weights: int
    gradients: int
    optimizer: int
    optimizer_temp: int
    paged: int  # the paged optimizer states' share (unified memory, outside torch's counters)
    gathered: int  # full parameters gathered for compute (ZeRO-3/FSDP)
    grad_fraction: float  # share of the gradients one GPU keeps


def shard(states: StateBytes, setup: TrainingSetup) -> Shares:
    n = setup.gpus
    level = {"none": 0, "zero1": 1, "zero2": 2, "zero3": 3, "fsdp": 3}[setup.sharding]

    def part(x: int, on: bool) -> int:
        return math.ceil(x / n) if on else x

    gathered = 0
    if level >= 3:
        gathered = states.root_param_bytes + 2 * states.layer_param_bytes
    return Shares(
        weights=part(states.weights_bytes, level >= 3),
        gradients=part(states.gradients_bytes, level >= 2),
        optimizer=part(states.optimizer_bytes, level >= 1),
        optimizer_temp=part(states.optimizer_temp_bytes, level >= 1),
        paged=part(states.paged_bytes, level >= 1),
        gathered=gathered,
        grad_fraction=1.0 / n if level >= 2 else 1.0,
    )
