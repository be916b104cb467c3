"""The band and margin the GPU validation supports, the yes / tight / no verdicts, and the solver's margin."""

from __future__ import annotations

import pytest

from lora_core.memory import TrainingSetup, estimate_memory
from lora_core.memory.gpus import GPUS, MiB, gpu
from lora_core.memory.reserve import CUBLAS_WORKSPACE, CUBLAS_WORKSPACE_SM90
from lora_core.memory.series import card_total, fits_on
from lora_core.memory.solver import largest_fitting
from lora_core.memory.uncertainty import band_of, compared, gpu_band, rows, verdict
from lora_core.spec import LoraSpec
from tests.memory_configs import LLAMA_GQA

SPEC = LoraSpec(r=4, target_modules=("q_proj", "v_proj"))
GiB = 1 << 30


def test_verdict_boundaries():
    cap = 100 * GiB
    assert verdict(90 * GiB, cap, 0.10) == "yes"  # 90 x 1.1 = 99 <= 100
    assert verdict(95 * GiB, cap, 0.10) == "tight"  # fits, but 104.5 with the margin does not
    assert verdict(100 * GiB, cap, 0.10) == "tight"
    assert verdict(100 * GiB + 1, cap, 0.10) == "no"
    assert verdict(100 * GiB, cap, 0.0) == "yes"


def test_band_and_margin_from_rows():
    made_up = [
        {"status": "compared", "metric": "max_memory_reserved", "measured_bytes": 100, "predicted_bytes": 95},
        {"status": "compared", "metric": "max_memory_reserved", "measured_bytes": 100, "predicted_bytes": 102},
        {"status": "out of scope", "metric": "max_memory_reserved", "measured_bytes": 1, "predicted_bytes": 9},
        {"status": "compared", "metric": "max_memory_allocated", "measured_bytes": 1, "predicted_bytes": 9},
    ]
    band = band_of(compared(made_up))
    assert band.rows == 2
    assert band.low == pytest.approx(-0.05) and band.high == pytest.approx(0.02)
    assert band.margin == pytest.approx(100 / 95 - 1)  # what raises 95 to 100
    over = band_of([{**made_up[1]}])
    assert over.margin == 0.0  # nothing under-predicted: no margin


def test_the_page_band_is_the_committed_rows():
    band = gpu_band()
    committed = compared(rows())
    assert band.rows == len(committed) >= 2
    worst = max(r["measured_bytes"] / r["predicted_bytes"] for r in committed)
    assert band.margin == pytest.approx(max(0.0, worst - 1))


def test_cards_hold_what_the_driver_reports():
    assert gpu("NVIDIA A100 80GB").bytes == 81_920 * MiB
    assert gpu("NVIDIA RTX 4090").bytes == 24_564 * MiB
    assert gpu("NVIDIA T4").bytes == 15_360 * MiB
    assert all(g.bytes > g.vendor_gb * 10**9 * 0.9 for g in GPUS)


def test_hopper_cards_add_their_larger_cublas_workspaces():
    e = estimate_memory(LLAMA_GQA, SPEC, TrainingSetup(method="lora", batch=2, seq=64))
    h100, a100 = gpu("NVIDIA H100 80GB"), gpu("NVIDIA A100 80GB")
    assert card_total(e, a100) == e.device_total_bytes
    assert card_total(e, h100) - e.device_total_bytes == 2 * (CUBLAS_WORKSPACE_SM90 - CUBLAS_WORKSPACE)
    fits = {f.gpu.name: f for f in fits_on(e, margin=0.1)}
    assert fits[h100.name].total_bytes == card_total(e, h100)
    assert fits[h100.name].verdict == verdict(card_total(e, h100), h100.bytes, 0.1)


def test_fits_on_uses_the_validation_margin_by_default():
    e = estimate_memory(LLAMA_GQA, SPEC, TrainingSetup(method="lora", batch=2, seq=64))
    assert {f.margin for f in fits_on(e)} == {gpu_band().margin}


@pytest.mark.parametrize("margin", [0.0, 0.07, 0.5])
def test_solver_answer_fits_with_the_margin_and_one_more_does_not(margin):
    setup = TrainingSetup(method="lora", precision="bf16", seq=256)
    card = gpu("NVIDIA T4")
    sol = largest_fitting(LLAMA_GQA, SPEC, setup, card.bytes, "batch", gpu=card, margin=margin)
    assert sol.margin == margin and 0 < sol.value
    at = estimate_memory(LLAMA_GQA, SPEC, setup.replace(batch=sol.value))
    assert card_total(at, card) * (1 + margin) <= card.bytes  # the replayed total, raised by the margin
    assert sol.used_bytes == card_total(at, card)
    if not sol.capped:
        fast_next = estimate_memory(LLAMA_GQA, SPEC, setup.replace(batch=sol.value + 1), replay=False)
        replay_next = estimate_memory(LLAMA_GQA, SPEC, setup.replace(batch=sol.value + 1))
        # one more does not fit on the path the solver searched, or on the replay that checked it
        too_big = [card_total(x, card) * (1 + margin) > card.bytes for x in (fast_next, replay_next)]
        assert any(too_big)


def test_a_bigger_margin_never_allows_more():
    setup = TrainingSetup(method="lora", precision="bf16", seq=512)
    card = gpu("NVIDIA T4")
    values = [largest_fitting(LLAMA_GQA, SPEC, setup, card.bytes, "batch", gpu=card, margin=m).value for m in (0, 0.1, 0.3)]
    assert values == sorted(values, reverse=True)
