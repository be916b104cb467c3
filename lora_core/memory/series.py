"""What the Memory page plots: methods side by side, peak against rank or sequence, and which GPUs fit."""

from __future__ import annotations

from dataclasses import dataclass

from lora_core.errors import LoraLabError
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


def compared_methods(setup: TrainingSetup, spec=None) -> tuple[str, ...]:
    """The methods compare_methods estimates: methods_for's, and the setup's own."""
    methods = methods_for(setup, spec)
    return methods if setup.method in methods else (*methods, setup.method)


def compare_methods(config: dict, spec, setup: TrainingSetup, *, replay: bool = True) -> dict[str, MemoryEstimate]:
    """The same step as full fine-tuning, the spec's adapter and the adapter on a 4-bit base. The setup's own
    method always: one the estimator refuses raises its LoraLabError here; another method it refuses is left
    out (e.g. full fine-tuning of Mixtral is estimated while LoRA on its fused experts is not: the chart
    compares what can be estimated). replay=False: the fast path for each (estimate_memory), as the page's
    methods chart draws them."""
    out = {}
    for m in compared_methods(setup, spec):
        try:
            out[m] = estimate_memory(config, spec, setup.replace(method=m), replay=replay)
        except LoraLabError:
            if m == setup.method:
                raise
    return out


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
    """device_total_bytes per method as `variable` (rank | seq | batch) takes `values`.

    Curves take the fast path (estimate_memory(replay=False): the live peak, reserved by rounding): a replay
    per point would cost 20-300 ms each on the page's 2-core server (docs/memory.md "Speed"); the headline,
    the fits table and the solver replay the allocator. A method the estimator refuses for this model and
    spec has no curve, as in compare_methods (the setup's own method raises)."""
    out: dict[str, list[int]] = {}
    methods = [m for m in methods_for(setup, spec) if variable != "rank" or m != "full"]
    for m in methods:
        row = []
        try:
            for v in values:
                point_spec, point_setup = spec, setup.replace(method=m)
                if variable == "rank":
                    point_spec = spec.with_rank(int(v))  # AdaLoRA: init_r; IA3 has none (the curve is flat)
                else:
                    point_setup = point_setup.replace(**{variable: int(v)})
                row.append(estimate_memory(config, point_spec, point_setup, replay=False).device_total_bytes)
        except LoraLabError:
            if m == setup.method:
                raise
            continue
        out[m] = row
    return out


@dataclass(frozen=True)
class CardFit:
    """Whether a training step fits on one GPU (the Memory page's "Fits on" row; not a Fit page fit)."""

    gpu: Gpu
    verdict: str  # yes | tight | no (uncertainty.verdict)
    total_bytes: int  # what the card must hold (device_total_bytes, with this card's cuBLAS workspaces)
    headroom_bytes: int  # capacity - total_bytes (negative: short by that much)
    margin: float  # the margin the verdict used (a fraction)

    @property
    def fits(self) -> bool:
        """The estimate itself fits (yes or tight)."""
        return self.verdict != "no"


def card_total(e: MemoryEstimate, g: Gpu) -> int:
    """device_total_bytes on card g: Hopper and newer cards (compute capability 9+) get 32 MiB cuBLAS
    workspaces instead of 8,519,680 bytes (reserve.py), one per thread that runs matmuls (two)."""
    from lora_core.memory.reserve import CUBLAS_WORKSPACE, CUBLAS_WORKSPACE_SM90

    extra = 2 * (CUBLAS_WORKSPACE_SM90 - CUBLAS_WORKSPACE) if g.compute_major >= 9 and e.setup.device == "cuda" else 0
    return e.device_total_bytes + extra


def fits_on(e: MemoryEstimate, gpus: tuple[Gpu, ...] = GPUS, margin: float | None = None) -> list[CardFit]:
    """Each card's verdict with the validation's margin (uncertainty.gpu_band) unless one is given."""
    from lora_core.memory.uncertainty import gpu_band, verdict

    m = gpu_band().margin if margin is None else margin
    out = []
    for g in gpus:
        total = card_total(e, g)
        out.append(CardFit(g, verdict(total, g.bytes, m), total, g.bytes - total, m))
    return out
