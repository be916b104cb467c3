"""Exact adapter parameter counts for a real architecture: our arithmetic, PEFT's rules.

For each targeted module with weight W of shape (out_features x in_features), LoRA adds

    lora_A: (r, in_features)      lora_B: (out_features, r)        -> r * (in + out) values
    Embedding(V, H):  lora_embedding_A: (r, V)   lora_embedding_B: (H, r)  -> r * (V + H)
    DoRA adds a magnitude vector of out_features (H for an Embedding).

The other PEFT types (VeRA, LoHa, LoKr, IA3, AdaLoRA) add the tensors lora_core/family/shapes.py lists.
Which modules are targeted, with which rank, which biases train, and what "all params" counts follow
PEFT 0.21.2 (`get_peft_model(model, XConfig(...)).get_nb_trainable_parameters()`); tests/test_params_peft.py
and tests/test_params_family.py check every preset against it. The rules, with the PEFT source they come from:

- a name in `target_modules` matches a module whose full name equals it or ends with "." + name
  (tuners_utils.check_target_module_exists);
- "all-linear" takes every nn.Linear and transformers Conv1D except the output head
  `model.get_output_embeddings()` (tuners_utils._maybe_include_all_linear_layers), for every type;
- each type wraps only some module kinds (family/shapes.py SUPPORTED_KINDS); PEFT raises on the others,
  and so do we, rather than skip them;
- `rank_pattern` / `alpha_pattern` give a module the value of the first key matching its name
  (utils/other.py get_pattern_key; family/patterns.py); a key that matches no targeted module is refused
  (PEFT only warns);
- IA3 scales the input of a module whose name ends with a `feedforward_modules` entry, else its output
  (ia3/model.py:184-193 _check_target_module_feedforward: plain `endswith`);
- a module under a `modules_to_save` name is never a target (same function); the saved module is
  copied: the copy trains and the original stays, so "all params" counts the module twice
  (utils/other.py ModulesToSaveWrapper; matching is a plain `name.endswith(m)` in `_set_trainable`);
- bias="all" trains every parameter named `bias`; "lora_only" / "vera_only" the biases of adapted layers
  (tuners_utils._mark_only_adapters_as_trainable); LoHa, LoKr and IA3 have no bias setting;
- transformers 5 fuses Mixtral's experts into 3-D tensors; for LoRA only, PEFT maps the v4 names (w1, w3 ->
  gate_up_proj at rank 2r and alpha 2·alpha, w2 -> down_proj, gate -> the router weight) onto
  `target_parameters` (utils/transformers_weight_conversion.py:400-480, skipped for other types at :494);
  a ParamWrapper on a (E, a, b) tensor holds lora_A (r*E, a) and lora_B (b, r*E);
- tied weights (shared input/output embeddings) are one tensor, counted once (torch named_parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

from lora_core.arch import Inventory, ModuleInfo, inventory
from lora_core.errors import Clause, LoraLabError
from lora_core.family.patterns import pattern_value, unmatched_keys
from lora_core.family.shapes import SUPPORTED_KINDS, AdapterTensor, module_tensors
from lora_core.spec import lora_scaling

# PEFT's v4 -> v5 MoE name map for Mixtral (peft/utils/transformers_weight_conversion.py:332-352,
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
# How error messages name a module kind (lora_core.arch.KINDS; the words are in lora_core/errors.py).
_KIND_NAMES = {
    "linear": Clause("kind.linear"),  # nn.Linear
    "conv1d": Clause("kind.conv1d"),  # transformers Conv1D (GPT-2's transposed linear)
    "embedding": Clause("kind.embedding"),  # nn.Embedding
    "moe_experts": Clause("kind.moe_experts"),
    "norm": Clause("kind.norm"),
    "other": Clause("kind.other"),
}


@dataclass(frozen=True)
class TargetModule:
    """One adapted module (or fused expert tensor): what the memory estimator needs to size its adapter."""

    name: str  # full name, e.g. "model.layers.0.self_attn.q_proj" or "...mlp.experts.gate_up_proj"
    pattern: str  # name with indices as "*"
    kind: str  # "linear" | "conv1d" | "embedding" | "moe_experts" | "router"
    in_features: int  # Linear/Conv1D: in; Embedding: num_embeddings (V); experts: a of (E, a, b)
    out_features: int  # Linear/Conv1D: out; Embedding: embedding_dim (H); experts: b of (E, a, b)
    r: int  # this module's rank (rank_pattern applied; 2r on a fused gate_up_proj); 0 for IA3
    num_experts: int = 1  # E for fused expert tensors: lora_A is (r*E, in), lora_B is (out, r*E)
    alpha: float = 0.0  # this module's alpha (alpha_pattern applied); 0 for VeRA and IA3, which have none
    scaling: float = (
        1.0  # factor on the update: alpha/r, alpha/sqrt(r) (rsLoRA), alpha (AdaLoRA), 1 (VeRA, IA3)
    )
    feedforward: bool = False  # IA3: the vector scales this module's input, not its output
    tensors: tuple[AdapterTensor, ...] = ()  # what PEFT registers on this module (family/shapes.py)

    @property
    def lora_a_shape(self) -> tuple[int, int]:
        return (self.r * self.num_experts, self.in_features)  # (r, in); embedding: (r, V)

    @property
    def lora_b_shape(self) -> tuple[int, int]:
        return (self.out_features, self.r * self.num_experts)  # (out, r); embedding: (H, r)

    @property
    def lora_params(self) -> int:
        """LoRA's r*(in+out) for this module (without DoRA's magnitude); `adapter_params` counts any type."""
        return self.r * self.num_experts * (self.in_features + self.out_features)

    @property
    def adapter_params(self) -> int:
        return sum(t.numel for t in self.tensors if t.trainable)

    @property
    def frozen_params(self) -> int:
        return sum(t.numel for t in self.tensors if not t.trainable)


@dataclass(frozen=True)
class ModuleCount:
    name: str  # name pattern, e.g. "model.layers.*.self_attn.q_proj" (+ " (r=16)" where ranks differ)
    kind: str
    shape: tuple[int, ...]  # base weight shape as stored
    count: int  # modules sharing the pattern
    lora_params: int  # trainable adapter values across the count, any type (the name is LoRA's, kept)
    r: int = 0  # rank of these modules (0 for IA3)
    tensors: tuple[AdapterTensor, ...] = ()  # the adapter tensors of one of them
    frozen_params: int = 0  # adapter values that do not train (AdaLoRA's ranknum), across the count


@dataclass(frozen=True)
class ParamCount:
    base_params: int  # the model before the adapter (tied weights once), as torch counts named_parameters
    trainable_params: int  # PEFT get_nb_trainable_parameters()[0]
    total_params: int  # PEFT get_nb_trainable_parameters()[1], "all params"
    trainable_percent: float  # 100 * trainable / total, as print_trainable_parameters shows
    adapter_params: int  # trainable adapter values (lora_A/B, DoRA magnitudes, hada_*, lokr_*, ia3_l, ...)
    trained_base_params: (
        int  # base values made trainable: biases (bias=all/*_only) and modules_to_save copies
    )
    saved_copy_params: int  # size of the modules_to_save copies (PEFT counts these modules twice in "all")
    modules: tuple[ModuleCount, ...]  # per targeted pattern
    targets: tuple[TargetModule, ...]  # every adapted module, one entry each
    adapter: str = "lora"  # the spec's type (lora_core.family.ADAPTERS)
    frozen_adapter_params: int = 0  # adapter parameters that do not train: AdaLoRA's ranknum, one per module


def _matches(name: str, target: str) -> bool:
    # tuners_utils.check_target_module_exists, list form
    return name == target or name.endswith("." + target)


def _saved(name: str, modules_to_save: tuple[str, ...]) -> bool:
    # utils/other.py _set_trainable: plain suffix test, not dotted
    return any(name.endswith(m) for m in modules_to_save)


def _under_saved(name: str, modules_to_save: tuple[str, ...]) -> bool:
    # check_target_module_exists: re.match(rf"(^|.*\.){m}($|\..*)", key) keeps adapters off a saved module and its children
    return any(f".{m}." in f".{name}." for m in modules_to_save)


def _refuse_kind(spec, inv: Inventory, m: ModuleInfo, target: str | None) -> LoraLabError:
    """`m` (reached by all-linear, or by `target`) is of a kind `spec`'s type cannot wrap."""
    usable = tuple(
        sorted({x.name.rsplit(".", 1)[-1] for x in inv.modules if x.kind in SUPPORTED_KINDS[spec.adapter]})
    ) or Clause("kind.none")
    kind = _KIND_NAMES[m.kind]
    supported = tuple(_KIND_NAMES[k] for k in SUPPORTED_KINDS[spec.adapter])
    if target is None:
        return LoraLabError(
            "params.all_linear_kind",
            module=m.name, kind=kind, label=spec.label, supported=supported, usable=usable,
        )  # fmt: skip
    return LoraLabError(
        "params.target_kind",
        target=target, module=m.name, kind=kind, label=spec.label, supported=supported, usable=usable,
    )  # fmt: skip


def _module_targets(inv: Inventory, spec) -> list[ModuleInfo]:
    """Modules the adapter wraps as modules (Linear, Conv1D, Embedding), in model order."""
    kinds = SUPPORTED_KINDS[spec.adapter]
    mods = [m for m in inv.modules if not _under_saved(m.name, spec.modules_to_save)]
    if spec.all_linear:
        hit = [m for m in mods if m.kind in ("linear", "conv1d") and m.name != inv.output_embedding]
        for m in hit:
            if m.kind not in kinds:  # e.g. LoHa on GPT-2: PEFT raises TypeError on the first Conv1D
                raise _refuse_kind(spec, inv, m, None)
        return hit
    moe_names = _MOE_MAP.get(inv.model_type, {})
    module_targets = tuple(
        t for t in spec.target_modules if t not in moe_names
    )  # PEFT moves those to parameters
    if spec.adapter != "lora":
        for t in spec.target_modules:
            if t in moe_names:
                raise LoraLabError(
                    "params.moe_lora_only", target=t, architecture=inv.architecture, label=spec.label
                )
    for t in module_targets:
        found = [m for m in inv.modules if _matches(m.name, t)]
        if not found:
            if moe_names and spec.adapter == "lora":
                raise LoraLabError(
                    "params.target_unmatched_moe",
                    target=t, architecture=inv.architecture, names=tuple(inv.target_names),
                    experts=tuple(moe_names),
                )  # fmt: skip
            raise LoraLabError(
                "params.target_unmatched",
                target=t, architecture=inv.architecture, names=tuple(inv.target_names),
            )  # fmt: skip
        for m in found:
            if m.kind not in kinds:
                raise _refuse_kind(spec, inv, m, t)
    return [m for m in mods if any(_matches(m.name, t) for t in module_targets)]


def _moe_targets(inv: Inventory, spec) -> list[tuple[str, str, str, int, int, int, int]]:
    """Fused expert tensors and routers reached through PEFT's target_parameters (transformers 5 MoE, LoRA only).

    Each: (name, pattern, kind, in_features, out_features, num_experts, rank multiplier).
    """
    mapping = _MOE_MAP.get(inv.model_type)
    if not mapping or spec.adapter != "lora":
        return []
    wanted = set(mapping) if spec.all_linear else {t for t in spec.target_modules if t in mapping}
    if not wanted:
        return []
    for fused, parts in _MOE_FUSED[inv.model_type].items():
        present = wanted & set(parts)
        if present and present != set(parts):
            raise LoraLabError(
                "params.moe_together",
                present=tuple(sorted(present)), missing=tuple(sorted(set(parts) - present)), fused=fused,
            )  # fmt: skip
    if spec.use_dora:
        raise LoraLabError("params.moe_dora")
    params = {mapping[w] for w in wanted}  # {(parameter, rank multiplier)}
    out = []
    for m in inv.modules:
        for pname, mult in sorted(params):
            owner, _, leaf = pname.rpartition(".")
            if owner:  # "gate.weight": the router module "gate" and its parameter "weight"
                if not m.name.endswith("." + owner) or leaf not in m.param_names or m.kind != "other":
                    continue
                e, h = m.shape  # router weight (num_experts, hidden)
                out.append((f"{m.name}.{leaf}", f"{m.pattern}.{leaf}", "router", h, e, 1, mult))
            elif m.kind == "moe_experts" and pname in m.param_names:
                e, a, b = _param_shape(
                    m, pname
                )  # PEFT ParamWrapper reads (num_experts, in_features, out_features)
                out.append((f"{m.name}.{pname}", f"{m.pattern}.{pname}", "moe_experts", a, b, e, mult))
    return out


def _param_shape(m: ModuleInfo, pname: str) -> tuple[int, ...]:
    return m.param_shapes[m.param_names.index(pname)]


def _saved_roots(inv: Inventory, spec) -> list[str]:
    """Modules PEFT wraps in ModulesToSaveWrapper (outermost matches), in model order."""
    roots: list[str] = []
    for name in inv.module_names:
        if _saved(name, spec.modules_to_save) and not any(name.startswith(r + ".") for r in roots):
            roots.append(name)
    for m in spec.modules_to_save:
        if not any(r.endswith(m) for r in roots):
            raise LoraLabError(
                "params.saved_unmatched",
                module=m, architecture=inv.architecture, names=tuple(inv.target_names),
            )  # fmt: skip
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


def _rank_and_alpha(spec) -> tuple[int, float]:
    """The spec's default rank and alpha: AdaLoRA's rank is init_r (adalora/model.py:128)."""
    if spec.adapter == "adalora":
        return spec.init_r, spec.alpha
    return getattr(spec, "r", 0), getattr(spec, "alpha", 0.0)  # IA3: no rank; VeRA, IA3: no alpha


def _scaling(spec, r: int, alpha: float) -> float:
    if spec.adapter == "lora":
        return lora_scaling(alpha, r, spec.use_rslora)  # lora/layer.py:278-281
    if spec.adapter in ("loha", "lokr"):
        return alpha / r  # loha/layer.py:130, lokr/layer.py:189
    if spec.adapter == "adalora":
        return alpha  # adalora/layer.py:85: lora_alpha if lora_alpha > 0 else float(r)
    return 1.0  # VeRA and IA3 scale through their trained vectors only


def _feedforward(spec, name: str) -> bool:
    # ia3/model.py:192 _check_target_module_feedforward: any(key.endswith(f) for f in feedforward_modules)
    return spec.adapter == "ia3" and any(name.endswith(f) for f in spec.feedforward_modules)


def _resolve(inv: Inventory, spec) -> list[TargetModule]:
    """Every adapted module with its rank, alpha and tensors; patterns and feedforward names checked."""
    r0, alpha0 = _rank_and_alpha(spec)
    rank_pattern = getattr(spec, "rank_pattern", ())
    alpha_pattern = getattr(spec, "alpha_pattern", ())
    raw = [
        (m.name, m.pattern, m.kind, m.in_features, m.out_features, 1, 1) for m in _module_targets(inv, spec)
    ]
    raw += _moe_targets(inv, spec)
    if not raw:
        raise LoraLabError("params.nothing_adapted")
    names = [x[0] for x in raw]
    for field, pattern in (("rank_pattern", rank_pattern), ("alpha_pattern", alpha_pattern)):
        missing = unmatched_keys(pattern, names)
        if missing:
            raise LoraLabError(
                "params.pattern_unmatched",
                field=field, key=missing[0], targeted=tuple(sorted({n.rsplit(".", 1)[-1] for n in names})),
            )  # fmt: skip
    if spec.adapter == "ia3":
        for f in spec.feedforward_modules:
            if not any(n.endswith(f) for n in names):  # all-linear: PEFT accepts it silently; we refuse
                raise LoraLabError("params.feedforward_not_target", module=f)
    targets = []
    for name, pattern, kind, in_f, out_f, experts, mult in raw:
        # A fused gate_up_proj gets rank 2r and alpha 2·alpha from patterns PEFT appends after the user's
        # (transformers_weight_conversion.py:474-478), so a user's key that matches it comes first.
        r = int(pattern_value(rank_pattern, name, r0 * mult))
        alpha = pattern_value(alpha_pattern, name, alpha0 * mult)
        ff = _feedforward(spec, name)
        tensors = module_tensors(spec, kind, in_f, out_f, r, experts, ff)
        scaling = _scaling(spec, r, alpha) if r else 1.0
        targets.append(
            TargetModule(name, pattern, kind, in_f, out_f, r, experts, alpha, scaling, ff, tensors)
        )
    return targets


def targeted_modules(config: dict, spec) -> tuple[TargetModule, ...]:
    """Every module (or fused expert tensor) the spec adapts, with its adapter tensors."""
    return count_params(config, spec).targets


def count_params(config: dict, spec) -> ParamCount:
    """Trainable and total parameters of `get_peft_model(model, spec)`, computed from the inventory.

    `spec`: a `lora_core.spec.LoraSpec` or any spec of `lora_core.family.specs`.
    """
    inv = inventory(config)
    saved = _saved_roots(inv, spec) if spec.modules_to_save else []
    targets = _resolve(inv, spec)
    adapter = sum(t.adapter_params for t in targets)
    frozen = sum(t.frozen_params for t in targets)

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
    elif spec.bias.endswith("_only"):  # "lora_only" / "vera_only": the biases of adapted layers
        by_name = {m.name: m for m in inv.modules}
        for t in targets:
            m = by_name.get(t.name)
            if m is not None and m.has_bias:
                trained_bias += _numel(m.param_shapes[m.param_names.index("bias")])

    trainable = adapter + copies + trained_bias
    total = inv.total_params + adapter + frozen + copies
    return ParamCount(
        base_params=inv.total_params,
        trainable_params=trainable,
        total_params=total,
        trainable_percent=100 * trainable / total,
        adapter_params=adapter,
        trained_base_params=copies + trained_bias,
        saved_copy_params=copies,
        modules=_module_rows(inv, targets),
        targets=tuple(targets),
        adapter=spec.adapter,
        frozen_adapter_params=frozen,
    )


def _module_rows(inv: Inventory, targets: list[TargetModule]) -> tuple[ModuleCount, ...]:
    """One row per name pattern; a pattern whose modules differ in rank (rank_pattern) or tensors splits."""
    groups: dict[tuple, list[TargetModule]] = {}
    for t in targets:
        groups.setdefault((t.pattern, t.r, t.tensors), []).append(t)
    splits: dict[str, int] = {}
    for pattern, _, _ in groups:
        splits[pattern] = splits.get(pattern, 0) + 1
    by_name = {m.name: m for m in inv.modules}
    rows = []
    for (pattern, r, tensors), ts in groups.items():
        name = pattern
        if splits[pattern] > 1:
            ranks = {rr for (p, rr, _) in groups if p == pattern}
            name += f" (r={r})" if len(ranks) > 1 else f" ({_shapes(tensors)})"
        rows.append(
            ModuleCount(
                name=name,
                kind=ts[0].kind,
                shape=_target_shape(by_name, ts[0]),
                count=len(ts),
                lora_params=sum(t.adapter_params for t in ts),
                r=r,
                tensors=tensors,
                frozen_params=sum(t.frozen_params for t in ts),
            )
        )
    return tuple(rows)


def _shapes(tensors: tuple[AdapterTensor, ...]) -> str:
    """`ia3_l 1x2048`: tells apart rows of one pattern whose tensors differ (IA3 feedforward or not)."""
    return ", ".join(f"{t.name} {'x'.join(str(d) for d in t.shape)}" for t in tensors)


def _target_shape(by_name: dict[str, ModuleInfo], t: TargetModule) -> tuple[int, ...]:
    m = by_name.get(t.name)
    if m is not None:
        return m.shape
    owner, _, leaf = t.name.rpartition(".")  # a parameter of a fused expert module or router
    return _param_shape(by_name[owner], leaf)
