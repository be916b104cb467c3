"""The Memory page's fixed choices and default inputs, shared with the Learn scenarios and the server's warm-up,
so that what the server computes at start is what a new visitor's page asks for."""

from __future__ import annotations

DEFAULT_PRESET = "llama-3.2-1b"  # 1B: the smallest Llama preset, a laptop-sized first view
DEFAULT_TARGETS = "all-linear"
DEFAULT_RANK = 16
# lora_alpha only scales B·A·x (PEFT LoraLayer.scaling = alpha / r): memory is the same for every alpha.
# One fixed value keeps the spec, and so the core's cached activation model (lora_core/memory/trace.py,
# keyed by config, spec and recipe but not the rank), the same when a student moves the rank.
MEMORY_ALPHA = 16


def memory_spec(targets, r: int, dora: bool = False, bias: str = "none", modules_to_save=()):
    """The LoRA spec the Memory page estimates with (alpha fixed: see MEMORY_ALPHA)."""
    from lora_core.spec import LoraSpec

    return LoraSpec(
        r=r, alpha=MEMORY_ALPHA, target_modules=targets, use_dora=dora, bias=bias, modules_to_save=modules_to_save
    )


def default_setup():
    """The training step the page shows first (TrainingSetup's own defaults, at sequence length 1024)."""
    from lora_core.memory import TrainingSetup

    return TrainingSetup(seq=1024)


def default_view():
    """(config, spec, setup) of the Memory page as a new visitor first sees it."""
    from lora_core.presets import load_preset

    return load_preset(DEFAULT_PRESET), memory_spec(DEFAULT_TARGETS, DEFAULT_RANK), default_setup()
