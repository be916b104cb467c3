"""A LoRA spec in PEFT's own terms, validated at construction, and the `peft.LoraConfig(...)` it stands for."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import ClassVar

from lora_core.errors import LoraLabError
from lora_core.family.patterns import Pattern, parse_pattern
from lora_core.validate import MAX_ALPHA, MAX_DIM, choice, positive_float, positive_int

ALL_LINEAR = "all-linear"  # PEFT's shorthand (peft.utils.constants.INCLUDE_LINEAR_LAYERS_SHORTHAND)
BIAS_CHOICES = ("none", "lora_only", "all")  # PEFT LoraConfig.bias
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.]*$")  # a module-name suffix such as "q_proj" or "attn.c_attn"
_MAX_NAMES = 64  # more names than any real architecture has leaf kinds
# The ranks the pages offer (Model and Memory) and the memory solver searches: 1 to 4,096. LoraSpec itself takes
# any r up to MAX_DIM, as PEFT and the CLI do. rank(B·A) <= min(r, d, k), so past a layer's smaller side a
# larger r buys nothing: 4,096 is the hidden size of the 7B-class presets; only the shipped presets of 13B
# parameters and more are wider (tests/test_spec.py).
MAX_OFFERED_RANK = 4096


def module_names(field: str, value, *, allow_empty: bool) -> tuple[str, ...]:
    """Module-name suffixes from a list or "a,b,c": checked, repeats dropped, order kept."""
    if isinstance(value, str):
        value = [v for v in value.split(",")]
    try:
        items = tuple(str(v).strip() for v in value)
    except TypeError:
        raise LoraLabError("spec.not_a_list", field=field, type=type(value).__name__) from None
    items = tuple(v for v in items if v)
    if not items and not allow_empty:
        raise LoraLabError("spec.no_modules", field=field, all_linear=ALL_LINEAR)
    if len(items) > _MAX_NAMES:
        raise LoraLabError("spec.too_many_modules", field=field, limit=_MAX_NAMES, count=len(items))
    for v in items:
        if not _NAME.match(v) or len(v) > 200:
            raise LoraLabError("spec.bad_module_name", field=field, name=v[:60])
    return tuple(dict.fromkeys(items))  # drop repeats, keep order


@dataclass(frozen=True)
class LoraSpec:
    """What `peft.LoraConfig` would be given. Defaults are PEFT 0.21's own."""

    adapter: ClassVar[str] = "lora"  # lora_core.family.ADAPTERS
    label: ClassVar[str] = "LoRA"
    config_class: ClassVar[str] = "LoraConfig"

    r: int = 8  # rank of B (d x r) and A (r x k); PEFT default r=8
    alpha: float = 8  # lora_alpha; scaling = alpha / r (Hu et al. 2021, sec. 4.1); PEFT default 8
    target_modules: tuple[str, ...] | str = ("q_proj", "v_proj")  # name suffixes, or "all-linear"
    bias: str = "none"  # "none" | "lora_only" (biases of adapted layers) | "all" (every bias in the model)
    use_dora: bool = False  # DoRA (Liu et al. 2024): adds a magnitude vector of out_features per layer
    modules_to_save: tuple[str, ...] = ()  # modules trained in full, kept as a separate copy (e.g. "lm_head")
    # Per-module rank / alpha: ((key, value), ...), first matching key wins (lora_core/family/patterns.py).
    # Accepts a dict or "q_proj=16,v_proj=4" too. Empty: every module takes r / alpha.
    rank_pattern: Pattern = ()
    alpha_pattern: Pattern = ()
    use_rslora: bool = False  # rsLoRA (Kalajdzievski 2023): scaling alpha / sqrt(r) instead of alpha / r

    def __post_init__(self) -> None:
        object.__setattr__(self, "r", positive_int("rank r", self.r, maximum=MAX_DIM))
        object.__setattr__(self, "alpha", positive_float("alpha", self.alpha, maximum=MAX_ALPHA))
        targets = self.target_modules
        if isinstance(targets, str) and targets.strip().lower() == ALL_LINEAR:
            object.__setattr__(self, "target_modules", ALL_LINEAR)
        else:
            object.__setattr__(
                self, "target_modules", module_names("target_modules", targets, allow_empty=False)
            )
        object.__setattr__(self, "bias", choice("bias", self.bias, BIAS_CHOICES))
        if not isinstance(self.use_dora, bool):
            raise LoraLabError("value.not_bool", name="use_dora", value=self.use_dora)
        saved = module_names("modules_to_save", self.modules_to_save, allow_empty=True)
        object.__setattr__(self, "modules_to_save", saved)
        if isinstance(self.target_modules, tuple) and set(saved) & set(self.target_modules):
            both = ", ".join(sorted(set(saved) & set(self.target_modules)))
            raise LoraLabError("spec.target_and_saved", modules=both, label="LoRA")
        object.__setattr__(
            self, "rank_pattern", parse_pattern("rank_pattern", self.rank_pattern, integer=True)
        )
        object.__setattr__(
            self, "alpha_pattern", parse_pattern("alpha_pattern", self.alpha_pattern, integer=False)
        )
        if not isinstance(self.use_rslora, bool):
            raise LoraLabError("value.not_bool", name="use_rslora", value=self.use_rslora)

    @classmethod
    def from_dict(cls, data: dict | None) -> LoraSpec | None:
        """A spec back from its `dataclasses.asdict` form (cache keys are JSON: tuples come back as lists)."""
        if data is None:
            return None
        return cls(**data)

    @property
    def all_linear(self) -> bool:
        return self.target_modules == ALL_LINEAR

    @property
    def rank(self) -> int:
        """The rank the spec gives every module without a rank_pattern entry (the same for every type: r)."""
        return self.r

    def with_rank(self, r: int) -> LoraSpec:
        """The same spec at rank r (alpha unchanged)."""
        return dataclasses.replace(self, r=r)

    @property
    def scaling(self) -> float:
        """The factor on B·A at rank r: alpha / r, or alpha / sqrt(r) with rsLoRA (peft lora/layer.py:278-281)."""
        return lora_scaling(self.alpha, self.r, self.use_rslora)

    def peft_snippet(self) -> str:
        """The matching PEFT code, ready to copy."""
        targets = repr(ALL_LINEAR) if self.all_linear else repr(list(self.target_modules))
        alpha = int(self.alpha) if float(self.alpha).is_integer() else self.alpha
        lines = [
            "from peft import LoraConfig, get_peft_model",
            "",
            "config = LoraConfig(",
            f"    r={self.r},",
            f"    lora_alpha={alpha},",
            f"    target_modules={targets},",
            f"    bias={self.bias!r},",
        ]
        if self.use_dora:
            lines.append("    use_dora=True,")
        if self.modules_to_save:
            lines.append(f"    modules_to_save={list(self.modules_to_save)!r},")
        if self.rank_pattern:
            lines.append(f"    rank_pattern={dict(self.rank_pattern)!r},")
        if self.alpha_pattern:
            alphas = {k: int(v) if float(v).is_integer() else v for k, v in self.alpha_pattern}
            lines.append(f"    alpha_pattern={alphas!r},")
        if self.use_rslora:
            lines.append("    use_rslora=True,")
        lines += [
            ")",
            "model = get_peft_model(model, config)",
            "model.print_trainable_parameters()",
        ]
        return "\n".join(lines)


def lora_scaling(alpha: float, r: int, use_rslora: bool) -> float:
    """peft lora/layer.py:278-281: alpha / sqrt(r) with rsLoRA (Kalajdzievski 2023, arXiv 2312.03732), else alpha / r."""
    return alpha / math.sqrt(r) if use_rslora else alpha / r


# PEFT's defaults when LoraConfig names no targets: TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
# (peft 0.21.2, peft/utils/constants.py), for the model types our presets use.
PEFT_DEFAULT_TARGETS: dict[str, tuple[str, ...]] = {
    "llama": ("q_proj", "v_proj"),
    "mistral": ("q_proj", "v_proj"),
    "mixtral": ("q_proj", "v_proj"),
    "qwen2": ("q_proj", "v_proj"),
    "gemma": ("q_proj", "v_proj"),
    "phi3": ("qkv_proj",),
    "gpt2": ("c_attn",),
    "bert": ("query", "value"),
    "roberta": ("query", "value"),
    "t5": ("q", "v"),
}


def default_targets(model_type: str, available: tuple[str, ...]) -> tuple[str, ...]:
    """PEFT's default targets for this model type where it has them, else q_proj/v_proj, else all-linear."""
    for names in (PEFT_DEFAULT_TARGETS.get(model_type, ()), ("q_proj", "v_proj")):
        if names and set(names) <= set(available):
            return names
    return (ALL_LINEAR,)
