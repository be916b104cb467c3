"""`fit --mode matrix|regression ...`: train a rank-r LoRA live and compare its loss with the floor."""

from __future__ import annotations

from lora_core.commands import CommandResult, add_json_flag, format_pairs
from lora_core.errors import LoraLabError

MODES = ("matrix", "regression")
# The table's words for lora_core.fit.trainer.STOP_* (the JSON keeps the bare value).
STOP_WORDS = {
    "target": "the loss reached --target-loss",
    "floor": "converged: the loss is at the floor",
    "plateau": "converged: the loss stopped improving",
    "steps": "the step cap",
    "time": "the time cap",
    "cancelled": "cancelled",
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fit",
        help="train a rank-r LoRA on a target ΔW (matrix) or on y = X(θ+ΔW) (regression)",
        description=(
            "matrix: fit --mode matrix (--target FILE.npy | --rows M --cols N --true-rank K [--noise S]) "
            "--rank R [--alpha A] [--steps N] [--lr LR] [--seed S] [--target-loss L] [--no-converge] [--json]. "
            "regression: fit --mode regression --samples N --rows D_IN --cols D_OUT --rank R "
            "[--shift ones|lowrank|principal] [--target-loss L] [--seed S] ... [--json]. "
            "Variants (issue 15): [--scaling standard|rslora] [--lr-ratio λ] [--init gaussian|pissa|olora] "
            "[--adapter lora|vera]; pissa and olora need --mode regression (matrix mode has no base weight)"
        ),
    )
    p.add_argument("--mode", required=True, metavar="MODE", help="matrix or regression")
    p.add_argument("--target", metavar="FILE", help="matrix: target ΔW as .npy, .csv or a grayscale image")
    p.add_argument("--rows", metavar="M", help="matrix: rows of ΔW; regression: d_in")
    p.add_argument("--cols", metavar="N", help="matrix: cols of ΔW; regression: d_out")
    p.add_argument("--true-rank", metavar="K", help="matrix: rank of the generated signal")
    p.add_argument("--profile", metavar="P", help="matrix: singular values flat, linear or geometric")
    p.add_argument("--noise", metavar="S", help="matrix: noise std per entry (signal RMS is 1)")
    p.add_argument("--samples", metavar="N", help="regression: rows of X")
    p.add_argument(
        "--shift",
        metavar="ones|lowrank|principal",
        help="regression: ΔW all ones, random low rank, or theta's own top-k part",
    )
    p.add_argument("--shift-rank", metavar="K", help="regression: rank k of the lowrank or principal shift")
    p.add_argument("--rank", metavar="R", help="LoRA rank r")
    p.add_argument("--alpha", metavar="A", help="lora_alpha (scaling alpha/r)")
    p.add_argument("--steps", metavar="N", help="Adam step cap")
    p.add_argument("--lr", metavar="LR", help="Adam learning rate")
    p.add_argument("--seed", metavar="S", help="random seed")
    p.add_argument("--target-loss", metavar="L", help="stop once the loss is at most L")
    p.add_argument("--max-seconds", metavar="T", help="wall-clock cap of the training loop")
    p.add_argument(
        "--scaling",
        metavar="standard|rslora",
        help="scale B A by alpha / r (standard, default) or alpha / sqrt(r) (rsLoRA)",
    )
    p.add_argument(
        "--lr-ratio", metavar="λ", help="LoRA+: lora_B learns at λ times the learning rate (default 1)"
    )
    p.add_argument(
        "--init",
        metavar="gaussian|pissa|olora",
        help="gaussian: random A, B = 0 (default); pissa, olora: A and B from the base weight (regression only)",
    )
    p.add_argument(
        "--adapter",
        metavar="lora|vera",
        help="lora (default) or vera: frozen random A and B, two trained vectors (no alpha)",
    )
    p.add_argument(
        "--no-converge",
        action="store_true",
        help="train to the step cap: do not stop at the floor or on a plateau",
    )
    add_json_flag(p)
    p.set_defaults(run=run)


def _given(args, *names: str) -> list[str]:
    return ["--" + n.replace("_", "-") for n in names if getattr(args, n) is not None]


def _set_threads_once() -> None:
    """The CLI is its own process: pick torch's thread count here, once, as the app does at start.

    One thread by default (LORA_LAB_TORCH_THREADS overrides): a fit's steps are small matrix products,
    and on a shared 2-core machine two threads spin against each other (docs/fit.md, "Threads").
    """
    import os

    import torch

    torch.set_num_threads(max(1, int(os.environ.get("LORA_LAB_TORCH_THREADS", "1"))))


def run(args) -> CommandResult:
    from lora_core import fit
    from lora_core.commands import read_user_file
    from lora_core.validate import choice

    mode = choice("--mode", args.mode, MODES)
    _set_threads_once()
    kw = {
        k: v
        for k, v in {
            "alpha": args.alpha,
            "steps": args.steps,
            "lr": args.lr,
            "seed": args.seed,
            "target_loss": args.target_loss,
            "max_seconds": args.max_seconds,
        }.items()
        if v is not None
    }
    variant = {
        k: v
        for k, v in {
            "scaling_rule": args.scaling,
            "lr_ratio": args.lr_ratio,
            "init": args.init,
            "adapter": args.adapter,
        }.items()
        if v is not None
    }
    if args.adapter == "vera" and args.alpha is not None:
        raise LoraLabError("cli.vera_alpha")
    if mode == "matrix" and args.init in fit.BASE_VARIANTS:
        raise LoraLabError("cli.init_needs_base", init=args.init)
    default_r = fit.DEFAULT_R if mode == "matrix" else fit.DEFAULT_REG_R
    rank = args.rank if args.rank is not None else default_r
    settings = fit.FitSettings(r=rank, converge=not args.no_converge, **kw, **variant)

    if mode == "matrix":
        if wrong := _given(args, "samples", "shift", "shift_rank"):
            raise LoraLabError("cli.regression_only", flags=tuple(wrong))
        if args.target is not None:
            if wrong := _given(args, "rows", "cols", "true_rank", "noise", "profile"):
                raise LoraLabError("cli.target_or_generated", flags=tuple(wrong))
            target = fit.parse_target(
                args.target, read_user_file(args.target, max_bytes=fit.MAX_UPLOAD_BYTES)
            )
            result = fit.fit_matrix(target, settings)
        else:
            result = fit.run_matrix(
                args.rows if args.rows is not None else fit.DEFAULT_ROWS,
                args.cols if args.cols is not None else fit.DEFAULT_COLS,
                args.true_rank if args.true_rank is not None else fit.DEFAULT_TRUE_RANK,
                settings,
                profile=args.profile if args.profile is not None else fit.DEFAULT_PROFILE,
                noise=args.noise if args.noise is not None else fit.DEFAULT_NOISE,
            )
    else:
        if wrong := _given(args, "target", "true_rank", "noise", "profile"):
            raise LoraLabError("cli.matrix_only", flags=tuple(wrong))
        result = fit.run_regression(
            args.samples if args.samples is not None else fit.DEFAULT_SAMPLES,
            args.rows if args.rows is not None else fit.DEFAULT_D_IN,
            args.cols if args.cols is not None else fit.DEFAULT_D_OUT,
            settings,
            shift=args.shift if args.shift is not None else "ones",
            shift_rank=args.shift_rank if args.shift_rank is not None else 1,
        )

    rows, cols = result.target_delta.shape
    table = format_pairs(
        [
            ("mode", result.mode),
            ("ΔW shape", f"{rows:,} x {cols:,}"),
            (
                "rank r / alpha",
                f"{result.r} / {result.alpha:g}" if result.adapter == "lora" else f"{result.r} / -",
            ),
            ("adapter / init", f"{result.adapter} / {result.init}"),
            (
                "scaling s",
                f"{result.scaling:.6g} ({result.scaling_rule if result.adapter == 'lora' else 'none'})",
            ),
            ("learning rate of B / A", f"{result.lr_ratio:g}"),
            ("trained values", f"{result.trainable_params:,}"),
            ("Adam steps", result.steps),
            ("stopped by", f"{result.stop_reason} ({STOP_WORDS[result.stop_reason]})"),
            ("final loss", f"{result.final_loss:.6g}"),
            ("floor (best rank-r loss)", f"{result.optimal_loss:.6g}"),
            ("seconds", f"{result.seconds:.3f}"),
            ("max |merged - unmerged|", f"{result.merge_max_abs_diff:.3g}"),
        ]
    )
    return CommandResult(payload=result.payload(), table=table)
