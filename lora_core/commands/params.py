"""`params`: exact adapter trainable / total parameters for a preset or a config.json, with a per-module table.

`--adapter` picks the PEFT type (LoRA by default; VeRA, LoHa, LoKr, IA3, AdaLoRA). Each flag sets one field
of that type's spec (lora_core/spec.py, lora_core/family/specs.py); a flag the type has no field for is
refused rather than ignored.
"""

from __future__ import annotations

from lora_core.commands import (
    CommandResult,
    add_family_flags,
    add_json_flag,
    family_settings,
    format_pairs,
    format_table,
    load_model_config,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "params", help="exact adapter parameter counts for a real architecture (PEFT's numbers)"
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--preset", metavar="NAME", help="a shipped config, e.g. llama-3-8b (see the Model page)"
    )
    src.add_argument("--config", metavar="FILE", help="a Hugging Face config.json (JSON only, at most 1 MB)")
    add_family_flags(p, rank_help="rank r (AdaLoRA: init_r); required except with --adapter ia3, which has none")
    add_json_flag(p)
    p.set_defaults(run=run)


def describe_spec(spec) -> str:
    """One line: the spec's settings as the CLI names them."""
    from lora_core.family.patterns import pattern_text

    targets = "all-linear" if spec.all_linear else ",".join(spec.target_modules)
    rank = {"adalora": f"init_r={getattr(spec, 'init_r', 0)}", "ia3": ""}.get(
        spec.adapter, f"r={getattr(spec, 'r', 0)}"
    )
    parts = [spec.adapter, rank]
    if hasattr(spec, "alpha"):
        parts.append(f"alpha={spec.alpha:g}")
    parts += [f"targets={targets}", f"bias={spec.bias}"]
    if getattr(spec, "feedforward_modules", ()):
        parts.append(f"feedforward={','.join(spec.feedforward_modules)}")
    for name in ("rank_pattern", "alpha_pattern"):
        if getattr(spec, name, ()):
            parts.append(f"{name}={pattern_text(getattr(spec, name))}")
    for flag, on in (
        ("dora", getattr(spec, "use_dora", False)),
        ("rslora", getattr(spec, "use_rslora", False)),
    ):
        if on:
            parts.append(flag)
    return " ".join(p for p in parts if p)


def run(args) -> CommandResult:
    from lora_core.family.specs import make_spec
    from lora_core.params import count_params

    spec = make_spec(args.adapter, **family_settings(args))  # validates every field
    source, config = load_model_config(args)
    c = count_params(config, spec)
    payload = {
        "adapter": c.adapter,
        "base_params": c.base_params,
        "trainable_params": c.trainable_params,
        "total_params": c.total_params,
        "trainable_percent": c.trainable_percent,
        "adapter_params": c.adapter_params,
        "frozen_adapter_params": c.frozen_adapter_params,
        "trained_base_params": c.trained_base_params,
        "saved_copy_params": c.saved_copy_params,
        "modules": [
            {
                "name": m.name,
                "kind": m.kind,
                "shape": list(m.shape),
                "count": m.count,
                "lora_params": m.lora_params,
                "r": m.r,
                "tensors": {t.name: list(t.shape) for t in m.tensors},
            }
            for m in c.modules
        ],
    }
    head = format_pairs(
        [
            ("model", source),
            ("spec", describe_spec(spec)),
            ("base params", c.base_params),
            ("trainable params", c.trainable_params),
            ("all params (PEFT)", c.total_params),
            ("trainable %", f"{c.trainable_percent:.4f} %"),
        ]
    )
    rows = [
        [m.name, m.kind, " x ".join(str(d) for d in m.shape), m.count, m.r or "-", m.lora_params]
        for m in c.modules
    ]
    table = head + "\n\n" + format_table(["module", "kind", "shape", "count", "r", "adapter_params"], rows)
    return CommandResult(payload=payload, table=table)
