"""What the Memory page plots: methods side by side, peak against rank or sequence, and which GPUs fit."""

from __future__ import annotations

from dataclasses import dataclass

from lora_core.memory.estimate import MemoryEstimate, estimate_memory
from lora_core.memory.gpus import GPUS, Gpu
from lora_core.memory.setup import TrainingSetup

# Segments of the stacked bar, bottom to top; together they are device_total_bytes.
SEGMENTS = ("base_weights", "adapters", "optimizer", "live", "overhead")


def methods_for(setup: TrainingSetup, spec=None) -> tuple[str, ...]:
    """The methods compared: no 4-bit base on the CPU, nor for LoHa/LoKr (PEFT has no 4-bit layer for them:
    lora_core/memory/family.py check_recipe)."""
    if setup.device != "cuda" or (spec is not None and spec.adapter in ("loha", "lokr")):
        return ("full", "lora")
    return ("full", "lora", "qlora")


def compare_methods(config: dict, spec, setup: TrainingSetup) -> dict[str, MemoryEstimate]:
    """The same step as full fine-tuning, the spec's adapter and the adapter on a 4-bit base (the setup's own
    method always: one PEFT cannot run raises its LoraLabError here)."""
    methods = methods_for(setup, spec)
    if setup.method not in methods:
        methods = (*methods, setup.method)
    return {m: estimate_memory(config, spec, setup.replace(method=m)) for m in methods}


def segments(e: MemoryEstimate) -> dict[str, int]:
    """The card's memory at the peak, split so the parts add up to device_total_bytes:
    base weights, adapters, optimizer states, what is live at the peak (activations, gradients,
    temporaries), and overhead (allocator reserve + CUDA context + paged states)."""
    base = e.weights_bytes - e.adapter_bytes
    resident = e.weights_bytes + e.optimizer_bytes - e.paged_bytes
    return {
        "base_weights": base,
        "adapters": e.adapter_bytes,
        "optimizer": e.optimizer_bytes - e.paged_bytes,
        "live": max(e.peak_bytes - resident, 0),
        "overhead": e.device_total_bytes - max(e.peak_bytes, resident),
    }


def peak_series(config: dict, spec, setup: TrainingSetup, variable: str, values) -> dict[str, list[int]]:
    """device_total_bytes per method as `variable` (rank | seq | batch) takes `values`."""
    out: dict[str, list[int]] = {}
    methods = [m for m in methods_for(setup, spec) if variable != "rank" or m != "full"]
    for m in methods:
        row = []
        for v in values:
            sp, st = spec, setup.replace(method=m)
            if variable == "rank":
                sp = spec.with_rank(int(v))  # AdaLoRA: init_r; IA3 has none (the curve is flat)
            else:
                st = st.replace(**{variable: int(v)})
            row.append(estimate_memory(config, sp, st).device_total_bytes)
        out[m] = row
    return out


@dataclass(frozen=True)
class Fit:
    gpu: Gpu
    fits: bool
    headroom_bytes: int  # capacity - device_total_bytes (negative: short by that much)


def fits_on(e: MemoryEstimate, gpus: tuple[Gpu, ...] = GPUS) -> list[Fit]:
    return [Fit(g, e.device_total_bytes <= g.bytes, g.bytes - e.device_total_bytes) for g in gpus]
