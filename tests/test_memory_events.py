"""The real depth's allocation/free sequence (lora_core/memory/events.py) against direct deeper traces.

events.plan_depth builds an L-layer step from the 3-layer trace by repeating its generic layer. A model traced
directly at 4 and 5 layers must give the very same sequence: the same storages, of the same sizes, allocated
and freed in the same order (frees at one point in any order: the allocator does not depend on it)."""

from __future__ import annotations

import numpy as np
import pytest

from lora_core.memory import TrainingSetup
from lora_core.memory import trace as T
from lora_core.memory.events import DepthError, plan_depth, plan_traced
from lora_core.spec import LoraSpec
from tests.memory_configs import GPT2, LLAMA_GQA, QWEN2

LLAMA_SPEC = LoraSpec(r=4, target_modules=("q_proj", "v_proj"))
CASES = [
    ("llama lora bf16", LLAMA_GQA, LLAMA_SPEC, TrainingSetup(method="lora", precision="bf16")),
    ("llama qlora ckpt", LLAMA_GQA, LLAMA_SPEC, TrainingSetup(method="qlora", grad_checkpointing=True)),
    ("llama dora amp", LLAMA_GQA, LoraSpec(r=4, target_modules="all-linear", use_dora=True),
     TrainingSetup(method="lora", precision="amp-bf16")),
    ("llama full fp32 eager", LLAMA_GQA, None, TrainingSetup(method="full", precision="fp32", attention="eager")),
    ("gpt2 lora fp32", GPT2, LoraSpec(r=4, target_modules=("c_attn",)), TrainingSetup(method="lora", precision="fp32")),
    ("gpt2 full ckpt", GPT2, None, TrainingSetup(method="full", precision="bf16", grad_checkpointing=True)),
    ("qwen2 lora cpu", QWEN2, LLAMA_SPEC, TrainingSetup(method="lora", precision="fp32", device="cpu")),
]  # fmt: skip


def sequence(plan, rec) -> list[tuple]:
    """(key, kind, bytes, gradient) of every event, frees sorted within their key."""
    sizes = rec.nbytes[plan.template]
    grads = rec.grads[plan.template]
    rows = [(int(k), 0, int(n), bool(g)) for k, n, g in zip(plan.alloc_key, sizes, grads, strict=True)]
    rows += [(int(k), 1, int(n), bool(g)) for k, n, g in zip(plan.free_key, sizes, grads, strict=True)]
    return sorted(rows)


@pytest.mark.parametrize("name,config,spec,setup", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("layers", [4, 5])
def test_depth_plan_equals_a_direct_trace(name, config, spec, setup, layers):
    steps = T.traced_steps(config, spec, setup)
    point = T._point(config, 0)
    direct = T._record(config, spec, setup, layers, point)
    built = plan_depth(steps.records[1], layers)
    assert sequence(built, steps.records[1]) == sequence(plan_traced(direct), direct)
    assert built.backward_key == plan_traced(direct).backward_key
    assert built.end_key == plan_traced(direct).end_key


def test_three_layers_rebuild_the_three_layer_trace():
    steps = T.traced_steps(LLAMA_GQA, LLAMA_SPEC, CASES[0][3])
    rec = steps.records[1]
    assert sequence(plan_depth(rec, 3), rec) == sequence(plan_traced(rec), rec)


def test_a_trace_without_layer_marks_is_refused():
    from dataclasses import replace

    rec = T.traced_steps(LLAMA_GQA, LLAMA_SPEC, CASES[0][3]).records[1]
    with pytest.raises(DepthError):
        plan_depth(replace(rec, layers=()), 8)
    marks = rec.layers[0]
    uneven = replace(marks, forward_end=(marks.forward_end[0], marks.forward_end[1], marks.forward_end[2] + 1))
    with pytest.raises(DepthError):
        plan_depth(replace(rec, layers=(uneven,)), 8)


def test_storage_count_grows_by_one_layer_per_layer():
    rec = T.traced_steps(LLAMA_GQA, LLAMA_SPEC, CASES[0][3]).records[1]
    n = {L: len(plan_depth(rec, L).template) for L in (3, 4, 10)}
    assert n[10] - n[4] == 6 * (n[4] - n[3])
    assert np.all(np.diff(np.sort(plan_depth(rec, 10).alloc_key)) >= 0)


@pytest.mark.parametrize("name,config,spec,setup", CASES, ids=[c[0] for c in CASES])
def test_run_codes_is_run_events_with_slots_for_ids(name, config, spec, setup):
    """The replay's coded steps (events.run_codes, built with numpy) are run_events' tuples event for event:
    the same kinds and bytes, with one slot per id across the warm-up and the steady step, and the slots
    within the count it gives."""
    from dataclasses import replace

    from lora_core.memory import reserve
    from lora_core.memory.allocator_coded import decode
    from lora_core.memory.events import run_codes, run_events

    spec = setup.adapter_spec(spec)
    plan, parts = reserve._plan(config, spec, setup), reserve.run_parts(config, spec, setup)
    if setup.device != "cpu":
        assert all(parts.workspaces)  # the warm-up inserts both cuBLAS workspaces
    # the backward's workspace: before its first allocation (the plan's own backward), at the step's end (no
    # allocation at or after a backward moved past the end), at the forward's spot (a backward from key 0)
    no_backward = replace(plan, depth=replace(plan.depth, backward_key=plan.depth.end_key + 2))
    from_start = replace(plan, depth=replace(plan.depth, backward_key=0))
    two = replace(parts, workspaces=(2**20, 3 * 2**20))  # told apart by their sizes
    variants = [(plan, parts), (plan, replace(parts, workspaces=(0, 3 * 2**20))), (no_backward, two), (from_start, two)]
    for layers_plan, parts_ in variants:
        tuples = run_events(layers_plan, parts_, 2, 24, 4)
        warmup, steady, slots = run_codes(layers_plan, parts_, 2, 24, 4)
        coded = decode(warmup), decode(steady)
        slot_of: dict = {}
        for events, codes in zip(tuples, coded, strict=True):
            assert len(events) == len(codes)
            for ev, code in zip(events, codes, strict=True):
                assert len(ev) == len(code)
                assert slot_of.setdefault(ev[0], code[0]) == code[0]
                if len(ev) > 1:
                    assert ev[1] == code[1]
        assert len(set(slot_of.values())) == len(slot_of)  # one id per slot
        assert max(slot_of.values()) < slots
