"""Live bytes of one forward + backward as exact polynomials in the batch b, sequence s and rank r.

A tensor's size is a product of its dimensions, and in a training step each dimension is a model constant
or b, s, r, b·s, s+1 ... (hidden states (B, S, H); eager attention (B, H, S, S); LoRA's x·A (B, S, r); the
causal-LM loss pads its labels to (B, S+1)). So every storage's size is a polynomial in (b, s, r) with integer
coefficients, and one traced step at a well-chosen shape determines it: trace at b, s and r equal to primes
that no model constant is a multiple of (`_point`), and factor each storage's byte count by them (`_factor`):
1009 · 457 · 4096 · 2 bytes can only be b · s · (4096 · 2). Summing the polynomials of the storages alive after
each op gives that op's live bytes for every (b, s, r) at once, exactly: no fitting.

Two depths (2 and 3 layers) give the per-layer growth; layers are identical, so the real L-layer model's
phases are extrapolated linearly (checked against a full-depth trace in tests/test_memory_activations.py).
A preset's model needs one trace per depth: tests/test_memory_trace_exact.py checks every preset's factoring
against a second shape. A config nobody has checked (an upload) is traced at a second shape as well, and
each storage's polynomial must give its size there to the byte; if the first shape's primes happen to divide
a constant of that model, the second shape's factoring (checked against the first) is used; if neither
holds, the estimate says so instead of guessing. docs/memory.md ("Activations: one trace, exact
polynomials") compares this with fitting polynomials to many traces, which this replaced.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache

import numpy as np

from lora_core.cache import BoundedCache
from lora_core.errors import LoraLabError
from lora_core.memory import recipe
from lora_core.memory.family import check_recipe, for_memory, rank_is_variable, rank_key, spec_key
from lora_core.memory.live_bytes import (
    KIND_DEQUANT,
    KIND_DQ_ABSMAX,
    KIND_TENSOR,
    StepRecord,
    per_op,
    record_step,
)
from lora_core.memory.setup import TrainingSetup

_LAYERS = (2, 3)  # traced depths
# The traced shapes: b and r primes above any head count or small dimension; s a prime whose neighbours s - 1
# and s + 1 (the causal-LM loss pads labels to s + 1, T5 shifts decoder inputs to s - 1) have large prime
# factors too, so that none of them can be confused with a model constant (a vocabulary of 32,000 is a multiple
# of 500 = 499 + 1, which rules out 499). s stays below the learned position tables of encoders (BERT's 512
# positions, RoBERTa's 514 with its offset of 2). Two shapes, so that each can check the other.
_B = (1009, 1013)
_R = (1021, 1031)
_SEQ_LIMIT = 460
_POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length")
_CACHE = 64  # live-bytes models kept: each is ~100-300 KB of coefficients (3-layer traces; our measurement)

# Phases reported by LiveModel.phases, in this order.
PHASES = ("forward_peak", "forward_end", "backward_peak", "backward_end")


def _largest_prime_factor(n: int) -> int:
    p, largest = 2, 1
    while p * p <= n:
        while n % p == 0:
            n, largest = n // p, p
        p += 1
    return max(largest, n)


@cache
def _seq_primes(limit: int) -> tuple[int, int]:
    """Two primes s <= limit whose neighbours s - 1 and s + 1 have the largest prime factors (317 and 283:
    316 = 4 · 79, 318 = 6 · 53, 282 = 6 · 47, 284 = 4 · 71)."""

    def score(s: int) -> int:
        return min(_largest_prime_factor(s - 1), _largest_prime_factor(s + 1))

    primes = [s for s in range(5, limit + 1) if _largest_prime_factor(s) == s]
    if len(primes) < 2:
        raise LoraLabError("memory.seq_too_short", limit=limit + 2)
    best = sorted(primes, key=lambda s: (score(s), s), reverse=True)
    return best[0], best[1]


def _point(config: dict, which: int, variable: bool = True) -> tuple[int, int, int | None]:
    """The traced (b, s, r) number `which` (0 or 1) for this config; r is None where the spec's sizes are not
    products of its rank (`variable` False: LoKr, IA3, full fine-tuning; lora_core/memory/family.py)."""
    limit = _SEQ_LIMIT
    for key in _POSITION_KEYS:
        if isinstance(config.get(key), int) and config[key] > 0:
            limit = min(limit, config[key] - 2)  # RoBERTa-style position ids start at padding_idx + 1
    return _B[which], _seq_primes(limit)[which], _R[which] if variable else None


def _multiplicity(n: int, p: int) -> tuple[int, int]:
    k = 0
    while n % p == 0:
        n //= p
        k += 1
    return k, n


def _factor(nbytes: int, point: tuple[int, int, int | None]) -> dict[tuple[int, int, int], int]:
    """nbytes = c · b^i · r^k · s^j · (s+1)^m · (s-1)^n at the traced point -> {(i, j, k): coefficient},
    the powers of s + 1 and s - 1 expanded into powers of s (k = 0 when r is no variable: r None)."""
    if nbytes == 0:
        return {}
    b, s, r = point
    i, rest = _multiplicity(nbytes, b)
    k, rest = _multiplicity(rest, r) if r is not None else (0, rest)
    j, rest = _multiplicity(rest, s)
    m, rest = _multiplicity(rest, s + 1)
    n, rest = _multiplicity(rest, s - 1)
    in_s = {j: rest}  # power of s -> coefficient
    for shift, times in ((1, m), (-1, n)):
        for _ in range(times):  # multiply by (s + shift)
            nxt: dict[int, int] = {}
            for e, c in in_s.items():
                nxt[e + 1] = nxt.get(e + 1, 0) + c
                nxt[e] = nxt.get(e, 0) + shift * c
            in_s = nxt
    return {(i, e, k): c for e, c in in_s.items() if c}


def _evaluate(poly: dict[tuple[int, int, int], int], point: tuple[int, int, int | None]) -> int:
    b, s, r = point
    r = 1 if r is None else r  # no variable: every k is 0
    return sum(c * b**i * s**j * r**k for (i, j, k), c in poly.items())


def _undominated(live: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """The rows (ops) whose live bytes can be the largest for some b, s, r >= 1 and gradient fraction in [0, 1].

    Every monomial is positive there, and the bytes are linear in the fraction, so an op whose coefficients
    (fully sharded and not) are all at most another op's can never be the peak: dropping it is exact."""
    rows = np.unique(np.concatenate([live, live - grads], axis=1), axis=0)  # (ops, 2 * terms), no repeats
    rows = rows[np.argsort(-rows.sum(axis=1), kind="stable")]
    # The largest rows dominate most others: drop those at once, then settle the few left one by one.
    top = rows[:16]
    dominated = (top[None, :, :] >= rows[:, None, :]).all(axis=2)  # (ops, top)
    dominated[np.arange(min(len(rows), 16)), np.arange(min(len(rows), 16))] = False  # not by itself
    rows = rows[~dominated.any(axis=1)]
    out = rows[:1]
    for row in rows[1:]:
        if not (out >= row).all(axis=1).any():
            out = np.vstack([out, row])
    t = live.shape[1]
    return np.stack([out[:, :t], out[:, :t] - out[:, t:]], axis=1)  # (kept, 2, terms): live, grads


@dataclass(frozen=True)
class LiveModel:
    """Each phase's candidate peaks as polynomials, at depths 2 and 3.

    terms[t] = (i, j, k) is the monomial b^i s^j r^k. peaks[d][p] has shape (ops, 2, terms): for the ops of
    phase PHASES[p] at depth _LAYERS[d] that can be its largest, the coefficients of the live bytes and of the
    gradient bytes among them (ops that can never be the largest are dropped: `_undominated`)."""

    terms: tuple[tuple[int, int, int], ...]
    peaks: tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]
    layers: int  # the real depth

    def basis(self, b: int, s: int, r: int) -> np.ndarray:
        return np.array([float(b) ** i * float(s) ** j * float(r) ** k for i, j, k in self.terms])

    def phases(self, b: int, s: int, r: int, grad_fraction: float = 1.0) -> dict[str, float]:
        """Live bytes (besides weights and optimizer state) at each phase, for the real depth.

        grad_fraction < 1 models sharded gradients (ZeRO-2/3: each GPU keeps 1/N of them).
        """
        x = self.basis(b, s, r)
        per_depth = []
        for candidates in self.peaks:
            per_depth.append(
                np.array([(c[:, 0] @ x - (1.0 - grad_fraction) * (c[:, 1] @ x)).max() for c in candidates])
            )
        l2, l3 = per_depth
        # Identical layers: each phase's peak grows by the same amount per layer (checked in the tests).
        out = l2 + (self.layers - _LAYERS[0]) * (l3 - l2)
        return {name: float(max(v, 0.0)) for name, v in zip(PHASES, out, strict=True)}


# Which storage kinds (live_bytes.KIND_*) a recipe holds: the QLoRA dequantize buffers only under QLoRA.
def variant_kinds(setup: TrainingSetup) -> tuple[int, ...]:
    if setup.method != "qlora":
        return (KIND_TENSOR,)
    if setup.double_quant:
        return (KIND_TENSOR, KIND_DEQUANT, KIND_DQ_ABSMAX)
    return (KIND_TENSOR, KIND_DEQUANT)


def record_key(config: dict, spec, setup: TrainingSetup) -> str:
    """What a traced step depends on: the architecture, the adapter spec in its memory form at its rank key
    (lora_core/memory/family.py: one key for every rank a trace answers), the recipe."""
    spec = setup.adapter_spec(spec)
    sp = spec_key(config, for_memory(config, spec)) if spec is not None else None
    fields = asdict(setup)
    for k in ("batch", "seq", "gpus", "sharding", "optimizer", "double_quant", "optimizer_impl"):
        fields.pop(k, None)
    if setup.method == "qlora" and not setup.autocast:
        fields["method"] = "lora"  # the traced stand-in for a QLoRA base is the compute-dtype LoRA model itself
    return json.dumps({"config": config, "spec": sp, "setup": fields}, sort_keys=True, default=list)


def cache_key(config: dict, spec, setup: TrainingSetup) -> str:
    """What a live-bytes model depends on: the traced step and which of its storages the recipe holds."""
    return json.dumps([record_key(config, spec, setup), variant_kinds(setup)])


@dataclass(frozen=True)
class TracedSteps:
    """The traced steps at depths 2 and 3 and each storage's size as a polynomial (trace._factor), shared by
    LoRA and QLoRA (same stand-in model). events.py rebuilds the real depth's allocations from them."""

    records: tuple[StepRecord, StepRecord]
    polys: tuple[list[dict], list[dict]]
    layers: int  # the real depth


CACHE: BoundedCache[LiveModel] = BoundedCache(_CACHE)
RECORDS: BoundedCache[TracedSteps] = BoundedCache(_CACHE)


def is_cached(config: dict, spec, setup: TrainingSetup) -> bool:
    """Whether live_model of these inputs answers without tracing."""
    return cache_key(config, spec, setup) in CACHE or record_key(config, spec, setup) in RECORDS


def traced_steps(config: dict, spec, setup: TrainingSetup) -> TracedSteps:
    """The traced steps of this architecture, adapter spec and recipe (cached; else traced now)."""
    spec = setup.adapter_spec(spec)
    from lora_core.memory import precomputed

    key = record_key(config, spec, setup)
    steps = RECORDS.get(key)
    if steps is None:
        steps = precomputed.traced_steps(key) or build_traced_steps(config, spec, setup)
        RECORDS.put(key, steps)
    return steps


def full_traced_steps(config: dict, spec, setup: TrainingSetup) -> TracedSteps:
    """traced_steps with both depths (a precomputed entry holds the 3-layer record only)."""
    steps = traced_steps(config, spec, setup)
    if steps.records[0] is None:
        steps = build_traced_steps(config, setup.adapter_spec(spec), setup)
        RECORDS.put(record_key(config, spec, setup), steps)
    return steps


def live_model(config: dict, spec, setup: TrainingSetup) -> LiveModel:
    """The live-bytes model for this architecture, adapter spec and recipe: cached, precomputed for the
    presets' common recipes (precomputed.py), else traced now."""
    from lora_core.memory import precomputed

    key = cache_key(config, spec, setup)
    model = CACHE.get(key)
    if model is None:
        model = precomputed.live_model(key) or build_live_model(config, spec, setup)
        CACHE.put(key, model)
    return model


def clear_cache() -> None:
    CACHE.clear()
    RECORDS.clear()


@cache
def _preset_configs() -> frozenset[str]:
    from lora_core.arch import canonical_json
    from lora_core.presets import PRESETS, load_preset

    return frozenset(canonical_json(load_preset(name)) for name in PRESETS)


def is_checked_architecture(config: dict) -> bool:
    """A preset: its factoring at the first traced shape is checked in the tests, so one trace per depth."""
    from lora_core.arch import canonical_json

    return canonical_json(config) in _preset_configs()


def _record(config: dict, spec, setup: TrainingSetup, layers: int, point) -> StepRecord:
    """One traced step of `config` cut to `layers` layers; the spec at the point's rank (or its rank key, where
    the rank is no variable)."""
    from lora_core.memory.parameters import quantizable_weights, remember_model

    b, s, r = point
    if spec is not None and spec.rank is not None:
        spec = recipe.with_rank(spec, r if r is not None else rank_key(config, spec))
    config = recipe.with_layers(config, layers)
    model = recipe.build_training_model(config, spec, setup)
    remember_model(config, spec, setup, model, r)  # the state bytes read the same model's parameters
    # CUDA LoRA traces also note where a QLoRA base would dequantize its 4-bit weights (live_bytes.KIND_*)
    quantized = quantizable_weights(model) if setup.device == "cuda" and setup.method != "full" else None
    return record_step(model, setup, b, s, layers=layers, quantized=quantized)


def _polynomials(record: StepRecord, point, check: StepRecord | None, check_point) -> list[dict] | None:
    """Each storage's polynomial from `record`; with `check`, None unless every one gives its size there."""
    known: dict[int, dict] = {}  # a step has a few dozen distinct sizes among thousands of storages
    polys = [known.get(n) or known.setdefault(n, _factor(n, point)) for n in record.nbytes.tolist()]
    if check is None:
        return polys
    same = (
        check.ops == record.ops
        and check.forward_end == record.forward_end
        and np.array_equal(check.births, record.births)
        and np.array_equal(check.deaths, record.deaths)
    )
    if not same:
        raise LoraLabError("memory.trace_ops_differ")
    ok = all(_evaluate(p, check_point) == int(n) for p, n in zip(polys, check.nbytes, strict=True))
    return polys if ok else None


def build_traced_steps(config: dict, spec, setup: TrainingSetup, *, check: bool | None = None) -> TracedSteps:
    """Trace the recipe at depths 2 and 3 and derive every storage's size as a polynomial.

    check: also trace a second shape and require every storage's polynomial to give its size there (default:
    for configs that are not presets)."""
    spec = for_memory(config, setup.adapter_spec(spec))
    check_recipe(spec, setup)
    if check is None:
        check = not is_checked_architecture(config)
    variable = rank_is_variable(spec)
    first, second = _point(config, 0, variable), _point(config, 1, variable)
    records, polys_by_depth = [], []
    for layers in _LAYERS:
        rec = _record(config, spec, setup, layers, first)
        polys = _polynomials(rec, first, None, None)
        if check:
            other = _record(config, spec, setup, layers, second)
            polys = _polynomials(rec, first, other, second) or _polynomials(other, second, rec, first)
            if polys is None:
                raise LoraLabError("memory.trace_not_polynomial")
        records.append(rec)
        polys_by_depth.append(polys)
    return TracedSteps(tuple(records), tuple(polys_by_depth), recipe.layer_count(config))


def _held(record: StepRecord, kinds: tuple[int, ...]) -> np.ndarray:
    """(storages,) bool: the storages a recipe holds (variant_kinds)."""
    if record.kinds is None:
        return np.ones(len(record.nbytes), dtype=bool)
    return np.isin(record.kinds, kinds)


def build_live_model(config: dict, spec, setup: TrainingSetup, *, check: bool | None = None) -> LiveModel:
    """Every op's live bytes as polynomials, from the traced steps (traced now unless cached)."""
    if check is not None:
        steps = build_traced_steps(config, spec, setup, check=check)
    else:
        steps = full_traced_steps(config, spec, setup)
    kinds = variant_kinds(setup)
    terms = sorted({t for polys in steps.polys for p in polys for t in p})
    index = {t: n for n, t in enumerate(terms)}
    peaks = []
    for rec, polys in zip(steps.records, steps.polys, strict=True):
        coef = np.zeros((len(polys), len(terms)))  # (storages, terms)
        for row, poly in enumerate(polys):
            for t, c in poly.items():
                coef[row, index[t]] = c
        coef *= _held(rec, kinds)[:, None]
        live = per_op(rec, coef)  # (ops, terms)
        grads = per_op(rec, coef * rec.grads[:, None])
        f = rec.forward_end
        spans = (slice(0, f + 1), slice(f, f + 1), slice(f + 1, rec.ops), slice(rec.ops - 1, rec.ops))
        peaks.append(tuple(_undominated(live[span], grads[span]) for span in spans))
    return LiveModel(tuple(terms), tuple(peaks), steps.layers)
