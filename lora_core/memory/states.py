"""Bytes of the state a training step keeps: weights, LoRA adapters, gradients, optimizer states, checkpoint.

Read off the recipe's own model (recipe.py) on the meta device: every parameter there already has the
dtype and the requires_grad flag the real step gives it, because the same transformers + PEFT code set
them. Tied weights appear once (torch `named_parameters()` deduplicates). tests/test_memory_exact.py
compares these numbers with the storages of a real CPU training step.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from functools import lru_cache

from lora_core.cache import BoundedCache
from lora_core.memory import recipe
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
class ParamInfo:
    name: str
    numel: int
    dtype: str  # "float32" | "bfloat16" | "float16"
    trainable: bool
    adapter: bool  # a LoRA/DoRA tensor (lora_A, lora_B, lora_magnitude_vector, lora_embedding_*)
    quantizable: bool  # a Linear/Conv1D weight bitsandbytes would pack to NF4 under QLoRA
    count: int = 1  # how many tensors this one stands for: the last built layer's stand for the layers not built

    @property
    def nbytes(self) -> int:
        return self.numel * DTYPE_BYTES[self.dtype]

    @property
    def total_bytes(self) -> int:
        return self.count * self.nbytes


@dataclass(frozen=True)
class StateBytes:
    weights_bytes: int  # every parameter as stored (base + adapters + modules_to_save copies)
    adapter_bytes: int  # the LoRA/DoRA part of weights_bytes
    gradients_bytes: int  # .grad of trainable parameters, in each parameter's dtype
    optimizer_bytes: int  # optimizer state tensors (AdamW's CPU `step` counters excluded: see docs)
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


def expanded(infos, *, trainable_only: bool = False) -> list[ParamInfo]:
    """The parameters tensor by tensor in the model's order: the run of the built last layer's tensors
    (count > 1) stands for that many layers, so it is repeated as a whole."""
    out: list[ParamInfo] = []
    run: list[ParamInfo] = []

    def flush():
        if run:
            for _ in range(run[0].count):
                out.extend(run)
            run.clear()

    for p in infos:
        if trainable_only and not p.trainable:
            continue
        if p.count > 1:
            if run and run[0].count != p.count:
                flush()
            run.append(p)
        else:
            flush()
            out.append(p)
    flush()
    return out


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


def _quantizable_names(model) -> set[str]:
    """Weights transformers' bitsandbytes integration replaces by Linear4bit: `type(m) is nn.Linear` or
    Conv1D, except the output embedding, tied weights and the last module (quantizers/base.py
    get_keys_to_not_convert; integrations/bitsandbytes.py replace_with_bnb_linear)."""
    import torch
    from transformers.pytorch_utils import Conv1D

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    skip: set[int] = set()
    out_emb = base.get_output_embeddings()
    if out_emb is not None:
        skip.add(id(out_emb))
    in_emb = base.get_input_embeddings()
    names = [n for n, _ in base.named_parameters()]
    last_module = names[-1].rsplit(".", 1)[0] if names else ""
    found = set()
    for name, module in base.named_modules():
        if id(module) in skip or name == last_module or "modules_to_save" in name:
            continue
        if type(module) is torch.nn.Linear or isinstance(module, Conv1D):
            w = module.weight
            if in_emb is not None and w is getattr(in_emb, "weight", None):
                continue
            found.add(id(w))
    return found


def quantizable_weights(model) -> dict[int, int]:
    """id(weight) -> numel of the frozen Linear weights a QLoRA base holds in NF4 (same rule as above)."""
    quant = _quantizable_names(model)
    return {id(p): p.numel() for p in model.parameters() if id(p) in quant and not p.requires_grad}


# Layers built to read the parameters off: a model's layers are identical, except that the first may own
# shared tensors (T5's relative attention bias); so of 3 built layers the third stands for every layer past
# the second.
_BUILT_LAYERS = 3
_RANK_SCALED = re.compile("lora_A|lora_B|lora_embedding_A|lora_embedding_B")  # (r, in) and (out, r)
# Parameter lists of built models (rank 1), by config, spec and method/precision: a few hundred ParamInfo
# each; 64 covers every recipe a class explores at once (our measurement: ~30 distinct per page visit).
_BUILT: BoundedCache[tuple[ParamInfo, ...]] = BoundedCache(64)


def built_key(config: dict, spec, setup: TrainingSetup) -> str:
    from dataclasses import asdict

    sp = None
    if spec is not None and setup.method != "full":
        sp = asdict(spec)
        sp["r"] = 1
    st = {"method": setup.method, "precision": setup.precision}
    return json.dumps({"config": config, "spec": sp, "setup": st}, sort_keys=True, default=list)


def model_infos(model, setup: TrainingSetup, r: int) -> tuple[ParamInfo, ...]:
    """Every parameter of a built recipe model, adapters counted at rank 1 (the model's own rank is r)."""
    quant = _quantizable_names(model) if setup.method == "qlora" else set()
    return tuple(
        ParamInfo(
            name=name,
            numel=p.numel() // r if _RANK_SCALED.search(name) else p.numel(),
            dtype=str(p.dtype).removeprefix("torch."),
            trainable=p.requires_grad,
            adapter="lora_" in name,
            quantizable=id(p) in quant and not p.requires_grad,
        )
        for name, p in model.named_parameters()
    )


def remember_model(config: dict, spec, setup: TrainingSetup, model) -> None:
    """Keep the parameters of a recipe model someone built anyway (the activation trace builds the same
    models), so that the state bytes need no build of their own."""
    key = built_key(config, spec, setup)
    if key not in _BUILT:
        r = spec.r if spec is not None and setup.method != "full" else 1
        _BUILT.put(key, model_infos(model, setup, r))


def _infos_at(config: dict, spec, setup: TrainingSetup) -> tuple[ParamInfo, ...]:
    """The parameters (rank 1) of the recipe model built from `config` as it is, all its layers."""
    key = built_key(config, spec, setup)
    infos = _BUILT.get(key)
    if infos is None:
        if spec is not None and setup.method != "full":
            spec = replace(spec, r=1)
        infos = model_infos(recipe.build_training_model(config, spec, setup, device="meta"), setup, 1)
        _BUILT.put(key, infos)
    return infos


@lru_cache(maxsize=16)
def param_infos_at_rank_1(key: str) -> tuple[ParamInfo, ...]:
    """The recipe model's parameters at rank 1 (key: `built_key`), read off a model of at most 3 layers: a
    70B model's 80 layers take seconds to build and adapt on the meta device, 3 take milliseconds. The tensors
    a third layer adds to a 2-layer model stand for the real model's layers 3..L
    (tests/test_memory_states_depth.py checks this against full-depth builds of every preset). The presets'
    common recipes come precomputed (precomputed.py)."""
    from lora_core.memory import precomputed

    known = precomputed.param_infos(key)
    return known if known is not None else build_param_infos(key)


def build_param_infos(key: str) -> tuple[ParamInfo, ...]:
    """param_infos_at_rank_1 without the precomputed file: from the models (built now, or by a trace)."""
    from lora_core.spec import LoraSpec

    data = json.loads(key)
    setup = TrainingSetup(**data["setup"])
    config, spec = data["config"], LoraSpec.from_dict(data["spec"])
    layers = recipe.layer_count(config)
    if layers <= _BUILT_LAYERS:
        return _infos_at(config, spec, setup)
    built = _infos_at(recipe.with_layers(config, _BUILT_LAYERS), spec, setup)
    fewer = {p.name for p in _infos_at(recipe.with_layers(config, _BUILT_LAYERS - 1), spec, setup)}
    repeat = layers - _BUILT_LAYERS + 1
    return tuple(p if p.name in fewer else replace(p, count=repeat) for p in built)


def param_infos(config: dict, spec, setup: TrainingSetup) -> tuple[ParamInfo, ...]:
    """Every parameter of the recipe's model. Read off at rank 1 (cached); lora_A (r, in) and lora_B (out, r)
    are linear in r, so other ranks scale those tensors (DoRA's magnitude does not scale). The exactness
    tests run at r=4 and so check the scaling too."""
    base = param_infos_at_rank_1(built_key(config, spec, setup))
    r = spec.r if spec is not None and setup.method != "full" else 1
    if r == 1:
        return base
    # Built directly rather than with dataclasses.replace (~10 x slower; a Memory page rerun at a new rank
    # rescales a few hundred adapters this way).
    return tuple(
        ParamInfo(p.name, p.numel * r, p.dtype, p.trainable, p.adapter, p.quantizable, p.count)
        if _RANK_SCALED.search(p.name)
        else p
        for p in base
    )


# Fields of the setup the states depend on; batch, seq, attention, checkpointing, gpus and sharding do not
# enter state bytes (sharding divides them later, in sharding.py), so sweeps over them hit this cache.
_STATE_FIELDS = ("method", "precision", "optimizer", "double_quant", "device", "optimizer_impl")


def state_bytes(config: dict, spec, setup: TrainingSetup) -> StateBytes:
    """Bytes of weights, adapters, gradients and optimizer states (cached per model, spec and recipe)."""
    from dataclasses import asdict

    sp = asdict(spec) if spec is not None and setup.method != "full" else None
    fields = {k: getattr(setup, k) for k in _STATE_FIELDS}
    key = json.dumps({"config": config, "spec": sp, "setup": fields}, sort_keys=True, default=list)
    return _state_bytes(key)


@lru_cache(maxsize=32)  # keys hold the config (an upload is at most 1 MB): 32 bounds the cache
def _state_bytes(key: str) -> StateBytes:
    from lora_core.spec import LoraSpec

    data = json.loads(key)
    config, spec, setup = data["config"], LoraSpec.from_dict(data["spec"]), TrainingSetup(**data["setup"])
    return aggregate(list(param_infos(config, spec, setup)), setup)


def aggregate(infos: list[ParamInfo], setup: TrainingSetup) -> StateBytes:
    """The state bytes of a parameter list (each tensor `count` times)."""
    weights = 0
    for p in infos:
        weights += p.count * (nf4_bytes(p.numel, setup.double_quant) if p.quantizable else p.nbytes)
    trainable = [p for p in infos if p.trainable]
    grads = sum(p.total_bytes for p in trainable)
    param_bytes = DTYPE_BYTES[setup.param_dtype]
    total_params = sum(p.count * p.numel for p in infos)
    per_layer: dict[str, int] = {}
    root = 0
    for p in infos:
        m = _LAYER_INDEX.search(p.name)
        b = nf4_bytes(p.numel, setup.double_quant) if p.quantizable else p.nbytes
        if m:
            per_layer[m.group(1)] = per_layer.get(m.group(1), 0) + b
        else:
            root += b
    return StateBytes(
        weights_bytes=weights,
        adapter_bytes=sum(p.total_bytes for p in infos if p.adapter),
        gradients_bytes=grads,
        optimizer_bytes=optimizer_state_bytes(infos, setup.optimizer, setup.impl),
        optimizer_temp_bytes=optimizer_temp_bytes(infos, setup),
        paged_bytes=paged_state_bytes(infos, setup.optimizer),
        # PEFT save_pretrained writes the trainable tensors (adapters, trained biases, modules_to_save) as
        # stored; a full fine-tune saves every parameter. safetensors' JSON header (a few KB) is ignored.
        checkpoint_bytes=grads if setup.method != "full" else sum(p.total_bytes for p in infos),
        full_checkpoint_bytes=sum(p.count * p.numel for p in infos if not p.adapter) * param_bytes,
        trainable_params=sum(p.count * p.numel for p in trainable),
        total_params=total_params,
        largest_quantized_params=max((p.numel for p in infos if p.quantizable), default=0),
        layer_param_bytes=max(per_layer.values(), default=0),
        root_param_bytes=root,
    )
