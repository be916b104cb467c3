"""The parameters of a recipe's model, as a list of `ParamInfo`: what states.py sums.

Read off the recipe's own model (recipe.py) on the meta device: every parameter there already has the
dtype and the requires_grad flag the real step gives it, because the same transformers code and our rebuild
of PEFT's layers set them. Tied weights appear once (torch `named_parameters()` deduplicates). Adapter
buffers count as weights too (VeRA's shared projections vera_A / vera_B: frozen, but on the GPU).
tests/test_memory_exact.py checks the bytes they give against a real CPU training step.

A model's layers repeat, so the list is read off a model of at most 3 layers (`base_param_infos`), kept in a
bounded cache, and precomputed for the presets' common recipes (precomputed.py).

Ranks: the model is built at a prime rank r' (trace.py's) where sizes are products of the rank
(lora_core/memory/family.py), and each adapter tensor's size is read as numel(r) = c · r^k, k = the number
of its dimensions equal to r' (lora_A (r', in): k = 1; DoRA's magnitude, a pattern-fixed rank: k = 0). LoKr
and IA3 are built at their own rank key instead (k = 0 throughout).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache

from lora_core.cache import BoundedCache
from lora_core.memory import recipe
from lora_core.memory.setup import DTYPE_BYTES, TrainingSetup


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


# Parameter lists computed elsewhere (a trace worker process: lora_ui.workers.trace) and handed to this
# process with the traces they came from (trace_jobs.remember_trace); same bound as _BUILT.
_GIVEN: BoundedCache[tuple[ParamInfo, ...]] = BoundedCache(64)


def remember_base(key: str, infos: tuple[ParamInfo, ...]) -> None:
    """Keep `base_param_infos(key)` computed by another process (trace_jobs.remember_trace)."""
    _GIVEN.put(key, infos)


@lru_cache(maxsize=16)
def base_param_infos(key: str) -> tuple[ParamInfo, ...]:
    """The recipe model's parameters at its rank key (key: `built_key`; sizes as numel * r**rank_power), read
    off a model of at most 3 layers: a 70B model's 80 layers take seconds to build and adapt on the meta
    device, 3 take milliseconds. The tensors a third layer adds to a 2-layer model stand for the real model's
    layers 3..L (tests/test_memory_states_depth.py checks this against full-depth builds of every preset). The
    presets' common recipes come precomputed (precomputed.py)."""
    from lora_core.memory import precomputed

    known = _GIVEN.get(key)
    if known is None:
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
