"""The race (lora_core.fit.race): variants in lockstep on one target, against one floor; the race by rank."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lora_core.errors import LoraLabError
from lora_core.fit import (
    FitSettings,
    RaceSettings,
    eckart_young_floor,
    fit_matrix,
    fit_regression,
    make_target,
    race_sweep,
    run_race,
    singular_values,
)
from lora_core.fit import regression as reg
from lora_core.fit.race import SWEEP_STEPS, variant_settings
from lora_core.fit.trainer import STOP_CANCELLED, STOP_TIME

TARGET = {"rows": 20, "cols": 16, "true_rank": 3}


def test_a_race_trains_each_variant_exactly_as_a_fit_of_its_own():
    """Lockstep changes nothing: each lane's losses are those of the variant fitted alone (same seed, same
    start), and the race's floor is the task's rank-r floor."""
    target = make_target(**TARGET, seed=0)
    settings = FitSettings(r=2, steps=300)
    race = RaceSettings(variants=("lora", "rslora", "lora_plus", "vera"), lr_ratio=8.0, vera_r=6)
    res = run_race(target, settings, race)
    assert [lane.variant for lane in res.lanes] == list(race.variants)
    assert res.floor == eckart_young_floor(singular_values(target), 2, target.numel())
    for lane in res.lanes:
        alone = fit_matrix(target, variant_settings(lane.variant, settings, race))
        assert lane.losses == alone.losses and lane.final_loss == alone.final_loss, lane.variant
        assert (lane.steps, lane.stop_reason, lane.trainable_params) == (
            alone.steps,
            alone.stop_reason,
            alone.trainable_params,
        )
    vera = res.lanes[-1]
    assert vera.r == 6 and vera.trainable_params == 20 + 6 and vera.reachable_floor is None
    assert res.lanes[0].trainable_params == 2 * (20 + 16)
    assert res.gap(vera) > res.gap(res.lanes[0])  # VeRA stays above the floor LoRA reaches


def test_variant_settings_change_one_thing_each():
    base = FitSettings(r=4, alpha=8.0, lr=0.01, seed=3, scaling_rule="rslora", lr_ratio=2.0)
    race = RaceSettings(lr_ratio=16.0, vera_r=32)
    plain = variant_settings("lora", base, race)
    assert (plain.scaling_rule, plain.lr_ratio, plain.init, plain.adapter) == (
        "standard",
        1.0,
        "gaussian",
        "lora",
    )
    assert variant_settings("rslora", base, race) == replace(plain, scaling_rule="rslora")
    assert variant_settings("lora_plus", base, race) == replace(plain, lr_ratio=16.0)
    assert variant_settings("pissa", base, race) == replace(plain, init="pissa")
    assert variant_settings("olora", base, race) == replace(plain, init="olora")
    assert variant_settings("vera", base, race) == replace(plain, adapter="vera", r=32)
    assert variant_settings("vera", base, RaceSettings()).r == 4  # VeRA at the race's rank by default


def test_a_regression_race_with_pissa_and_olora_shares_one_floor():
    data = reg.make_regression_data(300, 12, 10, "ones", 1, seed=0)
    settings = FitSettings(r=2, steps=200)
    res = run_race(data, settings, RaceSettings(variants=("lora", "pissa", "olora")))
    assert res.mode == "regression"
    start = res.lanes[0].losses[0]
    for lane in res.lanes:
        assert lane.losses[0] == pytest.approx(start, rel=1e-5)  # every variant starts from the base model
        alone = fit_regression(data, variant_settings(lane.variant, settings, RaceSettings()))
        assert lane.losses == alone.losses
    assert res.floor == pytest.approx(fit_regression(data, settings).optimal_loss, rel=1e-12)


def test_bad_races_are_refused():
    target = make_target(**TARGET)
    data = reg.make_regression_data(40, 4, 3, seed=0)
    for race, match in (
        (RaceSettings(variants=()), "at least one"),
        (RaceSettings(variants=("lora", "lora")), "once"),
        (RaceSettings(variants=("dora",)), "must be one of"),
        (RaceSettings(variants=("lora", "pissa")), "matrix mode has no base"),
        (RaceSettings(lr_ratio=0.0), "learning-rate ratio"),
        (RaceSettings(lr_ratio=-2.0), "learning-rate ratio"),
        (RaceSettings(vera_r=0), "VeRA rank"),
    ):
        with pytest.raises(LoraLabError, match=match):
            run_race(target, FitSettings(r=2), race)
    with pytest.raises(LoraLabError, match="at most 3"):
        run_race(data, FitSettings(r=4), RaceSettings(variants=("olora",)))


def test_a_race_reports_each_lane_stops_on_cancel_and_at_its_time_cap():
    target = make_target(**TARGET, seed=0)
    seen: list[tuple[int, int]] = []
    floors = []
    res = run_race(
        target,
        FitSettings(r=2, steps=40, converge=False),
        RaceSettings(variants=("lora", "vera")),
        record=lambda lane, step, loss: seen.append((lane, step)),
        on_floor=floors.append,
    )
    assert floors == [res.floor]
    # lockstep: lane 0 step 0, lane 1 step 0, lane 0 step 1, ...
    assert seen == [(lane, step) for step in range(41) for lane in (0, 1)]
    calls = []
    res = run_race(
        target,
        FitSettings(r=2, steps=500),
        RaceSettings(),
        should_stop=lambda: len(calls.append(1) or calls) > 9,
    )
    assert {lane.stop_reason for lane in res.lanes} == {STOP_CANCELLED}
    res = run_race(target, FitSettings(r=2, steps=500, max_seconds=1e-9), RaceSettings())
    assert {lane.stop_reason for lane in res.lanes} == {STOP_TIME}


def test_race_by_rank_shows_rsloras_claim_on_the_default_target():
    """Kalajdzievski 2023: with alpha / r a higher rank learns no faster; with alpha / sqrt(r) it does.
    Measured on the default target (64 x 48, k = 8, alpha 8, lr 0.02) after SWEEP_STEPS Adam steps."""
    target = make_target(64, 48, 8, "geometric", 0.05, seed=0)
    ranks = (1, 2, 16, 256)
    pts = race_sweep(target, FitSettings(), RaceSettings(variants=("lora", "rslora")), ranks=ranks)
    loss = {(p.variant, p.r): p.loss for p in pts}
    assert [(p.variant, p.r) for p in pts] == [(v, r) for r in ranks for v in ("lora", "rslora")]
    assert loss["lora", 1] == loss["rslora", 1]  # alpha / 1 = alpha / sqrt(1): the same fit
    standard = [loss["lora", r] for r in ranks[1:]]
    assert max(standard) < 1.5 * min(standard)  # alpha / r: rank 2 to 256 within 1.5x of each other
    assert loss["rslora", 256] < loss["rslora", 16] / 3 < loss["rslora", 2] / 9  # alpha / sqrt(r): falls
    assert all(p.floor <= p.loss for p in pts) and SWEEP_STEPS == 50


def test_the_time_cap_is_the_whole_races(monkeypatch):
    """max_seconds bounds the race, all variants together (each one's own steps take far less here): a fake
    clock for the race only, one second per look."""
    import itertools

    import lora_core.fit.race as race_module

    ticks = itertools.count()

    class Clock:
        @staticmethod
        def perf_counter():
            return float(next(ticks))

    monkeypatch.setattr(race_module, "time", Clock)
    target = make_target(**TARGET, seed=0)
    res = run_race(
        target, FitSettings(r=2, steps=500, max_seconds=5.0), RaceSettings(variants=("lora", "vera"))
    )
    assert {lane.stop_reason for lane in res.lanes} == {STOP_TIME}
    assert all(0 < lane.steps < 10 for lane in res.lanes)
