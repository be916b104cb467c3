"""Exact adapter parameter counts for a real architecture: our arithmetic, PEFT's rules.

For each targeted module with weight W of shape (out_features x in_features), LoRA adds

    lora_A: (r, in_features)      lora_B: (out_features, r)        -> r * (in + out) values
    Embedding(V, H):  lora_embedding_A: (r, V)   lora_embedding_B: (H, r)  -> r * (V + H)
    DoRA adds a magnitude vector of out_features (H for an Embedding).

The other PEFT types (VeRA, LoHa, LoKr, IA3, AdaLoRA) add the tensors lora_core/family/shapes.py lists.
Which biases train and what "all params" counts follow PEFT 0.21.2
(`get_peft_model(model, XConfig(...)).get_nb_trainable_parameters()`); which modules are adapted, with which
rank, alpha and tensors, is lora_core/targeting.py's (PEFT's matching rules). tests/test_params_peft.py and
tests/test_params_family.py check every preset against PEFT. The counting rules, with their PEFT source:

- a module under a `modules_to_save` name is copied: the copy trains and the original stays, so "all params"
  counts the module twice (utils/other.py ModulesToSaveWrapper; matching is a plain `name.endswith(m)` in
  `_set_trainable`);
- bias="all" trains every parameter named `bias`; "lora_only" / "vera_only" the biases of adapted layers
  (tuners_utils._mark_only_adapters_as_trainable); LoHa, LoKr and IA3 have no bias setting;
- tied weights (shared input/output embeddings) are one tensor, counted once (torch named_parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

from lora_core.arch import Inventory, ModuleInfo, inventory
from lora_core.family.shapes import AdapterTensor
from lora_core.targeting import TargetModule, param_shape, resolve_targets, saved_roots


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


def count_params(config: dict, spec) -> ParamCount:
    """Trainable and total parameters of `get_peft_model(model, spec)`, computed from the inventory.

    `spec`: a `lora_core.spec.LoraSpec` or any spec of `lora_core.family.specs`.
    """
    inv = inventory(config)
    saved = saved_roots(inv, spec) if spec.modules_to_save else []
    targets = resolve_targets(inv, spec)
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
    return param_shape(by_name[owner], leaf)
