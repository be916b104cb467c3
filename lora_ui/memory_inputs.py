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


def memory_spec(
    targets,
    r: int,
    dora: bool = False,
    bias: str = "none",
    modules_to_save=(),
    *,
    adapter: str = "lora",
    rank_pattern: str = "",
    rslora: bool = False,
    feedforward: str = "",
):
    """The adapter spec the Memory page estimates with (alpha fixed: see MEMORY_ALPHA). Each type takes only
    the inputs it has: the rank is AdaLoRA's init_r and IA3's none; bias "lora_only" is VeRA's "vera_only"
    (the biases of the wrapped layers) and LoHa, LoKr and IA3 have no bias setting (PEFT's "none")."""
    from lora_core.family.specs import make_spec

    settings: dict = {"target_modules": targets, "modules_to_save": modules_to_save}
    if adapter != "ia3":
        settings["init_r" if adapter == "adalora" else "r"] = r
    if adapter in ("lora", "loha", "lokr", "adalora"):
        settings["alpha"] = MEMORY_ALPHA
    if adapter == "lora":
        settings.update(use_dora=dora, use_rslora=rslora)
    if adapter in ("lora", "adalora"):
        settings["bias"] = bias
    elif adapter == "vera":
        settings["bias"] = "vera_only" if bias == "lora_only" else bias
    if adapter in ("lora", "loha", "lokr") and rank_pattern.strip():
        settings["rank_pattern"] = rank_pattern
    if adapter == "ia3":
        settings["feedforward_modules"] = feedforward
    return make_spec(adapter, **settings)


def default_setup():
    """The training step the page shows first (TrainingSetup's own defaults, at sequence length 1024)."""
    from lora_core.memory import TrainingSetup

    return TrainingSetup(seq=1024)


def default_view():
    """(config, spec, setup) of the Memory page as a new visitor first sees it."""
    from lora_core.presets import load_preset

    return load_preset(DEFAULT_PRESET), memory_spec(DEFAULT_TARGETS, DEFAULT_RANK), default_setup()
