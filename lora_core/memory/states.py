"""Bytes of the state a training step keeps: weights, adapters, gradients, optimizer states, checkpoint.

Summed over the recipe model's parameter list (parameters.py), each tensor in its dtype, with the bytes per
value of each storage and optimizer below (QLoRA's NF4, bitsandbytes' 8-bit states, torch's fused AdamW).
tests/test_memory_exact.py compares these numbers with the storages of a real CPU training step, for every
adapter type.

AdaLoRA: PEFT's training loop calls `update_and_allocate` after each optimizer step (adalora/model.py
328-347), whose RankAllocator keeps three copies of every lora_A / lora_E / lora_B (ipt, exp_avg_ipt,
exp_avg_unc: adalora/layer.py 409-430) until the final phase; they are counted with the optimizer states, and
their update's temporaries (three tensors of the largest adapter at once) with the step's temporaries.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache

from lora_core.memory.parameters import ParamInfo, param_infos
from lora_core.memory.setup import DTYPE_BYTES, TrainingSetup

# QLoRA storage (Dettmers et al. 2023, "QLoRA", section 3): NF4 packs two 4-bit values per byte; one fp32
# absmax per block of 64 weights (32/64 = 0.5 bit/param); with double quantization the absmax are 8-bit
# with one fp32 constant per 256 of them (8/64 + 32/(64*256) = 0.127 bit/param).
NF4_BLOCK = 64
DQ_BLOCK = 256
# bitsandbytes 8-bit optimizers (Optimizer2State.init_state): uint8 state1/state2, one fp32 absmax per
# block of 256 values each, and fp32 states for tensors under min_8bit_size = 4096 elements; two shared
# 256-entry fp32 quantization maps (qmap1, qmap2).
BNB_BLOCK = 256
BNB_MIN_8BIT_SIZE = 4096
BNB_QMAP_BYTES = 2 * 256 * 4
# Paged optimizers put a state in unified memory only for parameters of at least 1e5 elements
# (bitsandbytes/optim/optimizer.py Optimizer8bit.get_state_buffer: `if not self.is_paged or p.numel() < 1e5`).
BNB_PAGED_MIN = 100_000
# torch fused AdamW keeps `step` as a 0-dim fp32 tensor on the parameter's device (torch/optim/adam.py
# _init_group: torch.zeros((), dtype=_get_scalar_dtype(is_fused=True), device=p.device)).
FUSED_STEP_BYTES = 4
_LAYER_INDEX = re.compile(r"\.(\d+)\.")


@dataclass(frozen=True)
class StateBytes:
    weights_bytes: int  # every parameter as stored (base + adapters + modules_to_save copies)
    adapter_bytes: int  # the adapter's part of weights_bytes (VeRA: with its shared projection buffers)
    gradients_bytes: int  # .grad of trainable parameters, in each parameter's dtype
    optimizer_bytes: int  # optimizer state tensors (AdamW's CPU `step` counters excluded: see docs; AdaLoRA: + its rank allocator's)
    optimizer_temp_bytes: int  # temporaries of the optimizer step itself
    paged_bytes: int  # the part of optimizer_bytes a paged optimizer keeps in unified memory
    checkpoint_bytes: int  # what save_pretrained writes: the adapter (lora/qlora) or the whole model (full)
    full_checkpoint_bytes: int  # the whole model in the precision's dtype, for comparison
    trainable_params: int
    total_params: int
    largest_quantized_params: int  # QLoRA dequantizes one weight at a time to the compute dtype
    layer_param_bytes: int  # the largest decoder layer's parameters (FSDP/ZeRO-3 gathers these)
    root_param_bytes: int  # parameters outside numbered layers (embeddings, final norm, head)


def nf4_bytes(numel: int, double_quant: bool) -> int:
    """Bytes of one NF4 weight with its quantization constants."""
    blocks = math.ceil(numel / NF4_BLOCK)
    packed = math.ceil(numel / 2)
    if not double_quant:
        return packed + 4 * blocks
    return packed + blocks + 4 * math.ceil(blocks / DQ_BLOCK)


def optimizer_state_bytes(infos: list[ParamInfo], optimizer: str, impl: str = "foreach") -> int:
    train = [p for p in infos if p.trainable]
    if optimizer == "adamw":
        # exp_avg + exp_avg_sq, zeros_like(param): the param's dtype (torch/optim/adam.py _init_group); the
        # fused path also keeps each parameter's `step` on the device, a 0-dim fp32 tensor (adam.py:166-175)
        counters = FUSED_STEP_BYTES * sum(p.count for p in train) if impl == "fused" else 0
        return sum(2 * p.total_bytes for p in train) + counters
    if optimizer == "sgd-momentum":  # momentum_buffer = clone(grad) (torch/optim/sgd.py)
        return sum(p.total_bytes for p in train)
    if optimizer == "sgd":
        return 0
    total, any8 = 0, False  # adamw-8bit / paged-adamw-8bit
    for p in train:
        if p.numel < BNB_MIN_8BIT_SIZE:
            total += p.count * 2 * 4 * p.numel
        else:
            any8 = True
            total += p.count * (2 * p.numel + 2 * 4 * math.ceil(p.numel / BNB_BLOCK))
    return total + (BNB_QMAP_BYTES if any8 else 0)


def paged_state_bytes(infos: list[ParamInfo], optimizer: str) -> int:
    """The part of a paged optimizer's states in CUDA unified memory (cudaMallocManaged, outside torch's
    counters): bitsandbytes' Optimizer8bit.get_state_buffer pages a state only when the parameter has at least
    1e5 elements (BNB_PAGED_MIN); 8-bit states are uint8 (Optimizer2State.init_state); absmax stays on the
    device (torch.zeros). LoRA adapters below 1e5 elements (e.g. r=16 on a hidden size of 4096) are not paged."""
    if not optimizer.startswith("paged"):
        return 0
    return sum(
        p.count * 2 * p.numel
        for p in infos
        if p.trainable and p.numel >= BNB_MIN_8BIT_SIZE and p.numel >= BNB_PAGED_MIN
    )


def optimizer_temp_bytes(infos: list[ParamInfo], setup: TrainingSetup) -> int:
    """Temporaries of torch AdamW's step (torch/optim/adam.py, torch 2.13).

    foreach (CUDA's default): per (device, dtype) group `exp_avg_sq_sqrt = _foreach_sqrt(...)`, a copy of the
    group's exp_avg_sq, alive until the next group's copy replaces it (optimizer_step.py, tested against
    torch's own _foreach_* outputs). single (CPU's default): `denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)`
    holds sqrt and the quotient (2 x the param) while the previous parameter's denom is still bound. fused:
    none. SGD and bitsandbytes update in place. (The largest pair of neighbours is the same in the built
    layers as in the whole model: its layers repeat.)
    """
    if setup.optimizer != "adamw":
        return 0
    train = [p for p in infos if p.trainable]
    if setup.impl == "single":
        best, prev = 0, 0
        for p in train:
            best = max(best, prev + 2 * p.nbytes)
            prev = p.nbytes
        return best
    if setup.impl == "fused":
        return 0
    from lora_core.memory.optimizer_step import adamw_step_temp_bytes

    groups: dict[str, int] = {}
    for p in train:
        groups[p.dtype] = groups.get(p.dtype, 0) + p.total_bytes
    # one tensor per dtype group has the same peak as the group's tensors one by one (sums of one list)
    return adamw_step_temp_bytes([(n // DTYPE_BYTES[d], d) for d, n in groups.items()], "foreach")


# Fields of the setup the states depend on; batch, seq, attention, checkpointing, gpus and sharding do not
# enter state bytes (sharding divides them later, in sharding.py), so sweeps over them hit this cache.
_STATE_FIELDS = ("method", "precision", "optimizer", "double_quant", "device", "optimizer_impl")


def state_bytes(config: dict, spec, setup: TrainingSetup) -> StateBytes:
    """Bytes of weights, adapters, gradients and optimizer states (cached per model, spec and recipe)."""
    from lora_core.family.specs import spec_to_dict
    from lora_core.memory.family import check_recipe, for_memory

    sp = None
    spec = setup.adapter_spec(spec)
    if spec is not None:
        spec = for_memory(config, spec)
        check_recipe(spec, setup)
        sp = spec_to_dict(spec)
    fields = {k: getattr(setup, k) for k in _STATE_FIELDS}
    key = json.dumps({"config": config, "spec": sp, "setup": fields}, sort_keys=True, default=list)
    return _state_bytes(key)


@lru_cache(maxsize=32)  # keys hold the config (an upload is at most 1 MB): 32 bounds the cache
def _state_bytes(key: str) -> StateBytes:
    from lora_core.family.specs import spec_from_dict

    data = json.loads(key)
    config, spec, setup = data["config"], spec_from_dict(data["spec"]), TrainingSetup(**data["setup"])
    allocator = spec is not None and spec.adapter == "adalora"
    return aggregate(list(param_infos(config, spec, setup)), setup, rank_allocator=allocator)


def rank_allocator_bytes(infos: list[ParamInfo]) -> tuple[int, int]:
    """AdaLoRA's RankAllocator (adalora/layer.py 409-430 update_ipt): (state, temporaries) in bytes.

    For every parameter named lora_* (lora_A, lora_E, lora_B; not ranknum) it keeps ipt, exp_avg_ipt and
    exp_avg_unc, each `zeros_like(p)`: 3 x the tensor, kept from step to step. Updating one tensor's
    exp_avg_ipt (`b1 * avg + (1 - b1) * ipt`) or exp_avg_unc holds three temporaries of its size at once."""
    tensors = [p for p in infos if ".lora_" in p.name and not p.buffer]
    state = sum(3 * p.total_bytes for p in tensors)
    temp = max((3 * p.nbytes for p in tensors), default=0)
    return state, temp


def aggregate(infos: list[ParamInfo], setup: TrainingSetup, *, rank_allocator: bool = False) -> StateBytes:
    """The state bytes of a parameter list (each tensor `count` times); rank_allocator: AdaLoRA's as well."""
    weights = 0
    for p in infos:
        weights += p.count * (nf4_bytes(p.numel, setup.double_quant) if p.quantizable else p.nbytes)
    params = [p for p in infos if not p.buffer]
    trainable = [p for p in params if p.trainable]
    grads = sum(p.total_bytes for p in trainable)
    param_bytes = DTYPE_BYTES[setup.param_dtype]
    total_params = sum(p.count * p.numel for p in params)
    per_layer: dict[str, int] = {}
    root = 0
    for p in infos:
        m = _LAYER_INDEX.search(p.name)
        b = nf4_bytes(p.numel, setup.double_quant) if p.quantizable else p.nbytes
        if m:
            per_layer[m.group(1)] = per_layer.get(m.group(1), 0) + b
        else:
            root += b
    optimizer = optimizer_state_bytes(params, setup.optimizer, setup.impl)
    temp = optimizer_temp_bytes(params, setup)
    if rank_allocator:  # runs after optimizer.step(), before zero_grad: gradients alive, the step's temps gone
        state, allocator_temp = rank_allocator_bytes(infos)
        optimizer, temp = optimizer + state, max(temp, allocator_temp)
    return StateBytes(
        weights_bytes=weights,
        adapter_bytes=sum(p.total_bytes for p in infos if p.adapter),
        gradients_bytes=grads,
        optimizer_bytes=optimizer,
        optimizer_temp_bytes=temp,
        paged_bytes=paged_state_bytes(params, setup.optimizer),
        # PEFT save_pretrained writes the adapter's state dict as stored (peft/utils/save_and_load.py 148-350):
        # adapter tensors (not AdaLoRA's ranknum; VeRA's projections with save_projection), trained biases,
        # modules_to_save copies, targeted embeddings' base weights. A full fine-tune saves every parameter.
        # safetensors' JSON header (a few KB) is ignored.
        checkpoint_bytes=(
            sum(p.total_bytes for p in infos if p.saved) if setup.method != "full" else sum(p.total_bytes for p in params)
        ),
        full_checkpoint_bytes=sum(p.count * p.numel for p in params if not p.adapter) * param_bytes,
        trainable_params=sum(p.count * p.numel for p in trainable),
        total_params=total_params,
        largest_quantized_params=max((p.numel for p in infos if p.quantizable), default=0),
        layer_param_bytes=max(per_layer.values(), default=0),
        root_param_bytes=root,
    )
