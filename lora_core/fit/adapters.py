"""How the trained tensors make the update ΔŴ (out, in): LoRA with its variants, and VeRA (issue 15 §4).

Every variant is written as two factors, ΔŴ = s · B_eff · A_eff with A_eff (r, in) and B_eff (out, r), so
each mode's loss (lora_core.fit.matrix, lora_core.fit.regression) takes (A_eff, B_eff, s) whatever trains.

LoRA (Hu et al. 2021; loralib, PEFT tuners/lora): A = lora_A and B = lora_B both train.
- Scaling s (FitSettings.scaling): "standard" alpha / r, or "rslora" alpha / sqrt(r) (Kalajdzievski 2023,
  "A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA"); PEFT lora/layer.py:278-281.
  Adam divides each gradient by its own running size, so s does not change a step's size in A or B
  (apart from eps): it changes how far ΔŴ = s B A moves for that step, and so how fast it learns.
- LoRA+ (Hayou et al. 2024, "LoRA+: Efficient Low Rank Adaptation of Large Models"): B's learning rate is
  λ times A's (`lr_scales` (1, λ)), as PEFT's create_loraplus_optimizer gives lora_B the group lr
  `lr * loraplus_lr_ratio` (peft/optimizers/loraplus.py:81-113).
- Initialization:
  - "gaussian": A random, B = 0, so ΔŴ = 0 and training starts at the base model. A is Kaiming-uniform
    (a = sqrt(5)), PEFT's default init_lora_weights=True and loralib's (lora_core.fit.trainer.init_lora):
    the fit's init before issue 15, kept so that a fit that does not name --init is unchanged. (PEFT's
    init_lora_weights="gaussian" draws A ~ N(0, 1/r^2) instead; either is random A with zero B.)
  - "pissa" (Meng et al. 2024, PiSSA): A and B from the base weight's top-r singular triplets, and the base
    becomes the residual W - s B A, so W_res + s B A = W: the model starts unchanged.
  - "olora" (Büyükakyüz 2024, OLoRA): B = the first r columns of Q and A = the first r rows of R in W = QR,
    base W - s B A likewise.
  Both follow PEFT's code line for line (`pissa_init`, `olora_init` below cite it). They need a base weight:
  only regression mode has one (matrix mode fits ΔW alone). The adapter then holds s B0 A0, so the update of
  the model, W_res + s B A - W = s (B A - B0 A0), can have rank up to 2r (PEFT's
  LoraModel.subtract_mutated_init, peft/tuners/lora/model.py:1058-1103, converts a trained PiSSA or OLoRA
  adapter into a LoRA of rank 2r: [A | A0], [B | -B0]).
VeRA (Kopiczko et al. 2024, "VeRA: Vector-based Random Matrix Adaptation"; PEFT tuners/vera): A and B are
  frozen random projections shared by all layers; only two vectors train, ΔŴ = diag(b) B diag(d) A with
  d (r,) and b (out,) (PEFT vera/layer.py:285: lambda_b * F.linear(lambda_d * F.linear(x, A), B)). So
  A_eff = d[:, None] * A and B_eff = b[:, None] * B, and s = 1: VeRA has no alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lora_core.errors import LoraLabError
from lora_core.fit.settings import FitSettings
from lora_core.fit.trainer import init_lora

# VeRA's starting vectors: d = d_initial = 0.1, b = 0 (PEFT VeraConfig.d_initial default, vera/config.py:102;
# reset_vera_parameters, vera/layer.py:135-139), so ΔŴ = 0 at the start, as LoRA's B = 0 makes it.
VERA_D_INITIAL = 0.1


@dataclass(eq=False)
class Adapter:
    """One variant's tensors: what trains, at which learning-rate scale, and how they make ΔŴ."""

    kind: str  # "lora" or "vera"
    params: tuple[torch.Tensor, ...]  # what Adam trains: (lora_A, lora_B) or (vera_lambda_d, vera_lambda_b)
    lr_scales: tuple[float, ...]  # each param's learning rate / lr (LoRA+: (1, λ))
    scaling: float  # s in ΔŴ = s B_eff A_eff (VeRA: 1)
    frozen: tuple[torch.Tensor, ...] = ()  # VeRA: (vera_A (r, in), vera_B (out, r)), never trained
    residual: torch.Tensor | None = None  # (out, in) the frozen base W - s B0 A0 (PiSSA, OLoRA); None: W
    start: tuple[torch.Tensor, torch.Tensor] | None = None  # (A0, B0) copies (PiSSA, OLoRA): the change is
    # s (B A - B0 A0)

    def factors(self, *params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(A_eff (r, in), B_eff (out, r)) from the trained tensors (by default the adapter's own)."""
        params = params or self.params
        if self.kind == "vera":
            lambda_d, lambda_b = params
            vera_A, vera_B = self.frozen
            return lambda_d[:, None] * vera_A, lambda_b[:, None] * vera_B  # (r, in), (out, r)
        lora_A, lora_B = params
        return lora_A, lora_B

    @property
    def trainable(self) -> int:
        """Values Adam trains: LoRA r (in + out), VeRA r + out (as PEFT counts one layer)."""
        return sum(p.numel() for p in self.params)


def kaiming_projection(shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """PEFT's `_kaiming_init` for VeRA's projections (vera/model.py:49-75): uniform in ±sqrt(3) gain / sqrt(fan_in)
    with gain sqrt(2) and fan_in = shape[1], drawn from the given generator."""
    tensor = torch.empty(shape)
    std = math.sqrt(2) / math.sqrt(shape[1])  # gain / sqrt(fan_in), vera/model.py:69-71
    bound = math.sqrt(3.0) * std  # vera/model.py:72
    with torch.no_grad():
        return tensor.uniform_(-bound, bound, generator=generator)


def vera_projections(out_f: int, in_f: int, r: int, key: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """VeRA's frozen (vera_A (r, in), vera_B (out, r)), as PEFT draws them for one layer.

    VeraModel._init_vera_A_vera_B (vera/model.py:147-160): a CPU generator seeded with projection_prng_key
    (default 0), vera_A first, then vera_B. PEFT sizes them for the largest layer and slices; for one layer
    they are exactly these."""
    generator = torch.Generator(device="cpu").manual_seed(int(key))
    vera_A = kaiming_projection((r, in_f), generator)  # (r, in)
    vera_B = kaiming_projection((out_f, r), generator)  # (out, r)
    return vera_A, vera_B


def pissa_init(
    weight: torch.Tensor, r: int, scaling: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(lora_A (r, in), lora_B (out, r), residual base (out, in)) from W (out, in): PEFT's
    LoraLayer.pissa_init with init_lora_weights="pissa" (peft/tuners/lora/layer.py:429-463), op for op.

    W = V S U^T; A = sqrt(S_r / s) U_r^T, B = V_r sqrt(S_r / s), so s B A is W's best rank-r part, and the base
    becomes W - s B A (layer.py:460): the layer's output is unchanged at the start."""
    weight = weight.to(torch.float32)
    V, S, Uh = torch.linalg.svd(weight, full_matrices=False)  # layer.py:440
    Vr = V[:, :r]
    Sr = S[:r]
    Sr /= scaling  # layer.py:443
    Uhr = Uh[:r]
    lora_A = torch.diag(torch.sqrt(Sr)) @ Uhr  # layer.py:456, (r, in)
    lora_B = Vr @ torch.diag(torch.sqrt(Sr))  # layer.py:457, (out, r)
    residual = weight - scaling * lora_B @ lora_A  # layer.py:460, (out, in)
    return lora_A, lora_B, residual


def olora_init(
    weight: torch.Tensor, r: int, scaling: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(lora_A (r, in), lora_B (out, r), residual base (out, in)) from W (out, in): PEFT's
    LoraLayer.olora_init (peft/tuners/lora/layer.py:384-427), op for op.

    W = Q R (reduced QR); B = Q[:, :r] (orthonormal columns), A = R[:r], and the base becomes W - s B A
    (layer.py:408). B spans W's first r columns, not its top singular directions as PiSSA's does."""
    weight = weight.to(torch.float32)
    Q, R = torch.linalg.qr(weight)  # layer.py:401
    Qr, Rr = Q[:, :r], R[:r]  # layer.py:403
    lora_A, lora_B = Rr.contiguous(), Qr.contiguous()  # layer.py:405-406
    residual = weight - scaling * lora_B @ lora_A  # layer.py:408
    return lora_A, lora_B, residual


INIT_FROM_BASE = {"pissa": pissa_init, "olora": olora_init}


def make_adapter(
    settings: FitSettings,
    out_f: int,
    in_f: int,
    generator: torch.Generator,
    base: torch.Tensor | None = None,
) -> Adapter:
    """The variant `settings` names, for a layer with weight (out_f, in_f); `base` is that weight (out, in),
    needed by init pissa / olora only. The tensors that train have requires_grad set."""
    r = settings.r
    if settings.adapter == "vera":
        vera_A, vera_B = vera_projections(out_f, in_f, r, key=settings.seed)
        lambda_d = torch.full((r,), VERA_D_INITIAL)  # (r,)
        lambda_b = torch.zeros(out_f)  # (out,)
        return Adapter(
            "vera",
            (lambda_d.requires_grad_(True), lambda_b.requires_grad_(True)),
            (1.0, 1.0),
            1.0,
            frozen=(vera_A, vera_B),
        )
    s = settings.scaling
    lr_scales = (1.0, settings.lr_ratio)  # (lora_A, lora_B): LoRA+ speeds up B only
    if settings.init == "gaussian":
        lora_A, lora_B = init_lora(out_f, in_f, r, generator)
        return Adapter("lora", (lora_A, lora_B), lr_scales, s)
    if base is None:
        raise LoraLabError("fit.init_needs_base", init=settings.init)
    if r > min(out_f, in_f):
        raise LoraLabError("fit.init_rank", init=settings.init, rows=out_f, cols=in_f, limit=min(out_f, in_f), r=r)
    lora_A, lora_B, residual = INIT_FROM_BASE[settings.init](base, r, s)  # (r, in), (out, r), (out, in)
    return Adapter(
        "lora",
        (lora_A.requires_grad_(True), lora_B.requires_grad_(True)),
        lr_scales,
        s,
        residual=residual,  # (out, in) the base the model now runs on, as PEFT leaves it
        start=(lora_A.detach().clone(), lora_B.detach().clone()),
    )
