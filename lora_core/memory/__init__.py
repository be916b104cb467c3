"""GPU memory of a training step: full fine-tuning, LoRA, DoRA and QLoRA (see docs/memory.md).

Modules, one idea each: setup (the inputs), recipe (how a step is built), adapters, lora_layers and
family_layers (PEFT's layers rebuilt for tracing), family (the adapter spec as the estimator sees it),
parameters (the recipe model's parameter list), states (weights, gradients, optimizer states), kernels
(device emulation while tracing), live_bytes (one traced step), trace (exact polynomials and the cached
live-bytes models), trace_jobs (traces run in another process and handed back), precomputed (the presets' common recipes, ahead of time), sharding (ZeRO/FSDP),
allocator_config, allocator, allocator_replay and allocator_coded (PyTorch's caching allocator: its settings,
its pools, a run replayed through them, the default configuration's fast path over integer-coded steps), events (a step at the real depth as allocation events), optimizer_step (the optimizer
step's temporaries), reserve (allocated and reserved bytes of the replayed run), estimate (phases and peak),
uncertainty (the GPU validation's band and margin), series (what the page plots), solver (largest
batch/seq/rank that fits), gpus (cards).

The names below are imported on first use (PEP 562), so that `lora_core.memory.setup` (the CLI's choices)
does not import torch.
"""

from __future__ import annotations

__all__ = ["GiB", "MemoryEstimate", "MiB", "TrainingSetup", "estimate_memory"]


def __getattr__(name: str):
    if name == "TrainingSetup":
        from lora_core.memory.setup import TrainingSetup

        return TrainingSetup
    if name in ("GiB", "MiB", "MemoryEstimate", "estimate_memory"):
        from lora_core.memory import estimate

        return getattr(estimate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
