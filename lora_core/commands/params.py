"""`params`: exact LoRA trainable / total parameters for a preset or a config.json, with a per-module table."""

from __future__ import annotations

from lora_core.commands import CommandResult, add_json_flag, format_pairs, format_table


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "params", help="exact LoRA parameter counts for a real architecture (PEFT's numbers)"
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--preset", metavar="NAME", help="a shipped config, e.g. llama-3-8b (see the Model page)"
    )
    src.add_argument("--config", metavar="FILE", help="a Hugging Face config.json (JSON only, at most 1 MB)")
    p.add_argument("--rank", required=True, metavar="R", help="LoRA rank r")
    p.add_argument("--targets", required=True, metavar="NAMES", help="q_proj,v_proj or all-linear")
    p.add_argument("--alpha", metavar="A", help="lora_alpha (default: PEFT's 8)")
    p.add_argument(
        "--bias", default="none", metavar="none|lora_only|all", help="which biases train (default none)"
    )
    p.add_argument("--dora", action="store_true", help="DoRA: add a magnitude vector per adapted layer")
    p.add_argument(
        "--modules-to-save", default="", metavar="NAMES", help="modules trained in full, e.g. lm_head"
    )
    add_json_flag(p)
    p.set_defaults(run=run)


def _load(args) -> tuple[str, dict]:
    from lora_core.commands import read_user_file
    from lora_core.config import MAX_CONFIG_BYTES, parse_config
    from lora_core.presets import load_preset

    if args.preset is not None:
        return args.preset, load_preset(args.preset)
    return args.config, parse_config(read_user_file(args.config, max_bytes=MAX_CONFIG_BYTES))


def run(args) -> CommandResult:
    from lora_core.params import count_params
    from lora_core.spec import LoraSpec

    extra = {} if args.alpha is None else {"alpha": args.alpha}
    spec = LoraSpec(
        r=args.rank,
        target_modules=args.targets,
        bias=args.bias,
        use_dora=args.dora,
        modules_to_save=args.modules_to_save,
        **extra,
    )  # validates every field
    source, config = _load(args)
    c = count_params(config, spec)
    payload = {
        "base_params": c.base_params,
        "trainable_params": c.trainable_params,
        "total_params": c.total_params,
        "trainable_percent": c.trainable_percent,
        "adapter_params": c.adapter_params,
        "trained_base_params": c.trained_base_params,
        "saved_copy_params": c.saved_copy_params,
        "modules": [
            {
                "name": m.name,
                "kind": m.kind,
                "shape": list(m.shape),
                "count": m.count,
                "lora_params": m.lora_params,
            }
            for m in c.modules
        ],
    }
    targets = "all-linear" if spec.all_linear else ",".join(spec.target_modules)
    head = format_pairs(
        [
            ("model", source),
            (
                "spec",
                f"r={spec.r} alpha={spec.alpha:g} targets={targets} bias={spec.bias}"
                + (" dora" if spec.use_dora else ""),
            ),
            ("base params", c.base_params),
            ("trainable params", c.trainable_params),
            ("all params (PEFT)", c.total_params),
            ("trainable %", f"{c.trainable_percent:.4f} %"),
        ]
    )
    rows = [[m.name, m.kind, " x ".join(str(d) for d in m.shape), m.count, m.lora_params] for m in c.modules]
    table = head + "\n\n" + format_table(["module", "kind", "shape", "count", "lora_params"], rows)
    return CommandResult(payload=payload, table=table)
