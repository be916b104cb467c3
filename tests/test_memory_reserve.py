"""The allocator replay inside the estimate (events.py, reserve.py) and the GPU code paths around it.

Hand-worked sequences first: a traced step written by hand, turned into allocator events and replayed, with
every expected number written as the rule of c10/cuda/CUDACachingAllocator.cpp that produces it
(lora_core/memory/allocator.py cites the lines)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lora_core.memory import TrainingSetup, estimate_memory, reserve
from lora_core.memory import trace as T
from lora_core.memory.allocator_config import MiB
from lora_core.memory.allocator_replay import predict_max_reserved
from lora_core.memory.events import RunParts, run_events, step_plan
from lora_core.memory.live_bytes import KIND_DEQUANT, KIND_DQ_ABSMAX, KIND_TENSOR, StepRecord
from lora_core.memory.parameters import param_infos
from lora_core.memory.states import paged_state_bytes
from lora_core.spec import LoraSpec
from tests.memory_configs import LLAMA_GQA

SPEC = LoraSpec(r=4, target_modules=("q_proj", "v_proj"))


def hand_steps(nbytes, births, deaths, grads, ops, forward_end):
    """A TracedSteps whose 2-layer record is written by hand (sizes constant in b, s, r)."""
    rec = StepRecord(
        births=np.asarray(births), deaths=np.asarray(deaths), nbytes=np.asarray(nbytes),
        grads=np.asarray(grads, dtype=bool), ops=ops, forward_end=forward_end,
    )  # fmt: skip
    polys = [{(0, 0, 0): int(n)} for n in nbytes]
    return T.TracedSteps((rec, rec), (polys, polys), 2)


def plan_of(steps):
    held = tuple(np.ones(len(r.nbytes), dtype=bool) for r in steps.records)
    return step_plan(steps, 2, held)


# A step: forward op 0 makes an activation A (12 MiB), op 1 a temporary (4 MiB) that dies before op 2, op 2
# the loss (512 B); backward op 3 makes the gradient G (6 MiB, kept) and frees A; the loss dies at the end.
STEP = dict(
    nbytes=[12 * MiB, 4 * MiB, 512, 6 * MiB],
    births=[0, 1, 2, 3],
    deaths=[4, 2, 4, 4],  # A freed after op 3: death 4 (= ops: alive to the end) for A, loss, G
    grads=[False, False, False, True],
    ops=4,
    forward_end=2,
)


def test_events_of_a_hand_written_step():
    steps = hand_steps(**{**STEP, "deaths": [3, 2, 4, 4]})  # A freed before op 3
    plan = plan_of(steps)
    parts = RunParts(params=(30 * MiB,), states=(6 * MiB, 6 * MiB), step_temps=(), workspaces=(0, 0))
    warmup, steady = run_events(plan, parts, 1, 1, 1)
    # parameters, then op 0 (A), op 1 (tmp), tmp freed before op 2, op 2 (loss), A freed before op 3,
    # op 3 (G, a gradient), the loss freed after backward; the optimizer states; zero_grad frees G
    assert warmup == [
        (("p", 0), 30 * MiB), (0, 12 * MiB), (1, 4 * MiB), (1,), (2, 512), (0,), (("g", 3), 6 * MiB), (2,),
        (("s", 0), 6 * MiB), (("s", 1), 6 * MiB), (("g", 3),),
    ]  # fmt: skip
    assert steady == [*warmup[1:8], (("g", 3),)]


def test_replay_of_a_hand_written_run():
    steps = hand_steps(**{**STEP, "deaths": [3, 2, 4, 4]})
    parts = RunParts(params=(30 * MiB,), states=(6 * MiB, 6 * MiB), step_temps=(), workspaces=(0, 0))
    warmup, steady = run_events(plan_of(steps), parts, 1, 1, 1)
    run = predict_max_reserved(warmup, steady)
    # warm-up: the 30 MiB parameter gets its own segment (>= 10 MiB: rounded to 2 MiB, get_allocation_size);
    # A (12 MiB) its own; tmp (4 MiB) a 20 MiB large segment (kLargeBuffer), merged back whole when freed; the
    # 512 B loss a 2 MiB small segment. G (6 MiB) takes the best fit among the cached blocks, A's 12 MiB, split
    # (remainder 6 MiB > 1 MiB); the first state takes that remainder, the second splits the 20 MiB block.
    assert run.steps[0].peak_reserved == (30 + 12 + 20 + 2) * MiB
    # steady: A's 12 MiB takes the 14 MiB left in the 20 MiB segment (split), tmp the 6 MiB G left: nothing new
    assert run.steps[1].new_device_allocs == 0
    assert run.max_reserved == 64 * MiB
    # the peak is at op 1: parameter, both states, A and tmp (the loss comes after tmp is gone)
    assert run.steps[1].peak_allocated == (30 + 2 * 6 + 12 + 4) * MiB


def test_workspaces_come_once_with_the_first_forward_and_backward():
    steps = hand_steps(**STEP)
    ws = reserve.CUBLAS_WORKSPACE
    parts = RunParts(params=(), states=(), step_temps=(), workspaces=(ws, ws))
    warmup, steady = run_events(plan_of(steps), parts, 1, 1, 1)
    assert warmup[0] == ("ws0", ws)
    assert warmup.index(("ws1", ws)) == warmup.index((("g", 3), 6 * MiB)) - 1  # just before backward's op
    assert not any(ev[0] in ("ws0", "ws1") for ev in steady)
    # 8,519,680 bytes (CublasHandlePool.cpp ":4096:2:16:8"): two of them share one 20 MiB segment
    assert ws == 2 * 4096 * 1024 + 8 * 16 * 1024


def test_estimate_replays_on_cuda_and_rounds_when_sharded():
    setup = TrainingSetup(method="lora", precision="bf16", batch=2, seq=64)
    e = estimate_memory(LLAMA_GQA, SPEC, setup)
    assert e.reserved_source == "replay"
    assert e.reserved_bytes >= e.peak_bytes >= e.live_peak_bytes
    assert e.reserved_bytes % (2 * MiB) == 0  # segments are whole 2 MiB multiples
    sharded = estimate_memory(LLAMA_GQA, SPEC, setup.replace(gpus=2, sharding="zero2"))
    assert sharded.reserved_source == "rounding"
    fast = estimate_memory(LLAMA_GQA, SPEC, setup, replay=False)
    assert fast.reserved_source == "rounding" and fast.live_peak_bytes == e.live_peak_bytes


def test_growth_at_one_length_is_the_prediction():
    setup = TrainingSetup(method="lora", precision="bf16", batch=2, seq=64)
    one = reserve.predict(LLAMA_GQA, SPEC, setup)
    g = reserve.growth(LLAMA_GQA, SPEC, setup, [64] * (one.steps + 1))
    assert g.max_reserved == one.reserved
    varied = reserve.growth(LLAMA_GQA, SPEC, setup, [64, 256, 128, 256])
    assert list(varied.reserved) == sorted(varied.reserved)  # the cache only grows
    assert varied.reserved[-1] >= reserve.predict(LLAMA_GQA, SPEC, setup.replace(seq=256)).warmup_reserved - 64 * MiB


def test_qlora_dequantize_buffers_are_traced_forward_and_backward():
    """Every 4-bit Linear holds a dequantized copy across its forward matmul, and across its backward one when
    its input needs a gradient (bitsandbytes MatMul4Bit); only the QLoRA recipe keeps them."""
    setup = TrainingSetup(method="qlora", precision="bf16")
    rec = T.traced_steps(LLAMA_GQA, SPEC, setup).records[0]  # 2 layers
    dequant = rec.kinds == KIND_DEQUANT
    assert (rec.kinds == KIND_DQ_ABSMAX).sum() == dequant.sum()
    forward = dequant & (rec.births <= rec.forward_end)
    backward = dequant & (rec.births > rec.forward_end)
    assert forward.sum() == 2 * 7  # q, k, v, o, gate, up, down in each of 2 layers
    # layer 0's q/k/v read the embedding's normed output, which needs no gradient under LoRA: no backward copy
    assert backward.sum() == 2 * 7 - 3
    assert (rec.deaths[dequant] - rec.births[dequant] >= 1).all()
    lora = T.live_model(LLAMA_GQA, SPEC, setup.replace(method="lora"))
    qlora = T.live_model(LLAMA_GQA, SPEC, setup)
    assert qlora.phases(1, 16, 4)["forward_peak"] > lora.phases(1, 16, 4)["forward_peak"]
    assert set(T.variant_kinds(setup.replace(double_quant=False))) == {KIND_TENSOR, KIND_DEQUANT}


def test_flash_backward_rounds_its_buffers_to_128_rows():
    setup = TrainingSetup(method="lora", precision="bf16", batch=1, seq=100)
    steps = T.traced_steps(LLAMA_GQA, SPEC, setup)
    rec = steps.records[1]
    tagged = np.flatnonzero(rec.seq_round == 128)
    assert len(tagged) == 2 * 3  # softmax_d and dq_accum in each of 3 layers
    from lora_core.memory.events import size_table

    table = size_table(steps.polys[1], rec.seq_round)
    heads = LLAMA_GQA["num_attention_heads"]
    sizes = table.sizes(1, 100, 4)[tagged]
    assert sorted(set(sizes.tolist()))[0] == heads * 128 * 4  # softmax_d: (B, H, round128(S)) fp32
    assert len(table.sizes(1, 128, 4)) == len(table.sizes(1, 100, 4))
    assert (table.sizes(1, 100, 4)[tagged] == table.sizes(1, 128, 4)[tagged]).all()


def test_gqa_expands_dk_dv_in_flash_backward():
    """flash_api.cpp mha_bwd: with fewer key/value heads, dk_expanded and dv_expanded (B, S, H_q, D)."""
    setup = TrainingSetup(method="lora", precision="bf16", batch=1, seq=64)
    gqa = len(T.traced_steps(LLAMA_GQA, SPEC, setup).records[0].nbytes)
    mha = len(T.traced_steps(dict(LLAMA_GQA, num_key_value_heads=LLAMA_GQA["num_attention_heads"]), SPEC, setup).records[0].nbytes)
    assert gqa - mha == 2 * 2  # two expanded gradients in each of the 2 traced layers


def test_paged_states_follow_the_1e5_rule():
    wide = dict(LLAMA_GQA, hidden_size=512, intermediate_size=1024)  # 512 x 512 projections: 262,144 elements
    setup = TrainingSetup(method="lora", optimizer="paged-adamw-8bit")
    small = param_infos(wide, SPEC, setup)  # r=4 adapters of 2,048 elements: none paged
    assert paged_state_bytes(list(small), setup.optimizer) == 0
    full = list(param_infos(wide, None, setup.replace(method="full")))
    big = [p for p in full if p.trainable and p.numel >= 100_000]
    assert paged_state_bytes(full, "paged-adamw-8bit") == sum(p.count * 2 * p.numel for p in big) > 0
    assert paged_state_bytes(full, "adamw-8bit") == 0


def test_fused_adamw_keeps_step_counters_and_no_temporaries():
    setup = TrainingSetup(method="lora", precision="bf16", batch=1, seq=32)
    foreach = estimate_memory(LLAMA_GQA, SPEC, setup)
    fused = estimate_memory(LLAMA_GQA, SPEC, setup.replace(optimizer_impl="fused"))
    tensors = sum(p.count for p in param_infos(LLAMA_GQA, SPEC, setup) if p.trainable)
    assert fused.optimizer_bytes - foreach.optimizer_bytes == 4 * tensors  # one fp32 `step` each
    assert fused.optimizer_temp_bytes == 0 < foreach.optimizer_temp_bytes
    assert setup.impl == "foreach" and setup.replace(device="cpu").impl == "single"


def test_a_model_whose_layers_differ_is_not_replayed(monkeypatch):
    from lora_core.memory import events

    def refuse(*_a, **_k):
        raise events.DepthError("layers differ")

    monkeypatch.setattr(reserve, "step_plan", refuse)
    reserve._PLANS.clear()
    reserve._REPLAYS.clear()
    e = estimate_memory(LLAMA_GQA, SPEC, TrainingSetup(method="lora", batch=3, seq=40))
    assert e.reserved_source == "rounding"
    reserve._PLANS.clear()


@pytest.mark.parametrize("method", ["lora", "full", "qlora"])
def test_reserved_is_monotone_in_batch(method):
    setup = TrainingSetup(method=method, precision="bf16", seq=64)
    totals = [estimate_memory(LLAMA_GQA, SPEC, setup.replace(batch=b)).reserved_bytes for b in (1, 2, 4, 8)]
    assert totals == sorted(totals)


def test_replay_plans_are_cached_per_recipe():
    setup = TrainingSetup(method="lora", precision="bf16", batch=2, seq=64)
    reserve.predict(LLAMA_GQA, SPEC, setup)
    plan = reserve._plan(LLAMA_GQA, SPEC, setup)
    assert reserve._plan(LLAMA_GQA, replace(SPEC, r=9), setup.replace(batch=7)) is plan


def test_a_replay_not_known_yet_goes_to_the_callers_replayer():
    """estimate_memory hands the job it cannot answer from a cache to the caller's replayer (the server runs it
    in a worker process: lora_ui/workers/replay.py), once per key, and keeps the answer."""
    setup = TrainingSetup(method="lora", precision="bf16", batch=3, seq=48)
    reserve._REPLAYS.clear()
    job = reserve.find(LLAMA_GQA, SPEC, setup)
    assert isinstance(job, reserve.ReplayJob)
    calls = []

    def replayer(j):
        calls.append(j.key)
        return reserve.replay_job(j)

    e = estimate_memory(LLAMA_GQA, SPEC, setup, replayer=replayer)
    assert calls == [job.key] and e.reserved_source == "replay"
    known = reserve.find(LLAMA_GQA, SPEC, setup)  # remembered: now an answer, not a job
    assert isinstance(known, reserve.Reserve) and (known.peak_allocated, known.reserved) == (e.peak_bytes, e.reserved_bytes)
    assert estimate_memory(LLAMA_GQA, SPEC, setup, replayer=replayer) == e and len(calls) == 1
    reserve._REPLAYS.clear()
    assert estimate_memory(LLAMA_GQA, SPEC, setup) == e  # the same numbers as the replay in this thread
    assert len(calls) == 1


def test_nothing_is_handed_over_where_the_estimate_does_not_replay():
    def refuse(_job):
        raise AssertionError("a replay was asked for")

    reserve._REPLAYS.clear()
    sharded = TrainingSetup(method="lora", batch=3, seq=48, gpus=2, sharding="zero3")
    assert estimate_memory(LLAMA_GQA, SPEC, sharded, replayer=refuse).reserved_source == "rounding"
    cpu = TrainingSetup(method="lora", precision="fp32", batch=3, seq=48, device="cpu")
    assert not reserve.replays(SPEC, cpu) and not reserve.replays(SPEC, sharded)
    assert estimate_memory(LLAMA_GQA, SPEC, cpu, replayer=refuse).reserved_source == "rounding"


def test_data_parallel_gpus_share_one_replay():
    """Without sharding each GPU runs the same step: more GPUs ask for no new replay (the page's GPUs input)."""
    reserve._REPLAYS.clear()
    one = TrainingSetup(method="lora", precision="bf16", batch=3, seq=48)
    first = reserve.predict(LLAMA_GQA, SPEC, one)
    assert reserve.find(LLAMA_GQA, SPEC, one.replace(gpus=4)) == first
    reserve._REPLAYS.clear()
    assert reserve.predict(LLAMA_GQA, SPEC, one.replace(gpus=4)) == first  # and the replay agrees
