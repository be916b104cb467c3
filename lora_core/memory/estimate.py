"""The whole estimate: state bytes + traced live bytes -> the peak of a steady-state step, per GPU.

Phases of one step (training loop: loss = model(x).loss; loss.backward(); opt.step(); opt.zero_grad()):
- forward and backward: weights + optimizer states + what the trace shows alive (activations, temporaries,
  gradients as they appear; trace.py);
- optimizer step: weights + optimizer states + gradients + the step's temporaries (states.py).
Steady state: optimizer states exist from the first step on; zero_grad(set_to_none=True) (torch's default)
frees the gradients before the next forward. peak_bytes predicts torch.cuda.max_memory_allocated().
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lora_core.memory.allocator_config import LARGE_SEGMENT, ROUND_LARGE, SMALL_BUFFER, MiB
from lora_core.memory.setup import TrainingSetup
from lora_core.memory.sharding import shard
from lora_core.memory.states import state_bytes
from lora_core.memory.trace import live_model

if TYPE_CHECKING:
    from lora_core.memory.reserve import Replayer

GiB = 1 << 30
# CUDA context (driver state, the loaded kernels' code, cuBLAS/cuDNN handles): memory nvidia-smi shows that
# torch's allocator does not count. An assumption, not a measurement of ours: a few hundred MiB is typical with
# CUDA 12's lazy module loading (CUDA_MODULE_LOADING=LAZY, the default since CUDA 11.7); it grows with the
# kernels a run loads. Measure yours as nvidia-smi's "used" minus torch.cuda.memory_reserved().
# docs/memory.md says the same; the Memory page shows it as its own line.
CUDA_CONTEXT_BYTES = 512 * MiB
# Without a replay (ZeRO/FSDP sharding, a model whose layers do not repeat op for op, the fast path of the
# page's curves), reserved is the live peak rounded up to kRoundLarge (2 MiB) plus one large (20 MiB,
# kLargeBuffer) and one small (2 MiB, kSmallBuffer) segment: c10/cuda/CUDACachingAllocator.cpp's segment sizes
# (allocator.py cites the lines). A lower bound of what the replay finds, not a model of it.


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes, per GPU, of one steady-state training step."""

    setup: TrainingSetup
    weights_bytes: int  # all parameters as stored (QLoRA: NF4 + constants), incl. adapters
    adapter_bytes: int  # LoRA/DoRA tensors (fp32), part of weights_bytes
    gradients_bytes: int
    optimizer_bytes: int  # optimizer states
    optimizer_temp_bytes: int  # temporaries during optimizer.step()
    activations_bytes: int  # alive at the end of forward: what autograd saved + the loss's tensors
    forward_peak_bytes: int
    backward_peak_bytes: int
    optimizer_peak_bytes: int
    peak_bytes: int  # predicted torch.cuda.max_memory_allocated()
    reserved_bytes: int  # predicted torch.cuda.max_memory_reserved()
    cuda_context_bytes: int  # outside torch's counters (an assumption: CUDA_CONTEXT_BYTES)
    paged_bytes: int  # paged optimizer states (cudaMallocManaged: outside torch's counters)
    device_total_bytes: int  # reserved + context + paged: what the card must hold
    checkpoint_bytes: int  # adapter (lora/qlora) or model (full) file size
    full_checkpoint_bytes: int
    trainable_params: int
    total_params: int
    live_peak_bytes: int = 0  # the largest sum of live tensor bytes (the traced phases), before any rounding
    reserved_source: str = "rounding"  # "replay": reserved and peak from the caching-allocator replay

    @property
    def phase(self) -> str:
        best = max(self.forward_peak_bytes, self.backward_peak_bytes, self.optimizer_peak_bytes)
        if best == self.optimizer_peak_bytes:
            return "optimizer"
        return "forward" if best == self.forward_peak_bytes else "backward"


def estimate_memory(
    config: dict, spec, setup: TrainingSetup, *, replay: bool = True, replayer: Replayer | None = None
) -> MemoryEstimate:
    """Predicted memory of one training step of `config` with LoRA `spec` (ignored for full) and `setup`.

    replay: on CUDA without sharding, replay the run through the caching-allocator model (reserve.py) for
    peak_bytes (max_memory_allocated) and reserved_bytes (max_memory_reserved). False: the fast path (live
    peak, reserved by rounding), for sweeps that evaluate many shapes. replayer: what runs a replay that is
    not known yet (reserve.predict's; default: here, in this thread)."""
    from lora_core.memory import reserve

    spec = setup.adapter_spec(spec)
    live = live_model(config, spec, setup)  # first: the state bytes read the models its trace built
    states = state_bytes(config, spec, setup)
    sh = shard(states, setup)
    r = (spec.rank or 1) if spec is not None else 1  # IA3 has no rank: its sizes do not depend on one
    phases = live.phases(setup.batch, setup.seq, r, sh.grad_fraction)
    paged = sh.paged
    resident = sh.weights + sh.optimizer - paged + sh.gathered
    # QLoRA's dequantized weights (bitsandbytes MatMul4Bit, forward and backward) are traced storages
    # (live_bytes.KIND_DEQUANT), part of the phases.
    fwd = resident + phases["forward_peak"]
    bwd = resident + phases["backward_peak"]
    opt = resident + sh.gradients + sh.optimizer_temp
    live_peak = int(max(fwd, bwd, opt))
    peak, source = live_peak, "rounding"
    reserved = math.ceil(peak / ROUND_LARGE) * ROUND_LARGE + LARGE_SEGMENT + SMALL_BUFFER
    if replay and reserve.replays(spec, setup):
        try:
            run = reserve.predict(config, spec, setup, replayer=replayer)
        except reserve.DepthError:
            run = None
        if run is not None:
            peak, reserved, source = run.peak_allocated, run.reserved, "replay"
    context = CUDA_CONTEXT_BYTES if setup.device == "cuda" else 0
    return MemoryEstimate(
        setup=setup,
        weights_bytes=sh.weights,
        adapter_bytes=states.adapter_bytes,
        gradients_bytes=sh.gradients,
        optimizer_bytes=sh.optimizer,
        optimizer_temp_bytes=sh.optimizer_temp,
        activations_bytes=int(phases["forward_end"]),
        forward_peak_bytes=int(fwd),
        backward_peak_bytes=int(bwd),
        optimizer_peak_bytes=int(opt),
        peak_bytes=peak,
        reserved_bytes=reserved,
        cuda_context_bytes=context,
        paged_bytes=paged,
        device_total_bytes=reserved + context + paged,
        checkpoint_bytes=states.checkpoint_bytes,
        full_checkpoint_bytes=states.full_checkpoint_bytes,
        trainable_params=states.trainable_params,
        total_params=states.total_params,
        live_peak_bytes=live_peak,
        reserved_source=source,
    )
