"""GPU memory of a training step: full fine-tuning, LoRA, DoRA and QLoRA (see docs/memory.md).

Modules, one idea each: setup (the inputs), recipe (how a step is built), adapters and lora_layers (PEFT's
layers rebuilt for tracing), states (weights, gradients, optimizer), kernels (device emulation while tracing),
live_bytes (one traced step), trace (exact polynomials and the cached live-bytes models), precomputed (the
presets' common recipes, ahead of time), sharding (ZeRO/FSDP), estimate (phases and peak), series (what the
page plots), solver (largest batch/seq/rank that fits), gpus (cards), allocator (PyTorch's caching allocator),
optimizer_step (the optimizer step's temporaries).

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
