"""`matrix --rows D --cols K --rank R`: full fine-tuning against LoRA on one d x k matrix."""

from __future__ import annotations

from lora_core.commands import CommandResult, add_json_flag, format_pairs


def register(subparsers) -> None:
    p = subparsers.add_parser("matrix", help="trainable values for one d x k weight matrix at rank r")
    p.add_argument("--rows", required=True, metavar="D", help="d, rows of W")
    p.add_argument("--cols", required=True, metavar="K", help="k, columns of W")
    p.add_argument("--rank", required=True, metavar="R", help="LoRA rank r")
    add_json_flag(p)
    p.set_defaults(run=run)


def run(args) -> CommandResult:
    from lora_core.matrix import matrix_cost

    c = matrix_cost(args.rows, args.cols, args.rank)  # validates: strings are parsed there
    payload = {
        "full_params": c.full_params,
        "lora_params": c.lora_params,
        "ratio": c.ratio,
        "percent": c.percent,
        "break_even_rank": c.break_even_rank,
    }
    table = format_pairs(
        [
            ("W shape (d x k)", f"{c.d:,} x {c.k:,}"),
            ("full fine-tuning trains (d*k)", c.full_params),
            (f"LoRA r={c.r} trains ((d+k)*r)", c.lora_params),
            ("LoRA / full", f"{c.percent:.4g} %"),
            ("break-even rank d*k/(d+k)", f"{c.break_even_rank:,.1f}"),
        ]
    )
    if c.past_break_even:
        table += "\nwarning: this rank is past break-even; LoRA trains more values than W itself"
    return CommandResult(payload=payload, table=table)
