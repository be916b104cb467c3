"""The LoRA family side by side: every adapter type on the same model, targets, rank and alpha.

One row per type (LoRA, and its rsLoRA and DoRA variants, VeRA, LoHa, LoKr, IA3, AdaLoRA): the trainable
parameters and their share as PEFT reports them (lora_core/params.py, equal to PEFT's counts), and the adapter
checkpoint `save_pretrained` writes (lora_core/family/checkpoint.py). A type that cannot adapt the chosen
modules (LoHa and LoKr wrap nn.Linear only, not GPT-2's Conv1D; only LoRA adapts an embedding) gets its row
with the reason instead of numbers, as PEFT would raise.
"""

from __future__ import annotations

from dataclasses import dataclass

from lora_core.errors import LoraLabError
from lora_core.family.checkpoint import checkpoint_size
from lora_core.family.specs import make_spec
from lora_core.params import count_params

# The rows, in the order the pages list them: LoRA's variants next to LoRA.
ROWS = ("lora", "rslora", "dora", "vera", "loha", "lokr", "ia3", "adalora")
ADALORA_TARGET_R = 8  # AdaLoraConfig.target_r default (adalora/config.py); never above init_r here


@dataclass(frozen=True)
class FamilyRow:
    key: str  # one of ROWS
    spec: object | None  # the spec counted; None where the type cannot adapt these modules
    trainable_params: int = 0
    trainable_percent: float = 0.0  # 100 x trainable / all params, as PEFT's print_trainable_parameters
    checkpoint_bytes: int = 0  # what save_pretrained writes (adapters in fp32, the rest in the model's dtype)
    error: str = ""  # why the type is not available here


def family_spec(
    key: str,
    *,
    r: int,
    alpha: float,
    target_modules,
    bias: str = "none",
    modules_to_save=(),
    feedforward_modules=(),
):
    """The spec of row `key` for these settings. Each type takes those it has: AdaLoRA's rank is init_r;
    bias "lora_only" is VeRA's "vera_only" (the biases of the wrapped layers); LoHa, LoKr and IA3 have no bias
    setting (PEFT's "none"); IA3 has no rank nor alpha; VeRA no alpha."""
    common = {"target_modules": target_modules, "modules_to_save": modules_to_save}
    if key in ("lora", "rslora", "dora"):
        return make_spec(
            "lora", r=r, alpha=alpha, bias=bias, use_rslora=key == "rslora", use_dora=key == "dora", **common
        )
    if key == "vera":
        return make_spec("vera", r=r, bias="vera_only" if bias == "lora_only" else bias, **common)
    if key in ("loha", "lokr"):
        return make_spec(key, r=r, alpha=alpha, **common)
    if key == "ia3":
        return make_spec("ia3", feedforward_modules=feedforward_modules, **common)
    if key == "adalora":
        target_r = min(ADALORA_TARGET_R, r)
        return make_spec("adalora", init_r=r, target_r=target_r, alpha=alpha, bias=bias, **common)
    raise LoraLabError("family.unknown_row", rows=tuple(ROWS), key=key)


@dataclass(frozen=True)
class FamilySettings:
    """The settings the rows share (the Model page asks for each once); `spec(key)` gives row `key`'s spec,
    which takes those its type has (family_spec). Checked when a spec is built."""

    r: int = 8  # rank; AdaLoRA's init_r; IA3 has none
    alpha: float = 8  # lora_alpha; VeRA and IA3 have none
    target_modules: tuple[str, ...] | str = ("q_proj", "v_proj")  # name suffixes, or "all-linear"
    bias: str = "none"  # "none" | "lora_only" | "all" (PEFT LoraConfig.bias); LoHa, LoKr and IA3 have none
    modules_to_save: tuple[str, ...] = ()  # trained in full, saved beside the adapter
    feedforward_modules: tuple[str, ...] = ()  # IA3's: scale the input rather than the output

    def spec(self, key: str):
        """The spec of row `key` (one of ROWS) for these settings."""
        return family_spec(
            key,
            r=self.r,
            alpha=self.alpha,
            target_modules=self.target_modules,
            bias=self.bias,
            modules_to_save=self.modules_to_save,
            feedforward_modules=self.feedforward_modules,
        )


def compare_family(config: dict, settings: FamilySettings) -> tuple[FamilyRow, ...]:
    """Every row of ROWS for `config` and these settings."""
    rows = []
    for key in ROWS:
        try:
            spec = settings.spec(key)
            count = count_params(config, spec)
        except LoraLabError as exc:
            rows.append(FamilyRow(key, None, error=str(exc)))
            continue
        rows.append(
            FamilyRow(
                key,
                spec,
                trainable_params=count.trainable_params,
                trainable_percent=count.trainable_percent,
                checkpoint_bytes=checkpoint_size(config, spec, count).nbytes,
            )
        )
    return tuple(rows)
