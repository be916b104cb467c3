"""A transformers model on PyTorch's meta device, and the inventory of its parameter-bearing modules.

The meta device gives every tensor a shape and a dtype but no storage, so even a 175B-parameter model is
built in a fraction of a second and costs a few MB of Python objects. Nothing is downloaded: the class
comes from `config["architectures"][0]` (falling back to the Auto classes by `model_type`) and is
instantiated from the config alone.

Both results are cached per config (canonical JSON). They are shared: callers must not mutate them.
`build_meta_model` hands out a fresh deep copy because PEFT (our test oracle) rewrites models in place.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from lora_core.errors import LoraLabError

# Module kinds, as the pages name them.
KINDS = ("linear", "conv1d", "embedding", "moe_experts", "norm", "other")
# Kinds PEFT's LoRA can wrap as a module (peft/tuners/lora/model.py dispatchers: Embedding, Conv, Linear,
# transformers' Conv1D). Fused MoE expert tensors are reached through target_parameters instead (see targeting.py).
TARGETABLE_KINDS = ("linear", "conv1d", "embedding")
# Auto classes tried, in order, when config["architectures"][0] is missing or unknown to transformers.
_AUTO_CLASSES = ("AutoModelForCausalLM", "AutoModelForSeq2SeqLM", "AutoModelForMaskedLM", "AutoModel")
_CACHE_SIZE = 32  # distinct configs kept; a 70B inventory is ~1 MB of Python objects
_LAYER_INDEX = re.compile(r"(?<=\.)\d+(?=\.|$)")


@dataclass(frozen=True)
class ModuleInfo:
    """One module that owns parameters directly (torch `named_parameters(recurse=False)` is non-empty)."""

    name: str  # full module name, e.g. "model.layers.0.self_attn.q_proj"
    pattern: str  # the name with layer/expert indices replaced by "*"
    kind: str  # one of KINDS
    shape: tuple[int, ...]  # shape of the main weight as stored (Conv1D: (in, out); Linear: (out, in))
    params: int  # parameters this module owns, counting a tied weight only where it is first seen
    has_bias: bool
    in_features: int  # Linear/Conv1D: in; Embedding: num_embeddings; experts: per-expert in; else 0
    out_features: int  # Linear/Conv1D: out; Embedding: embedding_dim; experts: per-expert out; else 0
    tied_to: str = ""  # name of the module whose weight this one shares (tied embeddings), else ""
    param_names: tuple[str, ...] = ()  # own parameter names (local, e.g. "weight", "bias", "gate_up_proj")
    param_shapes: tuple[tuple[int, ...], ...] = ()  # matching shape of each (a tied weight keeps its shape)
    param_owners: tuple[str, ...] = ()  # full name where each tensor first appears ("" module = model root)


@dataclass(frozen=True)
class ModuleGroup:
    """Modules sharing a name pattern, kind and shape, e.g. 32 x model.layers.*.self_attn.q_proj."""

    pattern: str
    kind: str
    shape: tuple[int, ...]
    count: int
    params: int  # total over the count (tied weights counted once)
    has_bias: bool
    in_features: int
    out_features: int


@dataclass(frozen=True)
class Inventory:
    architecture: str  # the transformers class actually built
    model_type: str
    modules: tuple[ModuleInfo, ...]  # in named_modules() order
    groups: tuple[ModuleGroup, ...]  # in order of first appearance
    total_params: int  # what sum(p.numel() for p in model.parameters()) gives: tied weights once
    tied: tuple[tuple[str, str], ...]  # (module, module it shares its weight with)
    target_names: tuple[str, ...]  # last name components LoRA can target (sorted)
    output_embedding: str  # name of get_output_embeddings() (all-linear leaves it out), or ""
    module_names: tuple[str, ...]  # every module name, containers included (modules_to_save may name one)
    input_embedding: str = ""  # name of get_input_embeddings(), or ""


def canonical_json(config: dict) -> str:
    """The cache key: same dict contents, same string."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _resolve_class(config: dict):
    import transformers
    from transformers import PreTrainedModel

    archs = config.get("architectures") or []
    name = archs[0] if archs else ""
    cls = getattr(transformers, name, None) if name else None
    if isinstance(cls, type) and issubclass(cls, PreTrainedModel):
        return cls
    config_class = _config_class(config)
    for auto_name in _AUTO_CLASSES:
        mapping = getattr(transformers, auto_name)._model_mapping
        try:
            return mapping[config_class]
        except KeyError:
            continue
    raise LoraLabError("arch.no_class", architecture=name, model_type=config["model_type"])


def _config_class(config: dict):
    from transformers import CONFIG_MAPPING

    model_type = config.get("model_type")
    try:
        return CONFIG_MAPPING[model_type]
    except KeyError:
        raise LoraLabError("config.unknown_model_type", model_type=model_type) from None


def _hf_config(config: dict):
    # auto_map points at remote code and quantization_config at loaders: neither is used, both are dropped.
    fields = {k: v for k, v in config.items() if k not in ("model_type", "auto_map", "quantization_config")}
    try:
        return _config_class(config)(**fields)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise LoraLabError("arch.config_mismatch", model_type=config["model_type"], detail=str(exc)) from None


@contextmanager
def _quiet():
    """The core never prints: hush transformers' notes (e.g. Gemma's legacy hidden_act) while building."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(level)


@lru_cache(maxsize=_CACHE_SIZE)
def _cached_model(key: str):
    import torch

    config = json.loads(key)
    with _quiet():
        cls = _resolve_class(config)
        hf_config = _hf_config(config)
        try:
            # Meta device: shapes only, no storage; initialisers run on meta tensors and cost nothing.
            with torch.device("meta"):
                model = cls(hf_config)
        except (TypeError, ValueError, KeyError, AttributeError, RuntimeError, ZeroDivisionError) as exc:
            msg = " ".join(str(exc).split())[:300]
            raise LoraLabError("arch.cannot_build", model_class=cls.__name__, detail=msg) from None
    model.requires_grad_(True)
    return model


def build_meta_model(config: dict):
    """A fresh transformers model on the meta device for `config` (a parsed config.json dict).

    The built model is cached; each call returns a deep copy (cheap on meta), so callers such as PEFT may
    rewrite it freely.
    """
    return copy.deepcopy(_cached_model(canonical_json(config)))


def _kind(module) -> str:
    import torch
    from transformers.pytorch_utils import Conv1D

    if isinstance(module, Conv1D):
        return "conv1d"
    if isinstance(module, torch.nn.Linear):
        return "linear"
    if isinstance(module, torch.nn.Embedding):
        return "embedding"
    own = dict(module.named_parameters(recurse=False))
    if any(p.dim() == 3 for p in own.values()):  # transformers 5 fuses MoE experts: (num_experts, out, in)
        return "moe_experts"
    cls_name = type(module).__name__.lower()
    if "norm" in cls_name:
        return "norm"
    return "other"


def _features(module, kind: str) -> tuple[int, int]:
    if kind == "linear":
        return module.in_features, module.out_features
    if kind == "conv1d":  # transformers' Conv1D stores weight as (in, out): GPT-2's fan_in_fan_out
        in_f, out_f = module.weight.shape
        return in_f, out_f
    if kind == "embedding":
        return module.num_embeddings, module.embedding_dim
    return 0, 0


def pattern_of(name: str) -> str:
    """`model.layers.12.self_attn.q_proj` -> `model.layers.*.self_attn.q_proj`."""
    return _LAYER_INDEX.sub("*", name)


@lru_cache(maxsize=_CACHE_SIZE)
def _cached_inventory(key: str) -> Inventory:
    model = _cached_model(key)
    seen: dict[int, str] = {}  # id(parameter) -> full name where the tensor first appears
    modules: list[ModuleInfo] = []
    tied: list[tuple[str, str]] = []
    for name, module in model.named_modules():
        own = list(module.named_parameters(recurse=False))
        if not own:
            continue
        kind = _kind(module)
        params = 0
        tied_to = ""
        for local, p in own:
            if id(p) in seen:  # a tied tensor: torch's named_parameters() yields it once
                if not tied_to or local == "weight":
                    tied_to = seen[id(p)].rpartition(".")[0]
                continue
            seen[id(p)] = f"{name}.{local}" if name else local
            params += p.numel()
        if tied_to:
            tied.append((name, tied_to))
        main = dict(own).get("weight", own[0][1])
        in_f, out_f = _features(module, kind)
        modules.append(
            ModuleInfo(
                name=name,
                pattern=pattern_of(name),
                kind=kind,
                shape=tuple(main.shape),
                params=params,
                has_bias=getattr(module, "bias", None) is not None and "bias" in dict(own),
                in_features=in_f,
                out_features=out_f,
                tied_to=tied_to,
                param_names=tuple(n for n, _ in own),
                param_shapes=tuple(tuple(p.shape) for _, p in own),
                param_owners=tuple(seen[id(p)] for _, p in own),
            )
        )
    groups: dict[tuple, list[ModuleInfo]] = {}
    for m in modules:
        groups.setdefault((m.pattern, m.kind, m.shape), []).append(m)
    out_emb = model.get_output_embeddings()
    out_name = next((n for n, m in model.named_modules() if m is out_emb), "") if out_emb is not None else ""
    in_emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    in_name = next((n for n, m in model.named_modules() if m is in_emb), "") if in_emb is not None else ""
    return Inventory(
        architecture=type(model).__name__,
        model_type=str(model.config.model_type),
        modules=tuple(modules),
        groups=tuple(
            ModuleGroup(
                pattern=p,
                kind=k,
                shape=s,
                count=len(ms),
                params=sum(m.params for m in ms),
                has_bias=ms[0].has_bias,
                in_features=ms[0].in_features,
                out_features=ms[0].out_features,
            )
            for (p, k, s), ms in groups.items()
        ),
        total_params=sum(p.numel() for p in model.parameters()),
        tied=tuple(tied),
        target_names=tuple(
            sorted({m.name.rsplit(".", 1)[-1] for m in modules if m.kind in TARGETABLE_KINDS})
        ),
        output_embedding=out_name,
        module_names=tuple(n for n, _ in model.named_modules(remove_duplicate=False) if n),
        input_embedding=in_name,
    )


def inventory(config: dict) -> Inventory:
    """Every parameter-bearing module of the model `config` describes (cached per config; do not mutate)."""
    return _cached_inventory(canonical_json(config))
