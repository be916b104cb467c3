"""Bytes of the state a training step keeps: weights, adapters, gradients, optimizer states, checkpoint.

Read off the recipe's own model (recipe.py) on the meta device: every parameter there already has the
dtype and the requires_grad flag the real step gives it, because the same transformers code and our rebuild
of PEFT's layers set them. Tied weights appear once (torch `named_parameters()` deduplicates). Adapter
buffers count as weights too (VeRA's shared projections vera_A / vera_B: frozen, but on the GPU).
tests/test_memory_exact.py compares these numbers with the storages of a real CPU training step, for every
adapter type.

Ranks: the model is built at a prime rank r' (trace.py's) where sizes are products of the rank
(lora_core/memory/family.py), and each adapter tensor's size is read as numel(r) = c · r^k, k = the number
of its dimensions equal to r' (lora_A (r', in): k = 1; DoRA's magnitude, a pattern-fixed rank: k = 0). LoKr
and IA3 are built at their own rank key instead (k = 0 throughout).

AdaLoRA: PEFT's training loop calls `update_and_allocate` after each optimizer step (adalora/model.py
328-347), whose RankAllocator keeps three copies of every lora_A / lora_E / lora_B (ipt, exp_avg_ipt,
exp_avg_unc: adalora/layer.py 409-430) until the final phase; they are counted with the optimizer states, and
their update's temporaries (three tensors of the largest adapter at once) with the step's temporaries.
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
    numel: int  # values at rank 1 if rank_power > 0, else the tensor's values
    dtype: str  # "float32" | "bfloat16" | "float16"
    trainable: bool
    adapter: bool  # a tensor of the adapter (lora_*, vera_*, hada_*, lokr_*, ia3_l, ranknum)
    quantizable: bool  # a Linear/Conv1D weight bitsandbytes would pack to NF4 under QLoRA
    count: int = 1  # how many tensors this one stands for: the last built layer's stand for the layers not built
    rank_power: int = 0  # the tensor has numel * r**rank_power values at rank r
    buffer: bool = False  # a buffer, not a parameter (VeRA's projections): memory, but in no parameter count
    saved: bool = False  # written by save_pretrained (PEFT's adapter state dict)

    @property
    def nbytes(self) -> int:
        return self.numel * DTYPE_BYTES[self.dtype]

    @property
    def total_bytes(self) -> int:
        return self.count * self.nbytes


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
# Adapter tensors: what PEFT registers on a tuner layer besides its base layer (tuners_utils.py 1717-1760),
# under the adapter name "default": parameters and VeRA's projection buffers.
_ADAPTER = re.compile(
    r"\.(lora_[A-Za-z_]+|vera_lambda_[bd]|vera_[AB]|hada_w[12]_[ab]|lokr_w[12](_[ab])?|ia3_l|ranknum)\.default(\.weight)?$"
)
_NOT_SAVED = re.compile(r"\.ranknum\.default$")  # AdaLoRA leaves ranknum out of its state dict (adalora/model.py 305-309)
# EMBEDDING_LAYER_NAMES (peft/utils/constants.py 402): target_modules naming one makes save_pretrained write the
# embeddings' base weights too (peft/utils/save_and_load.py 265-342, save_embedding_layers="auto").
_EMBEDDING_NAMES = ("embed_tokens", "lm_head")
# Parameter lists of built models (rank 1), by config, spec and method/precision: a few hundred ParamInfo
# each; 64 covers every recipe a class explores at once (our measurement: ~30 distinct per page visit).
_BUILT: BoundedCache[tuple[ParamInfo, ...]] = BoundedCache(64)


def built_key(config: dict, spec, setup: TrainingSetup) -> str:
    """The key of a recipe model's parameter list: the spec in its memory form at its rank key (family.py), so
    that every spec answered by the same built model shares it (and the precomputed file's entries match)."""
    from lora_core.memory.family import for_memory, spec_key

    spec = setup.adapter_spec(spec)
    sp = spec_key(config, for_memory(config, spec)) if spec is not None else None
    # device: where the model is adapted decides whether AdaLoRA's ranknum trains (family_layers.SVDLinear)
    fields = {"method": setup.method, "precision": setup.precision, "device": setup.device}
    return json.dumps({"config": config, "spec": sp, "setup": fields}, sort_keys=True, default=list)


def _saves_embeddings(spec) -> bool:
    """save_and_load.py 277-289: a target_modules list naming an embedding layer saves the embeddings."""
    return spec is not None and isinstance(spec.target_modules, tuple) and any(
        e in spec.target_modules for e in _EMBEDDING_NAMES
    )


def _embedding_base_weights(model) -> set[int]:
    """The base weights save_pretrained writes when embeddings are targeted: those of the input and output
    embeddings that an adapter wraps (save_and_load.py 97-99 has_valid_embedding_base_layer, 333-342)."""
    out = set()
    for layer in (model.get_input_embeddings(), model.get_output_embeddings()):
        base = getattr(layer, "base_layer", None)
        if base is not None and isinstance(getattr(base, "weight", None), type(layer.base_layer.weight)):
            out.add(id(base.weight))
    return out


def model_infos(model, setup: TrainingSetup, r: int | None, spec=None) -> tuple[ParamInfo, ...]:
    """Every parameter (and adapter buffer) of a built recipe model. `r`: the prime rank it was built at where
    sizes are products of the rank (an adapter tensor's dimensions equal to r scale with it), else None."""
    quant = _quantizable_names(model) if setup.method == "qlora" else set()
    embeddings = _embedding_base_weights(model) if _saves_embeddings(spec) else set()
    infos = []
    for name, p in model.named_parameters():
        adapter = bool(_ADAPTER.search(name))
        k = sum(d == r for d in p.shape) if adapter and r is not None else 0
        infos.append(
            ParamInfo(
                name=name,
                numel=p.numel() // r**k if k else p.numel(),
                dtype=str(p.dtype).removeprefix("torch."),
                trainable=p.requires_grad,
                adapter=adapter,
                quantizable=id(p) in quant and not p.requires_grad,
                rank_power=k,
                saved=(p.requires_grad and not _NOT_SAVED.search(name)) or id(p) in embeddings,
            )
        )
    for name, b in model.named_buffers():
        if not _ADAPTER.search(name):
            continue  # the model's own buffers (rotary tables, masks) are not counted, as before
        owner, _, leaf = name.rpartition(".")
        persistent = leaf not in model.get_submodule(owner)._non_persistent_buffers_set
        k = sum(d == r for d in b.shape) if r is not None else 0
        infos.append(
            ParamInfo(
                name=name,
                numel=b.numel() // r**k if k else b.numel(),
                dtype=str(b.dtype).removeprefix("torch."),
                trainable=False,
                adapter=True,
                quantizable=False,
                rank_power=k,
                buffer=True,
                saved=persistent,  # VeRA: save_projection (vera/model.py 151-152)
            )
        )
    return tuple(infos)


def remember_model(config: dict, spec, setup: TrainingSetup, model, r: int | None) -> None:
    """Keep the parameters of a recipe model someone built anyway (the activation trace builds the same
    models, at rank r), so that the state bytes need no build of their own."""
    key = built_key(config, spec, setup)
    if key not in _BUILT:
        _BUILT.put(key, model_infos(model, setup, r if setup.adapter_spec(spec) is not None else None, spec))


def _infos_at(config: dict, spec, setup: TrainingSetup) -> tuple[ParamInfo, ...]:
    """The parameters of the recipe model built from `config` as it is, all its layers (spec: its memory form)."""
    from lora_core.memory.family import rank_is_variable, rank_key
    from lora_core.memory.trace import _R

    key = built_key(config, spec, setup)
    infos = _BUILT.get(key)
    if infos is None:
        r = None
        if setup.adapter_spec(spec) is not None and spec.rank is not None:
            r = _R[0] if rank_is_variable(spec) else None
            spec = spec.with_rank(r if r is not None else rank_key(config, spec))
        model = recipe.build_training_model(config, spec, setup, device="meta")
        infos = model_infos(model, setup, r, spec)
        _BUILT.put(key, infos)
    return infos


@lru_cache(maxsize=16)
def base_param_infos(key: str) -> tuple[ParamInfo, ...]:
    """The recipe model's parameters at its rank key (key: `built_key`; sizes as numel * r**rank_power), read
    off a model of at most 3 layers: a 70B model's 80 layers take seconds to build and adapt on the meta
    device, 3 take milliseconds. The tensors a third layer adds to a 2-layer model stand for the real model's
    layers 3..L (tests/test_memory_states_depth.py checks this against full-depth builds of every preset). The
    presets' common recipes come precomputed (precomputed.py)."""
    from lora_core.memory import precomputed

    known = precomputed.param_infos(key)
    return known if known is not None else build_param_infos(key)


def build_param_infos(key: str) -> tuple[ParamInfo, ...]:
    """base_param_infos without the precomputed file: from the models (built now, or by a trace)."""
    from lora_core.family.specs import spec_from_dict

    data = json.loads(key)
    setup = TrainingSetup(**data["setup"])
    config, spec = data["config"], spec_from_dict(data["spec"])
    layers = recipe.layer_count(config)
    if layers <= _BUILT_LAYERS:
        return _infos_at(config, spec, setup)
    built = _infos_at(recipe.with_layers(config, _BUILT_LAYERS), spec, setup)
    fewer = {p.name for p in _infos_at(recipe.with_layers(config, _BUILT_LAYERS - 1), spec, setup)}
    repeat = layers - _BUILT_LAYERS + 1
    return tuple(p if p.name in fewer else replace(p, count=repeat) for p in built)


def param_infos(config: dict, spec, setup: TrainingSetup) -> tuple[ParamInfo, ...]:
    """Every parameter of the recipe's model (spec: its memory form, lora_core/memory/family.py), at the spec's
    rank: each tensor's numel * r**rank_power (the exactness tests run at r=4, so they check this too)."""
    base = base_param_infos(built_key(config, spec, setup))
    spec = setup.adapter_spec(spec)
    r = spec.rank if spec is not None else None
    if not r or r == 1:
        return base
    return tuple(_at_rank(p, r) if p.rank_power else p for p in base)


def _at_rank(p: ParamInfo, r: int) -> ParamInfo:
    # Built directly rather than with dataclasses.replace (~10 x slower; a Memory page rerun at a new rank
    # rescales a few hundred adapters this way).
    return ParamInfo(
        p.name,
        p.numel * r**p.rank_power,
        p.dtype,
        p.trainable,
        p.adapter,
        p.quantizable,
        p.count,
        p.rank_power,
        p.buffer,
        p.saved,
    )


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
