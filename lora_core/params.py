"""Exact LoRA parameter counts for a real architecture: our arithmetic, PEFT's rules.

For each targeted module with weight W of shape (out_features x in_features):

    lora_A: (r, in_features)      lora_B: (out_features, r)        -> r * (in + out) values
    Embedding(V, H):  lora_embedding_A: (r, V)   lora_embedding_B: (H, r)  -> r * (V + H)
    DoRA adds a magnitude vector of out_features (H for an Embedding).

Which modules are targeted, which biases train, and what "all params" counts follow PEFT 0.21.2
(`get_peft_model(model, LoraConfig(...)).get_nb_trainable_parameters()`); tests/test_params_peft.py checks
every preset against it. The rules, with the PEFT source they come from:

- a name in `target_modules` matches a module whose full name equals it or ends with "." + name
  (tuners_utils.check_target_module_exists);
- "all-linear" takes every nn.Linear and transformers Conv1D except the output head
  `model.get_output_embeddings()` (tuners_utils._maybe_include_all_linear_layers);
- a module under a `modules_to_save` name is never a LoRA target (same function); the saved module is
  copied: the copy trains and the original stays, so "all params" counts the module twice
  (utils/other.py ModulesToSaveWrapper; matching is a plain `name.endswith(m)` in `_set_trainable`);
- bias="all" trains every parameter named `bias`; "lora_only" the biases of adapted layers
  (tuners_utils._mark_only_adapters_as_trainable);
- transformers 5 fuses Mixtral's experts into 3-D tensors; PEFT maps the v4 names (w1, w3 -> gate_up_proj
  at rank 2r, w2 -> down_proj, gate -> the router weight) onto `target_parameters`
  (utils/transformers_weight_conversion.py); a ParamWrapper on a (E, a, b) tensor holds lora_A (r*E, a) and
  lora_B (b, r*E) (tuners/lora/layer.py ParamWrapper.update_layer).
- tied weights (shared input/output embeddings) are one tensor, counted once (torch named_parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

from lora_core.arch import Inventory, ModuleInfo, inventory
from lora_core.errors import LoraLabError
from lora_core.spec import LoraSpec

# PEFT's v4 -> v5 MoE name map for Mixtral (peft/utils/transformers_weight_conversion.py,
# _MOE_TARGET_MODULE_MAPPING and _MOE_FUSED_TARGETS). Value: (parameter, rank multiplier).
_MOE_MAP = {
    "mixtral": {
        "gate": ("gate.weight", 1),
        "w1": ("gate_up_proj", 2),
        "w3": ("gate_up_proj", 2),
        "w2": ("down_proj", 1),
    },
}
_MOE_FUSED = {"mixtral": {"gate_up_proj": ("w1", "w3")}}


@dataclass(frozen=True)
class TargetModule:
    """One adapted module (or fused expert tensor): what the memory estimator needs to size its LoRA tensors."""

    name: str  # full name, e.g. "model.layers.0.self_attn.q_proj" or "...mlp.experts.gate_up_proj"
    pattern: str  # name with indices as "*"
    kind: str  # "linear" | "conv1d" | "embedding" | "moe_experts" | "router"
    in_features: int  # Linear/Conv1D: in; Embedding: num_embeddings (V); experts: a of (E, a, b)
    out_features: int  # Linear/Conv1D: out; Embedding: embedding_dim (H); experts: b of (E, a, b)
    r: int  # rank of this adapter (2r on a fused gate_up_proj, as PEFT sets rank_pattern)
    num_experts: int = 1  # E for fused expert tensors: lora_A is (r*E, in), lora_B is (out, r*E)

    @property
    def lora_a_shape(self) -> tuple[int, int]:
        return (self.r * self.num_experts, self.in_features)  # (r, in); embedding: (r, V)

    @property
    def lora_b_shape(self) -> tuple[int, int]:
        return (self.out_features, self.r * self.num_experts)  # (out, r); embedding: (H, r)

    @property
    def lora_params(self) -> int:
        return self.r * self.num_experts * (self.in_features + self.out_features)


@dataclass(frozen=True)
class ModuleCount:
    name: str  # name pattern, e.g. "model.layers.*.self_attn.q_proj"
    kind: str
    shape: tuple[int, ...]  # base weight shape as stored
    count: int  # modules sharing the pattern
    lora_params: int  # LoRA (+ DoRA magnitude) values across the count


@dataclass(frozen=True)
class ParamCount:
    base_params: int  # the model before LoRA (tied weights once), as torch counts named_parameters
    trainable_params: int  # PEFT get_nb_trainable_parameters()[0]
    total_params: int  # PEFT get_nb_trainable_parameters()[1], "all params"
    trainable_percent: float  # 100 * trainable / total, as print_trainable_parameters shows
    adapter_params: (
        int  # lora_A/B, lora_embedding_A/B, DoRA magnitudes (kept fp32 by PEFT's autocast_adapter_dtype)
    )
    trained_base_params: (
        int  # base values made trainable: biases (bias=all/lora_only) and modules_to_save copies
    )
    saved_copy_params: int  # size of the modules_to_save copies (PEFT counts these modules twice in "all")
    modules: tuple[ModuleCount, ...]  # per targeted pattern
    targets: tuple[TargetModule, ...]  # every adapted module, one entry each


def _matches(name: str, target: str) -> bool:
    # tuners_utils.check_target_module_exists, list form
    return name == target or name.endswith("." + target)


def _saved(name: str, modules_to_save: tuple[str, ...]) -> bool:
    # utils/other.py _set_trainable: plain suffix test, not dotted
    return any(name.endswith(m) for m in modules_to_save)


def _under_saved(name: str, modules_to_save: tuple[str, ...]) -> bool:
    # check_target_module_exists: re.match(rf"(^|.*\.){m}($|\..*)", key) keeps LoRA off a saved module and its children
    return any(f".{m}." in f".{name}." for m in modules_to_save)


def _linear_targets(inv: Inventory, spec: LoraSpec) -> list[ModuleInfo]:
    """Modules LoRA wraps as modules (Linear, Conv1D, Embedding), in model order."""
    mods = [m for m in inv.modules if not _under_saved(m.name, spec.modules_to_save)]
    if spec.all_linear:
        return [m for m in mods if m.kind in ("linear", "conv1d") and m.name != inv.output_embedding]
    moe_names = _MOE_MAP.get(inv.model_type, {})
    hit: list[ModuleInfo] = []
    module_targets = tuple(
        t for t in spec.target_modules if t not in moe_names
    )  # PEFT moves those to parameters
    for t in module_targets:
        found = [m for m in inv.modules if _matches(m.name, t)]
        if not found:
            raise LoraLabError(
                f"target {t!r} matches no module of {inv.architecture}; "
                f"module names: {', '.join(inv.target_names)}"
                + (f", and the expert names {', '.join(moe_names)}" if moe_names else "")
            )
        for m in found:
            if m.kind not in ("linear", "conv1d", "embedding"):
                raise LoraLabError(
                    f"target {t!r} is a {m.kind} module ({m.name}); LoRA can target Linear, Conv1D and "
                    f"Embedding modules: {', '.join(inv.target_names)}"
                )
    for m in mods:
        if any(_matches(m.name, t) for t in module_targets):
            hit.append(m)
    return hit


def _moe_targets(inv: Inventory, spec: LoraSpec) -> list[TargetModule]:
    """Fused expert tensors and routers reached through PEFT's target_parameters (transformers 5 MoE)."""
    mapping = _MOE_MAP.get(inv.model_type)
    if not mapping:
        return []
    wanted = set(mapping) if spec.all_linear else {t for t in spec.target_modules if t in mapping}
    if not wanted:
        return []
    for fused, parts in _MOE_FUSED[inv.model_type].items():
        present = wanted & set(parts)
        if present and present != set(parts):
            raise LoraLabError(
                f"{', '.join(sorted(present))} must be targeted together with {', '.join(sorted(set(parts) - present))}: "
                f"transformers 5 fuses them into {fused}"
            )
    if spec.use_dora:
        raise LoraLabError(
            "PEFT has no DoRA for fused MoE expert tensors (ParamWrapper); drop use_dora or the expert targets"
        )
    params = {mapping[w] for w in wanted}  # {(parameter, rank multiplier)}
    out: list[TargetModule] = []
    for m in inv.modules:
        for pname, mult in sorted(params):
            owner, _, leaf = pname.rpartition(".")
            if owner:  # "gate.weight": the router module "gate" and its parameter "weight"
                if not m.name.endswith("." + owner) or leaf not in m.param_names or m.kind != "other":
                    continue
                e, h = m.shape  # router weight (num_experts, hidden)
                out.append(
                    TargetModule(f"{m.name}.{leaf}", f"{m.pattern}.{leaf}", "router", h, e, spec.r * mult)
                )
            elif m.kind == "moe_experts" and pname in m.param_names:
                shape = _param_shape(m, pname)
                e, a, b = shape  # PEFT ParamWrapper reads (num_experts, in_features, out_features)
                out.append(
                    TargetModule(
                        f"{m.name}.{pname}", f"{m.pattern}.{pname}", "moe_experts", a, b, spec.r * mult, e
                    )
                )
    return out


def _param_shape(m: ModuleInfo, pname: str) -> tuple[int, ...]:
    return m.param_shapes[m.param_names.index(pname)]


def _saved_roots(inv: Inventory, spec: LoraSpec) -> list[str]:
    """Modules PEFT wraps in ModulesToSaveWrapper (outermost matches), in model order."""
    roots: list[str] = []
    for name in inv.module_names:
        if _saved(name, spec.modules_to_save) and not any(name.startswith(r + ".") for r in roots):
            roots.append(name)
    for m in spec.modules_to_save:
        if not any(r.endswith(m) for r in roots):
            raise LoraLabError(
                f"modules_to_save {m!r} matches no module of {inv.architecture}; e.g. {', '.join(inv.target_names)}"
            )
    return roots


def _subtree_params(inv: Inventory, root: str) -> tuple[int, dict[str, int]]:
    """Distinct tensors under `root` (a deepcopy keeps ties inside the copy); also their biases by owner name."""
    seen: dict[str, int] = {}
    biases: dict[str, int] = {}
    for m in inv.modules:
        if m.name == root or m.name.startswith(root + "."):
            for local, shape, owner in zip(m.param_names, m.param_shapes, m.param_owners, strict=True):
                seen[owner] = _numel(shape)
                if local == "bias":
                    biases[owner] = _numel(shape)
    return sum(seen.values()), biases


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def targeted_modules(config: dict, spec: LoraSpec) -> tuple[TargetModule, ...]:
    """Every module (or fused expert tensor) the spec adapts, with its LoRA shapes."""
    return count_params(config, spec).targets


def count_params(config: dict, spec: LoraSpec) -> ParamCount:
    """Trainable and total parameters of `get_peft_model(model, spec)`, computed from the inventory."""
    inv = inventory(config)
    saved = _saved_roots(inv, spec) if spec.modules_to_save else []
    targets: list[TargetModule] = []
    lora_by_module: dict[str, int] = {}
    for m in _linear_targets(inv, spec):
        # Embedding: in_features = num_embeddings V, out_features = embedding_dim H (lora_embedding_A/B)
        t = TargetModule(m.name, m.pattern, m.kind, m.in_features, m.out_features, spec.r)
        targets.append(t)
        # DoRA magnitude: one value per output feature (embedding_dim for an Embedding), PEFT lora/dora.py
        lora_by_module[m.name] = t.lora_params + (t.out_features if spec.use_dora else 0)
    for t in _moe_targets(inv, spec):
        targets.append(t)
        lora_by_module[t.name] = t.lora_params
    if not targets:
        raise LoraLabError("the spec adapts no module (every target is inside modules_to_save?)")
    adapter = sum(lora_by_module.values())

    # modules_to_save: a trainable copy of each saved module next to the frozen original.
    copies = 0
    saved_biases: set[str] = set()
    for root in saved:
        n, biases = _subtree_params(inv, root)
        copies += n
        saved_biases |= set(biases)

    # Base parameters made trainable by `bias` (biases inside saved modules train in the copy instead).
    trained_bias = 0
    if spec.bias == "all":
        owners: dict[str, int] = {}
        for m in inv.modules:
            for local, shape, owner in zip(m.param_names, m.param_shapes, m.param_owners, strict=True):
                if local == "bias" and owner not in saved_biases:
                    owners[owner] = _numel(shape)
        trained_bias = sum(owners.values())
    elif spec.bias == "lora_only":
        by_name = {m.name: m for m in inv.modules}
        for t in targets:
            m = by_name.get(t.name)
            if m is not None and m.has_bias:
                trained_bias += _numel(m.param_shapes[m.param_names.index("bias")])

    trainable = adapter + copies + trained_bias
    total = inv.total_params + adapter + copies
    groups: dict[str, list] = {}
    by_name = {m.name: m for m in inv.modules}
    for t in targets:
        groups.setdefault(t.pattern, []).append(t)
    modules = tuple(
        ModuleCount(
            name=pattern,
            kind=ts[0].kind,
            shape=_target_shape(by_name, ts[0]),
            count=len(ts),
            lora_params=sum(lora_by_module[t.name] for t in ts),
        )
        for pattern, ts in groups.items()
    )
    return ParamCount(
        base_params=inv.total_params,
        trainable_params=trainable,
        total_params=total,
        trainable_percent=100 * trainable / total,
        adapter_params=adapter,
        trained_base_params=copies + trained_bias,
        saved_copy_params=copies,
        modules=modules,
        targets=tuple(targets),
    )


def _target_shape(by_name: dict[str, ModuleInfo], t: TargetModule) -> tuple[int, ...]:
    m = by_name.get(t.name)
    if m is not None:
        return m.shape
    owner, _, leaf = t.name.rpartition(".")  # a parameter of a fused expert module or router
    return _param_shape(by_name[owner], leaf)
