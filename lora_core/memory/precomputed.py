"""Every preset's common recipes, traced ahead of time, so that the Memory page answers them without a trace.

A recipe nobody has asked for yet is traced when it is asked for (trace.py): 30-150 ms per recipe on one core
of our 2-core server, 100-400 ms for the encoder-decoder T5, and a precision switch asks for three (full
fine-tuning, LoRA, QLoRA). So the grid a class clicks through first, every preset x method x precision x
gradient checkpointing x attention kernel at the page's default adapter spec, is computed by
`python -m lora_core.memory.precomputed` into data/presets.npz: each recipe's live-bytes model (the
candidate peaks of trace.LiveModel) and the parameter list its state bytes are read from (parameters.ParamInfo).

It also holds each recipe's traced 3-layer step (trace.TracedSteps: every storage's birth, death, size
polynomial, kind and layer marks), from which reserve.py replays the caching allocator at any depth, batch,
sequence and rank without a trace.

The file holds exactly what the tracer computes: tests/test_memory_precomputed.py recomputes entries and
compares them. It is stamped with a fingerprint of the code and library versions it was computed with
(`fingerprint`); when they differ, for example after an edit to the adapters, the file is ignored (every
recipe is traced, as without it) and the test says to run the command again. Loading is lazy: an entry is
read from the archive the first time it is asked for. No pickles: numpy arrays only (allow_pickle=False).
"""

from __future__ import annotations

import hashlib
import itertools
from functools import cache
from importlib import resources

import numpy as np

# The code whose edits change the numbers in the file (relative to lora_core/).
SOURCES = (
    "arch.py",
    "params.py",
    "spec.py",
    "targeting.py",
    "family/patterns.py",
    "family/shapes.py",
    "family/specs.py",
    "memory/adapters.py",
    "memory/family.py",
    "memory/family_layers.py",
    "memory/kernels.py",
    "memory/live_bytes.py",
    "memory/precomputed.py",  # the archive's own layout
    "memory/allocator.py",  # the replays at the page's default point
    "memory/allocator_config.py",
    "memory/allocator_replay.py",
    "memory/allocator_coded.py",
    "memory/events.py",
    "memory/optimizer_step.py",
    "memory/reserve.py",
    "memory/lora_layers.py",
    "memory/parameters.py",
    "memory/recipe.py",
    "memory/setup.py",
    "memory/states.py",
    "memory/trace.py",
)
FILE = "presets.npz"  # in lora_core/memory/data/
# The Memory page's first view (lora_ui/memory_inputs.py: rank 16, sequence 1,024, batch 1; a test checks they
# agree): where the grid's caching-allocator replays are precomputed too, so that a student clicking through
# presets, methods and precisions never waits for one (a replay walks every layer: 90-220 ms for the 70B and
# 175B presets, benchmarks/allocator_replay.py, 2026-11-29).
PAGE_RANK = 16
PAGE_SEQ = 1024
_DTYPES = ("float32", "bfloat16", "float16")


def fingerprint() -> str:
    """torch's and transformers' versions and the text of SOURCES: what the numbers were computed with."""
    import torch
    import transformers

    h = hashlib.sha256(f"torch {torch.__version__} transformers {transformers.__version__}".encode())
    root = resources.files("lora_core")
    for name in SOURCES:
        h.update(name.encode())
        h.update(root.joinpath(name).read_bytes())
    return h.hexdigest()


def entry_id(key: str) -> str:
    """The archive name of a cache key (trace.cache_key or parameters.built_key: JSON holding the whole config)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def grid():
    """(preset, spec, setup) of every precomputed recipe: the Memory page's default adapter spec on every
    preset, every method and precision, with and without gradient checkpointing, both attention kernels."""
    from lora_core.memory.setup import ATTENTIONS, METHODS, PRECISIONS, TrainingSetup
    from lora_core.presets import PRESETS
    from lora_core.spec import LoraSpec

    spec = LoraSpec(r=1, alpha=16, target_modules="all-linear")  # lora_ui/memory_inputs.py: page defaults
    for name, method, precision, ckpt, attention in itertools.product(
        PRESETS, METHODS, PRECISIONS, (False, True), ATTENTIONS
    ):
        yield name, spec, TrainingSetup(method=method, precision=precision, grad_checkpointing=ckpt, attention=attention)


def compute(entries) -> dict[str, np.ndarray]:
    """The archive's arrays for these (preset, spec, setup) entries; recipes the core refuses are left out."""
    from lora_core.errors import LoraLabError
    from lora_core.memory import parameters, trace
    from lora_core.presets import load_preset

    arrays: dict[str, np.ndarray] = {"fingerprint": np.array(fingerprint())}
    for name, spec, setup in entries:
        config = load_preset(name)
        key = entry_id(trace.cache_key(config, spec, setup))
        if f"{key}.peaks" not in arrays:
            try:
                model = trace.build_live_model(config, spec, setup)
            except LoraLabError:  # e.g. LoRA on Mixtral's fused experts: the page shows that error
                continue
            arrays.update(_live_arrays(key, model))
        rid = entry_id(trace.record_key(config, spec, setup))
        if f"{rid}.births" not in arrays:
            arrays.update(_steps_arrays(rid, trace.traced_steps(config, spec, setup)))
        infos_key = parameters.built_key(config, spec, setup)
        pid = entry_id(infos_key)
        if f"{pid}.names" not in arrays:
            arrays.update(_infos_arrays(pid, parameters.build_param_infos(infos_key)))
        arrays.update(_replay_arrays(config, spec, setup))
    return arrays


def _replay_arrays(config: dict, spec, setup) -> dict[str, np.ndarray]:
    """The replay of the recipe at the page's default point, if the page would replay it."""
    from lora_core.memory import reserve

    spec, setup = spec.with_rank(PAGE_RANK), setup.replace(seq=PAGE_SEQ)
    if not reserve.replayable(setup):
        return {}
    key = reserve.replay_key(config, spec, setup)
    try:
        run = reserve.predict(config, spec, setup)
    except reserve.DepthError:  # the page falls back to rounding for this model: nothing to keep
        return {}
    fields = (run.peak_allocated, run.reserved, run.warmup_reserved, run.steps, int(run.settled))
    return {f"{entry_id(key)}.reserve": np.array(fields, dtype=np.int64)}


def write(path=None) -> None:
    target = path or resources.files("lora_core.memory").joinpath("data", FILE)
    np.savez_compressed(target, **compute(grid()))


def _live_arrays(key: str, model) -> dict[str, np.ndarray]:
    blocks = [c for depth in model.peaks for c in depth]
    offsets = np.cumsum([0] + [len(b) for b in blocks])
    return {
        f"{key}.terms": np.asarray(model.terms, dtype=np.int64).reshape(-1, 3),
        f"{key}.peaks": np.concatenate(blocks).astype(np.int64),  # coefficients are whole bytes
        f"{key}.offsets": np.concatenate([offsets, [model.layers]]).astype(np.int64),
    }


def _infos_arrays(key: str, infos) -> dict[str, np.ndarray]:
    flags = [p.trainable | p.adapter << 1 | p.quantizable << 2 | p.buffer << 3 | p.saved << 4 for p in infos]
    ints = [
        (p.numel, f, p.count, _DTYPES.index(p.dtype), p.rank_power) for p, f in zip(infos, flags, strict=True)
    ]
    return {
        f"{key}.names": np.array([p.name for p in infos]),
        f"{key}.ints": np.array(ints, dtype=np.int64).reshape(-1, 5),
    }


def _steps_arrays(key: str, steps) -> dict[str, np.ndarray]:
    """The 3-layer record of trace.TracedSteps: int arrays per storage, polynomials as (row, i, j, k, coef)."""
    rec, polys = steps.records[1], steps.polys[1]
    distinct: dict[tuple, int] = {}  # a step has a few dozen distinct sizes among hundreds of storages
    index = [distinct.setdefault(tuple(sorted(p.items())), len(distinct)) for p in polys]
    terms = [(n, i, j, k, c) for poly, n in distinct.items() for (i, j, k), c in poly]
    marks = [
        -1 if v is None else v
        for m in rec.layers
        for part in (m.forward_start, m.forward_end, m.backward_start)
        for v in part
    ]
    return {
        # births ascend with the storage index and most storages live a few ops: stored as differences,
        # which compress to a fraction of the raw op indices
        f"{key}.births": np.diff(rec.births, prepend=0).astype(np.int32),
        f"{key}.lifetimes": (rec.deaths - rec.births).astype(np.int32),
        # gradient (bit 0), kind (bits 1-3: live_bytes.KIND_*), sequence rounding (bits 4-: 1, 32 or 128)
        f"{key}.flags": (rec.grads.astype(np.int64) | rec.kinds << 1 | rec.seq_round << 4).astype(np.int32),
        f"{key}.polys": np.asarray(terms, dtype=np.int64).reshape(-1, 5),  # (distinct poly, i, j, k, coef)
        f"{key}.poly_index": np.asarray(index, dtype=np.int32),  # each storage's distinct poly
        f"{key}.meta": np.asarray([rec.ops, rec.forward_end, steps.layers, len(rec.layers), *marks], dtype=np.int64),
    }


def traced_steps(key: str):
    """The precomputed trace.TracedSteps of a record key (its 3-layer record; the 2-layer one is None), or None."""
    from lora_core.memory.live_bytes import LayerMarks, StepRecord
    from lora_core.memory.trace import TracedSteps

    found = _archive()
    eid = entry_id(key)
    if found is None or f"{eid}.births" not in found[1]:
        return None
    data = found[0]
    meta = data[f"{eid}.meta"].tolist()
    ops, forward_end, layers, stacks = meta[:4]
    marks = meta[4:]
    per = len(marks) // stacks if stacks else 0  # forward starts, forward ends, backward starts
    n = per // 3
    known = [None if v < 0 else v for v in marks]
    layer_marks = tuple(
        LayerMarks(
            tuple(known[s * per : s * per + n]),
            tuple(known[s * per + n : s * per + 2 * n]),
            tuple(known[s * per + 2 * n : (s + 1) * per]),
        )
        for s in range(stacks)
    )
    flags = data[f"{eid}.flags"].astype(np.int64)
    births = np.cumsum(data[f"{eid}.births"].astype(np.int64))
    distinct: dict[int, dict] = {}
    for n, i, j, k, c in data[f"{eid}.polys"].tolist():
        distinct.setdefault(n, {})[(i, j, k)] = c
    polys = [distinct.get(n, {}) for n in data[f"{eid}.poly_index"].tolist()]
    rec = StepRecord(
        births=births,
        deaths=births + data[f"{eid}.lifetimes"].astype(np.int64),
        nbytes=np.zeros(len(births), dtype=np.int64),  # sizes at the traced shape are not kept: see polys
        grads=(flags & 1).astype(bool),
        ops=int(ops),
        forward_end=int(forward_end),
        seq_round=flags >> 4,
        kinds=(flags >> 1) & 7,
        layers=layer_marks,
    )
    return TracedSteps((None, rec), (None, polys), int(layers))


@cache
def _archive():
    """The archive, if it was computed with this code (else None: every recipe is traced)."""
    path = resources.files("lora_core.memory").joinpath("data", FILE)
    if not path.is_file():
        return None
    data = np.load(path, allow_pickle=False)
    if str(data["fingerprint"]) != fingerprint():
        return None
    return data, frozenset(data.files)


def live_model(key: str):
    """The precomputed trace.LiveModel of a cache key, or None."""
    from lora_core.memory.trace import LiveModel

    found = _archive()
    eid = entry_id(key)
    if found is None or f"{eid}.peaks" not in found[1]:
        return None
    data = found[0]
    peaks, offsets = data[f"{eid}.peaks"].astype(np.float64), data[f"{eid}.offsets"]
    blocks = [peaks[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 2)]
    half = len(blocks) // 2
    terms = tuple(tuple(int(v) for v in t) for t in data[f"{eid}.terms"])
    return LiveModel(terms, (tuple(blocks[:half]), tuple(blocks[half:])), int(offsets[-1]))


def reserve(key: str):
    """The precomputed reserve.Reserve of a replay key, or None."""
    from lora_core.memory.reserve import Reserve

    found = _archive()
    eid = entry_id(key)
    if found is None or f"{eid}.reserve" not in found[1]:
        return None
    allocated, reserved, warmup, steps, settled = found[0][f"{eid}.reserve"].tolist()
    return Reserve(allocated, reserved, warmup, steps, bool(settled))


def param_infos(key: str):
    """The precomputed parameter list (at its rank key: parameters.base_param_infos) of a parameters.built_key, or None."""
    from lora_core.memory.parameters import ParamInfo

    found = _archive()
    eid = entry_id(key)
    if found is None or f"{eid}.names" not in found[1]:
        return None
    data = found[0]
    names, ints = data[f"{eid}.names"], data[f"{eid}.ints"]
    return tuple(
        ParamInfo(
            name=str(n),
            numel=int(numel),
            dtype=_DTYPES[d],
            trainable=bool(f & 1),
            adapter=bool(f & 2),
            quantizable=bool(f & 4),
            count=int(count),
            rank_power=int(k),
            buffer=bool(f & 8),
            saved=bool(f & 16),
        )
        for n, (numel, f, count, d, k) in zip(names, ints.tolist(), strict=True)
    )


if __name__ == "__main__":
    write()
