"""One spec per PEFT adapter type, in the terms of its PEFT config, validated at construction.

Each is a frozen dataclass like `lora_core.spec.LoraSpec`: the fields are the PEFT config's own (same
names, same defaults, peft 0.21.2), limited to those that decide what is trained. `make_spec(adapter, ...)`
builds the one named by `--adapter` and refuses a setting that type does not have.

Every spec has `adapter` and `label` (class attributes), `target_modules` (name suffixes or "all-linear"),
`modules_to_save`, `bias`, `all_linear` and `peft_snippet()`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import ClassVar

from lora_core.errors import Clause, LoraLabError
from lora_core.family.patterns import Pattern, parse_pattern
from lora_core.spec import ALL_LINEAR, BIAS_CHOICES, LoraSpec, module_names
from lora_core.validate import MAX_ALPHA, MAX_DIM, choice, positive_float, positive_int

VERA_BIAS_CHOICES = ("none", "vera_only", "all")  # peft tuners/vera/config.py:107


def _clean_targets(spec) -> None:
    """target_modules and modules_to_save, as LoraSpec checks them (lora_core/spec.py)."""
    targets = spec.target_modules
    if isinstance(targets, str) and targets.strip().lower() == ALL_LINEAR:
        object.__setattr__(spec, "target_modules", ALL_LINEAR)
    else:
        object.__setattr__(spec, "target_modules", module_names("target_modules", targets, allow_empty=False))
    saved = module_names("modules_to_save", spec.modules_to_save, allow_empty=True)
    object.__setattr__(spec, "modules_to_save", saved)
    if isinstance(spec.target_modules, tuple) and set(saved) & set(spec.target_modules):
        both = ", ".join(sorted(set(saved) & set(spec.target_modules)))
        raise LoraLabError("spec.target_and_saved", modules=both, label=spec.label)


def _bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise LoraLabError("value.not_bool", name=name, value=value)
    return value


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else v


def _arg_line(arg: str) -> str:
    """`    r=8,` (an argument may carry a comment after two spaces and `#`)."""
    code, _, comment = arg.partition("  # ")
    return f"    {code},  # {comment}" if comment else f"    {code},"


class _Family:
    """What every family spec shares: `all_linear` and the PEFT snippet."""

    config_class: ClassVar[str]  # the PEFT config class, e.g. "VeraConfig"

    @property
    def all_linear(self) -> bool:
        return self.target_modules == ALL_LINEAR

    @property
    def rank(self) -> int | None:
        """The rank every module without a rank_pattern entry gets: r; AdaLoRA's init_r; None for IA3."""
        return self.r

    def with_rank(self, r: int):
        """The same spec at rank r (AdaLoRA: init_r; IA3, which has no rank: the spec itself)."""
        return dataclasses.replace(self, r=r)

    def _snippet_args(self) -> list[str]:
        raise NotImplementedError

    def peft_snippet(self) -> str:
        """The matching PEFT code, ready to copy."""
        targets = repr(ALL_LINEAR) if self.all_linear else repr(list(self.target_modules))
        args = [f"target_modules={targets}", *self._snippet_args()]
        if self.modules_to_save:
            args.append(f"modules_to_save={list(self.modules_to_save)!r}")
        return "\n".join(
            [
                f"from peft import {self.config_class}, get_peft_model",
                "",
                f"config = {self.config_class}(",
                *(_arg_line(a) for a in args),
                ")",
                "model = get_peft_model(model, config)",
                "model.print_trainable_parameters()",
            ]
        )


@dataclass(frozen=True)
class VeraSpec(_Family):
    """`peft.VeraConfig` (Kopiczko et al. 2024): frozen shared random A and B, two trained vectors per layer."""

    adapter: ClassVar[str] = "vera"
    label: ClassVar[str] = "VeRA"
    config_class: ClassVar[str] = "VeraConfig"

    r: int = 256  # rank of the shared projections; PEFT default 256 (vera/config.py)
    target_modules: tuple[str, ...] | str = ("q_proj", "v_proj")
    bias: str = "none"  # "none" | "vera_only" | "all"
    modules_to_save: tuple[str, ...] = ()
    save_projection: bool = True  # vera_A / vera_B go into the checkpoint (PEFT default True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "r", positive_int("rank r", self.r, maximum=MAX_DIM))
        _clean_targets(self)
        object.__setattr__(self, "bias", choice("bias", self.bias, VERA_BIAS_CHOICES))
        _bool("save_projection", self.save_projection)

    def _snippet_args(self) -> list[str]:
        out = [f"r={self.r}", f"bias={self.bias!r}"]
        if not self.save_projection:
            out.append("save_projection=False")
        return out


@dataclass(frozen=True)
class _Lycoris(_Family):
    """What LoHa and LoKr share: LycorisConfig's r, alpha and rank/alpha patterns (peft tuners/lycoris_utils.py)."""

    r: int = 8  # PEFT default 8 (loha/config.py:72, lokr/config.py:78)
    alpha: float = 8  # scaling alpha / r; PEFT default 8 (loha/config.py:73, lokr/config.py:79)
    target_modules: tuple[str, ...] | str = ("q_proj", "v_proj")
    modules_to_save: tuple[str, ...] = ()
    rank_pattern: Pattern = ()  # as LoraSpec's: first matching key wins (lora_core/family/patterns.py)
    alpha_pattern: Pattern = ()

    bias: ClassVar[str] = "none"  # LycorisConfig has no bias field: PEFT reads "none" (tuners_utils.py:526)

    def __post_init__(self) -> None:
        object.__setattr__(self, "r", positive_int("rank r", self.r, maximum=MAX_DIM))
        object.__setattr__(self, "alpha", positive_float("alpha", self.alpha, maximum=MAX_ALPHA))
        _clean_targets(self)
        object.__setattr__(
            self, "rank_pattern", parse_pattern("rank_pattern", self.rank_pattern, integer=True)
        )
        object.__setattr__(
            self, "alpha_pattern", parse_pattern("alpha_pattern", self.alpha_pattern, integer=False)
        )

    def _snippet_args(self) -> list[str]:
        out = [f"r={self.r}", f"alpha={_num(self.alpha)}"]
        if self.rank_pattern:
            out.append(f"rank_pattern={dict(self.rank_pattern)!r}")
        if self.alpha_pattern:
            out.append(f"alpha_pattern={ {k: _num(v) for k, v in self.alpha_pattern}!r}")
        return out


@dataclass(frozen=True)
class LoHaSpec(_Lycoris):
    """`peft.LoHaConfig` (Hyeon-Woo et al. 2022, FedPara): ΔW = (w1_a w1_b) ⊙ (w2_a w2_b), two rank-r pairs."""

    adapter: ClassVar[str] = "loha"
    label: ClassVar[str] = "LoHa"
    config_class: ClassVar[str] = "LoHaConfig"


@dataclass(frozen=True)
class LoKrSpec(_Lycoris):
    """`peft.LoKrConfig` (LyCORIS, Yeh et al. 2024): ΔW = kron(w1, w2), each dimension split near its sqrt."""

    adapter: ClassVar[str] = "lokr"
    label: ClassVar[str] = "LoKr"
    config_class: ClassVar[str] = "LoKrConfig"

    decompose_both: bool = False  # also factor w1 into rank r (PEFT default False, lokr/config.py)
    decompose_factor: int = -1  # -1: split each dimension near its square root (lokr/layer.py:440)

    def __post_init__(self) -> None:
        super().__post_init__()
        _bool("decompose_both", self.decompose_both)
        if self.decompose_factor != -1:
            object.__setattr__(
                self,
                "decompose_factor",
                positive_int("decompose_factor", self.decompose_factor, maximum=MAX_DIM),
            )

    def _snippet_args(self) -> list[str]:
        out = super()._snippet_args()
        if self.decompose_both:
            out.append("decompose_both=True")
        if self.decompose_factor != -1:
            out.append(f"decompose_factor={self.decompose_factor}")
        return out


@dataclass(frozen=True)
class IA3Spec(_Family):
    """`peft.IA3Config` (Liu et al. 2022, (IA)³): one learned scaling vector per targeted module, no rank."""

    adapter: ClassVar[str] = "ia3"
    label: ClassVar[str] = "IA3"
    config_class: ClassVar[str] = "IA3Config"

    target_modules: tuple[str, ...] | str = ("q_proj", "v_proj")
    # Modules whose input (not output) is scaled; default none. PEFT matches them with a plain
    # `name.endswith(f)` (ia3/model.py:192) and requires them to be among
    # target_modules. PEFT's own Llama default is k_proj, v_proj, down_proj with down_proj feedforward
    # (utils/constants.py TRANSFORMERS_MODELS_TO_IA3_{TARGET,FEEDFORWARD}_MODULES_MAPPING).
    feedforward_modules: tuple[str, ...] = ()
    modules_to_save: tuple[str, ...] = ()

    bias: ClassVar[str] = "none"  # IA3Config has no bias field

    @property
    def rank(self) -> None:
        return None

    def with_rank(self, r: int) -> IA3Spec:
        return self

    def __post_init__(self) -> None:
        _clean_targets(self)
        ff = module_names("feedforward_modules", self.feedforward_modules, allow_empty=True)
        object.__setattr__(self, "feedforward_modules", ff)
        if isinstance(self.target_modules, tuple):
            # ia3/config.py:109-112: "`feedforward_modules` should be a subset of `target_modules`"
            outside = [f for f in ff if f not in self.target_modules]
            if outside:
                raise LoraLabError(
                    "family.feedforward_outside", module=outside[0], targets=tuple(self.target_modules)
                )

    def _snippet_args(self) -> list[str]:
        return [f"feedforward_modules={list(self.feedforward_modules)!r}"]


@dataclass(frozen=True)
class AdaLoraSpec(_Family):
    """`peft.AdaLoraConfig` (Zhang et al. 2023): LoRA in SVD form P Λ Q, counted at init_r before any pruning."""

    adapter: ClassVar[str] = "adalora"
    label: ClassVar[str] = "AdaLoRA"
    config_class: ClassVar[str] = "AdaLoraConfig"

    init_r: int = 12  # every module starts at this rank; PEFT default 12 (adalora/config.py)
    target_r: int = 8  # average rank the budget prunes to; PEFT default 8. Counts here are at init_r.
    alpha: float = 8  # lora_alpha; AdaLoRA scales by alpha itself, not alpha / r (adalora/layer.py:72)
    target_modules: tuple[str, ...] | str = ("q_proj", "v_proj")
    bias: str = "none"  # "none" | "lora_only" | "all", as LoraConfig
    modules_to_save: tuple[str, ...] = ()
    # PEFT 0.21 refuses an AdaLoraConfig without total_step (adalora/config.py:83-84). It sets the pruning
    # schedule, not the parameters; 1000 is only a placeholder for the snippet: put your own step count.
    total_step: int = 1000

    @property
    def rank(self) -> int:
        return self.init_r

    def with_rank(self, r: int) -> AdaLoraSpec:
        return dataclasses.replace(self, init_r=r)

    def __post_init__(self) -> None:
        object.__setattr__(self, "init_r", positive_int("init_r (rank)", self.init_r, maximum=MAX_DIM))
        object.__setattr__(self, "target_r", positive_int("target_r", self.target_r, maximum=MAX_DIM))
        object.__setattr__(self, "alpha", positive_float("alpha", self.alpha, maximum=MAX_ALPHA))
        _clean_targets(self)
        object.__setattr__(self, "bias", choice("bias", self.bias, BIAS_CHOICES))
        object.__setattr__(self, "total_step", positive_int("total_step", self.total_step, maximum=10**9))

    def _snippet_args(self) -> list[str]:
        return [
            f"init_r={self.init_r}",
            f"target_r={self.target_r}",
            f"lora_alpha={_num(self.alpha)}",
            f"total_step={self.total_step}  # required by PEFT: your number of training steps",
            f"bias={self.bias!r}",
        ]


AdapterSpec = LoraSpec | VeraSpec | LoHaSpec | LoKrSpec | IA3Spec | AdaLoraSpec
SPEC_CLASSES: dict[str, type] = {
    cls.adapter: cls for cls in (LoraSpec, VeraSpec, LoHaSpec, LoKrSpec, IA3Spec, AdaLoraSpec)
}


# Why a type lacks a setting, where "PEFT's XConfig has no such field" would not say enough (the English
# is in lora_core/errors.py, the Telugu in lora_ui/strings/errors.py).
_WHY_NOT = {
    ("adalora", "rank_pattern"): Clause("why.adalora_rank_pattern"),  # adalora/model.py:128
    ("adalora", "alpha_pattern"): Clause("why.adalora_alpha_pattern"),  # adalora/model.py:129
    ("adalora", "use_dora"): Clause("why.adalora_use_dora"),  # adalora/config.py:75
    ("adalora", "use_rslora"): Clause("why.adalora_use_rslora"),  # adalora/layer.py:85
    ("adalora", "r"): Clause("why.adalora_r"),
    ("ia3", "r"): Clause("why.ia3_r"),
    ("vera", "alpha"): Clause("why.vera_alpha"),
    ("ia3", "alpha"): Clause("why.ia3_alpha"),
}


def why_not(cls: type, setting: str) -> Clause:
    """Why spec class `cls` has no field `setting`, in one clause (str() is its English)."""
    why = _WHY_NOT.get((cls.adapter, setting))
    return why or Clause("why.no_field", config_class=cls.config_class, setting=setting)


def spec_to_dict(spec) -> dict:
    """The spec as plain data (JSON-able: cache keys), with its type under "adapter"."""
    return {"adapter": spec.adapter, **dataclasses.asdict(spec)}


def spec_from_dict(data: dict | None):
    """A spec back from `spec_to_dict` (JSON turns tuples into lists; the constructors take lists)."""
    if data is None:
        return None
    data = dict(data)
    return SPEC_CLASSES[data.pop("adapter", "lora")](**data)


def make_spec(adapter: str, **settings) -> AdapterSpec:
    """The spec for `adapter` ("lora", "vera", ...) from the settings given; a setting the type lacks is refused."""
    cls = SPEC_CLASSES.get(adapter)
    if cls is None:
        raise LoraLabError("value.choice", name="adapter", allowed=tuple(SPEC_CLASSES), value=adapter)
    known = {f.name for f in fields(cls)}
    for name in settings:
        if name not in known:
            raise LoraLabError("family.no_setting", label=cls.label, setting=name, why=why_not(cls, name))
    return cls(**settings)
