"""The fit's adapter variants (issue 15 §4): each one's update rule, checked against PEFT where PEFT has it.

rsLoRA's scale, LoRA+'s learning rate for B only, PiSSA's and OLoRA's start (the model unchanged, A and B
from the base weight), VeRA's frozen projections and two trained vectors. PEFT is the oracle here only.
"""

from __future__ import annotations

import math

import peft
import pytest
import torch

from lora_core.errors import LoraLabError
from lora_core.fit import FitSettings, fit_matrix, fit_regression, make_target, trainer
from lora_core.fit import regression as reg
from lora_core.fit.adapters import VERA_D_INITIAL, make_adapter, olora_init, pissa_init, vera_projections
from lora_core.fit.trainer import Adam, Training, lr_at


def peft_linear(weight: torch.Tensor, config):
    """PEFT's adapter on one nn.Linear whose weight is `weight` (out, in); returns the tuner layer."""
    out_f, in_f = weight.shape
    model = torch.nn.Sequential()
    model.add_module("lin", torch.nn.Linear(in_f, out_f, bias=False))
    with torch.no_grad():
        model.lin.weight.copy_(weight)
    return peft.get_peft_model(model, config).base_model.model.lin


# --- scaling: alpha / r and rsLoRA's alpha / sqrt(r) -------------------------------------------------------


@pytest.mark.parametrize("r", [1, 4, 16, 64])
@pytest.mark.parametrize("rule", ["standard", "rslora"])
def test_scaling_equals_peft(r, rule):
    ours = FitSettings(r=r, alpha=8.0, scaling_rule=rule).scaling
    assert ours == (8.0 / math.sqrt(r) if rule == "rslora" else 8.0 / r)
    layer = peft_linear(
        torch.zeros(8, 80),
        peft.LoraConfig(r=r, lora_alpha=8, target_modules=["lin"], use_rslora=rule == "rslora"),
    )
    assert layer.scaling["default"] == pytest.approx(ours, rel=1e-15)


def test_scaling_changes_the_step_of_the_update_not_of_the_factors():
    """Adam divides each gradient by its running size, so a step of A or B does not depend on s (up to eps);
    ΔŴ = s B A then moves s times as far. At r = 16, alpha 8: s = 0.5 (alpha / r) against 2 (alpha / sqrt(r))."""
    target = make_target(20, 16, 3, seed=0)
    moved = {}
    for rule in ("standard", "rslora"):
        settings = FitSettings(r=16, alpha=8.0, scaling_rule=rule)
        adapter = make_adapter(settings, 20, 16, torch.Generator().manual_seed(0))
        s = adapter.scaling
        a0, b0 = (p.detach().clone() for p in adapter.params)
        run = Training(
            lambda a, b, s=s: ((target - s * (b @ a)) ** 2).sum(), adapter.params, steps=100, lr=0.02
        )
        run.advance()  # one Adam step
        a1, b1 = (p.detach() for p in adapter.params)
        moved[rule] = (a1 - a0, b1 - b0, s * (b1 @ a1) - s * (b0 @ a0), s)
    (da, db, dw, s_std), (da_rs, db_rs, dw_rs, s_rs) = moved["standard"], moved["rslora"]
    assert s_rs / s_std == 4.0
    assert not da.any() and not da_rs.any()  # B = 0 at the start: A gets no gradient yet
    # the same step for B, lr * g / (|g| + eps): only eps (1e-8) sees the scale, against gradients >= 1e-4 here
    assert torch.allclose(db, db_rs, rtol=1e-4, atol=0)
    assert db.abs().max() == pytest.approx(0.02, rel=1e-5)  # Adam's first step: lr * sign(gradient)
    assert torch.allclose(dw_rs, 4.0 * dw, rtol=1e-4, atol=1e-6)  # the update moved s_rs / s_std as far


# --- LoRA+: B's learning rate is λ times A's ---------------------------------------------------------------


def test_lora_plus_scales_the_learning_rate_of_lora_B_only():
    """Our Adam with lr_scales (1, λ) is torch.optim.Adam with A's group at lr and B's at λ lr (PEFT's
    create_loraplus_optimizer's groupA / groupB), bit for bit, over a cosine schedule."""
    lam = 16.0
    adapter = make_adapter(FitSettings(r=3, lr_ratio=lam), 20, 16, torch.Generator().manual_seed(0))
    assert adapter.lr_scales == (1.0, lam)  # (lora_A, lora_B)
    g = torch.Generator().manual_seed(1)
    target = torch.randn(20, 16, generator=g)
    a0, b0 = torch.randn(3, 16, generator=g), torch.randn(20, 3, generator=g) / 10
    ours = [a0.clone().requires_grad_(True), b0.clone().requires_grad_(True)]
    ref = [a0.clone().requires_grad_(True), b0.clone().requires_grad_(True)]
    adam = Adam(ours, lr_scales=adapter.lr_scales)
    torch_adam = torch.optim.Adam([{"params": [ref[0]]}, {"params": [ref[1]]}], lr=0.02)
    for step in range(100):
        lr = lr_at(step, 100, 0.02)
        for (a, b), opt in ((ours, adam), (ref, torch_adam)):
            loss = ((target - 2 * b @ a) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            if opt is adam:
                opt.step(lr)
            else:
                opt.param_groups[0]["lr"], opt.param_groups[1]["lr"] = lr, lam * lr
                opt.step()
        assert torch.equal(ours[0], ref[0]) and torch.equal(ours[1], ref[1]), step


def test_lora_plus_fit_matches_plain_lora_with_b_alone_sped_up(monkeypatch):
    """In a fit, the optimizer gets (lora_A, lora_B) with scales (1, λ), and nothing else."""
    seen = []

    class Recording(trainer.Adam):
        def __init__(self, params, *args, lr_scales=None, **kwargs):
            seen.append((list(params), lr_scales))
            super().__init__(params, *args, lr_scales=lr_scales, **kwargs)

    monkeypatch.setattr(trainer, "Adam", Recording)
    res = fit_matrix(make_target(20, 16, 3, seed=0), FitSettings(r=2, steps=30, lr_ratio=8.0))
    [(params, scales)] = seen
    assert [id(p) for p in params] == [id(res.lora_A), id(res.lora_B)] and scales == (1.0, 8.0)
    assert res.payload()["lr_ratio"] == 8.0


# --- PiSSA and OLoRA: start from the base weight, the model unchanged ---------------------------------------


@pytest.mark.parametrize("init", ["pissa", "olora"])
@pytest.mark.parametrize("alpha", [8, 2])
def test_base_inits_equal_peft(init, alpha):
    """A, B and the residual base weight are PEFT's own (pissa_init / olora_init, peft/tuners/lora/layer.py)."""
    W = torch.randn(12, 9, generator=torch.Generator().manual_seed(0))  # (out, in)
    r = 3
    layer = peft_linear(
        W, peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=["lin"], init_lora_weights=init)
    )
    ours = (pissa_init if init == "pissa" else olora_init)(W, r, alpha / r)
    theirs = (layer.lora_A["default"].weight, layer.lora_B["default"].weight, layer.base_layer.weight)
    for mine, peft_t in zip(ours, theirs, strict=True):
        assert torch.allclose(mine, peft_t.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("init", ["pissa", "olora"])
def test_base_inits_leave_the_starting_model_unchanged(init):
    """W_res + s B0 A0 = W, so the first loss is the base model's own, as with B = 0 (gaussian)."""
    data = reg.make_regression_data(200, 9, 7, "ones", seed=0)
    plain = fit_regression(data, FitSettings(r=2, steps=3))
    based = fit_regression(data, FitSettings(r=2, steps=3, init=init))
    assert based.losses[0] == pytest.approx(plain.losses[0], rel=1e-5)
    adapter = make_adapter(FitSettings(r=2, init=init), 7, 9, torch.Generator(), base=data.theta.T)
    A0, B0 = adapter.params
    assert torch.allclose(adapter.residual + adapter.scaling * B0 @ A0, data.theta.T, atol=1e-5)


def _projector(m: torch.Tensor) -> torch.Tensor:
    q, _ = torch.linalg.qr(m.double())
    return q @ q.T


def test_pissa_spans_the_top_r_singular_subspace_and_olora_the_first_r_columns():
    W = make_target(12, 9, 9, "linear", seed=1)  # (out, in), distinct singular values
    r = 3
    u, _, vh = torch.linalg.svd(W.double())
    A, B, _ = pissa_init(W, r, 2.0)
    assert torch.allclose(_projector(B), _projector(u[:, :r]), atol=1e-5)  # B: top-r left singular vectors
    assert torch.allclose(_projector(A.T), _projector(vh[:r].T), atol=1e-5)  # A: top-r right ones
    A, B, _ = olora_init(W, r, 2.0)
    assert torch.allclose(B.T.double() @ B.double(), torch.eye(r, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(_projector(B), _projector(W[:, :r]), atol=1e-5)  # Gram–Schmidt of W's first columns


def test_base_inits_are_refused_in_matrix_mode_and_beyond_the_weights_rank():
    with pytest.raises(LoraLabError, match="matrix mode has no base"):
        fit_matrix(make_target(12, 9, 2), FitSettings(r=2, init="pissa"))
    data = reg.make_regression_data(40, 4, 3, seed=0)
    with pytest.raises(LoraLabError, match="at most 3"):
        fit_regression(data, FitSettings(r=4, init="olora"))


def test_pissa_learns_faster_where_the_shift_follows_the_base_and_cannot_reach_the_floor_where_it_does_not():
    """PiSSA's premise: the change lives in W's principal directions ("principal" shift). There it leads early;
    on a random shift its adapter also has to keep W's top part, and its reachable floor is far above."""
    principal = reg.make_regression_data(600, 31, 30, "principal", 2, seed=0)
    plain = fit_regression(principal, FitSettings(r=2))
    pissa = fit_regression(principal, FitSettings(r=2, init="pissa"))
    assert pissa.losses[10] < 0.5 * plain.losses[10]
    assert pissa.final_loss <= 1.01 * plain.final_loss + 1e-3  # both reach the floor (about 0: r = k)
    ones = reg.make_regression_data(600, 31, 30, "ones", 1, seed=0)
    pissa = fit_regression(ones, FitSettings(r=1, init="pissa"))
    assert pissa.reachable_floor > 100 * max(pissa.optimal_loss, 1e-6)
    assert pissa.final_loss <= pissa.reachable_floor * 1.01  # it converged, to what it can reach


# --- VeRA: frozen shared projections, two trained vectors --------------------------------------------------


def test_vera_projections_and_update_equal_peft():
    W = torch.zeros(10, 7)
    layer = peft_linear(W, peft.VeraConfig(r=4, target_modules=["lin"], projection_prng_key=0))
    vera_A, vera_B = vera_projections(10, 7, 4, key=0)
    assert torch.equal(vera_A, layer.vera_A["default"]) and torch.equal(vera_B, layer.vera_B["default"])
    adapter = make_adapter(FitSettings(r=4, adapter="vera"), 10, 7, torch.Generator())
    lambda_d, lambda_b = adapter.params
    assert torch.equal(lambda_d, torch.full((4,), VERA_D_INITIAL)) and not lambda_b.any()  # ΔŴ = 0
    assert torch.equal(lambda_d.detach(), layer.vera_lambda_d["default"].detach())
    with torch.no_grad():  # any trained vectors: our ΔŴ is PEFT's get_delta_weight
        d, b = torch.randn(4), torch.randn(10)
        layer.vera_lambda_d["default"].copy_(d)
        layer.vera_lambda_b["default"].copy_(b)
        A_eff, B_eff = adapter.factors(d, b)
        assert torch.allclose(B_eff @ A_eff, layer.get_delta_weight("default"), rtol=1e-6, atol=1e-7)
    n_peft, _ = peft.PeftModel.get_nb_trainable_parameters(layer_model(layer))
    assert adapter.trainable == n_peft == 10 + 4  # b (out,) + d (r,)


def layer_model(layer):
    model = torch.nn.Sequential()
    model.add_module("lin", layer)
    return model


def test_vera_trains_only_its_vectors_and_its_projections_stay_bit_identical(monkeypatch):
    seen = []

    class Recording(trainer.Adam):
        def __init__(self, params, *args, **kwargs):
            seen.append(list(params))
            super().__init__(params, *args, **kwargs)

    monkeypatch.setattr(trainer, "Adam", Recording)
    frozen = []
    import lora_core.fit.matrix as matrix

    def keep(*args, **kwargs):
        adapter = make_adapter(*args, **kwargs)
        frozen.append((adapter, [t.clone() for t in adapter.frozen]))
        return adapter

    monkeypatch.setattr(matrix, "make_adapter", keep)
    res = fit_matrix(make_target(20, 16, 3, seed=0), FitSettings(r=4, adapter="vera", steps=40))
    [(adapter, before)] = frozen
    [params] = seen
    assert [tuple(p.shape) for p in params] == [(4,), (20,)]  # d (r,) and b (out,) only
    assert all(torch.equal(t, c) for t, c in zip(adapter.frozen, before, strict=True))  # A, B untouched
    assert params[1].abs().sum() > 0  # b started at 0 and moved
    assert res.trainable_params == 4 + 20 and res.payload()["adapter"] == "vera"
    assert res.reachable_floor is None and res.stop_reason in ("plateau", "steps")


def test_vera_refuses_what_it_does_not_have():
    for bad in ({"scaling_rule": "rslora"}, {"lr_ratio": 2.0}, {"init": "pissa"}):
        with pytest.raises(LoraLabError, match="LoRA's only"):
            FitSettings(adapter="vera", **bad)
    for bad in ({"lr_ratio": 0}, {"lr_ratio": -1}, {"scaling_rule": "sqrt"}, {"init": "kaiming"}):
        with pytest.raises(LoraLabError):
            FitSettings(**bad)


def test_plain_lora_is_unchanged_by_the_variant_fields():
    """The defaults are plain LoRA: a fit that names none of them is bit-identical to one that names them."""
    target = make_target(20, 16, 3, seed=0)
    a = fit_matrix(target, FitSettings(r=2, steps=50))
    b = fit_matrix(target, FitSettings(r=2, steps=50, scaling_rule="standard", lr_ratio=1.0, init="gaussian"))
    assert a.losses == b.losses and torch.equal(a.lora_B, b.lora_B)
