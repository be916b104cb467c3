"""How to train a fit: `FitSettings` (rank, scaling, optimiser, stopping rules, the adapter variant), its
defaults and its caps.

The defaults are the Fit page's and the CLI's. The variant fields (scaling rule, LoRA+ ratio, init, adapter;
issue 15 §4) default to plain LoRA, so a fit that does not name them is the fit it always was;
lora_core.fit.adapters says what each one does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lora_core.errors import LoraLabError
from lora_core.validate import choice, positive_float, positive_int

# Defaults, tuned so that the default matrix fit ends within 1 % of the floor (tests/test_fit.py;
# docs/fit.md "Tuning"). The matrix is small enough to train live on one core in well under a second: it
# converges after about 200 steps (docs/fit.md "Stopping").
DEFAULT_ROWS = 64  # rows of ΔW (out_features)
DEFAULT_COLS = 48  # cols of ΔW (in_features)
DEFAULT_TRUE_RANK = 8  # rank k of the generated signal
DEFAULT_PROFILE = "geometric"  # singular values halve: each extra rank buys less
DEFAULT_NOISE = 0.05  # noise std per entry; the signal's entries have RMS 1
DEFAULT_R = 4  # LoRA rank r, below k: the fit stops at a visible floor
DEFAULT_ALPHA = 8.0  # lora_alpha; scaling alpha / r = 2 (PEFT's default lora_alpha is 8)
DEFAULT_STEPS = 1000  # Adam step cap: a guard; a default fit converges long before it
DEFAULT_LR = 0.02  # Adam step size at step 0, decayed by a half cosine (lora_core.fit.trainer)
DEFAULT_MAX_SECONDS = 120.0  # wall-clock cap of one fit

# Regression defaults: the seed's experiment at a classroom size (the benchmark runs the seed's own size).
DEFAULT_SAMPLES = 2000
DEFAULT_D_IN = 101
DEFAULT_D_OUT = 100
DEFAULT_REG_R = 1

# The adapter variants (lora_core.fit.adapters; the CLI's --scaling, --init, --adapter).
SCALING_RULES = ("standard", "rslora")  # alpha / r (loralib, PEFT) or alpha / sqrt(r) (rsLoRA)
INITS = ("gaussian", "pissa", "olora")  # random A and B = 0 (today's), or from the base weight W
FIT_ADAPTERS = ("lora", "vera")  # the fit's subset of lora_core.family.ADAPTERS: VeRA trains two vectors

MAX_RANK = 256  # r cap for a shared server; r beyond min(rows, cols) is allowed but buys nothing
MAX_STEPS = 20_000
MAX_FIT_SECONDS = 600.0
# lora_alpha: scaling alpha / r up to 10^4, far past what fine-tunes use (LoRA sets alpha to the first r it
# tries, Hu et al. 2021 section 4.1). The fit's own cap, below LoraSpec's (lora_core.validate.MAX_ALPHA).
MAX_FIT_ALPHA = 1e4
MAX_LR_RATIO = MAX_FIT_ALPHA  # LoRA+'s λ (lr of B / lr of A): the same sanity bound as alpha's, a factor on a step
# Adam's step size: past 1 the default fit stops converging (lr 3: 6x the floor at the step cap;
# at lr 10: stalled at 120x; our runs of `python -m lora_core fit`). The CLI allows up to 10 to show it.
MAX_LR = 10.0
MAX_SEED = 2**31 - 1  # any 31-bit integer: every RNG here (torch.Generator.manual_seed) takes it


@dataclass(frozen=True)
class FitSettings:
    """How to train: rank, scaling, optimiser and stopping rules. Validated on construction."""

    r: int = DEFAULT_R  # LoRA rank
    alpha: float = DEFAULT_ALPHA  # lora_alpha; B A is scaled by alpha / r
    steps: int = DEFAULT_STEPS  # step cap
    lr: float = DEFAULT_LR  # Adam learning rate (peak of the cosine decay)
    seed: int = 0  # seeds the data, lora_A's init and the held-out inputs
    target_loss: float | None = None  # stop as soon as the loss is at most this
    max_seconds: float = DEFAULT_MAX_SECONDS  # wall-clock cap of the training loop
    converge: bool = True  # stop when done (floor or plateau, lora_core.fit.trainer); False: run to the cap
    scaling_rule: str = (
        "standard"  # "standard": s = alpha / r; "rslora": s = alpha / sqrt(r) (PEFT use_rslora)
    )
    lr_ratio: float = 1.0  # LoRA+'s λ: lora_B learns at λ * lr, lora_A at lr (1: plain LoRA)
    init: str = (
        "gaussian"  # "gaussian": random A, B = 0; "pissa" / "olora": from the base W (regression only)
    )
    adapter: str = "lora"  # "lora" or "vera" (frozen random A, B; trains two vectors; no alpha)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "r", positive_int("rank r", self.r, maximum=MAX_RANK))
        set_(self, "alpha", positive_float("alpha", self.alpha, maximum=MAX_FIT_ALPHA))
        set_(self, "steps", positive_int("steps", self.steps, maximum=MAX_STEPS))
        set_(self, "lr", positive_float("learning rate", self.lr, maximum=MAX_LR))
        set_(self, "seed", positive_int("seed", self.seed, minimum=0, maximum=MAX_SEED))
        if self.target_loss is not None:
            set_(self, "target_loss", positive_float("target loss", self.target_loss, allow_zero=True))
        set_(self, "max_seconds", positive_float("max seconds", self.max_seconds, maximum=MAX_FIT_SECONDS))
        if not isinstance(self.converge, bool):
            raise LoraLabError("value.not_bool", name="converge", value=self.converge)
        set_(self, "scaling_rule", choice("scaling", self.scaling_rule, SCALING_RULES))
        set_(self, "lr_ratio", positive_float("learning-rate ratio", self.lr_ratio, maximum=MAX_LR_RATIO))
        set_(self, "init", choice("init", self.init, INITS))
        set_(self, "adapter", choice("adapter", self.adapter, FIT_ADAPTERS))
        if self.adapter == "vera":
            # VeRA's scale is its trained vectors (Kopiczko et al. 2024; PEFT's VeraConfig has no alpha), A and
            # B are frozen (no B to speed up) and random (no init to choose): refuse what it does not have.
            wrong = [
                name
                for name, given in (
                    ("rsLoRA scaling", self.scaling_rule != "standard"),
                    ("learning-rate ratio", self.lr_ratio != 1.0),
                    (f"init {self.init}", self.init != "gaussian"),
                )
                if given
            ]
            if wrong:
                raise LoraLabError("fit.vera_takes_no", settings=tuple(wrong))

    @property
    def scaling(self) -> float:
        """s in ΔŴ = s B A: PEFT LoraLayer.update_layer (peft/tuners/lora/layer.py:278-281) sets
        lora_alpha / sqrt(r) with use_rslora (Kalajdzievski 2023), else lora_alpha / r (loralib)."""
        if self.scaling_rule == "rslora":
            return self.alpha / math.sqrt(self.r)
        return self.alpha / self.r
