"""GPU memory of a training step: full fine-tuning, LoRA, DoRA and QLoRA (see docs/memory.md).

Modules, one idea each: setup (the inputs), recipe (how a step is built), states (weights, gradients,
optimizer), kernels (device emulation while tracing), trace (activations and live bytes), sharding
(ZeRO/FSDP), estimate (phases and peak), solver (largest batch/seq/rank that fits), gpus (cards).
"""

from lora_core.memory.estimate import GiB, MemoryEstimate, MiB, estimate_memory
from lora_core.memory.setup import TrainingSetup

__all__ = ["GiB", "MemoryEstimate", "MiB", "TrainingSetup", "estimate_memory"]
