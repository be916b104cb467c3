"""CLI subcommands. Each module: `register(subparsers)` and `run(args) -> CommandResult`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lora_core.errors import LoraLabError


@dataclass(frozen=True)
class CommandResult:
    payload: dict  # what --json prints; its keys are part of the public contract
    table: str  # what a person sees without --json


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON on stdout instead of a table")


def read_user_file(path: str, *, max_bytes: int) -> bytes:
    """The bytes of a file the user named, or a LoraLabError saying why not."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise LoraLabError("file.unreadable", path=path, reason=str(exc.strerror or exc)) from None
    if not p.is_file():
        raise LoraLabError("file.not_a_file", path=path)
    if size > max_bytes:
        raise LoraLabError("file.too_large", name=path, size=size, limit=max_bytes)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise LoraLabError("file.unreadable", path=path, reason=str(exc.strerror or exc)) from None


def format_table(headers: list[str], rows: list[list[object]]) -> str:
    """A plain fixed-width table; numbers right-aligned with thousands separators."""

    def cell(v: object) -> str:
        if isinstance(v, bool):
            return str(v)
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)]
    numeric = [
        all(isinstance(row[i], int | float) for row in rows) and bool(rows) for i in range(len(headers))
    ]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
        )

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in text]
    return "\n".join(s.rstrip() for s in out)


def format_pairs(pairs: list[tuple[str, object]]) -> str:
    """Key/value lines for a single result."""
    return format_table(["", "value"], [[k, v] for k, v in pairs]).split("\n", 2)[2]


def load_model_config(args) -> tuple[str, dict]:
    """(source name, config dict) from `--preset NAME` or `--config FILE` (JSON only, size-capped)."""
    from lora_core.config import MAX_CONFIG_BYTES, parse_config
    from lora_core.presets import load_preset

    if args.preset is not None:
        return args.preset, load_preset(args.preset)
    return args.config, parse_config(read_user_file(args.config, max_bytes=MAX_CONFIG_BYTES))


# flag -> (spec field, how the flag is written in messages). --rank is AdaLoRA's init_r (see family_settings).
_FLAGS = {
    "alpha": ("alpha", "--alpha"),
    "bias": ("bias", "--bias"),
    "dora": ("use_dora", "--dora"),
    "rslora": ("use_rslora", "--rslora"),
    "rank_pattern": ("rank_pattern", "--rank-pattern"),
    "alpha_pattern": ("alpha_pattern", "--alpha-pattern"),
    "feedforward_modules": ("feedforward_modules", "--feedforward-modules"),
}


def add_family_flags(p, *, rank_help: str, targets_default: str | None = None, bias_default: str | None = None):
    """The adapter flags `params` and `memory` share: --adapter picks the PEFT type, each other flag one field of
    its spec (lora_core/spec.py, lora_core/family/specs.py). targets_default None: --targets is required."""
    from lora_core.family import ADAPTERS

    p.add_argument(
        "--adapter",
        default="lora",
        choices=ADAPTERS,
        help="PEFT adapter type (default lora); vera, loha, lokr, ia3, adalora",
    )
    p.add_argument("--rank", metavar="R", help=rank_help)
    if targets_default is None:
        p.add_argument("--targets", required=True, metavar="NAMES", help="q_proj,v_proj or all-linear")
    else:
        p.add_argument("--targets", default=targets_default, metavar="NAMES", help="q_proj,v_proj or all-linear")
    p.add_argument("--alpha", metavar="A", help="lora_alpha, or LoHa/LoKr alpha (default: PEFT's 8)")
    p.add_argument(
        "--bias",
        default=bias_default,
        metavar="none|lora_only|vera_only|all",
        help="which biases train (default none; vera_only for VeRA)",
    )
    p.add_argument("--dora", action="store_true", help="DoRA: add a magnitude vector per adapted layer")
    p.add_argument(
        "--modules-to-save", default="", metavar="NAMES", help="modules trained in full, e.g. lm_head"
    )
    p.add_argument(
        "--rank-pattern", metavar="NAME=R,...", help="per-module ranks, PEFT rank_pattern (LoRA, LoHa, LoKr)"
    )
    p.add_argument(
        "--alpha-pattern",
        metavar="NAME=A,...",
        help="per-module alphas, PEFT alpha_pattern (LoRA, LoHa, LoKr)",
    )
    p.add_argument("--rslora", action="store_true", help="rsLoRA: scale by alpha/sqrt(r) (counts unchanged)")
    p.add_argument(
        "--feedforward-modules",
        metavar="NAMES",
        help="IA3: targets whose input is scaled (default none), e.g. down_proj",
    )


def family_settings(args, *, rank_default: str | None = None) -> dict:
    """The spec fields the flags set; a flag the adapter type has no field for is refused. rank_default: the
    rank when --rank is not given (None: --rank is required, except for IA3, which has none)."""
    from dataclasses import fields

    from lora_core.family.specs import SPEC_CLASSES, why_not

    cls = SPEC_CLASSES[args.adapter]
    known = {f.name for f in fields(cls)}
    out: dict = {"target_modules": args.targets, "modules_to_save": args.modules_to_save}
    rank = args.rank
    if rank is None and args.adapter != "ia3":
        if rank_default is None:
            raise LoraLabError("cli.rank_required", adapter=args.adapter)
        rank = rank_default
    if rank is not None and args.adapter == "ia3":
        raise LoraLabError("cli.rank_not_ia3")
    if rank is not None:
        out["init_r" if args.adapter == "adalora" else "r"] = rank
    for attr, (field, flag) in _FLAGS.items():
        value = getattr(args, attr)
        if value is None or value is False:
            continue
        if field not in known:
            if field == "bias" and value == "none":  # LoHa, LoKr, IA3: no bias setting means PEFT's "none"
                continue
            raise LoraLabError(
                "cli.flag_not_for_adapter", flag=flag, adapter=args.adapter, why=why_not(cls, field)
            )
        out[field] = value
    return out


def spec_from_args(args):
    """The adapter spec the family flags name (validated there); --rank defaults to 8 (IA3: none)."""
    from lora_core.family.specs import make_spec

    return make_spec(args.adapter, **family_settings(args, rank_default="8"))
