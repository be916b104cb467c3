"""The Memory page's fixed choices and default inputs, shared with the Learn scenarios and the trace prewarm
(lora_ui/trace_pool.py), so that what the server traces at start is what a new visitor's page asks for."""

from __future__ import annotations

DEFAULT_PRESET = "llama-3.2-1b"  # 1B: traces in about a second on a small server
DEFAULT_TARGETS = "all-linear"
DEFAULT_RANK = 16
# lora_alpha only scales B·A·x (PEFT LoraLayer.scaling = alpha / r): memory is the same for every alpha.
# One fixed value keeps the spec, and so the core's cached activation trace (lora_core/memory/trace.py,
# keyed by config, spec and recipe but not the rank), the same when a student moves the rank; alpha = 2·r
# made every rank a new multi-second trace (docs/load.md).
MEMORY_ALPHA = 16
# TrainingSetup's fields in the page's order, at the page's defaults (pages/memory.py setup_ui): method,
# precision, optimizer, batch, seq, grad_checkpointing, attention, gpus, sharding.
DEFAULT_SETUP = ("lora", "bf16", "adamw", 1, 1024, False, "sdpa", 1, "none")


def memory_spec(targets, r: int, dora: bool):
    """The LoRA spec the Memory page estimates with (alpha fixed: see MEMORY_ALPHA)."""
    from lora_core.spec import LoraSpec

    return LoraSpec(r=r, alpha=MEMORY_ALPHA, target_modules=targets, use_dora=dora)


def default_view():
    """(config, spec, setup) of the Memory page as a new visitor first sees it."""
    from lora_core.memory import TrainingSetup
    from lora_core.presets import load_preset

    spec = memory_spec(DEFAULT_TARGETS, DEFAULT_RANK, False)
    return load_preset(DEFAULT_PRESET), spec, TrainingSetup(*DEFAULT_SETUP)
