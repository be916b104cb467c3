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
        raise LoraLabError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not p.is_file():
        raise LoraLabError(f"{path} is not a file")
    if size > max_bytes:
        raise LoraLabError(f"{path} is {size:,} bytes; the limit is {max_bytes:,}")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise LoraLabError(f"cannot read {path}: {exc.strerror or exc}") from None


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


def spec_from_args(args):
    """The LoraSpec named by --rank/--alpha/--targets/--bias/--dora/--modules-to-save (validated there)."""
    from lora_core.spec import LoraSpec

    extra = {} if args.alpha is None else {"alpha": args.alpha}  # unset: LoraSpec's (PEFT's) default
    return LoraSpec(
        r=args.rank,
        target_modules=args.targets,
        bias=args.bias,
        use_dora=args.dora,
        modules_to_save=args.modules_to_save,
        **extra,
    )
