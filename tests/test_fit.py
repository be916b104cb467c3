"""Behaviour of the live fit (fixed seeds, tiny sizes): it learns, stops at the Eckart–Young floor, merges."""

from __future__ import annotations

import pytest
import torch

from lora_core import fit_regression as reg
from lora_core.fit import DEFAULT_R, FitSettings, fit_matrix, fit_regression, run_matrix, run_regression
from lora_core.fit_sweep import sweep_matrix, sweep_ranks
from lora_core.fit_targets import eckart_young_floor, make_target, singular_values
from lora_core.fit_trainer import (
    FLOOR_TOLERANCE,
    PLATEAU_PATIENCE,
    STOP_CANCELLED,
    STOP_FLOOR,
    STOP_PLATEAU,
    STOP_STEPS,
    STOP_TARGET,
    STOP_TIME,
    ZERO_LOSS,
    Adam,
    Convergence,
    init_lora,
    lr_at,
    train_adam,
)

SMALL = {"rows": 20, "cols": 16}


def test_loss_decreases():
    res = run_matrix(**SMALL, true_rank=3, settings=FitSettings(r=2, steps=200))
    assert res.losses[-1] < res.losses[0] / 10
    assert len(res.losses) == res.steps + 1


@pytest.mark.parametrize("seed", [0, 1])
def test_default_matrix_fit_stops_by_convergence_within_one_percent_of_the_floor(seed):
    res = run_matrix(settings=FitSettings(seed=seed))  # every other value at its default (the page's)
    assert res.optimal_loss > 0  # r=4 < k=8 with noise: a visible floor
    assert res.stop_reason == STOP_FLOOR and res.steps < FitSettings().steps  # done, not cut by the cap
    assert res.final_loss <= 1.01 * res.optimal_loss
    assert res.losses[-1] <= res.optimal_loss * (1 + FLOOR_TOLERANCE)


def test_without_convergence_a_fit_runs_to_its_step_cap():
    res = run_matrix(settings=FitSettings(steps=400, converge=False))
    assert res.stop_reason == STOP_STEPS and res.steps == 400 and len(res.losses) == 400 + 1


def test_adapter_changes_while_the_base_stays_bit_identical():
    target = make_target(**SMALL, true_rank=3, seed=0)
    base = torch.randn(SMALL["rows"], SMALL["cols"], generator=torch.Generator().manual_seed(5))
    before = base.clone()
    res = fit_matrix(target, FitSettings(r=2, steps=20), base=base)
    assert torch.equal(base, before)  # bit-identical
    assert res.base_weight is base
    assert res.lora_B.abs().sum() > 0  # B started at zeros (loralib/PEFT) and moved
    assert torch.equal(res.merged_weight, base + res.learned_delta)


def test_regression_base_stays_bit_identical():
    data = reg.make_regression_data(80, 6, 5, seed=0)
    theta = data.theta.clone()
    fit_regression(data, FitSettings(r=1, steps=10))
    assert torch.equal(data.theta, theta)


def test_merged_equals_unmerged_within_float32_rounding():
    res = run_matrix(**SMALL, true_rank=3, settings=FitSettings(r=2, steps=100))
    scale = float(res.merged_weight.abs().max())
    assert res.merge_max_abs_diff <= 1e-5 * max(scale, 1.0) * SMALL["cols"]


def test_rank_at_least_true_rank_without_noise_reaches_about_zero():
    res = run_matrix(**SMALL, true_rank=3, settings=FitSettings(r=4, steps=1000), noise=0.0)
    assert res.optimal_loss < 1e-10
    # a floor of about zero: the fit stops a millionth below where it started (entries of mean square 1)
    assert res.stop_reason == STOP_FLOOR and res.losses[-1] <= ZERO_LOSS * res.losses[0]
    assert res.final_loss < 1.001e-6


def test_rank_below_true_rank_stops_at_the_floor_not_below():
    res = run_matrix(**SMALL, true_rank=6, settings=FitSettings(r=2, steps=1000), noise=0.0)
    assert res.optimal_loss > 1e-3
    assert res.final_loss >= res.optimal_loss * (1 - 1e-6)  # nothing rank-2 beats Eckart–Young
    assert res.final_loss <= res.optimal_loss * 1.01


def test_eckart_young_floor_equals_the_truncated_svd_error():
    t = make_target(12, 9, 5, "linear", 0.1, seed=3).double()
    u, s, vh = torch.linalg.svd(t, full_matrices=False)
    r = 2
    best = (u[:, :r] * s[:r]) @ vh[:r]
    direct = float(((t - best) ** 2).sum()) / t.numel()
    assert eckart_young_floor(singular_values(t), r, t.numel()) == pytest.approx(direct, rel=1e-9)


def test_learned_singular_values_match_a_full_svd():
    res = run_matrix(**SMALL, true_rank=3, settings=FitSettings(r=2, steps=50))
    full = torch.linalg.svdvals(res.learned_delta.double())
    assert list(res.learned_sigma[:4]) == pytest.approx(full[:4].tolist(), rel=1e-4, abs=1e-6)


def test_deterministic_by_seed():
    a = run_matrix(**SMALL, true_rank=3, settings=FitSettings(r=2, steps=30, seed=7))
    b = run_matrix(**SMALL, true_rank=3, settings=FitSettings(r=2, steps=30, seed=7))
    assert a.losses == b.losses


def test_cancel_target_and_time_stops():
    calls = []
    res = run_matrix(
        **SMALL,
        true_rank=3,
        settings=FitSettings(r=2, steps=500),
        should_stop=lambda: len(calls) > 4,
        callback=lambda step, loss: calls.append(step),
    )
    assert res.stop_reason == STOP_CANCELLED and res.steps == 4
    res = run_matrix(**SMALL, true_rank=3, settings=FitSettings(r=2, steps=500, target_loss=0.5))
    assert res.stop_reason == STOP_TARGET and res.losses[-1] <= 0.5 < res.losses[-2]
    res = run_matrix(**SMALL, true_rank=3, settings=FitSettings(r=2, steps=500, max_seconds=1e-9))
    assert res.stop_reason == STOP_TIME and res.steps <= 1


def test_caps_still_stop_a_converging_fit():
    res = run_matrix(settings=FitSettings(steps=50))  # the default fit needs ~200 steps to converge
    assert res.stop_reason == STOP_STEPS and res.steps == 50
    res = run_matrix(settings=FitSettings(max_seconds=1e-9))
    assert res.stop_reason == STOP_TIME and res.steps <= 1


def test_plateau_stops_a_fit_that_cannot_reach_its_floor():
    """VeRA-like: lora_A frozen at a random matrix, only B trains, so the Eckart–Young floor is out of reach."""
    target = make_target(**SMALL, true_rank=6, profile="flat", seed=0)
    floor = eckart_young_floor(singular_values(target), 2, target.numel())
    g = torch.Generator().manual_seed(0)
    frozen_A = torch.randn(2, SMALL["cols"], generator=g) / 4  # (r, cols), never trained
    lora_A, lora_B = init_lora(SMALL["rows"], SMALL["cols"], 2, g)
    out = train_adam(
        lambda a, b: ((target - 2 * (b @ frozen_A)) ** 2).sum() / target.numel(),
        lora_A,
        lora_B,
        steps=5000,
        lr=0.02,
        floor=floor,
    )
    # the best any B reaches with this A: the target's rows projected on A's row space
    a64 = frozen_A.double()
    best_B_loss = float(
        ((target.double() @ (torch.eye(SMALL["cols"]) - torch.linalg.pinv(a64) @ a64)) ** 2).sum()
    )
    best_B_loss /= target.numel()
    assert out.stop_reason == STOP_PLATEAU and out.steps < 5000
    assert best_B_loss > 1.1 * floor  # out of reach indeed
    assert out.losses[-1] <= 1.01 * best_B_loss  # it stopped once it had learned what B alone can


def test_plateau_stops_a_fit_whose_learning_rate_is_too_small():
    res = run_matrix(settings=FitSettings(lr=1e-7))
    assert res.stop_reason == STOP_PLATEAU and res.steps == PLATEAU_PATIENCE
    assert res.final_loss > 100 * res.optimal_loss


def test_convergence_rules():
    floor = 0.5
    rules = Convergence(floor)
    assert rules.check(0, 1.0) is None
    assert rules.check(1, floor * (1 + 2 * FLOOR_TOLERANCE)) is None
    assert rules.check(2, floor * (1 + FLOOR_TOLERANCE)) == STOP_FLOOR
    # a floor of zero: a millionth of the starting loss counts as there, unless the caller set a target
    assert Convergence(0.0).check(0, 3.0) is None
    zero = Convergence(0.0)
    zero.check(0, 3.0)
    assert zero.check(1, ZERO_LOSS * 3.0) == STOP_FLOOR
    targeted = Convergence(0.0, zero_floor_ok=False)
    targeted.check(0, 3.0)
    assert targeted.check(1, ZERO_LOSS * 3.0) is None
    # plateau: a constant loss is no improvement; the rule waits PLATEAU_PATIENCE steps after the last best
    flat = Convergence(None)
    assert [flat.check(t, 2.0) for t in range(PLATEAU_PATIENCE)] == [None] * PLATEAU_PATIENCE
    assert flat.check(PLATEAU_PATIENCE, 2.0) == STOP_PLATEAU
    # a loss falling 1 % per step keeps making new bests
    falling = Convergence(None)
    assert all(falling.check(t, 0.99**t) is None for t in range(3 * PLATEAU_PATIENCE))


def test_our_adam_equals_torch_optim_adam_step_for_step():
    """Bit for bit, with the cosine schedule, and a parameter without a gradient on some steps (skipped)."""
    g = torch.Generator().manual_seed(0)
    target = torch.randn(20, 16, generator=g)
    a0, b0 = torch.randn(3, 16, generator=g), torch.randn(20, 3, generator=g) / 10
    ours = [a0.clone().requires_grad_(True), b0.clone().requires_grad_(True)]
    ref = [a0.clone().requires_grad_(True), b0.clone().requires_grad_(True)]
    adam, torch_adam = Adam(ours), torch.optim.Adam(ref, lr=0.02)  # torch's defaults otherwise
    for step in range(300):
        lr = lr_at(step, 300, 0.02)
        for (a, b), opt in ((ours, adam), (ref, torch_adam)):
            a_used = a if step % 5 else a.detach()  # every 5th step A gets no gradient
            loss = ((target - 2 * b @ a_used) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            if opt is torch_adam:
                for group in opt.param_groups:
                    group["lr"] = lr
                opt.step()
            else:
                opt.step(lr)
        assert torch.equal(ours[0], ref[0]) and torch.equal(ours[1], ref[1]), step


def test_lr_schedule_is_a_half_cosine():
    assert lr_at(0, 100, 0.1) == pytest.approx(0.1)
    assert lr_at(100, 100, 0.1) == pytest.approx(0.001)  # LR_FLOOR_FRACTION * lr
    assert lr_at(50, 100, 0.1) == pytest.approx((0.1 + 0.001) / 2)


def brute_force_regression_floor(data, r):
    """min over rank-r D of ||X (theta + delta) - X (theta + D)||^2 / N via a float64 QR of X."""
    X = data.X.double()
    resid = data.y.double() - X @ data.theta.double()
    q, _ = torch.linalg.qr(X)
    s = torch.linalg.svdvals(q.T @ resid)
    outside = float((resid**2).sum() - ((q.T @ resid) ** 2).sum())
    return (float((s[r:] ** 2).sum()) + max(outside, 0.0)) / resid.numel()


def test_regression_reaches_the_x_weighted_floor():
    data = reg.make_regression_data(300, 12, 10, "lowrank", 3, seed=1)
    res = fit_regression(data, FitSettings(r=1, steps=1500, lr=0.05))
    brute = brute_force_regression_floor(data, 1)
    assert res.optimal_loss == pytest.approx(brute, rel=1e-4)
    assert brute * (1 - 1e-4) <= res.final_loss <= 1.01 * brute


def test_whitened_loss_gradient_is_autograds():
    """The fused loss writes its gradient out; torch.autograd.gradcheck compares it with finite differences."""
    g = torch.Generator().manual_seed(0)
    Lt = torch.triu(torch.randn(7, 7, generator=g, dtype=torch.float64)) + 3 * torch.eye(
        7, dtype=torch.float64
    )
    M = torch.randn(7, 5, generator=g, dtype=torch.float64)
    a = torch.randn(2, 7, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    fused = lambda a, b: reg._WhitenedLoss.apply(a, b, Lt, M, 1.5, 35.0)  # noqa: E731
    assert torch.autograd.gradcheck(fused, (a, b))
    plain = ((1.5 * (Lt @ a.T) @ b.T - M) ** 2).sum() / 35.0
    assert float(fused(a, b).detach()) == pytest.approx(float(plain.detach()), rel=1e-12)


def test_gram_equals_the_full_product():
    X = torch.randn(50, 13, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for blocks in (1, 3, 4):
        assert torch.allclose(reg.gram(X, blocks), X.T @ X, rtol=1e-12, atol=1e-12)


def test_regression_training_loss_is_the_full_data_mse():
    res = run_regression(200, 9, 7, FitSettings(r=1, steps=40))
    # last training loss (whitened, no cancellation) against the loss recomputed on all n samples
    assert res.losses[-1] == pytest.approx(res.final_loss, rel=1e-3)
    assert res.optimal_loss < 1e-8  # y = X (theta + ones): a rank-1 shift, r = 1 reaches it


def test_regression_seed_experiment_stops_at_target():
    res = run_regression(400, 21, 20, FitSettings(r=1, alpha=1.0, lr=0.05, steps=2000, target_loss=1e-3))
    assert res.stop_reason == STOP_TARGET
    assert res.final_loss <= 1.01e-3
    assert torch.allclose(res.learned_delta, torch.ones(21, 20), atol=0.05)  # the seed's "matrix full of 1s"


def test_randomized_top_sigma_matches_exact():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(300, 5, generator=g, dtype=torch.float64) @ torch.randn(
        5, 280, generator=g, dtype=torch.float64
    )
    m += 1e-3 * torch.randn(300, 280, generator=g, dtype=torch.float64)
    exact = float((torch.linalg.svdvals(m)[:3] ** 2).sum())
    assert reg.top_sigma_sq(m, 3, torch.Generator().manual_seed(1)) == pytest.approx(exact, rel=1e-10)


def test_regression_needs_full_column_rank():
    from lora_core.errors import LoraLabError

    with pytest.raises(LoraLabError, match="samples"):
        reg.make_regression_data(5, 10, 3)


def test_rank_sweep_sits_on_the_floor_past_the_true_rank():
    target = make_target(**SMALL, true_rank=3, noise=0.0, seed=0)
    pts = sweep_matrix(target, (1, 2, 3, 4), FitSettings(r=DEFAULT_R, steps=600))  # each rank converges
    assert [p.r for p in pts] == [1, 2, 3, 4]
    assert pts[0].floor > pts[1].floor > pts[2].floor
    for p in pts:
        assert p.final_loss <= 1.01 * p.floor + 1e-4  # entries have mean square 1
    assert sweep_ranks(100) == (1, 2, 3, 4, 6, 9, 13, 19)
    assert sweep_ranks(3) == (1, 2, 3)


def test_settings_are_validated():
    from lora_core.errors import LoraLabError

    for bad in ({"r": 0}, {"alpha": float("nan")}, {"steps": 10**9}, {"lr": -1}, {"r": "x"}):
        with pytest.raises(LoraLabError):
            FitSettings(**bad)
