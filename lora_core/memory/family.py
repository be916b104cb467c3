"""The adapter spec as the memory estimator sees it: which settings change a step's tensors, and how r enters.

The estimator traces a model of 2 and 3 layers (trace.py) and reads its parameters off one of 3 (parameters.py), with
the rank r as a variable wherever tensor sizes are products of r (LoRA's (B, S, r), lora_A (r, in)). Per type:

| type          | sizes in r                       | traced / built at                         |
|---------------|----------------------------------|-------------------------------------------|
| LoRA, DoRA    | lora_A (r, in), x·A (B, S, r)    | a prime r, r a variable (trace._R)        |
| VeRA          | λ_d (r,), vera_A (r, max in)     | a prime r, r a variable                   |
| LoHa          | hada_* (out, r), (r, in)         | a prime r, r a variable                   |
| AdaLoRA       | A (r, in), E (r, 1), Pᵀ P (r, r) | a prime r, r a variable (r² terms)        |
| LoKr          | w2 (b, d) whole, or (b, r)(r, d) | the spec's own r: the form flips at r = max(b, d)/2 |
| IA3           | none                             | once, r plays no part                     |

LoKr keeps a factor whole once r >= max(b, d)/2 (lokr/layer.py 203-204), so its ops are not the same
function of r on both sides: it is traced at its own rank below that point, and once for every rank above it.

`for_memory` also drops the settings that only change the value a layer's update is multiplied by (alpha,
alpha_pattern, rsLoRA's alpha/sqrt(r), AdaLoRA's target_r and total_step): they make the same ops on the same
shapes (tests/test_memory_adapters.py traces PEFT with and without them), so specs that differ only there
share one trace. A rank_pattern must give each module the same rank in every layer, since the estimator's
layers are identical; its keys are rewritten per module name pattern, so that they match in 2- and 3-layer
models too.
"""

from __future__ import annotations

import dataclasses
import math
import re
from functools import lru_cache

from lora_core.errors import LoraLabError

# The alpha every memory spec carries (any value gives the same ops; PEFT's default 8).
_ALPHA = 8


def rank_is_variable(spec) -> bool:
    """Whether tensor sizes are products of the rank (then the trace keeps r as a polynomial variable)."""
    return spec is not None and spec.adapter not in ("lokr", "ia3")


def for_memory(config: dict, spec):
    """`spec` with only what changes a training step's tensors; LoraLabError where the estimator cannot model it."""
    if spec is None:
        return None
    if spec.rank is None:
        return _for_memory(_config_key(config), spec)
    # The rank of the modules without a rank_pattern entry changes nothing here: one cache entry for all ranks.
    return _for_memory(_config_key(config), spec.with_rank(1)).with_rank(spec.rank)


# Keys hold a config (an upload is at most 1 MB) and a small frozen spec: 64 bounds the cache, and covers the
# specs a class explores at once (each rank shares its entry).
@lru_cache(maxsize=64)
def _for_memory(config_json: str, spec):
    import json

    from lora_core.params import count_params

    changes: dict = {}
    if hasattr(spec, "alpha"):
        changes["alpha"] = _ALPHA
    if getattr(spec, "alpha_pattern", ()):
        changes["alpha_pattern"] = ()
    if getattr(spec, "use_rslora", False):
        changes["use_rslora"] = False
    if spec.adapter == "adalora":
        changes.update(target_r=1, total_step=1)  # the rank allocator's schedule, not its tensors
    if getattr(spec, "rank_pattern", ()):
        # every layer's rank: only here does the estimate need the full-depth model's module list (a 70B
        # preset's takes seconds to build; the traces and state bytes build 2 or 3 layers)
        targets = count_params(json.loads(config_json), spec).targets
        changes["rank_pattern"] = _per_pattern_ranks(spec, targets)
    return dataclasses.replace(spec, **changes) if changes else spec


def _per_pattern_ranks(spec, targets) -> tuple[tuple[str, int], ...]:
    """The rank_pattern as one key per module name pattern; refused where one pattern's layers differ."""
    from lora_core.family.patterns import pattern_key

    ranks: dict[str, set[int]] = {}
    keyed: dict[str, bool] = {}
    for t in targets:
        ranks.setdefault(t.pattern, set()).add(t.r)
        keyed[t.pattern] = keyed.get(t.pattern, False) or pattern_key(spec.rank_pattern, t.name) is not None
    for pattern, rs in ranks.items():
        if len(rs) > 1:
            raise LoraLabError("memory.rank_pattern_layers", pattern=pattern, ranks=tuple(sorted(rs)))
    out = []
    for pattern, rs in ranks.items():
        if keyed[pattern]:
            key = re.escape(pattern).replace(r"\*", "[0-9]+")  # model\.layers\.[0-9]+\.self_attn\.q_proj
            out.append((key, next(iter(rs))))
    return tuple(out)


def rank_key(config: dict, spec) -> int:
    """The rank a spec's trace and parameter list are keyed on and built at: 1 where r is a variable (any rank
    answers from the same polynomials), LoKr's own rank below the point where every factor is whole and that
    point above it, IA3's none (0)."""
    if spec is None or spec.adapter == "ia3":
        return 0
    if spec.adapter != "lokr":
        return 1
    return min(spec.r, lokr_whole_rank(config, spec))


def lokr_whole_rank(config: dict, spec) -> int:
    """The smallest r at which every LoKr module without a rank_pattern entry keeps w1 and w2 whole:
    w2 once r >= max(b, d)/2, w1 (with decompose_both) once r >= max(a, c)/2 (lokr/layer.py 199-204).
    `spec`: its memory form (for_memory), whose rank_pattern keys match in a 2-layer model too."""
    return _lokr_whole_rank(_config_key(config), spec.with_rank(1))


@lru_cache(maxsize=64)
def _lokr_whole_rank(config_json: str, spec) -> int:
    import json

    from lora_core.family.patterns import pattern_key
    from lora_core.family.shapes import factorization
    from lora_core.memory.recipe import layer_count, with_layers
    from lora_core.params import count_params

    config = json.loads(config_json)
    config = with_layers(config, min(layer_count(config), 2))  # layers are alike; the traces build 2 and 3
    whole = 1
    for t in count_params(config, spec).targets:
        if pattern_key(spec.rank_pattern, t.name) is not None:
            continue  # a fixed rank: its form does not change with r
        in_m, in_n = factorization(t.in_features, spec.decompose_factor)  # (c, d)
        out_l, out_k = factorization(t.out_features, spec.decompose_factor)  # (a, b)
        whole = max(whole, math.ceil(max(out_k, in_n) / 2))
        if spec.decompose_both:
            whole = max(whole, math.ceil(max(out_l, in_m) / 2))
    return whole


def _config_key(config: dict) -> str:
    from lora_core.arch import canonical_json

    return canonical_json(config)


def spec_key(config: dict, spec) -> dict | None:
    """The spec as cache-key data: its memory form at its rank key (so ranks answered by one trace share it)."""
    if spec is None:
        return None
    from lora_core.family.specs import spec_to_dict

    return spec_to_dict(spec.with_rank(rank_key(config, spec)) if spec.rank is not None else spec)


def check_recipe(spec, setup) -> None:
    """Refuse the type/recipe pairs PEFT does not run or the estimator does not model."""
    if setup.adapter_spec(spec) is None:
        return
    if setup.method == "qlora" and spec.adapter in ("loha", "lokr"):
        raise LoraLabError("memory.qlora_no_4bit_layer", label=spec.label, adapter=spec.adapter)
    if spec.adapter == "adalora" and setup.sharding != "none":
        raise LoraLabError("memory.adalora_sharding")
