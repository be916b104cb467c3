"""torch.cuda.max_memory_allocated() and max_memory_reserved() of a run, from the caching-allocator replay.

A run as the allocator sees it (events.py builds the events, allocator.py replays them):
1. the parameters are allocated one by one, in the model's order (QLoRA: each NF4 weight as bitsandbytes
   stores it: packed 4-bit values, absmax, the 16-value NF4 code and, with double quantization, the fp32
   absmax of the absmax and their mean);
2. warm-up step: forward and backward (the traced storages at the real depth, with the cuBLAS workspace of
   the forward's thread at the first op and of the backward's thread at the first backward op), then
   optimizer.step() creates the optimizer states and runs its temporaries, then zero_grad(set_to_none=True);
3. steady steps, the same without the creations, until one takes no new memory from CUDA.

Reserved is the peak over the whole run (the warm-up's cache stays); allocated is a steady step's peak, as a
measurement after torch.cuda.reset_peak_memory_stats() reports it.

Not in the replay (docs/memory.md "GPU"): what loading the model leaves in the cache (from_pretrained's
temporaries; the replay starts on an empty device), buffers such as rotary tables (a few KB), flash
attention's split-KV accumulators (forward only, small B·H·S, chosen per GPU), the memory-efficient backward's
workspace, NCCL buffers and other streams. ZeRO/FSDP sharding is not replayed (their gradient buckets and
gathers are not traced): with sharding, reserved falls back to rounding the live peak (estimate.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

from lora_core.cache import BoundedCache
from lora_core.family.specs import spec_to_dict
from lora_core.memory.allocator_config import AllocatorConfig, MiB
from lora_core.memory.allocator_replay import predict_coded
from lora_core.memory.events import DepthError, RunParts, StepPlan, run_codes, run_events, step_plan
from lora_core.memory.parameters import ParamInfo, expanded, param_infos
from lora_core.memory.setup import TrainingSetup
from lora_core.memory.states import (
    BNB_BLOCK,
    BNB_MIN_8BIT_SIZE,
    BNB_PAGED_MIN,
    DQ_BLOCK,
    FUSED_STEP_BYTES,
    NF4_BLOCK,
)

# cuBLAS workspace per (handle, stream), taken from the caching allocator on first use and kept
# (aten/src/ATen/cuda/CublasHandlePool.cpp, torch >= 2.7: parseChosenWorkspaceSize's default ":4096:2:16:8"
# = 2 x 4096 KiB + 8 x 16 KiB = 8,519,680 bytes; 32 MiB on compute capability 9.x, 10.x and 12.x (Hopper,
# Blackwell); cuBLASLt shares it (unified_cublas_and_lt_workspaces, on by default). cuBLAS handles are per
# thread (getCurrentCUDABlasHandle's thread-local pool window): the forward runs on the Python thread,
# backward on autograd's device thread, so a training step holds two.
CUBLAS_WORKSPACE = 4096 * 1024 * 2 + 16 * 1024 * 8
CUBLAS_WORKSPACE_SM90 = 32 * MiB
# bitsandbytes NF4 storage per weight (bitsandbytes/functional.py quantize_4bit): `code` = the 16 NF4 values
# as fp32 (get_4bit_type); with compress_statistics the absmax is quantized to uint8 in blocks of 256 with
# an fp32 absmax per block and `offset` (a 0-dim fp32 mean); the 256-value dynamic map is shared.
NF4_CODE_BYTES = 16 * 4
DQ_OFFSET_BYTES = 4
_CACHE = 256  # replays kept: each answer is a few numbers; a page visit asks for ~60 (curves, solver)


@dataclass(frozen=True)
class Reserve:
    """The replay's answer for one training setup."""

    peak_allocated: int  # max_memory_allocated() over a steady step
    reserved: int  # max_memory_reserved() over the run
    warmup_reserved: int  # memory_reserved() after the warm-up step
    steps: int  # steps replayed (warm-up + steady until the cache settles)
    settled: bool  # the last steady step took no new memory from CUDA


def nf4_parts(numel: int, double_quant: bool) -> list[int]:
    """The device tensors of one NF4 weight, in bytes (states.nf4_bytes is their sum, without code/offset)."""
    blocks = -(-numel // NF4_BLOCK)
    packed = -(-numel // 2)
    if not double_quant:
        return [packed, 4 * blocks, NF4_CODE_BYTES]
    return [packed, blocks, NF4_CODE_BYTES, 4 * -(-blocks // DQ_BLOCK), DQ_OFFSET_BYTES]


def _param_sizes(infos: list[ParamInfo], setup: TrainingSetup) -> list[int]:
    out: list[int] = []
    for p in expanded(infos):
        if p.quantizable and setup.method == "qlora":
            out += nf4_parts(p.numel, setup.double_quant)
        else:
            out.append(p.nbytes)
    return out


def _state_sizes(train: list[ParamInfo], setup: TrainingSetup) -> list[int]:
    """Optimizer states in the order the first step creates them (torch/optim/adam.py _init_group: step,
    exp_avg, exp_avg_sq per parameter; sgd.py: the momentum buffer; bitsandbytes Optimizer2State.init_state:
    state1, state2, absmax1, absmax2, with the two 256-value quantization maps moved to the device first)."""
    out: list[int] = []
    if setup.optimizer == "adamw":
        for p in train:
            if setup.impl == "fused":
                out.append(FUSED_STEP_BYTES)
            out += [p.nbytes, p.nbytes]
    elif setup.optimizer == "sgd-momentum":
        out = [p.nbytes for p in train]
    elif setup.optimizer.endswith("8bit"):
        paged = setup.optimizer.startswith("paged")
        if any(p.numel >= BNB_MIN_8BIT_SIZE for p in train):
            out += [256 * 4, 256 * 4]  # qmap1, qmap2
        for p in train:
            if p.numel < BNB_MIN_8BIT_SIZE:
                out += [4 * p.numel, 4 * p.numel]
                continue
            if not (paged and p.numel >= BNB_PAGED_MIN):
                out += [p.numel, p.numel]
            out += [4 * -(-p.numel // BNB_BLOCK)] * 2
    return out


def _step_temps(train: list[ParamInfo], setup: TrainingSetup) -> tuple:
    from lora_core.memory.optimizer_step import adamw_step_events, sgd_step_events

    params = [(p.numel, p.dtype) for p in train]
    if setup.optimizer == "adamw":
        return tuple(adamw_step_events(params, setup.impl))
    if setup.optimizer.startswith("sgd"):
        momentum = 0.9 if setup.optimizer == "sgd-momentum" else 0.0  # recipe.make_optimizer
        return tuple(sgd_step_events(params, setup.impl, momentum=momentum))
    return ()  # bitsandbytes 8-bit optimizers update in place


def run_parts(config: dict, spec, setup: TrainingSetup, *, hopper: bool = False) -> RunParts:
    infos = list(param_infos(config, spec, setup))
    train = [p for p in expanded(infos) if p.trainable]
    ws = CUBLAS_WORKSPACE_SM90 if hopper else CUBLAS_WORKSPACE
    return RunParts(
        params=tuple(_param_sizes(infos, setup)),
        states=tuple(_state_sizes(train, setup)),
        step_temps=_step_temps(train, setup),
        workspaces=(ws, ws),
    )


_PLANS: BoundedCache[StepPlan] = BoundedCache(64)
_REPLAYS: BoundedCache[Reserve] = BoundedCache(_CACHE)


def _plan(config: dict, spec, setup: TrainingSetup) -> StepPlan:
    from lora_core.memory import recipe
    from lora_core.memory.trace import _held, cache_key, full_traced_steps, traced_steps, variant_kinds

    key = cache_key(config, spec, setup)
    plan = _PLANS.get(key)
    if plan is None:
        layers = recipe.layer_count(config)
        steps = (traced_steps if layers >= 3 else full_traced_steps)(config, spec, setup)
        kinds = variant_kinds(setup)
        held = tuple(None if rec is None else _held(rec, kinds) for rec in steps.records)
        plan = step_plan(steps, layers, held)
        _PLANS.put(key, plan)
    return plan


def replay_key(config: dict, spec, setup: TrainingSetup, allocator=None, *, hopper: bool = False) -> str:
    """Everything a replay depends on (the cache key of `predict`). The replay is one device's run: without
    sharding (the only replayed case) every data-parallel GPU runs the same, so the GPU count is left out."""
    spec = setup.adapter_spec(spec)
    if setup.sharding == "none":
        setup = setup.replace(gpus=1)
    return json.dumps(
        [asdict(setup), spec_to_dict(spec) if spec else None, config, asdict(allocator) if allocator else None, hopper],
        sort_keys=True,
        default=list,
    )


@dataclass(frozen=True)
class ReplayJob:
    """What one replay needs, as plain data (frozen dataclasses, numpy arrays, numbers): the recipe's step
    plan at the real depth, what the run adds around it, the shapes and the allocator's settings. `key` is
    replay_key's. `replay_job` computes its answer; it needs neither torch nor the model, so a caller may
    run it in another process (the server does: lora_ui.workers.replay)."""

    key: str
    plan: StepPlan
    parts: RunParts
    batch: int
    seq: int
    r: int
    allocator: AllocatorConfig | None


def find(
    config: dict, spec, setup: TrainingSetup, allocator: AllocatorConfig | None = None, *, hopper: bool = False
) -> Reserve | ReplayJob:
    """The replayed run of this setup when it is known (this process's cache, the precomputed archive), else
    the job that computes it. Raises events.DepthError when the model's layers do not repeat op for op."""
    spec = setup.adapter_spec(spec)
    r = (spec.rank or 1) if spec is not None else 1  # AdaLoRA: init_r; IA3 has no rank
    key = replay_key(config, spec, setup, allocator, hopper=hopper)
    answer = known(key)
    if answer is not None:
        return answer
    plan = _plan(config, spec, setup)
    parts = run_parts(config, spec, setup, hopper=hopper)
    return ReplayJob(key, plan, parts, setup.batch, setup.seq, r, allocator)


def known(key: str) -> Reserve | None:
    """The answer for replay_key `key` when this process has it: its cache, or the precomputed archive."""
    from lora_core.memory import precomputed

    answer = _REPLAYS.get(key) or precomputed.reserve(key)
    if answer is not None:
        _REPLAYS.put(key, answer)
    return answer


def replay_job(job: ReplayJob) -> Reserve:
    """Replay the job's run through the caching-allocator model (pure: events and arithmetic)."""
    warmup, steady, slots = run_codes(job.plan, job.parts, job.batch, job.seq, job.r)
    run = predict_coded(warmup, steady, slots, job.allocator)
    steady_peaks = [s.peak_allocated for s in run.steps[1:]] or [run.steps[0].peak_allocated]
    return Reserve(
        peak_allocated=int(max(steady_peaks)),
        reserved=int(run.max_reserved),
        warmup_reserved=int(run.steps[0].reserved_after),
        steps=len(run.steps),
        settled=run.settled,
    )


def remember(job: ReplayJob, answer: Reserve) -> Reserve:
    """Keep a job's answer for the next `find` of the same key (when it was replayed elsewhere)."""
    return remember_key(job.key, answer)


def remember_key(key: str, answer: Reserve) -> Reserve:
    """Keep the answer for replay_key `key`, replayed elsewhere without its job crossing over (a trace worker
    replays the recipe it has just traced: lora_core.memory.trace_jobs)."""
    _REPLAYS.put(key, answer)
    return answer


Replayer = Callable[[ReplayJob], Reserve]


def predict(
    config: dict,
    spec,
    setup: TrainingSetup,
    allocator: AllocatorConfig | None = None,
    *,
    hopper: bool = False,
    replayer: Replayer | None = None,
) -> Reserve:
    """The replayed run of this setup (cached by every input). Raises events.DepthError when the model's
    layers do not repeat op for op (then nothing is replayed). replayer: what runs a job that is not known
    yet (default `replay_job`, here; the server passes one that runs it in a worker process)."""
    found = find(config, spec, setup, allocator, hopper=hopper)
    if isinstance(found, Reserve):
        return found
    return remember(found, (replayer or replay_job)(found))


@dataclass(frozen=True)
class Growth:
    """Steps whose batches are padded to different lengths (one per step), replayed on one allocator."""

    seqs: tuple[int, ...]
    peak_allocated: tuple[int, ...]  # each step's max_memory_allocated()
    reserved: tuple[int, ...]  # memory_reserved() after each step: it only grows (nothing empties the cache)
    max_reserved: int


def growth(config: dict, spec, setup: TrainingSetup, seqs: list[int], allocator: AllocatorConfig | None = None) -> Growth:
    """Reserved memory over a run whose step i pads its batch to seqs[i] tokens (padding to the longest
    sample in each batch: the lengths vary from step to step). The first step also allocates the parameters
    and the optimizer states. Blocks cached for one length are reused for another only where they fit, so
    reserved can grow past what the longest step needs alone."""
    from lora_core.memory.allocator_replay import reserved_over_steps
    from lora_core.memory.events import step_events

    if not seqs:
        raise ValueError("give at least one sequence length")
    spec = setup.adapter_spec(spec)
    r = (spec.rank or 1) if spec is not None else 1  # AdaLoRA: init_r; IA3 has no rank
    plan = _plan(config, spec, setup)
    parts = run_parts(config, spec, setup)
    warmup, _ = run_events(plan, parts, setup.batch, seqs[0], r)
    grad, at_end = plan.grads.tolist(), plan.depth.at_end.tolist()
    tail = [((("opt", ev[0]),) if len(ev) == 1 else (("opt", ev[0]), ev[1])) for ev in parts.step_temps]
    tail += [(("g", i),) for i in range(len(grad)) if grad[i] and at_end[i]]
    steps = [warmup] + [step_events(plan, setup.batch, s, r) + tail for s in seqs[1:]]
    run = reserved_over_steps(steps, allocator)
    return Growth(
        seqs=tuple(seqs),
        peak_allocated=tuple(step.peak_allocated for step in run.steps),
        reserved=tuple(step.reserved_after for step in run.steps),
        max_reserved=run.max_reserved,
    )


def replayable(setup: TrainingSetup) -> bool:
    """The replay models single-GPU and data-parallel steps on CUDA (no ZeRO/FSDP sharding)."""
    return setup.device == "cuda" and setup.sharding == "none"


def replays(spec, setup: TrainingSetup) -> bool:
    """Whether estimate_memory replays this setup (spec: setup.adapter_spec's). The replay has no events for
    AdaLoRA's rank allocator (its three copies of each adapter tensor, created after the first optimizer
    step: states.rank_allocator_bytes), so AdaLoRA keeps the live peak."""
    return replayable(setup) and (spec is None or spec.adapter != "adalora")


__all__ = [
    "CUBLAS_WORKSPACE", "DepthError", "Growth", "ReplayJob", "Replayer", "Reserve", "find", "growth", "known",
    "nf4_parts", "predict", "remember", "remember_key", "replay_job", "replayable", "replays", "run_parts",
]  # fmt: skip
